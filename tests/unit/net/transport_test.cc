// Transport: two or three nodes in one process (one event loop, loopback ports). Links come up
// only after the mutual handshake; messages cross intact and in order; a wrong key, an unknown
// node name and a replayed handshake are refused with a log line that says why; a peer that
// disappears is noticed within the failure timeout and the link comes back with a reset notice.
#include "net/transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire/handshake.h"

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
    h.on_message = [&n](const Message& m) { n.got.push_back(m); };
    h.on_link_reset = [&n](coherence::NodeId) { ++n.resets; };
    h.on_link_up = [&n](coherence::NodeId) { ++n.ups; };
    h.log = [&n](const std::string& l) { n.logs.push_back(l); };
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
    Tag t = handshake_tag(kKey, Role::Acceptor, Nonce{}, Nonce{}, "cluster-id", "cluster-id");
    std::memcpy(&h.cluster_hash, t.data(), sizeof h.cluster_hash);
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

}  // namespace
}  // namespace vr::net
