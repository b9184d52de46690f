// The register checker must accept linearizable histories and reject hand-made violations
// (stale read, new-old inversion, read from the future, a read of a value nobody wrote).
#include "check/linearizability.h"

#include <gtest/gtest.h>

namespace vr::check {
namespace {

RegisterOp W(uint64_t v, int64_t a, int64_t b) {
    return {RegisterOp::Kind::Write, v, a, b, "w"};
}
RegisterOp R(uint64_t v, int64_t a, int64_t b) {
    return {RegisterOp::Kind::Read, v, a, b, "r"};
}

TEST(Linearizability, AcceptsSequentialHistory) {
    EXPECT_FALSE(check_register({R(0, 1, 2), W(1, 3, 4), R(1, 5, 6), W(2, 7, 8), R(2, 9, 10)}, 0));
}

TEST(Linearizability, AcceptsConcurrentReadOfEitherValue) {
    // The read overlaps the write: old or new value are both fine.
    EXPECT_FALSE(check_register({W(1, 1, 10), R(0, 2, 3)}, 0));
    EXPECT_FALSE(check_register({W(1, 1, 10), R(1, 2, 3)}, 0));
    EXPECT_FALSE(check_register({W(1, 1, 10), R(1, 2, 3), R(1, 4, 5)}, 0));
}

TEST(Linearizability, RejectsStaleRead) {
    auto v = check_register({W(1, 1, 2), R(0, 3, 4)}, 0);
    ASSERT_TRUE(v);
    EXPECT_NE(v->what.find("stale"), std::string::npos) << v->to_string();
}

TEST(Linearizability, RejectsNewOldInversion) {
    // During a long write, one read sees the new value and a later read the old one.
    auto v = check_register({W(1, 1, 20), R(1, 2, 3), R(0, 4, 5)}, 0);
    ASSERT_TRUE(v) << "new-old inversion must be caught";
}

TEST(Linearizability, RejectsReadFromTheFuture) {
    auto v = check_register({R(1, 1, 2), W(1, 3, 4)}, 0);
    ASSERT_TRUE(v);
}

TEST(Linearizability, RejectsUnknownValueAndDuplicateWrite) {
    EXPECT_TRUE(check_register({R(7, 1, 2)}, 0));
    EXPECT_TRUE(check_register({W(1, 1, 2), W(1, 3, 4)}, 0));
}

TEST(Linearizability, RejectsLostUpdateSeenByTwoReaders) {
    // w1 then w2 complete in order; a later read returns w1's value.
    auto v = check_register({W(1, 1, 2), W(2, 3, 4), R(1, 5, 6)}, 0);
    ASSERT_TRUE(v);
}

TEST(Linearizability, PendingWriteMayOrMayNotHaveHappened) {
    EXPECT_FALSE(check_register({W(1, 1, kPending), R(0, 5, 6)}, 0));
    EXPECT_FALSE(check_register({W(1, 1, kPending), R(1, 5, 6)}, 0));
    // But once seen, it cannot be unseen.
    EXPECT_TRUE(check_register({W(1, 1, kPending), R(1, 5, 6), R(0, 7, 8)}, 0));
}

}  // namespace
}  // namespace vr::check
