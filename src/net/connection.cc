#include "net/connection.h"

#include <fmt/format.h>
#include <sodium.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "wire/peer.h"

namespace vr::net {

namespace {

// What a file data section holds where the file does not: the tail of a file's last page, or
// the rest of a file that shrank since the frame was queued.
const std::array<std::byte, 64 * 1024> kZeros{};

// One sendfile call moves at most this much (Linux caps a call at 0x7ffff000 bytes anyway).
constexpr uint64_t kSendfileChunk = 1u << 30;

static_assert(kRecordTagBytes == crypto_aead_chacha20poly1305_IETF_ABYTES);

using RecordNonce = std::array<uint8_t, crypto_aead_chacha20poly1305_IETF_NPUBBYTES>;

// A record's nonce is its sequence number in its direction (little-endian, then zeros). Each
// direction of each connection has its own key (derived from both handshake nonces), so a
// (key, nonce) pair is never used twice, and a record accepted out of its place fails.
RecordNonce nonce_of(uint64_t seq) {
    RecordNonce n{};
    for (size_t i = 0; i < 8; ++i) {
        n[i] = static_cast<uint8_t>(seq >> (8 * i));
    }
    return n;
}

unsigned char* uchars(std::byte* p) {
    return reinterpret_cast<unsigned char*>(p);
}

}  // namespace

uint64_t max_record_bytes(const wire::Limits& limits) {
    return wire::kHeaderSize + uint64_t{limits.max_body} +
           std::max<uint64_t>(limits.max_page_data(), limits.max_io) + kRecordTagBytes;
}

Connection::Sealing::~Sealing() {
    sodium_memzero(send_key.data(), send_key.size());
    sodium_memzero(receive_key.data(), receive_key.size());
}

Result<uint64_t> read_segment(const FileSegment& segment, std::span<std::byte> out) {
    VR_ASSERT(out.size() == segment.file_bytes + segment.zero_bytes,
              "read_segment into {} bytes for a segment of {} + {}",
              out.size(),
              segment.file_bytes,
              segment.zero_bytes);
    size_t done = 0;
    while (done < segment.file_bytes) {
        ssize_t n = ::pread(segment.fd,
                            out.data() + done,
                            segment.file_bytes - done,
                            static_cast<off_t>(segment.offset + done));
        if (n > 0) {
            done += static_cast<size_t>(n);
            continue;
        }
        if (n == 0) {
            break;  // the file ends early: zeros for the rest, as sendfile would have it
        }
        if (errno != EINTR) {
            return Status(Code::IoError,
                          fmt::format("reading {} bytes at offset {} of a file to send: {}",
                                      segment.file_bytes,
                                      segment.offset,
                                      std::strerror(errno)));
        }
    }
    std::fill(out.begin() + static_cast<ptrdiff_t>(done), out.end(), std::byte{0});
    return uint64_t{done};
}

void OwnedFd::reset(int fd) {
    if (fd_ >= 0) {
        ::close(fd_);
    }
    fd_ = fd;
}

Connection::Connection(
    runtime::EventLoop& loop, int fd, wire::Limits limits, std::string label, size_t queued_max)
    : loop_(loop), fd_(fd), limits_(limits), label_(std::move(label)), queued_max_(queued_max) {}

Connection::~Connection() {
    if (fd_ >= 0) {
        loop_.remove(fd_);
        ::close(fd_);
    }
}

Status Connection::start(OnFrame on_frame, OnClose on_close) {
    on_frame_ = std::move(on_frame);
    on_close_ = std::move(on_close);
    return loop_.add(fd_, EPOLLIN | EPOLLRDHUP, [this](uint32_t ev) { on_events(ev); });
}

void Connection::close(const Status& why) {
    if (fd_ < 0) {
        return;
    }
    loop_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
    out_.clear();
    queued_bytes_ = 0;
    if (on_close_) {
        OnClose cb = std::move(on_close_);
        on_close_ = nullptr;
        cb(why);  // may destroy this connection: nothing after this line
    }
}

int Connection::detach() {
    if (fd_ >= 0 && rx_pos_ < rx_end_) {
        // Bytes past the last frame were read ahead and cannot be handed over with the socket
        // (a peer that follows the handshake sends nothing before it is answered).
        close(Status(Code::ProtocolError,
                     fmt::format("{} sent more than the frame it had to wait after", label_)));
        return -1;
    }
    int fd = fd_;
    if (fd >= 0) {
        loop_.remove(fd);
        fd_ = -1;
        on_close_ = nullptr;
        out_.clear();
        queued_bytes_ = 0;
    }
    return fd;
}

void Connection::on_events(uint32_t events) {
    if ((events & EPOLLOUT) != 0) {
        flush();
    }
    if (fd_ >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
        on_readable();
    }
}

bool Connection::refill() {
    if (rx_dry_ || fd_ < 0) {
        return false;
    }
    if (rx_.size() != kRxBytes) {
        rx_.resize(kRxBytes);
    }
    for (;;) {
        ssize_t n = ::read(fd_, rx_.data(), rx_.size());
        switch (after_read(n, rx_.size(), "closed the connection")) {
            case ReadStep::Got:
                rx_pos_ = 0;
                rx_end_ = static_cast<size_t>(n);
                return true;
            case ReadStep::Retry:
                continue;
            case ReadStep::Stop:
                return false;
        }
    }
}

Connection::ReadStep Connection::after_read(ssize_t n, size_t want, std::string_view eof) {
    if (n > 0) {
        stats_.bytes_in += static_cast<uint64_t>(n);
        rx_dry_ = static_cast<size_t>(n) < want;
        return ReadStep::Got;
    }
    if (n == 0) {
        close(Status(Code::Unavailable, fmt::format("{} {}", label_, eof)));
        return ReadStep::Stop;
    }
    if (errno == EINTR) {
        return ReadStep::Retry;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        close(Status(Code::IoError, fmt::format("read from {}: {}", label_, std::strerror(errno))));
    }
    rx_dry_ = true;
    return ReadStep::Stop;
}

bool Connection::read_some(std::span<std::byte> dst, size_t& filled) {
    while (filled < dst.size()) {
        if (rx_pos_ < rx_end_) {
            size_t n = std::min(rx_end_ - rx_pos_, dst.size() - filled);
            std::memcpy(dst.data() + filled, rx_.data() + rx_pos_, n);
            rx_pos_ += n;
            filled += n;
            continue;
        }
        size_t want = dst.size() - filled;
        if (want < kRxBytes) {
            if (!refill()) {
                return false;
            }
            continue;
        }
        // Large (an encrypted record): straight into its place.
        if (rx_dry_ || fd_ < 0) {
            return false;
        }
        ssize_t n = ::read(fd_, dst.data() + filled, want);
        ReadStep step = after_read(n, want, "closed the connection");
        if (step == ReadStep::Stop) {
            return false;
        }
        if (step == ReadStep::Got) {
            filled += static_cast<size_t>(n);
        }
    }
    return true;
}

void Connection::take_data_from_buffer() {
    size_t skip = data_filled_;
    for (auto& s : data_spans_) {
        if (rx_pos_ >= rx_end_ || data_filled_ >= cur_.header.data_len) {
            return;
        }
        if (skip >= s.size()) {
            skip -= s.size();
            continue;
        }
        size_t n = std::min(rx_end_ - rx_pos_, s.size() - skip);
        std::memcpy(s.data() + skip, rx_.data() + rx_pos_, n);
        rx_pos_ += n;
        data_filled_ += n;
        skip = 0;
    }
}

void Connection::set_encryption(const SessionKeys& keys) {
    VR_ASSERT(seal_ == nullptr, "encryption set twice on the connection to {}", label_);
    VR_ASSERT(phase_ == Phase::Header && head_filled_ == 0,
              "set_encryption on the connection to {} in the middle of a frame",
              label_);
    // Idempotent; libsodium must be initialised before its ciphers are used.
    VR_ASSERT(sodium_init() >= 0, "libsodium failed to initialise");
    seal_ = std::make_unique<Sealing>();
    seal_->send_key = keys.send;
    seal_->receive_key = keys.receive;
}

void Connection::on_readable() {
    rx_dry_ = false;  // readable again
    // Bounded work per wake-up so that one busy peer cannot starve the others; but what the
    // read-ahead buffer holds is always taken (the socket may not wake us for it again).
    for (int frames = 0; (frames < 64 || rx_pos_ < rx_end_) && fd_ >= 0; ++frames) {
        if (seal_) {
            // Encryption began at the last frame's boundary (set from its on_frame).
            on_readable_sealed();
            return;
        }
        if (phase_ == Phase::Header) {
            if (!read_some(head_buf_, head_filled_)) {
                return;
            }
            auto h = wire::decode_header(head_buf_, limits_);
            if (!h.is_ok()) {
                close(h.status().with_context(fmt::format("bad frame header from {}", label_)));
                return;
            }
            cur_ = Frame{};
            cur_.header = h.value();
            cur_.body.resize(cur_.header.body_len);
            body_filled_ = 0;
            phase_ = Phase::Body;
        }
        if (phase_ == Phase::Body) {
            if (!read_some(cur_.body, body_filled_)) {
                return;
            }
            begin_data();
        }
        if (phase_ == Phase::Data) {
            while (data_filled_ < cur_.header.data_len) {
                if (rx_pos_ < rx_end_) {
                    take_data_from_buffer();
                    continue;
                }
                if (cur_.header.data_len - data_filled_ < kRxBytes) {
                    // The rest of a small section, and likely the frames after it: one read.
                    if (!refill()) {
                        return;
                    }
                    continue;
                }
                if (rx_dry_) {
                    return;
                }
                // readv straight into the destination buffers, starting where we stopped.
                std::vector<iovec> iov;
                size_t skip = data_filled_;
                for (auto& s : data_spans_) {
                    if (skip >= s.size()) {
                        skip -= s.size();
                        continue;
                    }
                    iov.push_back(iovec{s.data() + skip, s.size() - skip});
                    skip = 0;
                    if (iov.size() == 64) {
                        break;
                    }
                }
                size_t asked = 0;
                for (const iovec& v : iov) {
                    asked += v.iov_len;
                }
                ssize_t n = ::readv(fd_, iov.data(), static_cast<int>(iov.size()));
                ReadStep step = after_read(n, asked, "closed the connection mid-frame");
                if (step == ReadStep::Stop) {
                    return;
                }
                if (step == ReadStep::Got) {
                    data_filled_ += static_cast<size_t>(n);
                }
            }
            deliver();
        }
    }
}

void Connection::on_readable_sealed() {
    for (int records = 0; (records < 64 || rx_pos_ < rx_end_) && fd_ >= 0; ++records) {
        if (!rec_started_) {
            if (!read_some(rec_len_buf_, rec_len_filled_)) {
                return;
            }
            uint32_t len = 0;
            for (size_t i = kRecordLengthBytes; i > 0; --i) {
                len = (len << 8) | std::to_integer<uint32_t>(rec_len_buf_[i - 1]);
            }
            // Checked before allocating: a hostile length never costs more than one frame.
            uint64_t min = wire::kHeaderSize + kRecordTagBytes;
            uint64_t max = max_record_bytes(limits_);
            if (len < min || len > max) {
                close(Status(Code::ProtocolError,
                             fmt::format("record {} from {} has a length of {} bytes; records "
                                         "hold {} to {}",
                                         seal_->receive_seq,
                                         label_,
                                         len,
                                         min,
                                         max)));
                return;
            }
            rec_.resize(len);
            rec_filled_ = 0;
            rec_started_ = true;
        }
        if (!read_some(rec_, rec_filled_)) {
            return;
        }
        rec_started_ = false;
        rec_len_filled_ = 0;
        if (!open_record()) {
            return;
        }
    }
}

bool Connection::open_record() {
    uint64_t seq = seal_->receive_seq;
    RecordNonce nonce = nonce_of(seq);
    unsigned long long plain_len = 0;
    // Verifies the tag over the length and the ciphertext before decrypting anything (in place).
    if (crypto_aead_chacha20poly1305_ietf_decrypt(uchars(rec_.data()),
                                                  &plain_len,
                                                  nullptr,
                                                  uchars(rec_.data()),
                                                  rec_.size(),
                                                  uchars(rec_len_buf_.data()),
                                                  rec_len_buf_.size(),
                                                  nonce.data(),
                                                  seal_->receive_key.data()) != 0) {
        close(Status(Code::Corrupt,
                     fmt::format("record {} from {} failed authentication: it was altered, "
                                 "replayed, reordered or sealed with another key",
                                 seq,
                                 label_)));
        return false;
    }
    ++seal_->receive_seq;
    ++stats_.records_in;
    // The record holds exactly one frame, which is now checked as if read from the socket.
    std::span<const std::byte> plain(rec_.data(), static_cast<size_t>(plain_len));
    auto h = wire::decode_header(plain.first(wire::kHeaderSize), limits_);
    if (!h.is_ok()) {
        close(h.status().with_context(fmt::format("bad frame header from {}", label_)));
        return false;
    }
    uint64_t frame_len = wire::kHeaderSize + uint64_t{h->body_len} + h->data_len;
    if (frame_len != plain.size()) {
        close(Status(Code::ProtocolError,
                     fmt::format("record {} from {} holds {} bytes, but its {} frame has {}",
                                 seq,
                                 label_,
                                 plain.size(),
                                 wire::type_name(h->type),
                                 frame_len)));
        return false;
    }
    cur_ = Frame{};
    cur_.header = h.value();
    std::span<const std::byte> body = plain.subspan(wire::kHeaderSize, h->body_len);
    cur_.body.assign(body.begin(), body.end());
    begin_data();
    std::span<const std::byte> data = plain.subspan(wire::kHeaderSize + h->body_len);
    for (std::span<std::byte> dst : data_spans_) {
        std::copy(data.begin(), data.begin() + static_cast<ptrdiff_t>(dst.size()), dst.begin());
        data = data.subspan(dst.size());
    }
    deliver();  // may close this connection
    return fd_ >= 0;
}

void Connection::begin_data() {
    phase_ = Phase::Data;
    data_filled_ = 0;
    data_spans_.clear();
    if (cur_.header.data_len == 0) {
        return;
    }
    if (wire::data_kind_of(cur_.header.type) == wire::DataKind::Pages) {
        wire::PageBuffers pb = wire::make_page_buffers(cur_.header, limits_);
        cur_.pages = std::move(pb.pages);
        data_spans_ = std::move(pb.spans);
    } else {
        cur_.bytes.resize(cur_.header.data_len);
        data_spans_.emplace_back(cur_.bytes.data(), cur_.bytes.size());
    }
}

void Connection::deliver() {
    ++stats_.frames_in;
    phase_ = Phase::Header;
    head_filled_ = 0;
    Frame f = std::move(cur_);
    cur_ = Frame{};
    on_frame_(std::move(f));  // may close (and destroy) this connection
}

bool Connection::send(std::vector<std::byte> head, std::vector<coherence::PageBuf> pages) {
    if (fd_ < 0) {
        return false;
    }
    size_t total = head.size();
    for (const auto& p : pages) {
        total += p ? p->size() : 0;
    }
    if (queued_bytes_ >= queued_max_) {
        return false;
    }
    Out o;
    if (seal_) {
        std::vector<std::span<const std::byte>> pieces;
        for (const auto& p : pages) {
            if (p) {
                pieces.emplace_back(*p);
            }
        }
        o.head = seal(head, pieces);
        o.total = o.head.size();
    } else {
        o.head = std::move(head);
        o.pages = std::move(pages);
        o.total = total;
    }
    enqueue(std::move(o));
    return true;
}

void Connection::enqueue(Out o) {
    queued_bytes_ += o.total;
    out_.push_back(std::move(o));
    flush();
}

std::vector<std::byte> Connection::seal(std::span<const std::byte> head,
                                        std::span<const std::span<const std::byte>> data) {
    size_t plain = head.size();
    for (std::span<const std::byte> piece : data) {
        plain += piece.size();
    }
    VR_ASSERT(plain + kRecordTagBytes <= max_record_bytes(limits_),
              "a frame of {} bytes to {} does not fit a record",
              plain,
              label_);
    std::vector<std::byte> rec(kRecordLengthBytes + plain + kRecordTagBytes);
    auto len = static_cast<uint32_t>(plain + kRecordTagBytes);
    for (size_t i = 0; i < kRecordLengthBytes; ++i) {
        rec[i] = static_cast<std::byte>(len >> (8 * i));
    }
    auto at = rec.begin() + kRecordLengthBytes;
    at = std::copy(head.begin(), head.end(), at);
    for (std::span<const std::byte> piece : data) {
        at = std::copy(piece.begin(), piece.end(), at);
    }
    RecordNonce nonce = nonce_of(seal_->send_seq++);
    unsigned long long sealed_len = 0;
    std::byte* text = rec.data() + kRecordLengthBytes;
    crypto_aead_chacha20poly1305_ietf_encrypt(uchars(text),
                                              &sealed_len,
                                              uchars(text),
                                              plain,
                                              uchars(rec.data()),
                                              kRecordLengthBytes,
                                              nullptr,
                                              nonce.data(),
                                              seal_->send_key.data());
    VR_ASSERT(sealed_len == plain + kRecordTagBytes, "sealed {} bytes into {}", plain, sealed_len);
    ++stats_.records_out;
    return rec;
}

bool Connection::send_file(std::vector<std::byte> head, FileSegment segment) {
    OwnedFd file(segment.fd);  // ours from here on, sent or not
    if (fd_ < 0 || queued_bytes_ >= queued_max_) {
        return false;
    }
    Out o;
    if (seal_) {
        // The bytes must pass through the cipher: read them instead of sendfile.
        std::vector<std::byte> data(segment.file_bytes + segment.zero_bytes);
        auto read = read_segment(segment, data);
        if (!read.is_ok()) {
            close(read.status().with_context(fmt::format("sending a file to {}", label_)));
            return false;
        }
        stats_.file_bytes_copied += read.value();
        std::span<const std::byte> piece(data);
        o.head = seal(head, std::span(&piece, 1));
        o.total = o.head.size();
    } else {
        o.head = std::move(head);
        o.total = o.head.size() + segment.file_bytes + segment.zero_bytes;
        o.from_file = true;
        o.file = std::move(file);
        o.file_offset = segment.offset;
        o.file_bytes = segment.file_bytes;
    }
    enqueue(std::move(o));
    return true;
}

void Connection::flush() {
    while (fd_ >= 0 && !out_.empty()) {
        Out& front = out_.front();
        if (front.from_file && front.sent >= front.head.size()) {
            if (!flush_file_data(front)) {
                break;
            }
            continue;
        }
        std::vector<iovec> iov;
        for (auto& o : out_) {
            size_t skip = o.sent;
            auto add = [&](const std::byte* p, size_t n) {
                if (skip >= n) {
                    skip -= n;
                    return;
                }
                iov.push_back(iovec{const_cast<std::byte*>(p + skip), n - skip});
                skip = 0;
            };
            add(o.head.data(), o.head.size());
            if (o.from_file) {
                break;  // its data section comes from sendfile, once the head is out
            }
            for (const auto& pg : o.pages) {
                if (pg) {
                    add(pg->data(), pg->size());
                }
            }
            if (iov.size() >= 512) {
                break;
            }
        }
        // sendmsg rather than writev for MSG_NOSIGNAL: a peer that reset the connection is an
        // EPIPE to handle here, not a SIGPIPE that kills the process.
        msghdr mh{};
        mh.msg_iov = iov.data();
        mh.msg_iovlen = iov.size();
        ssize_t n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            close(Status(Code::IoError,
                         fmt::format("write to {}: {}", label_, std::strerror(errno))));
            return;
        }
        account_written(static_cast<size_t>(n));
    }
    update_interest();
}

