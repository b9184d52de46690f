// Soak: a mixed workload on a 3-node netns cluster for VR_SOAK_SECONDS (default 120; the
// longer run is scripts/soak.sh). At the same time:
// * vr_history: 4 workers per node read and write one shared file (checked for linearizability);
// * per node, a churn loop, all three in one directory: create, write, fsync, close; read back
//   on the next node; rename; unlink there; and every 16 rounds a listing on every node;
// * per node, a streamer that reads a 16 MiB file of n2's from start to end, again and again.
// Each daemon's RSS and open fds are sampled; after the warm-up they must stay flat, the logs
// must hold no error or warning, and every operation must succeed.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_cluster.h"

namespace vr::itest {
namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Usage {
    long rss_kib = -1;
    long fds = -1;
};

Usage usage_of(pid_t pid) {
    Usage u;
    std::ifstream st("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(st, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            u.rss_kib = std::stol(line.substr(6));
        }
    }
    if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        u.fds = 0;
        while (dirent* e = ::readdir(d)) {
            u.fds += e->d_name[0] != '.';
        }
        ::closedir(d);
    }
    return u;
}

// The whole file; an error of open or read is returned in `error` (the content is then
// whatever was read).
std::string read_file(const std::string& path, std::string* error = nullptr) {
    std::string out;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (error != nullptr) {
            *error = std::string("open: ") + std::strerror(errno);
        }
        return out;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && error != nullptr) {
            *error = "read at " + std::to_string(out.size()) + ": " + std::strerror(errno);
        }
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

