// Status/Result: codes round-trip through their wire numbers, context is kept, errno mapping.
#include "base/status.h"

#include <gtest/gtest.h>

namespace vr {
namespace {

TEST(Status, OkAndErrors) {
    EXPECT_TRUE(Status::ok().is_ok());
    Status s(Code::Timeout, "fetching p3");
    EXPECT_FALSE(s.is_ok());
    EXPECT_EQ(s.code(), Code::Timeout);
    EXPECT_EQ(s.to_string(), "Timeout: timed out (fetching p3)");
    EXPECT_EQ(s.with_context("read").context(), "read: fetching p3");
    EXPECT_EQ(errno_of(Code::ReadOnly), EROFS);
    EXPECT_EQ(errno_of(Code::NotFound), ENOENT);
}

TEST(Status, CodeNumbersRoundTripAndRejectUnknown) {
    for (uint16_t n = 0; n < 64; ++n) {
        Code c;
        if (code_from_number(n, &c)) {
            EXPECT_EQ(static_cast<uint16_t>(c), n);
            EXPECT_NE(code_name(c), "UnknownCode");
        }
    }
    Code c;
    EXPECT_FALSE(code_from_number(9999, &c));
}

// Numbers travel on the wire: the newest ones are pinned here, so a renumbering shows.
TEST(Status, CrossDeviceIsTwenty) {
    Code c = Code::Ok;
    ASSERT_TRUE(code_from_number(20, &c));
    EXPECT_EQ(c, Code::CrossDevice);
    EXPECT_EQ(code_name(c), "CrossDevice");
    EXPECT_EQ(errno_of(c), EXDEV);
    EXPECT_EQ(Status(c).to_string(), "CrossDevice: cross-volume rename");
}

Result<int> half(int x) {
    if (x % 2 != 0) {
        return Status(Code::InvalidArgument, "odd");
    }
    return x / 2;
}

Status quarter(int x, int* out) {
    auto h = half(x);
    VR_TRY(h);
    auto q = half(*h);
    VR_TRY(q);
    *out = *q;
    return Status::ok();
}

TEST(Result, ValueOrErrorAndTry) {
    EXPECT_EQ(half(8).value(), 4);
    EXPECT_EQ(half(3).status().code(), Code::InvalidArgument);
    int out = 0;
    EXPECT_TRUE(quarter(8, &out).is_ok());
    EXPECT_EQ(out, 2);
    EXPECT_EQ(quarter(6, &out).code(), Code::InvalidArgument);
}

}  // namespace
}  // namespace vr
