// `vremote warmup PATH`: reads every regular file under PATH (a file, or a directory walked
// recursively without following symbolic links) from start to end in 1 MiB reads, so that this
// node's caches (the kernel's page cache of the mount and vremoted's own) hold them. Memory is
// one 1 MiB buffer plus one open directory per level of the walk.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "args.h"
#include "base/status.h"
#include "commands.h"

namespace vr::cli {

inline constexpr size_t kWarmupChunk = 1 << 20;

// Where PATH is: absolute, or "." / ".." / "./..." / "../...", it is used as given; anything else
// is VOLUME/PATH on this node's mount (node.mount of the config named by --config, else
// $VREMOTE_CONFIG, else /etc/vremote/vremote.toml).
Result<std::string> warmup_root(const Command& cmd);

struct WarmupProgress {
    uint64_t bytes = 0;
    uint64_t files = 0;        // files read to the end
    uint64_t total_bytes = 0;  // from a first pass over the tree (terminals only)
    uint64_t total_files = 0;
    uint64_t errors = 0;
};

// "1.5 MiB", "512 B", "3.0 GiB".
std::string format_bytes(uint64_t bytes);
// One line for a terminal, at most kWidth (79) columns, without "\r":
// " 42% [##########..............] 12.0 MiB / 28.5 MiB  3/10 files"
std::string format_progress(const WarmupProgress& p);
// "warmup n1/data: 10 files, 28.5 MiB in 1.20 s (23.8 MiB/s)" and ", 2 errors" when some failed.
std::string format_warmup_summary(std::string_view path, const WarmupProgress& p, double seconds);

// Runs the command: progress on io.err when it is a terminal, every failed file reported there
// ("vremote: warmup PATH: what went wrong") and counted, the summary on io.out. 0, or 1 if any
// file failed.
int warmup(const Command& cmd, const Io& io);

}  // namespace vr::cli
