// Connection: a DataS frame with page data crosses a socketpair intact (pages read straight into
// page buffers); so does one whose data is sendfile'd from a real file, including a file that
// is shorter than its segment and one larger than the socket's buffer; garbage or an oversized
// frame ends the connection with a Status saying why; send() refuses beyond the queue bound
// instead of growing; a queued file is closed when it is sent, refused or dropped. Encrypted:
// frames and file data cross as records that show none of their plaintext (seen by a tap
// between the two ends), in the documented record format, and an altered, replayed, reordered,
// oversized or foreign record ends the connection with a reason.
#include "net/connection.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

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

// The receiver reads ahead (one read() of up to 16 KiB, frames cut from it, large data sections
// straight into their pages): a stream of small and large frames, written raw in chunks of
// every size from 1 byte to more than a frame, arrives whole and in order, including frames
// that end exactly at a read's end and more than 64 frames in one read.
TEST(Connection, FramesCutFromReadAheadArriveWholeAndInOrder) {
    Pair p;
    std::vector<std::byte> stream;
    std::vector<std::pair<uint64_t, uint64_t>> sent;  // (id, pages)
    std::mt19937_64 rng(7);
    for (uint64_t id = 1; id <= 400; ++id) {
        uint64_t pages = id % 50 == 0 ? 256 : id % 3 == 0 ? 1 : id % 7 == 0 ? 3 : 0;
        Message m = data_s(id, id, std::max<uint64_t>(pages, 1));
        if (pages == 0) {
            m.type = MsgType::GetS;
        }
        for (uint64_t i = 0; i < pages; ++i) {
            m.pages.push_back(page(static_cast<uint8_t>(id + i), p.limits.page_size));
        }
        std::vector<std::byte> head;
        std::vector<coherence::PageBuf> data;
        ASSERT_TRUE(wire::encode_peer(m, p.limits, head, data).is_ok());
        stream.insert(stream.end(), head.begin(), head.end());
        for (const auto& d : data) {
            stream.insert(stream.end(), d->begin(), d->end());
        }
        sent.emplace_back(id, pages);
    }
    // Then 100 small frames in a single write, the last thing on the socket: one read takes
    // them all, and nothing wakes the receiver again.
    size_t tail_at = stream.size();
    for (uint64_t id = 401; id <= 500; ++id) {
        Message m = data_s(id, id, 1);
        m.type = MsgType::GetS;
        std::vector<std::byte> head;
        std::vector<coherence::PageBuf> data;
        ASSERT_TRUE(wire::encode_peer(m, p.limits, head, data).is_ok());
        stream.insert(stream.end(), head.begin(), head.end());
        sent.emplace_back(id, 0);
    }
    int raw = p.a->detach();
    ASSERT_GE(raw, 0);
    // The writer: chunks of random sizes, small ones mostly, from a thread (the socket buffer is
    // smaller than the stream).
    std::thread writer([&] {
        size_t at = 0;
        int flags = fcntl(raw, F_GETFL);
        fcntl(raw, F_SETFL, flags & ~O_NONBLOCK);
        while (at < tail_at) {
            size_t n = std::min<size_t>(tail_at - at,
                                        rng() % 4 == 0 ? 1 + rng() % 100'000 : 1 + rng() % 200);
            ssize_t w = ::write(raw, stream.data() + at, n);
            if (w <= 0) {
                break;
            }
            at += static_cast<size_t>(w);
        }
        // Once the receiver has surely drained the socket (a later read would be a new one).
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        ssize_t w = ::write(raw, stream.data() + at, stream.size() - at);
        EXPECT_EQ(w, static_cast<ssize_t>(stream.size() - at));
    });
    std::vector<Message> got = receive(p, sent.size());
    writer.join();
    ::close(raw);
    ASSERT_EQ(got.size(), sent.size());
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].id, sent[i].first);
        ASSERT_EQ(got[i].pages.size(), sent[i].second) << "frame " << i;
        for (uint64_t k = 0; k < sent[i].second; ++k) {
            EXPECT_EQ((*got[i].pages[k])[0], std::byte{static_cast<uint8_t>(sent[i].first + k)});
            EXPECT_EQ((*got[i].pages[k])[4095], std::byte{static_cast<uint8_t>(sent[i].first + k)});
        }
    }
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

