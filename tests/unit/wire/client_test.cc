// Client protocol: seeded random round trips of every request and reply (Payloads in all
// three representations), data that is adopted rather than copied, and rejection of paths,
// handles, sizes, flags, codes and lists that break the rules.
#include "wire/client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <type_traits>

#include "test_util.h"
#include "wire/handshake.h"

namespace vr::wire {
namespace {

std::string random_path(std::mt19937_64& rng, size_t max) {
    std::string s(1 + rng() % std::min<size_t>(max, 300), 'x');
    for (char& c : s) {
        c = static_cast<char>(1 + rng() % 255);  // any byte but NUL
    }
    return s;
}

std::string random_name(std::mt19937_64& rng, size_t max) {
    static constexpr std::string_view kChars = "abcxyzABC019._-";
    std::string s(1 + rng() % max, 'x');
    for (char& c : s) {
        c = kChars[rng() % kChars.size()];
    }
    return s;
}

Attrs random_attrs(std::mt19937_64& rng) {
    return Attrs{rng(),
                 rng() % kMaxFileBytes,
                 static_cast<uint32_t>(rng() % 0x10000),
                 static_cast<int64_t>(rng())};
}

uint64_t handle(std::mt19937_64& rng) {
    return 1 + rng() % UINT64_MAX;
}

// Keeps the bytes of borrowed payloads alive for the test.
std::vector<std::vector<std::byte>> g_keep;

Payload random_payload(std::mt19937_64& rng, size_t max, bool allow_empty) {
    size_t n = (allow_empty ? 0 : 1) + rng() % max;
    switch (rng() % 3) {
        case 0:
            return Payload::owned(test::random_bytes(rng, n));
        case 1:
            g_keep.push_back(test::random_bytes(rng, n));
            return Payload::borrowed(g_keep.back());
        default: {
            std::vector<coherence::PageBuf> pages;
            uint64_t skip = rng() % 100;
            uint64_t total = 0;
            while (total < skip + n) {
                pages.push_back(std::make_shared<std::vector<std::byte>>(
                    test::random_bytes(rng, 1 + rng() % 5000)));
                total += pages.back()->size();
            }
            return Payload::pages(std::move(pages), skip, n);
        }
    }
}

ClientRequest random_request(int kind, std::mt19937_64& rng) {
    ClientRequest r;
    r.id = rng();
    Limits limits;
    switch (kind) {
        case 0: {
            OpenRequest o;
            o.path = random_path(rng, limits.max_path);
            o.flags = static_cast<uint32_t>(rng() % 16);
            if ((o.flags & kOpenCreate) == 0) {
                o.flags &= ~kOpenExclusive;
            }
            if ((o.flags & kOpenReadOnly) != 0) {
                o.flags &= ~kOpenTruncate;
            }
            o.mode = (o.flags & kOpenCreate) != 0 ? static_cast<uint32_t>(rng() % 010000) : 0;
            r.op = o;
            break;
        }
        case 1:
            r.op = ReadRequest{handle(rng),
                               rng() % (1ull << 40),
                               static_cast<uint32_t>(1 + rng() % limits.max_io)};
            break;
        case 2:
            r.op =
                WriteRequest{handle(rng), rng() % (1ull << 40), random_payload(rng, 20000, false)};
            break;
        case 3:
            r.op = FsyncRequest{handle(rng)};
            break;
        case 4:
            r.op = CloseRequest{handle(rng)};
            break;
        case 5:
            r.op = StatRequest{random_path(rng, limits.max_path)};
            break;
        case 6:
            r.op = PagesRequest{random_path(rng, limits.max_path), rng() % 1000000};
            break;
        case 7:
            r.op = StatsRequest{};
            break;
        default:
            r.op = StatusRequest{};
            break;
    }
    return r;
}

ClientReply random_reply(int kind, std::mt19937_64& rng) {
    ClientReply r;
    r.id = rng();
    switch (kind) {
        case 0:
            r.op = Reply{rng() % 2 == 0 ? Code::Ok : Code::NotFound, std::string(rng() % 100, 'm')};
            break;
        case 1:
            r.op = OpenReply{handle(rng), random_attrs(rng)};
            break;
        case 2:
            r.op = ReadReply{random_payload(rng, 20000, true)};
            break;
        case 3:
            r.op = WriteReply{static_cast<uint32_t>(1 + rng() % (1u << 20))};
            break;
        case 4:
            r.op = StatReply{random_attrs(rng)};
            break;
        case 5: {
            PagesReply p;
            p.first_page = rng() % 1000;
            p.states = std::string(rng() % 3000, 'S');
            if (!p.states.empty()) {
                p.states[0] = 'M';
            }
            p.page_count = p.first_page + p.states.size() + rng() % 10;
            r.op = p;
            break;
        }
        case 6: {
            StatsReply s;
            size_t n = rng() % 50;
            for (size_t i = 0; i < n; ++i) {
                // A fixed-width index first keeps names unique: random_name has digits too ("4"
                // + "0-x" and "40" + "-x" were one name, which the encoder rightly refuses).
                s.counters.push_back({fmt::format("{:02}", i) + random_name(rng, 40), rng()});
            }
            r.op = s;
            break;
        }
        default: {
            StatusReply s;
            size_t n = rng() % 65;
            for (size_t i = 0; i < n; ++i) {
                s.nodes.push_back(NodeStatus{static_cast<coherence::NodeId>(i),
                                             random_name(rng, kNodeNameMax),
                                             static_cast<LinkState>(rng() % 4),
                                             static_cast<uint32_t>(rng()),
                                             rng()});
            }
            r.op = s;
            break;
        }
    }
    return r;
}

struct Frame {
    std::vector<std::byte> head;
    std::vector<std::byte> data;
};

template <typename Msg>
Frame encode(const Msg& m, const Limits& limits = {}) {
    Frame f;
    std::vector<std::span<const std::byte>> spans;
    Status s;
    if constexpr (std::is_same_v<Msg, ClientRequest>) {
        s = encode_client_request(m, limits, f.head, spans);
    } else {
        s = encode_client_reply(m, limits, f.head, spans);
    }
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    for (auto piece : spans) {
        f.data.insert(f.data.end(), piece.begin(), piece.end());
    }
    return f;
}

Result<ClientRequest> decode_request(const Frame& f, const Limits& limits = {}) {
    auto h = decode_header(std::span(f.head).first(kHeaderSize), limits);
    VR_TRY(h);
    return decode_client_request(h.value(), test::body_of(f.head), f.data, limits);
}

Result<ClientReply> decode_reply(const Frame& f, const Limits& limits = {}) {
    auto h = decode_header(std::span(f.head).first(kHeaderSize), limits);
    VR_TRY(h);
    return decode_client_reply(h.value(), test::body_of(f.head), f.data, limits);
}

TEST(Client, EveryRequestRoundTrips) {
    auto rng = test::rng_for_test();
    for (int i = 0; i < 900; ++i) {
        ClientRequest r = random_request(i % 9, rng);
        auto back = decode_request(encode(r));
        ASSERT_TRUE(back.is_ok()) << "kind " << i % 9 << ": " << back.status().to_string();
        EXPECT_TRUE(back.value() == r) << "kind " << i % 9;
    }
}

TEST(Client, EveryReplyRoundTrips) {
    auto rng = test::rng_for_test();
    for (int i = 0; i < 800; ++i) {
        ClientReply r = random_reply(i % 8, rng);
        auto back = decode_reply(encode(r));
        ASSERT_TRUE(back.is_ok()) << "kind " << i % 8 << ": " << back.status().to_string();
        EXPECT_TRUE(back.value() == r) << "kind " << i % 8;
    }
}

TEST(Client, PayloadWindowsAreSentWithoutCopies) {
    auto a = std::make_shared<std::vector<std::byte>>(test::bytes_of("0123456789"));
    auto b = std::make_shared<std::vector<std::byte>>(test::bytes_of("abcdefghij"));
    ClientReply r{7, ReadReply{Payload::pages({a, b}, 8, 5)}};
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> spans;
    ASSERT_TRUE(encode_client_reply(r, Limits{}, head, spans).is_ok());
    ASSERT_EQ(spans.size(), 2u);
    EXPECT_EQ(spans[0].data(), a->data() + 8);
    EXPECT_EQ(spans[0].size(), 2u);
    EXPECT_EQ(spans[1].data(), b->data());
    EXPECT_EQ(spans[1].size(), 3u);
    // The receiver's data vector becomes the payload: moved, not copied.
    std::vector<std::byte> data = test::bytes_of("89abc");
    const std::byte* where = data.data();
    FrameHeader h = test::header_of(head, Limits{});
    auto back = decode_client_reply(h, test::body_of(head), std::move(data), Limits{});
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    std::vector<std::byte> got = std::move(std::get<ReadReply>(back.value().op).data).take();
    EXPECT_EQ(got.data(), where);
    EXPECT_EQ(got, test::bytes_of("89abc"));
}

ClientRequest open_of(std::string path, uint32_t flags = 0, uint32_t mode = 0) {
    return ClientRequest{1, OpenRequest{std::move(path), flags, mode}};
}

Status encode_status(const ClientRequest& r, const Limits& limits = {}) {
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> data;
    return encode_client_request(r, limits, head, data);
}

Status encode_status(const ClientReply& r, const Limits& limits = {}) {
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> data;
    return encode_client_reply(r, limits, head, data);
}

TEST(Client, RejectsNulInPath) {
    EXPECT_FAILS_WITH(encode_status(open_of(std::string("vol/a\0b", 7))),
                      "path has a NUL byte at offset 5");
    Frame f = encode(open_of("vol/aXb"));
    f.head[f.head.size() - 2] = std::byte{0};
    test::reseal(f.head);
    EXPECT_FAILS_WITH(decode_request(f), "ClientOpen body: path has a NUL byte at offset 5");
    Frame s = encode(ClientRequest{2, StatRequest{"v/\x01"}});
    s.head.back() = std::byte{0};
    test::reseal(s.head);
    EXPECT_FAILS_WITH(decode_request(s), "ClientStat body: path has a NUL byte at offset 2");
}

TEST(Client, RejectsOverlongAndEmptyPaths) {
    EXPECT_FAILS_WITH(encode_status(open_of(std::string(4097, 'p'))),
                      "path of 4097 bytes exceeds the limit of 4096");
    EXPECT_TRUE(encode_status(open_of(std::string(4096, 'p'))).is_ok());
    EXPECT_FAILS_WITH(encode_status(open_of("")), "path is empty");
    Limits tight;
    tight.max_path = 10;
    Frame f = encode(ClientRequest{3, PagesRequest{std::string(11, 'q'), 0}});
    EXPECT_FAILS_WITH(decode_request(f, tight), "path of 11 bytes exceeds the limit of 10");
}

TEST(Client, RejectsBadOpenFlagsAndModes) {
    EXPECT_FAILS_WITH(encode_status(open_of("v/f", 0x10)), "unknown open flags 0x10");
    EXPECT_FAILS_WITH(encode_status(open_of("v/f", kOpenExclusive)),
                      "open flag exclusive without create");
    EXPECT_FAILS_WITH(encode_status(open_of("v/f", kOpenTruncate | kOpenReadOnly)),
                      "truncate and read-only together");
    EXPECT_FAILS_WITH(encode_status(open_of("v/f", kOpenCreate, 010000)),
                      "mode 010000 has bits beyond 07777");
    EXPECT_FAILS_WITH(encode_status(open_of("v/f", 0, 0644)), "mode 0644 without create");
    EXPECT_TRUE(encode_status(open_of("v/f", kOpenCreate | kOpenExclusive, 0644)).is_ok());
}

TEST(Client, RejectsBadHandlesAndSizes) {
    EXPECT_FAILS_WITH(encode_status(ClientRequest{1, FsyncRequest{0}}), "handle is 0");
    EXPECT_FAILS_WITH(encode_status(ClientRequest{1, ReadRequest{5, 0, 0}}), "read of 0 bytes");
    EXPECT_FAILS_WITH(encode_status(ClientRequest{1, ReadRequest{5, 0, (1u << 20) + 1}}),
                      "read of 1048577 bytes exceeds the limit of 1048576");
    EXPECT_FAILS_WITH(encode_status(ClientRequest{1, ReadRequest{5, kMaxFileBytes, 1}}),
                      "ends past the largest file offset");
    std::vector<std::byte> big((1u << 20) + 1);
    EXPECT_FAILS_WITH(encode_status(ClientRequest{1, WriteRequest{5, 0, Payload::borrowed(big)}}),
                      "write of 1048577 bytes exceeds the limit of 1048576");
    EXPECT_FAILS_WITH(encode_status(ClientRequest{1, WriteRequest{5, 0, Payload{}}}),
                      "write of 0 bytes");
    EXPECT_FAILS_WITH(encode_status(ClientReply{1, WriteReply{0}}), "written is 0");
    // A write frame whose handle was zeroed on the wire.
    Frame f = encode(ClientRequest{1, WriteRequest{5, 0, Payload::owned(test::bytes_of("x"))}});
    test::put_le(f.head, kHeaderSize, 8, 0);
    test::reseal(f.head);
    EXPECT_FAILS_WITH(decode_request(f), "ClientWrite body: handle is 0");
}

TEST(Client, RejectsBadDataAndCrc) {
    Frame f = encode(ClientRequest{1, WriteRequest{5, 0, Payload::owned(test::bytes_of("abc"))}});
    Frame bad = f;
    bad.data[1] = std::byte{'X'};
    Status s = decode_request(bad).status();
    EXPECT_FAILS_WITH(s, "ClientWrite frame data CRC mismatch");
    EXPECT_EQ(s.code(), Code::Corrupt);
    Frame short_data = f;
    short_data.data.pop_back();
    EXPECT_FAILS_WITH(decode_request(short_data), "frame data is 2 bytes but the header says 3");
}

TEST(Client, RejectsBadRepliesOnTheWire) {
    Frame r = encode(ClientReply{1, Reply{Code::NotFound, "gone"}});
    test::put_le(r.head, kHeaderSize, 2, 5000);
    test::reseal(r.head);
    EXPECT_FAILS_WITH(decode_reply(r), "Reply body: code 5000 is not a known error code");

    StatusReply st;
    st.nodes = {NodeStatus{3, "a", LinkState::Up, 10, 1}, NodeStatus{4, "b", LinkState::Up, 1, 1}};
    Frame s = encode(ClientReply{2, st});
    s.head[kHeaderSize + 1 + 3] = std::byte{9};  // count, node, name length, name, link
    test::reseal(s.head);
    EXPECT_FAILS_WITH(decode_reply(s), "link state 9 is unknown");
    s = encode(ClientReply{2, st});
    s.head[kHeaderSize + 1 + 16] = std::byte{3};  // the second node's id: a duplicate
    test::reseal(s.head);
    EXPECT_FAILS_WITH(decode_reply(s), "node 3 appears twice");
    s = encode(ClientReply{2, st});
    s.head[kHeaderSize + 1 + 16] = std::byte{64};
    test::reseal(s.head);
    EXPECT_FAILS_WITH(decode_reply(s), "is node 64, but node ids are below 64");

    EXPECT_FAILS_WITH(encode_status(ClientReply{3, StatsReply{{{"a b", 1}}}}),
                      "counter name has byte 0x20");
    EXPECT_FAILS_WITH(encode_status(ClientReply{3, StatsReply{{{"x", 1}, {"x", 2}}}}),
                      "counter x appears twice");
    EXPECT_FAILS_WITH(encode_status(ClientReply{4, PagesReply{5, 6, "SS"}}),
                      "states of 2 pages from page 5 run past the file's 6 pages");
    EXPECT_FAILS_WITH(encode_status(ClientReply{4, PagesReply{0, 6, "S S"}}),
                      "states has byte 0x20 at offset 1");
    EXPECT_FAILS_WITH(encode_status(ClientReply{5, Reply{Code::IoError, std::string(1025, 'm')}}),
                      "message of 1025 bytes exceeds the limit of 1024");
}

TEST(Client, RejectsTruncatedAndTrailingBodies) {
    Frame f = encode(ClientRequest{1, ReadRequest{5, 6, 7}});
    Frame cut = f;
    cut.head.pop_back();
    test::fix_body_len(cut.head);
    EXPECT_FAILS_WITH(decode_request(cut), "ClientRead body: ends inside field length");
    Frame extra = f;
    extra.head.push_back(std::byte{1});
    test::fix_body_len(extra.head);
    EXPECT_FAILS_WITH(decode_request(extra), "1 trailing bytes after the last field");
}

TEST(Client, RequestsAndRepliesAreDifferentFamilies) {
    Frame f = encode(ClientRequest{1, StatsRequest{}});
    FrameHeader h = test::header_of(f.head, Limits{});
    EXPECT_FAILS_WITH(decode_client_reply(h, test::body_of(f.head), {}, Limits{}),
                      "ClientStats is not a client reply");
}

}  // namespace
}  // namespace vr::wire
