// CRC32C: a slicing-by-8 table implementation and an SSE4.2 one, picked once at run time.
#include "wire/crc32c.h"

#include <array>
#include <cstring>

#include "base/assert.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace vr::wire {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // reflected Castagnoli polynomial

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
    Tables t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1) != 0 ? (c >> 1) ^ kPoly : c >> 1;
        }
        t[0][i] = c;
    }
    for (size_t s = 1; s < 8; ++s) {
        for (size_t i = 0; i < 256; ++i) {
            uint32_t prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][prev & 0xFF];
        }
    }
    return t;
}

constexpr Tables kTables = make_tables();

uint64_t load_le64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

}  // namespace

uint32_t crc32c_extend_portable(uint32_t crc, std::span<const std::byte> bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    size_t n = bytes.size();
    uint32_t c = ~crc;
    while (n >= 8) {
        uint64_t v = load_le64(p) ^ c;
        c = kTables[7][v & 0xFF] ^ kTables[6][(v >> 8) & 0xFF] ^ kTables[5][(v >> 16) & 0xFF] ^
            kTables[4][(v >> 24) & 0xFF] ^ kTables[3][(v >> 32) & 0xFF] ^
            kTables[2][(v >> 40) & 0xFF] ^ kTables[1][(v >> 48) & 0xFF] ^ kTables[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xFF];
        ++p;
        --n;
    }
    return ~c;
}

#if defined(__x86_64__)

bool crc32c_hardware_available() {
    static const bool kHave = __builtin_cpu_supports("sse4.2");
    return kHave;
}

__attribute__((target("sse4.2"))) uint32_t crc32c_extend_hardware(
    uint32_t crc, std::span<const std::byte> bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    size_t n = bytes.size();
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t v = 0;
        std::memcpy(&v, p, 8);  // x86 is little-endian
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    auto c32 = static_cast<uint32_t>(c);
    while (n > 0) {
        c32 = _mm_crc32_u8(c32, *p);
        ++p;
        --n;
    }
    return ~c32;
}

#else

bool crc32c_hardware_available() {
    return false;
}

uint32_t crc32c_extend_hardware(uint32_t crc, std::span<const std::byte> bytes) {
    VR_UNREACHABLE("no CRC32C instruction on this architecture");
}

#endif

uint32_t crc32c_extend(uint32_t crc, std::span<const std::byte> bytes) {
    if (crc32c_hardware_available()) {
        return crc32c_extend_hardware(crc, bytes);
    }
    return crc32c_extend_portable(crc, bytes);
}

}  // namespace vr::wire
