#include "store/export.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <limits>
#include <utility>

#include "base/assert.h"
#include "base/log.h"
#include "store/path.h"

namespace vr::store {
namespace {

using coherence::PageBuf;
using coherence::PageIndex;

constexpr uint64_t kFileBytesMax = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
constexpr uint32_t kPageSizeMin = 512;
constexpr uint32_t kPageSizeMax = uint32_t{1} << 20;
// Flags of every data open: never a final symlink, never a controlling tty, never block on a
// FIFO that was swapped in (the file type is checked right after the open, and then O_NONBLOCK
// is cleared by clear_nonblock, so no filesystem treats the file's I/O as non-blocking).
constexpr int kDataOpenFlags = O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;

Attr attr_of(const Stat& st) {
    Attr a;
    a.ino = st.ino;
    a.type = st.type;
    a.mode = st.mode;
    a.size = st.size;
    a.nlink = st.nlink;
    a.uid = st.uid;
    a.gid = st.gid;
    a.mtime_ns = st.mtime_ns;
    a.ctime_ns = st.ctime_ns;
    a.birth_ns = st.birth_ns;
    return a;
}

// How a known file is named in messages: its path, or its ino once it has none.
std::string name_of(const FileEntry& e) {
    return e.path ? *e.path : fmt::format("<ino {}>", e.ino);
}

struct timespec timespec_of(std::optional<int64_t> ns) {
    struct timespec ts {};
    if (!ns) {
        ts.tv_nsec = UTIME_OMIT;
        return ts;
    }
    constexpr int64_t kNsPerSec = 1'000'000'000;
    ts.tv_sec = *ns / kNsPerSec;
    ts.tv_nsec = *ns % kNsPerSec;
    if (ts.tv_nsec < 0) {
        ts.tv_sec -= 1;
        ts.tv_nsec += kNsPerSec;
    }
    return ts;
}

FileType type_of_dirent(unsigned char d_type) {
    switch (d_type) {
        case DT_REG:
            return FileType::Regular;
        case DT_DIR:
            return FileType::Directory;
        case DT_LNK:
            return FileType::Symlink;
        default:
            return FileType::Other;
    }
}

// Reads up to `size` bytes at `offset`; fewer only at EOF. Returns the bytes read.
Result<size_t> pread_full(
    int fd, std::byte* buf, size_t size, uint64_t offset, std::string_view what) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, buf + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_status(errno, "read", what);
        }
        if (n == 0) {
            break;
        }
        done += static_cast<size_t>(n);
    }
    return done;
}

Status pwrite_full(
    int fd, const std::byte* buf, size_t size, uint64_t offset, std::string_view what) {
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::pwrite(fd, buf + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_status(errno, "write", what);
        }
        if (n == 0) {
            return Status(Code::IoError, fmt::format("write '{}': no progress", printable(what)));
        }
        done += static_cast<size_t>(n);
    }
    return Status::ok();
}

Status clear_nonblock(int fd, std::string_view what) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        return errno_status(errno, "fcntl", what);
    }
    return Status::ok();
}

