// Integration tests on a real 3-node cluster (`vremote cluster up`): coherence through the
// native C API and the `vremote` command, durability on the origin's disk, and a peer killed
// with SIGKILL. Every daemon is a separate process on loopback ports.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_cluster.h"
#include "vremote/vremote.h"

namespace vr::itest {
namespace {

constexpr uint64_t kPage = 4096;

std::string value_for(int round, int writer) {
    return "round " + std::to_string(round) + " written by n" + std::to_string(writer) + ";";
}

class ThreeNodes : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        cluster_ = new TestCluster(3);
        for (int k = 1; k <= 3; ++k) {
            clients_[k] = nullptr;
        }
        if (!cluster_->up()) {
            return;
        }
        for (int k = 1; k <= 3; ++k) {
            clients_[k] = vr_connect(cluster_->config(k).c_str());
        }
    }
    static void TearDownTestSuite() {
        for (int k = 1; k <= 3; ++k) {
            vr_disconnect(clients_[k]);
        }
        delete cluster_;
        cluster_ = nullptr;
    }
    void SetUp() override {
        ASSERT_TRUE(cluster_->up()) << "cluster up failed:\n" << cluster_->up_output();
        for (int k = 1; k <= 3; ++k) {
            ASSERT_NE(clients_[k], nullptr) << "vr_connect to n" << k << ": " << vr_last_error();
        }
    }

    static vr_client* c(int k) { return clients_[k]; }

    static int open(int k, const std::string& path, int flags = 0) {
        int fd = vr_open(c(k), path.c_str(), flags, 0644);
        EXPECT_GE(fd, 0) << "open " << path << " on n" << k << ": " << vr_last_error();
        return fd;
    }
    static std::string pread(int k, int fd, uint64_t off, size_t len) {
        std::string buf(len, '\0');
        ssize_t n = vr_pread(c(k), fd, buf.data(), len, off);
        EXPECT_GE(n, 0) << "pread on n" << k << ": " << vr_last_error();
        buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return buf;
    }
    static void pwrite(int k, int fd, uint64_t off, const std::string& data) {
        ssize_t n = vr_pwrite(c(k), fd, data.data(), data.size(), off);
        EXPECT_EQ(n, static_cast<ssize_t>(data.size()))
            << "pwrite on n" << k << ": " << vr_last_error();
    }

    static TestCluster* cluster_;
    static vr_client* clients_[4];
};

TestCluster* ThreeNodes::cluster_ = nullptr;
vr_client* ThreeNodes::clients_[4];

