// The parts of `vremote cluster` that need no daemon: the configs of --netns and mounting
// clusters, the names, subnet and ip(8)/tc(8) commands of --netns (netns.h), the DIR/netns
// record, and mount detection and detaching (mounts.h) against tmpfs mounts and a dead FUSE
// mount that the tests make themselves (as root).
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "args.h"
#include "cluster.h"
#include "config/config.h"
#include "mounts.h"
#include "netns.h"

namespace vr::cli {
namespace {

namespace fs = std::filesystem;

Command parsed(std::vector<std::string_view> args) {
    auto r = parse_args(args);
    EXPECT_TRUE(r.is_ok()) << r.status().context();
    return r.is_ok() ? r.value() : Command{};
}

// A fresh directory with a cluster secret, removed at the end.
class TempDir {
  public:
    TempDir() {
        std::string d = ::testing::TempDir() + "vr_cluster_net_test.XXXXXX";
        EXPECT_NE(::mkdtemp(d.data()), nullptr);
        path_ = fs::canonical(d).string();
        std::ofstream(path_ + "/secret") << std::string(32, 's');
        fs::permissions(path_ + "/secret", fs::perms::owner_read | fs::perms::owner_write);
    }
    ~TempDir() {
        std::vector<std::string> notes;
        detach_node_mounts(path_, &notes).ignore();  // never recurse into a mount
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

TEST(ClusterNetConfig, NetnsNodesListenOnTheirOwnAddressesAndMountUnderTheirDirectory) {
    TempDir d;
    const std::string& dir = d.path();
    Command cmd = parsed({"cluster", "up", "--nodes", "3", "--dir", dir, "--netns"});
    NetnsPlan plan = plan_netns("0a1b2c", 42, 3);
    std::vector<config::Address> listen;
    for (const NetnsNode& n : plan.nodes) {
        listen.push_back({n.address, kNetnsPort});
    }
    for (uint32_t k = 1; k <= 3; ++k) {
        fs::create_directories(dir + fmt::format("/n{}/export", k));
        config::NodeConfig c = cluster_node_config(dir, k, listen, cmd);
        // The daemon must accept it: parse it back from TOML with every file check on.
        auto back = config::parse_config(config::to_toml(c), "generated.toml");
        ASSERT_TRUE(back.is_ok()) << back.status().context();
        EXPECT_EQ(back.value(), c);
        EXPECT_EQ(c.node.listen, (config::Address{fmt::format("10.77.42.{}", k), 1104}));
        EXPECT_EQ(c.node.mount, fmt::format("{}/n{}/mnt", dir, k));
        EXPECT_EQ(c.node.client_socket, fmt::format("{}/n{}/data/vremoted.sock", dir, k));
        ASSERT_EQ(c.peers.size(), 2u);
        for (const config::Peer& p : c.peers) {
            uint32_t j = static_cast<uint32_t>(p.name[1] - '0');
            EXPECT_NE(j, k);
            EXPECT_EQ(p.address, (config::Address{fmt::format("10.77.42.{}", j), 1104}));
        }
    }
    Command no_mount = parsed({"cluster", "up", "--nodes", "3", "--dir", dir, "--no-mount"});
    config::NodeConfig c = cluster_node_config(dir, 2, listen, no_mount);
    EXPECT_FALSE(c.node.mount.has_value());
    EXPECT_EQ(config::to_toml(c).find("mount"), std::string::npos);
}

TEST(ClusterNetNames, EveryNameFitsAnInterfaceAndBelongsToTheCluster) {
    std::string tag = netns_tag("/tmp/vr-itest-abcdef", 0);
    ASSERT_EQ(tag.size(), 6u);
    EXPECT_EQ(tag.find_first_not_of("0123456789abcdef"), std::string::npos) << tag;
    EXPECT_EQ(netns_tag("/tmp/vr-itest-abcdef", 0), tag);  // the same directory, the same tag
    EXPECT_NE(netns_tag("/tmp/vr-itest-abcdef", 1), tag);  // a salt moves it
    EXPECT_NE(netns_tag("/tmp/vr-itest-abcdeg", 0), tag);

    NetnsPlan plan = plan_netns(tag, 200, 64);
    EXPECT_EQ(plan.cidr(), "10.77.200.0/24");
    EXPECT_EQ(plan.bridge_netns, "vr-" + tag + "-br");
    std::set<std::string> namespaces;
    std::set<std::string> devices = {plan.bridge};
    for (const std::string& name : plan.namespaces()) {
        EXPECT_LE(name.size(), kIfNameMax) << name;
        EXPECT_TRUE(name.starts_with("vr-" + tag + "-")) << name;
        EXPECT_TRUE(namespaces.insert(name).second) << name;
    }
    EXPECT_EQ(namespaces.size(), 65u);
    for (const NetnsNode& n : plan.nodes) {
        EXPECT_EQ(n.address, fmt::format("10.77.200.{}", n.k));
        for (const std::string& dev : {n.veth, n.port}) {
            EXPECT_LE(dev.size(), kIfNameMax) << dev;
            EXPECT_TRUE(dev.starts_with("vr-" + tag + "-")) << dev;
        }
        EXPECT_TRUE(devices.insert(n.port).second) << n.port;  // ports share the bridge's ns
    }
    EXPECT_EQ(plan.node(64)->netns, "vr-" + tag + "-n64");
    EXPECT_EQ(plan.node(65), nullptr);
    EXPECT_EQ(plan.node(0), nullptr);

    // Directories like the test harness's spread over the tags.
    std::set<std::string> tags;
    for (int i = 0; i < 300; ++i) {
        tags.insert(netns_tag(fmt::format("/tmp/vr-itest-{:06d}", i * 7919), 0));
    }
    EXPECT_EQ(tags.size(), 300u);
}

TEST(ClusterNetSubnet, AvoidsEveryRouteOfTheHostButTheDefault) {
    // /proc/net/route of a host with a default route, 192.0.2.0/24 and 10.77.0.0/16.
    std::string text =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "br0\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
    std::vector<Route> routes = parse_proc_net_route(text);
    ASSERT_EQ(routes.size(), 3u);
    EXPECT_EQ(routes[1].network, 0xC0000200u);
    EXPECT_EQ(routes[1].mask, 0xFFFFFF00u);
    EXPECT_EQ(routes[2].network, 0x0A4D0000u);

    std::string tag = "1234ab";
    auto free_x = choose_subnet(tag, {routes[0], routes[1]});
    ASSERT_TRUE(free_x.has_value());  // the default route does not count
    EXPECT_GE(*free_x, 1);
    EXPECT_LE(*free_x, 254);
    EXPECT_EQ(choose_subnet(tag, {}), free_x);  // derived from the tag alone

    // That /24 taken by a route: the next one.
    uint32_t taken = (10u << 24) | (77u << 16) | (uint32_t{*free_x} << 8);
    auto moved = choose_subnet(tag, {{taken, 0xFFFFFF00u}});
    ASSERT_TRUE(moved.has_value());
    EXPECT_NE(moved, free_x);
    // A host route inside it counts too.
    EXPECT_NE(choose_subnet(tag, {{taken | 5, 0xFFFFFFFFu}}), free_x);
    // All of 10.77/16 (or 10/8) routed elsewhere: no subnet.
    EXPECT_FALSE(choose_subnet(tag, routes).has_value());
    EXPECT_FALSE(choose_subnet(tag, {{0x0A000000u, 0xFF000000u}}).has_value());
}

TEST(ClusterNetCommands, BuildTheBridgeThenEachNode) {
    NetnsPlan plan = plan_netns("abc123", 9, 2);
    using V = std::vector<std::string>;
    std::vector<V> want = {
        {"ip", "netns", "add", "vr-abc123-br"},
        {"ip", "-n", "vr-abc123-br", "link", "set", "lo", "up"},
        {"ip", "-n", "vr-abc123-br", "link", "add", "vr-abc123-br", "type", "bridge"},
        {"ip", "-n", "vr-abc123-br", "link", "set", "vr-abc123-br", "up"},
    };
    for (int k = 1; k <= 2; ++k) {
        std::string ns = fmt::format("vr-abc123-n{}", k);
        std::string port = fmt::format("vr-abc123-b{}", k);
        want.push_back({"ip", "netns", "add", ns});
        want.push_back({"ip", "-n", ns, "link", "set", "lo", "up"});
        want.push_back({"ip",
                        "link",
                        "add",
                        ns,
                        "netns",
                        ns,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        port,
                        "netns",
                        "vr-abc123-br"});
        want.push_back(
            {"ip", "-n", "vr-abc123-br", "link", "set", port, "master", "vr-abc123-br", "up"});
        want.push_back({"ip", "-n", ns, "addr", "add", fmt::format("10.77.9.{}/24", k), "dev", ns});
        want.push_back({"ip", "-n", ns, "link", "set", ns, "up"});
    }
    EXPECT_EQ(netns_setup_commands(plan), want);

    EXPECT_EQ(link_command(plan.nodes[1], false),
              (V{"ip", "-n", "vr-abc123-n2", "link", "set", "vr-abc123-n2", "down"}));
    EXPECT_EQ(link_command(plan.nodes[0], true),
              (V{"ip", "-n", "vr-abc123-n1", "link", "set", "vr-abc123-n1", "up"}));

    // Both directions: the node's end and the bridge's port; the bucket at least 32 KiB.
    EXPECT_EQ(shape_commands(plan, plan.nodes[0], 10'000'000),
              (std::vector<V>{{"tc",
                               "-n",
                               "vr-abc123-n1",
                               "qdisc",
                               "replace",
                               "dev",
                               "vr-abc123-n1",
                               "root",
                               "tbf",
                               "rate",
                               "10000000bit",
                               "burst",
                               "32768",
                               "latency",
                               "100ms"},
                              {"tc",
                               "-n",
                               "vr-abc123-br",
                               "qdisc",
                               "replace",
                               "dev",
                               "vr-abc123-b1",
                               "root",
                               "tbf",
                               "rate",
                               "10000000bit",
                               "burst",
                               "32768",
                               "latency",
                               "100ms"}}));
    // 10 Gbit/s: 5 ms worth of bytes.
    EXPECT_EQ(shape_commands(plan, plan.nodes[0], 10'000'000'000)[0][12], "6250000");
    EXPECT_EQ(shape_commands(plan, plan.nodes[1], 0),
              (std::vector<V>{
                  {"tc", "-n", "vr-abc123-n2", "qdisc", "del", "dev", "vr-abc123-n2", "root"},
                  {"tc", "-n", "vr-abc123-br", "qdisc", "del", "dev", "vr-abc123-b2", "root"}}));

    EXPECT_EQ(parse_rate("100mbit"), 100'000'000u);
    EXPECT_EQ(parse_rate("8kbit"), 8'000u);
    EXPECT_EQ(parse_rate("100gbit"), 100'000'000'000u);
    EXPECT_EQ(parse_rate("2500000bit"), 2'500'000u);
    for (std::string_view bad : {"",
                                 "100",
                                 "mbit",
                                 "7kbit",
                                 "101gbit",
                                 "1.5gbit",
                                 "10MB",
                                 "-1mbit",
                                 "99999999999999999999gbit"}) {
        EXPECT_FALSE(parse_rate(bad).has_value()) << bad;
    }
}

TEST(ClusterNetRecord, RoundTripsAndNamesNothingButTheCluster) {
    NetnsPlan plan = plan_netns("00ff00", 17, 3);
    std::string text = format_netns_record(plan);
    EXPECT_NE(text.find("\nnode 2 vr-00ff00-n2 vr-00ff00-n2 vr-00ff00-b2 10.77.17.2\n"),
              std::string::npos)
        << text;
    auto back = parse_netns_record(text);
    ASSERT_TRUE(back.is_ok()) << back.status().context();
    EXPECT_EQ(back.value(), plan);

    // A record that would make cluster down delete anything else is refused.
    auto replace = [&](std::string_view from, std::string_view to) {
        std::string t = text;
        t.replace(t.find(from), from.size(), to);
        return t;
    };
    for (const std::string& bad : {replace("node 2 vr-00ff00-n2 ", "node 2 docker0 "),
                                   replace("bridge vr-00ff00-br", "bridge vr-00ff01-br"),
                                   replace("tag 00ff00", "tag 00ff0"),
                                   replace("tag 00ff00", "tag ../../x"),
                                   replace("subnet 17", "subnet 0"),
                                   replace("node 2 ", "node 3 "),
                                   replace("node 1 ", "frob 1 "),
                                   replace("tag 00ff00\n", ""),
                                   replace("10.77.17.3", "10.77.18.3")}) {
        auto r = parse_netns_record(bad);
        EXPECT_FALSE(r.is_ok()) << bad;
        if (!r.is_ok()) {
            EXPECT_EQ(r.status().code(), Code::Corrupt);
        }
    }
    // A crash before any node line was written: the bridge alone.
    auto bridge_only =
        parse_netns_record("tag 00ff00\nsubnet 17\nbridge vr-00ff00-br vr-00ff00-br\n");
    ASSERT_TRUE(bridge_only.is_ok()) << bridge_only.status().context();
    EXPECT_EQ(bridge_only.value().namespaces(), std::vector<std::string>{"vr-00ff00-br"});
}

TEST(ClusterNetRecord, LoadsFromTheClusterDirectory) {
    TempDir d;
    auto none = load_netns_record(d.path());
    EXPECT_EQ(none.status().code(), Code::NotFound);
    NetnsPlan plan = plan_netns("beef01", 3, 2);
    std::ofstream(d.path() + "/netns") << format_netns_record(plan);
    auto loaded = load_netns_record(d.path());
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().context();
    EXPECT_EQ(loaded.value(), plan);
    std::ofstream(d.path() + "/netns") << "garbage\n";
    auto bad = load_netns_record(d.path());
    EXPECT_EQ(bad.status().code(), Code::Corrupt);
    EXPECT_NE(bad.status().context().find(d.path() + "/netns: "), std::string::npos);
}

TEST(ClusterNetTools, RunToolReportsOutputFailuresAndTimeouts) {
    auto ok = run_tool({"sh", "-c", "echo out; echo err >&2"});
    ASSERT_TRUE(ok.is_ok()) << ok.status().context();
    EXPECT_EQ(ok.value(), "out\n");
    auto failed = run_tool({"sh", "-c", "echo why >&2; exit 3"});
    ASSERT_FALSE(failed.is_ok());
    EXPECT_NE(failed.status().context().find("failed (exit 3): why"), std::string::npos)
        << failed.status().context();
    auto slow = run_tool({"sleep", "30"}, std::chrono::milliseconds(200));
    EXPECT_EQ(slow.status().code(), Code::Timeout);
    EXPECT_EQ(run_tool({"vr-no-such-tool"}).status().code(), Code::NotFound);
}

TEST(ClusterMounts, ParsesMountinfoWithEscapesAndOptionalFields) {
    std::string text =
        "22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw\n"
        "41 22 0:38 / /tmp/a\\040b/n1/mnt rw,relatime shared:7 master:2 - fuse.vremote vremote "
        "rw,user_id=0\n"
        "garbage line\n"
        "42 22 0:39 / /tmp/x rw - tmpfs tmp\\011fs rw\n";
    auto entries = parse_mountinfo(text);
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].mount_point, "/proc");
    EXPECT_EQ(entries[1].mount_point, "/tmp/a b/n1/mnt");
    EXPECT_EQ(entries[1].fstype, "fuse.vremote");
    EXPECT_EQ(entries[1].source, "vremote");
    EXPECT_EQ(entries[2].fstype, "tmpfs");
    EXPECT_EQ(entries[2].source, "tmp\tfs");
}

// Mounts made here, as root: a tmpfs stands in for a live mount.
TEST(ClusterMounts, SeesStackedMountsAndDetachesThemAll) {
    TempDir d;
    std::string n1 = d.path() + "/n1/mnt";
    std::string n2 = d.path() + "/n2/mnt";
    fs::create_directories(n1);
    fs::create_directories(n2);
    EXPECT_TRUE(mounts_at(n1).empty());
    ASSERT_EQ(::mount("vrtest", n1.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
    ASSERT_EQ(::mount("vrtest2", n1.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
    auto at = mounts_at(n1);
    ASSERT_EQ(at.size(), 2u);
    EXPECT_EQ(at[0].fstype, "tmpfs");
    EXPECT_EQ(at[1].source, "vrtest2");
    EXPECT_TRUE(mounts_at(n2).empty());
    EXPECT_TRUE(mounts_at(d.path() + "/n1").empty());  // only the exact mount point

    std::vector<std::string> notes;
    ASSERT_TRUE(detach_node_mounts(d.path(), &notes).is_ok());
    EXPECT_EQ(notes, (std::vector<std::string>{n1 + " (tmpfs)", n1 + " (tmpfs)"}));
    EXPECT_TRUE(mounts_at(n1).empty());
    notes.clear();
    ASSERT_TRUE(detach_node_mounts(d.path(), &notes).is_ok());  // nothing left: nothing to do
    EXPECT_TRUE(notes.empty());
}

// What a crashed FUSE daemon leaves: a mount whose connection is gone, so that every access
// fails with ENOTCONN. Made by mounting a /dev/fuse descriptor and closing it.
TEST(ClusterMounts, DetachesADeadFuseMount) {
    TempDir d;
    std::string mnt = d.path() + "/n3/mnt";
    fs::create_directories(mnt);
    int fuse = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fuse, 0) << "/dev/fuse: " << std::strerror(errno);
    std::string options = fmt::format("fd={},rootmode=40000,user_id=0,group_id=0", fuse);
    ASSERT_EQ(
        ::mount("vremote", mnt.c_str(), "fuse.vremote", MS_NOSUID | MS_NODEV, options.c_str()), 0)
        << std::strerror(errno);
    ::close(fuse);
    struct stat st {};
    ASSERT_NE(::stat(mnt.c_str(), &st), 0);
    ASSERT_EQ(errno, ENOTCONN);  // really dead
    auto at = mounts_at(mnt);
    ASSERT_EQ(at.size(), 1u);
    EXPECT_EQ(at[0].fstype, "fuse.vremote");

    std::vector<std::string> notes;
    Status s = detach_node_mounts(d.path(), &notes);
    ASSERT_TRUE(s.is_ok()) << s.context();
    EXPECT_EQ(notes, std::vector<std::string>{mnt + " (fuse.vremote)"});
    EXPECT_TRUE(mounts_at(mnt).empty());
    EXPECT_EQ(::stat(mnt.c_str(), &st), 0) << std::strerror(errno);
}

}  // namespace
}  // namespace vr::cli
