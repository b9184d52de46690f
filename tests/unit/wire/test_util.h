// Helpers shared by the wire tests: the run's random seed, and frame surgery that edits an
// encoded frame and re-seals its CRC so that a decoder reaches the check a test aims at.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "wire/frame.h"

namespace vr::wire::test {

// The seed of this run: --seed=N or the VR_SEED environment variable, else a random one. It is
// printed at start-up (wire_test_main.cc) so that any failure can be replayed.
uint64_t seed();
void set_seed(uint64_t s);

// A generator for one test: the run's seed mixed with the test's name, so tests do not depend
// on the order they run in.
std::mt19937_64 rng_for_test();

std::vector<std::byte> bytes_of(std::string_view s);
std::vector<std::byte> random_bytes(std::mt19937_64& rng, size_t n);

// Little-endian stores into an encoded frame.
void put_le(std::vector<std::byte>& frame, size_t at, size_t n, uint64_t v);
// Recomputes body_crc (header bytes [0,24) and the body) after an edit.
void reseal(std::vector<std::byte>& frame);
// Sets body_len to the actual body size and reseals.
void fix_body_len(std::vector<std::byte>& frame);

// The header and body of an encoded frame; fails the test if the header does not decode.
FrameHeader header_of(const std::vector<std::byte>& frame, const Limits& limits);
std::span<const std::byte> body_of(const std::vector<std::byte>& frame);

// Expects `s` to be an error whose context contains `needle`.
::testing::AssertionResult fails_with(const Status& s, std::string_view needle);

}  // namespace vr::wire::test

#define EXPECT_FAILS_WITH(expr, needle) \
    EXPECT_TRUE(::vr::wire::test::fails_with(::vr::detail::status_of(expr), needle))
