// Frame headers: a valid header round-trips exactly, and decode_header rejects each malformed
// header with a message naming the problem. The body checks (length, CRC) that every family
// decoder runs first are tested here too, on a handshake frame (the simplest family).
#include "wire/frame.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "wire/handshake.h"

namespace vr::wire {
namespace {

FrameHeader valid_header() {
    FrameHeader h;
    h.type = FrameType::DataS;
    h.flags = kFlagData;
    h.body_len = 100;
    h.data_len = 4096 * 3;
    h.id = 0x0123456789ABCDEF;
    h.body_crc = 0xDEADBEEF;
    h.data_crc = 0xCAFEF00D;
    return h;
}

Result<FrameHeader> decode(const FrameHeader& h, const Limits& limits = Limits{}) {
    auto raw = encode_header(h);
    return decode_header(raw, limits);
}

TEST(Frame, HeaderRoundTripsAndHasTheDocumentedLayout) {
    FrameHeader h = valid_header();
    auto raw = encode_header(h);
    EXPECT_EQ(raw[0], std::byte{'V'});
    EXPECT_EQ(raw[1], std::byte{'R'});
    EXPECT_EQ(raw[2], std::byte{'M'});
    EXPECT_EQ(raw[3], std::byte{'1'});
    EXPECT_EQ(raw[4], std::byte{1});
    EXPECT_EQ(raw[5], std::byte{9});      // DataS
    EXPECT_EQ(raw[16], std::byte{0xEF});  // id, little-endian
    EXPECT_EQ(raw[23], std::byte{0x01});
    auto back = decode_header(raw, Limits{});
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(back.value(), h);
}

TEST(Frame, EveryTypeHasAFamilyAndAName) {
    for (int n = 0; n < 256; ++n) {
        auto t = static_cast<FrameType>(n);
        bool known = family_of(t) != Family::Unknown;
        EXPECT_EQ(known, type_name(t) != "?") << n;
        FrameHeader h;
        h.type = t;
        auto r = decode(h);
        EXPECT_EQ(r.is_ok(), known) << n << " " << r.status().to_string();
    }
}

TEST(Frame, RejectsWrongHeaderSize) {
    std::vector<std::byte> short_header(31);
    EXPECT_FAILS_WITH(decode_header(short_header, Limits{}), "frame header of 31 bytes");
}

TEST(Frame, RejectsBadMagic) {
    auto raw = encode_header(valid_header());
    raw[0] = std::byte{'X'};
    EXPECT_FAILS_WITH(decode_header(raw, Limits{}), "bad frame magic");
}

TEST(Frame, RejectsBadVersion) {
    auto raw = encode_header(valid_header());
    raw[4] = std::byte{2};
    EXPECT_FAILS_WITH(decode_header(raw, Limits{}), "frame version 2 is not supported");
}

TEST(Frame, RejectsUnknownType) {
    auto raw = encode_header(valid_header());
    raw[5] = std::byte{200};
    EXPECT_FAILS_WITH(decode_header(raw, Limits{}), "unknown frame type 200");
    raw[5] = std::byte{0};
    EXPECT_FAILS_WITH(decode_header(raw, Limits{}), "unknown frame type 0");
}

TEST(Frame, RejectsUnknownFlags) {
    FrameHeader h = valid_header();
    h.flags = kFlagData | 0x0004;
    EXPECT_FAILS_WITH(decode(h), "unknown frame flags 0x0004");
    h.flags = 0x8000;
    EXPECT_FAILS_WITH(decode(h), "unknown frame flags 0x8000");
}

TEST(Frame, RejectsOversizedBody) {
    FrameHeader h = valid_header();
    h.body_len = 70000;
    EXPECT_FAILS_WITH(decode(h), "frame body of 70000 bytes exceeds the limit of 65536");
    h.body_len = 65536;
    EXPECT_TRUE(decode(h).is_ok());
}

TEST(Frame, RejectsOversizedPageData) {
    FrameHeader h = valid_header();
    h.data_len = 257 * 4096;
    EXPECT_FAILS_WITH(decode(h), "frame data of 1052672 bytes exceeds the limit of 1048576");
    h.data_len = 256 * 4096;
    EXPECT_TRUE(decode(h).is_ok());
    h.data_len = 4095;
    EXPECT_FAILS_WITH(decode(h), "not a whole number of 4096-byte pages");
}

TEST(Frame, RejectsOversizedClientData) {
    FrameHeader h;
    h.type = FrameType::ClientWrite;
    h.flags = kFlagData;
    h.data_len = (1u << 20) + 1;
    EXPECT_FAILS_WITH(decode(h), "frame data of 1048577 bytes exceeds the limit of 1048576");
    h.data_len = 4097;  // client data need not be whole pages
    EXPECT_TRUE(decode(h).is_ok());
}

TEST(Frame, DataFlagMustMatchTheDataSection) {
    FrameHeader h = valid_header();
    h.flags = 0;
    EXPECT_FAILS_WITH(decode(h), "frame without the data flag has data_len 12288");
    h.data_len = 0;
    EXPECT_FAILS_WITH(decode(h), "frame without data has data_crc 0xcafef00d");
    h.data_crc = 0;
    EXPECT_TRUE(decode(h).is_ok());
    h.flags = kFlagData;
    EXPECT_FAILS_WITH(decode(h), "frame has the data flag but data_len 0");
    h.type = FrameType::Inv;
    h.data_len = 4096;
    EXPECT_FAILS_WITH(decode(h), "frame type Inv carries no data but has the data flag");
    h.type = FrameType::AuthHello;
    EXPECT_FAILS_WITH(decode(h), "frame type AuthHello carries no data");
}

TEST(Frame, UncheckedDataOnlyWithDataOnDataSAndDataMAndWithoutACrc) {
    FrameHeader h = valid_header();  // a DataS with pages
    h.flags = kFlagData | kFlagDataUnchecked;
    h.data_crc = 0;
    auto ok = decode(h);
    ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
    EXPECT_TRUE(ok.value().data_unchecked());
    h.type = FrameType::DataM;
    EXPECT_TRUE(decode(h).is_ok());

    h.data_crc = 0xCAFEF00D;
    EXPECT_FAILS_WITH(decode(h), "frame with unchecked data has data_crc 0xcafef00d, expected 0");
    h.data_crc = 0;
    for (FrameType t : {FrameType::PutM, FrameType::Reclaim, FrameType::RecallAck}) {
        h.type = t;  // pages, but never streamed from a file
        EXPECT_FAILS_WITH(decode(h), "cannot carry unchecked data (only DataS and DataM)");
    }
    h.type = FrameType::ClientWrite;
    EXPECT_FAILS_WITH(decode(h), "frame type ClientWrite cannot carry unchecked data");
    h.type = FrameType::DataM;  // a DataM without pages has nothing to leave unchecked
    h.flags = kFlagDataUnchecked;
    h.data_len = 0;
    EXPECT_FAILS_WITH(decode(h), "frame has the unchecked-data flag but no data flag");
    h.type = FrameType::MetaReply;
    EXPECT_FAILS_WITH(decode(h), "unchecked-data flag but no data flag");
}

TEST(Frame, LimitsAreChecked) {
    EXPECT_TRUE(Limits{}.check().is_ok());
    Limits l;
    l.page_size = 0;
    EXPECT_FALSE(l.valid());
    l = Limits{};
    l.max_pages = 1u << 20;
    EXPECT_FALSE(l.valid());
    l = Limits{};
    l.max_path = 70000;
    EXPECT_FALSE(l.valid());
    l = Limits{};
    l.max_name = 256;
    EXPECT_FALSE(l.valid());
    l = Limits{};
    l.page_size = 16;  // the simulator's pages
    EXPECT_TRUE(l.valid());
}

// check_body, through a handshake frame.
std::vector<std::byte> welcome_frame() {
    std::vector<std::byte> frame;
    EXPECT_TRUE(encode_handshake(AuthWelcome{true}, Limits{}, frame).is_ok());
    return frame;
}

TEST(Frame, BodyMustHaveTheHeadersLength) {
    std::vector<std::byte> frame = welcome_frame();
    FrameHeader h = test::header_of(frame, Limits{});
    std::span<const std::byte> body = test::body_of(frame);
    EXPECT_TRUE(check_body(h, body).is_ok());
    EXPECT_FAILS_WITH(check_body(h, body.first(0)),
                      "AuthWelcome frame body is 0 bytes but the header says 1");
}

TEST(Frame, BodyCrcCoversHeaderAndBody) {
    std::vector<std::byte> frame = welcome_frame();
    std::vector<std::byte> bad_body = frame;
    bad_body[kHeaderSize] = std::byte{0};  // encrypt 1 -> 0, CRC not updated
    FrameHeader h = test::header_of(bad_body, Limits{});
    EXPECT_FAILS_WITH(check_body(h, test::body_of(bad_body)), "frame body CRC mismatch");
    EXPECT_EQ(check_body(h, test::body_of(bad_body)).code(), Code::Corrupt);
    std::vector<std::byte> bad_id = frame;
    bad_id[16] = std::byte{7};  // the id is covered by body_crc
    h = test::header_of(bad_id, Limits{});
    EXPECT_FAILS_WITH(check_body(h, test::body_of(bad_id)), "frame body CRC mismatch");
}

}  // namespace
}  // namespace vr::wire
