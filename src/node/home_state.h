// What a home must remember across its own restarts: its incarnation, and the nodes whose last
// session that incarnation declared dead. The next incarnation uses it to decide which pages a
// node may reclaim during recovery (EngineConfig::previous_*, protocol.md §5).
//
// One small text file in the node's data_dir, replaced atomically (write a temporary file,
// fdatasync, rename, fsync the directory):
//     incarnation 1795939012345678
//     dead 0x0000000000000004
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "coherence/types.h"

namespace vr::node {

struct HomeState {
    uint64_t incarnation = 0;  // 0: no previous incarnation is known
    coherence::NodeMask dead = 0;
};

// A missing file is the state of a home that never ran: {0, 0}. A malformed file is an error
// naming the file and line (the operator removes or repairs it; nothing guesses).
Result<HomeState> load_home_state(const std::string& path);
Status save_home_state(const std::string& path, const HomeState& state);

}  // namespace vr::node
