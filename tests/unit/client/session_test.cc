// Session against FakeDaemon: requests and replies over a real Unix socket; error Replies become
// Statuses; a silent daemon times out without spoiling the session; malformed, mismatched or
// oversized replies and a hang-up close it with a Status saying why; concurrent calls from
// several threads stay paired with their replies. Endpoint: configs, sockets and $VREMOTE_CONFIG.
#include "client/session.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "client/endpoint.h"
#include "config/config.h"
#include "fake_daemon.h"

namespace vr::client {
namespace {

using namespace std::chrono_literals;
using test::FakeDaemon;
using test::Misbehave;

std::vector<std::byte> bytes_of(std::string_view s) {
    auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

std::unique_ptr<Session> connect_to(FakeDaemon& d, std::chrono::milliseconds timeout = 10s) {
    auto s = Session::connect(d.socket_path(), timeout);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(s.value()) : nullptr;
}

TEST(Session, OpensWritesReadsAndCloses) {
    FakeDaemon d;
    auto s = connect_to(d);
    ASSERT_NE(s, nullptr);
    auto opened = s->open("n1/a", wire::kOpenCreate, 0640);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    uint64_t h = opened.value().handle;
    auto written = s->pwrite(h, 3, bytes_of("hello"));
    ASSERT_TRUE(written.is_ok()) << written.status().to_string();
    EXPECT_EQ(written.value(), 5u);
    auto data = s->pread(h, 0, 100);
    ASSERT_TRUE(data.is_ok()) << data.status().to_string();
    EXPECT_EQ(data.value(), bytes_of(std::string("\0\0\0hello", 8)));
    auto attrs = s->stat("n1/a");
    ASSERT_TRUE(attrs.is_ok()) << attrs.status().to_string();
    EXPECT_EQ(attrs.value().size, 8u);
    EXPECT_EQ(attrs.value().mode, 0100640u);
    EXPECT_TRUE(s->fsync(h).is_ok());
    EXPECT_TRUE(s->close(h).is_ok());
    EXPECT_EQ(d.open_handles(), 0u);
    EXPECT_EQ(d.file("n1/a"), bytes_of(std::string("\0\0\0hello", 8)));

    auto status = s->status();
    ASSERT_TRUE(status.is_ok()) << status.status().to_string();
    ASSERT_EQ(status.value().size(), 3u);
    EXPECT_EQ(status.value()[1].name, "n2");
    auto stats = s->stats();
    ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
    EXPECT_EQ(stats.value()[1].name, "cache.pages");
    d.set_page_states("n1/a", "M");
    auto pages = s->pages("n1/a", 0);
    ASSERT_TRUE(pages.is_ok()) << pages.status().to_string();
    EXPECT_EQ(pages.value().states, "M");
}

TEST(Session, AnErrorReplyIsAStatusWithTheDaemonsCodeAndMessage) {
    FakeDaemon d;
    auto s = connect_to(d);
    ASSERT_NE(s, nullptr);
    auto opened = s->open("n1/missing", 0, 0);
    ASSERT_FALSE(opened.is_ok());
    EXPECT_EQ(opened.status().code(), Code::NotFound);
    EXPECT_EQ(opened.status().context(), "n1/missing does not exist");
    EXPECT_EQ(describe(opened.status()), "no such file: n1/missing does not exist");
    EXPECT_EQ(s->fsync(12345).code(), Code::InvalidArgument) << "Reply error for Fsync";
    EXPECT_TRUE(s->is_open()) << "an error reply is a reply: the session goes on";
    EXPECT_TRUE(s->stat("n1/missing").status() == Status(Code::NotFound));
}

TEST(Session, ARequestThatBreaksTheProtocolIsRefusedBeforeSending) {
    FakeDaemon d;
    auto s = connect_to(d);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->open("", 0, 0).status().code(), Code::InvalidArgument);
    EXPECT_EQ(s->pread(7, 0, 0).status().code(), Code::InvalidArgument);
    std::vector<std::byte> big(s->limits().max_io + 1);
    EXPECT_EQ(s->pwrite(7, 0, big).status().code(), Code::InvalidArgument);
    EXPECT_TRUE(s->is_open());
    EXPECT_TRUE(d.seen().empty());
}

TEST(Session, ASilentDaemonTimesOutAndItsLateReplyIsSkipped) {
    FakeDaemon d;
    d.put_file("n1/f", bytes_of("abc"));
    auto s = connect_to(d, 100ms);
    ASSERT_NE(s, nullptr);
    d.hold(true);
    auto t0 = std::chrono::steady_clock::now();
    auto first = s->stat("n1/f");
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
    ASSERT_FALSE(first.is_ok());
    EXPECT_EQ(first.status().code(), Code::Timeout);
    EXPECT_NE(first.status().context().find("no reply"), std::string::npos)
        << first.status().context();
    EXPECT_TRUE(s->is_open());

    // The late Stat reply reaches the socket first; the next call must skip it, not take it as
    // its own (a StatReply to an Open would be a protocol error, and a stale answer a bug).
    d.hold(false);
    d.release();
    s->set_timeout(10s);
    auto opened = s->open("n1/f", wire::kOpenReadOnly, 0);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    auto data = s->pread(opened.value().handle, 1, 10);
    ASSERT_TRUE(data.is_ok()) << data.status().to_string();
    EXPECT_EQ(data.value(), bytes_of("bc"));
}

TEST(Session, TooManyTimeoutsCloseTheSession) {
    FakeDaemon d;
    auto s = connect_to(d, 1ms);
    ASSERT_NE(s, nullptr);
    d.hold(true);
    for (size_t i = 0; i < kAbandonedMax; ++i) {
        ASSERT_EQ(s->stats().status().code(), Code::Timeout);
        ASSERT_TRUE(s->is_open());
    }
    EXPECT_EQ(s->stats().status().code(), Code::Timeout);
    EXPECT_FALSE(s->is_open());
}

void expect_closed_by(Misbehave how,
                      std::function<Status(Session&)> request,
                      Code code,
                      std::string_view words) {
    SCOPED_TRACE(static_cast<int>(how));
    FakeDaemon d;
    d.put_file("n1/f", bytes_of("abcdef"));
    auto s = connect_to(d);
    ASSERT_NE(s, nullptr);
    auto opened = s->open("n1/f", 0, 0);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    d.misbehave(how);
    Status why = request(*s);
    EXPECT_EQ(why.code(), code) << why.to_string();
    EXPECT_NE(why.to_string().find(words), std::string::npos) << why.to_string();
    EXPECT_FALSE(s->is_open());
    EXPECT_EQ(s->why_closed().code(), code);
    // Every later call fails at once and says why.
    d.misbehave(Misbehave::None);
    Status later = s->stat("n1/f").status();
    EXPECT_EQ(later.code(), Code::Unavailable);
    EXPECT_NE(later.context().find("is closed"), std::string::npos) << later.to_string();
    EXPECT_NE(later.context().find(std::string(words)), std::string::npos) << later.to_string();
}

TEST(Session, ABadReplyClosesTheSessionWithAReason) {
    auto stat = [](Session& s) { return s.stat("n1/f").status(); };
    expect_closed_by(Misbehave::Garbage, stat, Code::ProtocolError, "bad reply header");
    expect_closed_by(Misbehave::BadBodyCrc, stat, Code::Corrupt, "bad reply from vremoted");
    expect_closed_by(Misbehave::WrongId, stat, Code::ProtocolError, "reply to request");
    expect_closed_by(
        Misbehave::WrongType,
        [](Session& s) { return s.stats().status(); },
        Code::ProtocolError,
        "expecting StatsReply with StatReply");
    expect_closed_by(
        Misbehave::OkForOpen,
        [](Session& s) { return s.open("n1/f", 0, 0).status(); },
        Code::ProtocolError,
        "expecting OpenReply with Reply with code Ok");
    expect_closed_by(
        Misbehave::LongRead,
        [](Session& s) { return s.pread(100, 0, 4).status(); },
        Code::ProtocolError,
        "returned 5 bytes for a read of 4");
    expect_closed_by(Misbehave::HangUp, stat, Code::Unavailable, "closed the connection");
}

TEST(Session, ConcurrentCallsGetTheirOwnReplies) {
    FakeDaemon d;
    for (int i = 0; i < 4; ++i) {
        d.put_file(fmt::format("n1/f{}", i), std::vector<std::byte>(100 + i));
    }
    auto s = connect_to(d);
    ASSERT_NE(s, nullptr);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                auto a = s->stat(fmt::format("n1/f{}", t));
                if (!a.is_ok() || a.value().size != static_cast<uint64_t>(100 + t)) {
                    ++wrong;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_TRUE(s->is_open());
}

TEST(Session, ConnectSaysWhatIsWrong) {
    auto missing = Session::connect("/nonexistent/vremoted.sock", 1s);
    ASSERT_FALSE(missing.is_ok());
    EXPECT_EQ(missing.status().code(), Code::NotFound);
    EXPECT_EQ(missing.status().context(),
              "cannot connect to vremoted at /nonexistent/vremoted.sock: No such file or "
              "directory (is vremoted running?)");
    auto long_path = Session::connect("/" + std::string(200, 'a'), 1s);
    EXPECT_EQ(long_path.status().code(), Code::InvalidArgument);

    FakeDaemon d;
    std::string plain = d.dir() + "/not-a-socket";
    std::ofstream(plain) << "x";
    // A regular file is read as a config: not a socket, but a config with no [node].
    auto refused = connect(plain);
    EXPECT_EQ(refused.status().code(), Code::InvalidArgument) << refused.status().to_string();
}

class EndpointTest : public ::testing::Test {
  protected:
    std::string write_config(const std::string& socket, uint32_t request_ms) {
        config::NodeConfig c;
        c.node.name = "n1";
        c.node.listen = config::Address{"127.0.0.1", 11041};
        c.node.data_dir = d_.dir();
        c.node.client_socket = socket;
        c.cluster.secret_file = d_.dir() + "/secret-this-client-cannot-read";
        c.timeouts.request_ms = request_ms;
        std::string path = d_.dir() + "/n1.toml";
        std::ofstream(path) << config::to_toml(c);
        return path;
    }
    FakeDaemon d_;
};

TEST_F(EndpointTest, AConfigNamesTheSocketAndTheTimeout) {
    std::string path = write_config(d_.socket_path(), 2000);
    auto e = resolve_endpoint(path);
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    EXPECT_EQ(e.value().socket_path, d_.socket_path());
    EXPECT_EQ(e.value().timeout, 2000ms + kTimeoutMargin);
    EXPECT_EQ(e.value().config_path, path);
    auto s = connect(path);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    EXPECT_TRUE(s.value()->status().is_ok());
}

TEST_F(EndpointTest, ASocketIsUsedAsIs) {
    auto e = resolve_endpoint(d_.socket_path());
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    EXPECT_EQ(e.value().socket_path, d_.socket_path());
    EXPECT_EQ(e.value().timeout, kDefaultTimeout);
    EXPECT_TRUE(e.value().config_path.empty());
}

TEST_F(EndpointTest, NothingMeansTheEnvironmentThenTheDefault) {
    std::string path = write_config(d_.socket_path(), 1000);
    ASSERT_EQ(::setenv(kConfigEnv, path.c_str(), 1), 0);
    auto e = resolve_endpoint("");
    ::unsetenv(kConfigEnv);
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    EXPECT_EQ(e.value().config_path, path);
    EXPECT_EQ(default_config_path(), kDefaultConfig);
}

TEST_F(EndpointTest, AMissingConfigIsNotFound) {
    auto e = resolve_endpoint(d_.dir() + "/absent.toml");
    EXPECT_EQ(e.status().code(), Code::NotFound);
    EXPECT_NE(e.status().context().find("absent.toml: cannot open"), std::string::npos)
        << e.status().to_string();
}

}  // namespace
}  // namespace vr::client
