#include "net/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "wire/handshake.h"
#include "wire/meta.h"
#include "wire/peer.h"
#include "wire/ping.h"

namespace vr::net {

using coherence::Message;
using coherence::NodeId;

std::string_view link_state_name(LinkState s) {
    switch (s) {
        case LinkState::Down:
            return "down";
        case LinkState::Connecting:
            return "connecting";
        case LinkState::Handshake:
            return "handshake";
        case LinkState::Up:
            return "up";
    }
    return "?";
}

struct Transport::Link {
    PeerSpec spec;
    LinkState state = LinkState::Down;
    std::unique_ptr<Connection> conn;
    bool initiator = false;
    Nonce nonce_i{};
    Nonce nonce_a{};
    int64_t last_heard = 0;
    int64_t rtt_us = -1;
    int64_t backoff_us = 50'000;
    uint64_t resets = 0;
    uint64_t handshake_timer = 0;
    uint64_t reconnect_timer = 0;
    // Counts the connections this link has had, so that a message delayed by the test hook
    // goes out on the connection it was sent on, or not at all.
    uint64_t generation = 0;
    int64_t stall_until = 0;  // the loss hook: no message goes before this (monotonic us)
    uint64_t test_losses = 0;
    // Since when the link has been down (monotonic us; 0 while up), and whether it went down
    // because the peer was silent for failure_us: LinkInfo::unreachable.
    int64_t down_since = 0;
    bool silent = false;
    ConnectionStats closed_stats;  // of connections that ended, for the totals
};

struct Transport::Pending {
    std::unique_ptr<Connection> conn;
    Nonce nonce_a{};
    Nonce nonce_i{};
    NodeId peer = coherence::kNoNode;
    int64_t started = 0;
};

namespace {

int set_socket_options(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int flags = fcntl(fd, F_GETFL);
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

Result<sockaddr_in> resolve(const std::string& host, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    std::string h = host == "localhost" ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, h.c_str(), &a.sin_addr) != 1) {
        return Status(Code::InvalidArgument, fmt::format("{} is not an IPv4 address", host));
    }
    return a;
}

}  // namespace

Transport::Transport(runtime::EventLoop& loop, TransportConfig config, Handler handler)
    : loop_(loop),
      cfg_(std::move(config)),
      handler_(std::move(handler)),
      rng_(randombytes_random()) {
    for (const PeerSpec& p : cfg_.peers) {
        auto l = std::make_unique<Link>();
        l->spec = p;
        l->initiator = cfg_.self < p.id;
        l->down_since = runtime::monotonic_us();  // not yet connected: counts as down
        links_.emplace(p.id, std::move(l));
    }
    VR_ASSERT(wire::encode_volumes(wire::VolumesMsg{}, cfg_.limits, volumes_frame_).is_ok(),
              "an empty volume list must encode");
}

Transport::~Transport() {
    if (heartbeat_timer_ != 0) {
        loop_.cancel_timer(heartbeat_timer_);
    }
    for (auto& [id, l] : links_) {
        loop_.cancel_timer(l->handshake_timer);
        loop_.cancel_timer(l->reconnect_timer);
    }
    for (uint64_t timer : delayed_) {
        loop_.cancel_timer(timer);
    }
    if (listen_fd_ >= 0) {
        loop_.remove(listen_fd_);
        close(listen_fd_);
    }
}

void Transport::log(const std::string& line) {
    if (handler_.log) {
        handler_.log(line);
    }
}

uint64_t Transport::cluster_hash() const {
    std::vector<std::string> names{cfg_.self_name};
    for (const auto& p : cfg_.peers) {
        names.push_back(p.name);
    }
    return cluster_id(cfg_.key, std::move(names));
}

const PeerSpec* Transport::spec_by_name(const std::string& name) const {
    for (const auto& [id, l] : links_) {
        if (l->spec.name == name) {
            return &l->spec;
        }
    }
    return nullptr;
}

