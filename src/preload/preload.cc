// libvremote-preload.so: O_REMOTE and O_ORIGIN for unmodified programs (docs/preload.md).
//
// Interposes open, open64, openat, openat64, creat, creat64 and glibc's fortified __open_2,
// __open64_2, __openat_2, __openat64_2. An open without O_REMOTE costs one bit test and the real
// call (found with dlsym(RTLD_NEXT) in a constructor that reads nothing else), and nothing else
// is ever read or changed for it. An open with O_REMOTE loads the node's config once (lazily,
// lock-free: a fork or a signal never finds a lock held), resolves the path to one on the mount
// (preload/resolve.h) and makes the same call there without the two flags.
//
// No C++ exception leaves this file: the resolution runs inside a try block that catches
// std::exception (bad_alloc) and reports ENOMEM. The real calls stay outside it, so glibc's
// forced unwinding of a cancelled thread passes through untouched.
#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "base/status.h"
#include "config/config.h"
#include "config/values.h"
#include "preload/flags.h"
#include "preload/resolve.h"

// glibc's fortified entry points; <fcntl.h> declares them only under _FORTIFY_SOURCE.
extern "C" {
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);
}

namespace vr::preload {

namespace {

constexpr std::string_view kDefaultConfig = "/etc/vremote/vremote.toml";

// ---- the real functions ----------------------------------------------------------------------

enum class Entry : uint8_t {
    Open,
    Open64,
    Openat,
    Openat64,
    Creat,
    Creat64,
    Open2,
    Open64_2,
    Openat2,
    Openat64_2,
};
constexpr size_t kEntries = 10;

constexpr const char* kNames[kEntries] = {"open",
                                          "open64",
                                          "openat",
                                          "openat64",
                                          "creat",
                                          "creat64",
                                          "__open_2",
                                          "__open64_2",
                                          "__openat_2",
                                          "__openat64_2"};

// Constant-initialised, so valid before any constructor ran.
std::atomic<void*> g_real[kEntries] = {};

void* real(Entry e) {
    auto i = static_cast<size_t>(e);
    void* fn = g_real[i].load(std::memory_order_acquire);
    if (fn == nullptr) {
        fn = ::dlsym(RTLD_NEXT, kNames[i]);
        g_real[i].store(fn, std::memory_order_release);
    }
    return fn;
}

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using CreatFn = int (*)(const char*, mode_t);
using Open2Fn = int (*)(const char*, int);
using Openat2Fn = int (*)(int, const char*, int);

template <typename Fn>
Fn real_as(Entry e) {
    return reinterpret_cast<Fn>(real(e));
}

int no_real(Entry e) {
    (void)e;
    errno = ENOSYS;
    return -1;
}

// Only dlsym: the config is read at the first O_REMOTE open, never here.
__attribute__((constructor)) void find_real_functions() {
    for (size_t i = 0; i < kEntries; ++i) {
        (void)real(static_cast<Entry>(i));
    }
}

// The real call of entry `e` (no flag looked at).
int call_real(Entry e, int dirfd, const char* path, int flags, mode_t mode) {
    if (real(e) == nullptr) {
        return no_real(e);
    }
    switch (e) {
        case Entry::Open:
        case Entry::Open64:
            return real_as<OpenFn>(e)(path, flags, mode);
        case Entry::Openat:
        case Entry::Openat64:
            return real_as<OpenatFn>(e)(dirfd, path, flags, mode);
        case Entry::Creat:
        case Entry::Creat64:
            return real_as<CreatFn>(e)(path, mode);
        case Entry::Open2:
        case Entry::Open64_2:
            return real_as<Open2Fn>(e)(path, flags);
        case Entry::Openat2:
        case Entry::Openat64_2:
            return real_as<Openat2Fn>(e)(dirfd, path, flags);
    }
    return no_real(e);
}

// ---- messages --------------------------------------------------------------------------------

void say(std::string_view line) {
    std::string text = "vremote-preload: ";
    text += line;
    text += '\n';
    std::string_view left = text;
    while (!left.empty()) {
        ssize_t n = ::write(STDERR_FILENO, left.data(), left.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        left.remove_prefix(static_cast<size_t>(n));
    }
}

// Prints `line` the first time `flag` is raised.
void say_once(std::atomic<bool>& flag, std::string_view line) {
    if (!flag.exchange(true, std::memory_order_relaxed)) {
        say(line);
    }
}

std::atomic<bool> g_said_seed_decimal{false};
std::atomic<bool> g_said_no_default{false};

// ---- the node's config, loaded once ----------------------------------------------------------

struct State {
    int error = 0;        // when the config is unusable: the errno of every O_REMOTE open
    std::string problem;  // ... and why, printed once
    Namespace ns;
};

// Published once with compare-and-swap, never freed. Two threads may both load it; only the one
// that publishes speaks.
std::atomic<const State*> g_state{nullptr};

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
}

std::string first_line(const std::string& text) {
    size_t nl = text.find('\n');
    if (nl == std::string::npos) {
        return text;
    }
    size_t more = 0;
    for (char c : std::string_view(text).substr(nl)) {
        more += c == '\n' ? 1 : 0;
    }
    return text.substr(0, nl) + " (and " + std::to_string(more) + " more)";
}

// The real path of `path` (an absolute, normalised path that may not exist), or "" if it is the
// same or cannot be found. The last component is kept as is: a mount point whose daemon is gone
// cannot be stat'ed, its parent can.
std::string real_path_of(const std::string& path) {
    if (path == "/") {
        return "";
    }
    size_t slash = path.rfind('/');
    std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    char buf[PATH_MAX];
    if (::realpath(parent.c_str(), buf) == nullptr) {
        return "";
    }
    std::string real = normalize(std::string(buf) + path.substr(slash));
    return real == path ? "" : real;
}

State* load_state() {
    auto* s = new State;
    const char* from_env = env("VREMOTE_CONFIG");
    std::string file = from_env != nullptr ? from_env : std::string(kDefaultConfig);
    auto cfg = config::load_config(file, config::FileChecks::Off);
    if (!cfg.is_ok()) {
        s->error = cfg.status().code() == Code::NotFound           ? ENOENT
                   : cfg.status().code() == Code::PermissionDenied ? EACCES
                                                                   : EINVAL;
        s->problem = "cannot use the node config (" +
                     std::string(from_env != nullptr ? "$VREMOTE_CONFIG" : "the default") +
                     "), so O_REMOTE opens fail with " + strerrorname_np(s->error) + ": " +
                     first_line(cfg.status().context().empty() ? cfg.status().to_string()
                                                               : cfg.status().context());
        return s;
    }
    const config::NodeConfig& c = cfg.value();
    if (!c.node.mount.has_value()) {
        s->error = EOPNOTSUPP;
        s->problem = file +
                     ": node.mount is not set, so this node has no vremote mount and O_REMOTE "
                     "opens fail with EOPNOTSUPP";
        return s;
    }
    s->ns.mount = normalize(*c.node.mount);
    s->ns.mount_real = real_path_of(s->ns.mount);
    for (const config::Export& e : c.exports) {
        std::string path = normalize(e.path);
        s->ns.exports.push_back({e.volume, path});
        char buf[PATH_MAX];
        if (::realpath(path.c_str(), buf) != nullptr && normalize(buf) != path) {
            s->ns.exports.push_back({e.volume, normalize(buf)});
        }
    }
    if (const char* v = env("VREMOTE_VOLUME")) {
        if (Status st = config::check_name(v); !st.is_ok()) {
            s->error = EINVAL;
            s->problem =
                "$VREMOTE_VOLUME: " + st.context() + ", so O_REMOTE opens fail with EINVAL";
            return s;
        }
        s->ns.default_volume = v;
    } else if (c.cluster.default_volume.has_value()) {
        s->ns.default_volume = *c.cluster.default_volume;
    }
    return s;
}

const State& state() {
    const State* s = g_state.load(std::memory_order_acquire);
    if (s != nullptr) {
        return *s;
    }
    State* fresh = load_state();
    const State* expected = nullptr;
    if (g_state.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
        if (fresh->error != 0) {
            say(fresh->problem);
        }
        return *fresh;
    }
    delete fresh;
    return *expected;
}

// ---- an O_REMOTE open ------------------------------------------------------------------------

struct Redirect {
    int error = 0;
    int flags = 0;
    std::string path;
};

// The directory a relative path of this call starts from, or an errno.
int base_of(int dirfd, std::string* base) {
    char buf[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (::getcwd(buf, sizeof buf) != nullptr) {
            *base = buf;
        }
        return 0;  // an unknown cwd leaves the cluster namespace
    }
    struct stat st {};
    if (::fstat(dirfd, &st) != 0) {
        return EBADF;
    }
    if (!S_ISDIR(st.st_mode)) {
        return ENOTDIR;
    }
    std::string link = "/proc/self/fd/" + std::to_string(dirfd);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0 || buf[0] != '/') {
        return ENOENT;
    }
    std::string_view dir(buf, static_cast<size_t>(n));
    if (dir.ends_with(" (deleted)")) {
        return ENOENT;
    }
    *base = std::string(dir);
    return 0;
}

bool is_volume_dir(const std::string& mount, std::string_view name) {
    std::string dir = mount + "/" + std::string(name);
    struct stat st {};
    return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Redirect redirect(int dirfd, const char* path, int raw_flags) {
    Redirect r;
    Flags f = classify(raw_flags);
    if (f.verdict == Verdict::Invalid) {
        r.error = EINVAL;
        return r;
    }
    if (f.seed_decimal) {
        say_once(g_said_seed_decimal,
                 "open flags hold decimal 10000000 (0x989680), the seed README's O_ORIGIN: "
                 "treated as O_ORIGIN (octal 010), and the bits it sets by accident (O_EXCL, "
                 "O_TRUNC, O_APPEND, O_DSYNC, O_SYNC, O_CLOEXEC, ...) are ignored; define "
                 "O_ORIGIN as 010 (#include <vremote/fcntl.h>)");
    }
    if (path == nullptr) {
        r.error = EFAULT;
        return r;
    }
    const State& s = state();
    if (s.error != 0) {
        r.error = s.error;
        return r;
    }
    std::string base;
    if (path[0] != '/') {
        if (int e = base_of(dirfd, &base); e != 0) {
            r.error = e;
            return r;
        }
    }
    Target t = resolve(s.ns, base, path, f.origin, [&](std::string_view name) {
        return is_volume_dir(s.ns.mount, name);
    });
    if (t.error == ENOENT && s.ns.default_volume.empty() &&
        t.why == "no volume named and no default volume") {
        say_once(g_said_no_default,
                 "an O_REMOTE open names no volume and there is no default volume: set "
                 "$VREMOTE_VOLUME or cluster.default_volume");
    }
    r.error = t.error;
    r.flags = f.flags;
    r.path = std::move(t.path);
    return r;
}

int remote_open(Entry e, int dirfd, const char* path, int flags, mode_t mode) {
    int saved = errno;
    // glibc declares `path` non-null; hide that from the optimiser so that a null path is
    // reported (EFAULT) instead of the check being dropped.
    const char* p = path;
    __asm__("" : "+r"(p));
    Redirect r;
    try {
        r = redirect(dirfd, p, flags);
    } catch (const std::exception&) {
        r.error = ENOMEM;
    }
    if (r.error != 0) {
        errno = r.error;
        return -1;
    }
    errno = saved;
    return call_real(e, dirfd, r.path.c_str(), r.flags, mode);
}

}  // namespace

}  // namespace vr::preload

