#include "cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "client/session.h"
#include "config/files.h"
#include "config/values.h"
#include "mounts.h"
#include "netns.h"

namespace vr::cli {

namespace fs = std::filesystem;

namespace {

constexpr size_t kSecretBytes = 32;
constexpr size_t kLogTailLines = 15;
constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr auto kKillWait = std::chrono::seconds(5);

struct Node {
    uint32_t k = 0;
    std::string name;      // "nK"
    std::string dir;       // DIR/nK
    std::string config;    // DIR/nK/vremote.toml
    std::string pid_file;  // DIR/nK/vremoted.pid
    std::string log;       // DIR/nK/vremoted.log
    std::string mnt;       // DIR/nK/mnt
    std::string netns;     // the network namespace it runs in; empty: the caller's
    pid_t pid = -1;
    bool child = false;  // started by this process (waitpid works)
};

Node node_at(const std::string& dir, uint32_t k) {
    Node n;
    n.k = k;
    n.name = fmt::format("n{}", k);
    n.dir = dir + "/" + n.name;
    n.config = n.dir + "/vremote.toml";
    n.pid_file = n.dir + "/vremoted.pid";
    n.log = n.dir + "/vremoted.log";
    n.mnt = n.dir + "/mnt";
    return n;
}

void pause_briefly() {
    timespec ts{0, std::chrono::nanoseconds(kPollInterval).count()};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Whether `pid` is a live (not zombie) process running node `n`'s daemon: its command line
// names the node's config, so a recycled pid is not mistaken for it.
bool runs_node(pid_t pid, const Node& n) {
    if (pid <= 0 || ::kill(pid, 0) != 0) {
        return false;
    }
    std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z' ||
        stat[paren + 2] == 'X') {
        return false;
    }
    std::string cmdline = read_text(fmt::format("/proc/{}/cmdline", pid));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    return cmdline.find(n.config) != std::string::npos;
}

// Reaps `n` if it is our child and has exited; returns whether it is gone (exit text in *how).
bool gone(Node& n, std::string* how = nullptr) {
    if (n.child) {
        int status = 0;
        pid_t r = ::waitpid(n.pid, &status, WNOHANG);
        if (r == n.pid) {
            n.child = false;
            if (how != nullptr) {
                *how = WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                         : fmt::format("was killed by signal {}", WTERMSIG(status));
            }
            return true;
        }
        if (r == 0) {
            return false;
        }
        n.child = false;  // ECHILD: someone else reaped it
    }
    return !runs_node(n.pid, n);
}

// The nodes of `dir` that have a pid file, with the pid read from it (-1 if unreadable).
std::vector<Node> nodes_with_pid_files(const std::string& dir) {
    std::vector<Node> nodes;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        if (name.size() < 2 || name[0] != 'n' ||
            !std::all_of(
                name.begin() + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        uint32_t k = static_cast<uint32_t>(std::strtoul(name.c_str() + 1, nullptr, 10));
        Node n = node_at(dir, k);
        if (n.name != name || !fs::exists(n.pid_file, ec)) {
            continue;
        }
        n.pid = static_cast<pid_t>(std::atol(read_text(n.pid_file).c_str()));
        nodes.push_back(std::move(n));
    }
    std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return a.k < b.k; });
    return nodes;
}

// SIGTERM to every node, a bounded wait, then SIGKILL with a warning. Removes the pid files of
// the nodes that are gone; returns how many are still running.
size_t stop(std::vector<Node>& nodes,
            std::chrono::seconds wait,
            const Io& io,
            std::string_view who) {
    for (Node& n : nodes) {
        if (!gone(n)) {
            ::kill(n.pid, SIGTERM);
        }
    }
    auto all_gone = [&](std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            bool done = true;
            for (Node& n : nodes) {
                done = gone(n) && done;
            }
            if (done || std::chrono::steady_clock::now() >= deadline) {
                return done;
            }
            pause_briefly();
        }
    };
    if (!all_gone(std::chrono::steady_clock::now() + wait)) {
        for (Node& n : nodes) {
            if (!gone(n)) {
                (void)write_all(io.err,
                                fmt::format("vremote: {}: warning: {} (pid {}) did not exit within "
                                            "{} s of SIGTERM; killing it (its modified pages are "
                                            "lost)\n",
                                            who,
                                            n.name,
                                            n.pid,
                                            wait.count()));
                ::kill(n.pid, SIGKILL);
            }
        }
        all_gone(std::chrono::steady_clock::now() + kKillWait);
    }
    size_t running = 0;
    for (Node& n : nodes) {
        if (gone(n)) {
            std::error_code ec;
            fs::remove(n.pid_file, ec);
        } else {
            ++running;
            (void)write_all(
                io.err,
                fmt::format("vremote: {}: {} (pid {}) is still running\n", who, n.name, n.pid));
        }
    }
    return running;
}

