// `vremote cluster up --netns` with real daemons: each node in a network namespace of its own,
// joined by veths to a bridge in a further namespace (docs/cluster.md). The CLI reaches every
// node from the host through its Unix socket; a node's link is cut and restored with `cluster
// link` and shaped with `cluster shape`; `cluster down` removes every namespace, veth and bridge
// the cluster created (and only those), also after the daemons were killed and after a `cluster up`
// that died half-way. Needs root. Every cluster here runs with --no-mount: no FUSE.
#include "netns.h"

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
#include <sstream>
#include <string>
#include <vector>

#include "mounts.h"
#include "test_cluster.h"

namespace vr::itest {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

// The names `ip netns list` shows (its lines are "NAME" or "NAME (id: N)").
std::vector<std::string> netns_list() {
    CommandResult r = run_command({"/usr/bin/env", "ip", "netns", "list"}, {}, 30);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> names;
    for (const std::string& line : lines_of(r.out)) {
        names.push_back(line.substr(0, line.find(' ')));
    }
    return names;
}

bool listed(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

// `ip [-n NETNS] -o link show`: one line per interface.
CommandResult ip_link(const std::string& netns = "") {
    std::vector<std::string> argv = {"/usr/bin/env", "ip"};
    if (!netns.empty()) {
        argv.insert(argv.end(), {"-n", netns});
    }
    argv.insert(argv.end(), {"-o", "link", "show"});
    return run_command(argv, {}, 30);
}

// Whether `vremote status` on some node shows node `peer`'s link up.
bool status_shows_up(const std::string& status, int peer) {
    for (const std::string& line : lines_of(status)) {
        std::istringstream words(line);
        std::string id, name, link;
        words >> id >> name >> link;
        if (name == fmt::format("n{}", peer)) {
            return link == "up";
        }
    }
    return false;
}

// The inode of a network namespace, to compare a process's with a named one.
ino_t netns_inode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Checks that every namespace in `names` is gone, and that no interface of the cluster (named
// vr-<tag>-...) is visible in the host's namespace.
void expect_all_gone(const std::vector<std::string>& names, const std::string& tag) {
    std::vector<std::string> now = netns_list();
    for (const std::string& name : names) {
        EXPECT_FALSE(listed(now, name)) << name << " is still listed by ip netns list";
        EXPECT_FALSE(fs::exists("/run/netns/" + name)) << name;
        CommandResult inside = ip_link(name);
        EXPECT_NE(inside.exit_code, 0) << "ip -n " << name << " still works:\n" << inside.out;
    }
    CommandResult host = ip_link();
    EXPECT_EQ(host.exit_code, 0) << host.err;
    EXPECT_EQ(host.out.find("vr-" + tag), std::string::npos) << host.out;
}

TEST(NetnsCluster, NodesTalkAcrossTheBridgeAndALinkCutIsSeenAndHealed) {
    TestCluster c(3, ClusterOptions{.netns = true});
    ASSERT_TRUE(c.up()) << "cluster up --netns failed:\n" << c.up_output();
    auto plan = cli::load_netns_record(c.dir());
    ASSERT_TRUE(plan.is_ok()) << plan.status().context();
    const std::string tag = plan.value().tag;
    ASSERT_EQ(c.namespaces().size(), 4u);

    // What exists: four namespaces; the bridge and its three ports in the bridge's namespace;
    // in each node's, lo (up) and its veth with 10.77.X.K; nothing in the host's namespace.
    std::vector<std::string> names = netns_list();
    for (const std::string& name : c.namespaces()) {
        EXPECT_TRUE(listed(names, name)) << name;
    }
    CommandResult bridge = ip_link(plan.value().bridge_netns);
    ASSERT_EQ(bridge.exit_code, 0) << bridge.err;
    EXPECT_NE(bridge.out.find(plan.value().bridge + ": <"), std::string::npos) << bridge.out;
    for (const cli::NetnsNode& n : plan.value().nodes) {
        EXPECT_NE(bridge.out.find(n.port + "@"), std::string::npos) << bridge.out;
        EXPECT_NE(bridge.out.find("master " + plan.value().bridge), std::string::npos);
        CommandResult addr =
            run_command({"/usr/bin/env", "ip", "-n", n.netns, "-o", "-4", "addr", "show"}, {}, 30);
        EXPECT_NE(addr.out.find("lo    inet 127.0.0.1/8"), std::string::npos) << addr.out;
        EXPECT_NE(addr.out.find(n.veth + "    inet " + n.address + "/24"), std::string::npos)
            << addr.out;
        EXPECT_NE(c.up_output().find(n.address + ":1104"), std::string::npos) << c.up_output();
    }
    CommandResult host = ip_link();
    EXPECT_EQ(host.out.find("vr-" + tag), std::string::npos) << host.out;

    // Each daemon runs in its node's namespace.
    for (int k = 1; k <= 3; ++k) {
        ASSERT_GT(c.pid(k), 0);
        ino_t daemon_ns = netns_inode(fmt::format("/proc/{}/ns/net", c.pid(k)));
        EXPECT_NE(daemon_ns, 0u);
        EXPECT_EQ(daemon_ns, netns_inode("/run/netns/" + c.netns_of(k))) << "n" << k;
        EXPECT_NE(daemon_ns, netns_inode("/proc/self/ns/net")) << "n" << k;
    }

    // From the host, through each node's Unix socket: every link up.
    for (int k = 1; k <= 3; ++k) {
        CommandResult st = c.cli(k, {"status"});
        ASSERT_EQ(st.exit_code, 0) << st.err;
        for (int j = 1; j <= 3; ++j) {
            if (j != k) {
                EXPECT_TRUE(status_shows_up(st.out, j)) << "n" << k << " on n" << j << ":\n"
                                                        << st.out;
            }
        }
    }

    // A put on n2 and a get on n1 cross the bridge.
    const std::string text = "written on n2, read on n1 across the bridge\n";
    CommandResult put = c.cli(2, {"put", "n2/hello.txt"}, text);
    ASSERT_EQ(put.exit_code, 0) << put.err;
    CommandResult get = c.cli(1, {"get", "n2/hello.txt"});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out, text);

    // Cut n3's link: n1 and n3 see each other down, n1 and n2 carry on.
    std::string why;
    ASSERT_TRUE(c.link(3, false, &why)) << why;
    EXPECT_GE(c.wait_link(1, 3, "down", 20'000), 0) << "n1 never saw n3 down";
    EXPECT_GE(c.wait_link(3, 1, "down", 20'000), 0) << "n3 never saw n1 down";
    EXPECT_GE(c.wait_link(1, 2, "up", 1'000), 0) << "n1 lost n2 too";
    const std::string text2 = "second version, from n1 while n3 is cut off\n";
    put = c.cli(1, {"put", "n2/hello.txt"}, text2);
    ASSERT_EQ(put.exit_code, 0) << put.err;
    get = c.cli(2, {"get", "n2/hello.txt"});
    EXPECT_EQ(get.out, text2) << get.err;

    // Restore it: the links come back and n3 reads the latest bytes.
    ASSERT_TRUE(c.link(3, true, &why)) << why;
    EXPECT_GE(c.wait_link(1, 3, "up", 30'000), 0) << "n1 never saw n3 up again";
    EXPECT_GE(c.wait_link(3, 1, "up", 30'000), 0) << "n3 never saw n1 up again";
    EXPECT_GE(c.wait_link(3, 2, "up", 30'000), 0) << "n3 never saw n2 up again";
    get = c.cli(3, {"get", "n2/hello.txt"});
    EXPECT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out, text2);

    // Shape n2's link: a tbf qdisc on both ends of its veth, the cluster still works; then off.
    auto qdiscs = [&](const std::string& netns, const std::string& dev) {
        return run_command(
                   {"/usr/bin/env", "tc", "-n", netns, "qdisc", "show", "dev", dev, "root"}, {}, 30)
            .out;
    };
    const cli::NetnsNode& n2 = plan.value().nodes[1];
    CommandResult shape = run_command({bin_dir() + "/vremote",
                                       "cluster",
                                       "shape",
                                       "--dir",
                                       c.dir(),
                                       "--node",
                                       "2",
                                       "--rate",
                                       "20mbit"},
                                      {},
                                      30);
    ASSERT_EQ(shape.exit_code, 0) << shape.err;
    EXPECT_NE(qdiscs(n2.netns, n2.veth).find("tbf"), std::string::npos);
    EXPECT_NE(qdiscs(plan.value().bridge_netns, n2.port).find("rate 20Mbit"), std::string::npos)
        << qdiscs(plan.value().bridge_netns, n2.port);
    EXPECT_EQ(qdiscs(plan.value().bridge_netns, plan.value().nodes[0].port).find("tbf"),
              std::string::npos);
    get = c.cli(2, {"get", "n2/hello.txt"});
    EXPECT_EQ(get.out, text2) << get.err;
    get = c.cli(1, {"get", "n2/hello.txt"});
    EXPECT_EQ(get.out, text2) << get.err;
    shape = run_command({bin_dir() + "/vremote",
                         "cluster",
                         "shape",
                         "--dir",
                         c.dir(),
                         "--node",
                         "2",
                         "--rate",
                         "off"},
                        {},
                        30);
    ASSERT_EQ(shape.exit_code, 0) << shape.err;
    EXPECT_EQ(qdiscs(n2.netns, n2.veth).find("tbf"), std::string::npos);
    EXPECT_EQ(qdiscs(plan.value().bridge_netns, n2.port).find("tbf"), std::string::npos);

    // Down: the daemons stop, then every namespace (with its veths and the bridge) goes.
    CommandResult down = c.down();
    EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
    EXPECT_NE(down.out.find("stopped n1 n2 n3"), std::string::npos) << down.out;
    EXPECT_NE(down.out.find("deleted network namespaces"), std::string::npos) << down.out;
    EXPECT_EQ(down.err, "");
    expect_all_gone(c.namespaces(), tag);
    EXPECT_FALSE(fs::exists(c.dir() + "/netns"));
    for (int k = 1; k <= 3; ++k) {
        EXPECT_EQ(c.pid(k), -1) << "n" << k << " still has a pid file";
    }
}

// A dead FUSE mount at `path`, as a FUSE daemon killed with SIGKILL leaves it.
void make_dead_fuse_mount(const std::string& path) {
    fs::create_directories(path);
    int fuse = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fuse, 0) << std::strerror(errno);
    std::string options = fmt::format("fd={},rootmode=40000,user_id=0,group_id=0", fuse);
    ASSERT_EQ(
        ::mount("vremote", path.c_str(), "fuse.vremote", MS_NOSUID | MS_NODEV, options.c_str()), 0)
        << std::strerror(errno);
    ::close(fuse);
    struct stat st {};
    ASSERT_NE(::stat(path.c_str(), &st), 0);
    ASSERT_EQ(errno, ENOTCONN);
}

TEST(NetnsCluster, DownCleansUpAfterTheDaemonsWereKilledAndLeavesOtherClustersAlone) {
    TestCluster a(2, ClusterOptions{.netns = true});
    TestCluster b(2, ClusterOptions{.netns = true});
    ASSERT_TRUE(a.up()) << a.up_output();
    ASSERT_TRUE(b.up()) << b.up_output();
    auto plan_a = cli::load_netns_record(a.dir());
    auto plan_b = cli::load_netns_record(b.dir());
    ASSERT_TRUE(plan_a.is_ok() && plan_b.is_ok());
    ASSERT_NE(plan_a.value().tag, plan_b.value().tag);  // two clusters never share a name

    // Crash cluster a: SIGKILL its daemons, and leave a dead FUSE mount at n1/mnt as a FUSE
    // daemon would.
    ASSERT_NO_FATAL_FAILURE(make_dead_fuse_mount(a.dir() + "/n1/mnt"));
    ASSERT_TRUE(a.kill_node(1));
    ASSERT_TRUE(a.kill_node(2));

    CommandResult down = a.down();
    EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
    EXPECT_NE(down.out.find("no running nodes in " + a.dir()), std::string::npos) << down.out;
    EXPECT_NE(down.err.find(a.dir() + "/n1/mnt (fuse.vremote) was still mounted"),
              std::string::npos)
        << down.err;
    EXPECT_TRUE(cli::mounts_at(a.dir() + "/n1/mnt").empty());
    expect_all_gone(a.namespaces(), plan_a.value().tag);

    // b is untouched and still works.
    std::vector<std::string> names = netns_list();
    for (const std::string& name : b.namespaces()) {
        EXPECT_TRUE(listed(names, name)) << name;
    }
    EXPECT_GE(b.wait_link(1, 2, "up", 5'000), 0);
    CommandResult put = b.cli(1, {"put", "n2/f"}, "b still works\n");
    EXPECT_EQ(put.exit_code, 0) << put.err;
    EXPECT_EQ(b.cli(2, {"get", "n2/f"}).out, "b still works\n");
}

// `cluster up --netns` that died half-way leaves a record and some of its namespaces: cluster
// down removes those that exist, and a new cluster up over them clears them first.
TEST(NetnsCluster, AHalfBuiltClusterIsRemovedAndReplaced) {
    char tmpl[] = "/tmp/vr-itest-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const std::string vremote = bin_dir() + "/vremote";
    auto plan = cli::netns_plan_for(dir, 3);
    ASSERT_TRUE(plan.is_ok()) << plan.status().context();
    std::ofstream(dir + "/netns") << cli::format_netns_record(plan.value());
    // The bridge's namespace and n1's exist; the rest never came.
    auto cmds = cli::netns_setup_commands(plan.value());
    for (size_t i = 0; i < 6; ++i) {
        auto r = cli::run_tool(cmds[i]);
        ASSERT_TRUE(r.is_ok()) << r.status().context();
    }
    ASSERT_TRUE(cli::netns_exists(plan.value().nodes[0].netns));
    ASSERT_FALSE(cli::netns_exists(plan.value().nodes[1].netns));

    CommandResult down = run_command({vremote, "cluster", "down", "--dir", dir}, {}, 60);
    EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
    EXPECT_NE(down.out.find(fmt::format("deleted network namespaces {}, {}",
                                        plan.value().nodes[0].netns,
                                        plan.value().bridge_netns)),
              std::string::npos)
        << down.out;
    expect_all_gone(plan.value().namespaces(), plan.value().tag);
    EXPECT_FALSE(fs::exists(dir + "/netns"));

    // Again half-built, then a cluster up in the same directory: it clears the remains and
    // comes up.
    std::ofstream(dir + "/netns") << cli::format_netns_record(plan.value());
    for (size_t i = 0; i < 6; ++i) {
        ASSERT_TRUE(cli::run_tool(cmds[i]).is_ok());
    }
    CommandResult up = run_command(
        {vremote, "cluster", "up", "--nodes", "2", "--dir", dir, "--netns", "--no-mount"}, {}, 90);
    EXPECT_EQ(up.exit_code, 0) << up.out << up.err;
    EXPECT_NE(up.err.find("an earlier cluster here was not taken down"), std::string::npos)
        << up.err;
    down = run_command({vremote, "cluster", "down", "--dir", dir}, {}, 60);
    EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
    expect_all_gone(plan.value().namespaces(), plan.value().tag);
    std::error_code ec;
    fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace vr::itest
