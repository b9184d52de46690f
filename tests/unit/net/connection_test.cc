// Connection: a DataS frame with page data crosses a socketpair intact (pages read straight into
// page buffers); garbage or an oversized frame ends the connection with a Status saying why;
// send() refuses beyond the queue bound instead of growing.
#include "net/connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "wire/peer.h"

namespace vr::net {
namespace {

using coherence::Message;
using coherence::MsgType;

coherence::PageBuf page(uint8_t fill, size_t size) {
    return std::make_shared<std::vector<std::byte>>(size, std::byte{fill});
}

struct Pair {
    Pair() {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        a = std::make_unique<Connection>(loop, sv[0], limits, "a", 1 << 20);
        b = std::make_unique<Connection>(loop, sv[1], limits, "b", 1 << 20);
    }
    runtime::EventLoop loop;
    wire::Limits limits;
    std::unique_ptr<Connection> a;
    std::unique_ptr<Connection> b;
};

TEST(Connection, PageFramesArriveIntact) {
    Pair p;
    Message m;
    m.type = MsgType::DataS;
    m.from = 1;
    m.to = 2;
    m.session = 9;
    m.id = 77;
    m.file = coherence::FileId{1, 5};
    m.range = coherence::Range{10, 64};
    for (int i = 0; i < 64; ++i) {
        m.pages.push_back(page(static_cast<uint8_t>(i), p.limits.page_size));
    }
    std::vector<std::byte> head;
    std::vector<coherence::PageBuf> data;
    ASSERT_TRUE(wire::encode_peer(m, p.limits, head, data).is_ok());
    std::optional<Message> got;
    ASSERT_TRUE(p.b->start(
                       [&](Frame&& f) {
                           auto d = wire::decode_peer(
                               f.header, f.body, std::move(f.pages), p.limits, {1, 2});
                           ASSERT_TRUE(d.is_ok()) << d.status().to_string();
                           got = d.value();
                           p.loop.stop();
                       },
                       [&](const Status& s) { ADD_FAILURE() << s.to_string(); })
                    .is_ok());
    ASSERT_TRUE(p.a->start([](Frame&&) {}, [](const Status&) {}).is_ok());
    ASSERT_TRUE(p.a->send(std::move(head), std::move(data)));
    ASSERT_TRUE(p.loop.run().is_ok());
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id, 77u);
    ASSERT_EQ(got->pages.size(), 64u);
    EXPECT_EQ((*got->pages[63])[100], std::byte{63});
    EXPECT_EQ(p.a->stats().page_bytes_out, 64u * p.limits.page_size)
        << "pages went out without a copy";
}

void expect_refused(const std::vector<std::byte>& bytes, const std::string& want) {
    Pair p;
    std::string why;
    ASSERT_TRUE(p.b->start([](Frame&&) { ADD_FAILURE() << "frame accepted"; },
                           [&](const Status& s) {
                               why = s.to_string();
                               p.loop.stop();
                           })
                    .is_ok());
    ASSERT_EQ(write(p.a->fd(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ASSERT_TRUE(p.loop.run().is_ok());
    EXPECT_NE(why.find(want), std::string::npos) << why;
    EXPECT_TRUE(p.b->closed());
}

TEST(Connection, GarbageClosesTheConnectionWithAReason) {
    std::vector<std::byte> junk(64, std::byte{0x41});
    expect_refused(junk, "bad frame header from b");
}

TEST(Connection, OversizedFrameIsRefusedBeforeAnyAllocation) {
    wire::FrameHeader h;
    h.type = wire::FrameType::GetS;
    h.body_len = 1u << 30;
    auto bytes = wire::encode_header(h);
    expect_refused(std::vector<std::byte>(bytes.begin(), bytes.end()), "bad frame header");
}

TEST(Connection, SendRefusesBeyondTheQueueBound) {
    runtime::EventLoop loop;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    Connection c(loop, sv[0], wire::Limits{}, "c", 256 * 1024);
    ASSERT_TRUE(c.start([](Frame&&) {}, [](const Status&) {}).is_ok());
    int accepted = 0;
    for (int i = 0; i < 10'000; ++i) {
        std::vector<std::byte> head(4096);
        if (!c.send(std::move(head))) {
            break;
        }
        ++accepted;
    }
    EXPECT_LT(accepted, 10'000) << "the peer never reads: the queue must stop growing";
    EXPECT_LE(c.queued_bytes(), 256u * 1024 + 4096);
    close(sv[1]);
}

}  // namespace
}  // namespace vr::net