bool port_is_free(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

Result<std::vector<uint16_t>> pick_ports(const Command& cmd) {
    std::vector<uint16_t> ports;
    if (cmd.base_port.has_value()) {
        for (uint32_t k = 1; k <= cmd.nodes; ++k) {
            auto port = static_cast<uint16_t>(*cmd.base_port + k);
            if (!port_is_free(port)) {
                return Status(Code::Exists,
                              fmt::format("port {} (for n{}) is in use on 127.0.0.1; choose "
                                          "another --base-port",
                                          port,
                                          k));
            }
            ports.push_back(port);
        }
        return ports;
    }
    for (uint32_t p = kDefaultBasePort + 1; p <= UINT16_MAX && ports.size() < cmd.nodes; ++p) {
        if (port_is_free(static_cast<uint16_t>(p))) {
            ports.push_back(static_cast<uint16_t>(p));
        }
    }
    if (ports.size() < cmd.nodes) {
        return Status(Code::NoSpace, "not enough free ports on 127.0.0.1");
    }
    return ports;
}

bool executable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

// --vremoted, else vremoted next to this program, else the first vremoted in PATH.
Result<std::string> find_daemon(const Command& cmd) {
    if (!cmd.vremoted.empty()) {
        if (!executable(cmd.vremoted)) {
            return Status(Code::NotFound,
                          fmt::format("--vremoted {} is not an executable file", cmd.vremoted));
        }
        return fs::absolute(cmd.vremoted).string();
    }
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        std::string next_to = (self.parent_path() / "vremoted").string();
        if (executable(next_to)) {
            return next_to;
        }
    }
    const char* path = std::getenv("PATH");
    std::string_view dirs = path != nullptr ? path : "";
    while (!dirs.empty()) {
        size_t colon = dirs.find(':');
        std::string_view d = dirs.substr(0, colon);
        dirs = colon == std::string_view::npos ? "" : dirs.substr(colon + 1);
        std::string candidate = fmt::format("{}/vremoted", d.empty() ? "." : d);
        if (executable(candidate)) {
            return fs::absolute(candidate).string();
        }
    }
    return Status(Code::NotFound,
                  fmt::format("cannot find vremoted next to {} or in PATH (use --vremoted PATH)",
                              ec ? "vremote" : self.string()));
}

// Writes `bytes` to `path` through a temporary file and a rename, with `mode`.
Status write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return Status(Code::IoError, fmt::format("{}: {}", tmp, std::strerror(errno)));
    }
    bool ok = ::fchmod(fd, mode) == 0 && write_all(fd, bytes) && ::fsync(fd) == 0;
    int e = errno;
    ok = ::close(fd) == 0 && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        e = ok ? errno : e;
        ::unlink(tmp.c_str());
        return Status(Code::IoError, fmt::format("{}: {}", path, std::strerror(e)));
    }
    return Status::ok();
}

Status write_secret(const std::string& path) {
    std::string secret(kSecretBytes, '\0');
    size_t got = 0;
    while (got < secret.size()) {
        ssize_t n = ::getrandom(secret.data() + got, secret.size() - got, 0);
        if (n < 0 && errno != EINTR) {
            return Status(Code::IoError, fmt::format("getrandom: {}", std::strerror(errno)));
        }
        got += n > 0 ? static_cast<size_t>(n) : 0;
    }
    return write_file_atomically(path, secret, 0600);
}

