// Peer messages. Goal: every coherence::MsgType survives the codec with exactly the fields the
// engine uses for it (listed here independently of the codec's own table), page data arrives
// in the receiver's own buffers, and every malformed body or data section is rejected with a
// message that names the problem. Method: seeded random messages with every field randomized
// (so fields that are not on the wire must come back as defaults), sent through encode_peer and
// a simulated transport (decode_header, readv into make_page_buffers, decode_peer); then one
// hand-made corruption per rule.
#include "wire/peer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "test_util.h"
#include "wire/codec.h"
#include "wire/crc32c.h"

namespace vr::wire {
namespace {

using coherence::FileId;
using coherence::kWholeFile;
using coherence::Message;
using coherence::MsgType;
using coherence::PageBuf;
using coherence::Range;

// The fields the engine sets and reads per type (see engine.cc and directory.cc).
struct Uses {
    bool id = false, session = false, incarnation = false, file = false, range = false;
    bool to_shared = false, recovering = false, time = false, status = false;
    enum Data { None, All, AllOrNone, Some } data = None;
};

Uses uses(MsgType t) {
    Uses u;
    switch (t) {
        case MsgType::Join:
        case MsgType::Hello:
            u.incarnation = true;
            break;
        case MsgType::JoinAck:
            u.session = u.incarnation = u.recovering = true;
            break;
        case MsgType::LeaseRenew:
            u.session = u.time = true;
            break;
        case MsgType::LeaseGrant:
            u.session = u.incarnation = u.time = true;
            break;
        case MsgType::Stale:
        case MsgType::RecoverDone:
            u.session = u.incarnation = true;
            break;
        case MsgType::GetS:
        case MsgType::GetM:
        case MsgType::InvAck:
            u.id = u.session = u.file = u.range = true;
            break;
        case MsgType::DataS:
        case MsgType::DataM:
            u.id = u.session = u.incarnation = u.file = u.range = true;
            u.data = t == MsgType::DataS ? Uses::All : Uses::AllOrNone;
            break;
        case MsgType::Inv:
            u.id = u.session = u.incarnation = u.file = u.range = true;
            break;
        case MsgType::Recall:
            u.id = u.session = u.incarnation = u.file = u.range = u.to_shared = true;
            break;
        case MsgType::RecallAck:
            u.id = u.session = u.file = u.range = true;
            u.data = Uses::Some;
            break;
        case MsgType::PutS:
            u.session = u.file = u.range = true;
            break;
        case MsgType::PutM:
            u.session = u.file = u.range = true;
            u.data = Uses::All;
            break;
        case MsgType::Reclaim:  // incarnation: the one the pages were held under
            u.session = u.incarnation = u.file = u.range = true;
            u.data = Uses::All;
            break;
        case MsgType::PutAck:
            u.session = u.incarnation = u.file = u.range = true;
            break;
        case MsgType::Fsync:
            u.id = u.session = u.file = true;
            break;
        case MsgType::FsyncAck:
            u.id = u.session = u.incarnation = u.status = true;
            break;
        case MsgType::Nack:
            u.id = u.session = u.incarnation = u.file = u.status = true;
            break;
    }
    return u;
}

const std::vector<Code>& known_codes() {
    static const std::vector<Code> codes = [] {
        std::vector<Code> out;
        for (uint16_t n = 0; n < 1000; ++n) {
            Code c;
            if (code_from_number(n, &c)) {
                out.push_back(c);
            }
        }
        return out;
    }();
    return codes;
}

PageBuf random_page(std::mt19937_64& rng, uint32_t page_size) {
    return std::make_shared<std::vector<std::byte>>(test::random_bytes(rng, page_size));
}

// A message of type t with every field random (the wire keeps only those `uses` lists).
Message random_message(MsgType t, std::mt19937_64& rng, const Limits& limits) {
    Message m;
    m.type = t;
    m.from = static_cast<coherence::NodeId>(rng() % 64);
    m.to = static_cast<coherence::NodeId>(rng() % 64);
    m.session = rng();
    m.incarnation = rng();
    m.id = rng();
    m.file = FileId{static_cast<coherence::NodeId>(rng() % 64), rng()};
    m.range.count = 1 + rng() % limits.max_pages;
    uint64_t first_max = kMaxFileBytes / limits.page_size - m.range.count;
    m.range.first = rng() % 4 == 0 ? first_max : rng() % (first_max + 1);
    m.to_shared = rng() % 2 == 0;
    m.recovering = rng() % 2 == 0;
    m.time = static_cast<coherence::Time>(rng() >> 1);
    m.status = known_codes()[rng() % known_codes().size()];
    if (t == MsgType::Nack && m.status == Code::Ok) {
        m.status = Code::Busy;
    }
    m.data_from_store = rng() % 2 == 0;
    Uses u = uses(t);
    bool none = u.data == Uses::None || (u.data == Uses::AllOrNone && rng() % 3 == 0);
    if (!none) {
        for (uint64_t i = 0; i < m.range.count; ++i) {
            bool absent = u.data == Uses::Some && rng() % 3 == 0;
            m.pages.push_back(absent ? nullptr : random_page(rng, limits.page_size));
        }
    }
    return m;
}

// What the receiver must get: the fields the type uses, the link's ends, defaults elsewhere.
Message expected(const Message& m, LinkEnds ends) {
    Uses u = uses(m.type);
    Message e;
    e.type = m.type;
    e.from = ends.from;
    e.to = ends.to;
    e.id = u.id ? m.id : 0;
    e.session = u.session ? m.session : 0;
    e.incarnation = u.incarnation ? m.incarnation : 0;
    e.file = u.file ? m.file : FileId{};
    e.range = u.range ? m.range : Range{};
    if (m.type == MsgType::Fsync) {
        e.range = kWholeFile;
    }
    e.to_shared = u.to_shared && m.to_shared;
    e.recovering = u.recovering && m.recovering;
    e.time = u.time ? m.time : 0;
    e.status = u.status ? m.status : Code::Ok;
    e.pages = m.pages;
    return e;
}

::testing::AssertionResult same(const Message& a, const Message& b) {
    std::ostringstream diff;
    auto cmp = [&](const char* name, auto x, auto y) {
        if (x != y) {
            diff << name << ": " << +x << " != " << +y << "; ";
        }
    };
    cmp("type", static_cast<int>(a.type), static_cast<int>(b.type));
    cmp("from", a.from, b.from);
    cmp("to", a.to, b.to);
    cmp("id", a.id, b.id);
    cmp("session", a.session, b.session);
    cmp("incarnation", a.incarnation, b.incarnation);
    cmp("file.home", a.file.home, b.file.home);
    cmp("file.ino", a.file.ino, b.file.ino);
    cmp("range.first", a.range.first, b.range.first);
    cmp("range.count", a.range.count, b.range.count);
    cmp("to_shared", a.to_shared, b.to_shared);
    cmp("recovering", a.recovering, b.recovering);
    cmp("time", a.time, b.time);
    cmp("status", static_cast<int>(a.status), static_cast<int>(b.status));
    cmp("data_from_store", a.data_from_store, b.data_from_store);
    cmp("pages", a.pages.size(), b.pages.size());
    for (size_t i = 0; i < std::min(a.pages.size(), b.pages.size()); ++i) {
        if (!a.pages[i] != !b.pages[i] || (a.pages[i] && *a.pages[i] != *b.pages[i])) {
            diff << "page " << i << " differs; ";
        }
    }
    if (diff.str().empty()) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << coherence::msg_name(a.type) << ": " << diff.str();
}

// A frame as a transport would carry it: the head, and the data section as one byte stream.
struct Wire {
    std::vector<std::byte> head;
    std::vector<std::byte> data;
};

Result<Wire> encode(const Message& m, const Limits& limits) {
    Wire w;
    std::vector<PageBuf> pages;
    VR_TRY(encode_peer(m, limits, w.head, pages));
    for (const PageBuf& p : pages) {
        w.data.insert(w.data.end(), p->begin(), p->end());
    }
    return w;
}

// The receiving side: header, body, then the data read into fresh page buffers.
Result<Message> receive(const Wire& w, const Limits& limits, LinkEnds ends) {
    auto h = decode_header(std::span(w.head).first(kHeaderSize), limits);
    VR_TRY(h);
    PageBuffers bufs = make_page_buffers(h.value(), limits);
    size_t at = 0;
    for (std::span<std::byte> s : bufs.spans) {  // readv
        if (at + s.size() > w.data.size()) {
            return Status(Code::ProtocolError, "test transport: short data");
        }
        std::memcpy(s.data(), w.data.data() + at, s.size());
        at += s.size();
    }
    return decode_peer(h.value(), test::body_of(w.head), std::move(bufs.pages), limits, ends);
}

Result<Message> through_wire(const Message& m, const Limits& limits, LinkEnds ends) {
    auto w = encode(m, limits);
    VR_TRY(w);
    return receive(w.value(), limits, ends);
}

Limits small_pages() {
    Limits l;
    l.page_size = 64;
    return l;
}

TEST(Peer, EveryTypeRoundTripsTheFieldsTheEngineUses) {
    auto rng = test::rng_for_test();
    for (const Limits& limits : {small_pages(), Limits{}}) {
        int rounds = limits.page_size == 4096 ? 3 : 200;
        for (int t = 0; t < coherence::kMsgTypeCount; ++t) {
            for (int i = 0; i < rounds; ++i) {
                Message m = random_message(static_cast<MsgType>(t), rng, limits);
                LinkEnds ends{static_cast<coherence::NodeId>(rng() % 64),
                              static_cast<coherence::NodeId>(rng() % 64)};
                auto got = through_wire(m, limits, ends);
                ASSERT_TRUE(got.is_ok())
                    << coherence::to_string(m) << ": " << got.status().to_string();
                ASSERT_TRUE(same(got.value(), expected(m, ends))) << coherence::to_string(m);
            }
        }
    }
}

TEST(Peer, ReEncodingADecodedMessageGivesTheSameBytes) {
    auto rng = test::rng_for_test();
    Limits limits = small_pages();
    for (int t = 0; t < coherence::kMsgTypeCount; ++t) {
        Message m = random_message(static_cast<MsgType>(t), rng, limits);
        auto w1 = encode(m, limits);
        ASSERT_TRUE(w1.is_ok());
        auto back = receive(w1.value(), limits, LinkEnds{1, 2});
        ASSERT_TRUE(back.is_ok()) << back.status().to_string();
        auto w2 = encode(back.value(), limits);
        ASSERT_TRUE(w2.is_ok());
        EXPECT_EQ(w1.value().head, w2.value().head) << coherence::msg_name(m.type);
        EXPECT_EQ(w1.value().data, w2.value().data) << coherence::msg_name(m.type);
    }
}

TEST(Peer, EncodingSharesPageBuffersAndDecodingAdoptsThem) {
    auto rng = test::rng_for_test();
    Limits limits = small_pages();
    Message m = random_message(MsgType::DataS, rng, limits);
    std::vector<std::byte> head;
    std::vector<PageBuf> data;
    ASSERT_TRUE(encode_peer(m, limits, head, data).is_ok());
    ASSERT_EQ(data.size(), m.pages.size());
    for (size_t i = 0; i < data.size(); ++i) {
        EXPECT_EQ(data[i].get(), m.pages[i].get()) << "encode must not copy page " << i;
    }
    FrameHeader h = test::header_of(head, limits);
    auto got = decode_peer(h, test::body_of(head), data, limits, LinkEnds{0, 1});
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    for (size_t i = 0; i < data.size(); ++i) {
        EXPECT_EQ(got.value().pages[i].get(), data[i].get()) << "decode must not copy page " << i;
    }
}

TEST(Peer, RecallAckSendsOnlyThePagesTheNodeOwns) {
    Limits limits = small_pages();
    auto rng = test::rng_for_test();
    Message m;
    m.type = MsgType::RecallAck;
    m.id = 9;
    m.session = 3;
    m.file = FileId{2, 40};
    m.range = Range{100, 11};
    m.pages.assign(11, nullptr);
    m.pages[0] = random_page(rng, 64);
    m.pages[9] = random_page(rng, 64);
    m.pages[10] = random_page(rng, 64);
    auto w = encode(m, limits);
    ASSERT_TRUE(w.is_ok());
    EXPECT_EQ(w.value().data.size(), 3u * 64);
    // Fixed fields (8 + 9 + 12) and a 2-byte bitmap: pages 0, 9 and 10.
    ASSERT_EQ(w.value().head.size(), kHeaderSize + 29 + 2);
    EXPECT_EQ(w.value().head[kHeaderSize + 29], std::byte{0x01});
    EXPECT_EQ(w.value().head[kHeaderSize + 30], std::byte{0x06});
    auto got = receive(w.value(), limits, LinkEnds{1, 2});
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_TRUE(same(got.value(), expected(m, LinkEnds{1, 2})));

    m.pages.assign(11, nullptr);  // owns nothing: no data section at all
    w = encode(m, limits);
    ASSERT_TRUE(w.is_ok());
    EXPECT_TRUE(w.value().data.empty());
    EXPECT_FALSE(test::header_of(w.value().head, limits).has_data());
    got = receive(w.value(), limits, LinkEnds{1, 2});
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_EQ(got.value().pages.size(), 11u);
}

TEST(Peer, DataMWithoutPagesHasNoDataSection) {
    Limits limits = small_pages();
    Message m;
    m.type = MsgType::DataM;
    m.id = 5;
    m.file = FileId{0, 1};
    m.range = Range{0, 4};
    auto w = encode(m, limits);
    ASSERT_TRUE(w.is_ok());
    EXPECT_FALSE(test::header_of(w.value().head, limits).has_data());
    auto got = receive(w.value(), limits, LinkEnds{0, 1});
    ASSERT_TRUE(got.is_ok());
    EXPECT_TRUE(got.value().pages.empty());
}

TEST(Peer, StreamedDataGivesTheSameFrame) {
    auto rng = test::rng_for_test();
    Limits limits = small_pages();
    for (MsgType t : {MsgType::DataS, MsgType::DataM}) {
        Message m = random_message(t, rng, limits);
        if (m.pages.empty()) {
            m.pages.push_back(random_page(rng, 64));
            m.range.count = 1;
        }
        auto w = encode(m, limits);
        ASSERT_TRUE(w.is_ok());
        Message streamed = m;
        streamed.pages.clear();
        streamed.data_from_store = true;
        Crc32c crc;  // as a sender checksums the file's bytes it is about to sendfile
        for (size_t at = 0; at < w.value().data.size(); at += 100) {
            size_t n = std::min<size_t>(100, w.value().data.size() - at);
            crc.update(std::span(w.value().data).subspan(at, n));
        }
        std::vector<std::byte> head;
        ASSERT_TRUE(encode_peer_streamed(streamed, crc.value(), limits, head).is_ok());
        EXPECT_EQ(head, w.value().head);
    }
    Message inv = random_message(MsgType::Inv, rng, limits);
    std::vector<std::byte> head;
    EXPECT_FAILS_WITH(encode_peer_streamed(inv, 0, limits, head), "Inv cannot stream its pages");
}

TEST(Peer, UncheckedStreamedDataSkipsOnlyTheDataCrc) {
    auto rng = test::rng_for_test();
    Limits limits = small_pages();
    for (MsgType t : {MsgType::DataS, MsgType::DataM}) {
        Message m = random_message(t, rng, limits);
        if (m.pages.empty()) {
            m.pages.push_back(random_page(rng, 64));
            m.range.count = 1;
        }
        auto checked = encode(m, limits);
        ASSERT_TRUE(checked.is_ok());
        Message streamed = m;
        streamed.pages.clear();
        Wire w;
        ASSERT_TRUE(encode_peer_streamed(streamed, limits, w.head).is_ok());
        w.data = checked.value().data;
        FrameHeader h = test::header_of(w.head, limits);
        EXPECT_TRUE(h.data_unchecked());
        EXPECT_EQ(h.data_crc, 0u);
        EXPECT_EQ(h.data_len, m.range.count * limits.page_size);
        // The body is the checked frame's body: only the flags and data_crc differ.
        EXPECT_TRUE(std::equal(w.head.begin() + kHeaderSize,
                               w.head.end(),
                               checked.value().head.begin() + kHeaderSize,
                               checked.value().head.end()));
        auto got = receive(w, limits, LinkEnds{1, 2});
        ASSERT_TRUE(got.is_ok()) << got.status().to_string();
        EXPECT_TRUE(same(got.value(), expected(m, LinkEnds{1, 2})));

        // A flipped data bit is not caught (TCP or the AEAD tag must catch it) ...
        Wire flipped = w;
        flipped.data[0] ^= std::byte{1};
        auto accepted = receive(flipped, limits, LinkEnds{1, 2});
        ASSERT_TRUE(accepted.is_ok()) << accepted.status().to_string();
        EXPECT_NE(*accepted.value().pages[0], *m.pages[0]);
        // ... but the body CRC still is, and so is the same flip in a checked frame.
        Wire body_flip = w;
        body_flip.head[kHeaderSize] ^= std::byte{1};
        EXPECT_FAILS_WITH(receive(body_flip, limits, {}), "frame body CRC mismatch");
        Wire checked_flip = checked.value();
        checked_flip.data[0] ^= std::byte{1};
        EXPECT_FAILS_WITH(receive(checked_flip, limits, {}), "frame data CRC mismatch");
    }
    // Only the types a home streams can be sent unchecked.
    std::vector<std::byte> head;
    Message put = random_message(MsgType::PutM, rng, limits);
    put.pages.clear();
    EXPECT_FAILS_WITH(encode_peer_streamed(put, limits, head),
                      "PutM cannot stream its pages unchecked (only DataS and DataM)");
}

// ---------------------------------------------------------------------------------------
// The encoder refuses messages it cannot send.

TEST(Peer, EncoderRejectsMessagesThatBreakTheRules) {
    Limits limits = small_pages();
    auto rng = test::rng_for_test();
    std::vector<std::byte> head;
    std::vector<PageBuf> data;
    Message m = random_message(MsgType::DataS, rng, limits);
    m.pages.clear();
    m.data_from_store = true;
    Status s = encode_peer(m, limits, head, data);
    EXPECT_FAILS_WITH(s, "data_from_store: fill them");
    EXPECT_EQ(s.code(), Code::InvalidArgument);
    EXPECT_TRUE(head.empty());

    m = random_message(MsgType::PutM, rng, limits);
    m.pages.back() = nullptr;
    EXPECT_FAILS_WITH(encode_peer(m, limits, head, data), "is missing");
    m.pages.back() = random_page(rng, 63);
    EXPECT_FAILS_WITH(encode_peer(m, limits, head, data), "holds 63 bytes, pages are 64");

    m = random_message(MsgType::GetS, rng, limits);
    m.range.count = limits.max_pages + 1;
    EXPECT_FAILS_WITH(encode_peer(m, limits, head, data), "range of 257 pages exceeds");
    m.range.count = 0;
    EXPECT_FAILS_WITH(encode_peer(m, limits, head, data), "range.count is 0");
    m.range.count = 1;
    m.file.home = 64;
    EXPECT_FAILS_WITH(encode_peer(m, limits, head, data), "file.home is node 64");

    m = random_message(MsgType::Inv, rng, limits);
    m.pages.push_back(random_page(rng, 64));
    EXPECT_FAILS_WITH(encode_peer(m, limits, head, data), "Inv carries no pages but has 1");

    m = random_message(MsgType::Nack, rng, limits);
    m.status = Code::Ok;
    EXPECT_FAILS_WITH(encode_peer(m, limits, head, data), "a Nack must carry an error status");
}

// ---------------------------------------------------------------------------------------
// The decoder rejects malformed frames. Each test breaks one rule and re-seals the body CRC.

Wire valid_wire(MsgType t, const Limits& limits, uint64_t salt = 0) {
    std::mt19937_64 rng(test::seed() ^ salt ^ static_cast<uint64_t>(t));
    Message m = random_message(t, rng, limits);
    auto w = encode(m, limits);
    EXPECT_TRUE(w.is_ok()) << w.status().to_string();
    return w.is_ok() ? w.value() : Wire{};
}

// Offsets into GetS/Inv-style bodies: session, [incarnation], file.home, file.ino, range.
constexpr size_t kGetSHome = kHeaderSize + 8;
constexpr size_t kGetSFirst = kHeaderSize + 17;
constexpr size_t kGetSCount = kHeaderSize + 25;

TEST(Peer, RejectsTruncatedBody) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::GetS, limits);
    w.head.pop_back();
    test::fix_body_len(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}),
                      "GetS body: ends inside field range.count (needs 4 bytes at offset 25, "
                      "3 left)");
    Wire cut = valid_wire(MsgType::GetS, limits);
    cut.head.pop_back();  // body shorter than the header says
    EXPECT_FAILS_WITH(receive(cut, limits, {}),
                      "GetS frame body is 28 bytes but the header "
                      "says 29");
}

