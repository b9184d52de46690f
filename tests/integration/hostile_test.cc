// Hostile input against a real daemon. A 3-node cluster runs; node n3 is killed and replaced by
// an impostor that holds the cluster key (the worst case: an authenticated but malicious peer)
// and tries to escape n1's export in every way we know. Unauthenticated attackers then send a
// wrong key, an unknown name, garbage, an oversized and a truncated frame to n1's port, and a
// local client sends a path with a NUL and an over-long path on the client socket. Every attempt
// must be refused with a log line at n1, nothing outside the export may be read or changed, and
// n1 must go on serving its honest peer n2.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "config/config.h"
#include "net/auth.h"
#include "net/transport.h"
#include "node/ino.h"
#include "runtime/event_loop.h"
#include "test_cluster.h"
#include "wire/client.h"
#include "wire/frame.h"
#include "wire/meta.h"

namespace vr::itest {
namespace {

namespace fs = std::filesystem;
using wire::MetaOp;
using wire::MetaRequest;

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// An in-process node with a cluster config's identity, on its own event loop.
struct Impostor {
    runtime::EventLoop loop;
    std::unique_ptr<net::Transport> t;
    std::map<uint64_t, wire::MetaReply> replies;
    std::vector<wire::VolumesMsg> volumes;
    std::vector<coherence::Message> messages;
    std::vector<std::string> logs;
    int ups = 0;

    Impostor(const config::NodeConfig& cfg,
             const std::string& name,
             net::ClusterKey key,
             coherence::NodeId self,
             std::vector<net::PeerSpec> peers) {
        net::TransportConfig tc;
        tc.self = self;
        tc.self_name = name;
        tc.listen_host = cfg.node.listen.host;
        tc.listen_port = cfg.node.listen.port;
        tc.peers = std::move(peers);
        tc.key = key;
        tc.heartbeat_us = 200'000;
        tc.failure_us = 2'000'000;
        net::Transport::Handler h;
        h.on_message = [this](const coherence::Message& m) { messages.push_back(m); };
        h.on_link_reset = [](coherence::NodeId) {};
        h.on_link_up = [this](coherence::NodeId) { ++ups; };
        h.log = [this](const std::string& l) { logs.push_back(l); };
        h.on_volumes = [this](coherence::NodeId, wire::VolumesMsg v) { volumes.push_back(v); };
        h.on_meta_request = [](coherence::NodeId, uint64_t, wire::MetaRequest) {};
        h.on_meta_reply = [this](coherence::NodeId, uint64_t id, wire::MetaReply r) {
            replies[id] = std::move(r);
        };
        t = std::make_unique<net::Transport>(loop, tc, std::move(h));
    }