TEST(Soak, MixedWorkloadKeepsMemoryFdsAndLogsFlatAndTheHistoryLinearizable) {
    int seconds = 120;
    if (const char* s = std::getenv("VR_SOAK_SECONDS")) {
        seconds = std::max(20, std::atoi(s));
    }
    uint64_t seed = std::random_device{}();
    if (const char* s = std::getenv("VR_SOAK_SEED")) {
        seed = std::strtoull(s, nullptr, 10);
    }
    std::printf("soak: %d s, seed %llu (replay: VR_SOAK_SEED=%llu VR_SOAK_SECONDS=%d)\n",
                seconds,
                static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed),
                seconds);
    TestCluster c(3,
                  ClusterOptions{.extra = {"--cache-size", "32MiB"}, .netns = true, .mount = true});
    ASSERT_TRUE(c.up()) << c.up_output();
    auto at = [&](int k, const std::string& rel) {
        return c.dir() + "/n" + std::to_string(k) + "/mnt/" + rel;
    };
    {
        std::ofstream h(at(1, "n1/soak-history"));
        h << std::string(8 * 4096, '\0');
        std::ofstream big(at(2, "n2/stream"));
        std::mt19937_64 rng(seed);
        std::string chunk(1 << 20, '\0');
        for (int i = 0; i < 16; ++i) {
            for (auto& ch : chunk) {
                ch = static_cast<char>(rng());
            }
            big << chunk;
        }
        ASSERT_TRUE(h.good() && big.good());
    }
    // Every churn loop works in one directory, so that the nodes' entry operations there
    // overlap (each home operation invalidates entries in kernels that hold the directory's
    // lock for their own operation; fuse.md "Metadata").
    const std::string churn_dir = "n1/churn";
    ASSERT_EQ(::mkdir(at(1, churn_dir).c_str(), 0755), 0) << std::strerror(errno);
    const std::string stream_content = read_file(at(1, "n2/stream"));
    ASSERT_EQ(stream_content.size(), size_t{16} << 20);
    const int64_t deadline = now_ms() + int64_t{seconds} * 1000;

    // The history, in its own process, for the whole run.
    std::string history_out;
    int history_exit = -1;
    std::thread history([&] {
        std::string paths = at(1, "n1/soak-history") + "," + at(2, "n1/soak-history") + "," +
                            at(3, "n1/soak-history");
        auto r = run_command({VR_HISTORY_BIN,
                              "--files",
                              paths,
                              "--workers-per-path",
                              "4",
                              "--seconds",
                              std::to_string(seconds),
                              "--seed",
                              std::to_string(seed),
                              "--out",
                              c.dir() + "/soak.history"},
                             {},
                             seconds + 120);
        history_out = r.out + r.err;
        history_exit = r.exit_code;
    });

    std::atomic<long> rounds{0};
    std::atomic<long> streamed{0};
    std::mutex mu;
    std::vector<std::string> failures;
    auto fail = [&](const std::string& what) {
        std::lock_guard<std::mutex> lock(mu);
        if (failures.size() < 20) {
            failures.push_back(what);
        }
    };
    std::vector<std::thread> workers;
    for (int k = 1; k <= 3; ++k) {
        workers.emplace_back([&, k] {
            std::mt19937_64 rng(seed + static_cast<uint64_t>(k));
            int next = k % 3 + 1;
            for (long i = 0; now_ms() < deadline; ++i) {
                std::string name =
                    churn_dir + "/f" + std::to_string(k) + "-" + std::to_string(i % 40);
                std::string data(4096 * (1 + rng() % 3) + rng() % 4096, '\0');
                for (auto& ch : data) {
                    ch = static_cast<char>('a' + rng() % 26);
                }
                int fd = ::open(at(k, name).c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
                if (fd < 0 ||
                    ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
                    ::fsync(fd) != 0 || ::close(fd) != 0) {
                    fail("n" + std::to_string(k) + " write " + name + ": " + std::strerror(errno));
                    continue;
                }
                std::string error;
                if (std::string got = read_file(at(next, name), &error); !error.empty()) {
                    fail("n" + std::to_string(next) + " read " + name + ": " + error);
                } else if (got != data) {
                    size_t same = 0;
                    while (same < got.size() && same < data.size() && got[same] == data[same]) {
                        ++same;
                    }
                    fail("n" + std::to_string(next) + " read " + name + ": " +
                         std::to_string(got.size()) + " bytes, the first " + std::to_string(same) +
                         " as n" + std::to_string(k) + " wrote " + std::to_string(data.size()));
                }
                if (::rename(at(k, name).c_str(), at(k, name + ".r").c_str()) != 0) {
                    fail("n" + std::to_string(k) + " rename " + name + ": " + std::strerror(errno));
                } else if (::unlink(at(next, name + ".r").c_str()) != 0) {
                    fail("n" + std::to_string(next) + " unlink " + name +
                         ".r: " + std::strerror(errno));
                }
                if (i % 16 == 0) {
                    for (int j = 1; j <= 3; ++j) {
                        DIR* d = ::opendir(at(j, churn_dir).c_str());
                        if (d == nullptr) {
                            fail("opendir on n" + std::to_string(j) + ": " + std::strerror(errno));
                            continue;
                        }
                        while (::readdir(d) != nullptr) {
                        }
                        ::closedir(d);
                    }
                }
                ++rounds;
            }
        });
        workers.emplace_back([&, k] {
            while (now_ms() < deadline) {
                std::string error;
                std::string got = read_file(at(k, "n2/stream"), &error);
                if (!error.empty() || got != stream_content) {
                    fail("n" + std::to_string(k) + " streamed a different n2/stream (" +
                         std::to_string(got.size()) + " bytes) " + error);
                }
                streamed += static_cast<long>(got.size());
            }
        });
    }
    // Samples every 5 s; the warm-up's end (a quarter of the run, at most 30 s) is the baseline.
    const int64_t warm = std::min<int64_t>(30'000, int64_t{seconds} * 250);
    const int64_t start = now_ms();
    std::vector<Usage> base(4), last(4), peak(4);
    bool have_base = false;
    while (now_ms() < deadline) {
        std::this_thread::sleep_for(std::chrono::seconds(5));  // the sampling period
        for (int k = 1; k <= 3; ++k) {
            Usage u = usage_of(c.pid(k));
            last[k] = u;
            peak[k].rss_kib = std::max(peak[k].rss_kib, u.rss_kib);
            peak[k].fds = std::max(peak[k].fds, u.fds);
            if (!have_base && now_ms() - start >= warm) {
                base[k] = u;
            }
        }
        have_base = have_base || now_ms() - start >= warm;
    }
    for (auto& w : workers) {
        w.join();
    }
    history.join();
    for (const auto& f : failures) {
        ADD_FAILURE() << f;
    }
    EXPECT_EQ(history_exit, 0) << history_out;
    EXPECT_NE(history_out.find("LINEARIZABLE"), std::string::npos) << history_out;
    EXPECT_GT(rounds.load(), 30);
    EXPECT_GT(streamed.load(), 3L << 24);
    for (int k = 1; k <= 3; ++k) {
        ASSERT_TRUE(have_base);
        std::printf(
            "n%d: RSS %ld KiB after warm-up, %ld KiB at the end (peak %ld); fds %ld -> %ld "
            "(peak %ld)\n",
            k,
            base[k].rss_kib,
            last[k].rss_kib,
            peak[k].rss_kib,
            base[k].fds,
            last[k].fds,
            peak[k].fds);
        // Flat: the page cache is bounded (32 MiB here); allow allocator noise, never a trend.
        EXPECT_LE(last[k].rss_kib, base[k].rss_kib + 16 * 1024) << "n" << k << " RSS grew";
        EXPECT_LE(last[k].fds, base[k].fds + 8) << "n" << k << " fds grew";
        std::string log = c.log(k);
        EXPECT_EQ(log.find(" ERROR "), std::string::npos) << log;
        EXPECT_EQ(log.find(" WARN "), std::string::npos) << log;
    }
    std::printf("%ld churn rounds, %ld MiB streamed\n%s",
                rounds.load(),
                streamed.load() >> 20,
                history_out.c_str());
}

}  // namespace
}  // namespace vr::itest
