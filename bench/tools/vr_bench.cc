// vr_bench: the measuring tool behind bench/run. Each subcommand measures one thing and prints
// one JSON object on stdout. Every loop is bounded by a count and by a time limit.
//
//   memcpy      --bytes N --chunk N                    GiB/s of memcpy between two warm buffers
//   tcp-server  --port P [--time S]                    serves tcp-stream and tcp-pingpong
//   tcp-stream  --host H --port P --bytes N [--chunk N]  one TCP stream, bytes/s
//   tcp-pingpong --host H --port P --count N [--req N --resp N]  RTT p50/p99 (TCP_NODELAY)
//   seqread     --file F [--bs N]                      read the whole file once, bytes/s
//   randread    --file F --bs N --count N [--unique] [--time S]  pread latencies
//   fuse-rt     --file F --count N                     pread of 1 byte through a O_RDWR fd
//                                                      (direct_io on vremote): 1 FUSE round trip
//   write-shared --writer F --readers F1,F2,.. --count N  pwrite latency with k readers holding
//                                                      the page (each reads it before each write)
//   pingpong-own --a F --b F --count N [--time S]      two nodes alternately write and read one
//   page stale       --writer F --reader F --rounds N --mode fresh|held  writer process signals a
//   reader
//                                                      process through a pipe after each write
//   hold-qos                                          holds /dev/cpu_dma_latency at 0 until killed
//   fill        --file F --bytes N                     writes N bytes of non-zero data
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double now_s() {
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "vr_bench: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "vr_bench: %s\n", what.c_str());
    std::exit(1);
}

uint64_t parse_size(const std::string& s) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    std::string unit = end;
    double mul = 1;
    if (unit == "K" || unit == "KiB") {
        mul = 1024;
    } else if (unit == "M" || unit == "MiB") {
        mul = 1024.0 * 1024;
    } else if (unit == "G" || unit == "GiB") {
        mul = 1024.0 * 1024 * 1024;
    } else if (!unit.empty()) {
        fail("bad size " + s);
    }
    return static_cast<uint64_t>(v * mul);
}

struct Args {
    std::map<std::string, std::string> kv;
    bool has(const std::string& k) const { return kv.count(k) != 0; }
    std::string str(const std::string& k, const std::string& def = {}) const {
        auto it = kv.find(k);
        if (it == kv.end()) {
            if (def.empty()) {
                fail("missing --" + k);
            }
            return def;
        }
        return it->second;
    }
    uint64_t size(const std::string& k, const std::string& def = {}) const {
        return parse_size(str(k, def));
    }
    double num(const std::string& k, const std::string& def = {}) const {
        return std::strtod(str(k, def).c_str(), nullptr);
    }
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0) {
            fail("unexpected " + k);
        }
        k = k.substr(2);
        if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
            a.kv[k] = argv[++i];
        } else {
            a.kv[k] = "1";
        }
    }
    return a;
}

struct Lat {
    std::vector<double> us;
    void add(double s) { us.push_back(s * 1e6); }
    double pct(double p) {
        if (us.empty()) {
            return 0;
        }
        std::sort(us.begin(), us.end());
        size_t i = static_cast<size_t>(p * static_cast<double>(us.size() - 1) + 0.5);
        return us[std::min(i, us.size() - 1)];
    }
    double mean() const {
        double s = 0;
        for (double v : us) {
            s += v;
        }
        return us.empty() ? 0 : s / static_cast<double>(us.size());
    }
    std::string json() {
        char b[200];
        std::snprintf(b,
                      sizeof b,
                      "\"n\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f",
                      us.size(),
                      pct(0.5),
                      pct(0.99),
                      mean());
        return b;
    }
};

void pread_full(int fd, void* buf, size_t n, off_t off) {
    auto* p = static_cast<char*>(buf);
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::pread(fd, p + done, n - done, off + static_cast<off_t>(done));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("pread");
        }
        if (r == 0) {
            break;
        }
        done += static_cast<size_t>(r);
    }
}

