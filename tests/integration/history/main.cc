// vr_history --files PATH1,PATH2,... [--workers-per-path 4] [--pages 8] [--seconds N] [--seed S]
//            [--out history.log]
// Workers on every path (the same shared file seen through each node's mount) read and write the
// first 8 bytes of random pages for N seconds; then each page's history is checked for
// linearizability as a register. Prints per-page op counts and OK, or the first violation with
// the operations involved. Exit 0: linearizable and no I/O errors; 1: a violation or errors;
// 2: bad usage or a file that cannot be used. `--seed` replays every worker's random choices.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "history.h"

namespace {

int usage(const char* why) {
    std::fprintf(stderr,
                 "vr_history: %s\nusage: vr_history --files P1,P2,... [--workers-per-path N] "
                 "[--pages N] [--seconds N] [--seed S] [--out FILE]\n",
                 why);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    vr::history::Options o;
    o.seed = std::random_device{}();
    o.seconds = 10;
    std::string out;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
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
            } else {
                return usage(("unknown option " + a).c_str());
            }
        } catch (const std::exception&) {
            return usage(("bad value for " + a).c_str());
        }
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
    bool ok = true;
    for (const auto& r : vr::history::check(*h, o.pages)) {
        if (r.violation) {
            std::printf("page %d: %d reads %d writes: VIOLATION\n%s\n",
                        r.page,
                        r.reads,
                        r.writes,
                        r.violation->to_string().c_str());
            ok = false;
            break;
        }
        std::printf("page %d: %d reads %d writes: OK\n", r.page, r.reads, r.writes);
    }
    if (h->errors > 0) {
        std::printf("%d I/O errors; first: %s\n", h->errors, h->first_error.c_str());
        ok = false;
    }
    std::printf("%s (%zu ops, seed %llu)\n",
                ok ? "LINEARIZABLE" : "FAILED",
                h->ops.size(),
                static_cast<unsigned long long>(o.seed));
    return ok ? 0 : 1;
}
