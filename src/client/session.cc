#include "client/session.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <type_traits>

namespace vr::client {

namespace {

int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Waits until `fd` is ready for `events` or the deadline passes; false on timeout. An error or
// hang-up counts as ready: the read or write that follows reports it.
bool wait_for(int fd, short events, int64_t deadline_us) {
    for (;;) {
        int64_t left_us = deadline_us - now_us();
        if (left_us <= 0) {
            return false;
        }
        pollfd p{fd, events, 0};
        // Round up so that a wait never ends just before the deadline and spins.
        int64_t ms = std::min<int64_t>((left_us + 999) / 1000, INT32_MAX);
        int n = ::poll(&p, 1, static_cast<int>(ms));
        if (n > 0) {
            return true;
        }
        if (n < 0 && errno != EINTR) {
            return true;  // let the syscall that follows report the problem
        }
    }
}

// The index in ClientReply::op of the reply each request expects (0, Reply, for Fsync/Close).
size_t expected_reply(const wire::ClientRequest& request) {
    struct Visitor {
        size_t operator()(const wire::OpenRequest&) const { return 1; }
        size_t operator()(const wire::ReadRequest&) const { return 2; }
        size_t operator()(const wire::WriteRequest&) const { return 3; }
        size_t operator()(const wire::FsyncRequest&) const { return 0; }
        size_t operator()(const wire::CloseRequest&) const { return 0; }
        size_t operator()(const wire::StatRequest&) const { return 4; }
        size_t operator()(const wire::PagesRequest&) const { return 5; }
        size_t operator()(const wire::StatsRequest&) const { return 6; }
        size_t operator()(const wire::StatusRequest&) const { return 7; }
    };
    return std::visit(Visitor{}, request.op);
}

std::string_view reply_name(size_t index) {
    static constexpr std::string_view kNames[] = {"Reply",
                                                  "OpenReply",
                                                  "ReadReply",
                                                  "WriteReply",
                                                  "StatReply",
                                                  "PagesReply",
                                                  "StatsReply",
                                                  "StatusReply"};
    static_assert(std::size(kNames) == std::variant_size_v<decltype(wire::ClientReply::op)>);
    return index < std::size(kNames) ? kNames[index] : "?";
}

// The reply's payload of type T, or its error as a Status. call() has checked that the reply is
// either a T or a Reply with an error code.
template <typename T>
Result<T> expect(Result<wire::ClientReply> reply) {
    if (!reply.is_ok()) {
        return reply.status();
    }
    if (const auto* r = std::get_if<wire::Reply>(&reply.value().op)) {
        Status s = status_of_reply(*r);
        VR_ASSERT(!s.is_ok(), "call() let through Reply{{Ok}} where another reply was due");
        return s;
    }
    return std::get<T>(std::move(reply.value().op));
}

Status expect_ok(Result<wire::ClientReply> reply) {
    if (!reply.is_ok()) {
        return reply.status();
    }
    return status_of_reply(std::get<wire::Reply>(reply.value().op));
}

}  // namespace

Status status_of_reply(const wire::Reply& reply) {
    if (reply.code == Code::Ok) {
        return Status::ok();
    }
    return Status(reply.code, reply.message);
}

std::string describe(const Status& status) {
    std::string s(code_message(status.code()));
    if (!status.context().empty()) {
        s += ": ";
        s += status.context();
    }
    return s;
}

Result<std::unique_ptr<Session>> Session::connect(const std::string& socket_path,
                                                  std::chrono::milliseconds timeout,
                                                  wire::Limits limits) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
        return Status(Code::InvalidArgument,
                      fmt::format("socket path \"{}\" is {} bytes; a Unix socket path is 1-{}",
                                  socket_path,
                                  socket_path.size(),
                                  sizeof addr.sun_path - 1));
    }
    if (timeout.count() <= 0) {
        return Status(Code::InvalidArgument,
                      fmt::format("timeout of {} ms; it must be positive", timeout.count()));
    }
    std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return Status(Code::IoError, fmt::format("socket: {}", std::strerror(errno)));
    }
    // A blocking connect to a Unix socket waits only while the listener's backlog is full;
    // SO_SNDTIMEO bounds that wait.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc;
    do {
        rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        ::close(fd);
        std::string what =
            fmt::format("cannot connect to vremoted at {}: {}", socket_path, std::strerror(e));
        switch (e) {
            case ENOENT:
                return Status(Code::NotFound, what + " (is vremoted running?)");
            case ECONNREFUSED:
                return Status(Code::Unavailable, what + " (is vremoted running?)");
            case EACCES:
            case EPERM:
                return Status(Code::PermissionDenied, what);
            case EAGAIN:
            case EINPROGRESS:
            case ETIMEDOUT:
                return Status(Code::Timeout, what);
            default:
                return Status(Code::Unavailable, what);
        }
    }
    tv = timeval{};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        int e = errno;
        ::close(fd);
        return Status(Code::IoError, fmt::format("fcntl O_NONBLOCK: {}", std::strerror(e)));
    }
    return std::unique_ptr<Session>(new Session(fd, socket_path, timeout, limits));
}

