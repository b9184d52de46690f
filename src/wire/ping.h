// Link heartbeats: Ping carries the sender's monotonic time in microseconds and Pong echoes it,
// which measures the round trip. Only the transport reads them; the engine never sees them.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "wire/frame.h"

namespace vr::wire {

Status encode_ping(bool pong, uint64_t time_us, std::vector<std::byte>& frame);
// Checks the body (length, CRC) of a Ping or Pong frame and returns its time.
Result<uint64_t> decode_ping(const FrameHeader& header, std::span<const std::byte> body);

}  // namespace vr::wire
