// The preload library's pure rules: which flags it redirects and what it passes on, and where a
// path goes (docs/preload.md). The end-to-end behaviour under LD_PRELOAD is preload_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>

#include "preload/flags.h"
#include "preload/resolve.h"
#include "vremote/fcntl.h"

namespace vr::preload {
namespace {

TEST(PreloadFlags, PublicHeaderAgreesWithTheLibrary) {
    EXPECT_EQ(O_REMOTE, kRemote);
    EXPECT_EQ(O_ORIGIN, kOrigin);
    EXPECT_EQ(VREMOTE_SEED_DECIMAL_O_ORIGIN, kSeedDecimalOrigin);
    EXPECT_EQ(kRemote, 020);
    EXPECT_EQ(kOrigin, 010);
    EXPECT_EQ(kSeedDecimalOrigin, 0x989680);
    EXPECT_EQ(known_open_flags() & (kRemote | kOrigin), 0);
}

TEST(PreloadFlags, TheSeedDecimalValueIsTheBitsTheAnalysisLists) {
#if defined(__x86_64__)
    constexpr int kLargefileOrNofollow = 0100000;  // the kernel's O_LARGEFILE
#else
    constexpr int kLargefileOrNofollow = O_NOFOLLOW;
#endif
    EXPECT_EQ(kSeedDecimalOrigin,
              O_EXCL | O_TRUNC | O_APPEND | O_DSYNC | kLargefileOrNofollow | O_CLOEXEC |
                  (O_SYNC & ~O_DSYNC) | 040000000);
    EXPECT_EQ(kSeedDecimalOrigin & ~known_open_flags(), 040000000);
}

TEST(PreloadFlags, WithoutORemoteNothingChanges) {
    for (int f : {O_RDONLY,
                  O_RDWR | O_CREAT | O_TRUNC,
                  O_WRONLY | kOrigin,
                  O_RDWR | kSeedDecimalOrigin,
                  O_RDONLY | 040000000 | 04}) {
        Flags r = classify(f);
        EXPECT_EQ(r.verdict, Verdict::Local) << f;
        EXPECT_EQ(r.flags, f);
        EXPECT_FALSE(r.origin);
        EXPECT_FALSE(r.seed_decimal);
    }
}

TEST(PreloadFlags, RemoteAndOriginAreStripped) {
    Flags r = classify(O_RDWR | O_CREAT | O_CLOEXEC | kRemote);
    EXPECT_EQ(r.verdict, Verdict::Remote);
    EXPECT_EQ(r.flags, O_RDWR | O_CREAT | O_CLOEXEC);
    EXPECT_FALSE(r.origin);

    r = classify(O_RDONLY | kRemote | kOrigin);
    EXPECT_EQ(r.verdict, Verdict::Remote);
    EXPECT_EQ(r.flags, O_RDONLY);
    EXPECT_TRUE(r.origin);
    EXPECT_FALSE(r.seed_decimal);

    // An explicit O_TRUNC is the caller's wish and stays.
    r = classify(O_WRONLY | O_TRUNC | kRemote);
    EXPECT_EQ(r.flags, O_WRONLY | O_TRUNC);
}

TEST(PreloadFlags, TheSeedDecimalOriginBecomesOOriginWithoutItsAccidentalBits) {
    for (int extra : {0, kOrigin, O_NONBLOCK}) {
        Flags r = classify(O_RDWR | kRemote | kSeedDecimalOrigin | extra);
        EXPECT_EQ(r.verdict, Verdict::Remote);
        EXPECT_TRUE(r.origin);
        EXPECT_TRUE(r.seed_decimal);
        EXPECT_EQ(r.flags, O_RDWR | (extra & ~kOrigin));
        EXPECT_EQ(r.flags & (O_TRUNC | O_APPEND | O_EXCL), 0);
    }
}

TEST(PreloadFlags, UnknownBitsWithORemoteAreInvalid) {
    // Every bit no flag uses...
    std::vector<int> bad;
    for (int bit = 0; bit < 31; ++bit) {
        int b = 1 << bit;
        if ((b & (known_open_flags() | kRemote | kOrigin)) == 0) {
            bad.push_back(b);
        }
    }
    std::set<int> unused(bad.begin(), bad.end());
    EXPECT_EQ(unused.count(04), 1u);
    EXPECT_EQ(unused.count(040), 1u);
    EXPECT_EQ(unused.count(040000000), 1u);
    EXPECT_EQ(unused.count(O_TRUNC), 0u);
    // ... and the seed's pattern with any one of its known bits missing.
    for (int bit = 0; bit < 31; ++bit) {
        int b = 1 << bit;
        if ((kSeedDecimalOrigin & known_open_flags() & b) != 0) {
            bad.push_back(kSeedDecimalOrigin & ~b);
        }
    }
    EXPECT_EQ(bad.size(), unused.size() + 7);
    for (int b : bad) {
        Flags r = classify(O_RDONLY | kRemote | b);
        EXPECT_EQ(r.verdict, Verdict::Invalid) << std::hex << b;
        EXPECT_NE(r.flags, 0);
        EXPECT_EQ(classify(O_RDONLY | kRemote | kOrigin | b).verdict, Verdict::Invalid);
    }
}

TEST(PreloadFlags, ModeIsReadForOCreatAndOTmpfileOnly) {
    EXPECT_TRUE(needs_mode(O_CREAT));
    EXPECT_TRUE(needs_mode(O_RDWR | O_TMPFILE));
    EXPECT_FALSE(needs_mode(O_DIRECTORY));  // part of O_TMPFILE, but not all of it
    EXPECT_FALSE(needs_mode(O_RDWR | O_TRUNC | O_EXCL));
    EXPECT_FALSE(needs_mode(kSeedDecimalOrigin | kRemote));
}

TEST(PreloadResolve, NormalizeIsLexical) {
    EXPECT_EQ(normalize("/"), "/");
    EXPECT_EQ(normalize("//a//b/"), "/a/b");
    EXPECT_EQ(normalize("/a/./b/../c"), "/a/c");
    EXPECT_EQ(normalize("/../../a"), "/a");
    EXPECT_EQ(normalize("/a/b/../.."), "/");
}

class Resolve : public ::testing::Test {
  protected:
    Resolve() {
        ns_.mount = "/mnt/vr";
        ns_.exports = {{"n1", "/srv/n1"}, {"images", "/srv/images"}, {"n1", "/data/srv/n1"}};
        ns_.default_volume = "n2";
    }
    Target at(std::string_view base, std::string_view path, bool origin = false) const {
        return resolve(ns_, base, path, origin, [](std::string_view name) {
            return name == "n1" || name == "n2" || name == "images";
        });
    }
    std::string ok(std::string_view base, std::string_view path, bool origin = false) const {
        Target t = at(base, path, origin);
        EXPECT_EQ(t.error, 0) << base << " " << path << ": " << t.why;
        return t.path;
    }
    int err(std::string_view base, std::string_view path, bool origin = false) const {
        Target t = at(base, path, origin);
        EXPECT_TRUE(t.path.empty());
        return t.error;
    }
    Namespace ns_;
};

TEST_F(Resolve, RemoteAloneReadsVolumeSlashPathOrTheDefaultVolume) {
    EXPECT_EQ(ok("/home/u", "f.txt"), "/mnt/vr/n2/f.txt");
    EXPECT_EQ(ok("/home/u", "n1/f.txt"), "/mnt/vr/n1/f.txt");
    EXPECT_EQ(ok("/home/u", "n1/"), "/mnt/vr/n1/");
    EXPECT_EQ(ok("/home/u", "n1/a/"), "/mnt/vr/n1/a/") << "a trailing slash stays";
    EXPECT_EQ(ok("/x", "/mnt/vr/n1/a/"), "/mnt/vr/n1/a/");
    EXPECT_EQ(ok("/home/u", "./n1/a/./b"), "/mnt/vr/n1/a/b");
    EXPECT_EQ(ok("/home/u", "n1"), "/mnt/vr/n2/n1") << "no slash: a name in the default volume";
    EXPECT_EQ(ok("/home/u", "sub/f.txt"), "/mnt/vr/n2/sub/f.txt") << "sub is no volume";
    EXPECT_EQ(ok("/home/u", "sub/../f.txt"), "/mnt/vr/n2/f.txt");
    EXPECT_EQ(ok("", "n1/f"), "/mnt/vr/n1/f") << "unknown cwd";
    EXPECT_EQ(ok("/srv/n1", "f.txt"), "/mnt/vr/n2/f.txt") << "an export cwd needs O_ORIGIN";
}

TEST_F(Resolve, DotDotMayNotClimbOutOfTheVolume) {
    EXPECT_EQ(err("/home/u", "../f"), EINVAL);
    EXPECT_EQ(err("/home/u", "a/../../f"), EINVAL);
    EXPECT_EQ(err("/home/u", "n1/../n2/f"), EINVAL);
    EXPECT_EQ(err("/home/u", "n1/.."), EINVAL);
    EXPECT_EQ(err("/mnt/vr/n1/sub", "../../n2/f"), EINVAL);
    EXPECT_EQ(err("/mnt/vr", "../etc/passwd"), EINVAL);
    EXPECT_EQ(err("/srv/n1", "../../etc/passwd", true), EINVAL) << "falls back, then climbs";
}

TEST_F(Resolve, AbsolutePaths) {
    EXPECT_EQ(ok("/x", "/mnt/vr/n1/f"), "/mnt/vr/n1/f");
    EXPECT_EQ(ok("/x", "/mnt/vr/n1/../n2//f"), "/mnt/vr/n2/f");
    EXPECT_EQ(ok("/x", "/srv/n1/a/f", true), "/mnt/vr/n1/a/f");
    EXPECT_EQ(ok("/x", "/srv/n1/a/f"), "/mnt/vr/n1/a/f");
    EXPECT_EQ(ok("/x", "/data/srv/n1/f", true), "/mnt/vr/n1/f") << "the export's real path";
    EXPECT_EQ(ok("/x", "/srv/n1", true), "/mnt/vr/n1");
    EXPECT_EQ(err("/x", "/srv/n10/f", true), EXDEV) << "whole components only";
    EXPECT_EQ(err("/x", "/etc/passwd", true), EXDEV);
    EXPECT_EQ(err("/x", "/etc/passwd"), EXDEV);
    EXPECT_EQ(err("/x", "/srv/n1/../../etc/passwd", true), EXDEV);
}

TEST_F(Resolve, OriginMapsAPathInAnExportAndFallsBackForOthers) {
    EXPECT_EQ(ok("/srv/n1", "f.txt", true), "/mnt/vr/n1/f.txt");
    EXPECT_EQ(ok("/srv/n1/a", "b/../f.txt", true), "/mnt/vr/n1/a/f.txt");
    EXPECT_EQ(ok("/srv/n1", "../images/p.png", true), "/mnt/vr/images/p.png");
    EXPECT_EQ(ok("/data/srv/n1/a", "f", true), "/mnt/vr/n1/a/f");
    EXPECT_EQ(ok("/home/u", "f.txt", true), "/mnt/vr/n2/f.txt") << "the O_REMOTE-alone rule";
    EXPECT_EQ(ok("/home/u", "n1/f.txt", true), "/mnt/vr/n1/f.txt");
}

TEST_F(Resolve, ARelativePathFromTheMountStaysThere) {
    EXPECT_EQ(ok("/mnt/vr/n1/a", "f"), "/mnt/vr/n1/a/f");
    EXPECT_EQ(ok("/mnt/vr/n1/a", "../f"), "/mnt/vr/n1/f");
    EXPECT_EQ(ok("/mnt/vr/n1/a", "f", true), "/mnt/vr/n1/a/f");
    EXPECT_EQ(ok("/mnt/vr", "n2/f"), "/mnt/vr/n2/f");
    EXPECT_EQ(err("/mnt/vr/n1", "../n2/f"), EINVAL);
    ns_.mount_real = "/real/vr";
    EXPECT_EQ(ok("/real/vr/n1", "f"), "/mnt/vr/n1/f");
    EXPECT_EQ(ok("/x", "/real/vr/n1/f"), "/mnt/vr/n1/f");
}

TEST_F(Resolve, NoDefaultVolume) {
    ns_.default_volume.clear();
    EXPECT_EQ(err("/home/u", "f.txt"), ENOENT);
    EXPECT_EQ(ok("/home/u", "n1/f.txt"), "/mnt/vr/n1/f.txt");
}

TEST_F(Resolve, EmptyAndOverlongPaths) {
    EXPECT_EQ(err("/x", ""), ENOENT);
    EXPECT_EQ(err("/x", std::string(5000, 'a')), ENAMETOOLONG);
    EXPECT_EQ(err("/x", "n1/" + std::string(4090, 'a')), ENAMETOOLONG) << "too long once joined";
}

}  // namespace
}  // namespace vr::preload
