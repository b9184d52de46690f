// A history of reads and writes on pages of one shared file, made by workers on several nodes
// of a real cluster through their FUSE mounts, and checked per page for linearizability as a
// register (check/linearizability.h). Used by the vr_history tool and tests/integration/
// history_test.cc.
//
// Every op reads or writes the first 8 bytes of one page. Writes store unique values
// (worker id << 40 | counter) through O_RDWR fds (direct I/O on the mount); reads go through
// O_RDONLY fds (the kernel page cache). Times are CLOCK_MONOTONIC nanoseconds of one host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "check/linearizability.h"

namespace vr::history {

struct Op {
    enum class Kind : uint8_t { Read, Write };
    int64_t invoke = 0;    // CLOCK_MONOTONIC ns
    int64_t complete = 0;  // check::kPending: a write whose outcome is unknown
    int worker = 0;        // 1..
    int node = 0;          // 1.. (index into the paths)
    Kind kind = Kind::Read;
    int page = 0;
    uint64_t value = 0;  // written or read
};

struct Options {
    std::vector<std::string> paths;  // the same file as seen through node k's mount
    int workers_per_path = 4;
    int pages = 8;
    double seconds = 10;
    uint64_t seed = 1;
    int page_size = 4096;
    // Each write is pwrite + fdatasync, one op: it completes only once durable at the origin;
    // if either call fails the op is pending (it may or may not have taken effect).
    bool sync_writes = false;
};

struct History {
    std::vector<uint64_t> initial;  // per page: the value before the run
    std::vector<Op> ops;
    // Failed syscalls: failed writes are in `ops` as pending, failed reads are left out.
    int errors = 0;
    std::string first_error;
};

// Runs the workload. Fails only if a file cannot be opened or read before the run.
Result<History> run(const Options& options);

struct PageReport {
    int page = 0;
    int reads = 0;
    int writes = 0;
    std::optional<check::Violation> violation;
    int dropped_reads = 0;  // with cut_off_ok: reads of a failed write on its own node
};

struct CheckOptions {
    // A node cut off from the home loses the writes it could not make durable (failure.md):
    // its own readers may have seen them meanwhile. With this, a failed (pending) write whose
    // every read is on the writer's node is taken as lost, and those reads are left out. A
    // read of it on any other node is still checked.
    bool cut_off_ok = false;
};

// Checks every page of `history` as a register (initial value: history.initial[page]).
std::vector<PageReport> check(const History& history, int pages, CheckOptions options = {});

// One line per op: "invoke complete worker node R|W page value(hex)" (complete "-" if pending).
std::string format_op(const Op& op);
// The history as text: "initial page P value V" lines, then one format_op line per op.
std::string format(const History& history);
// The inverse of format (for `vr_history --check FILE`); the line that does not parse on error.
Result<History> parse(const std::string& text);

}  // namespace vr::history