void write_full(int fd, const void* buf, size_t n) {
    const auto* p = static_cast<const char*>(buf);
    while (n > 0) {
        ssize_t r = ::write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("write");
        }
        p += r;
        n -= static_cast<size_t>(r);
    }
}

bool read_full(int fd, void* buf, size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        if (r == 0) {
            return false;
        }
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

int open_or_die(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) {
        die("open " + path);
    }
    return fd;
}

// ---- memory ----------------------------------------------------------------------------------
int cmd_memcpy(const Args& a) {
    uint64_t bytes = a.size("bytes", "1G");
    uint64_t chunk = a.size("chunk", "1M");
    uint64_t buf = a.size("buffer", "256M");
    std::vector<char> src(buf, 1), dst(buf, 2);  // touched: no first-touch faults while timed
    double t0 = now_s();
    uint64_t done = 0, off = 0;
    while (done < bytes) {
        if (off + chunk > buf) {
            off = 0;
        }
        std::memcpy(dst.data() + off, src.data() + off, chunk);
        off += chunk;
        done += chunk;
    }
    double t = now_s() - t0;
    std::printf("{\"bytes\":%" PRIu64 ",\"secs\":%.6f,\"bytes_per_s\":%.1f,\"check\":%d}\n",
                done,
                t,
                static_cast<double>(done) / t,
                dst[buf / 2]);
    return 0;
}

// ---- TCP -------------------------------------------------------------------------------------
int connect_to(const std::string& host, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
        fail("bad address " + host);
    }
    for (int i = 0; i < 100; ++i) {
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        ::usleep(50'000);
    }
    die("connect " + host);
}

// One connection: a header {mode, a, b}; 'S': sink bytes until EOF, then reply the count;
// 'P': echo loop, read a bytes, answer b bytes, until EOF.
void serve_one(int c) {
    struct {
        uint32_t mode, a, b;
    } h{};
    if (!read_full(c, &h, sizeof h)) {
        return;
    }
    if (h.mode == 'S') {
        std::vector<char> buf(1 << 20);
        uint64_t total = 0;
        for (;;) {
            ssize_t r = ::read(c, buf.data(), buf.size());
            if (r <= 0) {
                break;
            }
            total += static_cast<uint64_t>(r);
        }
        write_full(c, &total, sizeof total);
    } else if (h.mode == 'P') {
        std::vector<char> in(h.a), out(h.b, 'x');
        while (read_full(c, in.data(), in.size())) {
            write_full(c, out.data(), out.size());
        }
    }
}

int cmd_tcp_server(const Args& a) {
    int port = static_cast<int>(a.num("port"));
    double limit = a.num("time", "3600");
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(s, 16) != 0) {
        die("bind/listen");
    }
    ::alarm(static_cast<unsigned>(limit));  // bounded: the server never outlives the run
    ::signal(SIGCHLD, SIG_IGN);
    for (;;) {
        int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            continue;
        }
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::fork() == 0) {
            serve_one(c);
            ::_exit(0);
        }
        ::close(c);
    }
}

int cmd_tcp_stream(const Args& a) {
    int fd = connect_to(a.str("host"), static_cast<int>(a.num("port")));
    uint64_t bytes = a.size("bytes", "1G");
    uint64_t chunk = a.size("chunk", "1M");
    uint32_t h[3] = {'S', 0, 0};
    write_full(fd, h, sizeof h);
    std::vector<char> buf(chunk, 'y');
    double t0 = now_s();
    for (uint64_t done = 0; done < bytes; done += chunk) {
        write_full(fd, buf.data(), chunk);
    }
    ::shutdown(fd, SHUT_WR);
    uint64_t got = 0;
    if (!read_full(fd, &got, sizeof got) || got != bytes) {
        fail("stream: the server counted a different number of bytes");
    }
    double t = now_s() - t0;
    std::printf("{\"bytes\":%" PRIu64 ",\"secs\":%.6f,\"bytes_per_s\":%.1f}\n",
                bytes,
                t,
                static_cast<double>(bytes) / t);
    return 0;
}

