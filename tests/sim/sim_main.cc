// vr_sim: runs the deterministic cluster simulator.
//
//   vr_sim --seed 42 [--nodes 3 --crashes --partitions --resets ...] [--trace]
//       one run with explicit options; --trace prints every event.
//   vr_sim --seeds 0:1000
//       a range of seeds, options derived from each seed (2-8 nodes, faults mixed).
//   vr_sim --mutation skip-invalidation --seeds 0:500 --expect-failure
//       a planted bug: succeeds only if some seed in the range makes a checker fail.
//
// Every failure prints the checker's message, the tail of the trace and one command that
// replays the failing seed with a full trace.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "sim/cluster.h"

using vr::coherence::Mutation;
using vr::sim::SimOptions;

namespace {

bool parse_mutation(const std::string& s, Mutation* m) {
    for (Mutation x : {Mutation::None,
                       Mutation::SkipOneInvalidation,
                       Mutation::AckBeforeKernelInvalidate,
                       Mutation::ForgetWritebackOnEvict}) {
        if (vr::sim::mutation_name(x) == s) {
            *m = x;
            return true;
        }
    }
    return false;
}

int usage() {
    std::fprintf(
        stderr,
        "usage: vr_sim [--seed N | --seeds A:B] [--nodes N] [--files N] [--pages N] [--clients N]\n"
        "              [--ops N] [--cache N] [--crashes] [--partitions] [--resets]\n"
        "              [--mutation none|skip-invalidation|ack-before-kernel|forget-writeback]\n"
        "              [--expect-failure] [--trace] [--coverage]\n");
    return 2;
}

void print_failure(const SimOptions& o, const vr::sim::SimReport& r) {
    std::printf("FAIL seed %llu: %s\n", static_cast<unsigned long long>(o.seed), r.failure.c_str());
    std::printf("--- last %zu trace lines ---\n", r.trace_tail.size());
    for (const std::string& l : r.trace_tail) {
        std::printf("%s\n", l.c_str());
    }
    std::printf("--- replay with:\n  %s\n", vr::sim::replay_command(o).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    SimOptions base;
    bool range = false;
    bool explicit_opts = false;
    uint64_t from = 0;
    uint64_t to = 0;
    bool expect_failure = false;
    bool coverage = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::exit(usage());
            }
            return argv[++i];
        };
        try {
            if (a == "--seed") {
                base.seed = std::stoull(next());
            } else if (a == "--seeds") {
                std::string v = next();
                size_t colon = v.find(':');
                if (colon == std::string::npos) {
                    return usage();
                }
                from = std::stoull(v.substr(0, colon));
                to = std::stoull(v.substr(colon + 1));
                range = true;
            } else if (a == "--nodes") {
                base.nodes = std::stoi(next());
                explicit_opts = true;
            } else if (a == "--files") {
                base.files = std::stoi(next());
            } else if (a == "--pages") {
                base.pages = std::stoi(next());
            } else if (a == "--clients") {
                base.clients = std::stoi(next());
            } else if (a == "--ops") {
                base.ops = std::stoi(next());
            } else if (a == "--cache") {
                base.cache_pages_max = std::stoull(next());
            } else if (a == "--crashes") {
                base.crashes = true;
            } else if (a == "--partitions") {
                base.partitions = true;
            } else if (a == "--resets") {
                base.resets = true;
            } else if (a == "--mutation") {
                if (!parse_mutation(next(), &base.mutation)) {
                    return usage();
                }
            } else if (a == "--expect-failure") {
                expect_failure = true;
            } else if (a == "--trace") {
                base.trace = true;
            } else if (a == "--coverage") {
                coverage = true;
            } else {
                return usage();
            }
        } catch (const std::exception&) {
            return usage();
        }
    }
    if (base.nodes < 2 || base.nodes > 8 || base.files < 1 || base.pages < 2 || base.clients < 1 ||
        base.ops < 1) {
        std::fprintf(stderr,
                     "vr_sim: nodes must be 2-8, files >= 1, pages >= 2, clients >= 1, ops >= 1\n");
        return 2;
    }
    if (!range) {
        from = base.seed;
        to = base.seed + 1;
    }
    auto start = std::chrono::steady_clock::now();
    uint64_t runs = 0;
    uint64_t failures = 0;
    vr::sim::SimReport total;
    for (uint64_t seed = from; seed < to; ++seed) {
        SimOptions o = base;
        if (range && !explicit_opts) {
            SimOptions derived = vr::sim::options_for_seed(seed);
            derived.mutation = base.mutation;
            derived.trace = base.trace;
            o = derived;
        }
        o.seed = seed;
        vr::sim::SimReport r = vr::sim::run_sim(o);
        ++runs;
        total.events += r.events;
        total.messages += r.messages;
        total.ops_ok += r.ops_ok;
        total.ops_failed += r.ops_failed;
        total.crashes += r.crashes;
        total.partitions += r.partitions;
        total.resets += r.resets;
        total.lost_writes += r.lost_writes;
        total.quiescent_checks += r.quiescent_checks;
        total.swmr_checks += r.swmr_checks;
        total.registers_checked += r.registers_checked;
        total.node_rows.resize(r.node_rows.size());
        total.dir_rows.resize(r.dir_rows.size());
        for (size_t i = 0; i < r.node_rows.size(); ++i)
            total.node_rows[i] += r.node_rows[i];
        for (size_t i = 0; i < r.dir_rows.size(); ++i)
            total.dir_rows[i] += r.dir_rows[i];
        if (!r.ok) {
            ++failures;
            if (expect_failure) {
                std::printf("planted bug '%s' found by seed %llu: %s\n  replay: %s\n",
                            vr::sim::mutation_name(o.mutation).c_str(),
                            static_cast<unsigned long long>(seed),
                            r.failure.c_str(),
                            vr::sim::replay_command(o).c_str());
                return 0;
            }
            print_failure(o, r);
            if (failures >= 3) {
                break;
            }
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "vr_sim: %llu runs (seeds %llu..%llu), %llu failed, %.1f s\n"
        "  checked: %llu SWMR probes after deliveries, %llu quiescent directory checks,\n"
        "  %llu registers linearizable, fsync durability; %llu ops ok, %llu ops failed "
        "(timeouts/faults),\n"
        "  %llu messages, %llu crashes, %llu partitions, %llu link resets, %llu writes lost with "
        "crashed nodes\n",
        static_cast<unsigned long long>(runs),
        static_cast<unsigned long long>(from),
        static_cast<unsigned long long>(to - 1),
        static_cast<unsigned long long>(failures),
        secs,
        static_cast<unsigned long long>(total.swmr_checks),
        static_cast<unsigned long long>(total.quiescent_checks),
        static_cast<unsigned long long>(total.registers_checked),
        static_cast<unsigned long long>(total.ops_ok),
        static_cast<unsigned long long>(total.ops_failed),
        static_cast<unsigned long long>(total.messages),
        static_cast<unsigned long long>(total.crashes),
        static_cast<unsigned long long>(total.partitions),
        static_cast<unsigned long long>(total.resets),
        static_cast<unsigned long long>(total.lost_writes));
    if (coverage) {
        auto rows = vr::coherence::node_table();
        size_t hit = 0;
        for (size_t i = 0; i < rows.size(); ++i) {
            hit += total.node_rows.size() > i && total.node_rows[i] > 0;
        }
        std::printf("  node transitions covered: %zu/%zu\n", hit, rows.size());
        for (size_t i = 0; i < rows.size(); ++i) {
            uint64_t n = total.node_rows.size() > i ? total.node_rows[i] : 0;
            std::printf("    %8llu  %s --%s--> %s\n",
                        static_cast<unsigned long long>(n),
                        std::string(vr::coherence::name(rows[i].state)).c_str(),
                        std::string(vr::coherence::name(rows[i].event)).c_str(),
                        std::string(vr::coherence::name(rows[i].next)).c_str());
        }
        auto drows = vr::coherence::dir_table();
        for (size_t i = 0; i < drows.size(); ++i) {
            uint64_t n = total.dir_rows.size() > i ? total.dir_rows[i] : 0;
            std::printf("    %8llu  home %s --%s--> %s\n",
                        static_cast<unsigned long long>(n),
                        std::string(vr::coherence::name(drows[i].state)).c_str(),
                        std::string(vr::coherence::name(drows[i].event)).c_str(),
                        std::string(vr::coherence::name(drows[i].next)).c_str());
        }
    }
    if (expect_failure) {
        std::printf(
            "planted bug '%s' was NOT found in seeds %llu..%llu: the checkers are too weak\n",
            vr::sim::mutation_name(base.mutation).c_str(),
            static_cast<unsigned long long>(from),
            static_cast<unsigned long long>(to - 1));
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
