#include "netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace vr::cli {

namespace {

constexpr std::string_view kPrefix = "vr-";
constexpr size_t kTagDigits = 6;
constexpr uint32_t kTagSalts = 64;
constexpr uint64_t kRateMin = 8'000;
constexpr uint64_t kRateMax = 100'000'000'000;
constexpr uint64_t kBurstMin = 32 * 1024;  // bytes
constexpr size_t kToolOutputMax = 1 << 20;

uint64_t fnv1a(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ull) {
    for (char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

bool is_tag(std::string_view tag) {
    return tag.size() == kTagDigits && std::all_of(tag.begin(), tag.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
            ++i;
        }
        size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
            ++i;
        }
        if (i > start) {
            out.push_back(line.substr(start, i - start));
        }
    }
    return out;
}

template <typename T>
std::optional<T> number(std::string_view text, int base = 10) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return value;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool executable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

// argv[0] as given if it has a slash, else the first match in PATH, /usr/sbin, /sbin.
std::optional<std::string> find_program(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        return executable(name) ? std::optional<std::string>(name) : std::nullopt;
    }
    const char* path = std::getenv("PATH");
    std::string dirs = fmt::format("{}:/usr/sbin:/sbin:/usr/bin:/bin", path != nullptr ? path : "");
    std::string_view rest = dirs;
    while (!rest.empty()) {
        size_t colon = rest.find(':');
        std::string_view d = rest.substr(0, colon);
        rest = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
        if (d.empty()) {
            continue;
        }
        std::string candidate = fmt::format("{}/{}", d, name);
        if (executable(candidate)) {
            return candidate;
        }
    }
    return std::nullopt;
}

std::string command_line(const std::vector<std::string>& argv) {
    std::string line;
    for (const std::string& a : argv) {
        line += (line.empty() ? "" : " ") + a;
    }
    return line;
}

}  // namespace

std::string NetnsPlan::cidr() const {
    return fmt::format("10.77.{}.0/24", subnet);
}

std::vector<std::string> NetnsPlan::namespaces() const {
    std::vector<std::string> out = {bridge_netns};
    for (const NetnsNode& n : nodes) {
        out.push_back(n.netns);
    }
    return out;
}

const NetnsNode* NetnsPlan::node(uint32_t k) const {
    for (const NetnsNode& n : nodes) {
        if (n.k == k) {
            return &n;
        }
    }
    return nullptr;
}

std::string netns_tag(std::string_view dir, uint32_t salt) {
    uint64_t h = fnv1a(dir);
    if (salt > 0) {
        h = fnv1a(fmt::format("#{}", salt), h);
    }
    return fmt::format("{:06x}", (h ^ (h >> 32)) & 0xffffff);
}

NetnsPlan plan_netns(std::string_view tag, uint8_t subnet, uint32_t nodes) {
    NetnsPlan p;
    p.tag = std::string(tag);
    p.subnet = subnet;
    p.bridge_netns = fmt::format("{}{}-br", kPrefix, tag);
    p.bridge = p.bridge_netns;
    for (uint32_t k = 1; k <= nodes; ++k) {
        NetnsNode n;
        n.k = k;
        n.netns = fmt::format("{}{}-n{}", kPrefix, tag, k);
        n.veth = n.netns;
        n.port = fmt::format("{}{}-b{}", kPrefix, tag, k);
        n.address = fmt::format("10.77.{}.{}", subnet, k);
        p.nodes.push_back(std::move(n));
    }
    return p;
}

std::vector<Route> parse_proc_net_route(std::string_view text) {
    std::vector<Route> routes;
    std::istringstream in{std::string(text)};
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        auto w = words(line);
        if (w.size() < 8) {
            continue;
        }
        auto dest = number<uint32_t>(w[1], 16);
        auto mask = number<uint32_t>(w[7], 16);
        if (dest.has_value() && mask.has_value()) {
            // The kernel prints the network-order words as native integers.
            routes.push_back(Route{ntohl(*dest), ntohl(*mask)});
        }
    }
    return routes;
}

