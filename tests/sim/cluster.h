// A whole vremote cluster in one process: 2-8 coherence engines, per-link FIFO networks with
// independent delays, partitions, link resets, crashes and restarts, a model of each node's
// kernel page cache, origin stores with volatile and durable layers, and clients running random
// workloads. One seeded random source and virtual time make every run replayable.
//
// Checkers: SWMR after every delivered message (kernel copies count as readers), directory
// agreement at every quiescent moment, per-register linearizability of the whole history,
// durability of fsync'd data, and liveness (every operation completes; after the final heal every
// page can be read). See docs/TESTING.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coherence/engine.h"

namespace vr::sim {

struct SimOptions {
    uint64_t seed = 1;
    int nodes = 3;
    int files = 2;
    int pages = 6;    // per file
    int clients = 2;  // per node
    int ops = 40;     // per client
    bool crashes = false;
    bool partitions = false;
    bool resets = false;
    uint64_t cache_pages_max = 8;  // per node: small, to force capacity evictions
    coherence::Mutation mutation = coherence::Mutation::None;
    bool trace = false;      // print every trace line to stderr as it happens
    size_t trace_tail = 80;  // lines kept for the failure report
};

// Options for seed-range runs: node count and faults derived from the seed, so that a range of
// seeds mixes 2-8 nodes, crashes, partitions and link resets.
SimOptions options_for_seed(uint64_t seed);

struct SimReport {
    bool ok = true;
    std::string failure;
    std::vector<std::string> trace_tail;
    uint64_t events = 0;
    uint64_t messages = 0;
    uint64_t ops_ok = 0;
    uint64_t ops_failed = 0;
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t fsyncs = 0;
    uint64_t crashes = 0;
    uint64_t partitions = 0;
    uint64_t resets = 0;
    uint64_t lost_writes = 0;
    uint64_t quiescent_checks = 0;
    uint64_t swmr_checks = 0;
    uint64_t registers_checked = 0;
    std::vector<uint64_t> node_rows;
    std::vector<uint64_t> dir_rows;
};

SimReport run_sim(const SimOptions& options);

// One command line that replays a run with a full trace.
std::string replay_command(const SimOptions& options);

std::string mutation_name(coherence::Mutation m);

}  // namespace vr::sim