int cmd_tcp_pingpong(const Args& a) {
    int fd = connect_to(a.str("host"), static_cast<int>(a.num("port")));
    auto req = static_cast<uint32_t>(a.size("req", "64"));
    auto resp = static_cast<uint32_t>(a.size("resp", "4096"));
    uint64_t count = a.size("count", "2000");
    double limit = a.num("time", "10");
    uint32_t h[3] = {'P', req, resp};
    write_full(fd, h, sizeof h);
    std::vector<char> in(resp), out(req, 'q');
    Lat lat;
    double start = now_s();
    for (uint64_t i = 0; i < count + 50 && now_s() - start < limit; ++i) {
        double t0 = now_s();
        write_full(fd, out.data(), out.size());
        if (!read_full(fd, in.data(), in.size())) {
            fail("pingpong: connection closed");
        }
        if (i >= 50) {  // the first round trips warm the path up
            lat.add(now_s() - t0);
        }
    }
    std::printf("{%s}\n", lat.json().c_str());
    return 0;
}

// ---- file reads ------------------------------------------------------------------------------
int cmd_seqread(const Args& a) {
    std::string f = a.str("file");
    uint64_t bs = a.size("bs", "1M");
    double limit = a.num("time", "120");
    int fd = open_or_die(f, O_RDONLY);
    std::vector<char> buf(bs);
    uint64_t total = 0;
    double t0 = now_s();
    for (;;) {
        ssize_t r = ::read(fd, buf.data(), bs);
        if (r < 0) {
            die("read " + f);
        }
        if (r == 0) {
            break;
        }
        total += static_cast<uint64_t>(r);
        if (now_s() - t0 > limit) {
            fail("seqread: time limit");
        }
    }
    double t = now_s() - t0;
    ::close(fd);
    std::printf("{\"bytes\":%" PRIu64 ",\"secs\":%.6f,\"bytes_per_s\":%.1f}\n",
                total,
                t,
                static_cast<double>(total) / t);
    return 0;
}

int cmd_randread(const Args& a) {
    std::string f = a.str("file");
    uint64_t bs = a.size("bs", "4K");
    uint64_t count = a.size("count", "100000");
    double limit = a.num("time", "2");
    bool unique = a.has("unique");
    bool per_op = a.has("latency") || unique;
    int fd = open_or_die(f, O_RDONLY);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);  // no readahead: one miss, one request
    struct stat st {};
    ::fstat(fd, &st);
    uint64_t blocks = static_cast<uint64_t>(st.st_size) / bs;
    if (blocks == 0) {
        fail("randread: file too small");
    }
    std::mt19937_64 rng(static_cast<uint64_t>(a.num("seed", "1")));
    std::vector<uint64_t> order;
    if (unique) {
        order.resize(blocks);
        for (uint64_t i = 0; i < blocks; ++i) {
            order[i] = i;
        }
        std::shuffle(order.begin(), order.end(), rng);
        count = std::min(count, blocks);
    }
    std::vector<char> buf(bs);
    Lat lat;
    uint64_t n = 0;
    double t0 = now_s();
    for (; n < count; ++n) {
        uint64_t b = unique ? order[n] : rng() % blocks;
        double s = per_op ? now_s() : 0;
        pread_full(fd, buf.data(), bs, static_cast<off_t>(b * bs));
        if (per_op) {
            lat.add(now_s() - s);
        }
        if ((n & 255) == 0 && now_s() - t0 > limit) {
            break;
        }
    }
    double t = now_s() - t0;
    ::close(fd);
    std::printf("{\"ops\":%" PRIu64 ",\"secs\":%.6f,\"ops_per_s\":%.1f,\"bytes_per_s\":%.1f%s%s}\n",
                n,
                t,
                static_cast<double>(n) / t,
                static_cast<double>(n * bs) / t,
                per_op ? "," : "",
                per_op ? lat.json().c_str() : "");
    return 0;
}

