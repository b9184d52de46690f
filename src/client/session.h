// Session: a synchronous connection to the local vremoted over its Unix socket
// (node.client_socket), speaking the client protocol of wire/client.h: one request frame, then its
// reply frame.
//
// * call() sends one request and waits for its reply until a per-call deadline (poll). The
//   session numbers requests itself; a reply must echo the request's id and be the request's
//   reply type or a Reply (Fsync and Close answer with Reply{Ok}; any request may fail with a
//   Reply carrying an error code).
// * Replies are decoded strictly (decode_header, decode_client_reply). A reply that breaks the
//   protocol, a connection that closes and a timeout in the middle of a frame close the session;
//   every later call then fails with Unavailable naming the first reason.
// * A timeout before any byte of the reply arrived leaves the session usable: the request's id is
//   remembered and its late reply, if it comes, is skipped (up to kAbandonedMax such ids; one
//   more closes the session).
// * The helpers (open, pread, ...) turn an error Reply into a Status with its code and the
//   daemon's message as context, and check that the reply fits the request (a read no longer
//   than asked, a write no larger than sent).
// * Thread-safe: one mutex serialises the calls of a session.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "wire/client.h"
#include "wire/frame.h"

namespace vr::client {

// Late replies of timed-out requests the session is willing to skip.
inline constexpr size_t kAbandonedMax = 64;

class Session {
  public:
    // Connects to the daemon's socket. `timeout` bounds the connect and becomes the per-call
    // deadline (set_timeout changes it). A missing socket is NotFound, a refused connection
    // Unavailable, a socket this user may not use PermissionDenied; the context names the path.
    static Result<std::unique_ptr<Session>> connect(const std::string& socket_path,
                                                    std::chrono::milliseconds timeout,
                                                    wire::Limits limits = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Sends `request` (its id is replaced by the session's next id) and returns the reply.
    // Fails with InvalidArgument if the request breaks a protocol rule (nothing is sent), Timeout
    // if no reply came before the deadline, Unavailable if the session is or becomes closed, and
    // ProtocolError/Corrupt (closing the session) for a bad reply. An error Reply is a success
    // here: it is the reply.
    Result<wire::ClientReply> call(wire::ClientRequest request);

    // Requests, with error Replies turned into Statuses.
    Result<wire::OpenReply> open(std::string_view path, uint32_t flags, uint32_t mode);
    // One Read of 1..max_io bytes; fewer bytes (none at the end) when the file ends first.
    Result<std::vector<std::byte>> pread(uint64_t handle, uint64_t offset, uint32_t length);
    // One Write of 1..max_io bytes; returns how many were written (1..data.size()).
    Result<uint32_t> pwrite(uint64_t handle, uint64_t offset, std::span<const std::byte> data);
    Status fsync(uint64_t handle);
    Status close(uint64_t handle);
    Result<wire::Attrs> stat(std::string_view path);
    // The states of the pages from `first_page` on, as many as one reply holds.
    Result<wire::PagesReply> pages(std::string_view path, uint64_t first_page);
    Result<std::vector<wire::Counter>> stats();
    Result<std::vector<wire::NodeStatus>> status();

    void set_timeout(std::chrono::milliseconds timeout);
    std::chrono::milliseconds timeout() const;
    const wire::Limits& limits() const { return limits_; }
    const std::string& socket_path() const { return path_; }
    // False once the session closed (why_closed() says why). Closing is final.
    bool is_open() const;
    Status why_closed() const;

  private:
    Session(int fd, std::string path, std::chrono::milliseconds timeout, wire::Limits limits);

    // All of these run with mu_ held.
    enum class Io : uint8_t { Done, TimedOut, Failed };
    Io send_all(std::vector<std::span<const std::byte>> pieces, int64_t deadline_us, size_t* sent);
    Io recv_exact(std::span<std::byte> dst, int64_t deadline_us, size_t* filled);
    Result<wire::ClientReply> read_reply(int64_t deadline_us, bool* started);
    Status shut(Status why);  // closes the socket, remembers why, returns why
    Status closed_status() const;

    mutable std::mutex mu_;
    int fd_;
    std::string path_;
    std::chrono::milliseconds timeout_;
    wire::Limits limits_;
    uint64_t next_id_ = 1;
    std::set<uint64_t> abandoned_;  // ids of timed-out requests whose replies may still come
    Status why_;                    // the reason the session closed
    Status last_io_error_;          // the errno text of the last Failed Io
};

// A Reply's failure as a Status (its code and message); ok for Reply{Ok}.
Status status_of_reply(const wire::Reply& reply);

// A Status for people: the code's message, then ": " and the context if there is one
// ("no such file: n1/x", "timed out: no reply from vremoted at ... within 30000 ms").
std::string describe(const Status& status);

}  // namespace vr::client