Status check_options(const ExportOptions& o) {
    if (o.volume.empty()) {
        return Status(Code::InvalidArgument, "an export needs a volume name");
    }
    bool power_of_two = (o.page_size & (o.page_size - 1)) == 0;
    if (!power_of_two || o.page_size < kPageSizeMin || o.page_size > kPageSizeMax) {
        return Status(Code::InvalidArgument,
                      fmt::format("page size {} is not a power of two in [{}, {}]",
                                  o.page_size,
                                  kPageSizeMin,
                                  kPageSizeMax));
    }
    if (o.open_files_max == 0 || o.known_files_max < 2 || o.io_pages_max == 0 ||
        o.readdir_entries_max == 0) {
        return Status(Code::InvalidArgument,
                      "export limits must be positive (known_files_max at least 2)");
    }
    return Status::ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Opening the export.

Result<std::unique_ptr<Export>> Export::open(ExportOptions options) {
    VR_TRY(check_options(options));
    UniqueFd root(::open(options.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) {
        return errno_status(errno, "open export root", options.root);
    }
    Result<Stat> st = stat_fd(root.get());
    VR_TRY(st);
    // Proves openat2 works here before anything depends on it (Linux 5.6 and later).
    Result<UniqueFd> probe = open_beneath(root.get(), "", O_PATH | O_DIRECTORY, 0);
    if (!probe.is_ok()) {
        return probe.status().with_context("openat2 is required (Linux 5.6+)");
    }
    std::unique_ptr<Export> ex(new Export(std::move(options), std::move(root), st->dev, st->ino));
    Result<FileEntry*> entry = ex->files_.remember(st->ino, FileType::Directory, st->birth_ns, "");
    VR_TRY(entry);
    return ex;
}

Export::Export(ExportOptions options, UniqueFd root, uint64_t root_dev, uint64_t root_ino)
    : options_(std::move(options)),
      root_(std::move(root)),
      root_dev_(root_dev),
      root_ino_(root_ino),
      files_(options_.open_files_max, options_.known_files_max),
      zero_page_(std::make_shared<const std::vector<std::byte>>(options_.page_size)) {}

// ---------------------------------------------------------------------------------------------
// Helpers.

Status Export::refuse_if_read_only(std::string_view op) const {
    if (read_only()) {
        return Status(Code::ReadOnly,
                      fmt::format("{}: export '{}' is read-only", op, options_.volume));
    }
    return Status::ok();
}

Result<Attr> Export::remember(const Stat& st, const std::string& path) {
    if (st.dev != root_dev_) {
        return Status(
            Code::PermissionDenied,
            fmt::format("'{}' is on another filesystem than the export", printable(path)));
    }
    Result<FileEntry*> entry = files_.remember(st.ino, st.type, st.birth_ns, path);
    VR_TRY(entry);
    return attr_of(st);
}

Result<UniqueFd> Export::reopen(const FileEntry& entry, int flags) {
    if (!entry.path) {
        return Status(
            Code::Stale,
            fmt::format("ino {} is no longer linked at a path the store knows", entry.ino));
    }
    Result<UniqueFd> fd = open_beneath(root_.get(), *entry.path, flags | O_NOFOLLOW, 0);
    if (!fd.is_ok()) {
        return fd.status().with_context(fmt::format("reopening ino {}", entry.ino));
    }
    Result<Stat> st = stat_fd(fd->get());
    VR_TRY(st);
    if (st->dev != root_dev_ || st->ino != entry.ino || st->birth_ns != entry.birth_ns) {
        return Status(
            Code::Stale,
            fmt::format("ino {}: '{}' now names another file", entry.ino, printable(*entry.path)));
    }
    return fd;
}

FileEntry* Export::rediscover(uint64_t ino) {
    constexpr int64_t kRediscoverIntervalNs = 1'000'000'000;
    constexpr size_t kWalkEntriesMax = 1'000'000;
    constexpr size_t kWalkDepthMax = 64;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_ns = int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
    if (!walked_.count(ino) &&
        (!walked_at_ns_ || now_ns - *walked_at_ns_ >= kRediscoverIntervalNs)) {
        walked_at_ns_ = now_ns;
        walked_.clear();
        // Breadth first from the root; directories are opened beneath it, never following a
        // symlink, so the walk stays inside the export whatever its contents.
        std::vector<std::pair<std::string, size_t>> dirs{{"", 0}};
        size_t seen = 0;
        for (size_t i = 0; i < dirs.size() && seen < kWalkEntriesMax; ++i) {
            auto [dir_path, depth] = dirs[i];
            Result<UniqueFd> d = open_beneath(root_.get(), dir_path, O_RDONLY | O_DIRECTORY, 0);
            if (!d.is_ok()) {
                continue;
            }
            DIR* dir = ::fdopendir(d->release());
            if (dir == nullptr) {
                continue;
            }
            while (dirent* e = ::readdir(dir)) {
                std::string_view name = e->d_name;
                if (name == "." || name == ".." || ++seen > kWalkEntriesMax) {
                    continue;
                }
                std::string path = join(dir_path, name);
                walked_.emplace(e->d_ino, path);
                if (e->d_type == DT_DIR && depth + 1 < kWalkDepthMax) {
                    dirs.emplace_back(path, depth + 1);
                }
            }
            ::closedir(dir);
        }
        log::info("export '{}': walked {} entries to find inodes a restart forgot",
                  options_.volume,
                  seen);
    }
    auto it = walked_.find(ino);
    if (it == walked_.end()) {
        return nullptr;
    }
    Result<UniqueFd> fd = open_beneath(root_.get(), it->second, O_PATH | O_NOFOLLOW, 0);
    if (!fd.is_ok()) {
        return nullptr;
    }
    Result<Stat> st = stat_fd(fd->get());
    if (!st.is_ok() || st->ino != ino || !remember(*st, it->second).is_ok()) {
        return nullptr;
    }
    log::info(
        "export '{}': ino {} found again at '{}'", options_.volume, ino, printable(it->second));
    return files_.find(ino);
}

Result<FileEntry*> Export::known(uint64_t ino) {
    FileEntry* entry = files_.find(ino);
    if (entry == nullptr) {
        entry = rediscover(ino);
    }
    if (entry == nullptr) {
        return Status(
            Code::NotFound,
            fmt::format(
                "ino {} is not known to export '{}' (look it up first)", ino, options_.volume));
    }
    return entry;
}

Result<FileEntry*> Export::data_file(uint64_t ino, Need need) {
    Result<FileEntry*> found = known(ino);
    VR_TRY(found);
    FileEntry* entry = *found;
    if (entry->type != FileType::Regular) {
        return Status(Code::InvalidArgument, fmt::format("ino {} is not a regular file", ino));
    }
    if (entry->fd.valid()) {
        files_.touch(*entry);
    } else {
        bool writable = !read_only();
        Result<UniqueFd> fd = reopen(*entry, (writable ? O_RDWR : O_RDONLY) | kDataOpenFlags);
        Code code = fd.status().code();
        if (writable && (code == Code::PermissionDenied || code == Code::ReadOnly)) {
            // The daemon may read what it may not write; writes then fail, reads work.
            writable = false;
            fd = reopen(*entry, O_RDONLY | kDataOpenFlags);
        }
        VR_TRY(fd);
        VR_TRY(clear_nonblock(fd->get(), name_of(*entry)));
        files_.install_fd(*entry, std::move(fd).value(), writable);
    }
    if (need == Need::Write && !entry->writable) {
        return Status(
            Code::PermissionDenied,
            fmt::format("'{}' is not writable by the daemon", printable(name_of(*entry))));
    }
    return entry;
}

Result<UniqueFd> Export::open_dir_of(const std::string& canonical_parent) {
    return open_beneath(root_.get(), canonical_parent, O_PATH | O_DIRECTORY, 0);
}

Status Export::check_range(PageIndex first, uint64_t count) const {
    if (count == 0 || count > options_.io_pages_max) {
        return Status(Code::InvalidArgument,
                      fmt::format("{} pages asked, expected 1..{}", count, options_.io_pages_max));
    }
    uint64_t pages_max = kFileBytesMax / options_.page_size;
    if (first > pages_max || count > pages_max - first) {
        return Status(Code::OutOfRange,
                      fmt::format("pages [{}, +{}) lie beyond the largest file", first, count));
    }
    return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Metadata.

Result<Attr> Export::getattr_path(std::string_view path) {
    VR_TRY(check_path(path));
    std::string c = canonical(path);
    Result<UniqueFd> fd = open_beneath(root_.get(), c, O_PATH | O_NOFOLLOW, 0);
    VR_TRY(fd);
    Result<Stat> st = stat_fd(fd->get());
    VR_TRY(st);
    return remember(*st, c);
}

Result<Attr> Export::getattr(uint64_t ino) {
    Result<FileEntry*> entry = known(ino);
    VR_TRY(entry);
    if ((*entry)->fd.valid()) {
        Result<Stat> st = stat_fd((*entry)->fd.get());
        VR_TRY(st);
        return attr_of(*st);
    }
    Result<UniqueFd> fd = reopen(**entry, O_PATH);
    VR_TRY(fd);
    Result<Stat> st = stat_fd(fd->get());
    VR_TRY(st);
    return attr_of(*st);
}

Result<Attr> Export::lookup(uint64_t parent_ino, std::string_view name) {
    VR_TRY(check_name(name));
    Result<FileEntry*> parent = known(parent_ino);
    VR_TRY(parent);
    if ((*parent)->type != FileType::Directory) {
        return Status(Code::InvalidArgument,
                      fmt::format("lookup in ino {}, which is not a directory", parent_ino));
    }
    Result<UniqueFd> dir = reopen(**parent, O_PATH | O_DIRECTORY);
    VR_TRY(dir);
    std::string path = join(*(*parent)->path, name);
    // `name` is one checked component, so this resolves exactly one entry of `dir`.
    Result<UniqueFd> fd = open_beneath(dir->get(), name, O_PATH | O_NOFOLLOW, 0);
    if (!fd.is_ok()) {
        return fd.status().with_context(fmt::format("lookup '{}'", printable(path)));
    }
    Result<Stat> st = stat_fd(fd->get());
    VR_TRY(st);
    return remember(*st, path);
}

Result<std::string> Export::path_of(uint64_t ino) const {
    const FileEntry* entry = files_.find(ino);
    if (entry == nullptr || !entry->path) {
        return Status(Code::NotFound, fmt::format("ino {} has no known path", ino));
    }
    return *entry->path;
}

void Export::forget(uint64_t ino) {
    if (ino != root_ino_) {
        files_.forget(ino);
    }
}

Result<Attr> Export::create(std::string_view path, uint32_t mode, CreateMode how) {
    VR_TRY(refuse_if_read_only("create"));
    VR_TRY(check_path(path));
    std::string c = canonical(path);
    VR_TRY(split_final(c));
    if (mode > 07777) {
        return Status(Code::InvalidArgument, fmt::format("create: mode {:o} is not 07777", mode));
    }
    int flags = O_CREAT | O_RDWR | kDataOpenFlags;
    if (how == CreateMode::Exclusive) {
        flags |= O_EXCL;
    }
    Result<UniqueFd> fd = open_beneath(root_.get(), c, flags, mode);
    VR_TRY(fd);
    Result<Stat> st = stat_fd(fd->get());
    VR_TRY(st);
    if (st->type != FileType::Regular) {
        return Status(Code::InvalidArgument,
                      fmt::format("create '{}': exists and is not a regular file", printable(c)));
    }
    VR_TRY(clear_nonblock(fd->get(), c));
    Result<Attr> attr = remember(*st, c);
    VR_TRY(attr);
    FileEntry* entry = files_.find(st->ino);
    VR_ASSERT(entry != nullptr, "ino {} was just remembered", st->ino);
    if (!entry->fd.valid()) {
        files_.install_fd(*entry, std::move(fd).value(), /*writable=*/true);
    }
    return attr;
}

Result<Attr> Export::mkdir(std::string_view path, uint32_t mode) {
    VR_TRY(refuse_if_read_only("mkdir"));
    VR_TRY(check_path(path));
    std::string c = canonical(path);
    Result<SplitPath> split = split_final(c);
    VR_TRY(split);
    if (mode > 07777) {
        return Status(Code::InvalidArgument, fmt::format("mkdir: mode {:o} is not 07777", mode));
    }
    Result<UniqueFd> dir = open_dir_of(split->parent);
    VR_TRY(dir);
    if (::mkdirat(dir->get(), split->name.c_str(), mode) != 0) {
        return errno_status(errno, "mkdir", c);
    }
    Result<Stat> st = stat_at(dir->get(), split->name);
    VR_TRY(st);
    return remember(*st, c);
}

Status Export::unlink(std::string_view path) {
    VR_TRY(refuse_if_read_only("unlink"));
    VR_TRY(check_path(path));
    std::string c = canonical(path);
    Result<SplitPath> split = split_final(c);
    VR_TRY(split);
    Result<UniqueFd> dir = open_dir_of(split->parent);
    VR_TRY(dir);
    struct stat before {};
    bool known_before =
        ::fstatat(dir->get(), split->name.c_str(), &before, AT_SYMLINK_NOFOLLOW) == 0;
    if (::unlinkat(dir->get(), split->name.c_str(), 0) != 0) {
        return errno_status(errno, "unlink", c);
    }
    files_.unlinked(c);
    // Its last name is gone: close the fd the store held for it, so that deleted files do not
    // keep disk space and fds until the fd cache evicts them. (Pages of it that nodes still
    // cache stay readable there; a fetch of any other page is Stale.)
    if (known_before && before.st_nlink == 1 && S_ISREG(before.st_mode)) {
        files_.forget(before.st_ino);
    }
    return Status::ok();
}

Status Export::rmdir(std::string_view path) {
    VR_TRY(refuse_if_read_only("rmdir"));
    VR_TRY(check_path(path));
    std::string c = canonical(path);
    Result<SplitPath> split = split_final(c);
    VR_TRY(split);
    Result<UniqueFd> dir = open_dir_of(split->parent);
    VR_TRY(dir);
    if (::unlinkat(dir->get(), split->name.c_str(), AT_REMOVEDIR) != 0) {
        return errno_status(errno, "rmdir", c);
    }
    files_.unlinked(c);
    return Status::ok();
}

Status Export::rename(std::string_view from, std::string_view to, RenameMode how) {
    VR_TRY(refuse_if_read_only("rename"));
    VR_TRY(check_path(from));
    VR_TRY(check_path(to));
    std::string source = canonical(from);
    std::string target = canonical(to);
    Result<SplitPath> source_split = split_final(source);
    VR_TRY(source_split);
    Result<SplitPath> target_split = split_final(target);
    VR_TRY(target_split);
    Result<UniqueFd> source_dir = open_dir_of(source_split->parent);
    VR_TRY(source_dir);
    Result<UniqueFd> target_dir = open_dir_of(target_split->parent);
    VR_TRY(target_dir);
    unsigned flags = 0;
    if (how == RenameMode::NoReplace) {
        flags = RENAME_NOREPLACE;
    } else if (how == RenameMode::Exchange) {
        flags = RENAME_EXCHANGE;
    }
    if (::renameat2(source_dir->get(),
                    source_split->name.c_str(),
                    target_dir->get(),
                    target_split->name.c_str(),
                    flags) != 0) {
        return errno_status(errno, "rename", fmt::format("{}' -> '{}", source, target));
    }
    if (how == RenameMode::Exchange) {
        files_.exchanged(source, target);
    } else {
        files_.renamed(source, target);
    }
    return Status::ok();
}

Result<DirPage> Export::readdir(std::string_view path, uint64_t cookie, size_t count_max) {
    if (count_max == 0 || count_max > options_.readdir_entries_max) {
        return Status(
            Code::InvalidArgument,
            fmt::format(
                "readdir of {} entries, expected 1..{}", count_max, options_.readdir_entries_max));
    }
    VR_TRY(check_path(path));
    std::string c = canonical(path);
    Result<UniqueFd> fd = open_beneath(root_.get(), c, O_RDONLY | O_DIRECTORY, 0);
    VR_TRY(fd);
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd->get()), &::closedir);
    if (!dir) {
        return errno_status(errno, "readdir", c);
    }
    fd->release();  // the DIR owns it now
    if (cookie != 0) {
        ::seekdir(dir.get(), static_cast<long>(cookie));
    }
    DirPage page;
    page.next_cookie = cookie;
    while (page.entries.size() < count_max) {
        errno = 0;
        struct dirent* ent = ::readdir(dir.get());
        if (ent == nullptr) {
            if (errno != 0) {
                return errno_status(errno, "readdir", c);
            }
            page.end = true;
            break;
        }
        page.next_cookie = static_cast<uint64_t>(ent->d_off);
        std::string name(ent->d_name);
        if (name == "." || name == "..") {
            continue;
        }
        FileType type = type_of_dirent(ent->d_type);
        if (ent->d_type == DT_UNKNOWN) {
            Result<Stat> st = stat_at(::dirfd(dir.get()), name);
            VR_TRY(st);
            type = st->type;
        }
        page.entries.push_back(DirEntry{std::move(name), ent->d_ino, type});
    }
    return page;
}

Status Export::truncate(uint64_t ino, uint64_t size) {
    VR_TRY(refuse_if_read_only("truncate"));
    if (size > kFileBytesMax) {
        return Status(Code::OutOfRange, fmt::format("truncate to {} bytes", size));
    }
    Result<FileEntry*> entry = data_file(ino, Need::Write);
    VR_TRY(entry);
    if (::ftruncate((*entry)->fd.get(), static_cast<off_t>(size)) != 0) {
        return errno_status(errno, "truncate", name_of(**entry));
    }
    return Status::ok();
}

Result<Attr> Export::setattr(uint64_t ino, const AttrChange& change) {
    VR_TRY(refuse_if_read_only("setattr"));
    if (change.mode && *change.mode > 07777) {
        return Status(Code::InvalidArgument, fmt::format("setattr: mode {:o}", *change.mode));
    }
    Result<FileEntry*> found = known(ino);
    VR_TRY(found);
    UniqueFd dir_fd;  // owned only for a directory; a regular file uses the table's fd
    int fd = -1;
    if ((*found)->type == FileType::Regular) {
        Result<FileEntry*> entry = data_file(ino, Need::Read);
        VR_TRY(entry);
        fd = (*entry)->fd.get();
    } else if ((*found)->type == FileType::Directory) {
        Result<UniqueFd> opened = reopen(**found, O_RDONLY | O_DIRECTORY);
        VR_TRY(opened);
        dir_fd = std::move(opened).value();
        fd = dir_fd.get();
    } else {
        return Status(Code::InvalidArgument,
                      fmt::format("setattr of ino {}: only files and directories", ino));
    }
    std::string what = name_of(**found);
    // Owner first: chown clears set-id bits, which a mode in the same call may set again.
    if (change.uid || change.gid) {
        if (::fchown(fd,
                     change.uid ? *change.uid : static_cast<uid_t>(-1),
                     change.gid ? *change.gid : static_cast<gid_t>(-1)) != 0) {
            return errno_status(errno, "chown", what);
        }
    }
    if (change.mode && ::fchmod(fd, *change.mode) != 0) {
        return errno_status(errno, "chmod", what);
    }
    if (change.atime_ns || change.mtime_ns) {
        struct timespec times[2] = {timespec_of(change.atime_ns), timespec_of(change.mtime_ns)};
        if (::futimens(fd, times) != 0) {
            return errno_status(errno, "utimens", what);
        }
    }
    Result<Stat> st = stat_fd(fd);
    VR_TRY(st);
    return attr_of(*st);
}

// ---------------------------------------------------------------------------------------------
// Pages.

Result<std::vector<PageBuf>> Export::read_pages(uint64_t ino, PageIndex first, uint64_t count) {
    VR_TRY(check_range(first, count));
    Result<FileEntry*> entry = data_file(ino, Need::Read);
    VR_TRY(entry);
    int fd = (*entry)->fd.get();
    std::string what = name_of(**entry);
    size_t page_size = options_.page_size;
    std::vector<PageBuf> pages;
    pages.reserve(count);
    bool eof = false;
    for (uint64_t i = 0; i < count; ++i) {
        if (eof) {
            pages.push_back(zero_page_);
            continue;
        }
        std::vector<std::byte> buf(page_size);
        Result<size_t> n = pread_full(fd, buf.data(), page_size, (first + i) * page_size, what);
        VR_TRY(n);
        eof = *n < page_size;
        if (*n == 0) {
            pages.push_back(zero_page_);
        } else {
            pages.push_back(std::make_shared<const std::vector<std::byte>>(std::move(buf)));
        }
    }
    return pages;
}

Status Export::write_pages(uint64_t ino, PageIndex first, const std::vector<PageBuf>& pages) {
    VR_TRY(refuse_if_read_only("write"));
    VR_TRY(check_range(first, pages.size()));
    size_t page_size = options_.page_size;
    for (size_t i = 0; i < pages.size(); ++i) {
        if (!pages[i] || pages[i]->size() != page_size) {
            return Status(Code::InvalidArgument,
                          fmt::format("write of page {}: {} bytes, expected {}",
                                      first + i,
                                      pages[i] ? pages[i]->size() : 0,
                                      page_size));
        }
    }
    Result<FileEntry*> entry = data_file(ino, Need::Write);
    VR_TRY(entry);
    int fd = (*entry)->fd.get();
    std::string what = name_of(**entry);
    Result<Stat> st = stat_fd(fd);
    VR_TRY(st);
    for (size_t i = 0; i < pages.size(); ++i) {
        uint64_t offset = (first + i) * page_size;
        if (offset >= st->size) {
            break;  // past EOF: the daemon extends the file first if it wants these bytes
        }
        size_t length = static_cast<size_t>(std::min<uint64_t>(page_size, st->size - offset));
        VR_TRY(pwrite_full(fd, pages[i]->data(), length, offset, what));
    }
    return Status::ok();
}

Status Export::extend(uint64_t ino, uint64_t size) {
    VR_TRY(refuse_if_read_only("extend"));
    if (size > kFileBytesMax) {
        return Status(Code::OutOfRange, fmt::format("extend to {} bytes", size));
    }
    Result<FileEntry*> entry = data_file(ino, Need::Write);
    VR_TRY(entry);
    int fd = (*entry)->fd.get();
    Result<Stat> st = stat_fd(fd);
    VR_TRY(st);
    if (size > st->size && ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        return errno_status(errno, "extend", name_of(**entry));
    }
    return Status::ok();
}

Status Export::sync(uint64_t ino) {
    Result<FileEntry*> found = known(ino);
    VR_TRY(found);
    if ((*found)->type == FileType::Directory) {
        Result<UniqueFd> dir = reopen(**found, O_RDONLY | O_DIRECTORY);
        VR_TRY(dir);
        if (::fsync(dir->get()) != 0) {
            return errno_status(errno, "fsync", name_of(**found));
        }
        return Status::ok();
    }
    Result<FileEntry*> entry = data_file(ino, Need::Read);
    VR_TRY(entry);
    if (::fdatasync((*entry)->fd.get()) != 0) {
        return errno_status(errno, "fdatasync", name_of(**entry));
    }
    return Status::ok();
}

Result<PageSpan> Export::page_span(uint64_t ino, PageIndex first, uint64_t count) {
    VR_TRY(check_range(first, count));
    Result<FileEntry*> entry = data_file(ino, Need::Read);
    VR_TRY(entry);
    int fd = (*entry)->fd.get();
    Result<Stat> st = stat_fd(fd);
    VR_TRY(st);
    UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!dup.valid()) {
        return errno_status(errno, "dup", name_of(**entry));
    }
    PageSpan span;
    span.fd = std::move(dup);
    span.byte_offset = first * options_.page_size;
    uint64_t bytes = count * options_.page_size;
    span.file_bytes =
        st->size > span.byte_offset ? std::min<uint64_t>(st->size - span.byte_offset, bytes) : 0;
    span.zero_bytes = bytes - span.file_bytes;
    return span;
}

}  // namespace vr::store
