// CRC32C: both implementations against the published check values (the "123456789" check of
// the Castagnoli CRC and the iSCSI test patterns of RFC 3720 B.4), then against each other on
// random data of every length and alignment, and the composition rule that lets senders
// checksum data piecewise.
#include "wire/crc32c.h"

#include <gtest/gtest.h>

#include <array>
#include <string_view>

#include "test_util.h"

namespace vr::wire {
namespace {

struct Vector {
    std::vector<std::byte> data;
    uint32_t crc;
};

std::vector<Vector> known_vectors() {
    std::vector<Vector> out;
    out.push_back({test::bytes_of(""), 0x00000000});
    out.push_back({test::bytes_of("123456789"), 0xE3069283});
    out.push_back({test::bytes_of("a"), 0xC1D04330});
    std::vector<std::byte> zeros(32, std::byte{0});
    out.push_back({zeros, 0x8A9136AA});
    std::vector<std::byte> ones(32, std::byte{0xFF});
    out.push_back({ones, 0x62A8AB43});
    std::vector<std::byte> up(32);
    std::vector<std::byte> down(32);
    for (size_t i = 0; i < 32; ++i) {
        up[i] = static_cast<std::byte>(i);
        down[i] = static_cast<std::byte>(31 - i);
    }
    out.push_back({up, 0x46DD794E});
    out.push_back({down, 0x113FDB5C});
    return out;
}

TEST(Crc32c, PortableMatchesKnownVectors) {
    for (const Vector& v : known_vectors()) {
        EXPECT_EQ(crc32c_extend_portable(0, v.data), v.crc) << v.data.size() << " bytes";
    }
}

TEST(Crc32c, HardwareMatchesKnownVectors) {
    if (!crc32c_hardware_available()) {
        GTEST_SKIP() << "no SSE4.2 on this CPU";
    }
    for (const Vector& v : known_vectors()) {
        EXPECT_EQ(crc32c_extend_hardware(0, v.data), v.crc) << v.data.size() << " bytes";
    }
}

TEST(Crc32c, DispatchMatchesKnownVectors) {
    for (const Vector& v : known_vectors()) {
        EXPECT_EQ(crc32c(v.data), v.crc);
    }
}

TEST(Crc32c, ImplementationsAgreeOnEveryLengthAndAlignment) {
    auto rng = test::rng_for_test();
    std::vector<std::byte> buf = test::random_bytes(rng, 4096 + 64);
    for (size_t offset = 0; offset < 8; ++offset) {
        for (size_t len = 0; len <= 300; ++len) {
            std::span<const std::byte> s = std::span(buf).subspan(offset, len);
            uint32_t seed_crc = static_cast<uint32_t>(rng());
            uint32_t portable = crc32c_extend_portable(seed_crc, s);
            EXPECT_EQ(crc32c_extend(seed_crc, s), portable) << offset << "+" << len;
            if (crc32c_hardware_available()) {
                EXPECT_EQ(crc32c_extend_hardware(seed_crc, s), portable) << offset << "+" << len;
            }
        }
    }
    std::span<const std::byte> page = std::span(buf).first(4096);
    EXPECT_EQ(crc32c(page), crc32c_extend_portable(0, page));
}

TEST(Crc32c, ExtendComposesAndIncrementalMatchesOneShot) {
    auto rng = test::rng_for_test();
    std::vector<std::byte> buf = test::random_bytes(rng, 10000);
    uint32_t whole = crc32c(buf);
    for (int trial = 0; trial < 50; ++trial) {
        size_t cut = rng() % buf.size();
        std::span<const std::byte> all(buf);
        EXPECT_EQ(crc32c_extend(crc32c(all.first(cut)), all.subspan(cut)), whole);
        Crc32c inc;
        size_t at = 0;
        while (at < buf.size()) {
            size_t n = std::min<size_t>(rng() % 700, buf.size() - at);
            inc.update(all.subspan(at, n));
            at += n;
        }
        EXPECT_EQ(inc.value(), whole);
    }
}

}  // namespace
}  // namespace vr::wire