Status Transport::start() {
    auto addr = resolve(cfg_.listen_host, cfg_.listen_port);
    VR_TRY(addr);
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
        return Status(Code::IoError, fmt::format("socket: {}", std::strerror(errno)));
    }
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = addr.value();
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, 64) != 0) {
        return Status(Code::IoError,
                      fmt::format("cannot listen on {}:{}: {}",
                                  cfg_.listen_host,
                                  cfg_.listen_port,
                                  std::strerror(errno)));
    }
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    bound_port_ = ntohs(a.sin_port);
    VR_TRY(loop_.add(listen_fd_, EPOLLIN, [this](uint32_t) { on_accept(); }));
    for (auto& [id, l] : links_) {
        if (l->initiator) {
            connect(id);
        }
    }
    heartbeat_timer_ =
        loop_.add_timer(runtime::monotonic_us() + cfg_.heartbeat_us, [this] { heartbeat(); });
    return Status::ok();
}

void Transport::connect(NodeId peer) {
    Link& l = *links_.at(peer);
    l.reconnect_timer = 0;
    if (l.conn && !l.conn->closed() &&
        (l.state == LinkState::Up || l.state == LinkState::Handshake)) {
        // The peer connected to us meanwhile and its connection was adopted: dialling now
        // would mark that live link Connecting, and nothing would be sent on it any more.
        return;
    }
    auto addr = resolve(l.spec.host, l.spec.port);
    if (!addr.is_ok()) {
        log(fmt::format("peer {}: {}", l.spec.name, addr.status().to_string()));
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    set_socket_options(fd);
    sockaddr_in a = addr.value();
    int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (r != 0 && errno != EINPROGRESS) {
        close(fd);
        schedule_reconnect(peer);
        return;
    }
    l.state = LinkState::Connecting;
    // Writable means connected (or failed: the first read or write then reports it).
    Status s = loop_.add(fd, EPOLLOUT, [this, peer, fd](uint32_t ev) {
        loop_.remove(fd);
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if ((ev & (EPOLLERR | EPOLLHUP)) != 0 || err != 0) {
            close(fd);
            links_.at(peer)->state = LinkState::Down;
            schedule_reconnect(peer);
            return;
        }
        attach(*links_.at(peer), fd, /*initiator=*/true);
    });
    if (!s.is_ok()) {
        close(fd);
        schedule_reconnect(peer);
    }
}

void Transport::schedule_reconnect(NodeId peer) {
    Link& l = *links_.at(peer);
    if (!l.initiator || l.reconnect_timer != 0) {
        return;
    }
    int64_t jitter = static_cast<int64_t>(rng_() % static_cast<uint64_t>(l.backoff_us / 2 + 1));
    l.reconnect_timer = loop_.add_timer(runtime::monotonic_us() + l.backoff_us + jitter,
                                        [this, peer] { connect(peer); });
    l.backoff_us = std::min(l.backoff_us * 2, cfg_.backoff_max_us);
}

void Transport::attach(Link& l, int fd, bool initiator) {
    NodeId peer = l.spec.id;
    l.conn =
        std::make_unique<Connection>(loop_, fd, cfg_.limits, l.spec.name, cfg_.queued_max_bytes);
    ++l.generation;
    l.state = LinkState::Handshake;
    l.last_heard = runtime::monotonic_us();
    Status s = l.conn->start([this, peer](Frame&& f) { on_frame(peer, std::move(f)); },
                             [this, peer](const Status& why) { link_lost(peer, why); });
    if (!s.is_ok()) {
        link_lost(peer, s);
        return;
    }
    l.handshake_timer =
        loop_.add_timer(runtime::monotonic_us() + cfg_.handshake_timeout_us, [this, peer] {
            Link& x = *links_.at(peer);
            x.handshake_timer = 0;
            if (x.state == LinkState::Handshake && x.conn) {
                x.conn->close(Status(Code::Timeout, "handshake timed out"));
            }
        });
    if (initiator) {
        l.nonce_i = random_nonce();
        wire::AuthHello h;
        h.cluster_hash = cluster_hash();
        h.encrypt = cfg_.encrypt;
        h.nonce = l.nonce_i;
        h.node_name = cfg_.self_name;
        std::vector<std::byte> frame;
        VR_ASSERT(wire::encode_handshake(h, cfg_.limits, frame).is_ok(), "own Hello must encode");
        l.conn->send(std::move(frame));
    }
}

void Transport::on_accept() {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        set_socket_options(fd);
        if (pending_.size() >= kPendingMax) {
            // A flood: one line for the first refusal and one per 1000 after it, not one each.
            if (refused_flood_++ % 1000 == 0) {
                log(
                    fmt::format("refusing a connection: {} handshakes already in progress "
                                "(connection flood?); {} refused so far",
                                kPendingMax,
                                refused_flood_));
            }
            close(fd);
            continue;
        }
        // Keyed by a serial number, not the fd: a closed socket's number is reused at once.
        uint64_t id = next_pending_++;
        auto p = std::make_unique<Pending>();
        p->conn = std::make_unique<Connection>(
            loop_, fd, cfg_.limits, fmt::format("incoming connection {}", id), 64 * 1024);
        p->started = runtime::monotonic_us();
        Pending* raw = p.get();
        pending_.emplace(id, std::move(p));
        Status s = raw->conn->start(
            [this, id](Frame&& f) { on_pending_frame(id, std::move(f)); },
            [this, id](const Status& why) {
                log(fmt::format("incoming connection closed during the handshake: {}",
                                why.to_string()));
                loop_.post([this, id] { pending_.erase(id); });
            });
        if (!s.is_ok()) {
            pending_.erase(id);
            continue;
        }
        loop_.add_timer(runtime::monotonic_us() + cfg_.handshake_timeout_us, [this, id] {
            auto it = pending_.find(id);
            if (it != pending_.end() && it->second->conn && !it->second->conn->closed()) {
                it->second->conn->close(Status(Code::Timeout, "handshake timed out"));
            }
        });
    }
}

