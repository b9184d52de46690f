// TestCluster: a local cluster of real vremoted processes for integration tests, brought up and
// down with the user-facing commands (`vremote cluster up` / `cluster down`), so the tests
// exercise exactly what users run. Each cluster lives in a fresh temporary directory; node nK
// has DIR/nK/vremote.toml, DIR/nK/export (volume nK), DIR/nK/vremoted.log and
// DIR/nK/vremoted.pid.
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

class TestCluster {
  public:
    // `extra` is appended to `vremote cluster up` (e.g. {"--delay-us", "100"}).
    explicit TestCluster(int nodes, std::vector<std::string> extra = {});
    ~TestCluster();  // cluster down, then removes the directory (kept if VR_KEEP_CLUSTER is set)
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

  private:
    int nodes_;
    std::string dir_;
    bool up_ = false;
    std::string up_output_;
};

}  // namespace vr::itest
