// The thin POSIX layer of the origin store: an owning file descriptor, the one confined open
// (openat2 beneath an export root), statx into our own struct, and the module's single mapping
// from errno to Status.
//
// Invariant: every name the store hands to the kernel is resolved by open_beneath() against a
// directory fd of the export, with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV, or
// is a single validated component given to an *at() call on such a directory fd. Nothing in the
// store calls open(2), stat(2) or any other path-taking syscall with a whole path.
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace vr::store {

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset(other.release());
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);

  private:
    int fd_ = -1;
};

// How every path under an export is resolved: never above the directory fd, never through a
// procfs magic link, never across a mount point (bind mounts included).
inline constexpr uint64_t kResolveConfined =
    RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

// openat2 can fail with EAGAIN when a concurrent rename makes ".." handling unprovable; it is
// retried this many times before the store answers Busy.
inline constexpr int kResolveRetriesMax = 16;

// Opens `path` relative to `dir_fd` with kResolveConfined. An empty path names dir_fd itself.
// O_CLOEXEC is always added. `mode` is used only with O_CREAT.
Result<UniqueFd> open_beneath(int dir_fd, std::string_view path, int flags, mode_t mode);

enum class FileType : uint8_t { Regular, Directory, Symlink, Other };

// The subset of statx the store uses. birth_ns is 0 when the filesystem does not record it.
struct Stat {
    uint64_t dev = 0;
    uint64_t ino = 0;
    FileType type = FileType::Other;
    uint32_t mode = 0;  // permission bits only (07777)
    uint64_t size = 0;
    uint64_t nlink = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    int64_t birth_ns = 0;
};

// statx of an open fd (any kind, O_PATH included).
Result<Stat> stat_fd(int fd);
// statx of one entry of a directory, without following a final symlink. `name` must be a
// single validated component.
Result<Stat> stat_at(int dir_fd, const std::string& name);

// The one errno -> Status mapping of the store. `op` names the operation and `path` the
// export-relative path, both for the message (the path is shown in printable form).
Status errno_status(int err, std::string_view op, std::string_view path);

}  // namespace vr::store