void Transport::on_pending_frame(uint64_t id, Frame&& f) {
    // Acceptor side of the handshake. Any failure refuses the peer with a reason and a log line.
    Pending& p = *pending_.at(id);
    auto refuse = [&](Code code, const std::string& reason) {
        log(fmt::format("refused a peer connection: {}", reason));
        wire::AuthRefuse r;
        r.code = code;
        r.reason = reason.substr(0, 200);
        std::vector<std::byte> frame;
        if (wire::encode_handshake(r, cfg_.limits, frame).is_ok()) {
            p.conn->send(std::move(frame));
        }
        p.conn->close(Status(code, reason));
    };
    if (wire::family_of(f.header.type) != wire::Family::Handshake) {
        refuse(Code::PermissionDenied,
               fmt::format("{} frame before authentication", wire::type_name(f.header.type)));
        return;
    }
    auto hs = wire::decode_handshake(f.header, f.body, cfg_.limits);
    if (!hs.is_ok()) {
        refuse(Code::ProtocolError, hs.status().to_string());
        return;
    }
    if (auto* hello = std::get_if<wire::AuthHello>(&hs.value())) {
        const PeerSpec* spec = spec_by_name(hello->node_name);
        if (spec == nullptr) {
            refuse(Code::PermissionDenied, fmt::format("unknown node name '{}'", hello->node_name));
            return;
        }
        if (hello->cluster_hash != cluster_hash()) {
            refuse(
                Code::PermissionDenied,
                fmt::format("node '{}' uses another cluster key or node list", hello->node_name));
            return;
        }
        // Both ends must agree: a node that encrypts never talks to one that does not (and a
        // man in the middle who flips the flag only gets a refusal, never a clear link).
        if (hello->encrypt != cfg_.encrypt) {
            refuse(Code::PermissionDenied,
                   cfg_.encrypt
                       ? fmt::format("node '{}' does not encrypt its links, but this node "
                                     "requires it (cluster.encrypt)",
                                     hello->node_name)
                       : fmt::format("node '{}' wants an encrypted link, but this node has "
                                     "encryption off (cluster.encrypt); both ends must agree",
                                     hello->node_name));
            return;
        }
        if (replay_.seen_before(hello->nonce)) {
            refuse(
                Code::PermissionDenied,
                fmt::format("replayed handshake from '{}' (nonce seen before)", hello->node_name));
            return;
        }
        p.peer = spec->id;
        p.nonce_i = hello->nonce;
        p.nonce_a = random_nonce();
        wire::AuthChallenge c;
        c.cluster_hash = cluster_hash();
        c.encrypt = cfg_.encrypt;
        c.nonce = p.nonce_a;
        c.tag = handshake_tag(
            cfg_.key, Role::Acceptor, p.nonce_i, p.nonce_a, spec->name, cfg_.self_name);
        c.node_name = cfg_.self_name;
        std::vector<std::byte> frame;
        VR_ASSERT(wire::encode_handshake(c, cfg_.limits, frame).is_ok(),
                  "own Challenge must encode");
        p.conn->send(std::move(frame));
        return;
    }
    auto* resp = std::get_if<wire::AuthResponse>(&hs.value());
    if (resp == nullptr || p.peer == coherence::kNoNode) {
        refuse(Code::ProtocolError, "unexpected handshake message");
        return;
    }
    Link& l = *links_.at(p.peer);
    Tag want =
        handshake_tag(cfg_.key, Role::Initiator, p.nonce_i, p.nonce_a, l.spec.name, cfg_.self_name);
    if (!tags_equal(want, resp->tag)) {
        refuse(Code::PermissionDenied,
               fmt::format("node '{}' failed the challenge (wrong key or replayed response)",
                           l.spec.name));
        return;
    }
    // Adopt the socket as the peer's link (replacing any older connection), then welcome it.
    int new_fd = p.conn->detach();
    if (new_fd < 0) {
        return;  // it sent before it was welcomed: closed (and forgotten) by detach()
    }
    if (l.reconnect_timer != 0) {
        loop_.cancel_timer(l.reconnect_timer);
        l.reconnect_timer = 0;
    }
    loop_.post([this, id] { pending_.erase(id); });
    if (l.conn) {
        l.conn->close(Status(Code::Unavailable, "replaced by a new connection"));
    }
    l.conn = std::make_unique<Connection>(
        loop_, new_fd, cfg_.limits, l.spec.name, cfg_.queued_max_bytes);
    ++l.generation;
    NodeId peer = l.spec.id;
    Status s = l.conn->start([this, peer](Frame&& fr) { on_frame(peer, std::move(fr)); },
                             [this, peer](const Status& why) { link_lost(peer, why); });
    if (!s.is_ok()) {
        link_lost(peer, s);
        return;
    }
    wire::AuthWelcome w;
    w.encrypt = cfg_.encrypt;
    std::vector<std::byte> frame;
    VR_ASSERT(wire::encode_handshake(w, cfg_.limits, frame).is_ok(), "own Welcome must encode");
    l.conn->send(std::move(frame));
    if (cfg_.encrypt) {
        // The Welcome above is the last frame in the clear; the initiator's next frames are
        // sealed too (it sends nothing between its Response and our Welcome).
        l.conn->set_encryption(derive_session_keys(cfg_.key, Role::Acceptor, p.nonce_i, p.nonce_a));
    }
    link_up(l);
}

