// FileTable: what the origin store remembers about the files it has handed out inode numbers
// for. Each known file has an entry keyed by its st_ino, holding the canonical export-relative
// path it was last seen at (so it can be opened again) and, while it is among the most recently
// used, an open data fd. No syscalls here except close() on eviction.
//
// Invariants (checked by check_invariants() in tests):
//  * by_path_ is exactly the inverse of the entries' paths: entry e has path p <=> by_path_[p]
//    == e.ino. Two entries never share a path.
//  * lru_ lists exactly the entries with an open fd, most recently used first, and never holds
//    more than open_files_max of them.
//  * There are at most known_files_max entries, and none without both a path and an fd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "store/posix.h"

namespace vr::store {

struct FileEntry {
    uint64_t ino = 0;
    FileType type = FileType::Other;
    // Birth time from statx; with ino it tells a file from a later one that reuses its number.
    int64_t birth_ns = 0;
    // Where the file was last seen; empty optional once it was unlinked or replaced there.
    std::optional<std::string> path;
    UniqueFd fd;                        // data fd, valid only while the entry is in the LRU
    bool writable = false;              // fd was opened O_RDWR
    std::list<uint64_t>::iterator lru;  // position in FileTable::lru_ while fd is valid
};

class FileTable {
  public:
    FileTable(size_t open_files_max, size_t known_files_max);

    FileEntry* find(uint64_t ino);
    const FileEntry* find(uint64_t ino) const;

    // Records that `path` (canonical) names the file (ino, birth_ns). An existing entry for the
    // same ino with another birth time or type belongs to a deleted file whose number was reused:
    // it is reset (its fd closed). Busy when a new entry would exceed known_files_max.
    Result<FileEntry*> remember(uint64_t ino,
                                FileType type,
                                int64_t birth_ns,
                                const std::string& path);
    // Drops the entry and closes its fd.
    void forget(uint64_t ino);

    // The namespace changed under the store's own calls: keep the cached paths right.
    void unlinked(const std::string& path);  // path and everything under it
    void renamed(const std::string& from, const std::string& to);
    void exchanged(const std::string& a, const std::string& b);

    // Gives the entry (which has no fd) an open fd, closing the least recently used one first
    // when open_files_max fds are open.
    void install_fd(FileEntry& entry, UniqueFd fd, bool writable);
    // Marks the entry's fd as most recently used.
    void touch(FileEntry& entry);

    size_t open_count() const { return lru_.size(); }
    size_t known_count() const { return by_ino_.size(); }
    // Asserts the invariants listed at the top of this file.
    void check_invariants() const;

  private:
    // Removes `dir` and every path under it from by_path_ and their entries; returns them.
    std::vector<std::pair<std::string, uint64_t>> take_within(const std::string& dir);
    void set_path(FileEntry& entry, const std::string& path);
    void close_fd(FileEntry& entry);
    void erase_if_unused(uint64_t ino);

    size_t open_files_max_;
    size_t known_files_max_;
    std::unordered_map<uint64_t, FileEntry> by_ino_;  // every known file, by st_ino
    std::map<std::string, uint64_t> by_path_;         // canonical path -> ino; sorted for subtrees
    std::list<uint64_t> lru_;                         // inos with an open fd, most recent first
};

}  // namespace vr::store