TEST(Peer, RejectsTrailingBytes) {
    Limits limits = small_pages();
    for (MsgType t : {MsgType::Join, MsgType::GetS, MsgType::RecallAck, MsgType::Nack}) {
        Wire w = valid_wire(t, limits);
        w.head.push_back(std::byte{0});
        test::fix_body_len(w.head);
        EXPECT_FAILS_WITH(receive(w, limits, {}), "1 trailing bytes after the last field");
    }
}

TEST(Peer, RejectsBadBodyCrc) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::GetS, limits);
    w.head[kGetSFirst] ^= std::byte{1};
    Status s = receive(w, limits, {}).status();
    EXPECT_FAILS_WITH(s, "GetS frame body CRC mismatch");
    EXPECT_EQ(s.code(), Code::Corrupt);
}

TEST(Peer, RejectsBadDataCrc) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::DataS, limits);
    w.data[w.data.size() / 2] ^= std::byte{0x40};
    Status s = receive(w, limits, {}).status();
    EXPECT_FAILS_WITH(s, "DataS frame data CRC mismatch");
    EXPECT_EQ(s.code(), Code::Corrupt);
}

TEST(Peer, RejectsRangeOverflowZeroCountAndOversizedRanges) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::GetS, limits);
    test::put_le(w.head, kGetSFirst, 8, UINT64_MAX - 1);
    test::put_le(w.head, kGetSCount, 4, 5);
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}),
                      "range first 18446744073709551614 + count 5 "
                      "overflows");
    test::put_le(w.head, kGetSFirst, 8, kMaxFileBytes / 64);
    test::put_le(w.head, kGetSCount, 4, 1);
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}), "ends past page 144115188075855871");
    test::put_le(w.head, kGetSFirst, 8, 0);
    test::put_le(w.head, kGetSCount, 4, 0);
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}), "GetS body: range.count is 0");
    test::put_le(w.head, kGetSCount, 4, 0xFFFFFFFF);
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}),
                      "range of 4294967295 pages exceeds the limit of "
                      "256");
}

