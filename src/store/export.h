// Export: the origin store of one volume. The home node of a file serves its pages and its
// metadata from a local directory, the export root, through this class.
//
// Confinement. The root is opened once (O_PATH | O_DIRECTORY). Every path is checked lexically
// (path.h) and then resolved against the root fd with openat2 and RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV, so no "..", absolute path, symlink, procfs magic link
// or mount point can lead outside; modifying calls open the parent directory that way and pass
// only the final component to the *at() syscall, which never follows a final symlink. Root is
// confined too. Two things the store cannot see, and an export must therefore not contain:
// hard links to files outside it (such a file is inside by inode) and device nodes (opening
// one has side effects; mount exports with nodev).
//
// Inode numbers. A file is named by its real st_ino. Its identity is (st_dev, st_ino, birth
// time): files on another device are refused, and a file whose number was reused after a
// deletion is told apart by its birth time (Attr::birth_ns). An ino is usable by the ino-taking
// calls after getattr_path, lookup, create or mkdir returned it, until forget(ino); readdir does
// not make inos usable. The store keeps ino -> last known path for at most known_files_max
// files (Busy beyond), follows its own renames and unlinks, and re-resolves the path when it
// needs to open the file again; if the path now names another file, the ino is NotFound.
//
// Open files. At most open_files_max data fds are open (O_RDWR, or O_RDONLY on a read-only
// export or for a file the daemon may not write), the least recently used closed first. A file
// that was unlinked stays readable through its fd until that fd is evicted.
//
// Sizes. The daemon owns file sizes. write_pages() never changes the size: it stores only the
// bytes below the current size and drops the rest. To write past EOF the daemon calls
// extend(ino, new_size) first; truncate() sets any size.
//
// A read-only export answers ReadOnly to every modifying call before touching the filesystem.
// Not thread-safe: one owner thread (the node's event loop) calls it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "coherence/types.h"
#include "store/file_table.h"
#include "store/posix.h"

namespace vr::store {

enum class Access : uint8_t { ReadWrite, ReadOnly };

struct ExportOptions {
    std::string volume;  // the name peers use for this export
    std::string root;    // local directory; the daemon's configuration, trusted
    Access access = Access::ReadWrite;
    uint32_t page_size = 4096;                 // power of two, 512 .. 1 MiB
    size_t open_files_max = 1024;              // data fds held open
    size_t known_files_max = size_t{1} << 20;  // inos remembered (ino -> path)
    uint64_t io_pages_max = 1024;              // pages per read_pages / write_pages / page_span
    size_t readdir_entries_max = 1024;         // entries per readdir page
};

struct Attr {
    uint64_t ino = 0;
    FileType type = FileType::Other;
    uint32_t mode = 0;  // permission bits (07777)
    uint64_t size = 0;
    uint64_t nlink = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    int64_t birth_ns = 0;  // 0 if the filesystem does not record it
};

// setattr: only the fields that are set change. Times are ns since the epoch.
struct AttrChange {
    std::optional<uint32_t> mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
    std::optional<int64_t> atime_ns;
    std::optional<int64_t> mtime_ns;
};

enum class CreateMode : uint8_t {
    Exclusive,     // O_CREAT | O_EXCL: Exists if the name is taken (even by a dangling symlink)
    OpenExisting,  // O_CREAT: an existing regular file is returned as it is
};

enum class RenameMode : uint8_t {
    Replace,    // rename(2): replaces the target
    NoReplace,  // RENAME_NOREPLACE: Exists if the target exists
    Exchange,   // RENAME_EXCHANGE: both must exist; they swap
};

struct DirEntry {
    std::string name;
    uint64_t ino = 0;  // d_ino; not usable by ino-taking calls until looked up
    FileType type = FileType::Other;
};

struct DirPage {
    std::vector<DirEntry> entries;  // "." and ".." are never listed
    uint64_t next_cookie = 0;       // pass back to continue after the last entry
    bool end = false;               // true when the directory has no more entries
};

// Where the transport finds page bytes for a zero-copy send (sendfile/splice): `file_bytes`
// bytes at `byte_offset` of `fd`, then `zero_bytes` zeros (the part past EOF). `fd` is a dup
// owned by the caller, valid until it is destroyed whatever the store evicts meanwhile; it
// shares the file offset with the store's fd, so use only positional I/O (sendfile with an
// offset pointer, pread). If the file shrinks before the send, send zeros for the missing part.
struct PageSpan {
    UniqueFd fd;
    uint64_t byte_offset = 0;
    uint64_t file_bytes = 0;
    uint64_t zero_bytes = 0;
};

class Export {
  public:
    static Result<std::unique_ptr<Export>> open(ExportOptions options);