void Transport::on_frame(NodeId peer, Frame&& f) {
    Link& l = *links_.at(peer);
    l.last_heard = runtime::monotonic_us();
    if (l.state == LinkState::Handshake) {
        on_handshake_frame(l, std::move(f));
        return;
    }
    if (f.header.type == wire::FrameType::Ping || f.header.type == wire::FrameType::Pong) {
        auto t = wire::decode_ping(f.header, f.body);
        if (!t.is_ok()) {
            l.conn->close(
                t.status().with_context(fmt::format("bad heartbeat from {}", l.spec.name)));
            return;
        }
        if (f.header.type == wire::FrameType::Ping) {
            std::vector<std::byte> frame;
            VR_ASSERT(wire::encode_ping(/*pong=*/true, t.value(), frame).is_ok(),
                      "pong must encode");
            l.conn->send(std::move(frame));
        } else {
            l.rtt_us = runtime::monotonic_us() - static_cast<int64_t>(t.value());
        }
        return;
    }
    if (wire::family_of(f.header.type) == wire::Family::Meta) {
        on_meta_frame(l, std::move(f));
        return;
    }
    if (wire::family_of(f.header.type) != wire::Family::Peer) {
        l.conn->close(Status(
            Code::ProtocolError,
            fmt::format(
                "unexpected {} frame from {}", wire::type_name(f.header.type), l.spec.name)));
        return;
    }
    auto m = wire::decode_peer(
        f.header, f.body, std::move(f.pages), cfg_.limits, wire::LinkEnds{peer, cfg_.self});
    if (!m.is_ok()) {
        log(fmt::format("closing the link to {}: {}", l.spec.name, m.status().to_string()));
        l.conn->close(m.status());
        return;
    }
    handler_.on_message(m.value());
}