using vr::preload::call_real;
using vr::preload::Entry;
using vr::preload::kRemote;
using vr::preload::needs_mode;
using vr::preload::remote_open;

// Each entry point: the mode argument is read only when the flags say it was passed (as glibc
// does), then either the real call or the redirected one.
#define VR_PRELOAD_OPEN(name, entry)                                                               \
    extern "C" __attribute__((visibility("default"))) int name(const char* path, int flags, ...) { \
        mode_t mode = 0;                                                                           \
        if (needs_mode(flags)) {                                                                   \
            va_list ap;                                                                            \
            va_start(ap, flags);                                                                   \
            mode = static_cast<mode_t>(va_arg(ap, unsigned int));                                  \
            va_end(ap);                                                                            \
        }                                                                                          \
        if ((flags & kRemote) == 0) {                                                              \
            return call_real(entry, AT_FDCWD, path, flags, mode);                                  \
        }                                                                                          \
        return remote_open(entry, AT_FDCWD, path, flags, mode);                                    \
    }

#define VR_PRELOAD_OPENAT(name, entry)                            \
    extern "C" __attribute__((visibility("default"))) int name(   \
        int dirfd, const char* path, int flags, ...) {            \
        mode_t mode = 0;                                          \
        if (needs_mode(flags)) {                                  \
            va_list ap;                                           \
            va_start(ap, flags);                                  \
            mode = static_cast<mode_t>(va_arg(ap, unsigned int)); \
            va_end(ap);                                           \
        }                                                         \
        if ((flags & kRemote) == 0) {                             \
            return call_real(entry, dirfd, path, flags, mode);    \
        }                                                         \
        return remote_open(entry, dirfd, path, flags, mode);      \
    }

