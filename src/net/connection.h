// Connection: one framed, non-blocking stream socket (TCP to a peer, or Unix to a local client)
// on the event loop. It reads a frame's header, body and data section, reading page data
// straight into page buffers with readv (no intermediate copy), and hands whole frames to its
// owner. It sends frames from a queue with writev, page buffers as their own iovecs (no copy in
// user space), and data sections that live in a file with sendfile (send_file: the bytes go
// from the page cache to the socket without entering user space). The queue is bounded in
// bytes: send() refuses beyond it (back-pressure).
// A decoding error or a peer that closes ends the connection with a Status saying why.
//
// Optionally (set_encryption, after the handshake) every frame travels sealed as one AEAD
// record, ChaCha20-Poly1305 with the per-direction session key and a per-direction counter as
// the nonce; the receiver authenticates a record before it decodes any of it, and a tampered,
// replayed, reordered or truncated record ends the connection. Records cannot be zero-copy:
// pages are copied into the record, and send_file reads the file (pread) instead of sendfile.
// Layout: docs/design/wire.md, "Link layer".
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "coherence/types.h"
#include "net/auth.h"
#include "runtime/event_loop.h"
#include "wire/frame.h"

namespace vr::net {

struct Frame {
    wire::FrameHeader header;
    std::vector<std::byte> body;
    std::vector<coherence::PageBuf> pages;  // DataKind::Pages
    std::vector<std::byte> bytes;           // DataKind::Bytes
};

// Bytes a frame's data section takes from a file with sendfile: `file_bytes` bytes at `offset`
// of `fd`, then `zero_bytes` zeros (also sent if the file turns out shorter). The connection
// owns `fd` from the call to send_file on, whatever it returns, and closes it once sent or
// dropped.
struct FileSegment {
    int fd = -1;
    uint64_t offset = 0;
    uint64_t file_bytes = 0;
    uint64_t zero_bytes = 0;
};

// Reads a segment's bytes into `out` (file_bytes + zero_bytes of them) with pread: what
// sendfile would have sent, for a path that cannot use it (an encrypted link, a loopback). The
// file's part is read up to its end; everything after is zeros. Does not close segment.fd.
// Returns the bytes read from the file.
Result<uint64_t> read_segment(const FileSegment& segment, std::span<std::byte> out);

// Encrypted links: a record is a u32 length (of what follows), then the frame sealed with
// crypto_aead_chacha20poly1305_ietf (the ciphertext and its 16-byte tag). The length is the
// associated data; the nonce is the record's sequence number in its direction.
inline constexpr size_t kRecordLengthBytes = 4;
inline constexpr size_t kRecordTagBytes = 16;
// The largest record a receiver accepts: one frame of the largest body and data the limits allow.
uint64_t max_record_bytes(const wire::Limits& limits);

struct ConnectionStats {
    uint64_t frames_in = 0;
    uint64_t frames_out = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t page_bytes_out = 0;  // sent from page buffers without a user-space copy
    uint64_t file_bytes_out = 0;  // sent from files with sendfile (never in user space)
    // Read from files into user space to go through the cipher (encrypted: no sendfile).
    uint64_t file_bytes_copied = 0;
    uint64_t records_out = 0;  // sealed records (encrypted links)
    uint64_t records_in = 0;
};

// Owns a file descriptor: closes it when destroyed or reset. Movable, not copyable.
class OwnedFd {
  public:
    OwnedFd() = default;
    explicit OwnedFd(int fd) : fd_(fd) {}
    OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    OwnedFd& operator=(OwnedFd&& o) noexcept {
        reset(std::exchange(o.fd_, -1));
        return *this;
    }
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    ~OwnedFd() { reset(); }
    int get() const { return fd_; }
    // Gives the descriptor up without closing it.
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1);

  private:
    int fd_ = -1;
};

class Connection {
  public:
    using OnFrame = std::function<void(Frame&&)>;
    using OnClose = std::function<void(const Status& why)>;

    Connection(runtime::EventLoop& loop,
               int fd,
               wire::Limits limits,
               std::string label,
               size_t queued_max);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    Status start(OnFrame on_frame, OnClose on_close);
    // Queues a frame (head = header + body, then the pages' bytes). Returns false, queueing
    // nothing, when the queue already holds queued_max bytes.
    bool send(std::vector<std::byte> head, std::vector<coherence::PageBuf> pages = {});
    // Queues a frame whose data section is `segment`: head (header and body) with write, then
    // segment.file_bytes from the file with sendfile, then segment.zero_bytes zeros. If the file
    // ends early, zeros stand in for the missing bytes, so the frame keeps its length. A read
    // error from the file closes the connection (the head is out; the frame cannot be
    // finished honestly). Same bound as send(). Takes segment.fd in every case: it is closed
    // once sent, when the connection closes, or at once if the frame is refused.
    bool send_file(std::vector<std::byte> head, FileSegment segment);
    // From now on every frame sent is sealed as one record with keys.send, and every byte
    // received must be records sealed with keys.receive (both counters start at 0). Frames
    // already queued go out as they are. Call at a frame boundary of the input: before start(),
    // or from on_frame (the frame just delivered is then the last one read in the clear).
    void set_encryption(const SessionKeys& keys);
    bool encrypted() const { return seal_ != nullptr; }
    // Closes the socket; on_close runs once, with `why`.
    void close(const Status& why);
    bool closed() const { return fd_ < 0; }
    // Hands the socket over (to another Connection) without closing it or calling on_close.
    int detach();
    size_t queued_bytes() const { return queued_bytes_; }
    const ConnectionStats& stats() const { return stats_; }
    const std::string& label() const { return label_; }
    int fd() const { return fd_; }