void Transport::on_meta_frame(Link& l, Frame&& f) {
    NodeId peer = l.spec.id;
    auto fail = [&](const Status& why) {
        log(fmt::format("closing the link to {}: {}", l.spec.name, why.to_string()));
        l.conn->close(why);
    };
    switch (f.header.type) {
        case wire::FrameType::Volumes: {
            auto v = wire::decode_volumes(f.header, f.body, cfg_.limits);
            if (!v.is_ok()) {
                fail(v.status());
                return;
            }
            if (handler_.on_volumes) {
                handler_.on_volumes(peer, std::move(v).value());
            }
            return;
        }
        case wire::FrameType::MetaRequest: {
            auto r = wire::decode_meta_request(f.header, f.body, cfg_.limits);
            if (!r.is_ok()) {
                fail(r.status());
                return;
            }
            if (handler_.on_meta_request) {
                handler_.on_meta_request(peer, f.header.id, std::move(r).value());
            } else {
                log(fmt::format("dropped a metadata request from {}: no handler", l.spec.name));
            }
            return;
        }
        case wire::FrameType::MetaReply: {
            auto r = wire::decode_meta_reply(f.header, f.body, cfg_.limits);
            if (!r.is_ok()) {
                fail(r.status());
                return;
            }
            if (handler_.on_meta_reply) {
                handler_.on_meta_reply(peer, f.header.id, std::move(r).value());
            }
            return;
        }
        default:
            break;
    }
    VR_UNREACHABLE("metadata frame type {} without a decoder", wire::type_name(f.header.type));
}

void Transport::on_handshake_frame(Link& l, Frame&& f) {
    auto fail = [&](const std::string& why) {
        log(fmt::format("handshake with {} failed: {}", l.spec.name, why));
        l.conn->close(Status(Code::PermissionDenied, why));
    };
    if (wire::family_of(f.header.type) != wire::Family::Handshake) {
        fail("peer sent data before the handshake completed");
        return;
    }
    auto hs = wire::decode_handshake(f.header, f.body, cfg_.limits);
    if (!hs.is_ok()) {
        fail(hs.status().to_string());
        return;
    }
    if (auto* c = std::get_if<wire::AuthChallenge>(&hs.value())) {
        if (c->node_name != l.spec.name) {
            fail(fmt::format("expected node '{}' but '{}' answered", l.spec.name, c->node_name));
            return;
        }
        Tag want = handshake_tag(
            cfg_.key, Role::Acceptor, l.nonce_i, c->nonce, cfg_.self_name, l.spec.name);
        if (!tags_equal(want, c->tag)) {
            fail("the acceptor failed the challenge (wrong key)");
            return;
        }
        if (c->encrypt != cfg_.encrypt) {
            fail(cfg_.encrypt ? "the acceptor would not encrypt the link, but this node requires "
                                "it (cluster.encrypt)"
                              : "the acceptor would encrypt the link, but this node has "
                                "encryption off (cluster.encrypt); both ends must agree");
            return;
        }
        l.nonce_a = c->nonce;
        wire::AuthResponse r;
        r.tag = handshake_tag(
            cfg_.key, Role::Initiator, l.nonce_i, c->nonce, cfg_.self_name, l.spec.name);
        std::vector<std::byte> frame;
        VR_ASSERT(wire::encode_handshake(r, cfg_.limits, frame).is_ok(),
                  "own Response must encode");
        l.conn->send(std::move(frame));
        return;
    }
    if (auto* w = std::get_if<wire::AuthWelcome>(&hs.value())) {
        if (w->encrypt != cfg_.encrypt) {
            fail("the acceptor's welcome disagrees on encryption");
            return;
        }
        if (cfg_.encrypt) {
            // This Welcome was the last frame in the clear (we are in its on_frame).
            l.conn->set_encryption(
                derive_session_keys(cfg_.key, Role::Initiator, l.nonce_i, l.nonce_a));
        }
        link_up(l);
        return;
    }
    if (auto* r = std::get_if<wire::AuthRefuse>(&hs.value())) {
        fail(fmt::format("refused by the peer: {}", r->reason));
        return;
    }
    fail("unexpected handshake message");
}