int cmd_fuse_rt(const Args& a) {
    std::string f = a.str("file");
    uint64_t count = a.size("count", "5000");
    double limit = a.num("time", "5");
    int fd = open_or_die(f, a.has("rdonly") ? O_RDONLY : O_RDWR);
    char c = 0;
    Lat lat;
    double start = now_s();
    for (uint64_t i = 0; i < count + 50 && now_s() - start < limit; ++i) {
        double t0 = now_s();
        if (::pread(fd, &c, 1, 0) != 1) {
            die("pread " + f);
        }
        if (i >= 50) {
            lat.add(now_s() - t0);
        }
    }
    ::close(fd);
    std::printf("{%s}\n", lat.json().c_str());
    return 0;
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p <= s.size()) {
        size_t q = s.find(',', p);
        if (q == std::string::npos) {
            q = s.size();
        }
        if (q > p) {
            out.push_back(s.substr(p, q - p));
        }
        p = q + 1;
    }
    return out;
}

// ---- coherent writes -------------------------------------------------------------------------
int cmd_write_shared(const Args& a) {
    int w = open_or_die(a.str("writer"), O_RDWR);
    std::vector<int> readers;
    for (const auto& r : split(a.str("readers", ","))) {
        readers.push_back(open_or_die(r, O_RDONLY));
    }
    uint64_t count = a.size("count", "1000");
    double limit = a.num("time", "10");
    Lat lat;
    uint64_t v = 0;
    char page[4096] = {};
    if (::pwrite(w, page, sizeof page, 0) != static_cast<ssize_t>(sizeof page)) {  // v = 0
        die("pwrite");
    }
    double start = now_s();
    for (uint64_t i = 0; i < count + 20 && now_s() - start < limit; ++i) {
        for (int r : readers) {  // every reader holds the page (S) before the write
            pread_full(r, page, sizeof page, 0);
            uint64_t got = 0;
            std::memcpy(&got, page, sizeof got);
            if (got != v) {
                fail("write-shared: a reader saw a stale value");
            }
        }
        ++v;
        std::memcpy(page, &v, sizeof v);
        double t0 = now_s();
        if (::pwrite(w, page, sizeof page, 0) != static_cast<ssize_t>(sizeof page)) {
            die("pwrite");
        }
        if (i >= 20) {
            lat.add(now_s() - t0);
        }
    }
    std::printf("{\"k\":%zu,%s}\n", readers.size(), lat.json().c_str());
    return 0;
}

int cmd_pingpong_own(const Args& a) {
    int fa = open_or_die(a.str("a"), O_RDWR);
    int fb = open_or_die(a.str("b"), O_RDWR);
    uint64_t count = a.size("count", "2000");
    double limit = a.num("time", "5");
    uint64_t v = 0, stale = 0;
    int fds[2] = {fa, fb};
    // Seed the value.
    if (::pwrite(fa, &v, sizeof v, 0) != sizeof v) {
        die("pwrite");
    }
    double t0 = now_s();
    uint64_t i = 0;
    for (; i < count && now_s() - t0 < limit; ++i) {
        int fd = fds[i & 1];
        uint64_t got = ~0ULL;
        pread_full(fd, &got, sizeof got, 0);
        if (got != v) {
            ++stale;
        }
        ++v;
        if (::pwrite(fd, &v, sizeof v, 0) != sizeof v) {
            die("pwrite");
        }
    }
    double t = now_s() - t0;
    std::printf("{\"transfers\":%" PRIu64
                ",\"secs\":%.6f,\"transfers_per_s\":%.1f,\"stale\":%" PRIu64 "}\n",
                i,
                t,
                static_cast<double>(i) / t,
                stale);
    return stale == 0 ? 0 : 3;
}

