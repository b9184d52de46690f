// The FUSE mounts of a 3-node cluster (`vremote cluster up` mounts node nK at DIR/nK/mnt), used
// the way programs use files: syscalls, and the plain tools cat, dd, cp and python3. Every check
// reads on one node right after a write on another completed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "test_cluster.h"

namespace vr::itest {
namespace {

namespace fs = std::filesystem;

class Mounts : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { cluster_ = new TestCluster(3, ClusterOptions{.mount = true}); }
    static void TearDownTestSuite() {
        delete cluster_;
        cluster_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(cluster_->up()) << cluster_->up_output(); }

    // Node k's view of `rel` (VOLUME/PATH).
    static std::string at(int k, const std::string& rel) {
        return cluster_->dir() + "/n" + std::to_string(k) + "/mnt/" + rel;
    }
    static uint64_t counter(int k, const std::string& name) {
        auto r = cluster_->cli(k, {"stats"});
        size_t pos = r.out.find(name + " ");
        return pos == std::string::npos ? UINT64_MAX
                                        : std::stoull(r.out.substr(pos + name.size() + 1));
    }
    static std::string sh(const std::string& cmd) {
        auto r = run_command({"/bin/sh", "-c", cmd}, {}, 60);
        EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
        return r.out;
    }
    static TestCluster* cluster_;
};

TestCluster* Mounts::cluster_ = nullptr;

std::string pread_str(int fd, size_t n, off_t off) {
    std::string s(n, '\0');
    ssize_t r = ::pread(fd, s.data(), n, off);
    s.resize(r < 0 ? 0 : static_cast<size_t>(r));
    return s;
}

// 1,000 alternating rounds on one page: n1 and n2 take turns writing, and after each write every
// other node reads at once through its page cache (read-only fds that stay open; n3 only ever
// reads, so its cached copy is stale unless the write invalidated it). No read may see an older
// value.
TEST_F(Mounts, AlternatingWritesAreSeenAtOnceThroughThePageCache) {
    { std::ofstream(at(1, "n1/pingpong")) << std::string(4096, '.'); }
    int w[3] = {-1,
                ::open(at(1, "n1/pingpong").c_str(), O_RDWR),
                ::open(at(2, "n1/pingpong").c_str(), O_RDWR)};
    int r[4] = {-1,
                ::open(at(1, "n1/pingpong").c_str(), O_RDONLY),
                ::open(at(2, "n1/pingpong").c_str(), O_RDONLY),
                ::open(at(3, "n1/pingpong").c_str(), O_RDONLY)};
    for (int k = 1; k <= 3; ++k) {
        ASSERT_GE(r[k], 0) << std::strerror(errno);
        if (k <= 2) {
            ASSERT_GE(w[k], 0) << std::strerror(errno);
        }
    }
    int stale = 0;
    for (int round = 0; round < 1000 && stale <= 5; ++round) {
        int writer = 1 + round % 2;
        char v[32];
        int n = std::snprintf(v, sizeof v, "round %06d by n%d", round, writer);
        ASSERT_EQ(::pwrite(w[writer], v, static_cast<size_t>(n), 100), n);
        for (int reader = 1; reader <= 3; ++reader) {
            if (reader == writer) {
                continue;
            }
            std::string got = pread_str(r[reader], static_cast<size_t>(n), 100);
            if (got != std::string(v, static_cast<size_t>(n))) {
                ++stale;
                ADD_FAILURE() << "round " << round << ": n" << reader << " read '" << got << "'";
            }
        }
    }
    EXPECT_EQ(stale, 0);
    for (int k = 1; k <= 3; ++k) {
        ::close(r[k]);
        if (k <= 2) {
            ::close(w[k]);
        }
    }
}

// Writers on three nodes, each on its own pages of one file, at the same time: every write is
// there afterwards, on every node.
TEST_F(Mounts, ConcurrentWritersOnDifferentPagesLoseNothing) {
    const int kPages = 64;
    {
        std::ofstream f(at(2, "n2/shared"));
        f << std::string(3 * kPages * 4096, '\0');
    }
    std::vector<std::thread> ts;
    std::atomic<int> failures{0};
    for (int k = 1; k <= 3; ++k) {
        ts.emplace_back([&, k] {
            int fd = ::open(at(k, "n2/shared").c_str(), O_WRONLY);
            if (fd < 0) {
                ++failures;
                return;
            }
            for (int p = 0; p < kPages; ++p) {
                std::string v = "node " + std::to_string(k) + " page " + std::to_string(p);
                off_t off = static_cast<off_t>(((p * 3) + (k - 1)) * 4096);
                if (::pwrite(fd, v.data(), v.size(), off) != static_cast<ssize_t>(v.size())) {
                    ++failures;
                }
            }
            ::close(fd);
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    ASSERT_EQ(failures.load(), 0);
    for (int reader = 1; reader <= 3; ++reader) {
        int fd = ::open(at(reader, "n2/shared").c_str(), O_RDONLY);
        ASSERT_GE(fd, 0);
        for (int k = 1; k <= 3; ++k) {
            for (int p = 0; p < kPages; ++p) {
                std::string v = "node " + std::to_string(k) + " page " + std::to_string(p);
                off_t off = static_cast<off_t>(((p * 3) + (k - 1)) * 4096);
                EXPECT_EQ(pread_str(fd, v.size(), off), v) << "on n" << reader;
            }
        }
        ::close(fd);
    }
}

// An append on one node is seen at the right size on the others at once (the home invalidates
// their cached attributes before the append completes).
TEST_F(Mounts, AppendIsSeenAtItsNewSizeEverywhere) {
    sh("printf 'first line\\n' > " + at(3, "n3/log"));
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(fs::file_size(at(k, "n3/log")), 11u) << "n" << k;
    }
    sh("printf 'second line\\n' >> " + at(1, "n3/log"));
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(fs::file_size(at(k, "n3/log")), 23u) << "n" << k;
        EXPECT_EQ(sh("cat " + at(k, "n3/log")), "first line\nsecond line\n") << "n" << k;
    }
    sh("dd if=/dev/zero bs=4096 count=3 status=none >> " + at(2, "n3/log"));
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(fs::file_size(at(k, "n3/log")), 23u + 3 * 4096) << "n" << k;
    }
}

// Reads clip to the size a node holds as a registered holder of the file's attributes, without
// asking the home (reads_held_size). Every size change, by any node and the home included
// (a write past the end, a shrinking or growing truncate), is seen by the next read on every
// node at once: through held direct fds, held page-cache fds and fresh fds.
TEST_F(Mounts, SizeChangesAreSeenAtOnceByReadsThatUseHeldSizes) {
    { std::ofstream(at(1, "n1/sized")) << std::string(100, 'a'); }
    int direct[4] = {-1};
    int cached[4] = {-1};
    for (int k = 1; k <= 3; ++k) {
        direct[k] = ::open(at(k, "n1/sized").c_str(), O_RDWR);
        cached[k] = ::open(at(k, "n1/sized").c_str(), O_RDONLY);
        ASSERT_GE(direct[k], 0) << std::strerror(errno);
        ASSERT_GE(cached[k], 0) << std::strerror(errno);
        ASSERT_EQ(pread_str(direct[k], 8192, 0).size(), 100u) << "n" << k;
    }
    uint64_t held_before = counter(2, "reads_held_size");
    ASSERT_NE(held_before, UINT64_MAX);
    size_t size = 100;
    char fill = 'a';
    for (int round = 0; round < 30; ++round) {
        int changer = 1 + round % 3;
        switch (round % 3) {
            case 0: {  // a write past the end
                fill = static_cast<char>('b' + round % 20);
                std::string data(700 + round * 37, fill);
                ASSERT_EQ(::pwrite(direct[changer], data.data(), data.size(), size),
                          static_cast<ssize_t>(data.size()));
                size += data.size();
                break;
            }
            case 1:  // shrink
                size = size / 2 + 1;
                ASSERT_EQ(::ftruncate(direct[changer], static_cast<off_t>(size)), 0);
                break;
            case 2:  // grow (a hole of zeros)
                size += 5000;
                ASSERT_EQ(::ftruncate(direct[changer], static_cast<off_t>(size)), 0);
                break;
        }
        for (int k = 1; k <= 3; ++k) {
            std::string d = pread_str(direct[k], size + 9000, 0);
            std::string c = pread_str(cached[k], size + 9000, 0);
            std::string f;
            {
                int fd = ::open(at(k, "n1/sized").c_str(), O_RDWR);
                ASSERT_GE(fd, 0);
                f = pread_str(fd, size + 9000, 0);
                ::close(fd);
            }
            EXPECT_EQ(d.size(), size) << "round " << round << ": n" << k << " held direct fd";
            EXPECT_EQ(c.size(), size) << "round " << round << ": n" << k << " held cached fd";
            EXPECT_EQ(f.size(), size) << "round " << round << ": n" << k << " fresh fd";
            EXPECT_EQ(d, c) << "round " << round << ": n" << k;
            EXPECT_EQ(d, f) << "round " << round << ": n" << k;
            // A read from just below the end gets the rest, and one at the end gets nothing.
            EXPECT_EQ(pread_str(direct[k], 100, static_cast<off_t>(size - 1)).size(), 1u);
            EXPECT_EQ(pread_str(direct[k], 100, static_cast<off_t>(size)).size(), 0u);
        }
    }
    // The direct reads on n2 (not the home) did use a held size.
    EXPECT_GT(counter(2, "reads_held_size"), held_before + 30);
    for (int k = 1; k <= 3; ++k) {
        ::close(direct[k]);
        ::close(cached[k]);
    }
}

// create, rename and unlink are seen at once everywhere.
TEST_F(Mounts, CreateRenameAndUnlinkAreSeenAtOnce) {
    for (int k = 1; k <= 3; ++k) {
        EXPECT_FALSE(fs::exists(at(k, "n1/dir/a"))) << "n" << k;  // cache a miss first
    }
    sh("mkdir -p " + at(2, "n1/dir") + " && echo hello > " + at(2, "n1/dir/a"));
    for (int k = 1; k <= 3; ++k) {
        EXPECT_TRUE(fs::exists(at(k, "n1/dir/a"))) << "n" << k;
        EXPECT_EQ(sh("cat " + at(k, "n1/dir/a")), "hello\n");
    }
    sh("mv " + at(3, "n1/dir/a") + " " + at(3, "n1/dir/b"));
    for (int k = 1; k <= 3; ++k) {
        EXPECT_FALSE(fs::exists(at(k, "n1/dir/a"))) << "n" << k;
        EXPECT_TRUE(fs::exists(at(k, "n1/dir/b"))) << "n" << k;
        EXPECT_EQ(sh("ls " + at(k, "n1/dir")), "b\n") << "n" << k;
    }
    sh("rm " + at(1, "n1/dir/b"));
    for (int k = 1; k <= 3; ++k) {
        EXPECT_FALSE(fs::exists(at(k, "n1/dir/b"))) << "n" << k;
    }
    sh("cp /etc/services " + at(2, "n1/dir/copy"));
    EXPECT_EQ(sh("cmp /etc/services " + at(3, "n1/dir/copy") + " && echo same"), "same\n");
    // close(2) made it durable: the origin file on n1's disk already holds it.
    EXPECT_EQ(sh("cmp /etc/services " + cluster_->export_dir(1) + "/dir/copy && echo same"),
              "same\n");
}

// A node that looked up several names of a directory is told of a change to each of them, not
// only of the first: the home used to forget the node as a holder of the directory's entries
// once it had invalidated one name, and the node then kept "b" after it was renamed.
TEST_F(Mounts, EveryChangedNameIsInvalidatedNotOnlyTheFirst) {
    sh("mkdir -p " + at(1, "n1/names") + " && echo A > " + at(1, "n1/names/a") + " && echo B > " +
       at(1, "n1/names/b") + " && echo C > " + at(1, "n1/names/c"));
    for (const char* name : {"a", "b", "c"}) {  // n2's kernel caches all three entries
        EXPECT_TRUE(fs::exists(at(2, std::string("n1/names/") + name)));
    }
    sh("mv " + at(3, "n1/names/a") + " " + at(3, "n1/names/a2"));
    EXPECT_FALSE(fs::exists(at(2, "n1/names/a")));
    sh("mv " + at(3, "n1/names/b") + " " + at(3, "n1/names/b2"));
    EXPECT_FALSE(fs::exists(at(2, "n1/names/b"))) << "a stale entry survived the rename";
    EXPECT_EQ(sh("cat " + at(2, "n1/names/b2")), "B\n");
    sh("rm " + at(1, "n1/names/c"));
    EXPECT_FALSE(fs::exists(at(2, "n1/names/c"))) << "a stale entry survived the unlink";
}

// Two nodes removing and renaming files in the same directory at the same time: each home
// operation invalidates the other node's entries while that node's kernel holds the directory
// for its own operation. Neither may wait for the other (that would stall until timeouts).
TEST_F(Mounts, ConcurrentChangesInOneDirectoryDoNotStall) {
    sh("mkdir -p " + at(1, "n3/busy") + " && cd " + at(1, "n3/busy") +
       " && for i in $(seq 1 40); do echo $i > a$i; echo $i > b$i; done");
    // Both nodes hold the directory's entries.
    sh("ls " + at(1, "n3/busy") + " > /dev/null; ls " + at(2, "n3/busy") + " > /dev/null");
    auto start = std::chrono::steady_clock::now();
    std::thread t1(
        [&] { sh("cd " + at(1, "n3/busy") + " && for i in $(seq 1 40); do rm a$i; done"); });
    std::thread t2(
        [&] { sh("cd " + at(2, "n3/busy") + " && for i in $(seq 1 40); do mv b$i c$i; done"); });
    t1.join();
    t2.join();
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::seconds(8));
    for (int k = 1; k <= 3; ++k) {
        std::string ls = sh("ls " + at(k, "n3/busy") + " | sort | tr '\\n' ' '");
        EXPECT_EQ(ls.find('a'), std::string::npos) << "n" << k << ": " << ls;
        EXPECT_EQ(ls.find('b'), std::string::npos) << "n" << k << ": " << ls;
        EXPECT_TRUE(fs::exists(at(k, "n3/busy/c40"))) << "n" << k;
    }
}

