// Network namespaces for `vremote cluster up --netns` (docs/cluster.md): each node nK runs in a
// namespace of its own, joined by a veth pair to one bridge that lives in a further namespace, so
// that the cluster adds nothing to the host's network (no interface, address or route) and its
// traffic can reach nothing but its own nodes.
//
//   namespace vr-<tag>-br   the bridge vr-<tag>-br, with ports vr-<tag>-b1 .. vr-<tag>-bN
//   namespace vr-<tag>-nK   lo (up) and vr-<tag>-nK (the other end of port bK), 10.77.X.K/24
//
// <tag> is 6 hex digits derived from the cluster's directory, X (1-254) from the tag; both move on
// when they would collide (netns_plan_for). Every name fits an interface name (15 bytes).
//
// What was created is recorded in DIR/netns before it is created, so that `cluster down` removes
// exactly that (and only that), even after a crash half-way through `cluster up`.
//
// The pure parts (names, the subnet choice, the ip(8)/tc(8) command lines, the record) are
// separate from the parts that run commands, so that they can be unit tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vr::cli {

inline constexpr uint16_t kNetnsPort = 1104;  // every node listens on its own address, this port
inline constexpr size_t kIfNameMax = 15;      // IFNAMSIZ - 1
inline constexpr std::string_view kNetnsRecord = "netns";  // DIR/netns

struct NetnsNode {
    uint32_t k = 0;
    std::string netns;    // vr-<tag>-nK
    std::string veth;     // the node's end of its veth pair, in its namespace: vr-<tag>-nK
    std::string port;     // the other end, a port of the bridge: vr-<tag>-bK
    std::string address;  // 10.77.X.K

    friend bool operator==(const NetnsNode&, const NetnsNode&) = default;
};

struct NetnsPlan {
    std::string tag;
    uint8_t subnet = 0;        // X of 10.77.X.0/24
    std::string bridge_netns;  // vr-<tag>-br
    std::string bridge;        // the bridge device in it: vr-<tag>-br
    std::vector<NetnsNode> nodes;

    std::string cidr() const;  // "10.77.X.0/24"
    // Every namespace of the plan, the bridge's first.
    std::vector<std::string> namespaces() const;
    const NetnsNode* node(uint32_t k) const;

    friend bool operator==(const NetnsPlan&, const NetnsPlan&) = default;
};

// 6 lower-case hex digits from a hash of `dir` (the canonical path) and `salt`.
std::string netns_tag(std::string_view dir, uint32_t salt);

// The names and addresses of a cluster of `nodes` nodes (1-64) with this tag, in 10.77.subnet.0/24.
NetnsPlan plan_netns(std::string_view tag, uint8_t subnet, uint32_t nodes);

// An IPv4 route: network and mask in host byte order.
struct Route {
    uint32_t network = 0;
    uint32_t mask = 0;
};
// The routes of /proc/net/route's text (the main table of the reader's namespace).
std::vector<Route> parse_proc_net_route(std::string_view text);

// X for 10.77.X.0/24: derived from the tag, then the next X (wrapping within 1-254) whose /24
// overlaps none of `routes` (default routes aside). nullopt if none is clear.
std::optional<uint8_t> choose_subnet(std::string_view tag, const std::vector<Route>& routes);

// The commands that build the plan, in order (argv lists; argv[0] is "ip").
std::vector<std::vector<std::string>> netns_setup_commands(const NetnsPlan& plan);
// `ip -n NETNS link set VETH up|down`.
std::vector<std::string> link_command(const NetnsNode& node, bool up);
// tc commands that limit both directions of node's link to rate_bits (tbf on the node's veth and
// on the bridge's port); with rate_bits 0, the commands that remove it.
std::vector<std::vector<std::string>> shape_commands(const NetnsPlan& plan,
                                                     const NetnsNode& node,
                                                     uint64_t rate_bits);

// "100mbit" -> 100'000'000 (tc's decimal units bit, kbit, mbit, gbit), within 8kbit..100gbit.
std::optional<uint64_t> parse_rate(std::string_view text);

// DIR/netns: a comment, then `tag T`, `subnet X`, `bridge NETNS DEVICE`, one
// `node K NETNS VETH PORT ADDRESS` per node. parse_netns_record refuses a record whose names are
// not the plan_netns names of its tag and subnet: cluster down deletes only what it names.
std::string format_netns_record(const NetnsPlan& plan);
Result<NetnsPlan> parse_netns_record(std::string_view text);

// ---- Effects ----

// DIR/netns; NotFound if the cluster has none.
Result<NetnsPlan> load_netns_record(const std::string& dir);

// Whether the network namespace NAME exists (/run/netns/NAME).
bool netns_exists(const std::string& name);

// Runs argv (argv[0] looked up in PATH, then /usr/sbin and /sbin) with stdin from /dev/null,
// killing it after `timeout`. Its stdout if it exits with 0; otherwise an error with the command
// line and its stderr.
Result<std::string> run_tool(const std::vector<std::string>& argv,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A plan for the cluster in `dir` (canonical) of `nodes` nodes: the first tag (salt 0, 1, ...)
// none of whose namespaces exist, and a subnet clear of this namespace's routes.
Result<NetnsPlan> netns_plan_for(const std::string& dir, uint32_t nodes);

// Runs the setup commands; stops at the first failure.
Status netns_create(const NetnsPlan& plan);

// Deletes every namespace of the plan that exists (the veths and the bridge go with them); the
// names deleted in *removed. An error names those that could not be deleted.
Status netns_destroy(const NetnsPlan& plan, std::vector<std::string>* removed);

}  // namespace vr::cli