VR_PRELOAD_OPEN(open, Entry::Open)
VR_PRELOAD_OPEN(open64, Entry::Open64)
VR_PRELOAD_OPENAT(openat, Entry::Openat)
VR_PRELOAD_OPENAT(openat64, Entry::Openat64)

// creat(path, mode) is open(path, O_CREAT | O_WRONLY | O_TRUNC, mode): it has no flags argument,
// so it can never carry O_REMOTE, and its mode (which may well hold 020, group write) is never
// read as flags. Interposed so that every open entry point of glibc is covered, and passed on.
extern "C" __attribute__((visibility("default"))) int creat(const char* path, mode_t mode) {
    return call_real(Entry::Creat, AT_FDCWD, path, 0, mode);
}
extern "C" __attribute__((visibility("default"))) int creat64(const char* path, mode_t mode) {
    return call_real(Entry::Creat64, AT_FDCWD, path, 0, mode);
}

// The fortified entry points take no mode; the real ones abort when the flags need one, and so do
// these (they pass the call on).
extern "C" __attribute__((visibility("default"))) int __open_2(const char* path, int flags) {
    if ((flags & kRemote) == 0) {
        return call_real(Entry::Open2, AT_FDCWD, path, flags, 0);
    }
    return remote_open(Entry::Open2, AT_FDCWD, path, flags, 0);
}
extern "C" __attribute__((visibility("default"))) int __open64_2(const char* path, int flags) {
    if ((flags & kRemote) == 0) {
        return call_real(Entry::Open64_2, AT_FDCWD, path, flags, 0);
    }
    return remote_open(Entry::Open64_2, AT_FDCWD, path, flags, 0);
}
extern "C" __attribute__((visibility("default"))) int __openat_2(int dirfd,
                                                                 const char* path,
                                                                 int flags) {
    if ((flags & kRemote) == 0) {
        return call_real(Entry::Openat2, dirfd, path, flags, 0);
    }
    return remote_open(Entry::Openat2, dirfd, path, flags, 0);
}
extern "C" __attribute__((visibility("default"))) int __openat64_2(int dirfd,
                                                                   const char* path,
                                                                   int flags) {
    if ((flags & kRemote) == 0) {
        return call_real(Entry::Openat64_2, dirfd, path, flags, 0);
    }
    return remote_open(Entry::Openat64_2, dirfd, path, flags, 0);
}
