// The C API (include/vremote/vremote.h) over client::Session. Built into libvremote.so with
// hidden visibility; a version script exports the vr_* symbols only.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/endpoint.h"
#include "client/session.h"
#include "vremote/vremote.h"
#include "wire/client.h"

static_assert(VR_O_CREAT == vr::wire::kOpenCreate);
static_assert(VR_O_EXCL == vr::wire::kOpenExclusive);
static_assert(VR_O_TRUNC == vr::wire::kOpenTruncate);
static_assert(VR_O_RDONLY == vr::wire::kOpenReadOnly);

// One descriptor: free (handle 0, not reserved), being opened (reserved), or open.
struct vr_slot {
    uint64_t handle = 0;  // the daemon's handle (never 0 once open)
    bool reserved = false;
};

struct vr_client {
    std::unique_ptr<vr::client::Session> session;
    std::mutex mu;               // guards slots
    std::vector<vr_slot> slots;  // indexed by descriptor
};

namespace {

using vr::Code;
using vr::Status;

// Descriptors per client, like a process's RLIMIT_NOFILE.
constexpr size_t kDescriptorsMax = 65536;

thread_local std::string t_last_error;

// Records the failure for vr_last_error and returns it as a negative errno.
int fail(const Status& status, int err = 0) {
    t_last_error = vr::client::describe(status);
    return -(err != 0 ? err : vr::errno_of(status.code()));
}

int invalid(std::string what) {
    return fail(Status(Code::InvalidArgument, std::move(what)));
}

// The daemon's handle behind descriptor `fd`, or 0 if it is not open.
uint64_t handle_of(vr_client* c, int fd) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (fd < 0 || static_cast<size_t>(fd) >= c->slots.size()) {
        return 0;
    }
    return c->slots[static_cast<size_t>(fd)].handle;
}

int bad_descriptor(int fd) {
    return fail(Status(Code::InvalidArgument, fmt::format("descriptor {} is not open", fd)), EBADF);
}

// Checks what every call on an open client needs; 0 or a negative errno.
int check_client(vr_client* c) {
    if (c == nullptr) {
        return invalid("the vr_client is NULL");
    }
    if (!c->session->is_open()) {
        return fail(Status(Code::Unavailable,
                           fmt::format("the connection to vremoted is closed ({})",
                                       vr::client::describe(c->session->why_closed()))),
                    ENOTCONN);
    }
    return 0;
}

// Clamps an I/O of `count` bytes at `offset` to what the largest file can hold; false (with
// `*rc` set) if the offset itself is beyond it or the count does not fit ssize_t.
bool clamp_io(uint64_t offset, size_t& count, ssize_t* rc) {
    if (count > SSIZE_MAX) {
        *rc = invalid(fmt::format("count {} exceeds SSIZE_MAX", count));
        return false;
    }
    if (offset > vr::wire::kMaxFileBytes) {
        *rc = invalid(fmt::format("offset {} is beyond the largest file", offset));
        return false;
    }
    count = static_cast<size_t>(std::min<uint64_t>(count, vr::wire::kMaxFileBytes - offset));
    return true;
}

}  // namespace