// A write on any node is seen by the next read on every other node, on the first, a middle and
// the last page of a 64 MiB file homed on n1, including pages n1 itself holds in M.
TEST_F(ThreeNodes, WriteOnOneNodeIsSeenByTheNextReadEverywhere) {
    const uint64_t size = 64ull << 20;
    int fd1 = open(1, "n1/big", VR_O_CREAT | VR_O_TRUNC);
    ASSERT_GE(fd1, 0);
    // Fill the file from the home in 1 MiB writes with a known pattern.
    std::string chunk(1 << 20, '\0');
    for (uint64_t off = 0; off < size; off += chunk.size()) {
        for (size_t i = 0; i < chunk.size(); i += kPage) {
            std::snprintf(chunk.data() + i,
                          32,
                          "page %010llu",
                          static_cast<unsigned long long>((off + i) / kPage));
        }
        pwrite(1, fd1, off, chunk);
    }
    struct vr_stat st {};
    ASSERT_EQ(vr_stat(c(2), "n1/big", &st), 0) << vr_last_error();
    EXPECT_EQ(st.size, size);

    int fd[4] = {-1, fd1, open(2, "n1/big"), open(3, "n1/big")};
    ASSERT_GE(fd[2], 0);
    ASSERT_GE(fd[3], 0);
    const uint64_t pages[] = {0, (size / kPage) / 2, size / kPage - 1};
    int round = 0;
    for (uint64_t page : pages) {
        // Everyone caches the page first (S everywhere), so each write must invalidate.
        for (int k = 1; k <= 3; ++k) {
            EXPECT_EQ(pread(k, fd[k], page * kPage, 15).substr(0, 5), "page ");
        }
        for (int writer = 1; writer <= 3; ++writer) {
            ++round;
            std::string v = value_for(round, writer);
            // Mid-page, so the rest of the page must survive the write.
            pwrite(writer, fd[writer], page * kPage + 100, v);
            for (int reader = 1; reader <= 3; ++reader) {
                EXPECT_EQ(pread(reader, fd[reader], page * kPage + 100, v.size()), v)
                    << "page " << page << ": n" << reader << " after a write on n" << writer;
                EXPECT_EQ(pread(reader, fd[reader], page * kPage, 5), "page ")
                    << "page " << page << " lost its head on n" << reader;
            }
        }
    }
    // The home itself writes last: its page is M at n1, and the others read it from there.
    auto pr = cluster_->cli(1, {"pages", "n1/big"});
    EXPECT_EQ(pr.exit_code, 0) << pr.err;
    EXPECT_NE(pr.out.find('M'), std::string::npos) << pr.out;
    // Reads past the end are short; the size is the same everywhere.
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(pread(k, fd[k], size - 10, 100).size(), 10u);
        EXPECT_EQ(pread(k, fd[k], size, 100).size(), 0u);
    }
    // The home sends runs of clean pages with sendfile and its cached pages as iovecs: no
    // copies. (Runs of fewer than 5 clean pages, like the single pages above, it reads and
    // copies: cheaper than a stream for a 4 KiB miss.)
    auto stat_of = [](const std::string& stats, const std::string& name) -> uint64_t {
        size_t at = stats.find(name + " ");
        return at == std::string::npos ? UINT64_MAX : std::stoull(stats.substr(at + name.size()));
    };
    ASSERT_EQ(vr_fsync(c(1), fd[1]), 0) << vr_last_error();
    std::string before = cluster_->cli(1, {"stats"}).out;
    EXPECT_EQ(pread(2, fd[2], 8ull << 20, 1 << 20).size(), 1u << 20);  // 256 pages n2 never read
    std::string after = cluster_->cli(1, {"stats"}).out;
    EXPECT_GE(stat_of(after, "bytes_sent_zero_copy"),
              stat_of(before, "bytes_sent_zero_copy") + (1u << 20))
        << before << after;
    EXPECT_EQ(stat_of(after, "bytes_sent_copied"), stat_of(before, "bytes_sent_copied"))
        << before << after;
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(vr_close(c(k), fd[k]), 0);
    }
}

// The `vremote` command: put on one node, get on the others, at offsets, and extending.
TEST_F(ThreeNodes, GetAndPutThroughTheCommand) {
    auto r = cluster_->cli(2, {"put", "n3/cli.txt"}, "hello from n2\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int k = 1; k <= 3; ++k) {
        auto g = cluster_->cli(k, {"get", "n3/cli.txt"});
        EXPECT_EQ(g.exit_code, 0) << g.err;
        EXPECT_EQ(g.out, "hello from n2\n") << "on n" << k;
    }
    r = cluster_->cli(1, {"put", "n3/cli.txt", "--offset", "6"}, "n1!!");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int k = 1; k <= 3; ++k) {
        auto g = cluster_->cli(k, {"get", "n3/cli.txt", "--offset", "6", "--length", "4"});
        EXPECT_EQ(g.out, "n1!!") << "on n" << k;
    }
    // Appending past the end grows the file everywhere.
    r = cluster_->cli(3, {"put", "n3/cli.txt", "--offset", "14"}, "tail");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(cluster_->cli(k, {"get", "n3/cli.txt"}).out, "hello n1!! n2\ntail")
            << "on n" << k;
    }
    auto missing = cluster_->cli(1, {"get", "n3/no-such-file"});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("no such file"), std::string::npos) << missing.err;
}

