// Edge cases at the FUSE mount of a 3-node cluster: names at the length limits and names that are
// not UTF-8, paths near PATH_MAX, offsets near 2^63, O_DIRECT, a sparse file over 4 GiB written
// from a remote node, truncates racing reads, and a rename onto a file another node holds open.
// Each case gets a correct result or a clear errno, never a crash; after each group every daemon
// is alive and a canary file (written before everything) is unchanged on every node.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "test_cluster.h"

namespace vr::itest {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCanary = "canary: nothing outside a case may change";

class MountEdge : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        cluster_ = new TestCluster(3, ClusterOptions{.mount = true});
        if (cluster_->up()) {
            std::ofstream(at(1, "n1/canary")) << kCanary;
        }
    }
    static void TearDownTestSuite() {
        delete cluster_;
        cluster_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(cluster_->up()) << cluster_->up_output(); }
    void TearDown() override {
        for (int k = 1; k <= 3; ++k) {
            ASSERT_GT(cluster_->pid(k), 0);
            EXPECT_EQ(::kill(cluster_->pid(k), 0), 0) << "n" << k << " died";
            EXPECT_EQ(slurp(at(k, "n1/canary")), kCanary) << "the canary changed on n" << k;
        }
    }

    static std::string at(int k, const std::string& rel) {
        return cluster_->dir() + "/n" + std::to_string(k) + "/mnt/" + rel;
    }
    static std::string slurp(const std::string& path) {
        std::ifstream f(path, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    }
    static void spit(const std::string& path, const std::string& s) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
        ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
        ASSERT_EQ(::close(fd), 0) << std::strerror(errno);
    }
    static TestCluster* cluster_;
};

TestCluster* MountEdge::cluster_ = nullptr;

TEST_F(MountEdge, NamesAtTheLengthLimitsAndNotUtf8) {
    const std::string n255(255, 'x');
    spit(at(1, "n1/" + n255), "255");
    EXPECT_EQ(slurp(at(2, "n1/" + n255)), "255");
    EXPECT_EQ(slurp(at(3, "n1/" + n255)), "255");
    const std::string n256(256, 'y');
    errno = 0;
    EXPECT_LT(::open(at(2, "n1/" + n256).c_str(), O_WRONLY | O_CREAT, 0644), 0);
    EXPECT_EQ(errno, ENAMETOOLONG);
    errno = 0;
    EXPECT_NE(::mkdir(at(3, "n1/" + n256).c_str(), 0755), 0);
    EXPECT_EQ(errno, ENAMETOOLONG);
    EXPECT_NE(::rename(at(1, "n1/" + n255).c_str(), at(1, "n1/" + n256).c_str()), 0);
    EXPECT_EQ(errno, ENAMETOOLONG);

    // Bytes that are not UTF-8 (and a newline, a tab, a backslash): names are bytes.
    const std::string odd = std::string("bad\xff\xfe\x80 \n\t\\") + "name";
    spit(at(2, "n1/" + odd), "odd bytes");
    EXPECT_EQ(slurp(at(3, "n1/" + odd)), "odd bytes");
    EXPECT_EQ(slurp(cluster_->export_dir(1) + "/" + odd), "odd bytes");
    bool listed = false;
    DIR* d = ::opendir(at(3, "n1").c_str());
    ASSERT_NE(d, nullptr);
    while (dirent* e = ::readdir(d)) {
        listed = listed || odd == e->d_name;
    }
    ::closedir(d);
    EXPECT_TRUE(listed) << "the name is not listed on another node";
    EXPECT_EQ(::unlink(at(1, "n1/" + odd).c_str()), 0) << std::strerror(errno);
    struct stat st {};
    EXPECT_NE(::stat(at(3, "n1/" + odd).c_str(), &st), 0);
    EXPECT_EQ(errno, ENOENT);

    // A path near PATH_MAX: directories of 200-byte names down to ~4000 bytes in all.
    std::string rel = "n1";
    const std::string comp(200, 'd');
    const size_t prefix = at(1, "").size();
    while (prefix + rel.size() + 1 + comp.size() + 1 + 8 < PATH_MAX - 1) {
        rel += "/" + comp;
        ASSERT_EQ(::mkdir(at(1, rel).c_str(), 0755), 0) << rel.size() << std::strerror(errno);
    }
    std::string deep = rel + "/deepfile";
    ASSERT_LT(at(2, deep).size(), static_cast<size_t>(PATH_MAX));
    spit(at(2, deep), "deep");
    EXPECT_EQ(slurp(at(3, deep)), "deep");
    EXPECT_EQ(slurp(at(1, deep)), "deep");
    // One component more is beyond PATH_MAX: the kernel refuses before vremote sees it.
    errno = 0;
    EXPECT_LT(::open(at(3, rel + "/" + comp + "/x").c_str(), O_RDONLY), 0);
    EXPECT_EQ(errno, ENAMETOOLONG);
}

