// HttpMetrics over real loopback sockets: GET /metrics returns the callback's text (rendered on
// the loop thread) and closes; other paths, methods and malformed or oversized requests get their
// status codes; connections beyond the limit are closed at once and idle ones time out; only
// loopback addresses are accepted.
#include "net/http_metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace vr::net {
namespace {

// A server on 127.0.0.1 (free port) whose loop runs on its own thread for the test's duration.
class HttpMetricsTest : public ::testing::Test {
  protected:
    void start(HttpMetricsOptions options = {}) {
        server_ = std::make_unique<HttpMetrics>(
            loop_,
            [this] {
                on_loop_ = loop_.on_loop_thread();
                ++renders_;
                return std::string("# TYPE vr_up gauge\nvr_up 1\n");
            },
            options);
        ASSERT_TRUE(server_->listen("127.0.0.1", 0).is_ok());
        ASSERT_NE(server_->port(), 0);
        thread_ = std::thread([this] { ASSERT_TRUE(loop_.run().is_ok()); });
    }
    void TearDown() override {
        if (thread_.joinable()) {
            loop_.stop();
            thread_.join();
        }
        server_.reset();
    }

    // A blocking client socket connected to the server; reads fail after 5 s instead of hanging.
    int dial() const {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_GE(fd, 0);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(server_->port());
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
        return fd;
    }
    // Everything the server sends until it closes; "<timeout>" if it does not close.
    static std::string read_to_eof(int fd) {
        std::string out;
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n == 0) {
                return out;
            }
            if (n < 0) {
                return errno == EAGAIN || errno == EWOULDBLOCK ? out + "<timeout>"
                                                               : out + "<error>";
            }
            out.append(buf, static_cast<size_t>(n));
        }
    }
    std::string exchange(std::string_view request) const {
        int fd = dial();
        EXPECT_EQ(::write(fd, request.data(), request.size()),
                  static_cast<ssize_t>(request.size()));
        std::string reply = read_to_eof(fd);
        ::close(fd);
        return reply;
    }

    runtime::EventLoop loop_;
    std::unique_ptr<HttpMetrics> server_;
    std::thread thread_;
    std::atomic<bool> on_loop_{false};
    std::atomic<int> renders_{0};
};

TEST_F(HttpMetricsTest, ServesMetricsAndCloses) {
    start();
    std::string reply = exchange("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
    EXPECT_EQ(reply,
              "HTTP/1.0 200 OK\r\n"
              "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
              "Content-Length: 27\r\n"
              "Connection: close\r\n\r\n"
              "# TYPE vr_up gauge\nvr_up 1\n");
    EXPECT_TRUE(on_loop_.load()) << "the callback runs on the loop thread";
    EXPECT_EQ(exchange("GET /metrics?x=1 HTTP/1.0\n\n").substr(0, 17), "HTTP/1.0 200 OK\r\n")
        << "a query string and bare LF line ends";
    std::string head = exchange("HEAD /metrics HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(head.starts_with("HTTP/1.0 200 OK\r\n")) << head;
    EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "no body: " << head;
    EXPECT_EQ(renders_.load(), 3);
}

TEST_F(HttpMetricsTest, AnswersEverythingElseWithAnError) {
    start();
    EXPECT_TRUE(exchange("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.0 404 Not Found\r\n"));
    EXPECT_TRUE(exchange("GET /metricsx HTTP/1.1\r\n\r\n").starts_with("HTTP/1.0 404 "));
    std::string post = exchange("POST /metrics HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(post.starts_with("HTTP/1.0 405 Method Not Allowed\r\n")) << post;
    EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
    EXPECT_TRUE(exchange("GET /metrics\r\n\r\n").starts_with("HTTP/1.0 400 ")) << "HTTP/0.9";
    EXPECT_TRUE(exchange("garbage\r\n\r\n").starts_with("HTTP/1.0 400 "));
    EXPECT_TRUE(exchange("GET /metrics SPDY/3\r\n\r\n").starts_with("HTTP/1.0 400 "));
    EXPECT_EQ(renders_.load(), 0);
    loop_.stop();
    thread_.join();
    EXPECT_EQ(server_->stats().requests, 6u);
}

TEST_F(HttpMetricsTest, RefusesOversizedRequests) {
    HttpMetricsOptions o;
    o.request_bytes_max = 1024;
    start(o);
    std::string big = "GET /metrics HTTP/1.0\r\nX-Filler: " + std::string(2000, 'x') + "\r\n\r\n";
    std::string reply = exchange(big);
    EXPECT_TRUE(reply.starts_with("HTTP/1.0 431 Request Header Fields Too Large\r\n")) << reply;
    EXPECT_EQ(renders_.load(), 0);
}

TEST_F(HttpMetricsTest, BoundsConnectionsAndDropsIdleOnes) {
    HttpMetricsOptions o;
    o.connections_max = 2;
    o.idle_timeout_us = 200'000;
    start(o);
    auto t0 = std::chrono::steady_clock::now();  // before the idle timers start
    int idle1 = dial();
    int idle2 = dial();
    // The accept queue is FIFO: the server takes idle1 and idle2 first, so this one is over the
    // limit and closed at once (counted as refused below, not as timed out).
    int third = dial();
    EXPECT_EQ(read_to_eof(third), "");
    // The idle ones are closed by their timeout, without a reply.
    EXPECT_EQ(read_to_eof(idle1), "");
    EXPECT_EQ(read_to_eof(idle2), "");
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(195));
    for (int fd : {idle1, idle2, third}) {
        ::close(fd);
    }
    loop_.stop();
    thread_.join();
    EXPECT_EQ(server_->stats().refused, 1u);
    EXPECT_EQ(server_->stats().timed_out, 2u);
    EXPECT_EQ(server_->connections(), 0u);
}

TEST(HttpMetrics, ListensOnLoopbackOnly) {
    runtime::EventLoop loop;
    for (std::string_view host : {"0.0.0.0", "192.168.1.1", "::", "example.com", ""}) {
        HttpMetrics m(loop, [] { return std::string(); });
        Status s = m.listen(host, 0);
        EXPECT_EQ(s.code(), Code::InvalidArgument) << host;
    }
    HttpMetrics a(loop, [] { return std::string(); });
    ASSERT_TRUE(a.listen("localhost", 0).is_ok());
    HttpMetrics b(loop, [] { return std::string(); });
    EXPECT_EQ(b.listen("127.0.0.1", a.port()).code(), Code::Exists) << "port in use";
    HttpMetrics v6(loop, [] { return std::string(); });
    Status s6 = v6.listen("::1", 0);
    EXPECT_TRUE(s6.is_ok() || s6.context().find("Cannot assign") != std::string::npos)
        << s6.to_string();
}

}  // namespace
}  // namespace vr::net
