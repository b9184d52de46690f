#include "net/connection.h"

#include <fmt/format.h>
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

}  // namespace

Status read_segment(const FileSegment& segment, std::span<std::byte> out) {
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
    return Status::ok();
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

bool Connection::read_some(std::span<std::byte> dst, size_t& filled) {
    while (filled < dst.size()) {
        ssize_t n = ::read(fd_, dst.data() + filled, dst.size() - filled);
        if (n > 0) {
            filled += static_cast<size_t>(n);
            stats_.bytes_in += static_cast<uint64_t>(n);
            continue;
        }
        if (n == 0) {
            close(Status(Code::Unavailable, fmt::format("{} closed the connection", label_)));
            return false;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            close(Status(Code::IoError,
                         fmt::format("read from {}: {}", label_, std::strerror(errno))));
        }
        return false;
    }
    return true;
}

void Connection::on_readable() {
    // Bounded work per wake-up so that one busy peer cannot starve the others.
    for (int frames = 0; frames < 64 && fd_ >= 0; ++frames) {
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
                ssize_t n = ::readv(fd_, iov.data(), static_cast<int>(iov.size()));
                if (n > 0) {
                    data_filled_ += static_cast<size_t>(n);
                    stats_.bytes_in += static_cast<uint64_t>(n);
                    continue;
                }
                if (n == 0) {
                    close(Status(Code::Unavailable,
                                 fmt::format("{} closed the connection mid-frame", label_)));
                    return;
                }
                if (errno == EINTR) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    close(Status(Code::IoError,
                                 fmt::format("read from {}: {}", label_, std::strerror(errno))));
                }
                return;
            }
            deliver();
        }
    }
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
    queued_bytes_ += total;
    Out o;
    o.head = std::move(head);
    o.pages = std::move(pages);
    o.total = total;
    out_.push_back(std::move(o));
    flush();
    return true;
}

bool Connection::send_file(std::vector<std::byte> head, FileSegment segment) {
    OwnedFd file(segment.fd);  // ours from here on, sent or not
    if (fd_ < 0 || queued_bytes_ >= queued_max_) {
        return false;
    }
    Out o;
    o.head = std::move(head);
    o.total = o.head.size() + segment.file_bytes + segment.zero_bytes;
    o.from_file = true;
    o.file = std::move(file);
    o.file_offset = segment.offset;
    o.file_bytes = segment.file_bytes;
    queued_bytes_ += o.total;
    out_.push_back(std::move(o));
    flush();
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
