#include "test_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "client/session.h"
#include "mounts.h"
#include "netns.h"
#include "wire/client.h"

extern char** environ;

namespace vr::itest {

namespace fs = std::filesystem;

std::string bin_dir() {
    return VR_BIN_DIR;
}

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void set_nonblock(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::string& input,
                          int timeout_s) {
    CommandResult res;
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
        res.err = "pipe failed";
        return res;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        res.err = std::string("spawn failed: ") + std::strerror(rc);
        return res;
    }
    set_nonblock(in[1]);
    set_nonblock(out[0]);
    set_nonblock(err[0]);
    size_t written = 0;
    if (input.empty()) {
        ::close(in[1]);
        in[1] = -1;
    }
    int64_t deadline = now_ms() + int64_t{timeout_s} * 1000;
    bool out_open = true, err_open = true;
    while ((out_open || err_open) && now_ms() < deadline) {
        pollfd p[3];
        int n = 0;
        if (out_open) {
            p[n++] = pollfd{out[0], POLLIN, 0};
        }
        if (err_open) {
            p[n++] = pollfd{err[0], POLLIN, 0};
        }
        if (in[1] >= 0) {
            p[n++] = pollfd{in[1], POLLOUT, 0};
        }
        ::poll(p, static_cast<nfds_t>(n), 100);
        char buf[65536];
        for (int i = 0; i < n; ++i) {
            if (p[i].revents == 0) {
                continue;
            }
            if (p[i].fd == in[1]) {
                ssize_t w = ::write(in[1], input.data() + written, input.size() - written);
                if (w > 0) {
                    written += static_cast<size_t>(w);
                }
                if (w < 0 && errno != EAGAIN) {
                    written = input.size();
                }
                if (written == input.size()) {
                    ::close(in[1]);
                    in[1] = -1;
                }
                continue;
            }
            ssize_t r = ::read(p[i].fd, buf, sizeof buf);
            if (r > 0) {
                (p[i].fd == out[0] ? res.out : res.err).append(buf, static_cast<size_t>(r));
            } else if (r == 0 || errno != EAGAIN) {
                (p[i].fd == out[0] ? out_open : err_open) = false;
            }
        }
    }
    if (in[1] >= 0) {
        ::close(in[1]);
    }
    ::close(out[0]);
    ::close(err[0]);
    if (out_open || err_open) {
        ::kill(pid, SIGKILL);
        res.err += "\n[test harness: killed after timeout]";
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return res;
}

TestCluster::TestCluster(int nodes, std::vector<std::string> extra)
    : TestCluster(nodes, ClusterOptions{std::move(extra), false, false}) {}

TestCluster::TestCluster(int nodes, ClusterOptions options) : nodes_(nodes) {
    char tmpl[] = "/tmp/vr-itest-XXXXXX";
    char* d = ::mkdtemp(tmpl);
    dir_ = d != nullptr ? d : "/tmp/vr-itest-failed";
    std::vector<std::string> argv{
        bin_dir() + "/vremote", "cluster", "up", "--nodes", std::to_string(nodes), "--dir", dir_};
    const std::vector<std::string>& extra = options.extra;
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (!options.mount) {
        argv.push_back("--no-mount");
    }
    bool own_ports = false;
    if (options.netns) {
        argv.push_back("--netns");
    } else if (std::find(extra.begin(), extra.end(), "--base-port") == extra.end()) {
        // Ports of their own: daemons of an earlier run that crashed (and so never ran cluster
        // down) may still be dialling their old peers' ports. Below Linux's ephemeral range
        // (32768-60999), where any outgoing connection on the machine may hold a port; and
        // another try if one is taken anyway (a cluster of a test running beside this one).
        own_ports = true;
        argv.push_back("--base-port");
        argv.push_back("");
    }
    std::random_device rd;
    for (int attempt = 0;; ++attempt) {
        if (own_ports) {
            argv.back() = std::to_string(20000 + rd() % 12000);
        }
        CommandResult r = run_command(argv, {}, 90);
        up_output_ = r.out + r.err;
        up_ = r.exit_code == 0;
        if (up_ || !own_ports || attempt == 4 ||
            up_output_.find("is in use") == std::string::npos) {
            break;
        }
    }
    if (auto plan = cli::load_netns_record(dir_); plan.is_ok()) {
        namespaces_ = plan.value().namespaces();
    }
}

TestCluster::~TestCluster() {
    run_command({bin_dir() + "/vremote", "cluster", "down", "--dir", dir_}, {}, 60);
    // Anything still alive (a failed down) must not outlive the test.
    for (int k = 1; k <= nodes_; ++k) {
        pid_t p = pid(k);
        if (p > 0) {
            ::kill(p, SIGKILL);
        }
    }
    // Nor any mount (remove_all would walk into it) or namespace of the cluster.
    cli::detach_node_mounts(dir_, nullptr).ignore();
    if (auto plan = cli::load_netns_record(dir_); plan.is_ok()) {
        cli::netns_destroy(plan.value(), nullptr).ignore();
    }
    if (std::getenv("VR_KEEP_CLUSTER") == nullptr) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

std::string TestCluster::netns_of(int k) const {
    return netns() ? namespaces_[static_cast<size_t>(k)] : "";
}

bool TestCluster::link(int k, bool up, std::string* why) {
    CommandResult r = run_command({bin_dir() + "/vremote",
                                   "cluster",
                                   "link",
                                   "--dir",
                                   dir_,
                                   "--node",
                                   std::to_string(k),
                                   up ? "up" : "down"},
                                  {},
                                  30);
    if (r.exit_code != 0 && why != nullptr) {
        *why = r.out + r.err;
    }
    return r.exit_code == 0;
}

CommandResult TestCluster::down() {
    return run_command({bin_dir() + "/vremote", "cluster", "down", "--dir", dir_}, {}, 60);
}

std::string TestCluster::config(int k) const {
    return dir_ + "/" + name(k) + "/vremote.toml";
}

std::string TestCluster::export_dir(int k) const {
    return dir_ + "/" + name(k) + "/export";
}

std::string TestCluster::log(int k) const {
    std::ifstream f(dir_ + "/" + name(k) + "/vremoted.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

pid_t TestCluster::pid(int k) const {
    std::ifstream f(dir_ + "/" + name(k) + "/vremoted.pid");
    long p = -1;
    if (!(f >> p)) {
        return -1;
    }
    return static_cast<pid_t>(p);
}

CommandResult TestCluster::cli(int k, std::vector<std::string> args, const std::string& input) {
    std::vector<std::string> argv{bin_dir() + "/vremote", "--config", config(k)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, input, 60);
}

bool TestCluster::kill_node(int k) {
    pid_t p = pid(k);
    if (p <= 0 || ::kill(p, SIGKILL) != 0) {
        return false;
    }
    // The daemon is not our child (cluster up started it): wait until the pid is gone.
    int64_t deadline = now_ms() + 10'000;
    while (now_ms() < deadline) {
        if (::kill(p, 0) != 0 && errno == ESRCH) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a pid, bounded
    }
    return false;
}

bool TestCluster::restart_node(int k, std::string* why) {
    std::string logpath = dir_ + "/" + name(k) + "/vremoted.log";
    std::string pidpath = dir_ + "/" + name(k) + "/vremoted.pid";
    // In its network namespace, as `cluster up` started it.
    int netns_fd = -1;
    if (netns()) {
        netns_fd = ::open(("/run/netns/" + netns_of(k)).c_str(), O_RDONLY | O_CLOEXEC);
        if (netns_fd < 0) {
            if (why != nullptr) {
                *why = "cannot open the namespace of " + name(k) + ": " + std::strerror(errno);
            }
            return false;
        }
    }
    pid_t child = ::fork();
    if (child == 0) {
        ::setsid();
        if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
            ::_exit(126);
        }
        int fd = ::open(logpath.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
        int nul = ::open("/dev/null", O_RDONLY);
        ::dup2(nul, 0);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::string bin = bin_dir() + "/vremoted";
        std::string cfg = config(k);
        ::execl(bin.c_str(), bin.c_str(), "--config", cfg.c_str(), nullptr);
        ::_exit(127);
    }
    if (netns_fd >= 0) {
        ::close(netns_fd);
    }
    {
        std::ofstream pf(pidpath, std::ios::trunc);
        pf << child << "\n";
    }
    // Reap it in the background when it exits, so it never lingers as a zombie.
    std::thread([child] {
        int st = 0;
        ::waitpid(child, &st, 0);
    }).detach();
    for (int peer = 1; peer <= nodes_; ++peer) {
        if (peer == k) {
            continue;
        }
        if (wait_link(k, peer, "up", 20'000) < 0) {
            if (why != nullptr) {
                *why = "link " + name(k) + "->" + name(peer) + " did not come up; log:\n" + log(k);
            }
            return false;
        }
    }
    return true;
}

int64_t TestCluster::wait_link(int observer,
                               int peer,
                               const std::string& state,
                               int64_t timeout_ms) {
    int64_t start = now_ms();
    std::string sock = dir_ + "/" + name(observer) + "/data/vremoted.sock";
    wire::LinkState want = state == "up"           ? wire::LinkState::Up
                           : state == "connecting" ? wire::LinkState::Connecting
                                                   : wire::LinkState::Down;
    while (now_ms() - start < timeout_ms) {
        auto s = client::Session::connect(sock, std::chrono::milliseconds(2000));
        if (s.is_ok()) {
            auto st = s.value()->status();
            if (st.is_ok()) {
                for (const auto& n : st.value()) {
                    bool match = n.link == want ||
                                 (want == wire::LinkState::Down && n.link != wire::LinkState::Up);
                    if (n.name == name(peer) && match) {
                        return now_ms() - start;
                    }
                }
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling status, bounded
    }
    return -1;
}

}  // namespace vr::itest