Session::Session(int fd, std::string path, std::chrono::milliseconds timeout, wire::Limits limits)
    : fd_(fd), path_(std::move(path)), timeout_(timeout), limits_(limits) {}

Session::~Session() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void Session::set_timeout(std::chrono::milliseconds timeout) {
    VR_ASSERT(timeout.count() > 0, "timeout of {} ms", timeout.count());
    std::lock_guard<std::mutex> lock(mu_);
    timeout_ = timeout;
}

std::chrono::milliseconds Session::timeout() const {
    std::lock_guard<std::mutex> lock(mu_);
    return timeout_;
}

bool Session::is_open() const {
    std::lock_guard<std::mutex> lock(mu_);
    return fd_ >= 0;
}

Status Session::why_closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return why_;
}

Status Session::shut(Status why) {
    VR_ASSERT(!why.is_ok(), "closing a session without a reason");
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
        why_ = why;
    }
    return why;
}

Status Session::closed_status() const {
    return Status(
        Code::Unavailable,
        fmt::format("the session with vremoted at {} is closed ({})", path_, describe(why_)));
}

Session::Io Session::send_all(std::vector<std::span<const std::byte>> pieces,
                              int64_t deadline_us,
                              size_t* sent) {
    size_t total = 0;
    for (auto p : pieces) {
        total += p.size();
    }
    *sent = 0;
    while (*sent < total) {
        std::vector<iovec> iov;
        size_t skip = *sent;
        for (auto p : pieces) {
            if (skip >= p.size()) {
                skip -= p.size();
                continue;
            }
            iov.push_back(iovec{const_cast<std::byte*>(p.data() + skip), p.size() - skip});
            skip = 0;
        }
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
        ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            *sent += static_cast<size_t>(n);
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_for(fd_, POLLOUT, deadline_us)) {
                return Io::TimedOut;
            }
            continue;
        }
        last_io_error_ =
            Status(Code::Unavailable,
                   errno == EPIPE || errno == ECONNRESET
                       ? fmt::format("vremoted closed the connection at {}", path_)
                       : fmt::format("write to vremoted at {}: {}", path_, std::strerror(errno)));
        return Io::Failed;
    }
    return Io::Done;
}

Session::Io Session::recv_exact(std::span<std::byte> dst, int64_t deadline_us, size_t* filled) {
    *filled = 0;
    while (*filled < dst.size()) {
        ssize_t n = ::recv(fd_, dst.data() + *filled, dst.size() - *filled, 0);
        if (n > 0) {
            *filled += static_cast<size_t>(n);
            continue;
        }
        if (n == 0) {
            last_io_error_ = Status(Code::Unavailable,
                                    fmt::format("vremoted closed the connection at {}", path_));
            return Io::Failed;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_for(fd_, POLLIN, deadline_us)) {
                return Io::TimedOut;
            }
            continue;
        }
        last_io_error_ =
            Status(Code::Unavailable,
                   errno == ECONNRESET
                       ? fmt::format("vremoted closed the connection at {}", path_)
                       : fmt::format("read from vremoted at {}: {}", path_, std::strerror(errno)));
        return Io::Failed;
    }
    return Io::Done;
}

Result<wire::ClientReply> Session::read_reply(int64_t deadline_us, bool* started) {
    std::array<std::byte, wire::kHeaderSize> head{};
    size_t filled = 0;
    Io io = recv_exact(head, deadline_us, &filled);
    *started = filled > 0;
    if (io == Io::Failed) {
        return shut(last_io_error_);
    }
    if (io == Io::TimedOut) {
        return Status(Code::Timeout);  // the caller says more (and closes if started)
    }
    auto h = wire::decode_header(head, limits_);
    if (!h.is_ok()) {
        return shut(h.status().with_context("bad reply header from vremoted"));
    }
    std::vector<std::byte> body(h.value().body_len);
    std::vector<std::byte> data(h.value().data_len);
    for (std::span<std::byte> part : {std::span<std::byte>(body), std::span<std::byte>(data)}) {
        io = recv_exact(part, deadline_us, &filled);
        if (io == Io::Failed) {
            return shut(last_io_error_);
        }
        if (io == Io::TimedOut) {
            return Status(Code::Timeout);
        }
    }
    auto reply = wire::decode_client_reply(h.value(), body, std::move(data), limits_);
    if (!reply.is_ok()) {
        return shut(reply.status().with_context("bad reply from vremoted"));
    }
    return reply;
}