// Starts `daemon --config node.config` in its own session, output appended to node.log; in the
// network namespace n.netns if there is one (setns(2) in the child: only the network namespace
// changes, so the daemon's client socket and mount stay where the caller sees them, which
// `ip netns exec` with its private mount namespace would not allow).
Status start(Node& n, const std::string& daemon) {
    int netns_fd = -1;
    if (!n.netns.empty()) {
        std::string path = "/run/netns/" + n.netns;
        netns_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (netns_fd < 0) {
            return Status(Code::IoError, fmt::format("{}: {}", path, std::strerror(errno)));
        }
    }
    int log = ::open(n.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
        int e = errno;
        if (netns_fd >= 0) {
            ::close(netns_fd);
        }
        return Status(Code::IoError, fmt::format("{}: {}", n.log, std::strerror(e)));
    }
    time_t now = ::time(nullptr);
    char when[64] = "?";
    tm local{};
    if (::localtime_r(&now, &local) != nullptr) {
        ::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
    }
    (void)write_all(log,
                    fmt::format("=== vremote cluster up, {}: {} --config {}{}\n",
                                when,
                                daemon,
                                n.config,
                                n.netns.empty() ? "" : " (network namespace " + n.netns + ")"));
    // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
    std::string config_flag = "--config";
    std::vector<char*> argv = {const_cast<char*>(daemon.c_str()),
                               config_flag.data(),
                               const_cast<char*>(n.config.c_str()),
                               nullptr};
    std::string exec_failed = fmt::format("vremote: cannot execute {}: ", daemon);
    std::string setns_failed = fmt::format("vremote: cannot enter network namespace {}: ", n.netns);
    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        ::close(log);
        if (netns_fd >= 0) {
            ::close(netns_fd);
        }
        return Status(Code::IoError, fmt::format("fork: {}", std::strerror(e)));
    }
    if (pid == 0) {
        ::setsid();
        if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
            int e = errno;
            ::dup2(log, 2);
            ssize_t ignored = ::write(2, setns_failed.data(), setns_failed.size());
            const char* why = ::strerror(e);
            ignored = ::write(2, why, ::strlen(why));
            ignored = ::write(2, "\n", 1);
            (void)ignored;
            ::_exit(126);
        }
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) {
            ::dup2(null, 0);
        }
        ::dup2(log, 1);
        ::dup2(log, 2);
        if (::chdir(n.dir.c_str()) != 0) {
            // Stay where we are: the config's paths are absolute.
        }
        ::execv(daemon.c_str(), argv.data());
        int e = errno;
        ssize_t ignored = ::write(2, exec_failed.data(), exec_failed.size());
        const char* why = ::strerror(e);
        ignored = ::write(2, why, ::strlen(why));
        ignored = ::write(2, "\n", 1);
        (void)ignored;
        ::_exit(127);
    }
    ::close(log);
    if (netns_fd >= 0) {
        ::close(netns_fd);
    }
    n.pid = pid;
    n.child = true;
    return write_file_atomically(n.pid_file, fmt::format("{}\n", pid), 0644);
}

std::string indent(const std::string& text) {
    std::string out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out += "    " + line + "\n";
    }
    return out;
}

// The failure report for one node: what is wrong, then the tail of its log.
std::string node_report(const Node& n, const std::string& problem) {
    std::string tail = tail_of_file(n.log, kLogTailLines);
    return fmt::format("  {}: {}\n  last lines of {}:\n{}",
                       n.name,
                       problem,
                       n.log,
                       tail.empty() ? "    (empty)\n" : indent(tail));
}

}  // namespace