std::optional<uint8_t> choose_subnet(std::string_view tag, const std::vector<Route>& routes) {
    uint32_t start = static_cast<uint32_t>(fnv1a(tag) % 254);
    for (uint32_t i = 0; i < 254; ++i) {
        auto x = static_cast<uint8_t>((start + i) % 254 + 1);
        uint32_t net = (10u << 24) | (77u << 16) | (uint32_t{x} << 8);
        bool clear = std::none_of(routes.begin(), routes.end(), [&](const Route& r) {
            if (r.mask == 0) {
                return false;  // a default route overlaps everything and routes nothing of ours
            }
            uint32_t m = r.mask & 0xffffff00u;
            return (net & m) == (r.network & m);
        });
        if (clear) {
            return x;
        }
    }
    return std::nullopt;
}

std::vector<std::vector<std::string>> netns_setup_commands(const NetnsPlan& plan) {
    const std::string& br = plan.bridge_netns;
    std::vector<std::vector<std::string>> c = {
        {"ip", "netns", "add", br},
        {"ip", "-n", br, "link", "set", "lo", "up"},
        {"ip", "-n", br, "link", "add", plan.bridge, "type", "bridge"},
        {"ip", "-n", br, "link", "set", plan.bridge, "up"},
    };
    for (const NetnsNode& n : plan.nodes) {
        c.push_back({"ip", "netns", "add", n.netns});
        c.push_back({"ip", "-n", n.netns, "link", "set", "lo", "up"});
        // Both ends are created in their namespaces: neither appears in the caller's.
        c.push_back({"ip",
                     "link",
                     "add",
                     n.veth,
                     "netns",
                     n.netns,
                     "type",
                     "veth",
                     "peer",
                     "name",
                     n.port,
                     "netns",
                     br});
        c.push_back({"ip", "-n", br, "link", "set", n.port, "master", plan.bridge, "up"});
        c.push_back({"ip", "-n", n.netns, "addr", "add", n.address + "/24", "dev", n.veth});
        c.push_back({"ip", "-n", n.netns, "link", "set", n.veth, "up"});
    }
    return c;
}

std::vector<std::string> link_command(const NetnsNode& node, bool up) {
    return {"ip", "-n", node.netns, "link", "set", node.veth, up ? "up" : "down"};
}

std::vector<std::vector<std::string>> shape_commands(const NetnsPlan& plan,
                                                     const NetnsNode& node,
                                                     uint64_t rate_bits) {
    std::vector<std::pair<std::string, std::string>> ends = {{node.netns, node.veth},
                                                             {plan.bridge_netns, node.port}};
    std::vector<std::vector<std::string>> c;
    for (const auto& [netns, dev] : ends) {
        if (rate_bits == 0) {
            c.push_back({"tc", "-n", netns, "qdisc", "del", "dev", dev, "root"});
            continue;
        }
        // tbf needs a bucket of at least rate/HZ: 5 ms of traffic covers HZ >= 200.
        uint64_t burst = std::max(rate_bits / 8 / 200, kBurstMin);
        c.push_back({"tc",
                     "-n",
                     netns,
                     "qdisc",
                     "replace",
                     "dev",
                     dev,
                     "root",
                     "tbf",
                     "rate",
                     fmt::format("{}bit", rate_bits),
                     "burst",
                     std::to_string(burst),
                     "latency",
                     "100ms"});
    }
    return c;
}

std::optional<uint64_t> parse_rate(std::string_view text) {
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        ++digits;
    }
    auto n = number<uint64_t>(text.substr(0, digits));
    std::string_view unit = text.substr(digits);
    uint64_t scale = unit == "bit"    ? 1
                     : unit == "kbit" ? 1'000
                     : unit == "mbit" ? 1'000'000
                     : unit == "gbit" ? 1'000'000'000
                                      : 0;
    if (!n.has_value() || scale == 0 || *n > kRateMax / scale) {
        return std::nullopt;
    }
    uint64_t bits = *n * scale;
    if (bits < kRateMin || bits > kRateMax) {
        return std::nullopt;
    }
    return bits;
}