extern "C" {

vr_client* vr_connect(const char* config_or_socket) {
    auto session = vr::client::connect(config_or_socket != nullptr ? config_or_socket : "");
    if (!session.is_ok()) {
        const Status& s = session.status();
        t_last_error = s.context().empty() ? std::string(vr::code_message(s.code())) : s.context();
        errno = vr::errno_of(s.code());
        return nullptr;
    }
    auto* c = new vr_client;
    c->session = std::move(session.value());
    return c;
}

void vr_disconnect(vr_client* c) {
    delete c;
}

int vr_set_timeout(vr_client* c, unsigned int timeout_ms) {
    if (c == nullptr) {
        return invalid("the vr_client is NULL");
    }
    if (timeout_ms == 0) {
        return invalid("a timeout of 0 ms");
    }
    c->session->set_timeout(std::chrono::milliseconds(timeout_ms));
    return 0;
}

int vr_open(vr_client* c, const char* path, int flags, unsigned int mode) {
    if (int rc = check_client(c); rc < 0) {
        return rc;
    }
    if (path == nullptr) {
        return invalid("the path is NULL");
    }
    constexpr int kKnown = VR_O_CREAT | VR_O_EXCL | VR_O_TRUNC | VR_O_RDONLY;
    if ((flags & ~kKnown) != 0) {
        return invalid(fmt::format("unknown open flags {:#x}", flags & ~kKnown));
    }
    bool create = (flags & VR_O_CREAT) != 0;
    if (create && mode > 07777) {
        return invalid(fmt::format("mode {:#o} has bits beyond 07777", mode));
    }
    // Claim a descriptor first: nothing is opened that could not be given out.
    size_t fd;
    {
        std::lock_guard<std::mutex> lock(c->mu);
        auto free = std::find_if(c->slots.begin(), c->slots.end(), [](const vr_slot& s) {
            return s.handle == 0 && !s.reserved;
        });
        fd = static_cast<size_t>(free - c->slots.begin());
        if (fd == kDescriptorsMax) {
            return fail(Status(Code::Busy, fmt::format("{} descriptors are open", fd)), EMFILE);
        }
        if (fd == c->slots.size()) {
            c->slots.emplace_back();
        }
        c->slots[fd].reserved = true;  // until the daemon answers
    }
    auto opened = c->session->open(
        path, static_cast<uint32_t>(flags), create ? static_cast<uint32_t>(mode) : 0);
    std::lock_guard<std::mutex> lock(c->mu);
    c->slots[fd].reserved = false;
    if (!opened.is_ok()) {
        return fail(opened.status());
    }
    c->slots[fd].handle = opened.value().handle;  // never 0 (the codec checks)
    return static_cast<int>(fd);
}

ssize_t vr_pread(vr_client* c, int fd, void* buf, size_t count, uint64_t offset) {
    if (int rc = check_client(c); rc < 0) {
        return rc;
    }
    uint64_t handle = handle_of(c, fd);
    if (handle == 0) {
        return bad_descriptor(fd);
    }
    if (buf == nullptr && count > 0) {
        return invalid("the buffer is NULL");
    }
    ssize_t rc = 0;
    if (!clamp_io(offset, count, &rc)) {
        return rc;
    }
    auto* out = static_cast<std::byte*>(buf);
    const size_t max_io = c->session->limits().max_io;
    size_t done = 0;
    while (done < count) {
        auto chunk = static_cast<uint32_t>(std::min(count - done, max_io));
        auto data = c->session->pread(handle, offset + done, chunk);
        if (!data.is_ok()) {
            return done > 0 ? static_cast<ssize_t>(done) : fail(data.status());
        }
        if (!data.value().empty()) {
            std::memcpy(out + done, data.value().data(), data.value().size());
        }
        done += data.value().size();
        if (data.value().size() < chunk) {
            break;  // end of file
        }
    }
    return static_cast<ssize_t>(done);
}

ssize_t vr_pwrite(vr_client* c, int fd, const void* buf, size_t count, uint64_t offset) {
    if (int rc = check_client(c); rc < 0) {
        return rc;
    }
    uint64_t handle = handle_of(c, fd);
    if (handle == 0) {
        return bad_descriptor(fd);
    }
    if (buf == nullptr && count > 0) {
        return invalid("the buffer is NULL");
    }
    if (count > SSIZE_MAX) {
        return invalid(fmt::format("count {} exceeds SSIZE_MAX", count));
    }
    if (offset > vr::wire::kMaxFileBytes || count > vr::wire::kMaxFileBytes - offset) {
        return fail(Status(
            Code::OutOfRange,
            fmt::format("a write of {} bytes at {} ends beyond the largest file", count, offset)));
    }
    const auto* in = static_cast<const std::byte*>(buf);
    const size_t max_io = c->session->limits().max_io;
    size_t done = 0;
    while (done < count) {
        size_t chunk = std::min(count - done, max_io);
        auto written = c->session->pwrite(handle, offset + done, {in + done, chunk});
        if (!written.is_ok()) {
            return done > 0 ? static_cast<ssize_t>(done) : fail(written.status());
        }
        done += written.value();  // a short write goes on with the rest
    }
    return static_cast<ssize_t>(done);
}

int vr_fsync(vr_client* c, int fd) {
    if (int rc = check_client(c); rc < 0) {
        return rc;
    }
    uint64_t handle = handle_of(c, fd);
    if (handle == 0) {
        return bad_descriptor(fd);
    }
    Status s = c->session->fsync(handle);
    return s.is_ok() ? 0 : fail(s);
}

int vr_close(vr_client* c, int fd) {
    if (c == nullptr) {
        return invalid("the vr_client is NULL");
    }
    uint64_t handle = 0;
    {
        std::lock_guard<std::mutex> lock(c->mu);
        if (fd >= 0 && static_cast<size_t>(fd) < c->slots.size()) {
            handle = c->slots[static_cast<size_t>(fd)].handle;
            c->slots[static_cast<size_t>(fd)].handle = 0;
        }
    }
    if (handle == 0) {
        return bad_descriptor(fd);
    }
    if (int rc = check_client(c); rc < 0) {
        return rc;  // the daemon dropped the handle with the connection
    }
    Status s = c->session->close(handle);
    return s.is_ok() ? 0 : fail(s);
}

int vr_stat(vr_client* c, const char* path, struct vr_stat* st) {
    if (int rc = check_client(c); rc < 0) {
        return rc;
    }
    if (path == nullptr || st == nullptr) {
        return invalid(path == nullptr ? "the path is NULL" : "the vr_stat pointer is NULL");
    }
    auto attrs = c->session->stat(path);
    if (!attrs.is_ok()) {
        return fail(attrs.status());
    }
    st->ino = attrs.value().ino;
    st->size = attrs.value().size;
    st->mode = attrs.value().mode;
    st->mtime_ns = attrs.value().mtime_ns;
    return 0;
}

const char* vr_strerror(int err) {
    int e = err < 0 ? -err : err;
    switch (e) {
        case 0:
            return "success";
        // Several vremote codes share these errno values: name the errno, not one of them.
        case EIO:
            return "i/o error";
        case EAGAIN:
            return "resource temporarily unavailable (try again)";
        case ENOTCONN:
            return "not connected to vremoted";
        case EBADF:
            return "bad descriptor";
        case EMFILE:
            return "too many open descriptors";
        default:
            break;
    }
#define VR_ERROR(name, num, err_value, msg) \
    if (e == (err_value) && num != 0) {     \
        return msg;                         \
    }
#include "base/errors.def"
#undef VR_ERROR
    const char* text = strerrordesc_np(e);
    return text != nullptr ? text : "unknown error";
}

const char* vr_last_error(void) {
    return t_last_error.c_str();
}

}  // extern "C"