TEST(Peer, RejectsBadNodeId) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::GetM, limits);
    test::put_le(w.head, kGetSHome, 1, 64);
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}),
                      "GetM body: file.home is node 64, but node ids are "
                      "below 64");
    test::put_le(w.head, kGetSHome, 1, 0xFF);  // kNoNode is not a node either
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}), "file.home is node 255");
}

TEST(Peer, RejectsBadStatusCode) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::FsyncAck, limits);
    size_t status_at = kHeaderSize + 16;  // session, incarnation, status
    test::put_le(w.head, status_at, 2, 999);
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}),
                      "FsyncAck body: status 999 is not a known error "
                      "code");
    Wire n = valid_wire(MsgType::Nack, limits);
    test::put_le(n.head, kHeaderSize + 25, 2, 0);  // session, incarnation, file, status = Ok
    test::reseal(n.head);
    EXPECT_FAILS_WITH(receive(n, limits, {}), "a Nack must carry an error status, not Ok");
}

TEST(Peer, RejectsBooleansOtherThanZeroOrOne) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::Recall, limits);
    w.head.back() = std::byte{2};  // to_shared is the last field
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}), "field to_shared is a boolean but holds 2");
}

TEST(Peer, RejectsNegativeTime) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::LeaseRenew, limits);
    test::put_le(w.head, kHeaderSize + 8, 8, static_cast<uint64_t>(-5));
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}), "time -5 is negative");
}