void Transport::link_up(Link& l) {
    loop_.cancel_timer(l.handshake_timer);
    l.handshake_timer = 0;
    l.state = LinkState::Up;
    l.backoff_us = 50'000;
    l.last_heard = runtime::monotonic_us();
    l.down_since = 0;
    l.silent = false;
    log(fmt::format("link to {} is up{}", l.spec.name, cfg_.encrypt ? " (encrypted)" : ""));
    // Our volume list goes first, so the peer has it before any message the owner sends below.
    queue(l, volumes_frame_, {});
    // Messages may have been lost with an old connection, or sent while there was none (send()
    // refuses then): the owner resynchronises on every link-up, the first one included.
    if (handler_.on_link_reset) {
        handler_.on_link_reset(l.spec.id);
    }
    if (handler_.on_link_up) {
        handler_.on_link_up(l.spec.id);
    }
}

void Transport::link_lost(NodeId peer, const Status& why) {
    Link& l = *links_.at(peer);
    if (l.state == LinkState::Up) {
        log(fmt::format("link to {} lost: {}", l.spec.name, why.to_string()));
        ++l.resets;
    }
    loop_.cancel_timer(l.handshake_timer);
    l.handshake_timer = 0;
    l.state = LinkState::Down;
    if (l.down_since == 0) {
        l.down_since = runtime::monotonic_us();
    }
    if (l.conn) {
        const ConnectionStats& s = l.conn->stats();
        l.closed_stats.frames_in += s.frames_in;
        l.closed_stats.frames_out += s.frames_out;
        l.closed_stats.page_bytes_out += s.page_bytes_out;
        l.closed_stats.file_bytes_out += s.file_bytes_out;
        l.closed_stats.file_bytes_copied += s.file_bytes_copied;
        // Destroy outside the connection's own callback.
        loop_.post([c = std::shared_ptr<Connection>(std::move(l.conn))] {});
    }
    schedule_reconnect(peer);
}

Transport::Link* Transport::up_link(NodeId peer) {
    auto it = links_.find(peer);
    if (it == links_.end() || it->second->state != LinkState::Up || !it->second->conn) {
        return nullptr;
    }
    return it->second.get();
}

bool Transport::reset_hook(Link& l) {
    if (cfg_.reset_ppm != 0 && rng_() % 1'000'000 < cfg_.reset_ppm) {
        l.conn->close(Status(Code::IoError, "test hook: connection broken"));
        return true;
    }
    return false;
}

int64_t Transport::due_time(Link& l) {
    if (cfg_.delay_us == 0 && cfg_.loss_ppm == 0) {
        return 0;
    }
    int64_t due = runtime::monotonic_us() + cfg_.delay_us;
    if (l.stall_until > due) {
        due = l.stall_until;  // behind a "retransmission": FIFO
    } else if (cfg_.loss_ppm != 0 && rng_() % 1'000'000 < cfg_.loss_ppm) {
        due += cfg_.loss_rto_us;  // lost: TCP sends it again after its RTO
        ++l.test_losses;
    }
    l.stall_until = due;
    return due;
}

void Transport::after_delay(Link& l, int64_t due, std::function<void(Connection&)> send_on) {
    NodeId to = l.spec.id;
    uint64_t generation = l.generation;
    auto id = std::make_shared<uint64_t>(0);
    // Timers due at the same time run in the order they were added, and due times never go
    // back: FIFO is kept.
    *id = loop_.add_timer(due, [this, to, generation, id, send_on = std::move(send_on)] {
        delayed_.erase(*id);
        Link* x = up_link(to);
        if (x != nullptr && x->generation == generation) {
            send_on(*x->conn);
        }
    });
    delayed_.insert(*id);
}

