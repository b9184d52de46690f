// The native client protocol: requests from the C library and the `vremote` CLI to the local
// daemon over a Unix socket, and the daemon's replies. One frame per request or reply; the
// header's id is the client's request id and the reply echoes it, so requests may be pipelined.
//
//   request                              reply (or Reply with an error code)
//   Open(path, flags, mode)           -> OpenReply{handle, attrs}
//   Read(handle, offset, length)      -> ReadReply{data}  (shorter at end of file, empty at EOF)
//   Write(handle, offset, data)       -> WriteReply{written}
//   Fsync(handle), Close(handle)      -> Reply{Ok}
//   Stat(path)                        -> StatReply{attrs}
//   Pages(path, first_page)           -> PagesReply{first_page, page_count, states}
//   Stats()                           -> StatsReply{counters}
//   Status()                          -> StatusReply{nodes}
//
// Paths are "volume/relative/path": 1..max_path bytes without NUL. The codec does not resolve
// them (the origin store does, beneath its export root). Read and write sizes are 1..max_io
// bytes. Handles are never 0. Write data and read replies travel in the frame's data section as
// a Payload, which the codec never copies. Body layouts: docs/design/wire.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "coherence/types.h"
#include "wire/frame.h"

namespace vr::wire {

// The bytes of a client read or write. The codec hands the pieces to the transport as spans
// (writev) and adopts the received data section as an owned vector, so neither side copies.
class Payload {
  public:
    Payload() = default;
    static Payload owned(std::vector<std::byte> bytes);
    // Views bytes the caller keeps alive and unchanged until the frame is sent.
    static Payload borrowed(std::span<const std::byte> bytes);
    // `length` bytes starting `offset` bytes into the pages' concatenation (a read served from
    // cached pages). Every page must be non-null and the window must lie within them.
    static Payload pages(std::vector<coherence::PageBuf> pages, uint64_t offset, uint64_t length);

    uint64_t size() const;
    bool empty() const { return size() == 0; }
    // Appends the payload's pieces, in order, to `out`.
    void append_spans(std::vector<std::span<const std::byte>>& out) const;
    // The bytes as one vector: moved out when owned, copied otherwise.
    std::vector<std::byte> take() &&;
    std::vector<std::byte> copy() const;
    // Equal bytes, whatever the representation.
    friend bool operator==(const Payload& a, const Payload& b);

