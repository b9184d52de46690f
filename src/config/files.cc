#include "config/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "config/values.h"

namespace vr::config {

namespace {

Status invalid(std::string message) {
    return Status(Code::InvalidArgument, std::move(message));
}

std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

// Owns one file descriptor for the length of a check.
class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

}  // namespace

Status check_secret_file(const std::string& path) {
    // fstat on the opened descriptor: the checks apply to the file that was opened, even if the
    // name is replaced meanwhile.
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) {
        return invalid(fmt::format("{} cannot be opened: {}", quote(path), errno_text(errno)));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return invalid(fmt::format("{} cannot be examined: {}", quote(path), errno_text(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
        return invalid(fmt::format("{} is not a regular file", quote(path)));
    }
    if ((st.st_mode & 077) != 0) {
        return invalid(fmt::format(
            "{} has mode {:04o}; the cluster secret must not be readable or writable by group or "
            "others (chmod 600 it)",
            quote(path),
            st.st_mode & 07777));
    }
    if (st.st_size < static_cast<off_t>(kSecretBytesMin)) {
        return invalid(fmt::format("{} has {} bytes; a cluster secret needs at least {}",
                                   quote(path),
                                   st.st_size,
                                   kSecretBytesMin));
    }
    return Status::ok();
}

Result<std::string> read_small_file(const std::string& path, size_t bytes_max) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) {
        int err = errno;
        Code code = err == ENOENT                   ? Code::NotFound
                    : err == EACCES || err == EPERM ? Code::PermissionDenied
                                                    : Code::IoError;
        return Status(code, fmt::format("{}: cannot open: {}", path, errno_text(err)));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return Status(Code::IoError,
                      fmt::format("{}: cannot examine: {}", path, errno_text(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
        return invalid(fmt::format("{}: not a regular file", path));
    }
    if (static_cast<uint64_t>(st.st_size) > bytes_max) {
        return invalid(
            fmt::format("{}: the file has {} bytes; at most {}", path, st.st_size, bytes_max));
    }
    std::string text(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return Status(Code::IoError,
                          fmt::format("{}: cannot read: {}", path, errno_text(errno)));
        }
        if (n == 0) {
            break;  // the file shrank meanwhile: parse what is there
        }
        done += static_cast<size_t>(n);
    }
    text.resize(done);
    return text;
}

Status check_export_dir(const std::string& path, ExportAccess access) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT) {
            return invalid(fmt::format("{} does not exist", quote(path)));
        }
        return invalid(fmt::format("{} cannot be examined: {}", quote(path), errno_text(err)));
    }
    if (!S_ISDIR(st.st_mode)) {
        return invalid(fmt::format("{} is not a directory", quote(path)));
    }
    if (::faccessat(AT_FDCWD, path.c_str(), R_OK | X_OK, AT_EACCESS) != 0) {
        return invalid(fmt::format("{} cannot be listed: {}", quote(path), errno_text(errno)));
    }
    if (access == ExportAccess::ReadWrite &&
        ::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) != 0) {
        return invalid(
            fmt::format("{} is not writable ({}); make it writable or set read_only = "
                        "true",
                        quote(path),
                        errno_text(errno)));
    }
    return Status::ok();
}

}  // namespace vr::config
