#include "net/connection.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire/peer.h"

namespace vr::net {

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
    out_.push_back(Out{std::move(head), std::move(pages), 0, total});
    flush();
    return true;
}

void Connection::flush() {
    while (fd_ >= 0 && !out_.empty()) {
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
            for (const auto& pg : o.pages) {
                if (pg) {
                    add(pg->data(), pg->size());
                }
            }
            if (iov.size() >= 512) {
                break;
            }
        }
        ssize_t n = ::writev(fd_, iov.data(), static_cast<int>(iov.size()));
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
        size_t left = static_cast<size_t>(n);
        stats_.bytes_out += left;
        while (left > 0 && !out_.empty()) {
            Out& o = out_.front();
            size_t take = std::min(left, o.total - o.sent);
            size_t head_left = o.sent < o.head.size() ? o.head.size() - o.sent : 0;
            stats_.page_bytes_out += take > head_left ? take - head_left : 0;
            o.sent += take;
            left -= take;
            if (o.sent == o.total) {
                queued_bytes_ -= o.total;
                ++stats_.frames_out;
                out_.pop_front();
            }
        }
    }
    update_interest();
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