config::NodeConfig cluster_node_config(const std::string& dir,
                                       uint32_t k,
                                       const std::vector<config::Address>& listen,
                                       const Command& cmd) {
    Node self = node_at(dir, k);
    config::NodeConfig c;
    c.node.name = self.name;
    c.node.listen = listen[k - 1];
    c.node.data_dir = self.dir + "/data";
    c.node.client_socket = c.node.data_dir + "/vremoted.sock";
    if (cmd.mount) {
        c.node.mount = self.mnt;
    }
    c.cluster.secret_file = dir + "/secret";
    for (uint32_t j = 1; j <= listen.size(); ++j) {
        if (j != k) {
            c.peers.push_back(config::Peer{fmt::format("n{}", j), listen[j - 1]});
        }
    }
    c.exports.push_back(config::Export{self.name, self.dir + "/export", false});
    if (cmd.cache_size.has_value()) {
        c.cache.size_bytes = *cmd.cache_size;
    }
    c.test.delay_us = cmd.delay_us;
    c.test.loss_ppm = cmd.loss_ppm;
    c.test.reset_ppm = cmd.reset_ppm;
    c.test.loss_rto_us = cmd.loss_rto_us;
    c.test.fault = cmd.fault;
    if (cmd.lease_ms != 0) {
        c.timeouts.lease_ms = cmd.lease_ms;
        c.timeouts.grace_ms = cmd.lease_ms / 2;
        c.timeouts.failure_ms = cmd.lease_ms;
    }
    if (cmd.on_unreachable == "block") {
        c.timeouts.on_unreachable = config::OnUnreachable::Block;
    }
    c.cluster.encrypt = cmd.encrypt;
    return c;
}

std::vector<config::Address> loopback_addresses(const std::vector<uint16_t>& ports) {
    std::vector<config::Address> out;
    for (uint16_t p : ports) {
        out.push_back(config::Address{"127.0.0.1", p});
    }
    return out;
}

bool all_links_up(const std::vector<wire::NodeStatus>& nodes,
                  const std::string& self,
                  const std::vector<std::string>& names,
                  std::string* missing) {
    missing->clear();
    for (const std::string& name : names) {
        if (name == self) {
            continue;
        }
        auto it = std::find_if(
            nodes.begin(), nodes.end(), [&](const wire::NodeStatus& s) { return s.name == name; });
        std::string state;
        if (it == nodes.end()) {
            state = "absent";
        } else if (it->link != wire::LinkState::Up) {
            state = it->link == wire::LinkState::Down         ? "down"
                    : it->link == wire::LinkState::Connecting ? "connecting"
                                                              : "self?";
        }
        if (!state.empty()) {
            *missing += fmt::format("{}{} {}", missing->empty() ? "" : ", ", name, state);
        }
    }
    return missing->empty();
}

std::string tail_of_file(const std::string& path, size_t lines) {
    std::string text = read_text(path);
    if (text.size() > 64 * 1024) {
        text.erase(0, text.size() - 64 * 1024);
    }
    size_t at = text.size();
    if (at > 0 && text[at - 1] == '\n') {
        --at;
    }
    for (size_t n = 0; n < lines && at != std::string::npos && at > 0; ++n) {
        at = text.rfind('\n', at - 1);
    }
    return at == std::string::npos ? text : text.substr(at == 0 ? 0 : at + 1);
}