TEST(Peer, RejectsAnIdOnTypesWithoutOne) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::PutS, limits);
    test::put_le(w.head, 16, 8, 77);
    test::reseal(w.head);
    EXPECT_FAILS_WITH(receive(w, limits, {}), "PutS frame has id 77, but PutS carries none");
}

TEST(Peer, RejectsDataThatDoesNotMatchTheRange) {
    Limits limits = small_pages();
    auto rng = test::rng_for_test();
    Message m = random_message(MsgType::DataS, rng, limits);
    m.range = Range{0, 3};  // a random first page could end the range past the largest file
    m.pages = {random_page(rng, 64), random_page(rng, 64), random_page(rng, 64)};
    auto w = encode(m, limits);
    ASSERT_TRUE(w.is_ok());
    // The range says 4 pages; the data section holds 3.
    size_t count_at = kHeaderSize + 8 + 8 + 9 + 8;
    test::put_le(w.value().head, count_at, 4, 4);
    test::reseal(w.value().head);
    EXPECT_FAILS_WITH(receive(w.value(), limits, {}),
                      "DataS of 4 pages has 3 pages of data, "
                      "expected 4");
    // A DataM with part of its pages.
    Message dm = random_message(MsgType::DataM, rng, limits);
    dm.range = Range{0, 2};
    dm.pages = {random_page(rng, 64), random_page(rng, 64)};
    auto wm = encode(dm, limits);
    ASSERT_TRUE(wm.is_ok());
    test::put_le(wm.value().head, count_at, 4, 3);
    test::reseal(wm.value().head);
    EXPECT_FAILS_WITH(receive(wm.value(), limits, {}), "DataM of 3 pages has 2 pages of data");
}