void Connection::account_written(size_t n) {
    size_t left = n;
    stats_.bytes_out += left;
    while (left > 0 && !out_.empty()) {
        Out& o = out_.front();
        // A file entry's data goes out with sendfile: a write covers its head at most.
        size_t end = o.from_file ? o.head.size() : o.total;
        size_t take = std::min(left, end - o.sent);
        size_t head_left = o.sent < o.head.size() ? o.head.size() - o.sent : 0;
        stats_.page_bytes_out += take > head_left ? take - head_left : 0;
        o.sent += take;
        left -= take;
        if (o.sent == o.total) {
            complete_front();
        }
    }
}

bool Connection::flush_file_data(Out& o) {
    uint64_t data_sent = o.sent - o.head.size();
    bool from_file = !o.file_short && data_sent < o.file_bytes;
    ssize_t n = 0;
    if (from_file) {
        auto off = static_cast<off_t>(o.file_offset + data_sent);
        auto want = static_cast<size_t>(std::min(o.file_bytes - data_sent, kSendfileChunk));
        n = ::sendfile(fd_, o.file.get(), &off, want);
        if (n == 0) {
            // The file ends before the segment does (it shrank since the frame was queued):
            // zeros keep the frame whole, and they are what the file's pages hold past its end.
            o.file_short = true;
            return true;
        }
    } else {
        size_t want = std::min(o.total - o.sent, kZeros.size());
        n = ::send(fd_, kZeros.data(), want, MSG_NOSIGNAL);
    }
    if (n < 0) {
        if (errno == EINTR) {
            return true;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return false;
        }
        // Part of the frame is out and the rest cannot follow: only closing keeps the peer
        // from reading garbage as frames.
        close(Status(
            Code::IoError,
            fmt::format(
                "{} to {}: {}", from_file ? "sendfile" : "write", label_, std::strerror(errno))));
        return false;
    }
    auto sent = static_cast<size_t>(n);
    o.sent += sent;
    stats_.bytes_out += sent;
    if (from_file) {
        stats_.file_bytes_out += sent;
    }
    if (o.sent == o.total) {
        complete_front();
    }
    return true;
}

void Connection::complete_front() {
    queued_bytes_ -= out_.front().total;
    ++stats_.frames_out;
    out_.pop_front();  // closes the entry's file, if it had one
}

void Connection::update_interest() {
    if (fd_ < 0) {
        return;
    }
    bool want = !out_.empty();
    if (want != want_write_) {
        want_write_ = want;
        Status s = loop_.modify(fd_, EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u));
        if (!s.is_ok()) {
            close(s);
        }
    }
}

}  // namespace vr::net