namespace {

void warn(const Io& io, std::string_view who, std::string_view text) {
    (void)write_all(io.err, fmt::format("vremote: {}: warning: {}\n", who, text));
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
    std::string out;
    for (const std::string& i : items) {
        out += (out.empty() ? "" : std::string(sep)) + i;
    }
    return out;
}

// Detaches the mounts left at DIR/nK/mnt, each with a warning; false (after saying why) if one
// could not be detached.
bool detach_leftover_mounts(const std::string& dir, const Io& io, std::string_view who) {
    std::vector<std::string> notes;
    Status s = detach_node_mounts(dir, &notes);
    for (const std::string& n : notes) {
        warn(io,
             who,
             fmt::format("{} was still mounted (its daemon did not unmount it: crashed or "
                         "killed); detached it lazily",
                         n));
    }
    if (!s.is_ok()) {
        (void)write_all(io.err, fmt::format("vremote: {}: {}\n", who, s.context()));
    }
    return s.is_ok();
}

// Deletes the namespaces DIR/netns records, then the record. `loud`: say what was deleted on
// stdout (cluster down), else as a warning (leftovers found by cluster up). False (after saying
// why) if something is left; a missing record is nothing to do.
bool remove_recorded_netns(const std::string& dir, const Io& io, std::string_view who, bool loud) {
    auto plan = load_netns_record(dir);
    if (!plan.is_ok()) {
        if (plan.status().code() == Code::NotFound) {
            return true;
        }
        (void)write_all(io.err,
                        fmt::format("vremote: {}: {}; delete the vr-* namespaces it meant by hand "
                                    "(ip netns del NAME), then the file\n",
                                    who,
                                    plan.status().context()));
        return false;
    }
    std::vector<std::string> removed;
    Status s = netns_destroy(plan.value(), &removed);
    if (!removed.empty()) {
        std::string text =
            fmt::format("deleted network namespaces {} (with their veths and the bridge {})",
                        join(removed),
                        plan.value().bridge);
        if (loud) {
            (void)write_all(io.out, text + "\n");
        } else {
            warn(io, who, "an earlier cluster here was not taken down: " + text);
        }
    }
    if (!s.is_ok()) {
        (void)write_all(io.err, fmt::format("vremote: {}: {}\n", who, s.context()));
        return false;
    }
    std::error_code ec;
    fs::remove(fmt::format("{}/{}", dir, kNetnsRecord), ec);
    return true;
}

std::string rate_text(uint64_t bits) {
    for (auto [scale, unit] : {std::pair<uint64_t, const char*>{1'000'000'000, "gbit"},
                               {1'000'000, "mbit"},
                               {1'000, "kbit"}}) {
        if (bits % scale == 0) {
            return fmt::format("{}{}", bits / scale, unit);
        }
    }
    return fmt::format("{}bit", bits);
}

// The canonical form of an existing cluster directory, or "" after printing why not.
std::string existing_dir(const Command& cmd, const Io& io, std::string_view who) {
    std::error_code ec;
    if (!fs::is_directory(cmd.dir, ec)) {
        (void)fail(io, fmt::format("{}: {} is not a directory", who, cmd.dir));
        return "";
    }
    std::string dir = fs::canonical(cmd.dir, ec).string();
    if (ec) {
        (void)fail(io, fmt::format("{}: {}: {}", who, cmd.dir, ec.message()));
        return "";
    }
    return dir;
}

// The netns plan of the cluster in `dir` and its node cmd.node, or nullopt after printing why.
std::optional<std::pair<NetnsPlan, NetnsNode>> netns_node(const std::string& dir,
                                                          const Command& cmd,
                                                          const Io& io,
                                                          std::string_view who) {
    auto plan = load_netns_record(dir);
    if (!plan.is_ok()) {
        (void)fail(io,
                   plan.status().code() == Code::NotFound
                       ? fmt::format("{}: {} holds no --netns cluster (there is no {}/{})",
                                     who,
                                     dir,
                                     dir,
                                     kNetnsRecord)
                       : fmt::format("{}: {}", who, plan.status().context()));
        return std::nullopt;
    }
    const NetnsNode* node = plan.value().node(cmd.node);
    if (node == nullptr) {
        (void)fail(io,
                   fmt::format("{}: the cluster in {} has no node n{} (it has {})",
                               who,
                               dir,
                               cmd.node,
                               plan.value().nodes.size()));
        return std::nullopt;
    }
    if (!netns_exists(node->netns)) {
        (void)fail(
            io,
            fmt::format(
                "{}: network namespace {} does not exist (is the cluster up?)", who, node->netns));
        return std::nullopt;
    }
    return std::make_pair(plan.value(), *node);
}

}  // namespace

int cluster_up(const Command& cmd, const Io& io) {
    constexpr std::string_view kWho = "cluster up";
    std::error_code ec;
    fs::create_directories(cmd.dir, ec);
    if (ec) {
        return fail(io, fmt::format("cluster up: cannot create {}: {}", cmd.dir, ec.message()));
    }
    const std::string dir = fs::canonical(cmd.dir, ec).string();
    if (ec) {
        return fail(io, fmt::format("cluster up: {}: {}", cmd.dir, ec.message()));
    }

    std::vector<Node> running;
    for (Node& n : nodes_with_pid_files(dir)) {
        if (runs_node(n.pid, n)) {
            running.push_back(std::move(n));
        }
    }
    if (!running.empty()) {
        std::string list;
        for (const Node& n : running) {
            list += fmt::format("{}{} (pid {})", list.empty() ? "" : ", ", n.name, n.pid);
        }
        return fail(io,
                    fmt::format("cluster up: {} already holds a running cluster: {}; run "
                                "`vremote cluster down --dir {}` first",
                                dir,
                                list,
                                dir));
    }
    if (cmd.netns && ::geteuid() != 0) {
        return fail(io, "cluster up: --netns needs root (it creates network namespaces)");
    }

    auto daemon = find_daemon(cmd);
    if (!daemon.is_ok()) {
        return fail(io, "cluster up: " + daemon.status().context());
    }
    // What an earlier cluster here left behind (no daemon of it runs, see above): its mounts
    // would be dead, its namespaces in the way.
    if (!detach_leftover_mounts(dir, io, kWho) || !remove_recorded_netns(dir, io, kWho, false)) {
        return fail(io, "cluster up: cannot clear what an earlier cluster left in " + dir);
    }

    std::vector<Node> nodes;
    for (uint32_t k = 1; k <= cmd.nodes; ++k) {
        nodes.push_back(node_at(dir, k));
    }
    // From here on every failure undoes what was done: the nodes, their mounts, the namespaces.
    bool netns_made = false;
    auto undo = [&]() {
        stop(nodes, std::chrono::seconds(5), io, kWho);
        detach_leftover_mounts(dir, io, kWho);
        if (netns_made) {
            remove_recorded_netns(dir, io, kWho, false);
        }
    };

    std::vector<config::Address> listen;
    std::optional<NetnsPlan> plan;
    if (cmd.netns) {
        auto p = netns_plan_for(dir, cmd.nodes);
        if (!p.is_ok()) {
            return fail(io, "cluster up: " + p.status().context());
        }
        plan = p.value();
        // Recorded before anything exists, so that cluster down finds it after any crash.
        std::string record = fmt::format("{}/{}", dir, kNetnsRecord);
        if (Status s = write_file_atomically(record, format_netns_record(*plan), 0644);
            !s.is_ok()) {
            return fail(io, "cluster up: " + s.context());
        }
        netns_made = true;
        if (Status s = netns_create(*plan); !s.is_ok()) {
            undo();
            return fail(io, "cluster up: cannot create the network namespaces: " + s.context());
        }
        for (const NetnsNode& n : plan->nodes) {
            listen.push_back(config::Address{n.address, kNetnsPort});
            nodes[n.k - 1].netns = n.netns;
        }
    } else {
        auto ports = pick_ports(cmd);
        if (!ports.is_ok()) {
            return fail(io, "cluster up: " + ports.status().context());
        }
        listen = loopback_addresses(ports.value());
    }
    if (Status s = write_secret(dir + "/secret"); !s.is_ok()) {
        undo();
        return fail(io, "cluster up: cannot write the secret: " + s.context());
    }

    std::vector<std::string> names;
    for (Node& n : nodes) {
        fs::create_directories(n.dir + "/export", ec);
        if (!ec) {
            fs::create_directories(n.dir + "/data", ec);
        }
        if (!ec && cmd.mount) {
            fs::create_directories(n.mnt, ec);
        }
        if (ec) {
            undo();
            return fail(io, fmt::format("cluster up: cannot create {}: {}", n.dir, ec.message()));
        }
        std::string text = config::to_toml(cluster_node_config(dir, n.k, listen, cmd));
        // The daemon will read this file: check it the same way before writing it.
        auto check = config::parse_config(text, n.config);
        if (!check.is_ok()) {
            undo();
            return fail(io,
                        fmt::format("cluster up: the config for {} would be invalid (a shorter "
                                    "--dir may help):\n{}",
                                    n.name,
                                    check.status().context()));
        }
        if (Status s = write_file_atomically(n.config, text, 0644); !s.is_ok()) {
            undo();
            return fail(io, "cluster up: " + s.context());
        }
        names.push_back(n.name);
    }

    auto give_up = [&](const std::string& report) {
        (void)write_all(io.err, report);
        (void)write_all(io.err, "vremote: cluster up: stopping the nodes it started\n");
        undo();
        return 1;
    };
    for (Node& n : nodes) {
        if (Status s = start(n, daemon.value()); !s.is_ok()) {
            return give_up(
                fmt::format("vremote: cluster up: cannot start {}: {}\n", n.name, s.context()));
        }
    }

    // Wait until every node's Status shows every other node Up, and every mount is there.
    std::vector<std::string> problem(nodes.size(), "its socket did not answer yet");
    std::vector<bool> up(nodes.size(), false);
    std::vector<bool> mounted(nodes.size(), !cmd.mount);
    std::vector<std::string> fstype(nodes.size());
    std::vector<std::unique_ptr<client::Session>> sessions(nodes.size());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cmd.wait_seconds);
    for (;;) {
        for (size_t i = 0; i < nodes.size(); ++i) {
            Node& n = nodes[i];
            std::string how;
            if (gone(n, &how)) {
                return give_up(
                    fmt::format("vremote: cluster up: {}'s vremoted {} before the "
                                "cluster came up\n{}",
                                n.name,
                                how.empty() ? "is not running" : how,
                                node_report(n, how.empty() ? "not running" : how)));
            }
            if (!mounted[i]) {
                std::vector<MountEntry> at = mounts_at(n.mnt);
                mounted[i] = !at.empty();
                if (mounted[i]) {
                    fstype[i] = at.back().fstype;
                }
            }
            if (up[i]) {
                if (!mounted[i]) {
                    problem[i] = fmt::format("nothing is mounted at {} yet", n.mnt);
                }
                continue;
            }
            if (sessions[i] == nullptr || !sessions[i]->is_open()) {
                auto s = client::Session::connect(n.dir + "/data/vremoted.sock",
                                                  std::chrono::seconds(2));
                if (!s.is_ok()) {
                    problem[i] = s.status().context();
                    continue;
                }
                sessions[i] = std::move(s.value());
            }
            auto status = sessions[i]->status();
            if (!status.is_ok()) {
                problem[i] = "Status failed: " + client::describe(status.status());
                continue;
            }
            std::string missing;
            up[i] = all_links_up(status.value(), n.name, names, &missing);
            problem[i] = up[i] ? fmt::format("nothing is mounted at {} yet", n.mnt)
                               : "links not up: " + missing;
        }
        bool ready = true;
        for (size_t i = 0; i < nodes.size(); ++i) {
            ready = ready && up[i] && mounted[i];
        }
        if (ready) {
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            std::string report =
                fmt::format("vremote: cluster up: not every link {}came up within {} s:\n",
                            cmd.mount ? "and mount " : "",
                            cmd.wait_seconds);
            bool mount_missing = false;
            for (size_t i = 0; i < nodes.size(); ++i) {
                if (!up[i] || !mounted[i]) {
                    report += node_report(nodes[i], problem[i]);
                }
                mount_missing = mount_missing || (up[i] && !mounted[i]);
            }
            if (mount_missing) {
                report +=
                    "vremote: cluster up: (a vremoted built without the FUSE mount never "
                    "mounts; --no-mount starts a cluster without mounts)\n";
            }
            return give_up(report);
        }
        pause_briefly();
    }

    std::string out = fmt::format(
        "cluster of {} node{} up in {}\n", nodes.size(), nodes.size() == 1 ? "" : "s", dir);
    out += fmt::format("{:<5} {:<21} {:<8} {}\n", "NODE", "LISTEN", "PID", "CONFIG");
    for (size_t i = 0; i < nodes.size(); ++i) {
        out += fmt::format("{:<5} {:<21} {:<8} {}\n",
                           nodes[i].name,
                           fmt::format("{}:{}", listen[i].host, listen[i].port),
                           nodes[i].pid,
                           nodes[i].config);
    }
    if (cmd.mount) {
        out += fmt::format("mounted: {}/nK/mnt ({})\n", dir, fstype[0]);
    }
    if (plan.has_value()) {
        out += fmt::format("network namespaces: {}-n1..n{} on bridge {} in {}; {} ({}/{})\n",
                           plan->bridge_netns.substr(0, plan->bridge_netns.size() - 3),
                           nodes.size(),
                           plan->bridge,
                           plan->bridge_netns,
                           plan->cidr(),
                           dir,
                           kNetnsRecord);
    }
    out += fmt::format("try: vremote status --config {}\nstop: vremote cluster down --dir {}\n",
                       nodes[0].config,
                       dir);
    (void)write_all(io.out, out);
    return 0;
}

int cluster_down(const Command& cmd, const Io& io) {
    constexpr std::string_view kWho = "cluster down";
    const std::string dir = existing_dir(cmd, io, kWho);
    if (dir.empty()) {
        return 1;
    }
    int rc = 0;
    std::error_code ec;
    std::vector<Node> nodes = nodes_with_pid_files(dir);
    std::vector<Node> live;
    for (Node& n : nodes) {
        if (runs_node(n.pid, n)) {
            live.push_back(std::move(n));
        } else {
            fs::remove(n.pid_file, ec);  // stale: that daemon is gone
        }
    }
    if (live.empty()) {
        (void)write_all(io.out, fmt::format("no running nodes in {}\n", dir));
    } else {
        size_t running = stop(live, std::chrono::seconds(cmd.wait_seconds), io, kWho);
        if (running > 0) {
            rc = fail(io, fmt::format("cluster down: {} node(s) still running", running));
        } else {
            std::string names;
            for (const Node& n : live) {
                names += fmt::format("{}{}", names.empty() ? "" : " ", n.name);
            }
            (void)write_all(io.out, fmt::format("stopped {}\n", names));
        }
    }
    // Whatever happened above: no dead mount and no namespace of this cluster may stay.
    if (!detach_leftover_mounts(dir, io, kWho)) {
        rc = 1;
    }
    if (!remove_recorded_netns(dir, io, kWho, true)) {
        rc = 1;
    }
    return rc;
}

int cluster_link(const Command& cmd, const Io& io) {
    constexpr std::string_view kWho = "cluster link";
    const std::string dir = existing_dir(cmd, io, kWho);
    if (dir.empty()) {
        return 1;
    }
    auto target = netns_node(dir, cmd, io, kWho);
    if (!target.has_value()) {
        return 1;
    }
    const NetnsNode& node = target->second;
    if (auto r = run_tool(link_command(node, cmd.link_up)); !r.is_ok()) {
        return fail(io, fmt::format("cluster link: {}", r.status().context()));
    }
    (void)write_all(io.out,
                    fmt::format("n{}: link {} ({} in network namespace {})\n",
                                node.k,
                                cmd.link_up ? "up" : "down",
                                node.veth,
                                node.netns));
    return 0;
}

int cluster_shape(const Command& cmd, const Io& io) {
    constexpr std::string_view kWho = "cluster shape";
    const std::string dir = existing_dir(cmd, io, kWho);
    if (dir.empty()) {
        return 1;
    }
    auto target = netns_node(dir, cmd, io, kWho);
    if (!target.has_value()) {
        return 1;
    }
    const auto& [plan, node] = *target;
    for (const std::vector<std::string>& argv : shape_commands(plan, node, cmd.rate_bits)) {
        auto r = run_tool(argv);
        if (!r.is_ok() && cmd.rate_bits == 0) {
            // `qdisc del` fails where there is nothing to delete: fine if no tbf is there.
            std::vector<std::string> show = {
                "tc", "-n", argv[2], "qdisc", "show", "dev", argv[6], "root"};
            auto shown = run_tool(show);
            if (shown.is_ok() && shown.value().find("tbf") == std::string::npos) {
                continue;
            }
        }
        if (!r.is_ok()) {
            return fail(io, fmt::format("cluster shape: {}", r.status().context()));
        }
    }
    (void)write_all(io.out,
                    cmd.rate_bits == 0 ? fmt::format("n{}: link no longer limited\n", node.k)
                                       : fmt::format("n{}: link limited to {} each way (tbf)\n",
                                                     node.k,
                                                     rate_text(cmd.rate_bits)));
    return 0;
}

}  // namespace vr::cli
