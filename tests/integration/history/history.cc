#include "history.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace vr::history {
namespace {

int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

// After a failed call (a home cut off, say): a millisecond's pause, so that a worker failing
// fast does not fill the history with millions of failed ops.
void back_off() {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

struct Worker {
    int id = 0;
    int node = 0;
    int rw = -1;
    int ro = -1;
    std::vector<Op> ops;
    int errors = 0;
    std::string first_error;
};

void work(Worker* w, const Options& o, uint64_t seed, int64_t deadline) {
    // Each worker has its own stream, derived from the seed and its id, so a seed replays every
    // worker's choices (the interleaving is the machine's).
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(w->id));
    std::uniform_int_distribution<int> page_of(0, o.pages - 1);
    std::bernoulli_distribution is_write(0.5);
    uint64_t counter = 0;
    while (now_ns() < deadline) {
        Op op;
        op.worker = w->id;
        op.node = w->node;
        op.page = page_of(rng);
        op.kind = is_write(rng) ? Op::Kind::Write : Op::Kind::Read;
        off_t off = static_cast<off_t>(op.page) * o.page_size;
        unsigned char buf[8] = {};
        if (op.kind == Op::Kind::Write) {
            op.value = static_cast<uint64_t>(w->id) << 40 | ++counter;
            std::memcpy(buf, &op.value, sizeof buf);
            op.invoke = now_ns();
            ssize_t n = ::pwrite(w->rw, buf, sizeof buf, off);
            bool synced =
                n != static_cast<ssize_t>(sizeof buf) || !o.sync_writes || ::fdatasync(w->rw) == 0;
            op.complete = now_ns();
            if (!synced && ++w->errors == 1) {
                w->first_error = errno_text("fdatasync");
            }
            if (!synced) {
                op.complete = check::kPending;
                back_off();
            } else if (n != static_cast<ssize_t>(sizeof buf)) {
                // It may or may not have taken effect.
                op.complete = check::kPending;
                if (++w->errors == 1) {
                    w->first_error = n < 0 ? errno_text("pwrite") : "short pwrite";
                }
                back_off();
            }
            w->ops.push_back(op);
        } else {
            op.invoke = now_ns();
            ssize_t n = ::pread(w->ro, buf, sizeof buf, off);
            op.complete = now_ns();
            if (n != static_cast<ssize_t>(sizeof buf)) {
                if (++w->errors == 1) {
                    w->first_error = n < 0 ? errno_text("pread") : "short pread";
                }
                back_off();
                continue;
            }
            std::memcpy(&op.value, buf, sizeof buf);
            w->ops.push_back(op);
        }
    }
}

}  // namespace

Result<History> run(const Options& o) {
    if (o.paths.empty() || o.workers_per_path < 1 || o.pages < 1 || o.seconds <= 0) {
        return Status(Code::InvalidArgument, "need paths, workers, pages and seconds");
    }
    History h;
    {
        int fd = ::open(o.paths[0].c_str(), O_RDONLY);
        if (fd < 0) {
            return Status(Code::NotFound, errno_text(o.paths[0]));
        }
        for (int p = 0; p < o.pages; ++p) {
            uint64_t v = 0;
            ssize_t n = ::pread(fd, &v, sizeof v, static_cast<off_t>(p) * o.page_size);
            if (n != static_cast<ssize_t>(sizeof v)) {
                ::close(fd);
                return Status(Code::OutOfRange,
                              o.paths[0] + ": too short for " + std::to_string(o.pages) + " pages");
            }
            h.initial.push_back(v);
        }
        ::close(fd);
    }
    std::vector<Worker> workers;
    for (size_t k = 0; k < o.paths.size(); ++k) {
        for (int j = 0; j < o.workers_per_path; ++j) {
            Worker w;
            w.id = static_cast<int>(workers.size()) + 1;
            w.node = static_cast<int>(k) + 1;
            w.rw = ::open(o.paths[k].c_str(), O_RDWR);
            w.ro = ::open(o.paths[k].c_str(), O_RDONLY);
            bool ok = w.rw >= 0 && w.ro >= 0;
            std::string why = errno_text(o.paths[k]);
            workers.push_back(std::move(w));
            if (!ok) {
                for (auto& x : workers) {
                    ::close(x.rw);
                    ::close(x.ro);
                }
                return Status(Code::NotFound, why);
            }
        }
    }
    int64_t deadline = now_ns() + static_cast<int64_t>(o.seconds * 1e9);
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back(work, &w, std::cref(o), o.seed, deadline);
    }
    for (auto& t : threads) {
        t.join();
    }
    for (auto& w : workers) {
        ::close(w.rw);
        ::close(w.ro);
        h.ops.insert(h.ops.end(), w.ops.begin(), w.ops.end());
        if (w.errors > 0 && h.errors == 0) {
            h.first_error = "worker " + std::to_string(w.id) + ": " + w.first_error;
        }
        h.errors += w.errors;
    }
    std::sort(
        h.ops.begin(), h.ops.end(), [](const Op& a, const Op& b) { return a.invoke < b.invoke; });
    return h;
}

