// vr_history --files PATH1,PATH2,... [--workers-per-path 4] [--pages 8] [--seconds N] [--seed S]
//            [--out history.log] [--allow-errors] [--sync-writes] [--cut-off-ok]
// vr_history --check history.log
// Workers on every path (the same shared file seen through each node's mount) read and write the
// first 8 bytes of random pages for N seconds; then each page's history is checked for
// linearizability as a register. Prints per-page op counts and OK, or the first violation with
// the operations involved. Exit 0: linearizable and no I/O errors; 1: a violation or errors;
// 2: bad usage or a file that cannot be used. `--seed` replays every worker's random choices.
// `--allow-errors`: failed calls (a cut-off node's EIO) are counted but are not a failure; a
// failed write stays in the history as pending. `--check FILE` checks a history written by
// `--out` (or by hand) without running anything. `--sync-writes`: each write is pwrite +
// fdatasync. `--cut-off-ok`: a failed write may be lost, and reads of it on its own node are
// left out (history.h, CheckOptions); with --check too.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "history.h"

namespace {

int usage(const char* why) {
    std::fprintf(stderr,
                 "vr_history: %s\nusage: vr_history --files P1,P2,... [--workers-per-path N] "
                 "[--pages N] [--seconds N] [--seed S] [--out FILE] [--allow-errors]\n"
                 "       [--sync-writes] [--cut-off-ok]\n"
                 "       vr_history --check FILE [--cut-off-ok]\n",
                 why);
    return 2;
}

// Checks every page and prints the verdict; the exit code of the tool.
int report(const vr::history::History& h,
           const vr::history::Options& o,
           bool allow_errors,
           vr::history::CheckOptions check_options,
           const std::string& replay) {
    bool ok = true;
    for (const auto& r : vr::history::check(h, o.pages, check_options)) {
        if (r.violation) {
            std::printf("page %d: %d reads %d writes: VIOLATION\n%s\n",
                        r.page,
                        r.reads,
                        r.writes,
                        r.violation->to_string().c_str());
            ok = false;
            break;
        }
        std::printf("page %d: %d reads %d writes: OK", r.page, r.reads, r.writes);
        if (r.dropped_reads > 0) {
            std::printf(" (%d reads of lost writes on their own node left out)", r.dropped_reads);
        }
        std::printf("\n");
    }
    if (h.errors > 0) {
        std::printf("%d I/O errors%s; first: %s\n",
                    h.errors,
                    allow_errors ? " (allowed)" : "",
                    h.first_error.c_str());
        ok = ok && allow_errors;
    }
    std::printf(
        "%s (%zu ops; replay: %s)\n", ok ? "LINEARIZABLE" : "FAILED", h.ops.size(), replay.c_str());
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    vr::history::Options o;
    o.seed = std::random_device{}();
    o.seconds = 10;
    std::string out;
    std::string check_file;
    bool allow_errors = false;
    vr::history::CheckOptions check_options;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--allow-errors") {
            allow_errors = true;
            continue;
        }
        if (a == "--sync-writes") {
            o.sync_writes = true;
            continue;
        }
        if (a == "--cut-off-ok") {
            check_options.cut_off_ok = true;
            continue;
        }
        if (i + 1 >= argc) {
            return usage(("missing value for " + a).c_str());
        }
        std::string v = argv[++i];
        try {
            if (a == "--files") {
                size_t start = 0;
                while (start <= v.size()) {
                    size_t comma = v.find(',', start);
                    if (comma == std::string::npos) {
                        comma = v.size();
                    }
                    if (comma > start) {
                        o.paths.push_back(v.substr(start, comma - start));
                    }
                    start = comma + 1;
                }
            } else if (a == "--workers-per-path") {
                o.workers_per_path = std::stoi(v);
            } else if (a == "--pages") {
                o.pages = std::stoi(v);
            } else if (a == "--seconds") {
                o.seconds = std::stod(v);
            } else if (a == "--seed") {
                o.seed = std::stoull(v);
            } else if (a == "--out") {
                out = v;
            } else if (a == "--check") {
                check_file = v;
            } else {
                return usage(("unknown option " + a).c_str());
            }
        } catch (const std::exception&) {
            return usage(("bad value for " + a).c_str());
        }
    }
    if (!check_file.empty()) {
        if (!o.paths.empty()) {
            return usage("--check and --files do not go together");
        }
        std::ifstream f(check_file);
        std::stringstream text;
        text << f.rdbuf();
        if (!f) {
            std::fprintf(stderr, "vr_history: cannot read %s\n", check_file.c_str());
            return 2;
        }
        auto h = vr::history::parse(text.str());
        if (!h.is_ok()) {
            std::fprintf(
                stderr, "vr_history: %s: %s\n", check_file.c_str(), h.status().to_string().c_str());
            return 2;
        }
        o.pages = static_cast<int>(h->initial.size());
        return report(*h, o, false, check_options, "--check " + check_file);
    }
    if (o.paths.empty()) {
        return usage("--files is required");
    }
    std::printf("seed %llu\n", static_cast<unsigned long long>(o.seed));
    std::fflush(stdout);
    auto h = vr::history::run(o);
    if (!h.is_ok()) {
        std::fprintf(stderr, "vr_history: %s\n", h.status().to_string().c_str());
        return 2;
    }
    if (!out.empty()) {
        std::ofstream f(out);
        f << vr::history::format(*h);
        if (!f) {
            std::fprintf(stderr, "vr_history: cannot write %s\n", out.c_str());
        }
    }
    std::string replay = "--seed " + std::to_string(o.seed);
    if (!out.empty()) {
        replay += ", or vr_history --check " + out;
    }
    return report(*h, o, allow_errors, check_options, replay);
}
