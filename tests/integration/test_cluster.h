// TestCluster: a local cluster of real vremoted processes for integration tests, brought up and
// down with the user-facing commands (`vremote cluster up` / `cluster down`), so the tests
// exercise exactly what users run. Each cluster lives in a fresh temporary directory; node nK
// has DIR/nK/vremote.toml, DIR/nK/export (volume nK), DIR/nK/vremoted.log and
// DIR/nK/vremoted.pid. With netns, each node runs in a network namespace of its own
// (docs/cluster.md); DIR/netns records them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vr::itest {

// The build's binaries (vremote, vremoted), set by CMake.
std::string bin_dir();

struct CommandResult {
    int exit_code = -1;  // -1: did not exit normally
    std::string out;     // stdout
    std::string err;     // stderr
};
// Runs argv with `input` on stdin; bounded by timeout_s (the child is killed beyond it).
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::string& input = {},
                          int timeout_s = 60);

struct ClusterOptions {
    // Appended to `vremote cluster up`. First, so that TestCluster(3, {"--encrypt", "on"}) can
    // only mean the other constructor.
    std::vector<std::string> extra = {};
    bool netns = false;  // `cluster up --netns`: each node in its own network namespace
    bool mount = false;  // mount each node at DIR/nK/mnt (FUSE); without it --no-mount
};

class TestCluster {
  public:
    // `extra` is appended to `vremote cluster up` (e.g. {"--delay-us", "100"}).
    explicit TestCluster(int nodes, std::vector<std::string> extra = {});
    TestCluster(int nodes, ClusterOptions options);
    // cluster down, then (should that have failed) detaches what is still mounted under the
    // directory and deletes the network namespaces it recorded, then removes the directory (kept
    // if VR_KEEP_CLUSTER is set).
    ~TestCluster();
    TestCluster(const TestCluster&) = delete;
    TestCluster& operator=(const TestCluster&) = delete;

    bool up() const { return up_; }
    const std::string& up_output() const { return up_output_; }
    const std::string& dir() const { return dir_; }
    int nodes() const { return nodes_; }
    std::string name(int k) const { return "n" + std::to_string(k); }  // k = 1..nodes
    std::string config(int k) const;
    std::string export_dir(int k) const;
    std::string log(int k) const;  // the node's log so far
    pid_t pid(int k) const;        // from its pid file; -1 if none

    // `vremote --config <node k's config> args...`
    CommandResult cli(int k, std::vector<std::string> args, const std::string& input = {});
    // Sends SIGKILL to node k and waits for it to be gone.
    bool kill_node(int k);
    // Starts node k's daemon again with its config (log appended); waits until every link of
    // it is up (bounded). Returns false with the reason in *why.
    bool restart_node(int k, std::string* why);
    // Waits (bounded by timeout_ms) until node `observer` reports `peer`'s link as `state`
    // ("up", "down", ...): returns the milliseconds it took, or -1.
    int64_t wait_link(int observer, int peer, const std::string& state, int64_t timeout_ms);

    // netns clusters: `vremote cluster link --dir DIR --node k up|down`. False with the command's
    // output in *why on failure.
    bool link(int k, bool up, std::string* why = nullptr);
    // `vremote cluster down --dir DIR` now (the destructor runs it again, harmlessly).
    CommandResult down();
    bool netns() const { return !namespaces_.empty(); }
    // The network namespaces `cluster up` recorded (the bridge's first; empty without netns).
    const std::vector<std::string>& namespaces() const { return namespaces_; }
    std::string netns_of(int k) const;  // node k's namespace; "" without netns

  private:
    int nodes_;
    std::string dir_;
    bool up_ = false;
    std::string up_output_;
    std::vector<std::string> namespaces_;
};

// How many times `needle` occurs in `hay` (log lines, say).
inline int count_of(const std::string& hay, const std::string& needle) {
    int n = 0;
    for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) {
        ++n;
    }
    return n;
}

}  // namespace vr::itest
