// Handshake frames: seeded random round trips of every message, and rejection of node names,
// versions, booleans, codes and ids that break the rules.
#include "wire/handshake.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace vr::wire {
namespace {

std::string random_name(std::mt19937_64& rng) {
    static constexpr std::string_view kChars =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    std::string s(1 + rng() % kNodeNameMax, 'x');
    for (char& c : s) {
        c = kChars[rng() % kChars.size()];
    }
    return s;
}

template <size_t N>
void randomize(std::array<uint8_t, N>& a, std::mt19937_64& rng) {
    for (uint8_t& b : a) {
        b = static_cast<uint8_t>(rng());
    }
}

Handshake random_handshake(int kind, std::mt19937_64& rng) {
    switch (kind) {
        case 0: {
            AuthHello m;
            m.protocol_version = static_cast<uint16_t>(1 + rng() % 65535);
            m.cluster_hash = rng();
            m.encrypt = rng() % 2 == 0;
            randomize(m.nonce, rng);
            m.node_name = random_name(rng);
            return m;
        }
        case 1: {
            AuthChallenge m;
            m.protocol_version = static_cast<uint16_t>(1 + rng() % 65535);
            m.cluster_hash = rng();
            m.encrypt = rng() % 2 == 0;
            randomize(m.nonce, rng);
            randomize(m.tag, rng);
            m.node_name = random_name(rng);
            return m;
        }
        case 2: {
            AuthResponse m;
            randomize(m.tag, rng);
            return m;
        }
        case 3:
            return AuthWelcome{rng() % 2 == 0};
        default: {
            AuthRefuse m;
            m.code = rng() % 2 == 0 ? Code::PermissionDenied : Code::InvalidArgument;
            m.reason = std::string(rng() % 200, 'r');
            return m;
        }
    }
}

Result<Handshake> round_trip(const std::vector<std::byte>& frame, const Limits& limits = {}) {
    auto h = decode_header(std::span(frame).first(kHeaderSize), limits);
    VR_TRY(h);
    return decode_handshake(h.value(), test::body_of(frame), limits);
}

TEST(Handshake, EveryMessageRoundTrips) {
    auto rng = test::rng_for_test();
    for (int i = 0; i < 500; ++i) {
        Handshake m = random_handshake(i % 5, rng);
        std::vector<std::byte> frame;
        ASSERT_TRUE(encode_handshake(m, Limits{}, frame).is_ok());
        auto back = round_trip(frame);
        ASSERT_TRUE(back.is_ok()) << back.status().to_string();
        EXPECT_TRUE(back.value() == m) << "kind " << i % 5;
    }
}

std::vector<std::byte> hello_frame(const std::string& name = "node-a.1") {
    AuthHello m;
    m.node_name = name;
    m.cluster_hash = 42;
    std::vector<std::byte> frame;
    EXPECT_TRUE(encode_handshake(m, Limits{}, frame).is_ok());
    return frame;
}

TEST(Handshake, RejectsBadNodeNames) {
    std::vector<std::byte> frame;
    AuthHello m;
    m.node_name = "";
    EXPECT_FAILS_WITH(encode_handshake(m, Limits{}, frame), "node_name is empty");
    m.node_name = std::string(65, 'a');
    EXPECT_FAILS_WITH(encode_handshake(m, Limits{}, frame),
                      "node_name of 65 bytes exceeds the limit of 64");
    // A name with a slash, written over a valid one on the wire.
    std::vector<std::byte> f = hello_frame("abc");
    f[f.size() - 2] = std::byte{'/'};
    test::reseal(f);
    EXPECT_FAILS_WITH(round_trip(f), "AuthHello body: node_name has byte 0x2f at offset 1");
    f[f.size() - 2] = std::byte{0};
    test::reseal(f);
    EXPECT_FAILS_WITH(round_trip(f), "node_name has byte 0x00 at offset 1");
    // A length prefix longer than the body.
    std::vector<std::byte> g = hello_frame("abc");
    g[g.size() - 4] = std::byte{4};
    test::reseal(g);
    EXPECT_FAILS_WITH(round_trip(g), "ends inside field node_name");
}

TEST(Handshake, RejectsVersionZeroBadBooleansAndIds) {
    std::vector<std::byte> f = hello_frame();
    test::put_le(f, kHeaderSize, 2, 0);
    test::reseal(f);
    EXPECT_FAILS_WITH(round_trip(f), "protocol_version is 0");
    f = hello_frame();
    f[kHeaderSize + 10] = std::byte{3};  // encrypt
    test::reseal(f);
    EXPECT_FAILS_WITH(round_trip(f), "field encrypt is a boolean but holds 3");
    f = hello_frame();
    test::put_le(f, 16, 8, 1);
    test::reseal(f);
    EXPECT_FAILS_WITH(round_trip(f), "handshake frames carry none");
}

TEST(Handshake, RefusalsCarryAKnownErrorCode) {
    std::vector<std::byte> frame;
    EXPECT_FAILS_WITH(encode_handshake(AuthRefuse{Code::Ok, "fine"}, Limits{}, frame),
                      "a refusal must carry an error code, not Ok");
    EXPECT_FAILS_WITH(
        encode_handshake(AuthRefuse{Code::Busy, std::string("a\0b", 3)}, Limits{}, frame),
        "reason has a NUL byte at offset 1");
    ASSERT_TRUE(encode_handshake(AuthRefuse{Code::Busy, "later"}, Limits{}, frame).is_ok());
    test::put_le(frame, kHeaderSize, 2, 4242);
    test::reseal(frame);
    EXPECT_FAILS_WITH(round_trip(frame), "code 4242 is not a known error code");
}

TEST(Handshake, RejectsOtherFamilies) {
    FrameHeader h;
    h.type = FrameType::GetS;
    EXPECT_FAILS_WITH(decode_handshake(h, {}, Limits{}), "GetS is not a handshake message");
}

}  // namespace
}  // namespace vr::wire
