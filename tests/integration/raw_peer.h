// RawPeer: an authenticated but malicious peer on a plain blocking socket, for hostile tests.
// It holds the cluster key, connects to a daemon's peer port under a configured node's name,
// completes the handshake as the initiator (the daemon adopts the socket as that node's link),
// and then sends whatever bytes it likes: frames the codec would never encode (resealed, so
// that they get past the CRC checks to the field checks) as well as well-formed messages with
// fields out of range. Unencrypted links only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "net/auth.h"
#include "runtime/event_loop.h"
#include "wire/crc32c.h"
#include "wire/frame.h"
#include "wire/handshake.h"
#include "wire/meta.h"
#include "wire/peer.h"
#include "wire/ping.h"

namespace vr::itest {

inline int tcp_connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Waits (bounded) until the peer closes the socket; true if it did.
inline bool closed_by_peer(int fd, int timeout_ms) {
    int64_t end = runtime::monotonic_us() + int64_t{timeout_ms} * 1000;
    char buf[4096];
    for (;;) {
        int64_t left_ms = (end - runtime::monotonic_us()) / 1000;
        if (left_ms <= 0) {
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) {
            continue;
        }
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            return true;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return errno == ECONNRESET;
        }
    }
}

struct RawFrame {
    wire::FrameHeader header;
    std::vector<std::byte> body;
    std::vector<std::byte> data;
};

class RawPeer {
  public:
    RawPeer(net::ClusterKey key, std::vector<std::string> names, std::string self, std::string peer)
        : key_(key), names_(std::move(names)), self_(std::move(self)), peer_(std::move(peer)) {}
    ~RawPeer() { close(); }
    RawPeer(const RawPeer&) = delete;
    RawPeer& operator=(const RawPeer&) = delete;

    int fd() const { return fd_; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
        welcomed_ = false;
    }

    // Connects and completes the handshake (bounded); false with the reason in *why.
    bool connect(uint16_t port, std::string* why) {
        close();
        fd_ = tcp_connect(port);
        if (fd_ < 0) {
            *why = "connect failed";
            return false;
        }
        wire::AuthHello h;
        h.cluster_hash = net::cluster_id(key_, names_);
        h.encrypt = false;
        h.nonce = net::random_nonce();
        h.node_name = self_;
        std::vector<std::byte> f;
        if (!wire::encode_handshake(h, limits_, f).is_ok() || !send_bytes(f)) {
            *why = "cannot send the Hello";
            return false;
        }
        auto c = next_frame(3000);
        if (!c || c->header.type != wire::FrameType::AuthChallenge) {
            *why = "no challenge";
            return false;
        }
        auto hs = wire::decode_handshake(c->header, c->body, limits_);
        if (!hs.is_ok() || !std::holds_alternative<wire::AuthChallenge>(hs.value())) {
            *why = "bad challenge";
            return false;
        }
        const auto& ch = std::get<wire::AuthChallenge>(hs.value());
        wire::AuthResponse r;
        r.tag = net::handshake_tag(key_, net::Role::Initiator, h.nonce, ch.nonce, self_, peer_);
        if (!wire::encode_handshake(r, limits_, f).is_ok() || !send_bytes(f)) {
            *why = "cannot send the Response";
            return false;
        }
        auto w = next_frame(3000);
        if (!w || w->header.type != wire::FrameType::AuthWelcome) {
            *why = "no welcome";
            return false;
        }
        welcomed_ = true;
        return true;
    }

