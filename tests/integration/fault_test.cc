// Failures on a real cluster (`vremote cluster up --netns`, mounts on every node), as
// docs/design/failure.md states them:
// * a planted bug (invalidations acknowledged without telling the kernel) is caught by the
//   history checker, so the history tests can fail;
// * a non-home node holding M pages is SIGKILLed, 20 times: the others read the last data
//   written back within the failure timeout, every byte a completed fsync covered is intact
//   (checked against a manifest kept outside the mount), and the node restarts and reads right;
// * the home is SIGKILLed: its files give EIO within the failure timeout; after its restart the
//   M pages other nodes held are reclaimed and nothing fsync'd is lost;
// * a node's link is cut (`ip link set down` in its namespace) while the history runs: the
//   history stays linearizable, the cut-off node's lease runs out before the home declares it
//   dead, the other nodes go on, and after the heal everyone works again;
// * slow and lossy links (the transport's delay and loss hooks): linearizable, no errors.
// Times are bounded; a failing run prints the seed or the history file that replays it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "client/session.h"
#include "test_cluster.h"

namespace vr::itest {
namespace {

constexpr size_t kPage = 4096;
constexpr int kLeaseMs = 1000;  // `cluster up --lease-ms`: failure timeout 1 s, grace 0.5 s

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string at(const TestCluster& c, int k, const std::string& rel) {
    return c.dir() + "/n" + std::to_string(k) + "/mnt/" + rel;
}

// A page of one repeated byte, tagged at the front with what wrote it.
std::string page_of(const std::string& tag, char fill) {
    std::string p(kPage, fill);
    std::memcpy(p.data(), tag.data(), std::min(tag.size(), kPage));
    return p;
}

// Reads [off, off + n) of `path` through a fresh fd; the errno on failure.
struct ReadResult {
    std::string data;
    int err = 0;
    int64_t ms = 0;
};
ReadResult read_at(const std::string& path, size_t n, off_t off) {
    ReadResult r;
    int64_t start = now_ms();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r.err = errno;
    } else {
        r.data.resize(n);
        ssize_t got = ::pread(fd, r.data.data(), n, off);
        if (got < 0) {
            r.err = errno;
            r.data.clear();
        } else {
            r.data.resize(static_cast<size_t>(got));
        }
        ::close(fd);
    }
    r.ms = now_ms() - start;
    return r;
}

// Node k's page states of `rel` ("M", "S", "I" per page), asked over its client socket: a
// `vremote pages` child would inherit, and close, the test's open fds, and every close of a
// written fd writes back (FUSE flush).
std::string page_states(const TestCluster& c, int k, const std::string& rel) {
    auto s = client::Session::connect(c.dir() + "/n" + std::to_string(k) + "/data/vremoted.sock",
                                      std::chrono::milliseconds(2000));
    if (!s.is_ok()) {
        return "(" + s.status().to_string() + ")";
    }
    auto r = s.value()->pages(rel, 0);
    return r.is_ok() ? r.value().states : "(" + r.status().to_string() + ")";
}

bool write_all(int fd, const std::string& data, off_t off) {
    return ::pwrite(fd, data.data(), data.size(), off) == static_cast<ssize_t>(data.size());
}

// The tag at the front of a page (up to the fill byte).
std::string tag_of(const std::string& page) {
    size_t end = page.find_first_of("#%", 0);
    return page.substr(0, end == std::string::npos ? 24 : end);
}

// A page, short, for messages: its tag, "zeros", or its size if it is not a whole page.
std::string describe(const std::string& page) {
    if (page.size() != kPage) {
        return std::to_string(page.size()) + " bytes";
    }
    if (page == std::string(kPage, '\0')) {
        return "zeros";
    }
    return "\"" + tag_of(page) + "\"";
}

struct History {
    int exit_code = -1;
    std::string out;
    std::string log;  // the --out file
};

// vr_history on `file` (on n1's volume) through every node's mount.
History run_history(const TestCluster& c,
                    const std::string& file,
                    double seconds,
                    uint64_t seed,
                    bool allow_errors,
                    std::vector<std::string> more = {}) {
    std::string paths;
    for (int k = 1; k <= c.nodes(); ++k) {
        paths += (k > 1 ? "," : "") + at(c, k, "n1/" + file);
    }
    History h;
    h.log = c.dir() + "/" + file + ".history";
    std::vector<std::string> argv = {VR_HISTORY_BIN,
                                     "--files",
                                     paths,
                                     "--workers-per-path",
                                     "4",
                                     "--pages",
                                     "8",
                                     "--seconds",
                                     std::to_string(seconds),
                                     "--seed",
                                     std::to_string(seed),
                                     "--out",
                                     h.log};
    if (allow_errors) {
        argv.push_back("--allow-errors");
    }
    argv.insert(argv.end(), more.begin(), more.end());
    auto r = run_command(argv, {}, static_cast<int>(seconds) + 120);
    h.exit_code = r.exit_code;
    h.out = r.out + r.err;
    return h;
}

bool make_file(const TestCluster& c, const std::string& rel, size_t pages) {
    std::ofstream f(at(c, 1, rel));
    f << std::string(pages * kPage, '\0');
    return f.good();
}

long ops_of(const std::string& out) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex(R"(\((\d+) ops)"))) {
        return -1;
    }
    return std::stol(m[1].str());
}