    Export(const Export&) = delete;
    Export& operator=(const Export&) = delete;

    const std::string& volume() const { return options_.volume; }
    bool read_only() const { return options_.access == Access::ReadOnly; }
    uint32_t page_size() const { return options_.page_size; }
    uint64_t root_ino() const { return root_ino_; }
    size_t open_file_count() const { return files_.open_count(); }
    size_t known_file_count() const { return files_.known_count(); }

    // --- Metadata. Paths are relative to the export root; "" is the root. ---

    // lstat semantics: a final symlink is described, not followed.
    Result<Attr> getattr_path(std::string_view path);
    Result<Attr> getattr(uint64_t ino);
    // One entry `name` (a single component) of the directory `parent_ino`.
    Result<Attr> lookup(uint64_t parent_ino, std::string_view name);
    // The path the store would open `ino` at; NotFound if it has none.
    Result<std::string> path_of(uint64_t ino) const;
    // The daemon no longer needs `ino`; its fd is closed. The root cannot be forgotten.
    void forget(uint64_t ino);

    // Creates (or, with OpenExisting, opens) a regular file. `mode` is filtered by the process
    // umask like open(2); the daemon sets the umask it wants.
    Result<Attr> create(std::string_view path, uint32_t mode, CreateMode how);
    Result<Attr> mkdir(std::string_view path, uint32_t mode);
    Status unlink(std::string_view path);
    Status rmdir(std::string_view path);
    Status rename(std::string_view from, std::string_view to, RenameMode how);
    // Up to count_max (1..readdir_entries_max) entries from `cookie` (0 starts). Follows a final
    // symlink to a directory inside the export.
    Result<DirPage> readdir(std::string_view path, uint64_t cookie, size_t count_max);
    Status truncate(uint64_t ino, uint64_t size);
    // Regular files and directories only. Returns the attributes after the change.
    Result<Attr> setattr(uint64_t ino, const AttrChange& change);

    // --- Pages of regular files, for the coherence engine. ---

    // count (1..io_pages_max) pages from `first`; pages or parts past EOF, and holes, are zeros.
    Result<std::vector<coherence::PageBuf>> read_pages(uint64_t ino,
                                                       coherence::PageIndex first,
                                                       uint64_t count);
    // Stores full pages (each exactly page_size bytes) from `first`, clipped to the current file
    // size: bytes at or past EOF are dropped, never written. Call extend() first to grow.
    Status write_pages(uint64_t ino,
                       coherence::PageIndex first,
                       const std::vector<coherence::PageBuf>& pages);
    // Grows the file to `size` bytes (the new part reads as zeros); never shrinks it.
    Status extend(uint64_t ino, uint64_t size);
    // Data (and the size) of a regular file, or a directory's entries, are durable on return.
    Status sync(uint64_t ino);
    // See PageSpan.
    Result<PageSpan> page_span(uint64_t ino, coherence::PageIndex first, uint64_t count);

  private:
    Export(ExportOptions options, UniqueFd root, uint64_t root_dev, uint64_t root_ino);

    enum class Need : uint8_t { Read, Write };
    Status refuse_if_read_only(std::string_view op) const;
    Result<Attr> remember(const Stat& st, const std::string& path);
    // Opens the ino at its last known path and checks that it is still the same file.
    Result<UniqueFd> reopen(const FileEntry& entry, int flags);
    Result<FileEntry*> known(uint64_t ino);
    // An ino this process has not looked up (the daemon restarted, or forgot it, while peers
    // still hold its pages): found again by walking the export, at most once per
    // kRediscoverIntervalNs (the walk is bounded; a hostile peer naming random inos costs one
    // walk a second at most). Null if it is not there.
    FileEntry* rediscover(uint64_t ino);
    Result<FileEntry*> data_file(uint64_t ino, Need need);
    Result<UniqueFd> open_dir_of(const std::string& canonical_parent);
    Status check_range(coherence::PageIndex first, uint64_t count) const;

    ExportOptions options_;
    UniqueFd root_;  // O_PATH | O_DIRECTORY, the one anchor of every resolution
    uint64_t root_dev_ = 0;
    uint64_t root_ino_ = 0;
    FileTable files_;
    std::map<uint64_t, std::string> walked_;  // ino -> path, from the last rediscovery walk
    std::optional<int64_t> walked_at_ns_;     // CLOCK_MONOTONIC of that walk
    coherence::PageBuf zero_page_;            // shared by every page read past EOF
};

}  // namespace vr::store
