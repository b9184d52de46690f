// Shared by the wire fuzz target and its corpus generator: an input is one selector byte, then
// the bytes of one frame (header, body, data). Selector bit 0 picks the Limits; bit 1 asks the
// target to recompute both CRCs before decoding, so that mutated bodies and data get past the
// CRC checks to the field checks (without it, almost every mutation dies on a CRC).
#pragma once

#include <cstdint>

#include "wire/frame.h"

namespace vr::wire::fuzz {

// 0: the defaults. 1: tiny limits (64-byte pages, 8 pages, short paths and I/O), so that random
// inputs reach page data and every limit check within a few kilobytes.
inline Limits limits_for(uint8_t selector) {
    Limits l;
    if ((selector & 1) != 0) {
        l.max_body = 1024;
        l.page_size = 64;
        l.max_pages = 8;
        l.max_path = 64;
        l.max_name = 16;
        l.max_io = 256;
        l.max_message = 64;
    }
    return l;
}

inline bool reseal_for(uint8_t selector) {
    return (selector & 2) != 0;
}

}  // namespace vr::wire::fuzz
