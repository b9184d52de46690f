// Linearizability on a real cluster (`cluster up --netns`): vr_history runs 4 workers per node
// on one shared file through each of 3 nodes' FUSE mounts (writes direct, reads through the
// kernel page cache), for
// 60 s, without and with a 100 us transport delay, and checks every page's history as a register.
// A hand-made stale-read history shows that the tool's checker rejects violations.
#include "history.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>

#include "test_cluster.h"

namespace vr::itest {
namespace {

constexpr int kPages = 8;
constexpr int kSeconds = 60;
// 12 workers do about 10,000 ops a second on the 2-core development machine (50,000 in 5 s);
// far fewer in 60 s means the workers were stuck, not that the cluster is correct.
constexpr long kMinOps = 20000;

void run_history(ClusterOptions options, const std::string& file, uint64_t seed) {
    TestCluster c(3, std::move(options));
    ASSERT_TRUE(c.up()) << c.up_output();
    auto at = [&](int k) { return c.dir() + "/n" + std::to_string(k) + "/mnt/n1/" + file; };
    {
        std::ofstream f(at(1));
        f << std::string(kPages * 4096, '\0');
        ASSERT_TRUE(f.good());
    }
    std::string log = c.dir() + "/history.log";
    auto r = run_command({VR_HISTORY_BIN,
                          "--files",
                          at(1) + "," + at(2) + "," + at(3),
                          "--workers-per-path",
                          "4",
                          "--pages",
                          std::to_string(kPages),
                          "--seconds",
                          std::to_string(kSeconds),
                          "--seed",
                          std::to_string(seed),
                          "--out",
                          log},
                         {},
                         kSeconds + 120);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("LINEARIZABLE"), std::string::npos) << r.out << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\((\d+) ops)"))) << r.out;
    long ops = std::stol(m[1].str());
    EXPECT_GE(ops, kMinOps) << r.out;
    // Every page saw both reads and writes.
    for (int p = 0; p < kPages; ++p) {
        std::regex line("page " + std::to_string(p) + R"(: (\d+) reads (\d+) writes: OK)");
        ASSERT_TRUE(std::regex_search(r.out, m, line)) << r.out;
        EXPECT_GT(std::stol(m[1].str()), 0) << r.out;
        EXPECT_GT(std::stol(m[2].str()), 0) << r.out;
    }
    std::printf("%s", r.out.c_str());
}

TEST(History, ThreeNodesThroughTheMountsAreLinearizable) {
    run_history(ClusterOptions{.netns = true, .mount = true}, "history", 1);
}

TEST(History, ThreeNodesWithTransportDelayAreLinearizable) {
    run_history(ClusterOptions{.extra = {"--delay-us", "100"}, .netns = true, .mount = true},
                "history-delay",
                2);
}

history::Op op(int worker, int node, history::Op::Kind kind, uint64_t value, int64_t a, int64_t b) {
    history::Op o;
    o.invoke = a;
    o.complete = b;
    o.worker = worker;
    o.node = node;
    o.kind = kind;
    o.page = 3;
    o.value = value;
    return o;
}

// A write on n1 completes; afterwards a reader on n2 still sees the initial value.
TEST(HistoryChecker, RejectsAStaleRead) {
    using K = history::Op::Kind;
    history::History h;
    h.initial.assign(kPages, 0);
    h.ops = {op(1, 1, K::Write, 1ULL << 40 | 1, 100, 200),
             op(5, 2, K::Read, 1ULL << 40 | 1, 250, 260),
             op(6, 2, K::Read, 0, 300, 400)};
    auto reports = history::check(h, kPages);
    ASSERT_EQ(reports.size(), static_cast<size_t>(kPages));
    ASSERT_TRUE(reports[3].violation) << "stale read accepted";
    EXPECT_EQ(reports[3].reads, 2);
    EXPECT_EQ(reports[3].writes, 1);
    std::string s = reports[3].violation->to_string();
    EXPECT_NE(s.find("node n2"), std::string::npos) << s;
    for (int p = 0; p < kPages; ++p) {
        if (p != 3) {
            EXPECT_FALSE(reports[static_cast<size_t>(p)].violation);
        }
    }
    // The same history without the stale read is fine, and so is the stale value read while
    // the write was still in progress.
    h.ops.pop_back();
    EXPECT_FALSE(history::check(h, kPages)[3].violation);
    h.ops = {op(1, 1, K::Write, 1ULL << 40 | 1, 100, 200), op(6, 2, K::Read, 0, 150, 160)};
    EXPECT_FALSE(history::check(h, kPages)[3].violation);
}

// A node cut off from the home loses its failed write; its own reader saw the value meanwhile.
// With cut_off_ok that is allowed; a read of the lost value on another node never is.
TEST(HistoryChecker, CutOffOkForgivesOnlyReadsOnTheWritersOwnNode) {
    using K = history::Op::Kind;
    history::History h;
    h.initial.assign(kPages, 0);
    const uint64_t kLost = 3ULL << 40 | 1;
    h.ops = {op(1, 1, K::Write, 1ULL << 40 | 1, 100, 200),
             op(9, 3, K::Write, kLost, 300, check::kPending),
             op(10, 3, K::Read, kLost, 310, 320),
             op(2, 1, K::Read, 1ULL << 40 | 1, 400, 410)};
    EXPECT_TRUE(history::check(h, kPages)[3].violation) << "the plain check forgives nothing";
    auto forgiven = history::check(h, kPages, {.cut_off_ok = true});
    EXPECT_FALSE(forgiven[3].violation);
    EXPECT_EQ(forgiven[3].dropped_reads, 1);
    // Node n2 read the lost value too: now it is a violation whatever the option.
    h.ops.push_back(op(5, 2, K::Read, kLost, 330, 340));
    EXPECT_TRUE(history::check(h, kPages, {.cut_off_ok = true})[3].violation);
}

}  // namespace
}  // namespace vr::itest