TEST(Peer, RejectsRecallAckBitmapsThatDisagreeWithTheData) {
    Limits limits = small_pages();
    auto rng = test::rng_for_test();
    Message m = random_message(MsgType::RecallAck, rng, limits);
    m.range = Range{0, 5};
    m.pages = {random_page(rng, 64), nullptr, nullptr, random_page(rng, 64), nullptr};
    auto w = encode(m, limits);
    ASSERT_TRUE(w.is_ok());
    Wire extra = w.value();
    extra.head.back() = std::byte{0x29};  // pages 0 and 3, and bit 5: past the range
    test::reseal(extra.head);
    EXPECT_FAILS_WITH(receive(extra, limits, {}),
                      "presence bitmap has bit 5 set, past the "
                      "range's 5 pages");
    Wire fewer = w.value();
    fewer.head.back() = std::byte{0x01};  // only page 0, but two pages of data
    test::reseal(fewer.head);
    EXPECT_FAILS_WITH(receive(fewer, limits, {}),
                      "RecallAck of 5 pages has 2 pages of data, "
                      "expected 1");
}

TEST(Peer, RejectsOtherFamiliesAndMismatchedBuffers) {
    Limits limits = small_pages();
    Wire w = valid_wire(MsgType::DataS, limits);
    FrameHeader h = test::header_of(w.head, limits);
    auto bufs = make_page_buffers(h, limits);
    bufs.pages.pop_back();
    EXPECT_FAILS_WITH(decode_peer(h, test::body_of(w.head), bufs.pages, limits, {}),
                      "page buffers for");
    FrameHeader other = h;
    other.type = FrameType::ClientOpen;
    EXPECT_FAILS_WITH(decode_peer(other, test::body_of(w.head), {}, limits, {}),
                      "frame type ClientOpen is not a peer message");
}

// The layout table in docs/design/wire.md is the one the codec uses.
TEST(Peer, DesignDocHasTheCodecsLayoutTable) {
    std::ifstream in(VR_WIRE_DOC);
    ASSERT_TRUE(in) << "cannot read " << VR_WIRE_DOC;
    std::stringstream doc;
    doc << in.rdbuf();
    EXPECT_NE(doc.str().find(peer_layout_table()), std::string::npos)
        << "docs/design/wire.md must contain this table verbatim:\n"
        << peer_layout_table();
}

}  // namespace
}  // namespace vr::wire