// A re-read of a cached file is served by the kernel: no FUSE READ reaches the daemon.
TEST_F(Mounts, CachedRereadMakesNoDaemonRoundTrip) {
    sh("dd if=/dev/urandom of=" + at(1, "n1/cached") + " bs=1M count=4 status=none");
    std::string first = sh("md5sum < " + at(2, "n1/cached"));
    uint64_t before = counter(2, "fuse_reads");
    ASSERT_NE(before, UINT64_MAX);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(sh("md5sum < " + at(2, "n1/cached")), first);
    }
    EXPECT_EQ(counter(2, "fuse_reads"), before);
    // A write elsewhere invalidates exactly what it must: the next read goes to the daemon.
    sh("printf X | dd of=" + at(3, "n1/cached") + " bs=1 seek=5 conv=notrunc status=none");
    EXPECT_NE(sh("md5sum < " + at(2, "n1/cached")), first);
    EXPECT_GT(counter(2, "fuse_reads"), before);
}

// A shared read-only mmap sees a remote write once it has completed (invalidation unmaps).
TEST_F(Mounts, MmapReadersSeeRemoteWrites) {
    sh("printf 'aaaaaaaa' > " + at(1, "n1/mapped"));
    int fd = ::open(at(2, "n1/mapped").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    void* p = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(p, MAP_FAILED);
    const char* m = static_cast<const char*>(p);
    EXPECT_EQ(std::string(m, 8), "aaaaaaaa");
    for (int round = 0; round < 20; ++round) {
        std::string v(8, static_cast<char>('b' + round));
        int w = ::open(at(3, "n1/mapped").c_str(), O_WRONLY);
        ASSERT_EQ(::pwrite(w, v.data(), 8, 0), 8);
        ::close(w);
        EXPECT_EQ(std::string(m, 8), v) << "round " << round;
    }
    ::munmap(p, 4096);
    ::close(fd);
    // And python3's mmap module, as an unmodified program would.
    std::string py =
        "import mmap,os,sys\n"
        "f=open(sys.argv[1],'rb'); m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\n"
        "print(m[:8].decode())\n";
    { std::ofstream(cluster_->dir() + "/m.py") << py; }
    EXPECT_EQ(sh("python3 " + cluster_->dir() + "/m.py " + at(1, "n1/mapped")),
              std::string(8, static_cast<char>('b' + 19)) + "\n");
}

}  // namespace
}  // namespace vr::itest