  private:
    struct Window {
        std::vector<coherence::PageBuf> pages;
        uint64_t offset = 0;
        uint64_t length = 0;
    };
    std::variant<std::vector<std::byte>, std::span<const std::byte>, Window> v_;
};

// Open flags.
inline constexpr uint32_t kOpenCreate = 1u << 0;
inline constexpr uint32_t kOpenExclusive = 1u << 1;  // with kOpenCreate only
inline constexpr uint32_t kOpenTruncate = 1u << 2;   // not with kOpenReadOnly
inline constexpr uint32_t kOpenReadOnly = 1u << 3;
inline constexpr uint32_t kOpenKnownFlags =
    kOpenCreate | kOpenExclusive | kOpenTruncate | kOpenReadOnly;

struct Attrs {
    uint64_t ino = 0;
    uint64_t size = 0;     // <= kMaxFileBytes
    uint32_t mode = 0;     // st_mode: type and permission bits (<= 0xFFFF)
    int64_t mtime_ns = 0;  // nanoseconds since the epoch
    bool operator==(const Attrs&) const = default;
};

struct OpenRequest {
    std::string path;
    uint32_t flags = 0;
    uint32_t mode = 0;  // permission bits (<= 07777) with kOpenCreate, else 0
    bool operator==(const OpenRequest&) const = default;
};
struct ReadRequest {
    uint64_t handle = 0;
    uint64_t offset = 0;
    uint32_t length = 0;
    bool operator==(const ReadRequest&) const = default;
};
struct WriteRequest {
    uint64_t handle = 0;
    uint64_t offset = 0;
    Payload data;
    bool operator==(const WriteRequest&) const = default;
};
struct FsyncRequest {
    uint64_t handle = 0;
    bool operator==(const FsyncRequest&) const = default;
};
struct CloseRequest {
    uint64_t handle = 0;
    bool operator==(const CloseRequest&) const = default;
};
struct StatRequest {
    std::string path;
    bool operator==(const StatRequest&) const = default;
};
struct PagesRequest {
    std::string path;
    uint64_t first_page = 0;  // states from this page on, as many as fit one reply
    bool operator==(const PagesRequest&) const = default;
};
struct StatsRequest {
    bool operator==(const StatsRequest&) const = default;
};
struct StatusRequest {
    bool operator==(const StatusRequest&) const = default;
};

struct ClientRequest {
    uint64_t id = 0;  // the header's id; the reply carries it back
    std::variant<OpenRequest,
                 ReadRequest,
                 WriteRequest,
                 FsyncRequest,
                 CloseRequest,
                 StatRequest,
                 PagesRequest,
                 StatsRequest,
                 StatusRequest>
        op;
    bool operator==(const ClientRequest&) const = default;
};

// The generic reply: the outcome of Fsync and Close, and any request's error.
struct Reply {
    Code code = Code::Ok;
    std::string message;  // <= Limits::max_message bytes, no NUL
    bool operator==(const Reply&) const = default;
};
struct OpenReply {
    uint64_t handle = 0;
    Attrs attrs;
    bool operator==(const OpenReply&) const = default;
};
struct ReadReply {
    Payload data;  // 0..max_io bytes; fewer than asked at the end of the file
    bool operator==(const ReadReply&) const = default;
};
struct WriteReply {
    uint32_t written = 0;  // 1..max_io
    bool operator==(const WriteReply&) const = default;
};
struct StatReply {
    Attrs attrs;
    bool operator==(const StatReply&) const = default;
};
struct PagesReply {
    uint64_t first_page = 0;
    uint64_t page_count = 0;  // pages of the file; states ends at or before it
    std::string states;       // one printable ASCII character per page from first_page on
    bool operator==(const PagesReply&) const = default;
};
struct Counter {
    std::string name;  // 1..max_name bytes of [A-Za-z0-9._-], unique within a reply
    uint64_t value = 0;
    bool operator==(const Counter&) const = default;
};
struct StatsReply {
    std::vector<Counter> counters;  // at most 65535
    bool operator==(const StatsReply&) const = default;
};
enum class LinkState : uint8_t { Self = 0, Down = 1, Connecting = 2, Up = 3 };
struct NodeStatus {
    coherence::NodeId node = 0;  // < 64, unique within a reply
    std::string name;            // a node name (handshake.h rules)
    LinkState link = LinkState::Down;
    uint32_t rtt_us = 0;
    uint64_t home_incarnation = 0;
    bool operator==(const NodeStatus&) const = default;
};
struct StatusReply {
    std::vector<NodeStatus> nodes;  // at most 64
    bool operator==(const StatusReply&) const = default;
};

struct ClientReply {
    uint64_t id = 0;  // the request's id
    std::variant<Reply,
                 OpenReply,
                 ReadReply,
                 WriteReply,
                 StatReply,
                 PagesReply,
                 StatsReply,
                 StatusReply>
        op;
    bool operator==(const ClientReply&) const = default;
};

// Encode a request or reply: header and body into `head` (replacing its contents), and the
// data section's pieces into `data` (replacing its contents; they point into the message's
// Payload, which must outlive the send). Fail with InvalidArgument if a field breaks a rule.
Status encode_client_request(const ClientRequest& req,
                             const Limits& limits,
                             std::vector<std::byte>& head,
                             std::vector<std::span<const std::byte>>& data);
Status encode_client_reply(const ClientReply& reply,
                           const Limits& limits,
                           std::vector<std::byte>& head,
                           std::vector<std::span<const std::byte>>& data);

// Decode a request or reply whose header decode_header accepted. `data` is the frame's data
// section (header.data_len bytes); it becomes the message's Payload without a copy. Checks the
// body length and CRC, the data CRC, and every field.
Result<ClientRequest> decode_client_request(const FrameHeader& header,
                                            std::span<const std::byte> body,
                                            std::vector<std::byte> data,
                                            const Limits& limits);
Result<ClientReply> decode_client_reply(const FrameHeader& header,
                                        std::span<const std::byte> body,
                                        std::vector<std::byte> data,
                                        const Limits& limits);

}  // namespace vr::wire