std::string format_netns_record(const NetnsPlan& plan) {
    std::string out =
        "# Network namespaces created by `vremote cluster up --netns` for this cluster; "
        "`vremote cluster down` deletes them.\n";
    out += fmt::format(
        "tag {}\nsubnet {}\nbridge {} {}\n", plan.tag, plan.subnet, plan.bridge_netns, plan.bridge);
    for (const NetnsNode& n : plan.nodes) {
        out += fmt::format("node {} {} {} {} {}\n", n.k, n.netns, n.veth, n.port, n.address);
    }
    return out;
}

Result<NetnsPlan> parse_netns_record(std::string_view text) {
    NetnsPlan got;
    bool has_tag = false;
    bool has_subnet = false;
    std::istringstream in{std::string(text)};
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        auto w = words(line);
        if (w.empty() || w[0].starts_with("#")) {
            continue;
        }
        auto bad = [&](std::string_view why) {
            return Status(Code::Corrupt, fmt::format("line {}: {}: \"{}\"", line_no, why, line));
        };
        if (w[0] == "tag" && w.size() == 2 && is_tag(w[1]) && !has_tag) {
            got.tag = std::string(w[1]);
            has_tag = true;
        } else if (w[0] == "subnet" && w.size() == 2 && !has_subnet) {
            auto x = number<uint8_t>(w[1]);
            if (!x.has_value() || *x == 0 || *x == 255) {
                return bad("subnet is not 1-254");
            }
            got.subnet = *x;
            has_subnet = true;
        } else if (w[0] == "bridge" && w.size() == 3) {
            got.bridge_netns = std::string(w[1]);
            got.bridge = std::string(w[2]);
        } else if (w[0] == "node" && w.size() == 6) {
            auto k = number<uint32_t>(w[1]);
            if (!k.has_value() || *k != got.nodes.size() + 1 || *k > 64) {
                return bad("nodes must be numbered 1, 2, ... up to 64");
            }
            got.nodes.push_back(NetnsNode{
                *k, std::string(w[2]), std::string(w[3]), std::string(w[4]), std::string(w[5])});
        } else {
            return bad("not a record line");
        }
    }
    if (!has_tag || !has_subnet) {
        return Status(Code::Corrupt, "no tag or no subnet line");
    }
    // Only the names this program would have made: nothing else is ever deleted.
    NetnsPlan want = plan_netns(got.tag, got.subnet, static_cast<uint32_t>(got.nodes.size()));
    if (got != want) {
        return Status(
            Code::Corrupt,
            fmt::format("the names are not those of tag {} and subnet {}", got.tag, got.subnet));
    }
    return got;
}

Result<NetnsPlan> load_netns_record(const std::string& dir) {
    std::string path = fmt::format("{}/{}", dir, kNetnsRecord);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return Status(errno == ENOENT ? Code::NotFound : Code::IoError,
                      fmt::format("{}: {}", path, std::strerror(errno)));
    }
    auto plan = parse_netns_record(read_text(path));
    if (!plan.is_ok()) {
        return plan.status().with_context(path + ": ");
    }
    return plan;
}

bool netns_exists(const std::string& name) {
    struct stat st {};
    return ::lstat(fmt::format("/run/netns/{}", name).c_str(), &st) == 0;
}

