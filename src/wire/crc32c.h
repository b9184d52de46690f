// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of every frame's
// header and body and, separately, of its data section. The SSE4.2 `crc32` instruction computes
// it at several GB/s; it is chosen at run time, with a slicing-by-8 table as the portable
// fallback. Both give the same results (crc32c_test checks them against the published vectors).
//
// Values compose: crc32c_extend(crc32c(a), b) == crc32c(a ++ b), so a sender that streams page
// data from a file (sendfile) can checksum it piecewise with Crc32c.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vr::wire {

// The CRC32C of `bytes` appended to data whose CRC32C is `crc` (0 for no data).
uint32_t crc32c_extend(uint32_t crc, std::span<const std::byte> bytes);

inline uint32_t crc32c(std::span<const std::byte> bytes) {
    return crc32c_extend(0, bytes);
}

// An incremental CRC32C over a sequence of spans.
class Crc32c {
  public:
    void update(std::span<const std::byte> bytes) { crc_ = crc32c_extend(crc_, bytes); }
    uint32_t value() const { return crc_; }

  private:
    uint32_t crc_ = 0;
};

// The two implementations behind crc32c_extend, exposed for tests and benchmarks.
uint32_t crc32c_extend_portable(uint32_t crc, std::span<const std::byte> bytes);
// True when the CPU has SSE4.2; crc32c_extend_hardware must not be called otherwise.
bool crc32c_hardware_available();
uint32_t crc32c_extend_hardware(uint32_t crc, std::span<const std::byte> bytes);

}  // namespace vr::wire
