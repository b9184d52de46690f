// Helpers shared by the wire tests, and the test binary's main (it takes --seed=N).
#include "test_util.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "wire/crc32c.h"

namespace vr::wire::test {
namespace {
uint64_t g_seed = 0;
}

uint64_t seed() {
    return g_seed;
}

void set_seed(uint64_t s) {
    g_seed = s;
}

std::mt19937_64 rng_for_test() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        info == nullptr ? "" : std::string(info->test_suite_name()) + "." + info->name();
    std::seed_seq seq{g_seed, static_cast<uint64_t>(std::hash<std::string>{}(name))};
    return std::mt19937_64(seq);
}

std::vector<std::byte> bytes_of(std::string_view s) {
    auto b = std::as_bytes(std::span(s.data(), s.size()));
    return std::vector<std::byte>(b.begin(), b.end());
}

std::vector<std::byte> random_bytes(std::mt19937_64& rng, size_t n) {
    std::vector<std::byte> out(n);
    for (auto& b : out) {
        b = static_cast<std::byte>(rng());
    }
    return out;
}

void put_le(std::vector<std::byte>& frame, size_t at, size_t n, uint64_t v) {
    for (size_t i = 0; i < n; ++i) {
        frame.at(at + i) = static_cast<std::byte>(v >> (8 * i));
    }
}

void reseal(std::vector<std::byte>& frame) {
    std::span<const std::byte> all(frame);
    uint32_t crc = crc32c_extend(crc32c(all.first(24)), all.subspan(kHeaderSize));
    put_le(frame, 24, 4, crc);
}

void fix_body_len(std::vector<std::byte>& frame) {
    put_le(frame, 8, 4, frame.size() - kHeaderSize);
    reseal(frame);
}

FrameHeader header_of(const std::vector<std::byte>& frame, const Limits& limits) {
    auto h = decode_header(std::span(frame).first(kHeaderSize), limits);
    EXPECT_TRUE(h.is_ok()) << h.status().to_string();
    return h.is_ok() ? h.value() : FrameHeader{};
}

std::span<const std::byte> body_of(const std::vector<std::byte>& frame) {
    return std::span<const std::byte>(frame).subspan(kHeaderSize);
}

::testing::AssertionResult fails_with(const Status& s, std::string_view needle) {
    if (s.is_ok()) {
        return ::testing::AssertionFailure()
               << "expected an error containing \"" << needle << "\", got Ok";
    }
    if (s.context().find(needle) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "expected an error containing \"" << needle << "\", got: " << s.to_string();
    }
    return ::testing::AssertionSuccess() << s.to_string();
}

}  // namespace vr::wire::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    uint64_t seed = std::random_device{}();
    if (const char* env = std::getenv("VR_SEED")) {
        seed = std::strtoull(env, nullptr, 10);
    }
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--seed=", 7) == 0) {
            seed = std::strtoull(argv[i] + 7, nullptr, 10);
        }
    }
    vr::wire::test::set_seed(seed);
    std::printf("wire tests: seed %llu (replay with --seed=%llu)\n",
                static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed));
    return RUN_ALL_TESTS();
}