bool Transport::queue(Link& l, std::vector<std::byte> head, std::vector<coherence::PageBuf> pages) {
    int64_t due = due_time(l);
    if (due == 0) {
        return l.conn->send(std::move(head), std::move(pages));
    }
    after_delay(l, due, [head = std::move(head), pages = std::move(pages)](Connection& c) {
        c.send(head, pages);
    });
    return true;
}

bool Transport::queue_file(Link& l, std::vector<std::byte> head, FileSegment segment) {
    int64_t due = due_time(l);
    if (due == 0) {
        return l.conn->send_file(std::move(head), segment);
    }
    // Shared so that the timer's task stays copyable; closed with it if it never runs.
    auto file = std::make_shared<OwnedFd>(segment.fd);
    after_delay(l, due, [head = std::move(head), segment, file](Connection& c) {
        FileSegment s = segment;
        s.fd = file->release();
        c.send_file(head, s);
    });
    return true;
}

bool Transport::send(const Message& msg) {
    if (msg.to == cfg_.self) {
        Message copy = msg;
        return loop_.post([this, copy] { handler_.on_message(copy); });
    }
    Link* l = up_link(msg.to);
    if (l == nullptr || reset_hook(*l)) {
        return false;
    }
    std::vector<std::byte> head;
    std::vector<coherence::PageBuf> data;
    Status s = wire::encode_peer(msg, cfg_.limits, head, data);
    if (!s.is_ok()) {
        log(fmt::format("cannot encode {}: {}", coherence::to_string(msg), s.to_string()));
        return false;
    }
    return queue(*l, std::move(head), std::move(data));
}

bool Transport::send_from_file(const Message& msg, FileSegment segment) {
    OwnedFd file(segment.fd);  // ours whatever happens
    std::vector<std::byte> head;
    Status s = wire::encode_peer_streamed(msg, cfg_.limits, head);
    if (!s.is_ok()) {
        log(fmt::format("cannot encode {}: {}", coherence::to_string(msg), s.to_string()));
        return false;
    }
    uint64_t page_size = cfg_.limits.page_size;
    uint64_t data_len = msg.range.count * page_size;  // range checked by the encoder
    if (segment.file_bytes > data_len || segment.zero_bytes != data_len - segment.file_bytes) {
        log(fmt::format("cannot send {}: a file segment of {} + {} bytes for {} bytes of pages",
                        coherence::to_string(msg),
                        segment.file_bytes,
                        segment.zero_bytes,
                        data_len));
        return false;
    }
    if (msg.to == cfg_.self) {
        // No socket to sendfile into: read the pages, as the receiver would have them.
        Message copy = msg;
        copy.data_from_store = false;
        for (uint64_t i = 0; i < msg.range.count; ++i) {
            uint64_t at = i * page_size;
            uint64_t from_file = segment.file_bytes > at ? segment.file_bytes - at : 0;
            FileSegment part{file.get(),
                             segment.offset + at,
                             std::min(from_file, page_size),
                             page_size - std::min(from_file, page_size)};
            auto page = std::make_shared<std::vector<std::byte>>(page_size);
            auto read = read_segment(part, *page);
            if (!read.is_ok()) {
                log(fmt::format(
                    "cannot send {}: {}", coherence::to_string(msg), read.status().to_string()));
                return false;
            }
            copy.pages.push_back(std::move(page));
        }
        return loop_.post([this, copy] { handler_.on_message(copy); });
    }
    Link* l = up_link(msg.to);
    if (l == nullptr || reset_hook(*l)) {
        return false;
    }
    segment.fd = file.release();
    return queue_file(*l, std::move(head), segment);
}

void Transport::set_volumes(wire::VolumesMsg volumes) {
    std::vector<std::byte> frame;
    Status s = wire::encode_volumes(volumes, cfg_.limits, frame);
    VR_ASSERT(s.is_ok(), "this node's volume list does not encode: {}", s.to_string());
    volumes_frame_ = std::move(frame);
    for (auto& [id, l] : links_) {
        if (l->state == LinkState::Up && l->conn) {
            queue(*l, volumes_frame_, {});
        }
    }
}

