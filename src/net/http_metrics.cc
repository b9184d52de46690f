#include "net/http_metrics.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vr::net {

namespace {

constexpr std::string_view kMetricsPath = "/metrics";
constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// The end of the request head (after the blank line), or npos while it is incomplete. Bare LF
// line ends are accepted, as many HTTP servers do.
size_t head_end(std::string_view in) {
    size_t crlf = in.find("\r\n\r\n");
    size_t lf = in.find("\n\n");
    if (crlf == std::string_view::npos && lf == std::string_view::npos) {
        return std::string_view::npos;
    }
    if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf)) {
        return crlf + 4;
    }
    return lf + 2;
}

}  // namespace

HttpMetrics::HttpMetrics(runtime::EventLoop& loop, Render render, HttpMetricsOptions options)
    : loop_(loop), render_(std::move(render)), options_(options) {}

HttpMetrics::~HttpMetrics() {
    while (!conns_.empty()) {
        drop(conns_.begin()->first);
    }
    if (listen_fd_ >= 0) {
        loop_.remove(listen_fd_);
        ::close(listen_fd_);
    }
}

Status HttpMetrics::listen(std::string_view host, uint16_t port) {
    VR_ASSERT(listen_fd_ < 0, "HttpMetrics::listen called twice");
    std::string h(host == "localhost" ? "127.0.0.1" : host);
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
        if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) {
            return Status(Code::InvalidArgument,
                          fmt::format("metrics address {} is not a loopback address", host));
        }
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
            return Status(Code::InvalidArgument,
                          fmt::format("metrics address {} is not a loopback address", host));
        }
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else {
        return Status(Code::InvalidArgument,
                      fmt::format("metrics address \"{}\" is not a loopback IP address or "
                                  "localhost",
                                  host));
    }
    int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return Status(Code::IoError, fmt::format("socket: {}", std::strerror(errno)));
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || ::listen(fd, 16) != 0) {
        int e = errno;
        ::close(fd);
        return Status(
            e == EADDRINUSE ? Code::Exists : Code::IoError,
            fmt::format(
                "cannot listen for metrics on {} port {}: {}", host, port, std::strerror(e)));
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
    port_ = ntohs(bound.ss_family == AF_INET
                      ? reinterpret_cast<const sockaddr_in*>(&bound)->sin_port
                      : reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
    Status s = loop_.add(fd, EPOLLIN, [this](uint32_t) { on_accept(); });
    if (!s.is_ok()) {
        ::close(fd);
        return s;
    }
    listen_fd_ = fd;
    return Status::ok();
}

void HttpMetrics::on_accept() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;  // EAGAIN, or an error the next readiness will report again
        }
        if (conns_.size() >= options_.connections_max) {
            ++stats_.refused;
            ::close(fd);
            continue;
        }
        uint64_t id = next_id_++;
        Status s =
            loop_.add(fd, EPOLLIN | EPOLLRDHUP, [this, id](uint32_t ev) { on_events(id, ev); });
        if (!s.is_ok()) {
            ::close(fd);
            continue;
        }
        Conn& c = conns_[id];
        c.fd = fd;
        c.timer = loop_.add_timer(runtime::monotonic_us() + options_.idle_timeout_us, [this, id] {
            auto it = conns_.find(id);
            if (it != conns_.end()) {
                it->second.timer = 0;
                ++stats_.timed_out;
                drop(id);
            }
        });
    }
}

void HttpMetrics::on_events(uint64_t id, uint32_t events) {
    auto it = conns_.find(id);
    if (it == conns_.end()) {
        return;
    }
    Conn& c = it->second;
    if (c.replying) {
        if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
            drop(id);
            return;
        }
        flush(id, c);
        return;
    }
    on_readable(id, c);
}

void HttpMetrics::on_readable(uint64_t id, Conn& c) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(c.fd, buf, sizeof buf);
        if (n > 0) {
            c.in.append(buf, static_cast<size_t>(n));
            size_t end = head_end(c.in);
            if (end != std::string::npos && end <= options_.request_bytes_max) {
                handle_request(c, end);
                flush(id, c);
                return;
            }
            if (c.in.size() > options_.request_bytes_max) {
                reply(c, 431, "Request Header Fields Too Large", "", "request too large\n", false);
                flush(id, c);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        drop(id);  // the client closed (or failed) before a whole request arrived
        return;
    }
}

void HttpMetrics::handle_request(Conn& c, size_t end) {
    std::string_view head(c.in.data(), end);
    std::string_view line = head.substr(0, head.find('\n'));
    if (line.ends_with('\r')) {
        line.remove_suffix(1);
    }
    // METHOD SP TARGET SP HTTP/1.x
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos ||
        !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
        reply(c, 400, "Bad Request", "", "bad request\n", false);
        return;
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view path = target.substr(0, target.find('?'));
    bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) {
        reply(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", "method not allowed\n", false);
        return;
    }
    if (path != kMetricsPath) {
        reply(c, 404, "Not Found", "", "not found; try /metrics\n", head_only);
        return;
    }
    reply(c, 200, "OK", "", render_(), head_only);
}

void HttpMetrics::reply(Conn& c,
                        int status,
                        std::string_view reason,
                        std::string_view extra_headers,
                        std::string body,
                        bool head_only) {
    ++stats_.requests;
    c.replying = true;
    c.out = fmt::format(
        "HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        status,
        reason,
        status == 200 ? kContentType : std::string_view("text/plain; charset=utf-8"),
        body.size(),
        extra_headers);
    if (!head_only) {
        c.out += body;
    }
    c.sent = 0;
}

void HttpMetrics::flush(uint64_t id, Conn& c) {
    while (c.sent < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!loop_.modify(c.fd, EPOLLOUT).is_ok()) {
                drop(id);
            }
            return;
        }
        drop(id);
        return;
    }
    drop(id);  // HTTP/1.0: the reply is complete, close
}

void HttpMetrics::drop(uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) {
        return;
    }
    Conn& c = it->second;
    if (c.timer != 0) {
        loop_.cancel_timer(c.timer);
    }
    loop_.remove(c.fd);
    ::close(c.fd);
    conns_.erase(it);
}

}  // namespace vr::net