    template <typename Pred>
    bool run_until(Pred pred, int64_t max_us) {
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
};

std::vector<net::PeerSpec> peers_of(const config::NodeConfig& cfg,
                                    const std::vector<std::string>& sorted_names) {
    std::vector<net::PeerSpec> out;
    for (const auto& p : cfg.peers) {
        auto it = std::find(sorted_names.begin(), sorted_names.end(), p.name);
        out.push_back(net::PeerSpec{static_cast<coherence::NodeId>(it - sorted_names.begin()),
                                    p.name,
                                    p.address.host,
                                    p.address.port});
    }
    return out;
}

int tcp_connect(uint16_t port) {
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
bool closed_by_peer(int fd, int timeout_ms) {
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) {
            return true;
        }
        if (n < 0) {
            return errno == ECONNRESET;
        }
    }
}

TEST(Hostile, PeersAndClientsCannotEscapeOrHurtTheDaemon) {
    TestCluster c(3);
    ASSERT_TRUE(c.up()) << c.up_output();
    const std::string outside = c.dir() + "/outside";
    fs::create_directories(outside);
    {
        std::ofstream(outside + "/secret.txt") << "CANARY";
        std::ofstream(c.export_dir(1) + "/ok.txt") << "inside";
    }
    fs::create_symlink(outside, c.export_dir(1) + "/link_out");
    fs::create_symlink(outside + "/secret.txt", c.export_dir(1) + "/link_file");
    fs::create_symlink("/proc/self/root", c.export_dir(1) + "/magic");
    auto outside_listing = [&] {
        std::string s;
        for (const auto& e : fs::directory_iterator(c.dir())) {
            s += e.path().filename().string() + "\n";
        }
        for (const auto& e : fs::directory_iterator(outside)) {
            s += "outside/" + e.path().filename().string() + "\n";
        }
        return s;
    };
    const std::string before = outside_listing();

    auto cfg3 = config::load_config(c.config(3));
    ASSERT_TRUE(cfg3.is_ok()) << cfg3.status().to_string();
    auto key = net::load_cluster_key(cfg3->cluster.secret_file);
    ASSERT_TRUE(key.is_ok());
    std::vector<std::string> names{"n1", "n2", "n3"};
    uint16_t n1_port = 0;
    for (const auto& p : cfg3->peers) {
        if (p.name == "n1") {
            n1_port = p.address.port;
        }
    }
    ASSERT_NE(n1_port, 0);

    // --- An authenticated impostor in n3's place. ---
    ASSERT_TRUE(c.kill_node(3));
    {
        Impostor imp(cfg3.value(), "n3", key.value(), 2, peers_of(cfg3.value(), names));
        ASSERT_TRUE(imp.t->start().is_ok());
        ASSERT_TRUE(
            imp.run_until([&] { return imp.ups >= 2 && imp.volumes.size() >= 2; }, 15'000'000))
            << "the impostor's links did not come up";
        struct stat st {};
        ASSERT_EQ(::stat((outside + "/secret.txt").c_str(), &st), 0);
        uint64_t outside_ino = node::make_ino(0, st.st_ino).value();
        uint64_t root_ino = 0;
        for (const auto& vm : imp.volumes) {
            for (const auto& v : vm.volumes) {
                if (v.name == "n1") {
                    root_ino = v.root_ino;
                }
            }
        }
        ASSERT_NE(root_ino, 0u);
        auto path_op = [](MetaOp op, std::string path, std::string path2 = {}) {
            MetaRequest r;
            r.op = op;
            r.volume = 0;
            r.path = std::move(path);
            r.path2 = std::move(path2);
            if (op == MetaOp::Create || op == MetaOp::Mkdir) {
                r.mode = 0644;
            }
            if (op == MetaOp::Readdir) {
                r.count = 16;
            }
            return r;
        };
        std::vector<std::pair<std::string, MetaRequest>> attacks{
            {"dotdot getattr", path_op(MetaOp::GetAttrPath, "../outside/secret.txt")},
            {"absolute getattr", path_op(MetaOp::GetAttrPath, "/etc/passwd")},
            {"dotdot create", path_op(MetaOp::Create, "../escaped.txt")},
            {"inner dotdot mkdir", path_op(MetaOp::Mkdir, "a/../../evil")},
            {"symlink dir create", path_op(MetaOp::Create, "link_out/new.txt")},
            {"symlink dir getattr", path_op(MetaOp::GetAttrPath, "link_out/secret.txt")},
            {"symlink dir readdir", path_op(MetaOp::Readdir, "link_out")},
            {"symlink dir unlink", path_op(MetaOp::Unlink, "link_out/secret.txt")},
            {"magic link", path_op(MetaOp::GetAttrPath, "magic/etc/passwd")},
            {"rename out", path_op(MetaOp::Rename, "ok.txt", "../stolen.txt")},
            {"rename into symlink dir", path_op(MetaOp::Rename, "ok.txt", "link_out/stolen.txt")},
            {"long name", path_op(MetaOp::GetAttrPath, std::string(300, 'a'))},
            {"volume out of range",
             [&] {
                 auto r = path_op(MetaOp::GetAttrPath, "ok.txt");
                 r.volume = 7;
                 return r;
             }()},
        };
        {
            MetaRequest r;
            r.op = MetaOp::Create;
            r.ino = root_ino;  // by directory ino: a final symlink is never followed
            r.path = "link_file";
            r.mode = 0644;
            attacks.emplace_back("create through a final symlink", r);
            r = MetaRequest{};
            r.op = MetaOp::GetAttr;
            r.ino = outside_ino;
            r.path.clear();
            attacks.emplace_back("ino of an outside file", r);
            r.op = MetaOp::Truncate;
            r.size = 0;
            attacks.emplace_back("truncate an outside ino", r);
        }
        uint64_t id = 1;
        for (const auto& [what, req] : attacks) {
            ASSERT_TRUE(imp.t->send_meta_request(0, id, req).is_ok()) << what;
            ++id;
        }
        ASSERT_TRUE(imp.run_until([&] { return imp.replies.size() == attacks.size(); }, 10'000'000))
            << "got " << imp.replies.size() << " of " << attacks.size() << " replies";
        for (size_t i = 0; i < attacks.size(); ++i) {
            const auto& r = imp.replies[i + 1];
            EXPECT_NE(r.code, Code::Ok) << attacks[i].first << " was not refused";
            EXPECT_FALSE(r.attr.has_value()) << attacks[i].first;
            EXPECT_TRUE(r.entries.empty()) << attacks[i].first;
        }
        // Page data of an outside file by its inode number: zeros at most, never its bytes.
        coherence::Message get;
        get.type = coherence::MsgType::GetS;
        get.from = 2;
        get.to = 0;
        get.id = 99;
        get.file = coherence::FileId{0, outside_ino};
        get.range = coherence::Range{0, 1};
        imp.t->send(get);
        imp.run_until([&] { return !imp.messages.empty(); }, 2'000'000);
        for (const auto& m : imp.messages) {
            for (const auto& p : m.pages) {
                std::string bytes(reinterpret_cast<const char*>(p->data()), 6);
                EXPECT_NE(bytes, "CANARY");
            }
        }
    }

    // --- Unauthenticated attackers at n1's peer port. ---
    {
        // A wrong key, under n3's name (n1 connects to the impostor's listening port).
        Impostor wrong(cfg3.value(),
                       "n3",
                       net::key_from_secret("not the cluster key at all!!"),
                       2,
                       peers_of(cfg3.value(), names));
        ASSERT_TRUE(wrong.t->start().is_ok());
        wrong.run_until([&] { return false; }, 1'500'000);
        EXPECT_EQ(wrong.ups, 0);
    }
    {
        // A name the cluster does not know ("a0" sorts first, so it dials n1 itself).
        auto peers = peers_of(cfg3.value(), names);
        for (auto& p : peers) {
            p.id = static_cast<coherence::NodeId>(p.id + 1);
        }
        config::NodeConfig stranger = cfg3.value();
        stranger.node.listen.port = 0;
        Impostor unknown(stranger, "a0", key.value(), 0, peers);
        ASSERT_TRUE(unknown.t->start().is_ok());
        unknown.run_until([&] { return false; }, 1'500'000);
        EXPECT_EQ(unknown.ups, 0);
    }
    {
        int fd = tcp_connect(n1_port);
        ASSERT_GE(fd, 0);
        const char junk[] = "GET / HTTP/1.0\r\nHost: n1\r\n\r\n and then some more garbage";
        ASSERT_GT(::send(fd, junk, sizeof junk, MSG_NOSIGNAL), 0);
        EXPECT_TRUE(closed_by_peer(fd, 5000)) << "garbage did not close the connection";
        ::close(fd);
    }
    {
        int fd = tcp_connect(n1_port);
        ASSERT_GE(fd, 0);
        wire::FrameHeader h;
        h.type = wire::FrameType::AuthHello;
        h.body_len = 0x7FFFFFFF;  // oversized
        auto bytes = wire::encode_header(h);
        ASSERT_GT(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), 0);
        EXPECT_TRUE(closed_by_peer(fd, 5000)) << "an oversized frame did not close the connection";
        ::close(fd);
    }
    {
        int fd = tcp_connect(n1_port);
        ASSERT_GE(fd, 0);
        wire::FrameHeader h;
        h.type = wire::FrameType::AuthHello;
        h.body_len = 40;
        auto bytes = wire::encode_header(h);
        ASSERT_GT(::send(fd, bytes.data(), 20, MSG_NOSIGNAL), 0);  // truncated, then gone
        ::close(fd);
    }