namespace vr::itest {
namespace {

// The seed README's example program, compiled unchanged (its O_ORIGIN is decimal 10000000),
// run under the preload library: it reads the origin's bytes on the origin node (cwd = the
// export) and on a remote node (VREMOTE_VOLUME names the volume), and never truncates the file.
TEST_F(Mounts, SeedExampleRunsUnchangedThroughThePreloadLibrary) {
    const std::string bytes(300, 's');
    { std::ofstream(cluster_->export_dir(1) + "/myfile.txt") << bytes; }
    const std::string build = VR_BUILD_DIR;
    const std::string env = "LD_PRELOAD=" + build + "/src/preload/libvremote-preload.so ";
    const std::string prog = build + "/tests/unit/preload/seed_example";
    std::string origin =
        sh("cd " + cluster_->export_dir(1) + " && VREMOTE_CONFIG=" + cluster_->config(1) + " " +
           env + prog + " 2>/dev/null");
    EXPECT_EQ(origin, "Read 300 bytes\n");
    std::string remote = sh("cd / && VREMOTE_VOLUME=n1 VREMOTE_CONFIG=" + cluster_->config(2) +
                            " " + env + prog + " 2>/dev/null");
    EXPECT_EQ(remote, "Read 300 bytes\n");
    EXPECT_EQ(fs::file_size(cluster_->export_dir(1) + "/myfile.txt"), 300u);
    EXPECT_EQ(fs::file_size(at(3, "n1/myfile.txt")), 300u);
    // The preload library's one-time warning says what it did with the accidental bits.
    auto r = run_command(
        {"/bin/sh",
         "-c",
         "cd / && VREMOTE_VOLUME=n1 VREMOTE_CONFIG=" + cluster_->config(2) + " " + env + prog},
        {},
        60);
    EXPECT_NE(r.err.find("10000000"), std::string::npos) << r.err;
}

// Modified pages held by a node reach the origin when that node is stopped with SIGTERM, even
// with no fsync: the daemon writes them back before it unmounts and exits.
TEST(Shutdown, SigtermWritesBackModifiedPagesThenUnmounts) {
    TestCluster c(2, ClusterOptions{.mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    // Through the native API: no close-time fsync, so the page stays M on n2.
    auto put = c.cli(2, {"put", "n1/unsynced"}, "written on n2, never fsync'd");
    ASSERT_EQ(put.exit_code, 0) << put.err;
    ASSERT_EQ(::kill(c.pid(2), SIGTERM), 0);
    // Wait (bounded) for n2 to exit.
    for (int i = 0; i < 2000 && ::kill(c.pid(2), 0) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a pid, bounded
    }
    EXPECT_NE(::kill(c.pid(2), 0), 0) << "n2 did not exit";
    std::ifstream f(c.export_dir(1) + "/unsynced");
    std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, "written on n2, never fsync'd");
    std::ifstream mi("/proc/self/mountinfo");
    std::string all((std::istreambuf_iterator<char>(mi)), std::istreambuf_iterator<char>());
    EXPECT_EQ(all.find(c.dir() + "/n2/mnt"), std::string::npos) << "n2's mount is still there";
    EXPECT_NE(c.log(2).find("unmounted"), std::string::npos) << c.log(2);
}

}  // namespace
}  // namespace vr::itest

namespace vr::itest {
namespace {

std::string slurp_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

uint64_t stat_counter(TestCluster& c, int k, const std::string& name) {
    auto r = c.cli(k, {"stats"});
    size_t pos = r.out.find(name + " ");
    return pos == std::string::npos ? UINT64_MAX : std::stoull(r.out.substr(pos + name.size() + 1));
}

// Reads of 1 MiB are fetched from the home as one range each (max_read, max_write and readahead
// are 1 MiB), and a home that cannot be reached gives EIO promptly instead of hanging.
TEST(MountIo, LargeReadsAreOneFetchAndAnUnreachableHomeIsEio) {
    TestCluster c(3, ClusterOptions{.mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    std::string mnt2 = c.dir() + "/n2/mnt";
    auto w = run_command(
        {"/bin/sh",
         "-c",
         "dd if=/dev/urandom of=" + c.export_dir(1) + "/eight bs=1M count=8 status=none"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    uint64_t before = stat_counter(c, 2, "fetch_requests");
    auto r = run_command(
        {"/bin/sh", "-c", "dd if=" + mnt2 + "/n1/eight of=/dev/null bs=1M status=none"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    uint64_t fetches = stat_counter(c, 2, "fetch_requests") - before;
    EXPECT_GE(fetches, 8u);
    EXPECT_LE(fetches, 10u) << "8 MiB took " << fetches << " fetches";
    EXPECT_EQ(slurp_file(mnt2 + "/n1/eight"), slurp_file(c.export_dir(1) + "/eight"));

    // n3 goes away: n2's reads of n3's files fail with EIO once n2 notices (failure timeout),
    // and never hang; n1's files still work.
    { std::ofstream(c.export_dir(3) + "/gone") << "bye"; }
    EXPECT_EQ(slurp_file(mnt2 + "/n3/gone"), "bye");
    ASSERT_TRUE(c.kill_node(3));
    ASSERT_GE(c.wait_link(2, 3, "down", 10'000), 0);
    auto start = std::chrono::steady_clock::now();
    auto cat = run_command(
        {"/bin/sh", "-c", "echo 3 > /proc/sys/vm/drop_caches; cat " + mnt2 + "/n3/gone"}, {}, 30);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_NE(cat.exit_code, 0);
    EXPECT_NE(cat.err.find("Input/output error"), std::string::npos) << cat.err;
    EXPECT_LT(took, std::chrono::seconds(5));
    EXPECT_EQ(slurp_file(mnt2 + "/n1/eight").size(), 8u << 20);
}

// The mounts work the same with each node in its own network namespace.
TEST(MountNetns, CoherentAcrossNamespaces) {
    TestCluster c(2, ClusterOptions{.netns = true, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    std::string m1 = c.dir() + "/n1/mnt", m2 = c.dir() + "/n2/mnt";
    { std::ofstream(m1 + "/n2/x") << "from n1"; }
    EXPECT_EQ(slurp_file(m2 + "/n2/x"), "from n1");
    { std::ofstream(m2 + "/n2/x") << "from n2!"; }
    EXPECT_EQ(slurp_file(m1 + "/n2/x"), "from n2!");
}

}  // namespace
}  // namespace vr::itest
