// Linearizability of a read/write register whose writes store unique values.
//
// With unique values each read names the write it observed, and linearizability reduces to a
// check on "zones" (Gibbons and Korach, "Testing shared memories", SIAM J. Computing 1997):
// for value v, let f_v be the earliest completion and s_v the latest invocation among the write
// of v and the reads of v. The zone is forward [f_v, s_v] when f_v < s_v, else backward
// [s_v, f_v]. The history is linearizable iff every read's write started before the read ended,
// no two forward zones intersect, and no backward zone lies inside a forward zone. O(n log n).
//
// Times are any totally ordered numbers (the simulator uses event sequence numbers, the cluster
// tests CLOCK_MONOTONIC nanoseconds). A write whose outcome is unknown (it may or may not have
// taken effect) has `complete = kPending`.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace vr::check {

inline constexpr int64_t kPending = std::numeric_limits<int64_t>::max();

struct RegisterOp {
    enum class Kind : uint8_t { Read, Write };
    Kind kind = Kind::Read;
    uint64_t value = 0;
    int64_t invoke = 0;
    int64_t complete = 0;
    std::string who;  // for reports: node, client, operation number
};

struct Violation {
    std::string what;
    std::vector<RegisterOp> ops;  // the operations involved
    std::string to_string() const;
};

// `initial` is the register's value before any write (a write that completed before everything).
std::optional<Violation> check_register(const std::vector<RegisterOp>& ops, uint64_t initial);

}  // namespace vr::check
