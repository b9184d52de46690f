#include "warmup.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "client/endpoint.h"
#include "config/config.h"

namespace vr::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
constexpr size_t kBarWidth = 24;

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};
using Dir = std::unique_ptr<DIR, DirCloser>;

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

// Calls on_file(dirfd, name, shown path) for each regular file under `root` (the root itself
// when it is one) and on_error(shown path, errno) for what cannot be listed. Symbolic links
// below the root are not followed; other kinds of file are skipped.
using OnFile = std::function<void(int dirfd, const char* name, const std::string& path)>;
using OnError = std::function<void(const std::string& path, int error)>;

void walk(const std::string& root, const OnFile& on_file, const OnError& on_error) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) {
        on_error(root, errno);
        return;
    }
    if (S_ISREG(st.st_mode)) {
        on_file(AT_FDCWD, root.c_str(), root);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        on_error(root, EINVAL);
        return;
    }
    struct Level {
        Dir dir;
        std::string path;
    };
    std::vector<Level> stack;
    auto enter = [&](int at, const char* name, std::string path) {
        int fd = ::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
        if (d == nullptr) {
            on_error(path, errno);
            if (fd >= 0) {
                ::close(fd);
            }
            return;
        }
        stack.push_back({Dir(d), std::move(path)});
    };
    enter(AT_FDCWD, root.c_str(), root);
    while (!stack.empty()) {
        Level& top = stack.back();
        errno = 0;
        dirent* e = ::readdir(top.dir.get());
        if (e == nullptr) {
            if (errno != 0) {
                on_error(top.path, errno);
            }
            stack.pop_back();
            continue;
        }
        std::string_view name = e->d_name;
        if (name == "." || name == "..") {
            continue;
        }
        std::string path =
            top.path.ends_with('/') ? top.path + e->d_name : top.path + "/" + e->d_name;
        int at = ::dirfd(top.dir.get());
        unsigned char type = e->d_type;
        if (type == DT_UNKNOWN) {
            struct stat est {};
            if (::fstatat(at, e->d_name, &est, AT_SYMLINK_NOFOLLOW) != 0) {
                on_error(path, errno);
                continue;
            }
            type = S_ISREG(est.st_mode) ? DT_REG : S_ISDIR(est.st_mode) ? DT_DIR : DT_UNKNOWN;
        }
        if (type == DT_DIR) {
            enter(at, e->d_name, std::move(path));  // may reallocate the stack: `top` is dead
        } else if (type == DT_REG) {
            on_file(at, e->d_name, path);
        }
    }
}

class Warmup {
  public:
    Warmup(const Io& io, std::string shown) : io_(io), shown_(std::move(shown)) {
        terminal_ = ::isatty(io.err) == 1;
    }

    int run(const std::string& root) {
        auto start = Clock::now();
        if (terminal_) {
            // A first pass for the totals of the progress bar; its errors come again below.
            walk(
                root,
                [&](int at, const char* name, const std::string&) {
                    struct stat st {};
                    if (::fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        ++p_.total_files;
                        p_.total_bytes += static_cast<uint64_t>(st.st_size);
                    }
                },
                [](const std::string&, int) {});
            draw(true);
        }
        buf_.resize(kWarmupChunk);
        walk(
            root,
            [&](int at, const char* name, const std::string& path) { read_file(at, name, path); },
            [&](const std::string& path, int error) { report(path, error); });
        if (terminal_) {
            draw(true);
            (void)write_all(io_.err, "\n");
        }
        double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        (void)write_all(io_.out, format_warmup_summary(shown_, p_, seconds));
        return p_.errors == 0 ? 0 : 1;
    }