    bool send_bytes(std::span<const std::byte> b) {
        last_sent_us_ = runtime::monotonic_us();
        size_t at = 0;
        while (at < b.size()) {
            ssize_t n = ::send(fd_, b.data() + at, b.size() - at, MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            at += static_cast<size_t>(n);
        }
        return true;
    }

    // Sends header + body + data after recomputing both CRCs (an honest sender's CRCs over
    // dishonest contents). `frame` holds the whole frame.
    bool send_resealed(std::vector<std::byte> frame) {
        if (frame.size() < wire::kHeaderSize) {
            return false;
        }
        wire::FrameHeader h = read_header(frame);
        size_t body_len = std::min<size_t>(h.body_len, frame.size() - wire::kHeaderSize);
        std::span<const std::byte> all(frame);
        auto body = all.subspan(wire::kHeaderSize, body_len);
        auto data = all.subspan(wire::kHeaderSize + body_len);
        h.data_crc = data.empty() || h.data_unchecked() ? 0 : wire::crc32c(data);
        h.body_crc = wire::compute_body_crc(h, body);
        auto hb = wire::encode_header(h);
        std::copy(hb.begin(), hb.end(), frame.begin());
        return send_bytes(frame);
    }

    bool send_peer(const coherence::Message& m, const wire::Limits& lim = {}) {
        std::vector<std::byte> head;
        std::vector<coherence::PageBuf> pages;
        if (!wire::encode_peer(m, lim, head, pages).is_ok()) {
            return false;
        }
        for (const auto& p : pages) {
            head.insert(head.end(), p->begin(), p->end());
        }
        return send_bytes(head);
    }
    bool send_meta(uint64_t id, const wire::MetaRequest& r) {
        std::vector<std::byte> f;
        return wire::encode_meta_request(id, r, limits_, f).is_ok() && send_bytes(f);
    }

    // The next frame, or nothing if none came within timeout_ms or the socket closed.
    std::optional<RawFrame> next_frame(int timeout_ms) {
        int64_t end = runtime::monotonic_us() + int64_t{timeout_ms} * 1000;
        RawFrame f;
        std::vector<std::byte> head(wire::kHeaderSize);
        if (!read_exact(head, end)) {
            return std::nullopt;
        }
        f.header = read_header(head);
        f.body.resize(f.header.body_len);
        f.data.resize(f.header.data_len);
        if (f.header.body_len > (1u << 24) || f.header.data_len > (1u << 24) ||
            !read_exact(f.body, end) || !read_exact(f.data, end)) {
            return std::nullopt;
        }
        if (f.header.type == wire::FrameType::MetaRequest) {
            // The home's InvalAttr / InvalEntry: answered at once, as an honest node does, so
            // that the home does not wait out this node's lease before answering others.
            std::vector<std::byte> r;
            if (wire::encode_meta_reply(f.header.id, wire::MetaReply{}, limits_, r).is_ok()) {
                (void)send_bytes(r);
            }
        }
        return f;
    }

    // Reads frames until the MetaReply with `id` (others are collected in `seen`).
    std::optional<wire::MetaReply> meta_reply(uint64_t id, int timeout_ms) {
        int64_t end = runtime::monotonic_us() + int64_t{timeout_ms} * 1000;
        while (runtime::monotonic_us() < end) {
            auto f = next_frame(static_cast<int>((end - runtime::monotonic_us()) / 1000 + 1));
            if (!f) {
                return std::nullopt;
            }
            if (f->header.type == wire::FrameType::MetaReply && f->header.id == id) {
                auto r = wire::decode_meta_reply(f->header, f->body, limits_);
                if (!r.is_ok()) {
                    return std::nullopt;
                }
                return r.value();
            }
            seen.push_back(std::move(*f));
        }
        return std::nullopt;
    }

    // Reads frames until a peer message of `type` arrives; decoded from this link's view.
    std::optional<coherence::Message> peer_message(coherence::MsgType type, int timeout_ms) {
        int64_t end = runtime::monotonic_us() + int64_t{timeout_ms} * 1000;
        while (runtime::monotonic_us() < end) {
            auto f = next_frame(static_cast<int>((end - runtime::monotonic_us()) / 1000 + 1));
            if (!f) {
                return std::nullopt;
            }
            if (wire::family_of(f->header.type) == wire::Family::Peer &&
                f->header.type == static_cast<wire::FrameType>(static_cast<int>(type) + 1)) {
                std::vector<coherence::PageBuf> pages;
                for (size_t at = 0; at + limits_.page_size <= f->data.size();
                     at += limits_.page_size) {
                    pages.push_back(std::make_shared<std::vector<std::byte>>(
                        f->data.begin() + static_cast<ptrdiff_t>(at),
                        f->data.begin() + static_cast<ptrdiff_t>(at + limits_.page_size)));
                }
                auto m = wire::decode_peer(
                    f->header, f->body, std::move(pages), limits_, wire::LinkEnds{0, 2});
                if (m.is_ok()) {
                    return m.value();
                }
            }
            seen.push_back(std::move(*f));
        }
        return std::nullopt;
    }

    std::vector<RawFrame> seen;

  private:
    static wire::FrameHeader read_header(std::span<const std::byte> b) {
        auto le = [&](size_t at, size_t n) {
            uint64_t v = 0;
            for (size_t i = n; i > 0; --i) {
                v = (v << 8) | std::to_integer<uint64_t>(b[at + i - 1]);
            }
            return v;
        };
        wire::FrameHeader h;
        h.type = static_cast<wire::FrameType>(le(5, 1));
        h.flags = static_cast<uint16_t>(le(6, 2));
        h.body_len = static_cast<uint32_t>(le(8, 4));
        h.data_len = static_cast<uint32_t>(le(12, 4));
        h.id = le(16, 8);
        h.body_crc = static_cast<uint32_t>(le(24, 4));
        h.data_crc = static_cast<uint32_t>(le(28, 4));
        return h;
    }
    bool read_exact(std::vector<std::byte>& buf, int64_t end_us) {
        size_t at = 0;
        while (at < buf.size()) {
            int64_t left_ms = (end_us - runtime::monotonic_us()) / 1000;
            if (left_ms <= 0) {
                return false;
            }
            // A heartbeat when idle, as a real peer sends: the daemon closes a silent link. Not
            // before the Welcome: a real peer sends nothing between its Response and the
            // Welcome, and the daemon rightly refuses one that does (this test peer did when the
            // daemon was slow to answer, and a loaded CI run failed for it).
            if (welcomed_ && runtime::monotonic_us() - last_sent_us_ > 200'000) {
                std::vector<std::byte> ping;
                if (wire::encode_ping(
                        /*pong=*/false, static_cast<uint64_t>(runtime::monotonic_us()), ping)
                        .is_ok()) {
                    (void)send_bytes(ping);
                }
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 100))) <= 0) {
                continue;
            }
            ssize_t n = ::recv(fd_, buf.data() + at, buf.size() - at, MSG_DONTWAIT);
            if (n == 0) {
                return false;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    continue;
                }
                return false;
            }
            at += static_cast<size_t>(n);
        }
        return true;
    }

    net::ClusterKey key_;
    std::vector<std::string> names_;
    std::string self_;
    std::string peer_;
    wire::Limits limits_;
    int fd_ = -1;
    int64_t last_sent_us_ = 0;
    bool welcomed_ = false;
};

}  // namespace vr::itest