// ------------------------------------------------------------------------------------------
// Encryption. a -> [tap] -> b: a's socket ends in the test, which reads what a sent and writes
// whatever it decides into b's socket.

struct Tapped {
    Tapped() {
        int ab[2];
        int tb[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ab), 0);
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, tb), 0);
        a = std::make_unique<Connection>(loop, ab[0], limits, "a", 16 << 20);
        b = std::make_unique<Connection>(loop, tb[0], limits, "a", 16 << 20);
        from_a = ab[1];
        to_b = tb[1];
        EXPECT_TRUE(a->start([](Frame&&) {}, [](const Status&) {}).is_ok());
    }
    ~Tapped() {
        close(from_a);
        close(to_b);
    }
    // Everything a has sent so far (its queue must be empty: a small socketpair write is whole).
    std::vector<std::byte> wire() {
        EXPECT_EQ(a->queued_bytes(), 0u);
        std::vector<std::byte> out;
        std::array<std::byte, 65536> buf;
        ssize_t n;
        while ((n = read(from_a, buf.data(), buf.size())) > 0) {
            out.insert(out.end(), buf.begin(), buf.begin() + n);
        }
        return out;
    }
    void deliver(const std::vector<std::byte>& bytes) {
        ASSERT_EQ(send(to_b, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }
    // Runs b until it has `n` more frames or closes; returns them, and why it closed if it did.
    std::vector<Frame> receive(size_t n, std::string* closed) {
        got_.clear();
        want_ = n;
        closed_ = closed;
        if (!started_) {
            started_ = true;
            EXPECT_TRUE(b->start(
                             [this](Frame&& f) {
                                 got_.push_back(std::move(f));
                                 if (got_.size() == want_) {
                                     loop.stop();
                                 }
                             },
                             [this](const Status& s) {
                                 *closed_ = s.to_string();
                                 loop.stop();
                             })
                            .is_ok());
        }
        uint64_t deadline = loop.add_timer(runtime::monotonic_us() + 10'000'000, [&] {
            ADD_FAILURE() << "b neither received " << n << " frames nor closed in 10 s";
            loop.stop();
        });
        EXPECT_TRUE(loop.run().is_ok());
        loop.cancel_timer(deadline);
        return std::move(got_);
    }

    runtime::EventLoop loop;
    wire::Limits limits;
    std::unique_ptr<Connection> a;
    std::unique_ptr<Connection> b;
    int from_a = -1;
    int to_b = -1;

  private:
    bool started_ = false;
    std::vector<Frame> got_;
    size_t want_ = 0;
    std::string* closed_ = nullptr;
};

const ClusterKey kKey = key_from_secret("connection-test-cluster-secret-0123456789");

// Matching keys for the two ends of one connection, as the handshake derives them.
struct Keys {
    Nonce ni = random_nonce();
    Nonce na = random_nonce();
    SessionKeys initiator = derive_session_keys(kKey, Role::Initiator, ni, na);
    SessionKeys acceptor = derive_session_keys(kKey, Role::Acceptor, ni, na);
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

// The records of a byte stream, each with its length prefix.
std::vector<std::vector<std::byte>> split_records(const std::vector<std::byte>& bytes) {
    std::vector<std::vector<std::byte>> out;
    size_t at = 0;
    while (at + 4 <= bytes.size()) {
        uint32_t len = 0;
        for (size_t i = 4; i > 0; --i) {
            len = (len << 8) | std::to_integer<uint32_t>(bytes[at + i - 1]);
        }
        EXPECT_LE(at + 4 + len, bytes.size()) << "a record is cut";
        out.emplace_back(
            bytes.begin() + static_cast<ptrdiff_t>(at),
            bytes.begin() + static_cast<ptrdiff_t>(std::min(at + 4 + len, bytes.size())));
        at += 4 + len;
    }
    EXPECT_EQ(at, bytes.size());
    return out;
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

// Seals `plain` as record number `seq` exactly as docs/design/wire.md describes it, written
// here independently of the connection: u32 length, ChaCha20-Poly1305-IETF over the plaintext
// with the length as associated data and the sequence number (little-endian) as the nonce.
std::vector<std::byte> seal_by_hand(const std::vector<std::byte>& plain,
                                    uint64_t seq,
                                    const std::array<uint8_t, 32>& key) {
    std::vector<std::byte> rec(4 + plain.size() + crypto_aead_chacha20poly1305_IETF_ABYTES);
    uint32_t len = static_cast<uint32_t>(rec.size() - 4);
    for (size_t i = 0; i < 4; ++i) {
        rec[i] = static_cast<std::byte>(len >> (8 * i));
    }
    std::array<unsigned char, crypto_aead_chacha20poly1305_IETF_NPUBBYTES> nonce{};
    for (size_t i = 0; i < 8; ++i) {
        nonce[i] = static_cast<unsigned char>(seq >> (8 * i));
    }
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(rec.data() + 4),
                                              &clen,
                                              reinterpret_cast<const unsigned char*>(plain.data()),
                                              plain.size(),
                                              reinterpret_cast<const unsigned char*>(rec.data()),
                                              4,
                                              nullptr,
                                              nonce.data(),
                                              key.data());
    return rec;
}

// Two frames a sends in every tamper test: a DataS with marked pages, and a GetS.
void send_two(Tapped& t) {
    Message d = data_s(1, 0, 2);
    d.pages = {std::make_shared<std::vector<std::byte>>(marked(t.limits.page_size)),
               std::make_shared<std::vector<std::byte>>(marked(t.limits.page_size))};
    std::vector<std::byte> head;
    std::vector<coherence::PageBuf> data;
    ASSERT_TRUE(wire::encode_peer(d, t.limits, head, data).is_ok());
    ASSERT_TRUE(t.a->send(head, data));
    Message g = d;
    g.type = MsgType::GetS;
    g.id = 2;
    g.pages.clear();
    ASSERT_TRUE(wire::encode_peer(g, t.limits, head, data).is_ok());
    ASSERT_TRUE(t.a->send(head, data));
}

TEST(Connection, EncryptedFramesAndFilesCrossAsRecordsWithoutPlaintext) {
    Tapped t;
    Keys k;
    t.a->set_encryption(k.initiator);
    t.b->set_encryption(k.acceptor);
    EXPECT_TRUE(t.a->encrypted());
    send_two(t);
    // A file: on an encrypted link it is read and sealed, never sendfile'd.
    std::vector<std::byte> contents = marked(t.limits.page_size + 100);
    int fd = temp_file(contents);
    std::vector<std::byte> head;
    ASSERT_TRUE(wire::encode_peer_streamed(data_s(3, 0, 2), t.limits, head).is_ok());
    ASSERT_TRUE(
        t.a->send_file(head, FileSegment{fd, 0, contents.size(), t.limits.page_size - 100}));
    EXPECT_FALSE(fd_is_open(fd));
    std::vector<std::byte> bytes = t.wire();
    EXPECT_FALSE(contains_marker(bytes)) << "page or file bytes visible on the wire";
    EXPECT_EQ(split_records(bytes).size(), 3u) << "one record per frame";
    EXPECT_EQ(t.a->stats().file_bytes_out, 0u);
    EXPECT_EQ(t.a->stats().file_bytes_copied, contents.size());
    EXPECT_EQ(t.a->stats().page_bytes_out, 0u) << "pages are copied into records";
    EXPECT_EQ(t.a->stats().records_out, 3u);

    t.deliver(bytes);
    std::string closed;
    std::vector<Frame> got = t.receive(3, &closed);
    ASSERT_EQ(got.size(), 3u) << closed;
    EXPECT_EQ(got[0].header.type, wire::FrameType::DataS);
    ASSERT_EQ(got[0].pages.size(), 2u);
    EXPECT_EQ(*got[0].pages[1], marked(t.limits.page_size));
    EXPECT_EQ(got[1].header.type, wire::FrameType::GetS);
    EXPECT_TRUE(got[2].header.data_unchecked());
    auto m =
        wire::decode_peer(got[2].header, got[2].body, std::move(got[2].pages), t.limits, {1, 2});
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    EXPECT_EQ(joined(m.value()), expected_data(contents, 0, 2u * t.limits.page_size));
    EXPECT_EQ(t.b->stats().records_in, 3u);
}

TEST(Connection, WithoutEncryptionTheTapSeesThePlaintext) {
    // The control for the test above: the same frames in the clear show the marker.
    Tapped t;
    send_two(t);
    EXPECT_TRUE(contains_marker(t.wire()));
}

TEST(Connection, RecordsHaveTheDocumentedFormat) {
    Tapped t;
    Keys k;
    t.b->set_encryption(k.acceptor);
    // Frames sealed by hand are accepted ...
    std::vector<std::byte> head;
    Message g = data_s(5, 0, 1);
    g.type = MsgType::GetS;
    std::vector<coherence::PageBuf> none;
    ASSERT_TRUE(wire::encode_peer(g, t.limits, head, none).is_ok());
    t.deliver(
        concat({seal_by_hand(head, 0, k.initiator.send), seal_by_hand(head, 1, k.initiator.send)}));
    std::string closed;
    std::vector<Frame> got = t.receive(2, &closed);
    ASSERT_EQ(got.size(), 2u) << closed;
    // ... and one whose authentic plaintext is not exactly one frame is not.
    std::vector<std::byte> longer = head;
    longer.push_back(std::byte{0});
    t.deliver(seal_by_hand(longer, 2, k.initiator.send));
    got = t.receive(1, &closed);
    EXPECT_TRUE(got.empty());
    EXPECT_NE(closed.find("record 2 from a holds 62 bytes, but its GetS frame has 61"),
              std::string::npos)
        << closed;
}

// Sends two frames from a, lets `tamper` rewrite the records on their way, and expects b to
// close with `why` before it delivers any frame.
void expect_tamper_closes(
    const std::function<std::vector<std::byte>(std::vector<std::vector<std::byte>>)>& tamper,
    const std::string& why,
    bool foreign_key = false) {
    Tapped t;
    Keys k;
    Keys other;
    t.a->set_encryption(k.initiator);
    t.b->set_encryption(foreign_key ? other.acceptor : k.acceptor);
    send_two(t);
    t.deliver(tamper(split_records(t.wire())));
    std::string closed;
    std::vector<Frame> got = t.receive(2, &closed);
    EXPECT_NE(closed.find(why), std::string::npos) << closed;
    EXPECT_TRUE(t.b->closed());
}

TEST(Connection, AnAlteredRecordClosesTheConnection) {
    auto flip = [](size_t record, size_t at) {
        return [record, at](std::vector<std::vector<std::byte>> r) {
            r[record][at] ^= std::byte{0x01};
            return concat({r[0], r[1]});
        };
    };
    // A bit of the ciphertext, of the tag, and of the length (authenticated as data).
    expect_tamper_closes(flip(0, 4 + 40), "record 0 from a failed authentication");
    expect_tamper_closes(flip(1, 4 + 10), "record 1 from a failed authentication");
    expect_tamper_closes(
        [](auto r) {
            r[1].back() ^= std::byte{0x80};
            return concat({r[0], r[1]});
        },
        "record 1 from a failed authentication");
    expect_tamper_closes(
        [](auto r) {
            r[1][0] ^= std::byte{0x01};  // the length says one byte less
            return concat({r[0], r[1]});
        },
        "record 1 from a failed authentication");
}

TEST(Connection, AReplayedOrReorderedRecordClosesTheConnection) {
    expect_tamper_closes(
        [](auto r) {
            return concat({r[0], r[0]});
        },
        "record 1 from a failed authentication: it was altered, replayed, "
        "reordered or sealed with another key");
    expect_tamper_closes(
        [](auto r) {
            return concat({r[1], r[0]});
        },
        "record 0 from a failed authentication");
    expect_tamper_closes([](auto r) { return concat({r[1]}); },
                         "record 0 from a failed authentication");
}

TEST(Connection, AForeignOrOversizedRecordClosesTheConnection) {
    expect_tamper_closes(
        [](auto r) {
            return concat({r[0], r[1]});
        },
        "record 0 from a failed authentication",
        /*foreign_key=*/true);
    expect_tamper_closes(
        [](auto r) {
            std::fill(r[0].begin(), r[0].begin() + 4, std::byte{0xFF});
            return concat({r[0], r[1]});
        },
        "record 0 from a has a length of 4294967295 bytes; records hold 48 to");
    expect_tamper_closes(
        [](auto) {
            return std::vector<std::byte>{std::byte{47}, std::byte{0}, std::byte{0}, std::byte{0}};
        },
        "has a length of 47 bytes");
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