// The log line's time (CLOCK_REALTIME, "2026-11-29T13:18:07.435Z") in ms since midnight.
int64_t log_time_ms(const std::string& log, const std::string& needle) {
    size_t pos = log.find(needle);
    if (pos == std::string::npos) {
        return -1;
    }
    size_t line = log.rfind('\n', pos);
    line = line == std::string::npos ? 0 : line + 1;
    int h = 0, m = 0, s = 0, ms = 0;
    if (std::sscanf(log.c_str() + line, "%*d-%*d-%*dT%d:%d:%d.%dZ", &h, &m, &s, &ms) != 4) {
        return -1;
    }
    return ((h * 60 + m) * 60 + s) * 1000 + ms;
}

// A planted bug must make the history test fail: the checker on a real cluster can fail.
TEST(Faults, APlantedBugIsCaughtByTheHistoryChecker) {
    TestCluster c(
        3,
        ClusterOptions{
            .extra = {"--fault", "skip-kernel-invalidation"}, .netns = true, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    EXPECT_NE(c.log(2).find("PLANTED BUG"), std::string::npos) << c.log(2);
    ASSERT_TRUE(make_file(c, "n1/planted", 8));
    History h = run_history(c, "planted", 8, 11, false);
    EXPECT_EQ(h.exit_code, 1) << h.out;
    EXPECT_NE(h.out.find("VIOLATION"), std::string::npos) << "stale reads went unnoticed:\n"
                                                          << h.out;
    // The saved history replays the verdict without the cluster.
    auto again = run_command({VR_HISTORY_BIN, "--check", h.log});
    EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
    EXPECT_NE(again.out.find("VIOLATION"), std::string::npos) << again.out;
}

// n2 holds M pages of n1's file, some covered by an fsync, and is SIGKILLed, 20 times.
TEST(Faults, ANonHomeNodeKilledWhileHoldingModifiedPagesLosesOnlyWhatWasNotFsynced) {
    TestCluster c(
        3,
        ClusterOptions{
            .extra = {"--lease-ms", std::to_string(kLeaseMs)}, .netns = true, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    constexpr size_t kPages = 8;  // pages 0-3 are fsync'd each cycle, 4-7 are not
    ASSERT_TRUE(make_file(c, "n1/crash", kPages));
    const std::string file = "n1/crash";
    // The manifest: what each page held when its last fsync completed; kept outside the mount.
    std::map<size_t, std::string> synced;
    for (size_t p = 0; p < kPages; ++p) {
        synced[p] = std::string(kPage, '\0');
    }
    std::string manifest_path = c.dir() + "/manifest";
    std::mt19937_64 rng(20261129);
    for (int cycle = 1; cycle <= 20; ++cycle) {
        SCOPED_TRACE("cycle " + std::to_string(cycle));
        int fd = ::open(at(c, 2, file).c_str(), O_RDWR | O_CLOEXEC);
        // (Once, in a fresh-clone CI run, this open failed with EIO in cycle 1, right after the
        // cluster came up; not reproduced since. The logs say why if it comes back.)
        ASSERT_GE(fd, 0) << std::strerror(errno) << "\n--- n2's log:\n"
                         << c.log(2) << "\n--- n1's log:\n"
                         << c.log(1);
        // Pages 0-3: written and fsync'd, then some of them written again without an fsync.
        for (size_t p = 0; p < 4; ++p) {
            std::string data =
                page_of("c" + std::to_string(cycle) + "p" + std::to_string(p) + "#", '#');
            ASSERT_TRUE(write_all(fd, data, static_cast<off_t>(p * kPage))) << std::strerror(errno);
        }
        ASSERT_EQ(::fsync(fd), 0) << std::strerror(errno);
        for (size_t p = 0; p < 4; ++p) {
            synced[p] = page_of("c" + std::to_string(cycle) + "p" + std::to_string(p) + "#", '#');
        }
        {
            std::ofstream m(manifest_path, std::ios::trunc);
            for (const auto& [p, data] : synced) {
                m << p << " " << tag_of(data) << "\n";
            }
        }
        // Pages 4-7 and one of 0-3: written, not fsync'd; the fd stays open so that they stay
        // in M on n2 (a close would write them back).
        size_t again = rng() % 4;
        std::map<size_t, std::string> unsynced;
        for (size_t p : {again, size_t{4}, size_t{5}, size_t{6}, size_t{7}}) {
            unsynced[p] = page_of("c" + std::to_string(cycle) + "p" + std::to_string(p) + "%", '%');
            ASSERT_TRUE(write_all(fd, unsynced[p], static_cast<off_t>(p * kPage)));
        }
        std::string states = page_states(c, 2, file);
        ASSERT_EQ(states.substr(4, 4), "MMMM") << states;
        ASSERT_TRUE(c.kill_node(2));
        ::close(fd);  // the mount is dead now: its error does not matter

        // n3 reads every page: within the failure timeout (lease + grace, and slack for this
        // 2-core machine), each page holds its fsync'd data or n2's later, unsynced write.
        std::map<size_t, std::string> seen;
        for (size_t p = 0; p < kPages; ++p) {
            ReadResult r = read_at(at(c, 3, file), kPage, static_cast<off_t>(p * kPage));
            ASSERT_EQ(r.err, 0) << "page " << p << ": " << std::strerror(r.err);
            EXPECT_LE(r.ms, kLeaseMs * 3 / 2 + 2000) << "page " << p << " took " << r.ms << " ms";
            ASSERT_EQ(r.data.size(), kPage);
            bool ok = r.data == synced[p] || (unsynced.count(p) && r.data == unsynced[p]);
            EXPECT_TRUE(ok) << "page " << p << " holds " << describe(r.data) << ", fsync'd "
                            << describe(synced[p]);
            seen[p] = r.data;
        }
        // The origin's disk has every fsync'd page that was not written again.
        {
            std::ifstream disk(c.export_dir(1) + "/crash", std::ios::binary);
            std::string all((std::istreambuf_iterator<char>(disk)), {});
            ASSERT_EQ(all.size(), kPages * kPage);
            for (size_t p = 0; p < 4; ++p) {
                if (p != again) {
                    EXPECT_TRUE(all.substr(p * kPage, kPage) == synced[p])
                        << "page " << p << " on disk: " << describe(all.substr(p * kPage, kPage))
                        << ", fsync'd " << describe(synced[p]);
                }
            }
        }
        std::string why;
        ASSERT_TRUE(c.restart_node(2, &why)) << why;
        // At once, n2 reads what n3 read.
        for (size_t p = 0; p < kPages; ++p) {
            ReadResult r = read_at(at(c, 2, file), kPage, static_cast<off_t>(p * kPage));
            ASSERT_EQ(r.err, 0) << "page " << p << ": " << std::strerror(r.err);
            EXPECT_TRUE(r.data == seen[p]) << "page " << p << ": n2 reads " << describe(r.data)
                                           << ", n3 read " << describe(seen[p]);
        }
        // What was read is now the last data: it is what the next cycle's check starts from.
        for (size_t p = 0; p < kPages; ++p) {
            synced[p] = seen[p];
        }
        if (HasFailure()) {
            break;
        }
    }
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(c.log(k).find(" ERROR "), std::string::npos) << c.log(k);
    }
}

// The home (n1) is SIGKILLed while n2 and n3 hold M pages of its file, then restarted.
TEST(Faults, AHomeKilledGivesEioThenReclaimsModifiedPagesOnRestart) {
    TestCluster c(
        3,
        ClusterOptions{
            .extra = {"--lease-ms", std::to_string(kLeaseMs)}, .netns = true, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    const std::string file = "n1/home";
    ASSERT_TRUE(make_file(c, file, 16));
    int fd2 = ::open(at(c, 2, file).c_str(), O_RDWR | O_CLOEXEC);
    int fd3 = ::open(at(c, 3, file).c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd2, 0);
    ASSERT_GE(fd3, 0);
    std::map<size_t, std::string> want;
    for (size_t p = 0; p < 4; ++p) {  // fsync'd by n2
        want[p] = page_of("synced-n2-p" + std::to_string(p) + "#", '#');
        ASSERT_TRUE(write_all(fd2, want[p], static_cast<off_t>(p * kPage)));
    }
    ASSERT_EQ(::fsync(fd2), 0);
    for (size_t p = 4; p < 8; ++p) {  // held in M by n2
        want[p] = page_of("m-n2-p" + std::to_string(p) + "%", '%');
        ASSERT_TRUE(write_all(fd2, want[p], static_cast<off_t>(p * kPage)));
    }
    for (size_t p = 8; p < 12; ++p) {  // held in M by n3
        want[p] = page_of("m-n3-p" + std::to_string(p) + "%", '%');
        ASSERT_TRUE(write_all(fd3, want[p], static_cast<off_t>(p * kPage)));
    }
    std::string states2 = page_states(c, 2, file);
    std::string states3 = page_states(c, 3, file);
    ASSERT_EQ(states2.substr(4, 4), "MMMM") << states2;
    ASSERT_EQ(states3.substr(8, 4), "MMMM") << states3;
    ASSERT_TRUE(c.kill_node(1));

    // While the home is down: EIO, within the failure timeout (plus slack), never a hang. A
    // page nobody holds, a new open, and a new name.
    ReadResult miss = read_at(at(c, 2, file), kPage, 13 * kPage);
    EXPECT_EQ(miss.err, EIO) << std::strerror(miss.err) << " after " << miss.ms << " ms";
    EXPECT_LE(miss.ms, kLeaseMs + 3000);
    ReadResult other = read_at(at(c, 3, file), kPage, 14 * kPage);
    EXPECT_EQ(other.err, EIO) << std::strerror(other.err);
    EXPECT_LE(other.ms, kLeaseMs + 3000);
    int64_t t0 = now_ms();
    int created = ::open(at(c, 2, "n1/while-down").c_str(), O_CREAT | O_WRONLY, 0644);
    int create_errno = errno;
    EXPECT_LT(created, 0);
    EXPECT_EQ(create_errno, EIO) << std::strerror(create_errno);
    EXPECT_LE(now_ms() - t0, kLeaseMs + 3000);
    if (created >= 0) {
        ::close(created);
    }

    std::string why;
    ASSERT_TRUE(c.restart_node(1, &why)) << why;
    // The restarted home recovers: n2 and n3 reclaim their M pages into its store. Reads from
    // every node (n1 through its new mount) show every page, fsync'd or reclaimed.
    for (int k : {1, 2, 3}) {
        for (size_t p = 0; p < 12; ++p) {
            ReadResult r = read_at(at(c, k, file), kPage, static_cast<off_t>(p * kPage));
            ASSERT_EQ(r.err, 0) << "n" << k << " page " << p << ": " << std::strerror(r.err);
            EXPECT_EQ(r.data, want[p])
                << "n" << k << " page " << p << " holds " << describe(r.data);
        }
    }
    // Writes go on, coherently: n3 writes a reclaimed page, n2 reads it.
    std::string fresh = page_of("after-restart#", '#');
    EXPECT_TRUE(write_all(fd3, fresh, 5 * kPage)) << std::strerror(errno);
    EXPECT_EQ(describe(read_at(at(c, 2, file), kPage, 5 * kPage).data), describe(fresh));
    // The fsync'd and reclaimed pages are on the origin's disk once n2 and n3 close.
    ::close(fd2);
    ::close(fd3);
    std::ifstream disk(c.export_dir(1) + "/home", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(disk)), {});
    ASSERT_GE(all.size(), 12 * kPage);
    for (size_t p = 0; p < 12; ++p) {
        EXPECT_EQ(describe(all.substr(p * kPage, kPage)), describe(p == 5 ? fresh : want[p]))
            << "page " << p << " on the origin's disk";
    }
    EXPECT_NE(c.log(1).find("recovery over"), std::string::npos) << c.log(1);
}

// n3's link is cut for 6 s while 12 workers on 3 nodes read and write (pwrite + fdatasync) one
// file of n1's.
TEST(Faults, APartitionKeepsTheHistoryLinearizableAndHealsWithoutHelp) {
    TestCluster c(3, ClusterOptions{.netns = true, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    ASSERT_TRUE(make_file(c, "n1/partition", 8));
    constexpr double kSeconds = 22;
    History h;
    // Writes are made durable (fdatasync) in the same op: a cut-off node loses what it could
    // not write back, and only its own readers may have seen that (failure.md).
    std::thread history([&] {
        h = run_history(c, "partition", kSeconds, 21, true, {"--sync-writes", "--cut-off-ok"});
    });
    // The cut at 5 s, the heal at 11 s (lease 2 s + grace 1 s: the home takes n3's pages back
    // at about 8 s); the history runs on for 11 s more.
    std::this_thread::sleep_for(std::chrono::seconds(5));  // the workload's schedule, not a sync
    std::string why;
    bool cut = c.link(3, false, &why);
    std::this_thread::sleep_for(std::chrono::seconds(6));
    bool healed = c.link(3, true, &why);
    history.join();
    ASSERT_TRUE(cut) << why;
    ASSERT_TRUE(healed) << why;
    EXPECT_EQ(h.exit_code, 0) << h.out;
    EXPECT_NE(h.out.find("LINEARIZABLE"), std::string::npos) << h.out;

    // Per node and second: the ops that completed. n1 and n2 go on during the cut (once the
    // home has declared n3 dead), and every node works after the heal.
    std::ifstream f(h.log);
    std::string line;
    std::map<int, std::map<int64_t, int>> per;  // node -> second -> ops
    int64_t first = -1;
    while (std::getline(f, line)) {
        long long invoke = 0;
        char done[32];
        int node = 0;
        if (std::sscanf(line.c_str(), "%lld %31s worker %*d node n%d", &invoke, done, &node) == 3 &&
            std::strcmp(done, "-") != 0) {
            if (first < 0) {
                first = invoke;
            }
            per[node][(invoke - first) / 1'000'000'000]++;
        }
    }
    auto ops_in = [&](int node, int64_t from, int64_t to) {
        int n = 0;
        for (int64_t s = from; s < to; ++s) {
            n += per[node][s];
        }
        return n;
    };
    EXPECT_GT(ops_in(1, 9, 11), 0) << "n1 stalled while n3 was cut off";
    EXPECT_GT(ops_in(2, 9, 11), 0) << "n2 stalled while n3 was cut off";
    for (int k = 1; k <= 3; ++k) {
        EXPECT_GT(ops_in(k, 15, 21), 0) << "n" << k << " did no work after the heal";
    }
    // The cut-off node suspended n1 (its lease ran out: the kernel's copies were dropped)
    // before n1 declared it dead and took its pages back.
    int64_t suspended = log_time_ms(c.log(3), "coherence: n3 lease from n1 expired");
    int64_t dead = log_time_ms(c.log(1), "coherence: home n1 declares n3 dead");
    ASSERT_GE(suspended, 0) << c.log(3);
    ASSERT_GE(dead, 0) << c.log(1);
    EXPECT_LT(suspended, dead) << c.log(3) << c.log(1);
    std::printf("%s\nn3 suspended n1 %lld ms before n1 declared n3 dead\n",
                h.out.c_str(),
                static_cast<long long>(dead - suspended));
}

// The transport's hooks: 200 us added to every message, and 1 in 1,000 messages lost and sent
// again after 20 ms (everything behind it on its link waits, as under TCP).
TEST(Faults, SlowAndLossyLinksStayLinearizableWithoutErrors) {
    TestCluster c(
        3,
        ClusterOptions{
            .extra = {"--delay-us", "200", "--loss-ppm", "1000", "--loss-rto-us", "20000"},
            .netns = true,
            .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    ASSERT_TRUE(make_file(c, "n1/lossy", 8));
    History h = run_history(c, "lossy", 20, 31, false);
    EXPECT_EQ(h.exit_code, 0) << h.out;
    EXPECT_NE(h.out.find("LINEARIZABLE"), std::string::npos) << h.out;
    EXPECT_EQ(h.out.find("I/O errors"), std::string::npos) << h.out;
    long ops = ops_of(h.out);
    EXPECT_GT(ops, 1000) << h.out;
    // The hook did lose messages: each node counts the stalls it caused.
    for (int k = 1; k <= 3; ++k) {
        std::string stats = c.cli(k, {"stats"}).out;
        std::smatch m;
        ASSERT_TRUE(std::regex_search(stats, m, std::regex(R"(test_losses (\d+))"))) << stats;
        EXPECT_GT(std::stol(m[1].str()), 0) << "n" << k << " lost no message:\n" << stats;
    }
    std::printf("%s\nslow and lossy: %ld ops in 20 s\n", h.out.c_str(), ops);
}

// Connections that break (the transport's reset hook: 1 message in 50 breaks its connection
// instead of going) while a node looks up, reads and lists another home's files. A reset is not
// an outage: the link is back within milliseconds, requests that only read are sent again over
// it, and programs see no error. (Each reset used to fail the metadata requests in flight with
// EIO, and any sent while the link was down.)
TEST(Faults, ConnectionResetsAreNotErrors) {
    TestCluster c(2, ClusterOptions{.extra = {"--reset-ppm", "20000"}, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    // On n1's disk, so that every name and page is new to both nodes' caches.
    constexpr int kFiles = 300;
    auto content = [](int i) { return "file " + std::to_string(i) + std::string(100 + i, '.'); };
    ::mkdir((c.export_dir(1) + "/resets").c_str(), 0755);
    for (int i = 0; i < kFiles; ++i) {
        std::ofstream(c.export_dir(1) + "/resets/f" + std::to_string(i)) << content(i);
    }
    int errors = 0;
    std::string first_error;
    auto fail = [&](const std::string& what) {
        if (errors++ == 0) {
            first_error = what + ": " + std::strerror(errno);
        }
    };
    const int64_t end = now_ms() + 30'000;
    int done = 0;
    for (int i = 0; i < kFiles && now_ms() < end; ++i, ++done) {
        std::string path = at(c, 2, "n1/resets/f" + std::to_string(i));
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            fail("stat " + path);
            continue;
        }
        ReadResult r = read_at(path, 4096, 0);
        if (r.err != 0) {
            errno = r.err;
            fail("read " + path);
        } else {
            EXPECT_EQ(r.data, content(i)) << path;
        }
        if (i % 25 == 0) {
            std::error_code ec;
            size_t n = 0;
            for (auto it = std::filesystem::directory_iterator(at(c, 2, "n1/resets"), ec);
                 !ec && it != std::filesystem::directory_iterator();
                 it.increment(ec)) {
                ++n;
            }
            if (ec) {
                errno = ec.value();
                fail("readdir");
            } else {
                EXPECT_EQ(n, static_cast<size_t>(kFiles));
            }
        }
    }
    EXPECT_EQ(done, kFiles) << "did not finish in 30 s";
    EXPECT_EQ(errors, 0) << "first: " << first_error << "\n--- n2's log:\n" << c.log(2);
    // The hook did break connections, and the links came back each time.
    std::string log2 = c.log(2);
    int resets = count_of(log2, "link to n1 lost");
    EXPECT_GE(resets, 5) << log2;
    std::printf(
        "connection resets: %d files looked up and read by n2 across %d resets, "
        "%d errors\n",
        done,
        resets,
        errors);
}

// The history while 1 message in 500 breaks its connection (each node rejoins the home, about
// 30 times a second in all). Writes are durable (pwrite + fdatasync): a reset may lose a write
// that no fsync covered, but then an fsync on that node fails. Before, a node that had given its
// written page back to a Recall lost the write with that message, and its next fsync succeeded:
// the history saw an fsync'd write vanish.
TEST(Faults, ConnectionResetsLoseNothingFsyncedAndStayLinearizable) {
    TestCluster c(3, ClusterOptions{.extra = {"--reset-ppm", "2000"}, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    ASSERT_TRUE(make_file(c, "n1/resets", 8));
    History h = run_history(c, "resets", 12, 41, true, {"--sync-writes", "--cut-off-ok"});
    EXPECT_EQ(h.exit_code, 0) << h.out;
    EXPECT_NE(h.out.find("LINEARIZABLE"), std::string::npos) << h.out;
    long ops = ops_of(h.out);
    EXPECT_GT(ops, 1000) << h.out;
    int resets = 0;
    for (int k = 1; k <= 3; ++k) {
        resets += count_of(c.log(k), "link to n1 lost");
    }
    EXPECT_GE(resets, 20) << "the hook broke too few connections to show anything";
    std::printf("%s\nconnection resets: %ld ops, %d resets seen by n2 and n3\n",
                h.out.c_str(),
                ops,
                resets);
}

// A file three times the cache, read through a node's mount: every page goes through the
// kernel's cache, so each eviction waits for a kernel invalidation. The daemon once froze here
// (each step rescanned every page in flight) until its links timed out and the read got EIO.
TEST(Faults, AFileThreeTimesTheCacheReadsThroughTheMount) {
    TestCluster c(2,
                  ClusterOptions{.extra = {"--cache-size", "16MiB"}, .netns = true, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    std::string data(size_t{48} << 20, '\0');
    std::mt19937_64 rng(48);
    for (size_t i = 0; i < data.size(); i += 8) {
        uint64_t v = rng();
        std::memcpy(data.data() + i, &v, 8);
    }
    {
        std::ofstream f(c.export_dir(1) + "/big", std::ios::binary);
        f << data;
        ASSERT_TRUE(f.good());
    }
    for (int round = 0; round < 2; ++round) {
        std::ifstream f(at(c, 2, "n1/big"), std::ios::binary);
        std::string got((std::istreambuf_iterator<char>(f)), {});
        ASSERT_EQ(got.size(), data.size()) << "round " << round;
        EXPECT_TRUE(got == data) << "round " << round;
    }
    for (int k = 1; k <= 2; ++k) {
        EXPECT_EQ(c.log(k).find("lost"), std::string::npos) << c.log(k);
    }
}

}  // namespace
}  // namespace vr::itest