// Offsets near 2^63, compared call by call with the same calls on a local file of the origin's
// file system (the POSIX answer: 0 bytes past the end, EINVAL when offset + count overflows,
// EFBIG past the largest file): the same result and errno, and the file unchanged everywhere.
TEST_F(MountEdge, OffsetsNearTwoToTheSixtyThree) {
    spit(at(1, "n1/far"), "0123456789");
    const std::string local = cluster_->dir() + "/far-local";
    spit(local, "0123456789");
    int fd = ::open(at(2, "n1/far").c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    int lfd = ::open(local.c_str(), O_RDWR);
    ASSERT_GE(lfd, 0);
    auto outcome = [](ssize_t n) {
        return n >= 0
                   ? "n=" + std::to_string(n)
                   : std::string("err ") + (strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    };
    struct Case {
        off_t off;
        size_t len;
    };
    const Case cases[] = {{INT64_MAX - 4096, 4096},
                          {INT64_MAX - 4096, 10},
                          {INT64_MAX - 1, 4096},
                          {INT64_MAX - 1, 1},
                          {INT64_MAX, 1},
                          {INT64_MAX - 5, 10},
                          {1LL << 62, 3},
                          {(1LL << 44) + 5, 3},  // past ext4's 16 TiB
                          {-1, 1}};
    char buf[4096];
    for (const Case& c : cases) {
        errno = 0;
        std::string want = outcome(::pread(lfd, buf, c.len, c.off));
        errno = 0;
        std::string got = outcome(::pread(fd, buf, c.len, c.off));
        EXPECT_EQ(got, want) << "pread at " << c.off << " of " << c.len;
        errno = 0;
        want = outcome(::pwrite(lfd, "abcdefghij", std::min<size_t>(c.len, 10), c.off));
        errno = 0;
        got = outcome(::pwrite(fd, "abcdefghij", std::min<size_t>(c.len, 10), c.off));
        EXPECT_EQ(got, want) << "pwrite at " << c.off << " of " << c.len;
    }
    errno = 0;
    std::string want = outcome(::ftruncate(lfd, INT64_MAX));
    errno = 0;
    EXPECT_EQ(outcome(::ftruncate(fd, INT64_MAX)), want);
    // lseek differs by design: FUSE allows offsets up to 2^63-1, ext4 up to 16 TiB. A read
    // there is the pread at INT64_MAX above.
    ::close(fd);
    ::close(lfd);
    struct stat lst {};
    ASSERT_EQ(::stat(local.c_str(), &lst), 0);
    for (int k = 1; k <= 3; ++k) {
        struct stat st {};
        ASSERT_EQ(::stat(at(k, "n1/far").c_str(), &st), 0);
        EXPECT_EQ(st.st_size, lst.st_size) << "n" << k;
        if (lst.st_size == 10) {
            EXPECT_EQ(slurp(at(k, "n1/far")), slurp(local)) << "n" << k;
        }
    }
}

TEST_F(MountEdge, ODirectWorksOrSaysEinval) {
    spit(at(1, "n1/direct"), std::string(8192, 'a'));
    void* mem = nullptr;
    ASSERT_EQ(::posix_memalign(&mem, 4096, 4096), 0);
    std::unique_ptr<void, decltype(&std::free)> hold(mem, &std::free);
    std::memset(mem, 'D', 4096);
    int fd = ::open(at(2, "n1/direct").c_str(), O_RDWR | O_DIRECT);
    if (fd < 0) {
        EXPECT_EQ(errno, EINVAL) << std::strerror(errno);
        return;
    }
    EXPECT_EQ(::pwrite(fd, mem, 4096, 4096), 4096) << std::strerror(errno);
    std::memset(mem, 0, 4096);
    EXPECT_EQ(::pread(fd, mem, 4096, 0), 4096) << std::strerror(errno);
    EXPECT_EQ(std::string(static_cast<char*>(mem), 4096), std::string(4096, 'a'));
    ::close(fd);
    EXPECT_EQ(slurp(at(3, "n1/direct")), std::string(4096, 'a') + std::string(4096, 'D'));
    int ro = ::open(at(3, "n1/direct").c_str(), O_RDONLY | O_DIRECT);
    ASSERT_GE(ro, 0) << std::strerror(errno);
    EXPECT_EQ(::pread(ro, mem, 4096, 4096), 4096) << std::strerror(errno);
    EXPECT_EQ(std::string(static_cast<char*>(mem), 4096), std::string(4096, 'D'));
    ::close(ro);
}

TEST_F(MountEdge, SparseFileBeyondFourGiB) {
    const off_t far = 5LL << 30;
    int fd = ::open(at(2, "n1/sparse").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::pwrite(fd, "THE END", 7, far), 7) << std::strerror(errno);
    ASSERT_EQ(::close(fd), 0) << std::strerror(errno);
    for (int k = 1; k <= 3; ++k) {
        struct stat st {};
        ASSERT_EQ(::stat(at(k, "n1/sparse").c_str(), &st), 0);
        EXPECT_EQ(st.st_size, far + 7) << "n" << k;
    }
    struct stat origin {};
    ASSERT_EQ(::stat((cluster_->export_dir(1) + "/sparse").c_str(), &origin), 0);
    EXPECT_EQ(origin.st_size, far + 7);
    EXPECT_LT(origin.st_blocks * 512, 1 << 20) << "the origin file is not sparse";
    int r = ::open(at(3, "n1/sparse").c_str(), O_RDONLY);
    ASSERT_GE(r, 0);
    std::string buf(65536, 'x');
    for (off_t off : {off_t{0}, off_t{4LL << 30} - 100, far - 65536 + 7}) {
        ASSERT_EQ(::pread(r, buf.data(), buf.size(), off), 65536) << off;
        size_t zeros = off == far - 65536 + 7 ? 65536 - 7 : 65536;
        EXPECT_EQ(buf.substr(0, zeros), std::string(zeros, '\0')) << "not zeros at " << off;
    }
    std::string end(16, 'x');
    ASSERT_EQ(::pread(r, end.data(), end.size(), far), 7);
    EXPECT_EQ(end.substr(0, 7), "THE END");
    ::close(r);
    EXPECT_EQ(::unlink(at(1, "n1/sparse").c_str()), 0);
}

// One node truncates a file to random sizes and rewrites it, over and over; two other nodes read
// it meanwhile. It found a livelock: a write of several pages waited to hold all of them in M
// at once, they came in separate GetM runs, and the readers' GetS recalled one run while the
// writer waited for the other, until the request timed out (EIO). Writes now apply page by page
// (protocol.md §2); every write and truncate here must succeed. A reader
// may see the pattern or zeros (the part a truncate cut and a later extension brought back) and
// never more than the file's largest size, never other bytes. Then, quiet, every node agrees on the
// size and the bytes.
TEST_F(MountEdge, TruncateRacingReads) {
    const size_t kSize = 64 * 1024;
    auto pattern = [](size_t i) { return static_cast<char>('A' + (i / 4096) % 26); };
    std::string full(kSize, '\0');
    for (size_t i = 0; i < kSize; ++i) {
        full[i] = pattern(i);
    }
    spit(at(1, "n1/trunc"), full);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::atomic<uint64_t> reads{0};
    std::vector<std::thread> readers;
    for (int k : {2, 3}) {
        readers.emplace_back([&, k] {
            int fd = ::open(at(k, "n1/trunc").c_str(), O_RDONLY);
            if (fd < 0) {
                ++bad;
                return;
            }
            std::string buf(kSize + 4096, '\0');
            while (!stop) {
                ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
                ++reads;
                if (n < 0 || static_cast<size_t>(n) > kSize) {
                    if (++bad < 5) {
                        ADD_FAILURE() << "n" << k << " read " << n << " bytes";
                    }
                    continue;
                }
                for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
                    if (buf[i] != pattern(i) && buf[i] != '\0') {
                        if (++bad < 5) {
                            ADD_FAILURE() << "n" << k << " read garbage at " << i;
                        }
                        break;
                    }
                }
            }
            ::close(fd);
        });
    }
    int wfd = ::open(at(1, "n1/trunc").c_str(), O_RDWR);
    ASSERT_GE(wfd, 0);
    std::mt19937 rng(7);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(4);
    int rounds = 0;
    int write_errors = 0;
    while (std::chrono::steady_clock::now() < end && write_errors < 5) {
        off_t size = static_cast<off_t>(rng() % (kSize + 1));
        if (::ftruncate(wfd, size) != 0) {
            ++write_errors;
            ADD_FAILURE() << "ftruncate to " << size << ": " << std::strerror(errno);
        }
        if (rng() % 2 == 0) {
            ssize_t n = ::pwrite(wfd, full.data(), kSize, 0);
            if (n != static_cast<ssize_t>(kSize)) {
                ++write_errors;
                ADD_FAILURE() << "pwrite: " << n << " " << std::strerror(errno);
            }
        }
        ++rounds;
    }
    stop = true;
    for (auto& t : readers) {
        t.join();
    }
    std::printf("%d truncate/write rounds, %llu reads racing them\n",
                rounds,
                static_cast<unsigned long long>(reads.load()));
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(rounds, 10);
    EXPECT_GT(reads.load(), 10u);
    // Quiet: a last truncate and write, then every node agrees.
    ASSERT_EQ(::ftruncate(wfd, 10000), 0);
    ASSERT_EQ(::pwrite(wfd, full.data(), 5000, 0), 5000);
    ASSERT_EQ(::close(wfd), 0);
    const std::string want = full.substr(0, 5000);
    for (int k = 1; k <= 3; ++k) {
        std::string got = slurp(at(k, "n1/trunc"));
        EXPECT_EQ(got.size(), 10000u) << "n" << k;
        EXPECT_EQ(got.substr(0, 5000), want) << "n" << k;
    }
    EXPECT_EQ(slurp(at(1, "n1/trunc")), slurp(at(2, "n1/trunc")));
    EXPECT_EQ(slurp(at(1, "n1/trunc")), slurp(at(3, "n1/trunc")));
}

// A rename onto a file that another node holds open: the open descriptor keeps reading the old
// file (POSIX), the name shows the new one everywhere.
TEST_F(MountEdge, RenameOntoAnOpenFile) {
    spit(at(1, "n1/target"), "OLD CONTENT");
    int held = ::open(at(2, "n1/target").c_str(), O_RDONLY);
    ASSERT_GE(held, 0) << std::strerror(errno);
    int held_rw = ::open(at(3, "n1/target").c_str(), O_RDWR);
    ASSERT_GE(held_rw, 0) << std::strerror(errno);
    spit(at(3, "n1/incoming"), "NEW CONTENT!");
    ASSERT_EQ(::rename(at(3, "n1/incoming").c_str(), at(3, "n1/target").c_str()), 0)
        << std::strerror(errno);
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(slurp(at(k, "n1/target")), "NEW CONTENT!") << "n" << k;
    }
    char buf[64] = {};
    ssize_t n = ::pread(held, buf, sizeof buf, 0);
    EXPECT_EQ(std::string(buf, n < 0 ? 0 : static_cast<size_t>(n)), "OLD CONTENT")
        << (n < 0 ? std::strerror(errno) : "");
    n = ::pread(held_rw, buf, sizeof buf, 0);
    EXPECT_EQ(std::string(buf, n < 0 ? 0 : static_cast<size_t>(n)), "OLD CONTENT")
        << (n < 0 ? std::strerror(errno) : "");
    ::close(held);
    ::close(held_rw);
    struct stat st {};
    EXPECT_NE(::stat(at(2, "n1/incoming").c_str(), &st), 0);
}

