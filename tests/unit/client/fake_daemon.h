// FakeDaemon: the client side's stand-in for vremoted. A thread runs an EventLoop with a
// listening Unix socket; each accepted connection is a net::Connection whose requests are decoded
// with the real codec and answered from in-memory files, one reply per request, as the daemon
// does. Tests can make it hold its replies (a silent daemon), send malformed or mismatched
// replies, write short, fail writes, or hang up.
//
// Files are "volume/path" strings; a Pages reply gives at most pages_per_reply states.
// Every control method is thread-safe: it runs on the loop thread and waits for it.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/connection.h"
#include "runtime/event_loop.h"
#include "wire/client.h"

namespace vr::client::test {

enum class Misbehave : uint8_t {
    None,
    Garbage,     // 32 bytes that are not a frame header, instead of the reply
    BadBodyCrc,  // the right reply with one body byte flipped
    WrongId,     // the reply carries another id
    WrongType,   // a StatReply, whatever was asked
    OkForOpen,   // Reply{Ok} to an Open
    LongRead,    // a ReadReply one byte longer than asked
    HangUp,      // closes the connection instead of answering
};

// What the daemon saw: the frame type and, for reads and writes, the offset and byte count.
struct Seen {
    wire::FrameType type;
    uint64_t offset = 0;
    uint64_t length = 0;
};

class FakeDaemon {
  public:
    explicit FakeDaemon(wire::Limits limits = {});
    // Listens on `socket_path` (which must not exist) and answers Status with `status`.
    FakeDaemon(std::string socket_path, std::vector<wire::NodeStatus> status);
    ~FakeDaemon();
    FakeDaemon(const FakeDaemon&) = delete;
    FakeDaemon& operator=(const FakeDaemon&) = delete;

    const std::string& socket_path() const { return socket_path_; }
    const std::string& dir() const { return dir_; }

    void put_file(const std::string& path, std::vector<std::byte> bytes);
    // The file's bytes; empty if it does not exist.
    std::vector<std::byte> file(const std::string& path);
    bool exists(const std::string& path);
    // One character per page for Pages replies; pages without one are 'I'.
    void set_page_states(const std::string& path, std::string states);
    void set_pages_per_reply(uint64_t n);

    // While held, requests are kept unanswered; release() answers them in order.
    void hold(bool on);
    void release();
    void misbehave(Misbehave how);
    // WriteReply.written is at most this (0: no cap).
    void cap_writes(uint32_t max_written);
    // After `n` more successful writes, writes fail with Reply{NoSpace} (UINT64_MAX: never).
    void fail_writes_after(uint64_t n);

    std::vector<Seen> seen();
    size_t open_handles();
    size_t connections();

  private:
    struct Client {
        std::unique_ptr<net::Connection> conn;
    };
    struct Held {
        uint64_t client;
        wire::ClientRequest request;
    };

    template <typename F>
    auto on_loop(F f) -> decltype(f()) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        loop_.post([&task] { task(); });
        return result.get();
    }

    void on_accept();
    void on_frame(uint64_t client, net::Frame&& frame);
    void answer(uint64_t client, const wire::ClientRequest& request);
    wire::ClientReply reply_to(const wire::ClientRequest& request);
    void send(uint64_t client, const wire::ClientReply& reply, const wire::ClientRequest& request);
    wire::Attrs attrs_of(const std::string& path) const;

    void listen_and_run();

    wire::Limits limits_;
    std::string dir_;  // removed at the end if the daemon made it
    bool own_dir_ = false;
    std::string socket_path_;
    runtime::EventLoop loop_;
    int listen_fd_ = -1;
    std::thread thread_;

    // Loop thread only.
    std::map<uint64_t, Client> clients_;
    uint64_t next_client_ = 1;
    std::map<std::string, std::vector<std::byte>> files_;
    std::map<std::string, uint32_t> modes_;
    std::map<std::string, std::string> page_states_;
    uint64_t pages_per_reply_ = 1000;
    std::map<uint64_t, std::string> handles_;
    uint64_t next_handle_ = 100;
    bool hold_ = false;
    std::vector<Held> held_;
    Misbehave misbehave_ = Misbehave::None;
    uint32_t cap_writes_ = 0;
    uint64_t writes_left_ = UINT64_MAX;
    std::vector<Seen> seen_;
    std::vector<wire::NodeStatus> status_;
};

}  // namespace vr::client::test
