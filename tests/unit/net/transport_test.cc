// Transport: two or three nodes in one process (one event loop, loopback ports). Links come up
// only after the mutual handshake; messages cross intact and in order; a wrong key, an unknown
// node name and a replayed handshake are refused with a log line that says why; a peer that
// disappears is noticed within the failure timeout and the link comes back with a reset notice.
// Pages sent from a file (sendfile) arrive as the file's bytes; each side's volume list arrives
// first on every new link; metadata requests and replies cross; a malformed metadata frame from
// an authenticated peer closes its link with a log line. Encrypted links carry all of it with
// no plaintext visible to a relay in the middle; a byte the relay flips closes the link; nodes
// that disagree on encryption never link.
#include "net/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <optional>

#include "wire/handshake.h"
#include "wire/meta.h"
#include "wire/peer.h"

namespace vr::net {
namespace {

using coherence::Message;
using coherence::MsgType;

const ClusterKey kKey = key_from_secret("transport-test-cluster-secret-0123456789");

struct Node {
    std::vector<Message> got;
    std::vector<std::string> logs;
    int resets = 0;
    int ups = 0;
    std::vector<wire::VolumesMsg> volumes;
    std::vector<std::pair<uint64_t, wire::MetaRequest>> requests;
    std::vector<std::pair<uint64_t, wire::MetaReply>> replies;
    // What the handler saw, in order: "up", "volumes", "message", "request", "reply".
    std::vector<std::string> events;
    std::function<void(coherence::NodeId)> after_up;
    std::function<void(coherence::NodeId, uint64_t, const wire::MetaRequest&)> answer;
    std::unique_ptr<Transport> t;
};

TransportConfig config(coherence::NodeId self,
                       const std::string& name,
                       std::vector<PeerSpec> peers,
                       ClusterKey key = kKey) {
    TransportConfig c;
    c.self = self;
    c.self_name = name;
    c.listen_host = "127.0.0.1";
    c.listen_port = 0;  // any free port; peers are told the bound one
    c.peers = std::move(peers);
    c.key = key;
    c.heartbeat_us = 20'000;
    c.failure_us = 200'000;
    c.handshake_timeout_us = 500'000;
    c.backoff_max_us = 100'000;
    return c;
}

void make(runtime::EventLoop& loop, Node& n, TransportConfig c) {
    Transport::Handler h;
    h.on_message = [&n](const Message& m) {
        n.got.push_back(m);
        n.events.push_back("message");
    };
    h.on_link_reset = [&n](coherence::NodeId) { ++n.resets; };
    h.on_link_up = [&n](coherence::NodeId peer) {
        ++n.ups;
        n.events.push_back("up");
        if (n.after_up) {
            n.after_up(peer);
        }
    };
    h.log = [&n](const std::string& l) { n.logs.push_back(l); };
    h.on_volumes = [&n](coherence::NodeId, wire::VolumesMsg v) {
        n.volumes.push_back(std::move(v));
        n.events.push_back("volumes");
    };
    h.on_meta_request = [&n](coherence::NodeId from, uint64_t id, wire::MetaRequest r) {
        n.requests.emplace_back(id, r);
        n.events.push_back("request");
        if (n.answer) {
            n.answer(from, id, r);
        }
    };
    h.on_meta_reply = [&n](coherence::NodeId, uint64_t id, wire::MetaReply r) {
        n.replies.emplace_back(id, std::move(r));
        n.events.push_back("reply");
    };
    n.t = std::make_unique<Transport>(loop, std::move(c), std::move(h));
}

// Runs the loop until pred() or the deadline; returns pred().
template <typename Pred>
bool run_until(runtime::EventLoop& loop, Pred pred, int64_t max_us = 3'000'000) {
    int64_t end = runtime::monotonic_us() + max_us;
    std::function<void()> check = [&] {
        if (pred() || runtime::monotonic_us() > end) {
            loop.stop();
            return;
        }
        loop.add_timer(runtime::monotonic_us() + 2'000, check);
    };
    loop.add_timer(runtime::monotonic_us(), check);
    EXPECT_TRUE(loop.run().is_ok());
    return pred();
}

uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

bool any_log(const Node& n, const std::string& part) {
    for (const auto& l : n.logs) {
        if (l.find(part) != std::string::npos) {
            return true;
        }
    }
    return false;
}

// Two nodes, n0 and n1, configured for each other on free loopback ports.
struct TwoNodes {
    TwoNodes() {
        uint16_t p0 = free_port();
        uint16_t p1 = free_port();
        ca = config(0, "n0", {{1, "n1", "127.0.0.1", p1}});
        ca.listen_port = p0;
        cb = config(1, "n1", {{0, "n0", "127.0.0.1", p0}});
        cb.listen_port = p1;
    }
    runtime::EventLoop loop;
    Node a;
    Node b;
    TransportConfig ca;
    TransportConfig cb;
};

TEST(Transport, AuthenticatedLinkCarriesMessagesInOrder) {
    TwoNodes t;
    auto& [loop, a, b, ca, cb] = t;
    make(loop, a, ca);
    make(loop, b, cb);
    ASSERT_TRUE(b.t->start().is_ok());
    ASSERT_TRUE(a.t->start().is_ok());
    ASSERT_TRUE(run_until(loop, [&] {
        return a.t->info(1).state == LinkState::Up && b.t->info(0).state == LinkState::Up;
    }));
    for (uint64_t i = 0; i < 100; ++i) {
        Message m;
        m.type = MsgType::GetS;
        m.from = 0;
        m.to = 1;
        m.session = 5;
        m.id = i + 1;
        m.file = coherence::FileId{1, 9};
        m.range = coherence::Range{i, 1};
        ASSERT_TRUE(a.t->send(m));
    }
    ASSERT_TRUE(run_until(loop, [&] { return b.got.size() == 100; }));
    for (uint64_t i = 0; i < 100; ++i) {
        EXPECT_EQ(b.got[i].id, i + 1) << "FIFO";
    }
    EXPECT_TRUE(run_until(loop, [&] { return a.t->info(1).rtt_us >= 0; }))
        << "heartbeats measure the RTT";
}

TEST(Transport, WrongKeyUnknownNameAndReplayAreRefused) {
    runtime::EventLoop loop;
    uint16_t p0 = free_port();
    uint16_t p1 = free_port();
    Node acceptor;
    auto cb = config(1, "n1", {{0, "n0", "127.0.0.1", p0}});
    cb.listen_port = p1;
    make(loop, acceptor, cb);
    ASSERT_TRUE(acceptor.t->start().is_ok());

    Node wrong_key;
    auto ca = config(0,
                     "n0",
                     {{1, "n1", "127.0.0.1", p1}},
                     key_from_secret("some other cluster's secret, long enough"));
    ca.listen_port = p0;
    make(loop, wrong_key, ca);
    ASSERT_TRUE(wrong_key.t->start().is_ok());
    EXPECT_TRUE(run_until(
        loop, [&] { return any_log(acceptor, "another cluster key"); }, 2'000'000));
    EXPECT_NE(acceptor.t->info(0).state, LinkState::Up);
    wrong_key.t.reset();

    // The right key but another node list: the two would number the nodes differently.
    Node other_list;
    auto cl = config(0, "n0", {{1, "n1", "127.0.0.1", p1}, {2, "n2", "127.0.0.1", free_port()}});
    cl.listen_port = p0;
    make(loop, other_list, cl);
    ASSERT_TRUE(other_list.t->start().is_ok());
    EXPECT_TRUE(run_until(
        loop, [&] { return any_log(acceptor, "another cluster key or node list"); }, 2'000'000));
    EXPECT_NE(acceptor.t->info(0).state, LinkState::Up);
    other_list.t.reset();

    Node stranger;
    auto cs = config(0, "intruder", {{1, "n1", "127.0.0.1", p1}});
    cs.listen_port = free_port();
    make(loop, stranger, cs);
    ASSERT_TRUE(stranger.t->start().is_ok());
    EXPECT_TRUE(run_until(
        loop, [&] { return any_log(acceptor, "unknown node name 'intruder'"); }, 2'000'000));
    stranger.t.reset();

    // Replay: send the same Hello twice on raw sockets.
    wire::AuthHello h;
    h.cluster_hash = cluster_id(kKey, {"n0", "n1"});
    h.nonce = random_nonce();
    h.node_name = "n0";
    std::vector<std::byte> frame;
    ASSERT_TRUE(wire::encode_handshake(h, wire::Limits{}, frame).is_ok());
    for (int i = 0; i < 2; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(p1);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ASSERT_EQ(write(fd, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
        // Wait for the acceptor's answer (a Challenge the first time, a refusal the second).
        char c;
        EXPECT_TRUE(run_until(
            loop, [&] { return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0; }, 1'000'000));
        close(fd);
    }
    EXPECT_TRUE(any_log(acceptor, "replayed handshake from 'n0'"))
        << ::testing::PrintToString(acceptor.logs);
    EXPECT_NE(acceptor.t->info(0).state, LinkState::Up);
}

TEST(Transport, GarbageFromAPeerPortIsRefusedAndTheNodeKeepsServing) {
    TwoNodes t;
    auto& [loop, a, b, ca, cb] = t;
    make(loop, b, cb);
    ASSERT_TRUE(b.t->start().is_ok());
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(cb.listen_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string junk(100, 'x');
    ASSERT_EQ(write(fd, junk.data(), junk.size()), 100);
    EXPECT_TRUE(run_until(
        loop, [&] { return any_log(b, "closed during the handshake"); }, 1'000'000));
    close(fd);
    make(loop, a, ca);
    ASSERT_TRUE(a.t->start().is_ok());
    EXPECT_TRUE(run_until(loop, [&] { return b.t->info(0).state == LinkState::Up; }))
        << "honest peers still get in";
}

TEST(Transport, APeerThatDisappearsIsNoticedAndTheLinkComesBackWithAReset) {
    TwoNodes t;
    auto& [loop, a, b, ca, cb] = t;
    make(loop, a, ca);
    make(loop, b, cb);
    ASSERT_TRUE(b.t->start().is_ok());
    ASSERT_TRUE(a.t->start().is_ok());
    ASSERT_TRUE(run_until(loop, [&] { return a.t->info(1).state == LinkState::Up; }));
    int64_t t0 = runtime::monotonic_us();
    b.t.reset();  // the peer's process is gone
    ASSERT_TRUE(run_until(loop, [&] { return a.t->info(1).state != LinkState::Up; }));
    EXPECT_LT(runtime::monotonic_us() - t0, 200'000 + 100'000)
        << "noticed within the failure timeout";
    make(loop, b, cb);
    ASSERT_TRUE(b.t->start().is_ok());
    ASSERT_TRUE(run_until(loop, [&] { return a.t->info(1).state == LinkState::Up; }));
    EXPECT_GE(a.resets, 1) << "the owner is told that messages may have been lost";
}

// Starts both nodes of `t` and waits for their link.
void link(TwoNodes& t) {
    make(t.loop, t.a, t.ca);
    make(t.loop, t.b, t.cb);
    ASSERT_TRUE(t.b.t->start().is_ok());
    ASSERT_TRUE(t.a.t->start().is_ok());
    ASSERT_TRUE(run_until(t.loop, [&] {
        return t.a.t->info(1).state == LinkState::Up && t.b.t->info(0).state == LinkState::Up;
    }));
}

// A real file (unlinked at once) holding `bytes`.
int temp_file(const std::vector<std::byte>& bytes) {
    std::string path = ::testing::TempDir() + "vr-transport-test-XXXXXX";
    int fd = mkstemp(path.data());
    EXPECT_GE(fd, 0) << std::strerror(errno);
    unlink(path.c_str());
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    return fd;
}

std::vector<std::byte> pattern(size_t n, uint8_t salt) {
    std::vector<std::byte> out(n);
    for (size_t i = 0; i < n; ++i) {
        out[i] = static_cast<std::byte>((i * 13 + salt) % 251 + 1);  // never 0, unlike padding
    }
    return out;
}

Message data_s(coherence::NodeId from, coherence::NodeId to, uint64_t id, uint64_t count) {
    Message m;
    m.type = MsgType::DataS;
    m.from = from;
    m.to = to;
    m.session = 3;
    m.incarnation = 1;
    m.id = id;
    m.file = coherence::FileId{from, 42};
    m.range = coherence::Range{0, count};
    m.data_from_store = true;
    return m;
}

std::vector<std::byte> joined(const Message& m) {
    std::vector<std::byte> out;
    for (const auto& pg : m.pages) {
        out.insert(out.end(), pg->begin(), pg->end());
    }
    return out;
}

// The file's bytes, then zeros up to `length`.
std::vector<std::byte> padded(std::vector<std::byte> file, size_t length) {
    file.resize(length, std::byte{0});
    return file;
}

TEST(Transport, PagesSentFromAFileArriveAsTheFilesBytes) {
    TwoNodes t;
    link(t);
    auto& [loop, a, b, ca, cb] = t;
    uint32_t ps = ca.limits.page_size;
    // A file of 2.5 pages sent as 3 pages (the tail padded), and one that shrank: the home
    // meant to send 4 pages of it, but it now holds one and a bit.
    std::vector<std::byte> whole = pattern(2 * ps + ps / 2, 1);
    std::vector<std::byte> shrunk = pattern(ps + 100, 2);
    ASSERT_TRUE(a.t->send_from_file(data_s(0, 1, 7, 3),
                                    FileSegment{temp_file(whole), 0, whole.size(), ps / 2}));
    ASSERT_TRUE(
        a.t->send_from_file(data_s(0, 1, 8, 4), FileSegment{temp_file(shrunk), 0, 4u * ps, 0}));
    ASSERT_TRUE(run_until(loop, [&] { return b.got.size() == 2; }));
    EXPECT_EQ(b.got[0].id, 7u);
    EXPECT_EQ(joined(b.got[0]), padded(whole, 3u * ps));
    EXPECT_EQ(b.got[1].id, 8u);
    EXPECT_EQ(joined(b.got[1]), padded(shrunk, 4u * ps));
    EXPECT_FALSE(b.got[0].data_from_store);
    EXPECT_EQ(a.t->info(1).file_bytes_out, whole.size() + shrunk.size())
        << "the file's bytes went out with sendfile";

    // To self there is no socket: the pages are read, the same bytes are delivered.
    ASSERT_TRUE(a.t->send_from_file(data_s(0, 0, 9, 3),
                                    FileSegment{temp_file(whole), 0, whole.size(), ps / 2}));
    ASSERT_TRUE(run_until(loop, [&] { return a.got.size() == 1; }));
    EXPECT_EQ(joined(a.got[0]), padded(whole, 3u * ps));

    // A segment that does not match the range is refused (and its file closed).
    int fd = temp_file(whole);
    EXPECT_FALSE(a.t->send_from_file(data_s(0, 1, 10, 3), FileSegment{fd, 0, whole.size(), 0}));
    EXPECT_TRUE(any_log(a, "a file segment of 10240 + 0 bytes for 12288 bytes of pages"));
    EXPECT_EQ(fcntl(fd, F_GETFD), -1);
}

wire::VolumesMsg volumes_of(const std::string& prefix, uint16_t n) {
    wire::VolumesMsg v;
    for (uint16_t i = 0; i < n; ++i) {
        v.volumes.push_back(
            wire::VolumeInfo{prefix + std::to_string(i), i, i % 2 == 1, (uint64_t{i} << 56) | 1});
    }
    return v;
}

TEST(Transport, EachSideGetsTheOthersVolumesFirstOnEveryLink) {
    TwoNodes t;
    auto& [loop, a, b, ca, cb] = t;
    make(loop, a, ca);
    make(loop, b, cb);
    a.t->set_volumes(volumes_of("home", 2));
    b.t->set_volumes(volumes_of("data", 3));
    // Each side sends a message as soon as its link is up: the volume list must be ahead of it.
    auto greet = [&](Node& n, coherence::NodeId self) {
        return [&n, self](coherence::NodeId peer) {
            Message m;
            m.type = MsgType::Hello;
            m.from = self;
            m.to = peer;
            m.incarnation = 1;
            ASSERT_TRUE(n.t->send(m));
        };
    };
    a.after_up = greet(a, 0);
    b.after_up = greet(b, 1);
    ASSERT_TRUE(b.t->start().is_ok());
    ASSERT_TRUE(a.t->start().is_ok());
    ASSERT_TRUE(run_until(loop, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
    EXPECT_EQ(a.events, (std::vector<std::string>{"up", "volumes", "message"}));
    EXPECT_EQ(b.events, (std::vector<std::string>{"up", "volumes", "message"}));
    ASSERT_EQ(a.volumes.size(), 1u);
    EXPECT_EQ(a.volumes[0], volumes_of("data", 3));
    ASSERT_EQ(b.volumes.size(), 1u);
    EXPECT_EQ(b.volumes[0], volumes_of("home", 2));

    // A new list goes to the peers at once.
    b.t->set_volumes(volumes_of("more", 4));
    ASSERT_TRUE(run_until(loop, [&] { return a.volumes.size() == 2; }));
    EXPECT_EQ(a.volumes[1], volumes_of("more", 4));

    // A new link (b restarted, without a list this time) starts with the lists again.
    b.t.reset();
    b.events.clear();
    b.got.clear();
    b.volumes.clear();
    a.events.clear();
    a.got.clear();
    make(loop, b, cb);
    b.after_up = greet(b, 1);
    ASSERT_TRUE(b.t->start().is_ok());
    ASSERT_TRUE(run_until(loop, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
    EXPECT_EQ(b.events, (std::vector<std::string>{"up", "volumes", "message"}));
    EXPECT_EQ(b.volumes.at(0), volumes_of("home", 2));
    EXPECT_EQ(a.events, (std::vector<std::string>{"up", "volumes", "message"}));
    EXPECT_EQ(a.volumes.back(), wire::VolumesMsg{}) << "a node that set no list exports nothing";
}

TEST(Transport, MetadataRequestsAndRepliesCross) {
    TwoNodes t;
    link(t);
    auto& [loop, a, b, ca, cb] = t;
    // b answers every request with the attributes of an ino derived from the request.
    b.answer = [&](coherence::NodeId from, uint64_t id, const wire::MetaRequest& r) {
        wire::MetaReply reply;
        if (r.op == wire::MetaOp::Lookup && r.path == "missing") {
            reply.code = Code::NotFound;
            reply.message = "missing: no such file";
        } else {
            reply.attr =
                wire::MetaAttr{r.ino + 1, wire::MetaType::Regular, 0644, 10, 1, 0, 0, 5, 6};
        }
        ASSERT_TRUE(b.t->send_meta_reply(from, id, reply));
    };
    wire::MetaRequest lookup;
    lookup.op = wire::MetaOp::Lookup;
    lookup.ino = 41;
    lookup.path = "file.txt";
    wire::MetaRequest missing = lookup;
    missing.path = "missing";
    ASSERT_TRUE(a.t->send_meta_request(1, 100, lookup).is_ok());
    ASSERT_TRUE(a.t->send_meta_request(1, 101, missing).is_ok());
    ASSERT_TRUE(run_until(loop, [&] { return a.replies.size() == 2; }));
    ASSERT_EQ(b.requests.size(), 2u);
    EXPECT_EQ(b.requests[0].first, 100u);
    EXPECT_EQ(b.requests[0].second, lookup);
    EXPECT_EQ(a.replies[0].first, 100u);
    ASSERT_TRUE(a.replies[0].second.attr.has_value());
    EXPECT_EQ(a.replies[0].second.attr->ino, 42u);
    EXPECT_EQ(a.replies[1].first, 101u);
    EXPECT_EQ(a.replies[1].second.code, Code::NotFound);
    EXPECT_EQ(a.replies[1].second.message, "missing: no such file");

    // A request that breaks the rules is not sent; one to self is looped back.
    wire::MetaRequest bad = lookup;
    bad.path = "a/b";
    EXPECT_EQ(a.t->send_meta_request(1, 102, bad).code(), Code::InvalidArgument);
    EXPECT_TRUE(any_log(a, "Lookup name has a '/'"));
    EXPECT_EQ(a.t->send_meta_request(1, 0, lookup).code(), Code::InvalidArgument)
        << "id 0 is never a request's";
    ASSERT_TRUE(a.t->send_meta_request(0, 103, lookup).is_ok());
    ASSERT_TRUE(run_until(loop, [&] { return a.requests.size() == 1; }));
    EXPECT_EQ(a.requests[0].first, 103u);
}

uint64_t cluster_hash_of(const ClusterKey& key) {
    return cluster_id(key, {"n0", "n1"});
}

// A peer written by hand on a blocking socket: it runs the initiator's side of the handshake
// as node n0 (running the loop while it waits for answers), then can send raw bytes.
struct RawPeer {
    RawPeer(runtime::EventLoop& l, uint16_t port) : loop(l) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    ~RawPeer() { close(fd); }

    void send_bytes(const std::vector<std::byte>& b) {
        ASSERT_EQ(write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
    }

    // The next handshake frame from the acceptor.
    wire::Handshake read_handshake() {
        char c;
        EXPECT_TRUE(run_until(loop, [&] { return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0; }));
        std::vector<std::byte> head(wire::kHeaderSize);
        EXPECT_EQ(recv(fd, head.data(), head.size(), MSG_WAITALL),
                  static_cast<ssize_t>(head.size()));
        auto h = wire::decode_header(head, wire::Limits{});
        EXPECT_TRUE(h.is_ok()) << h.status().to_string();
        std::vector<std::byte> body(h.is_ok() ? h->body_len : 0);
        EXPECT_EQ(recv(fd, body.data(), body.size(), MSG_WAITALL),
                  static_cast<ssize_t>(body.size()));
        auto m = wire::decode_handshake(h.value(), body, wire::Limits{});
        EXPECT_TRUE(m.is_ok()) << m.status().to_string();
        return m.value();
    }

    void handshake(bool encrypt = false) {
        wire::AuthHello hello;
        hello.cluster_hash = cluster_hash_of(kKey);
        hello.encrypt = encrypt;
        hello.nonce = nonce_i;
        hello.node_name = "n0";
        std::vector<std::byte> frame;
        ASSERT_TRUE(wire::encode_handshake(hello, wire::Limits{}, frame).is_ok());
        send_bytes(frame);
        wire::Handshake c = read_handshake();
        ASSERT_TRUE(std::holds_alternative<wire::AuthChallenge>(c));
        nonce_a = std::get<wire::AuthChallenge>(c).nonce;
        wire::AuthResponse r;
        r.tag = handshake_tag(kKey, Role::Initiator, nonce_i, nonce_a, "n0", "n1");
        ASSERT_TRUE(wire::encode_handshake(r, wire::Limits{}, frame).is_ok());
        send_bytes(frame);
        ASSERT_TRUE(std::holds_alternative<wire::AuthWelcome>(read_handshake()));
    }

    runtime::EventLoop& loop;
    int fd = -1;
    Nonce nonce_i = random_nonce();
    Nonce nonce_a{};
};

TEST(Transport, AMalformedMetadataFrameClosesTheLinkWithALogLine) {
    TwoNodes t;
    auto& [loop, a, b, ca, cb] = t;
    make(loop, b, cb);
    ASSERT_TRUE(b.t->start().is_ok());
    RawPeer peer(loop, cb.listen_port);
    peer.handshake();
    ASSERT_TRUE(run_until(loop, [&] { return b.t->info(0).state == LinkState::Up; }));
    // A valid request with its id zeroed and the body CRC recomputed: only the id rule fails.
    wire::MetaRequest r;
    r.op = wire::MetaOp::GetAttr;
    r.ino = 5;
    std::vector<std::byte> frame;
    ASSERT_TRUE(wire::encode_meta_request(9, r, wire::Limits{}, frame).is_ok());
    std::fill(frame.begin() + 16, frame.begin() + 24, std::byte{0});
    auto h = wire::decode_header(std::span(frame).first(wire::kHeaderSize), wire::Limits{});
    ASSERT_TRUE(h.is_ok());
    uint32_t crc = wire::compute_body_crc(h.value(), std::span(frame).subspan(wire::kHeaderSize));
    for (size_t i = 0; i < 4; ++i) {
        frame[24 + i] = static_cast<std::byte>(crc >> (8 * i));
    }
    peer.send_bytes(frame);
    ASSERT_TRUE(run_until(loop, [&] { return b.t->info(0).state != LinkState::Up; }));
    EXPECT_TRUE(
        any_log(b,
                "closing the link to n0: ProtocolError: peer violated the protocol (MetaRequest "
                "frame has id 0"))
        << ::testing::PrintToString(b.logs);
    EXPECT_TRUE(b.requests.empty());
}

// ------------------------------------------------------------------------------------------
// Encryption

// A TCP relay on the test's loop between n0 (which connects to it) and n1: it forwards every
// byte both ways, keeps a copy of each direction, and can flip one byte of what n0 sends on its
// first connection.
class Tap {
  public:
    Tap(runtime::EventLoop& loop, uint16_t target) : loop_(loop), target_(target) {
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        EXPECT_EQ(listen(listen_fd_, 8), 0);
        socklen_t len = sizeof a;
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        EXPECT_TRUE(loop_.add(listen_fd_, EPOLLIN, [this](uint32_t) { accept_one(); }).is_ok());
    }
    ~Tap() {
        for (Session& s : sessions_) {
            end(s);
        }
        loop_.remove(listen_fd_);
        close(listen_fd_);
    }
    uint16_t port() const { return port_; }

    std::vector<std::byte> upstream;    // what n0 sent, all connections
    std::vector<std::byte> downstream;  // what n1 sent
    std::optional<size_t> flip_at;      // offset in the first connection's upstream

  private:
    struct Session {
        int fd[2] = {-1, -1};               // [0]: n0's side, [1]: n1's side
        std::vector<std::byte> pending[2];  // bytes waiting to be written to fd[i]
        size_t up_offset = 0;
        bool first = false;
    };

    void accept_one() {
        int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            return;
        }
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(target_);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // Loopback: the kernel completes the connection without n1's accept().
        EXPECT_EQ(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
        Session& session = sessions_.emplace_back();
        session.fd[0] = c;
        session.fd[1] = s;
        session.first = sessions_.size() == 1;
        for (int side = 0; side < 2; ++side) {
            EXPECT_TRUE(
                loop_
                    .add(session.fd[side],
                         EPOLLIN,
                         [this, &session, side](uint32_t ev) { on_events(session, side, ev); })
                    .is_ok());
        }
    }

    void on_events(Session& s, int side, uint32_t ev) {
        if ((ev & EPOLLOUT) != 0) {
            flush(s, side);
        }
        if (s.fd[side] >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
            pump(s, side);
        }
    }

    // Reads what `side` sent and queues it for the other side.
    void pump(Session& s, int side) {
        std::array<std::byte, 65536> buf;
        for (;;) {
            ssize_t n = recv(s.fd[side], buf.data(), buf.size(), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                end(s);
                return;
            }
            if (n < 0) {
                break;
            }
            auto bytes = std::span(buf).first(static_cast<size_t>(n));
            if (side == 0) {
                if (s.first && flip_at && *flip_at >= s.up_offset &&
                    *flip_at < s.up_offset + bytes.size()) {
                    bytes[*flip_at - s.up_offset] ^= std::byte{0x01};
                }
                s.up_offset += bytes.size();
            }
            auto& copy = side == 0 ? upstream : downstream;
            copy.insert(copy.end(), bytes.begin(), bytes.end());
            s.pending[1 - side].insert(s.pending[1 - side].end(), bytes.begin(), bytes.end());
        }
        flush(s, 1 - side);
    }

    void flush(Session& s, int side) {
        if (s.fd[side] < 0) {
            return;
        }
        auto& p = s.pending[side];
        while (!p.empty()) {
            ssize_t n = send(s.fd[side], p.data(), p.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    end(s);
                    return;
                }
                break;
            }
            p.erase(p.begin(), p.begin() + n);
        }
        EXPECT_TRUE(loop_.modify(s.fd[side], EPOLLIN | (p.empty() ? 0u : EPOLLOUT)).is_ok());
    }

    // Either side closing ends both, as a relay would.
    void end(Session& s) {
        for (int& fd : s.fd) {
            if (fd >= 0) {
                loop_.remove(fd);
                close(fd);
                fd = -1;
            }
        }
    }

    runtime::EventLoop& loop_;
    uint16_t target_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::list<Session> sessions_;  // stable addresses for the loop's callbacks
};

const std::string kMarker = "VREMOTE-PLAINTEXT-MARKER";

std::vector<std::byte> marked(size_t n) {
    std::vector<std::byte> out(n);
    for (size_t i = 0; i < n; ++i) {
        out[i] = static_cast<std::byte>(kMarker[i % kMarker.size()]);
    }
    return out;
}

bool contains_marker(const std::vector<std::byte>& bytes) {
    auto m = std::as_bytes(std::span(kMarker.data(), kMarker.size()));
    return std::search(bytes.begin(), bytes.end(), m.begin(), m.end()) != bytes.end();
}

// Two nodes linked through a tap, both with `encrypt`.
struct TappedNodes : TwoNodes {
    explicit TappedNodes(bool encrypt) : tap(loop, cb.listen_port) {
        ca.encrypt = encrypt;
        cb.encrypt = encrypt;
        ca.peers[0].port = tap.port();  // n0 connects to n1 through the tap
    }
    Tap tap;
};

// Sends marked pages both ways (from buffers and from a file), a marked metadata request and
// its reply, and a marked volume list; checks that all of it arrived intact.
void exchange_marked_data(TappedNodes& t) {
    auto& a = t.a;
    auto& b = t.b;
    uint32_t ps = t.ca.limits.page_size;
    b.answer = [&](coherence::NodeId from, uint64_t id, const wire::MetaRequest&) {
        wire::MetaReply r;
        r.code = Code::NotFound;
        r.message = kMarker;
        ASSERT_TRUE(b.t->send_meta_reply(from, id, r));
    };
    Message put;
    put.type = MsgType::PutM;
    put.from = 0;
    put.to = 1;
    put.session = 1;
    put.file = coherence::FileId{1, 9};
    put.range = coherence::Range{0, 2};
    put.pages = {std::make_shared<std::vector<std::byte>>(marked(ps)),
                 std::make_shared<std::vector<std::byte>>(marked(ps))};
    ASSERT_TRUE(a.t->send(put));
    std::vector<std::byte> contents = marked(ps + 500);
    ASSERT_TRUE(b.t->send_from_file(
        data_s(1, 0, 4, 2), FileSegment{temp_file(contents), 0, contents.size(), ps - 500}));
    wire::MetaRequest req;
    req.op = wire::MetaOp::GetAttrPath;
    req.path = "dir/" + kMarker;
    ASSERT_TRUE(a.t->send_meta_request(1, 7, req).is_ok());
    ASSERT_TRUE(run_until(
        t.loop, [&] { return b.got.size() == 1 && a.got.size() == 1 && a.replies.size() == 1; }));
    EXPECT_EQ(*b.got[0].pages[1], marked(ps));
    EXPECT_EQ(joined(a.got[0]), padded(contents, 2u * ps));
    EXPECT_EQ(b.requests.at(0).second, req);
    EXPECT_EQ(a.replies[0].second.message, kMarker);
}

TEST(Transport, AnEncryptedLinkCarriesEverythingWithNoPlaintextOnTheWire) {
    TappedNodes t(/*encrypt=*/true);
    link(t);
    EXPECT_TRUE(t.a.t->info(1).encrypted);
    EXPECT_TRUE(t.b.t->info(0).encrypted);
    EXPECT_TRUE(any_log(t.a, "link to n1 is up (encrypted)"));
    t.a.t->set_volumes(wire::VolumesMsg{{{"v" + kMarker, 0, false, 1}}});
    exchange_marked_data(t);
    ASSERT_TRUE(run_until(t.loop, [&] { return t.b.volumes.size() == 2; }));
    EXPECT_EQ(t.b.volumes[1].volumes.at(0).name, "v" + kMarker);
    EXPECT_FALSE(contains_marker(t.tap.upstream)) << "n0 -> n1 leaked plaintext";
    EXPECT_FALSE(contains_marker(t.tap.downstream)) << "n1 -> n0 leaked plaintext";
    // No sendfile with encryption: the file's bytes went through the cipher.
    LinkInfo info = t.b.t->info(0);
    EXPECT_EQ(info.file_bytes_out, 0u);
    EXPECT_EQ(info.file_bytes_copied, t.cb.limits.page_size + 500u);
}

TEST(Transport, WithoutEncryptionTheRelaySeesThePlaintext) {
    // The control for the test above: the same exchange in the clear shows the marker, so the
    // tap does see the traffic.
    TappedNodes t(/*encrypt=*/false);
    link(t);
    EXPECT_FALSE(t.a.t->info(1).encrypted);
    exchange_marked_data(t);
    EXPECT_TRUE(contains_marker(t.tap.upstream));
    EXPECT_TRUE(contains_marker(t.tap.downstream));
    EXPECT_EQ(t.b.t->info(0).file_bytes_out, t.cb.limits.page_size + 500u) << "sendfile";
}

TEST(Transport, AFlippedCiphertextByteClosesTheLinkWithALogLine) {
    TappedNodes t(/*encrypt=*/true);
    // n0 sends its Hello and Response in the clear, then sealed records; flip a byte inside the
    // first record's ciphertext (n0's volume list).
    wire::AuthHello hello;
    hello.node_name = "n0";
    std::vector<std::byte> frame;
    ASSERT_TRUE(wire::encode_handshake(hello, wire::Limits{}, frame).is_ok());
    size_t clear = frame.size();
    ASSERT_TRUE(wire::encode_handshake(wire::AuthResponse{}, wire::Limits{}, frame).is_ok());
    clear += frame.size();
    t.tap.flip_at = clear + 4 + 10;
    make(t.loop, t.a, t.ca);
    make(t.loop, t.b, t.cb);
    ASSERT_TRUE(t.b.t->start().is_ok());
    ASSERT_TRUE(t.a.t->start().is_ok());
    ASSERT_TRUE(run_until(t.loop, [&] { return any_log(t.b, "failed authentication"); }))
        << ::testing::PrintToString(t.b.logs);
    EXPECT_TRUE(any_log(t.b,
                        "link to n0 lost: Corrupt: corrupt input (record 0 from n0 failed "
                        "authentication: it was altered, replayed, reordered or sealed with "
                        "another key)"))
        << ::testing::PrintToString(t.b.logs);
    EXPECT_TRUE(t.b.volumes.empty()) << "nothing of the altered record was delivered";
    // The relay alters only its first connection: n0 reconnects and the link heals.
    ASSERT_TRUE(run_until(t.loop, [&] {
        return t.a.t->info(1).state == LinkState::Up && t.b.t->info(0).state == LinkState::Up &&
               t.b.volumes.size() == 1;
    }));
}

TEST(Transport, NodesThatDisagreeOnEncryptionDoNotLink) {
    for (bool initiator_encrypts : {true, false}) {
        SCOPED_TRACE(initiator_encrypts ? "n0 encrypts, n1 does not" : "n1 encrypts, n0 does not");
        TwoNodes t;
        t.ca.encrypt = initiator_encrypts;
        t.cb.encrypt = !initiator_encrypts;
        make(t.loop, t.a, t.ca);
        make(t.loop, t.b, t.cb);
        ASSERT_TRUE(t.b.t->start().is_ok());
        ASSERT_TRUE(t.a.t->start().is_ok());
        std::string refusal = initiator_encrypts
                                  ? "node 'n0' wants an encrypted link, but this node has "
                                    "encryption off (cluster.encrypt); both ends must agree"
                                  : "node 'n0' does not encrypt its links, but this node "
                                    "requires it (cluster.encrypt)";
        EXPECT_TRUE(run_until(
            t.loop,
            [&] {
                return any_log(t.b, "refused a peer connection: " + refusal) &&
                       any_log(t.a, "handshake with n1 failed: refused by the peer: " + refusal);
            }))
            << ::testing::PrintToString(t.b.logs) << ::testing::PrintToString(t.a.logs);
        EXPECT_NE(t.a.t->info(1).state, LinkState::Up);
        EXPECT_NE(t.b.t->info(0).state, LinkState::Up);
        EXPECT_EQ(t.a.ups + t.b.ups, 0);
    }
}

}  // namespace
}  // namespace vr::net