// The preload library on a real mount: every combination of O_REMOTE, O_REMOTE | O_ORIGIN and
// O_REMOTE with the seed's decimal O_ORIGIN, with each access mode and every subset of O_CREAT,
// O_TRUNC, O_APPEND and O_EXCL, on a file that exists and on one that does not. The oracle is
// the same open, without the vremote bits (and, for the seed's value, without the bits it sets
// by accident), on a local file: the same success or errno, the same access mode and O_APPEND on
// the descriptor, the same size afterwards, seen from another node.
TEST_F(MountEdge, PreloadFlagCombinations) {
    const std::string build = VR_BUILD_DIR;
    const std::string lib = build + "/src/preload/libvremote-preload.so";
    const std::string probe = build + "/tests/unit/preload/preload_probe";
    ASSERT_TRUE(fs::exists(lib) && fs::exists(probe)) << lib << " " << probe;
    const std::string local_dir = cluster_->dir() + "/preload-local";
    fs::create_directories(local_dir);
    fs::create_directories(at(1, "n1/pl"));
    const std::string local = local_dir + "/f";
    const int kRemote = 020;
    const int kOrigin = 010;
    const int kSeed = 10000000;
    struct Variant {
        const char* name;
        int bits;
        int node;  // where the probe runs
        std::string cwd;
        std::string path;
        bool seed;
    };
    const std::vector<Variant> variants{
        {"O_REMOTE", kRemote, 2, "/", "n1/pl/f", false},
        {"O_REMOTE|O_ORIGIN", kRemote | kOrigin, 1, cluster_->export_dir(1), "pl/f", false},
        {"O_REMOTE|seed 10000000", kRemote | kSeed, 1, cluster_->export_dir(1), "pl/f", true},
    };
    const int extras[] = {O_CREAT, O_TRUNC, O_APPEND, O_EXCL};
    int cases = 0;
    int mismatches = 0;
    for (const Variant& v : variants) {
        for (int acc : {O_RDONLY, O_WRONLY, O_RDWR}) {
            for (int subset = 0; subset < 16; ++subset) {
                int given = acc;
                for (int i = 0; i < 4; ++i) {
                    if ((subset & (1 << i)) != 0) {
                        given |= extras[i];
                    }
                }
                for (bool exists : {true, false}) {
                    ++cases;
                    // The same starting point on the mount and locally.
                    if (exists) {
                        spit(at(1, "n1/pl/f"), "0123456789");
                        spit(local, "0123456789");
                    } else {
                        ::unlink(at(1, "n1/pl/f").c_str());
                        ::unlink(local.c_str());
                    }
                    int oracle_flags = v.seed ? (given & (O_ACCMODE | O_CREAT)) : given;
                    int lfd = ::open(local.c_str(), oracle_flags, 0644);
                    std::string want;
                    if (lfd < 0) {
                        const char* e = strerrorname_np(errno);
                        want = std::string("err ") + (e != nullptr ? e : "?");
                    } else {
                        int fl = ::fcntl(lfd, F_GETFL);
                        ::close(lfd);
                        struct stat st {};
                        ::stat(local.c_str(), &st);
                        want = "ok acc=" + std::to_string(fl & O_ACCMODE) +
                               " append=" + std::to_string((fl & O_APPEND) != 0) +
                               " size=" + std::to_string(st.st_size);
                    }
                    char flags_arg[32];
                    std::snprintf(flags_arg, sizeof flags_arg, "%#x", given | v.bits);
                    auto r = run_command({"/usr/bin/env",
                                          "-C",
                                          v.cwd,
                                          "LD_PRELOAD=" + lib,
                                          "VREMOTE_CONFIG=" + cluster_->config(v.node),
                                          probe,
                                          "open",
                                          v.path,
                                          flags_arg,
                                          "0644"},
                                         {},
                                         30);
                    std::string got;
                    if (r.out.rfind("err ", 0) == 0) {
                        got = r.out.substr(0, r.out.find('\n'));
                    } else if (r.out.rfind("ok ", 0) == 0) {
                        unsigned fl = 0;
                        size_t f = r.out.find("flags=");
                        if (f != std::string::npos) {
                            fl =
                                static_cast<unsigned>(std::stoul(r.out.substr(f + 6), nullptr, 16));
                        }
                        if (r.out.find(at(v.node, "n1/pl/f")) == std::string::npos) {
                            got = "opened elsewhere: " + r.out;
                        } else {
                            struct stat st {};
                            int sr = ::stat(at(3, "n1/pl/f").c_str(), &st);
                            got = "ok acc=" + std::to_string(fl & O_ACCMODE) +
                                  " append=" + std::to_string((fl & O_APPEND) != 0) +
                                  " size=" + (sr == 0 ? std::to_string(st.st_size) : "none");
                        }
                    } else {
                        got = "probe failed: " + r.out + r.err;
                    }
                    if (got != want) {
                        ++mismatches;
                        ADD_FAILURE() << v.name << " flags " << flags_arg
                                      << (exists ? " (exists)" : " (missing)") << ": got '" << got
                                      << "', want '" << want << "'";
                    }
                }
            }
        }
    }
    EXPECT_EQ(cases, 288);
    EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace vr::itest