// fsync'd data is on the origin's disk: read the export's file directly, outside vremote.
TEST_F(ThreeNodes, FsyncedDataIsOnTheOriginDisk) {
    int fd2 = open(2, "n1/durable", VR_O_CREAT | VR_O_TRUNC);
    ASSERT_GE(fd2, 0);
    std::string data(3 * kPage + 123, '\0');
    std::mt19937 rng(7);
    for (auto& ch : data) {
        ch = static_cast<char>('a' + rng() % 26);
    }
    pwrite(2, fd2, 0, data);
    ASSERT_EQ(vr_fsync(c(2), fd2), 0) << vr_last_error();
    std::ifstream f(cluster_->export_dir(1) + "/durable", std::ios::binary);
    std::string on_disk((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(on_disk.size(), data.size());
    EXPECT_TRUE(on_disk == data) << "the origin file differs from what was fsync'd";
    // The command's sync does the same for a write made through it.
    ASSERT_EQ(cluster_->cli(3, {"put", "n1/durable", "--offset", "0"}, "XYZ").exit_code, 0);
    ASSERT_EQ(cluster_->cli(3, {"sync", "n1/durable"}).exit_code, 0);
    std::ifstream g(cluster_->export_dir(1) + "/durable", std::ios::binary);
    char head[3];
    g.read(head, 3);
    EXPECT_EQ(std::string(head, 3), "XYZ");
    EXPECT_EQ(vr_close(c(2), fd2), 0);
}

TEST_F(ThreeNodes, ErrorsAreClear) {
    EXPECT_EQ(vr_open(c(1), "n2/missing", 0, 0), -ENOENT);
    EXPECT_EQ(vr_open(c(1), "nosuchvolume/x", 0, 0), -ENOENT);
    EXPECT_EQ(vr_open(c(1), "n2/../etc/passwd", VR_O_CREAT, 0644), -EINVAL);
    int fd = open(1, "n2/ro", VR_O_CREAT);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(vr_close(c(1), fd), 0);
    fd = vr_open(c(1), "n2/ro", VR_O_RDONLY, 0);
    ASSERT_GE(fd, 0);
    EXPECT_LT(vr_pwrite(c(1), fd, "x", 1, 0), 0);
    EXPECT_EQ(vr_close(c(1), fd), 0);
}

// After a peer is killed, the others notice within the failure timeout and go on with the
// other homes' files. (Last: it takes a node away.)
TEST_F(ThreeNodes, ZZ_KilledPeerIsNoticedAndOthersGoOn) {
    // Both survivors hold n3's files and each other's before the kill.
    int fd = open(2, "n1/after-kill", VR_O_CREAT | VR_O_TRUNC);
    ASSERT_GE(fd, 0);
    pwrite(2, fd, 0, "before");
    ASSERT_TRUE(cluster_->kill_node(3));
    // Defaults: heartbeat 200 ms, failure 2000 ms.
    int64_t ms1 = cluster_->wait_link(1, 3, "down", 10'000);
    int64_t ms2 = cluster_->wait_link(2, 3, "down", 10'000);
    EXPECT_GE(ms1, 0);
    EXPECT_GE(ms2, 0);
    EXPECT_LE(ms1, 2000 + 500);
    EXPECT_LE(ms2, 2000 + 500);
    pwrite(2, fd, 0, "after!");
    int fd1 = open(1, "n1/after-kill");
    ASSERT_GE(fd1, 0);
    EXPECT_EQ(pread(1, fd1, 0, 6), "after!");
    int fd3 = open(1, "n2/from-n1", VR_O_CREAT | VR_O_TRUNC);
    ASSERT_GE(fd3, 0);
    pwrite(1, fd3, 0, "still works");
    int fd4 = open(2, "n2/from-n1");
    EXPECT_EQ(pread(2, fd4, 0, 11), "still works");
    // n3's files are unavailable, with an error rather than a hang.
    EXPECT_LT(vr_open(c(1), "n3/cli.txt", 0, 0), 0);
    for (int f : {fd, fd4}) {
        vr_close(c(2), f);
    }
    vr_close(c(1), fd1);
    vr_close(c(1), fd3);
}

}  // namespace
}  // namespace vr::itest

namespace vr::itest {
namespace {

uint64_t vm_kib(pid_t pid, const std::string& field) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::stoull(line.substr(field.size() + 1));
        }
    }
    return 0;
}

// With a 16 MiB cache, writing and reading 128 MiB through remote nodes evicts (writing M pages
// back first), loses nothing, and keeps every daemon within cache + 64 MiB at its peak.
TEST(SmallCache, EvictionWritesBackAndMemoryStaysBounded) {
    TestCluster c(3, {"--cache-size", "16777216"});
    ASSERT_TRUE(c.up()) << c.up_output();
    vr_client* w = vr_connect(c.config(2).c_str());
    vr_client* r = vr_connect(c.config(3).c_str());
    ASSERT_NE(w, nullptr);
    ASSERT_NE(r, nullptr);
    int fw = vr_open(w, "n1/stream", VR_O_CREAT | VR_O_TRUNC, 0644);
    ASSERT_GE(fw, 0) << vr_last_error();
    const uint64_t total = 128ull << 20;
    std::string chunk(1 << 20, '\0');
    auto fill = [&](uint64_t off) {
        for (size_t i = 0; i < chunk.size(); i += 8) {
            uint64_t v = (off + i) * 2654435761u;
            std::memcpy(chunk.data() + i, &v, 8);
        }
    };
    for (uint64_t off = 0; off < total; off += chunk.size()) {
        fill(off);
        ASSERT_EQ(vr_pwrite(w, fw, chunk.data(), chunk.size(), off),
                  static_cast<ssize_t>(chunk.size()))
            << vr_last_error();
    }
    int fr = vr_open(r, "n1/stream", VR_O_RDONLY, 0);
    ASSERT_GE(fr, 0);
    std::string got(1 << 20, '\0');
    for (uint64_t off = 0; off < total; off += got.size()) {
        fill(off);
        ASSERT_EQ(vr_pread(r, fr, got.data(), got.size(), off), static_cast<ssize_t>(got.size()));
        ASSERT_TRUE(got == chunk) << "wrong data at offset " << off;
    }
    for (int k = 1; k <= 3; ++k) {
        uint64_t hwm = vm_kib(c.pid(k), "VmHWM");
        EXPECT_GT(hwm, 0u);
        EXPECT_LE(hwm, (16u + 64u) * 1024u) << "n" << k << " peaked at " << hwm << " KiB";
        std::printf(
            "n%d: peak RSS %llu KiB (cache 16 MiB)\n", k, static_cast<unsigned long long>(hwm));
    }
    vr_close(w, fw);
    vr_close(r, fr);
    vr_disconnect(w);
    vr_disconnect(r);
}

}  // namespace
}  // namespace vr::itest