// ---- staleness -------------------------------------------------------------------------------
// The writer (this process) writes value i, then sends i down a pipe; the reader (a child
// process) reads the file at once and sends back what it saw. A read that returns less than i
// is stale.
int cmd_stale(const Args& a) {
    std::string wpath = a.str("writer"), rpath = a.str("reader");
    uint64_t rounds = a.size("rounds", "1000");
    double limit = a.num("time", "30");
    bool held = a.str("mode", "fresh") == "held";
    bool fsync_each = a.has("fsync");
    int to_reader[2], to_writer[2];
    if (::pipe(to_reader) != 0 || ::pipe(to_writer) != 0) {
        die("pipe");
    }
    int w = open_or_die(wpath, O_RDWR);
    uint64_t zero = 0;
    if (::pwrite(w, &zero, sizeof zero, 0) != sizeof zero) {
        die("pwrite");
    }
    if (fsync_each) {
        ::fsync(w);
    }
    pid_t child = ::fork();
    if (child == 0) {
        ::close(to_reader[1]);
        ::close(to_writer[0]);
        int rfd = held ? open_or_die(rpath, O_RDONLY) : -1;
        uint64_t want = 0;
        while (read_full(to_reader[0], &want, sizeof want)) {
            int fd = held ? rfd : open_or_die(rpath, O_RDONLY);
            uint64_t got = ~0ULL;
            pread_full(fd, &got, sizeof got, 0);
            if (!held) {
                ::close(fd);
            }
            write_full(to_writer[1], &got, sizeof got);
        }
        ::_exit(0);
    }
    ::close(to_reader[0]);
    ::close(to_writer[1]);
    uint64_t stale = 0, done = 0, max_lag = 0;
    double t0 = now_s();
    for (uint64_t i = 1; i <= rounds && now_s() - t0 < limit; ++i) {
        if (::pwrite(w, &i, sizeof i, 0) != sizeof i) {
            die("pwrite");
        }
        if (fsync_each) {
            ::fsync(w);
        }
        write_full(to_reader[1], &i, sizeof i);
        uint64_t got = 0;
        if (!read_full(to_writer[0], &got, sizeof got)) {
            fail("stale: reader died");
        }
        if (got != i) {
            ++stale;
            max_lag = std::max(max_lag, got < i ? i - got : 0);
        }
        ++done;
    }
    ::close(to_reader[1]);
    int st = 0;
    ::waitpid(child, &st, 0);
    std::printf("{\"rounds\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"max_lag\":%" PRIu64
                ",\"secs\":%.3f}\n",
                done,
                stale,
                max_lag,
                now_s() - t0);
    return 0;
}

// ---- recovery -------------------------------------------------------------------------------
// Writes `pages` pages (value `value`) at the start of a file through a writable fd: on vremote
// the writing node then holds them in M.
int cmd_pwrite_pages(const Args& a) {
    int fd = open_or_die(a.str("file"), O_RDWR);
    uint64_t pages = a.size("pages", "16");
    uint64_t value = a.size("value", "1");
    std::vector<uint64_t> page(512, value);
    for (uint64_t p = 0; p < pages; ++p) {
        if (::pwrite(fd, page.data(), 4096, static_cast<off_t>(p * 4096)) != 4096) {
            die("pwrite");
        }
    }
    ::close(fd);
    return 0;
}