  private:
    enum class Phase : uint8_t { Header, Body, Data };
    struct Out {
        std::vector<std::byte> head;
        std::vector<coherence::PageBuf> pages;
        size_t sent = 0;
        size_t total = 0;
        // send_file: after head, file_bytes from `file` at file_offset, then zeros up to total.
        bool from_file = false;
        OwnedFd file;
        uint64_t file_offset = 0;
        uint64_t file_bytes = 0;
        bool file_short = false;  // sendfile hit the end of the file: zeros for the rest
    };
    // Keys and counters of an encrypted connection (wiped when destroyed).
    struct Sealing {
        std::array<uint8_t, 32> send_key{};
        std::array<uint8_t, 32> receive_key{};
        uint64_t send_seq = 0;
        uint64_t receive_seq = 0;
        ~Sealing();
    };
    void on_events(uint32_t events);
    void on_readable();
    void on_readable_sealed();
    // Authenticates and opens the record in rec_, then delivers its frame. False if it closed.
    bool open_record();
    // Seals a frame (head, then the data pieces) into one record ready to send.
    std::vector<std::byte> seal(std::span<const std::byte> head,
                                std::span<const std::span<const std::byte>> data);
    void enqueue(Out o);
    // Fills dst from `filled` on: from the read-ahead buffer first, then from the socket. False
    // when the socket has no more for now (or the connection closed).
    bool read_some(std::span<std::byte> dst, size_t& filled);
    // One read() of whatever the socket holds, up to kRxBytes, into the read-ahead buffer
    // (which must be empty). False if nothing came (or the connection closed).
    bool refill();
    // What a read(v) of `want` bytes that returned n means: Got (n > 0, counted, rx_dry_ set when
    // short), Retry (EINTR) or Stop (nothing more for now; end of stream, "label eof", and
    // errors close the connection).
    enum class ReadStep : uint8_t { Got, Retry, Stop };
    ReadStep after_read(ssize_t n, size_t want, std::string_view eof);
    // Copies what the read-ahead buffer holds of the data section into data_spans_.
    void take_data_from_buffer();
    void begin_data();
    void deliver();
    void flush();
    // Sends some of the front entry's file data (it is past its head). False when the socket is
    // full or the connection closed: stop flushing.
    bool flush_file_data(Out& o);
    // Accounts `n` bytes written from the front entries' heads and pages.
    void account_written(size_t n);
    void complete_front();
    void update_interest();

    runtime::EventLoop& loop_;
    int fd_;
    wire::Limits limits_;
    std::string label_;
    size_t queued_max_;
    OnFrame on_frame_;
    OnClose on_close_;

    Phase phase_ = Phase::Header;
    std::array<std::byte, wire::kHeaderSize> head_buf_{};
    size_t head_filled_ = 0;
    Frame cur_;
    size_t body_filled_ = 0;
    std::vector<std::span<std::byte>> data_spans_;
    size_t data_filled_ = 0;

    std::unique_ptr<Sealing> seal_;
    std::array<std::byte, kRecordLengthBytes> rec_len_buf_{};
    size_t rec_len_filled_ = 0;
    bool rec_started_ = false;  // the length is read; rec_ is being filled
    std::vector<std::byte> rec_;
    size_t rec_filled_ = 0;

    // Read-ahead: small frames (a page request, its 4 KiB answer, metadata) arrive whole in one
    // read() and are cut from this buffer; large data sections are read straight into their
    // pages. rx_dry_: a read this wake-up returned less than it asked for, so the socket is
    // (as good as) empty: the next read waits for the next readiness event (epoll is
    // level-triggered) instead of costing a system call that returns EAGAIN.
    static constexpr size_t kRxBytes = 16 * 1024;
    std::vector<std::byte> rx_;
    size_t rx_pos_ = 0;
    size_t rx_end_ = 0;
    bool rx_dry_ = false;

    std::deque<Out> out_;
    size_t queued_bytes_ = 0;
    bool want_write_ = false;
    ConnectionStats stats_;
};

}  // namespace vr::net