Status Transport::send_meta_request(NodeId peer, uint64_t id, const wire::MetaRequest& req) {
    std::vector<std::byte> frame;
    Status s = wire::encode_meta_request(id, req, cfg_.limits, frame);
    if (!s.is_ok()) {
        log(fmt::format("cannot send a metadata request to node {}: {}", peer, s.to_string()));
        return s;
    }
    if (peer == cfg_.self) {
        if (!handler_.on_meta_request ||
            !loop_.post([this, id, req] { handler_.on_meta_request(cfg_.self, id, req); })) {
            return Status(Code::Unavailable, "the event loop has stopped");
        }
        return Status::ok();
    }
    Link* l = up_link(peer);
    if (l == nullptr || reset_hook(*l)) {
        return Status(Code::Unavailable, "the link is down");
    }
    if (!queue(*l, std::move(frame), {})) {
        return Status(Code::Unavailable, "the link's send queue is full");
    }
    return Status::ok();
}

bool Transport::send_meta_reply(NodeId peer, uint64_t id, const wire::MetaReply& reply) {
    std::vector<std::byte> frame;
    Status s = wire::encode_meta_reply(id, reply, cfg_.limits, frame);
    if (!s.is_ok()) {
        log(fmt::format("cannot send a metadata reply to node {}: {}", peer, s.to_string()));
        return false;
    }
    if (peer == cfg_.self) {
        if (!handler_.on_meta_reply) {
            return false;
        }
        return loop_.post([this, id, reply] { handler_.on_meta_reply(cfg_.self, id, reply); });
    }
    Link* l = up_link(peer);
    if (l == nullptr || reset_hook(*l)) {
        return false;
    }
    return queue(*l, std::move(frame), {});
}

void Transport::heartbeat() {
    int64_t now = runtime::monotonic_us();
    for (auto& [id, lp] : links_) {
        Link& l = *lp;
        if (l.state != LinkState::Up || !l.conn) {
            continue;
        }
        if (now - l.last_heard > cfg_.failure_us) {
            l.silent = true;  // down at once for the owner, not after another failure_us
            l.conn->close(Status(
                Code::Timeout,
                fmt::format(
                    "nothing heard from {} for {} ms", l.spec.name, (now - l.last_heard) / 1000)));
            continue;
        }
        std::vector<std::byte> frame;
        VR_ASSERT(wire::encode_ping(/*pong=*/false, static_cast<uint64_t>(now), frame).is_ok(),
                  "ping must encode");
        l.conn->send(std::move(frame));
    }
    heartbeat_timer_ = loop_.add_timer(now + cfg_.heartbeat_us, [this] { heartbeat(); });
}

LinkInfo Transport::info(NodeId peer) const {
    LinkInfo i;
    auto it = links_.find(peer);
    if (it == links_.end()) {
        return i;
    }
    const Link& l = *it->second;
    i.state = l.state;
    i.rtt_us = l.rtt_us;
    i.resets = l.resets;
    i.frames_in = l.closed_stats.frames_in + (l.conn ? l.conn->stats().frames_in : 0);
    i.frames_out = l.closed_stats.frames_out + (l.conn ? l.conn->stats().frames_out : 0);
    i.page_bytes_out =
        l.closed_stats.page_bytes_out + (l.conn ? l.conn->stats().page_bytes_out : 0);
    i.file_bytes_out =
        l.closed_stats.file_bytes_out + (l.conn ? l.conn->stats().file_bytes_out : 0);
    i.file_bytes_copied =
        l.closed_stats.file_bytes_copied + (l.conn ? l.conn->stats().file_bytes_copied : 0);
    i.encrypted = l.conn && l.conn->encrypted();
    i.test_losses = l.test_losses;
    i.unreachable = l.state != LinkState::Up &&
                    (l.silent || runtime::monotonic_us() - l.down_since >= cfg_.failure_us);
    return i;
}

}  // namespace vr::net