  private:
    void read_file(int at, const char* name, const std::string& path) {
        // O_NONBLOCK: a file swapped for a FIFO since the listing must not hang the walk. Links
        // are followed only for the root (AT_FDCWD), which the user named.
        int nofollow = at == AT_FDCWD ? 0 : O_NOFOLLOW;
        Fd fd(::openat(at, name, O_RDONLY | nofollow | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
        if (fd.get() < 0) {
            report(path, errno);
            return;
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) {
            report(path, errno);
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            return;
        }
        (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        for (;;) {
            ssize_t n = ::read(fd.get(), buf_.data(), buf_.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                report(path, errno);
                return;
            }
            if (n == 0) {
                break;
            }
            p_.bytes += static_cast<uint64_t>(n);
            draw(false);
        }
        ++p_.files;
        draw(false);
    }

    void report(const std::string& path, int error) {
        ++p_.errors;
        if (terminal_) {
            (void)write_all(io_.err, "\r\033[K");
        }
        (void)fail(io_, fmt::format("warmup {}: {}", path, std::strerror(error)));
        drawn_ = {};
        draw(false);
    }

    void draw(bool now) {
        if (!terminal_) {
            return;
        }
        auto t = Clock::now();
        if (!now && drawn_ != Clock::time_point{} && t - drawn_ < kRedrawEvery) {
            return;
        }
        drawn_ = t;
        (void)write_all(io_.err, "\r" + format_progress(p_) + "\033[K");
    }

    const Io& io_;
    std::string shown_;
    bool terminal_ = false;
    WarmupProgress p_;
    std::vector<std::byte> buf_;
    Clock::time_point drawn_{};
};

bool is_filesystem_path(std::string_view path) {
    return path.starts_with('/') || path == "." || path == ".." || path.starts_with("./") ||
           path.starts_with("../");
}

}  // namespace

Result<std::string> warmup_root(const Command& cmd) {
    if (is_filesystem_path(cmd.path)) {
        return cmd.path;
    }
    std::string file = cmd.config.empty() ? client::default_config_path() : cmd.config;
    auto cfg = config::load_config(file, config::FileChecks::Off);
    if (!cfg.is_ok()) {
        const Status& st = cfg.status();
        return Status(Code::InvalidArgument,
                      fmt::format("read as VOLUME/PATH on the mount, but the config cannot be "
                                  "read: {} (or give a path on the mount: absolute or ./...)",
                                  st.context().empty() ? st.to_string() : st.context()));
    }
    if (!cfg->node.mount.has_value()) {
        return Status(Code::InvalidArgument,
                      fmt::format("read as VOLUME/PATH on the mount, but {} sets no node.mount "
                                  "(or give a path on the mount: absolute or ./...)",
                                  file));
    }
    std::string mount = *cfg->node.mount;
    while (mount.size() > 1 && mount.ends_with('/')) {
        mount.pop_back();
    }
    return mount + "/" + cmd.path;
}

std::string format_bytes(uint64_t bytes) {
    static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        return fmt::format("{} B", bytes);
    }
    double v = static_cast<double>(bytes);
    size_t unit = 0;
    while (v >= 1024 && unit + 1 < std::size(kUnits)) {
        v /= 1024;
        ++unit;
    }
    return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

std::string format_progress(const WarmupProgress& p) {
    uint64_t total = std::max(p.total_bytes, p.bytes);
    double done = total == 0 ? 1.0 : static_cast<double>(p.bytes) / static_cast<double>(total);
    auto filled = static_cast<size_t>(done * kBarWidth);
    auto percent = static_cast<unsigned>(done * 100);
    std::string line = fmt::format("{:>3}% [{}{}] {} / {}  {}/{} files",
                                   percent,
                                   std::string(filled, '#'),
                                   std::string(kBarWidth - filled, '.'),
                                   format_bytes(p.bytes),
                                   format_bytes(total),
                                   p.files,
                                   std::max(p.total_files, p.files));
    if (p.errors > 0) {
        line += fmt::format(", {} error{}", p.errors, p.errors == 1 ? "" : "s");
    }
    return line.substr(0, 79);
}

std::string format_warmup_summary(std::string_view path, const WarmupProgress& p, double seconds) {
    std::string line = fmt::format("warmup {}: {} file{}, {} in {:.2f} s",
                                   path,
                                   p.files,
                                   p.files == 1 ? "" : "s",
                                   format_bytes(p.bytes),
                                   seconds);
    if (seconds > 0) {
        line += fmt::format(
            " ({}/s)", format_bytes(static_cast<uint64_t>(static_cast<double>(p.bytes) / seconds)));
    }
    if (p.errors > 0) {
        line += fmt::format(", {} error{}", p.errors, p.errors == 1 ? "" : "s");
    }
    return line + "\n";
}

int warmup(const Command& cmd, const Io& io) {
    auto root = warmup_root(cmd);
    if (!root.is_ok()) {
        return fail(io, fmt::format("warmup {}: {}", cmd.path, root.status().context()));
    }
    return Warmup(io, cmd.path).run(root.value());
}

}  // namespace vr::cli
