// The vremote command line: what each command accepts, parsed into a Command without touching
// anything (so that it can be tested). Usage errors are InvalidArgument Statuses whose context is
// the whole message to print after "vremote: ", ending with the command's usage line.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace vr::cli {

enum class Verb : uint8_t {
    Help,
    Get,
    Put,
    Sync,
    Status,
    Pages,
    Stats,
    Warmup,
    ClusterUp,
    ClusterDown,
    ClusterLink,
    ClusterShape,
};

inline constexpr uint32_t kClusterNodesMax = 64;
inline constexpr uint16_t kDefaultBasePort = 11040;  // node K listens on base + K
inline constexpr uint32_t kDefaultWaitSeconds = 30;

struct Command {
    Verb verb = Verb::Help;
    std::string help;  // Verb::Help: the text to print (to stdout; exit 0)

    // get, put, sync, status, pages, stats, warmup
    std::string config;  // --config; empty: $VREMOTE_CONFIG, else /etc/vremote/vremote.toml
    std::string path;    // VOLUME/PATH; warmup: VOLUME/PATH or a path on the mount
    uint64_t offset = 0;
    std::optional<uint64_t> length;  // get: to the end of the file without it

    // cluster up, down, link, shape
    std::string dir;
    uint32_t nodes = 0;
    std::optional<uint16_t> base_port;   // without it: free ports from kDefaultBasePort + 1
    std::optional<uint64_t> cache_size;  // bytes; the config's default without it
    uint32_t delay_us = 0;
    uint32_t loss_ppm = 0;
    uint32_t reset_ppm = 0;
    uint32_t loss_rto_us = 200'000;
    uint32_t lease_ms = 0;       // 0: the config's defaults
    std::string fault;           // test.fault of every node
    std::string on_unreachable;  // "", "error" or "block"
    bool encrypt = false;
    std::string vremoted;                         // --vremoted: the daemon binary to start
    uint32_t wait_seconds = kDefaultWaitSeconds;  // up: for links and mounts, down: for exits
    bool mount = true;   // up: node nK mounts the cluster at DIR/nK/mnt (--no-mount: not)
    bool netns = false;  // up: every node in its own network namespace (--netns)

    // cluster link, cluster shape
    uint32_t node = 0;       // --node K
    bool link_up = true;     // link: the operand, up or down
    uint64_t rate_bits = 0;  // shape: --rate in bits per second; 0 for `--rate off`
};

// Parses argv[1..] (the program name excluded).
Result<Command> parse_args(std::span<const std::string_view> args);

}  // namespace vr::cli