// SIGKILLs `pid`, then reads every page of the first `pages` through a writable (direct) fd on
// another node until all reads succeed: the time from the kill until then.
int cmd_recover(const Args& a) {
    auto pid = static_cast<pid_t>(a.num("pid"));
    std::string f = a.str("file");
    uint64_t pages = a.size("pages", "16");
    double limit = a.num("time", "30");
    uint64_t value = a.size("value", "1");
    // The victim writes the pages through a writable fd that stays open: on vremote its node
    // holds them in M (closing the fd would write them back to the home first).
    int vfd = open_or_die(a.str("victim-file"), O_RDWR);
    {
        std::vector<uint64_t> pg(512, value);
        for (uint64_t p = 0; p < pages; ++p) {
            if (::pwrite(vfd, pg.data(), 4096, static_cast<off_t>(p * 4096)) != 4096) {
                die("pwrite");
            }
        }
    }
    // Handshake with the caller, which looks at the victim's page states from another process
    // (forking here would not do: the child's close-on-exec of the written fd is a FUSE FLUSH,
    // which writes the pages back).
    if (a.has("ready-file")) {
        int r = open_or_die(a.str("ready-file"), O_WRONLY | O_CREAT | O_TRUNC);
        ::close(r);
        std::string go = a.str("go-file");
        double w0 = now_s();
        while (::access(go.c_str(), F_OK) != 0) {
            if (now_s() - w0 > 20) {
                fail("recover: no go");
            }
            ::usleep(2000);
        }
    }
    int fd = open_or_die(f, O_RDWR);
    double t0 = now_s();
    if (::kill(pid, SIGKILL) != 0) {
        die("kill");
    }
    uint64_t attempts = 0, errors = 0, first_value = 0;
    std::vector<uint64_t> page(512);
    uint64_t ok = 0;
    while (ok < pages && now_s() - t0 < limit) {
        ++attempts;
        ssize_t r = ::pread(fd, page.data(), 4096, static_cast<off_t>(ok * 4096));
        if (r == 4096) {
            if (ok == 0) {
                first_value = page[0];
            }
            ++ok;
        } else {
            ++errors;
            ::usleep(1000);
        }
    }
    double t = now_s() - t0;
    ::close(vfd);  // the victim's node is gone: EIO or nothing
    std::printf("{\"recovered\":%d,\"ms\":%.1f,\"attempts\":%" PRIu64 ",\"errors\":%" PRIu64
                ",\"value\":%" PRIu64 "}\n",
                ok == pages ? 1 : 0,
                t * 1e3,
                attempts,
                errors,
                first_value);
    return ok == pages ? 0 : 1;
}

// ---- misc ------------------------------------------------------------------------------------
int cmd_hold_qos(const Args&) {
    int fd = ::open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        die("open /dev/cpu_dma_latency");
    }
    int32_t zero = 0;
    if (::write(fd, &zero, sizeof zero) != sizeof zero) {
        die("write /dev/cpu_dma_latency");
    }
    std::printf("{\"holding\":1}\n");
    std::fflush(stdout);
    for (;;) {
        ::pause();  // until killed; closing the fd (at exit) restores the default
    }
}

int cmd_fill(const Args& a) {
    std::string f = a.str("file");
    uint64_t bytes = a.size("bytes");
    int fd = open_or_die(f, O_WRONLY | O_CREAT | O_TRUNC);
    std::vector<uint64_t> buf((1 << 20) / 8);
    std::mt19937_64 rng(static_cast<uint64_t>(a.num("seed", "7")));
    for (auto& x : buf) {
        x = rng();
    }
    for (uint64_t done = 0; done < bytes;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - done, 1 << 20));
        buf[0] = done;  // every MiB differs
        write_full(fd, buf.data(), n);
        done += n;
    }
    if (::close(fd) != 0) {
        die("close");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: vr_bench COMMAND [--key value]... (see the source)\n");
        return 2;
    }
    std::string cmd = argv[1];
    Args a = parse(argc, argv);
    if (cmd == "memcpy")
        return cmd_memcpy(a);
    if (cmd == "tcp-server")
        return cmd_tcp_server(a);
    if (cmd == "tcp-stream")
        return cmd_tcp_stream(a);
    if (cmd == "tcp-pingpong")
        return cmd_tcp_pingpong(a);
    if (cmd == "seqread")
        return cmd_seqread(a);
    if (cmd == "randread")
        return cmd_randread(a);
    if (cmd == "fuse-rt")
        return cmd_fuse_rt(a);
    if (cmd == "write-shared")
        return cmd_write_shared(a);
    if (cmd == "pingpong-own")
        return cmd_pingpong_own(a);
    if (cmd == "stale")
        return cmd_stale(a);
    if (cmd == "pwrite-pages")
        return cmd_pwrite_pages(a);
    if (cmd == "recover")
        return cmd_recover(a);
    if (cmd == "hold-qos")
        return cmd_hold_qos(a);
    if (cmd == "fill")
        return cmd_fill(a);
    std::fprintf(stderr, "vr_bench: unknown command %s\n", cmd.c_str());
    return 2;
}
