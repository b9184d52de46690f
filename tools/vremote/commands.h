// The vremote commands. get, put and sync go through the C API (libvremote.so), as an
// application would; status, pages and stats use client::Session for the replies the C API does
// not carry. Each returns the process's exit status: 0, or 1 after printing
// "vremote: <command> <path>: <what went wrong>" to io.err.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "args.h"
#include "wire/client.h"

namespace vr::cli {

struct Io {
    int in = 0;
    int out = 1;
    int err = 2;
};

// Runs any command but Help.
int run(const Command& cmd, const Io& io);

// Writes all of `text` to `fd`; false (errno set) on failure.
bool write_all(int fd, std::string_view text);
// Prints "vremote: <message>\n" to io.err and returns 1.
int fail(const Io& io, std::string_view message);

// The page states of one file, gathered from successive Pages replies.
class PageMap {
  public:
    // Appends the states of one reply (which starts where the previous one ended).
    void add(std::string_view states);
    uint64_t pages() const { return pages_; }
    const std::map<char, uint64_t>& counts() const { return counts_; }
    // Runs of equal states, in page order.
    const std::vector<std::pair<char, uint64_t>>& runs() const { return runs_; }

  private:
    uint64_t pages_ = 0;
    std::map<char, uint64_t> counts_;
    std::vector<std::pair<char, uint64_t>> runs_;
};

inline constexpr uint64_t kPageMapMax = 256;  // beyond this many pages, runs instead of a map
inline constexpr size_t kRunsShown = 64;

// "n1/f: 10 pages: M 3, S 2, I 5" then, for files of at most kPageMapMax pages, one character
// per page in lines of 64 (each led by its first page's number); for larger files the runs
// ("0-2 M, 3-4 S, 5-9 I"), at most kRunsShown of them. M, S and I come first in the counts.
std::string format_pages(std::string_view path, const PageMap& map);
// A table: NODE NAME LINK RTT HOME-INCARNATION, one line per node.
std::string format_status(const std::vector<wire::NodeStatus>& nodes);
std::string format_stats(const std::vector<wire::Counter>& counters);

}  // namespace vr::cli
