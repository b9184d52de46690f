#include "store/posix.h"

#include <fmt/format.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/path.h"

namespace vr::store {
namespace {

int64_t to_ns(const struct statx_timestamp& t) {
    return t.tv_sec * int64_t{1'000'000'000} + t.tv_nsec;
}

FileType type_of(uint32_t mode) {
    switch (mode & S_IFMT) {
        case S_IFREG:
            return FileType::Regular;
        case S_IFDIR:
            return FileType::Directory;
        case S_IFLNK:
            return FileType::Symlink;
        default:
            return FileType::Other;
    }
}

Stat from_statx(const struct statx& sx) {
    Stat st;
    st.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    st.ino = sx.stx_ino;
    st.type = type_of(sx.stx_mode);
    st.mode = sx.stx_mode & 07777;
    st.size = sx.stx_size;
    st.nlink = sx.stx_nlink;
    st.uid = sx.stx_uid;
    st.gid = sx.stx_gid;
    st.mtime_ns = to_ns(sx.stx_mtime);
    st.ctime_ns = to_ns(sx.stx_ctime);
    st.birth_ns = (sx.stx_mask & STATX_BTIME) != 0 ? to_ns(sx.stx_btime) : 0;
    return st;
}

Result<Stat> do_statx(int dir_fd, const char* name, int flags, std::string_view what) {
    struct statx sx {};
    unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
    if (::statx(dir_fd, name, flags | AT_STATX_SYNC_AS_STAT, mask, &sx) != 0) {
        return errno_status(errno, "statx", what);
    }
    return from_statx(sx);
}

}  // namespace

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) {
        // close() always releases the descriptor on Linux, even when it reports EINTR or EIO;
        // a late write-back error is reported by the sync that the daemon issues before it.
        ::close(fd_);
    }
    fd_ = fd;
}

Result<UniqueFd> open_beneath(int dir_fd, std::string_view path, int flags, mode_t mode) {
    // Callers pass checked paths, which never contain NUL, so the copy is the same string.
    std::string name = path.empty() ? std::string(".") : std::string(path);
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) != 0 ? (mode & 07777) : 0;
    how.resolve = kResolveConfined;
    for (int attempt = 0; attempt < kResolveRetriesMax; ++attempt) {
        long fd = ::syscall(SYS_openat2, dir_fd, name.c_str(), &how, sizeof(how));
        if (fd >= 0) {
            return UniqueFd(static_cast<int>(fd));
        }
        if (errno != EAGAIN && errno != EINTR) {
            return errno_status(errno, "open", path);
        }
    }
    return Status(
        Code::Busy,
        fmt::format("open '{}': path resolution kept racing with renames", printable(path)));
}

Result<Stat> stat_fd(int fd) {
    return do_statx(fd, "", AT_EMPTY_PATH, "<open file>");
}

Result<Stat> stat_at(int dir_fd, const std::string& name) {
    return do_statx(dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW, name);
}

Status errno_status(int err, std::string_view op, std::string_view path) {
    std::string where = fmt::format("{} '{}'", op, printable(path));
    switch (err) {
        case ENOENT:
            return Status(Code::NotFound, fmt::format("{}: {}", where, std::strerror(err)));
        case EEXIST:
            return Status(Code::Exists, fmt::format("{}: {}", where, std::strerror(err)));
        case ENOTEMPTY:
            return Status(Code::NotEmpty, fmt::format("{}: {}", where, std::strerror(err)));
        case ESTALE:
            return Status(Code::Stale, fmt::format("{}: {}", where, std::strerror(err)));
        case EACCES:
        case EPERM:
            return Status(Code::PermissionDenied, fmt::format("{}: {}", where, std::strerror(err)));
        case ENOSPC:
        case EDQUOT:
            return Status(Code::NoSpace, fmt::format("{}: {}", where, std::strerror(err)));
        case EXDEV:
        case ELOOP:
            return Status(Code::PermissionDenied,
                          fmt::format("{}: the path escapes the export (through '..', an absolute "
                                      "or outward symlink, a mount point or a symlink the store "
                                      "does not follow) [{}]",
                                      where,
                                      std::strerror(err)));
        case EROFS:
            return Status(Code::ReadOnly, fmt::format("{}: {}", where, std::strerror(err)));
        case ENOTDIR:
        case EISDIR:
        case EINVAL:
        case ENAMETOOLONG:
            return Status(Code::InvalidArgument, fmt::format("{}: {}", where, std::strerror(err)));
        case EFBIG:
            return Status(Code::OutOfRange, fmt::format("{}: {}", where, std::strerror(err)));
        default:
            return Status(Code::IoError, fmt::format("{}: {}", where, std::strerror(err)));
    }
}

}  // namespace vr::store
