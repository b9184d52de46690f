// Connection: a DataS frame with page data crosses a socketpair intact (pages read straight into
// page buffers); so does one whose data is sendfile'd from a real file, including a file that
// is shorter than its segment and one larger than the socket's buffer; garbage or an oversized
// frame ends the connection with a Status saying why; send() refuses beyond the queue bound
// instead of growing; a queued file is closed when it is sent, refused or dropped.
#include "net/connection.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
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
    explicit Pair(size_t queued_max = 1 << 20) {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        a = std::make_unique<Connection>(loop, sv[0], limits, "a", queued_max);
        b = std::make_unique<Connection>(loop, sv[1], limits, "b", queued_max);
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

// A real file on disk (unlinked at once) holding `bytes`; the caller owns the descriptor.
int temp_file(const std::vector<std::byte>& bytes) {
    std::string path = ::testing::TempDir() + "vr-connection-test-XXXXXX";
    int fd = mkstemp(path.data());
    EXPECT_GE(fd, 0) << std::strerror(errno);
    unlink(path.c_str());
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    return fd;
}

std::vector<std::byte> pattern(size_t n, uint8_t salt) {
    std::vector<std::byte> out(n);
    for (size_t i = 0; i < n; ++i) {
        out[i] = static_cast<std::byte>((i * 31 + salt) % 251 + 1);  // never 0, unlike padding
    }
    return out;
}

bool fd_is_open(int fd) {
    return fcntl(fd, F_GETFD) != -1;
}

Message data_s(uint64_t id, uint64_t first, uint64_t count) {
    Message m;
    m.type = MsgType::DataS;
    m.from = 1;
    m.to = 2;
    m.session = 9;
    m.id = id;
    m.file = coherence::FileId{1, 5};
    m.range = coherence::Range{first, count};
    return m;
}

// Receives and decodes peer frames on p.b until `n` messages arrived or the connection closed.
std::vector<Message> receive(Pair& p, size_t n, std::string* closed = nullptr) {
    std::vector<Message> got;
    EXPECT_TRUE(p.b->start(
                       [&](Frame&& f) {
                           auto d = wire::decode_peer(
                               f.header, f.body, std::move(f.pages), p.limits, {1, 2});
                           EXPECT_TRUE(d.is_ok()) << d.status().to_string();
                           if (d.is_ok()) {
                               got.push_back(d.value());
                           }
                           if (got.size() == n) {
                               p.loop.stop();
                           }
                       },
                       [&](const Status& s) {
                           if (closed != nullptr) {
                               *closed = s.to_string();
                           } else {
                               ADD_FAILURE() << s.to_string();
                           }
                           p.loop.stop();
                       })
                    .is_ok());
    // A deadline, not a wait: a stalled sender fails the test instead of hanging it.
    uint64_t deadline = p.loop.add_timer(runtime::monotonic_us() + 10'000'000, [&] {
        ADD_FAILURE() << "only " << got.size() << " of " << n << " frames arrived in 10 s";
        p.loop.stop();
    });
    EXPECT_TRUE(p.loop.run().is_ok());
    p.loop.cancel_timer(deadline);
    return got;
}

// The data section of a frame sent from a file: the file's bytes from `offset`, zeros after.
std::vector<std::byte> expected_data(const std::vector<std::byte>& file,
                                     uint64_t offset,
                                     uint64_t length) {
    std::vector<std::byte> out(length, std::byte{0});
    for (uint64_t i = 0; i < length && offset + i < file.size(); ++i) {
        out[i] = file[offset + i];
    }
    return out;
}

std::vector<std::byte> joined(const Message& m) {
    std::vector<std::byte> out;
    for (const auto& pg : m.pages) {
        out.insert(out.end(), pg->begin(), pg->end());
    }
    return out;
}

TEST(Connection, FileSegmentsAreSentWithSendfileAndArriveIntact) {
    Pair p;
    uint32_t ps = p.limits.page_size;
    // Five and a half pages; the frame takes pages 1..4 and the half page, padded with zeros
    // (the end of a file's last page), as a home serving the file's tail would send it.
    std::vector<std::byte> contents = pattern(5 * ps + ps / 2, 7);
    int fd = temp_file(contents);
    std::vector<std::byte> head;
    Message m = data_s(77, 1, 5);
    ASSERT_TRUE(wire::encode_peer_streamed(m, p.limits, head).is_ok());
    ASSERT_TRUE(p.a->start([](Frame&&) {}, [](const Status&) {}).is_ok());
    ASSERT_TRUE(p.a->send_file(head, FileSegment{fd, ps, 4u * ps + ps / 2, ps / 2}));
    std::vector<Message> got = receive(p, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, 77u);
    ASSERT_EQ(got[0].pages.size(), 5u);
    EXPECT_EQ(joined(got[0]), expected_data(contents, ps, 5u * ps));
    EXPECT_EQ(p.a->stats().file_bytes_out, 4u * ps + ps / 2) << "the file's part by sendfile";
    EXPECT_EQ(p.a->stats().page_bytes_out, 0u);
    EXPECT_EQ(p.a->stats().frames_out, 1u);
    EXPECT_EQ(p.a->queued_bytes(), 0u);
    EXPECT_FALSE(fd_is_open(fd)) << "the connection closes the file once it is sent";
}

TEST(Connection, AFileShorterThanItsSegmentIsPaddedAndTheStreamStaysFramed) {
    Pair p;
    uint32_t ps = p.limits.page_size;
    // The home meant to send 4 pages of file, but the file has shrunk to a page and a half.
    std::vector<std::byte> contents = pattern(ps + ps / 2, 3);
    int fd = temp_file(contents);
    ASSERT_TRUE(p.a->start([](Frame&&) {}, [](const Status&) {}).is_ok());
    std::vector<std::byte> head;
    ASSERT_TRUE(wire::encode_peer_streamed(data_s(1, 0, 4), p.limits, head).is_ok());
    ASSERT_TRUE(p.a->send_file(head, FileSegment{fd, 0, 4u * ps, 0}));
    // A frame behind it must still be read as a frame.
    Message next = data_s(2, 10, 1);
    next.pages.push_back(page(0xAB, ps));
    std::vector<coherence::PageBuf> data;
    ASSERT_TRUE(wire::encode_peer(next, p.limits, head, data).is_ok());
    ASSERT_TRUE(p.a->send(head, data));
    std::vector<Message> got = receive(p, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(joined(got[0]), expected_data(contents, 0, 4u * ps));
    EXPECT_EQ(got[1].id, 2u);
    EXPECT_EQ((*got[1].pages[0])[ps - 1], std::byte{0xAB});
    EXPECT_EQ(p.a->stats().file_bytes_out, contents.size()) << "sendfile sent what there was";
    EXPECT_FALSE(fd_is_open(fd));
}

TEST(Connection, LargeFileSegmentsResumeWhenTheSocketDrainsAndKeepTheirOrder) {
    Pair p(16 << 20);
    uint32_t ps = p.limits.page_size;
    // 1 MiB per frame, far more than a socketpair buffers: sendfile must stop on EAGAIN and
    // resume on EPOLLOUT, interleaved with frames sent from buffers.
    std::vector<std::byte> contents = pattern(3u * 256 * ps, 11);
    ASSERT_TRUE(p.a->start([](Frame&&) {}, [](const Status&) {}).is_ok());
    std::vector<int> fds;
    for (uint64_t i = 0; i < 3; ++i) {
        int fd = temp_file(contents);
        fds.push_back(fd);
        std::vector<std::byte> head;
        ASSERT_TRUE(wire::encode_peer_streamed(data_s(10 + i, 0, 256), p.limits, head).is_ok());
        ASSERT_TRUE(p.a->send_file(head, FileSegment{fd, i * 256 * ps, 256u * ps, 0}));
        Message between = data_s(20 + i, 0, 1);
        between.pages.push_back(page(static_cast<uint8_t>(i), ps));
        std::vector<coherence::PageBuf> data;
        ASSERT_TRUE(wire::encode_peer(between, p.limits, head, data).is_ok());
        ASSERT_TRUE(p.a->send(head, data));
    }
    EXPECT_GT(p.a->queued_bytes(), 0u) << "the socket cannot have taken 3 MiB at once";
    std::vector<Message> got = receive(p, 6);
    ASSERT_EQ(got.size(), 6u);
    for (uint64_t i = 0; i < 3; ++i) {
        EXPECT_EQ(got[2 * i].id, 10 + i);
        EXPECT_EQ(joined(got[2 * i]), expected_data(contents, i * 256 * ps, 256u * ps));
        EXPECT_EQ(got[2 * i + 1].id, 20 + i);
    }
    EXPECT_EQ(p.a->stats().file_bytes_out, 3u * 256 * ps);
    for (int fd : fds) {
        EXPECT_FALSE(fd_is_open(fd));
    }
}

TEST(Connection, QueuedOrRefusedFilesAreClosed) {
    runtime::EventLoop loop;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    wire::Limits limits;
    auto c = std::make_unique<Connection>(loop, sv[0], limits, "c", 1 << 20);
    ASSERT_TRUE(c->start([](Frame&&) {}, [](const Status&) {}).is_ok());
    std::vector<std::byte> contents = pattern(256u * limits.page_size, 5);
    std::vector<std::byte> head;
    ASSERT_TRUE(wire::encode_peer_streamed(data_s(1, 0, 256), limits, head).is_ok());
    // The peer never reads: the first file stays queued, the queue then refuses the second.
    int queued = temp_file(contents);
    ASSERT_TRUE(c->send_file(head, FileSegment{queued, 0, contents.size(), 0}));
    EXPECT_TRUE(fd_is_open(queued));
    int refused = temp_file(contents);
    EXPECT_FALSE(c->send_file(head, FileSegment{refused, 0, contents.size(), 0}));
    EXPECT_FALSE(fd_is_open(refused)) << "a refused segment's file is closed at once";
    c->close(Status(Code::Cancelled, "test"));
    EXPECT_FALSE(fd_is_open(queued)) << "closing the connection drops and closes queued files";
    int late = temp_file(contents);
    EXPECT_FALSE(c->send_file(head, FileSegment{late, 0, contents.size(), 0}));
    EXPECT_FALSE(fd_is_open(late));
    close(sv[1]);
}

TEST(Connection, ReadSegmentReadsWhatSendfileWouldSend) {
    std::vector<std::byte> contents = pattern(10000, 9);
    int fd = temp_file(contents);
    std::vector<std::byte> out(8192, std::byte{0x55});
    ASSERT_TRUE(read_segment(FileSegment{fd, 5000, 6000, 2192}, out).is_ok());
    EXPECT_EQ(out, expected_data(contents, 5000, 8192)) << "file to its end, then zeros";
    std::vector<std::byte> bad(10);
    EXPECT_FALSE(read_segment(FileSegment{-1, 0, 10, 0}, bad).is_ok());
    close(fd);
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
