// HttpMetrics: the node's Prometheus endpoint, a tiny HTTP/1.0 server on the event loop.
//
//   GET /metrics (or HEAD)  -> 200, Content-Type: text/plain; version=0.0.4, the render callback's
//                              text (the Prometheus text exposition format)
//   GET anything else       -> 404        other methods -> 405        malformed -> 400
//   a request larger than request_bytes_max -> 431
//
// Every connection closes after its reply (HTTP/1.0, no keep-alive). The server is meant for a
// loopback address only (it has no authentication), and listen() refuses any other. It bounds
// everything a client can make it hold: request bytes, open connections (beyond the limit a new
// connection is closed at once) and time (a connection idle for idle_timeout_us is dropped).
// Everything runs on the loop thread, the render callback included.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"
#include "runtime/event_loop.h"

namespace vr::net {

struct HttpMetricsOptions {
    size_t request_bytes_max = 8192;
    size_t connections_max = 16;
    int64_t idle_timeout_us = 5'000'000;
};

struct HttpMetricsStats {
    uint64_t requests = 0;  // replies sent, any status
    uint64_t refused = 0;   // connections closed at once: over connections_max
    uint64_t timed_out = 0;
};

class HttpMetrics {
  public:
    using Render = std::function<std::string()>;

    HttpMetrics(runtime::EventLoop& loop, Render render, HttpMetricsOptions options = {});
    ~HttpMetrics();
    HttpMetrics(const HttpMetrics&) = delete;
    HttpMetrics& operator=(const HttpMetrics&) = delete;

    // Listens on host:port. The host is a loopback literal (127.0.0.0/8 or ::1) or "localhost"
    // (127.0.0.1); anything else is InvalidArgument. Port 0 picks a free port (see port()).
    Status listen(std::string_view host, uint16_t port);
    uint16_t port() const { return port_; }
    size_t connections() const { return conns_.size(); }
    const HttpMetricsStats& stats() const { return stats_; }

  private:
    struct Conn {
        int fd = -1;
        std::string in;
        std::string out;
        size_t sent = 0;
        bool replying = false;
        uint64_t timer = 0;
    };

    void on_accept();
    void on_events(uint64_t id, uint32_t events);
    void on_readable(uint64_t id, Conn& c);
    void handle_request(Conn& c, size_t head_end);
    void reply(Conn& c,
               int status,
               std::string_view reason,
               std::string_view extra_headers,
               std::string body,
               bool head_only);
    void flush(uint64_t id, Conn& c);
    void drop(uint64_t id);

    runtime::EventLoop& loop_;
    Render render_;
    HttpMetricsOptions options_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::map<uint64_t, Conn> conns_;  // by serial number: a closed fd's number is reused at once
    uint64_t next_id_ = 1;
    HttpMetricsStats stats_;
};

}  // namespace vr::net