std::vector<PageReport> check(const History& h, int pages, CheckOptions options) {
    std::vector<std::vector<check::RegisterOp>> per(static_cast<size_t>(pages));
    std::vector<PageReport> out(static_cast<size_t>(pages));
    for (int p = 0; p < pages; ++p) {
        out[static_cast<size_t>(p)].page = p;
    }
    // cut_off_ok: the values of failed writes that only their own node read.
    std::map<uint64_t, int> failed_writer;  // value -> node
    std::set<uint64_t> seen_elsewhere;
    if (options.cut_off_ok) {
        for (const Op& op : h.ops) {
            if (op.kind == Op::Kind::Write && op.complete == check::kPending) {
                failed_writer[op.value] = op.node;
            }
        }
        for (const Op& op : h.ops) {
            auto it = failed_writer.find(op.value);
            if (op.kind == Op::Kind::Read && it != failed_writer.end() && it->second != op.node) {
                seen_elsewhere.insert(op.value);
            }
        }
    }
    for (const Op& op : h.ops) {
        if (op.page < 0 || op.page >= pages) {
            continue;
        }
        auto& r = out[static_cast<size_t>(op.page)];
        if (op.kind == Op::Kind::Read && failed_writer.count(op.value) &&
            !seen_elsewhere.count(op.value)) {
            ++r.dropped_reads;
            continue;
        }
        check::RegisterOp c;
        c.kind = op.kind == Op::Kind::Write ? check::RegisterOp::Kind::Write
                                            : check::RegisterOp::Kind::Read;
        c.value = op.value;
        c.invoke = op.invoke;
        c.complete = op.complete;
        c.who = format_op(op);
        (op.kind == Op::Kind::Write ? r.writes : r.reads)++;
        per[static_cast<size_t>(op.page)].push_back(std::move(c));
    }
    for (int p = 0; p < pages; ++p) {
        uint64_t initial =
            static_cast<size_t>(p) < h.initial.size() ? h.initial[static_cast<size_t>(p)] : 0;
        out[static_cast<size_t>(p)].violation =
            check::check_register(per[static_cast<size_t>(p)], initial);
    }
    return out;
}

std::string format_op(const Op& op) {
    char buf[160];
    char done[32] = "-";
    if (op.complete != check::kPending) {
        std::snprintf(done, sizeof done, "%" PRId64, op.complete);
    }
    std::snprintf(buf,
                  sizeof buf,
                  "%" PRId64 " %s worker %d node n%d %s page %d value %016" PRIx64,
                  op.invoke,
                  done,
                  op.worker,
                  op.node,
                  op.kind == Op::Kind::Write ? "W" : "R",
                  op.page,
                  op.value);
    return buf;
}

std::string format(const History& h) {
    std::string s;
    for (size_t p = 0; p < h.initial.size(); ++p) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "initial page %zu value %016" PRIx64 "\n", p, h.initial[p]);
        s += buf;
    }
    for (const Op& op : h.ops) {
        s += format_op(op);
        s += '\n';
    }
    return s;
}

Result<History> parse(const std::string& text) {
    History h;
    size_t start = 0;
    int line_no = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        if (line.empty()) {
            continue;
        }
        auto bad = [&] {
            return Status(Code::InvalidArgument,
                          "line " + std::to_string(line_no) + ": cannot parse \"" + line + "\"");
        };
        size_t page = 0;
        uint64_t value = 0;
        if (std::sscanf(line.c_str(), "initial page %zu value %" SCNx64, &page, &value) == 2) {
            if (page != h.initial.size()) {
                return bad();
            }
            h.initial.push_back(value);
            continue;
        }
        Op op;
        char done[32] = {};
        char kind = 0;
        int consumed = 0;
        if (std::sscanf(line.c_str(),
                        "%" SCNd64 " %31s worker %d node n%d %c page %d value %" SCNx64 "%n",
                        &op.invoke,
                        done,
                        &op.worker,
                        &op.node,
                        &kind,
                        &op.page,
                        &op.value,
                        &consumed) != 7 ||
            static_cast<size_t>(consumed) != line.size() || (kind != 'R' && kind != 'W')) {
            return bad();
        }
        op.kind = kind == 'W' ? Op::Kind::Write : Op::Kind::Read;
        if (std::string(done) == "-") {
            if (op.kind == Op::Kind::Read) {
                return bad();  // only writes can be pending
            }
            op.complete = check::kPending;
        } else {
            char* rest = nullptr;
            op.complete = std::strtoll(done, &rest, 10);
            if (*rest != '\0' || op.complete < op.invoke) {
                return bad();
            }
        }
        if (op.page < 0 || static_cast<size_t>(op.page) >= h.initial.size()) {
            return bad();
        }
        h.ops.push_back(op);
    }
    if (h.initial.empty()) {
        return Status(Code::InvalidArgument, "no \"initial page\" lines");
    }
    return h;
}

}  // namespace vr::history
