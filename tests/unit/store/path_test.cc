// Lexical path checks and the errno mapping: each rule of path.h is exercised on both sides of
// its limit, and each errno family lands on the code the brief of the store fixes.
#include "store/path.h"

#include <gtest/gtest.h>

#include <string>

#include "store/posix.h"
#include "store_test_util.h"

namespace vr::store {
namespace {

TEST(Path, AcceptsRelativePathsAndTheRoot) {
    VR_EXPECT_OK(check_path(""));
    VR_EXPECT_OK(check_path("a"));
    VR_EXPECT_OK(check_path("a/b/c"));
    VR_EXPECT_OK(check_path("a/b/"));
    VR_EXPECT_OK(check_path("..."));  // only exactly "." and ".." are special
    VR_EXPECT_OK(check_path(".hidden/x"));
    VR_EXPECT_OK(check_path(std::string(kNameBytesMax, 'n')));
    EXPECT_EQ(canonical("a/b/"), "a/b");
    EXPECT_EQ(canonical(""), "");
}

TEST(Path, RefusesEachMalformedShapeWithAMessageNamingIt) {
    VR_EXPECT_ERROR(check_path("/etc/passwd"), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(check_path("/"), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(check_path("a//b"), Code::InvalidArgument, "empty component");
    VR_EXPECT_ERROR(check_path("a//"), Code::InvalidArgument, "empty component");
    VR_EXPECT_ERROR(check_path(".."), Code::InvalidArgument, "'..' component");
    VR_EXPECT_ERROR(check_path("a/../b"), Code::InvalidArgument, "'..' component");
    VR_EXPECT_ERROR(check_path("./a"), Code::InvalidArgument, "'.' component");
    VR_EXPECT_ERROR(check_path(std::string("a\0b", 3)), Code::InvalidArgument, "NUL");
    VR_EXPECT_ERROR(check_path(std::string(kNameBytesMax + 1, 'n')),
                    Code::InvalidArgument,
                    "component of 256 bytes");
    std::string long_path;
    while (long_path.size() <= kPathBytesMax) {
        long_path += "abcdefgh/";
    }
    VR_EXPECT_ERROR(check_path(long_path), Code::InvalidArgument, "more than 4095");
    std::string at_limit(kPathBytesMax, 'x');
    for (size_t i = 200; i < at_limit.size(); i += 200) {
        at_limit[i] = '/';
    }
    VR_EXPECT_OK(check_path(at_limit));
}

TEST(Path, NamesAreSingleComponents) {
    VR_EXPECT_OK(check_name("file"));
    VR_EXPECT_ERROR(check_name(""), Code::InvalidArgument, "must not be empty");
    VR_EXPECT_ERROR(check_name("a/b"), Code::InvalidArgument, "must not contain '/'");
    VR_EXPECT_ERROR(check_name(".."), Code::InvalidArgument, "'..' component");
    VR_EXPECT_ERROR(check_name(std::string("x\0", 2)), Code::InvalidArgument, "NUL");
}

TEST(Path, SplitAndJoin) {
    EXPECT_EQ(split_final("").status().code(), Code::InvalidArgument);
    Result<SplitPath> top = split_final("a");
    ASSERT_TRUE(top.is_ok());
    EXPECT_EQ(top->parent, "");
    EXPECT_EQ(top->name, "a");
    Result<SplitPath> deep = split_final("a/b/c");
    ASSERT_TRUE(deep.is_ok());
    EXPECT_EQ(deep->parent, "a/b");
    EXPECT_EQ(deep->name, "c");
    EXPECT_EQ(join("", "a"), "a");
    EXPECT_EQ(join("a/b", "c"), "a/b/c");
}

TEST(Path, PrintableEscapesAndShortens) {
    EXPECT_EQ(printable(std::string("a\0b\n", 4)), "a\\x00b\\x0a");
    std::string shown = printable(std::string(5000, 'x'));
    EXPECT_LT(shown.size(), 200u);
    EXPECT_NE(shown.find("bytes"), std::string::npos);
}

TEST(Errno, EachFamilyMapsToItsCode) {
    struct Case {
        int err;
        Code code;
    };
    const Case cases[] = {
        {ENOENT, Code::NotFound},
        {EEXIST, Code::Exists},
        {ENOTEMPTY, Code::NotEmpty},
        {ESTALE, Code::Stale},
        {EACCES, Code::PermissionDenied},
        {EPERM, Code::PermissionDenied},
        {ENOSPC, Code::NoSpace},
        {EDQUOT, Code::NoSpace},
        {EXDEV, Code::PermissionDenied},
        {ELOOP, Code::PermissionDenied},
        {EROFS, Code::ReadOnly},
        {ENOTDIR, Code::InvalidArgument},
        {EISDIR, Code::InvalidArgument},
        {EINVAL, Code::InvalidArgument},
        {ENAMETOOLONG, Code::InvalidArgument},
        {EFBIG, Code::OutOfRange},
        {EIO, Code::IoError},
        {EBUSY, Code::IoError},
    };
    for (const Case& c : cases) {
        Status s = errno_status(c.err, "op", "some/path");
        EXPECT_EQ(s.code(), c.code) << "errno " << c.err << ": " << s.to_string();
        EXPECT_NE(s.context().find("op 'some/path'"), std::string::npos) << s.to_string();
    }
    EXPECT_NE(errno_status(EXDEV, "open", "x").context().find("escapes the export"),
              std::string::npos);
    EXPECT_NE(errno_status(EIO, "read", "x").context().find("Input/output error"),
              std::string::npos);
}

}  // namespace
}  // namespace vr::store