Result<std::string> run_tool(const std::vector<std::string>& argv,
                             std::chrono::milliseconds timeout) {
    if (argv.empty()) {
        return Status(Code::InvalidArgument, "no command");
    }
    auto program = find_program(argv[0]);
    if (!program.has_value()) {
        return Status(
            Code::NotFound,
            fmt::format("{}: not found in PATH, /usr/sbin or /sbin (install iproute2)", argv[0]));
    }
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        return Status(Code::IoError, fmt::format("pipe: {}", std::strerror(errno)));
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
        int e = errno;
        ::close(out[0]);
        ::close(out[1]);
        return Status(Code::IoError, fmt::format("pipe: {}", std::strerror(e)));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, program->c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(out[0]);
        ::close(err[0]);
        return Status(Code::IoError, fmt::format("{}: {}", *program, std::strerror(rc)));
    }
    std::string text[2];
    bool open[2] = {true, true};
    int fds[2] = {out[0], err[0]};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    while (open[0] || open[1]) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p[2];
        nfds_t n = 0;
        int which[2];
        for (int i = 0; i < 2; ++i) {
            if (open[i]) {
                which[n] = i;
                p[n++] = pollfd{fds[i], POLLIN, 0};
            }
        }
        if (::poll(p, n, static_cast<int>(std::min<int64_t>(left.count(), 1000))) < 0 &&
            errno != EINTR) {
            break;
        }
        for (nfds_t j = 0; j < n; ++j) {
            if (p[j].revents == 0) {
                continue;
            }
            int i = which[j];
            char buf[4096];
            ssize_t r = ::read(fds[i], buf, sizeof buf);
            if (r > 0) {
                if (text[i].size() < kToolOutputMax) {
                    text[i].append(buf, static_cast<size_t>(r));
                }
            } else if (r == 0 || errno != EINTR) {
                open[i] = false;
            }
        }
    }
    ::close(out[0]);
    ::close(err[0]);
    if (timed_out) {
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        return Status(
            Code::Timeout,
            fmt::format("`{}` did not finish within {} ms", command_line(argv), timeout.count()));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string why = text[1];
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
            why.pop_back();
        }
        return Status(Code::IoError,
                      fmt::format("`{}` failed ({}){}{}",
                                  command_line(argv),
                                  WIFEXITED(status) ? fmt::format("exit {}", WEXITSTATUS(status))
                                                    : fmt::format("signal {}", WTERMSIG(status)),
                                  why.empty() ? "" : ": ",
                                  why));
    }
    return text[0];
}

Result<NetnsPlan> netns_plan_for(const std::string& dir, uint32_t nodes) {
    std::vector<Route> routes = parse_proc_net_route(read_text("/proc/net/route"));
    for (uint32_t salt = 0; salt < kTagSalts; ++salt) {
        std::string tag = netns_tag(dir, salt);
        NetnsPlan names = plan_netns(tag, 1, nodes);
        std::vector<std::string> all = names.namespaces();
        // Also the node namespaces a larger cluster with this tag would have.
        for (uint32_t k = nodes + 1; k <= 64; ++k) {
            all.push_back(fmt::format("{}{}-n{}", kPrefix, tag, k));
        }
        if (std::any_of(all.begin(), all.end(), netns_exists)) {
            continue;
        }
        auto subnet = choose_subnet(tag, routes);
        if (!subnet.has_value()) {
            return Status(Code::NoSpace, "every 10.77.X.0/24 overlaps a route of this host");
        }
        return plan_netns(tag, *subnet, nodes);
    }
    return Status(Code::Exists,
                  fmt::format("the namespaces of {} tags for {} already exist", kTagSalts, dir));
}

Status netns_create(const NetnsPlan& plan) {
    for (const std::vector<std::string>& argv : netns_setup_commands(plan)) {
        auto r = run_tool(argv);
        if (!r.is_ok()) {
            return r.status();
        }
    }
    return Status::ok();
}

Status netns_destroy(const NetnsPlan& plan, std::vector<std::string>* removed) {
    std::string failed;
    // The nodes first: each takes its veth pair with it, then the bridge's namespace.
    std::vector<std::string> names = plan.namespaces();
    std::rotate(names.begin(), names.begin() + 1, names.end());
    for (const std::string& name : names) {
        if (!netns_exists(name)) {
            continue;
        }
        auto r = run_tool({"ip", "netns", "del", name});
        if (r.is_ok() && !netns_exists(name)) {
            if (removed != nullptr) {
                removed->push_back(name);
            }
        } else {
            failed += fmt::format(
                "\n  {}: {}", name, r.is_ok() ? std::string("still exists") : r.status().context());
        }
    }
    if (!failed.empty()) {
        return Status(Code::IoError, "cannot delete network namespace(s):" + failed);
    }
    return Status::ok();
}

}  // namespace vr::cli