    // --- A local client with a NUL in a path and an over-long path. ---
    {
        std::string sock = c.dir() + "/n1/data/vremoted.sock";
        auto attack = [&](std::string path, bool nul) {
            int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            std::memcpy(a.sun_path, sock.c_str(), sock.size());
            EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
            wire::Limits lim;
            lim.max_path = 1 << 14;  // the attacker's encoder is laxer than the daemon
            wire::ClientRequest req{1, wire::OpenRequest{std::move(path), 0, 0}};
            std::vector<std::byte> head;
            std::vector<std::span<const std::byte>> data;
            EXPECT_TRUE(wire::encode_client_request(req, lim, head, data).is_ok());
            if (nul) {
                auto x = std::find(head.begin() + wire::kHeaderSize, head.end(), std::byte{'X'});
                ASSERT_NE(x, head.end());
                *x = std::byte{0};
                auto hdr = wire::decode_header(
                    std::span<const std::byte>(head).first(wire::kHeaderSize), lim);
                ASSERT_TRUE(hdr.is_ok()) << hdr.status().to_string();
                wire::FrameHeader fh = hdr.value();
                fh.body_crc = wire::compute_body_crc(
                    fh, std::span<const std::byte>(head).subspan(wire::kHeaderSize));
                auto hb = wire::encode_header(fh);
                std::copy(hb.begin(), hb.end(), head.begin());
            }
            EXPECT_GT(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), 0);
            EXPECT_TRUE(closed_by_peer(fd, 5000));
            ::close(fd);
        };
        attack("n1/okXtxt", true);  // "n1/ok\0txt"
        attack(std::string(6000, 'a'), false);
    }

    // --- n1 still serves its honest peer, and nothing outside changed. ---
    auto put = c.cli(2, {"put", "n1/honest.txt"}, "still here");
    EXPECT_EQ(put.exit_code, 0) << put.err;
    auto get = c.cli(1, {"get", "n1/honest.txt"});
    EXPECT_EQ(get.out, "still here");
    auto get_ok = c.cli(2, {"get", "n1/ok.txt"});
    EXPECT_EQ(get_ok.out, "inside") << get_ok.err;
    EXPECT_EQ(slurp(outside + "/secret.txt"), "CANARY");
    EXPECT_EQ(outside_listing(), before);
    const std::string log1 = c.log(1);
    EXPECT_GE(count_of(log1, "refused"), 12) << log1;
    EXPECT_NE(log1.find("another cluster key"), std::string::npos) << log1;
    EXPECT_NE(log1.find("a0"), std::string::npos) << log1;
    EXPECT_NE(count_of(log1, "client"), 0) << log1;
    ASSERT_GT(c.pid(1), 0);
    EXPECT_EQ(::kill(c.pid(1), 0), 0) << "n1 died";
}

}  // namespace
}  // namespace vr::itest