Result<wire::ClientReply> Session::call(wire::ClientRequest request) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ < 0) {
        return closed_status();
    }
    request.id = next_id_++;
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> data;
    VR_TRY(wire::encode_client_request(request, limits_, head, data));
    int64_t deadline_us = now_us() + std::chrono::microseconds(timeout_).count();
    auto timed_out = [&](std::string_view what) {
        return Status(
            Code::Timeout,
            fmt::format("{} from vremoted at {} within {} ms", what, path_, timeout_.count()));
    };

    std::vector<std::span<const std::byte>> pieces;
    pieces.reserve(1 + data.size());
    pieces.emplace_back(head);
    pieces.insert(pieces.end(), data.begin(), data.end());
    size_t sent = 0;
    Io io = send_all(std::move(pieces), deadline_us, &sent);
    if (io == Io::Failed) {
        return shut(last_io_error_);
    }
    if (io == Io::TimedOut) {
        Status s = timed_out("the request was not accepted");
        // Half a frame on the socket would be read as garbage: nothing more can be sent.
        return sent == 0 ? s : shut(s);
    }

    const size_t want = expected_reply(request);
    for (;;) {
        bool started = false;
        Result<wire::ClientReply> reply = read_reply(deadline_us, &started);
        if (!reply.is_ok()) {
            if (reply.status().code() != Code::Timeout || fd_ < 0) {
                return reply.status();
            }
            if (started) {
                return shut(timed_out("no complete reply"));
            }
            if (abandoned_.size() >= kAbandonedMax) {
                return shut(timed_out(
                    fmt::format("no reply (after {} earlier timeouts)", abandoned_.size())));
            }
            abandoned_.insert(request.id);
            return timed_out("no reply");
        }
        const wire::ClientReply& r = reply.value();
        if (abandoned_.erase(r.id) > 0) {
            continue;  // the late reply of a request that timed out
        }
        if (r.id != request.id) {
            return shut(Status(
                Code::ProtocolError,
                fmt::format("vremoted sent a reply to request {} while request {} was waiting",
                            r.id,
                            request.id)));
        }
        const auto* plain = std::get_if<wire::Reply>(&r.op);
        if (r.op.index() != want && (plain == nullptr || plain->code == Code::Ok)) {
            return shut(Status(Code::ProtocolError,
                               fmt::format("vremoted answered a request expecting {} with {}{}",
                                           reply_name(want),
                                           reply_name(r.op.index()),
                                           plain != nullptr ? " with code Ok" : "")));
        }
        return reply;
    }
}

Result<wire::OpenReply> Session::open(std::string_view path, uint32_t flags, uint32_t mode) {
    return expect<wire::OpenReply>(
        call(wire::ClientRequest{0, wire::OpenRequest{std::string(path), flags, mode}}));
}

Result<std::vector<std::byte>> Session::pread(uint64_t handle, uint64_t offset, uint32_t length) {
    auto r = expect<wire::ReadReply>(
        call(wire::ClientRequest{0, wire::ReadRequest{handle, offset, length}}));
    if (!r.is_ok()) {
        return r.status();
    }
    if (r.value().data.size() > length) {
        std::lock_guard<std::mutex> lock(mu_);
        return shut(Status(
            Code::ProtocolError,
            fmt::format(
                "vremoted returned {} bytes for a read of {}", r.value().data.size(), length)));
    }
    return std::move(r.value().data).take();
}

Result<uint32_t> Session::pwrite(uint64_t handle,
                                 uint64_t offset,
                                 std::span<const std::byte> data) {
    wire::WriteRequest w;
    w.handle = handle;
    w.offset = offset;
    w.data = wire::Payload::borrowed(data);
    auto r = expect<wire::WriteReply>(call(wire::ClientRequest{0, std::move(w)}));
    if (!r.is_ok()) {
        return r.status();
    }
    if (r.value().written > data.size()) {
        std::lock_guard<std::mutex> lock(mu_);
        return shut(Status(
            Code::ProtocolError,
            fmt::format(
                "vremoted wrote {} bytes of a write of {}", r.value().written, data.size())));
    }
    return r.value().written;
}

Status Session::fsync(uint64_t handle) {
    return expect_ok(call(wire::ClientRequest{0, wire::FsyncRequest{handle}}));
}

Status Session::close(uint64_t handle) {
    return expect_ok(call(wire::ClientRequest{0, wire::CloseRequest{handle}}));
}

Result<wire::Attrs> Session::stat(std::string_view path) {
    auto r =
        expect<wire::StatReply>(call(wire::ClientRequest{0, wire::StatRequest{std::string(path)}}));
    if (!r.is_ok()) {
        return r.status();
    }
    return r.value().attrs;
}

Result<wire::PagesReply> Session::pages(std::string_view path, uint64_t first_page) {
    return expect<wire::PagesReply>(
        call(wire::ClientRequest{0, wire::PagesRequest{std::string(path), first_page}}));
}

Result<std::vector<wire::Counter>> Session::stats() {
    auto r = expect<wire::StatsReply>(call(wire::ClientRequest{0, wire::StatsRequest{}}));
    if (!r.is_ok()) {
        return r.status();
    }
    return std::move(r.value().counters);
}

Result<std::vector<wire::NodeStatus>> Session::status() {
    auto r = expect<wire::StatusReply>(call(wire::ClientRequest{0, wire::StatusRequest{}}));
    if (!r.is_ok()) {
        return r.status();
    }
    return std::move(r.value().nodes);
}

}  // namespace vr::client