namespace vr::itest {
namespace {

// With cluster.encrypt on, the same coherence holds, and no page byte leaves a node without
// going through the cipher (so none is counted as sent without a copy).
TEST(Encrypted, CoherentAndEveryPageByteGoesThroughTheCipher) {
    TestCluster c(3, {"--encrypt", "on"});
    ASSERT_TRUE(c.up()) << c.up_output();
    ASSERT_EQ(c.cli(2, {"put", "n1/secret-data"}, std::string(10000, 'e')).exit_code, 0);
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(c.cli(k, {"get", "n1/secret-data"}).out, std::string(10000, 'e'));
    }
    ASSERT_EQ(c.cli(3, {"put", "n1/secret-data", "--offset", "4096"}, "n3 was here").exit_code, 0);
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(c.cli(k, {"get", "n1/secret-data", "--offset", "4096", "--length", "11"}).out,
                  "n3 was here");
    }
    for (int k = 1; k <= 3; ++k) {
        std::string stats = c.cli(k, {"stats"}).out;
        EXPECT_NE(stats.find("bytes_sent_zero_copy 0\n"), std::string::npos) << stats;
    }
    std::string stats1 = c.cli(1, {"stats"}).out;
    EXPECT_EQ(stats1.find("bytes_sent_copied 0\n"), std::string::npos) << stats1;
}

}  // namespace
}  // namespace vr::itest
