// The vremote CLI: argument parsing (every usage error is one, with the command's usage line),
// the output formats, the commands run against FakeDaemon through files standing in for stdin and
// stdout, and the parts of `cluster up` that need no daemon (configs, the link check, log tails).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "args.h"
#include "cluster.h"
#include "commands.h"
#include "config/config.h"
#include "fake_daemon.h"

namespace vr::cli {
namespace {

using client::test::FakeDaemon;

Result<Command> parse(std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> v(args);
    return parse_args(v);
}

Command parsed(std::initializer_list<std::string_view> args) {
    auto r = parse(args);
    EXPECT_TRUE(r.is_ok()) << r.status().context();
    return r.is_ok() ? r.value() : Command{};
}

std::string usage_error(std::initializer_list<std::string_view> args) {
    auto r = parse(args);
    EXPECT_FALSE(r.is_ok());
    if (r.is_ok()) {
        return "";
    }
    EXPECT_EQ(r.status().code(), Code::InvalidArgument);
    return r.status().context();
}

TEST(CliArgs, ParsesEachCommand) {
    Command get =
        parsed({"get", "n1/a/b", "--offset", "4KiB", "--length=100", "--config", "c.toml"});
    EXPECT_EQ(get.verb, Verb::Get);
    EXPECT_EQ(get.path, "n1/a/b");
    EXPECT_EQ(get.offset, 4096u);
    EXPECT_EQ(get.length, 100u);
    EXPECT_EQ(get.config, "c.toml");

    // --config may also come first, as in `vremote --config FILE get ...`.
    Command first = parsed({"--config", "c.toml", "get", "n1/x"});
    EXPECT_EQ(first.verb, Verb::Get);
    EXPECT_EQ(first.path, "n1/x");
    EXPECT_EQ(first.config, "c.toml");
    EXPECT_EQ(parsed({"--config=d.toml", "status"}).config, "d.toml");

    Command put = parsed({"put", "--offset", "1MiB", "n2/x"});
    EXPECT_EQ(put.verb, Verb::Put);
    EXPECT_EQ(put.path, "n2/x");
    EXPECT_EQ(put.offset, 1u << 20);
    EXPECT_TRUE(put.config.empty());

    EXPECT_EQ(parsed({"sync", "n1/x"}).verb, Verb::Sync);
    EXPECT_EQ(parsed({"status"}).verb, Verb::Status);
    EXPECT_EQ(parsed({"stats", "--config=/run/v.sock"}).config, "/run/v.sock");
    EXPECT_EQ(parsed({"pages", "--", "n1/-odd"}).path, "n1/-odd");

    Command up = parsed({"cluster",
                         "up",
                         "--nodes",
                         "3",
                         "--dir",
                         "/tmp/c",
                         "--base-port",
                         "12000",
                         "--cache-size",
                         "64MiB",
                         "--delay-us",
                         "100"});
    EXPECT_EQ(up.verb, Verb::ClusterUp);
    EXPECT_EQ(up.nodes, 3u);
    EXPECT_EQ(up.dir, "/tmp/c");
    EXPECT_EQ(up.base_port, 12000);
    EXPECT_EQ(up.cache_size, 64u << 20);
    EXPECT_EQ(up.delay_us, 100u);
    EXPECT_EQ(up.wait_seconds, kDefaultWaitSeconds);
    EXPECT_TRUE(up.mount);
    EXPECT_FALSE(up.netns);
    Command down = parsed({"cluster", "down", "--dir", "/tmp/c"});
    EXPECT_EQ(down.verb, Verb::ClusterDown);
    EXPECT_EQ(down.wait_seconds, 20u);

    Command flags =
        parsed({"cluster", "up", "--nodes", "2", "--dir", "d", "--no-mount", "--netns"});
    EXPECT_FALSE(flags.mount);
    EXPECT_TRUE(flags.netns);
    EXPECT_FALSE(flags.base_port.has_value());

    Command cut = parsed({"cluster", "link", "--dir", "/tmp/c", "--node", "3", "down"});
    EXPECT_EQ(cut.verb, Verb::ClusterLink);
    EXPECT_EQ(cut.dir, "/tmp/c");
    EXPECT_EQ(cut.node, 3u);
    EXPECT_FALSE(cut.link_up);
    EXPECT_TRUE(parsed({"cluster", "link", "up", "--node=1", "--dir=x"}).link_up);

    Command shape = parsed({"cluster", "shape", "--dir", "c", "--node", "2", "--rate", "100mbit"});
    EXPECT_EQ(shape.verb, Verb::ClusterShape);
    EXPECT_EQ(shape.node, 2u);
    EXPECT_EQ(shape.rate_bits, 100'000'000u);
    EXPECT_EQ(parsed({"cluster", "shape", "--dir", "c", "--node", "2", "--rate", "off"}).rate_bits,
              0u);
}

TEST(CliArgs, HelpForEveryCommand) {
    for (auto args : {std::vector<std::string_view>{"--help"},
                      {"help"},
                      {"get", "--help"},
                      {"put", "n1/x", "-h"},
                      {"cluster", "--help"},
                      {"cluster", "up", "--help"},
                      {"cluster", "down", "--nodes", "x", "--help"},
                      {"cluster", "link", "--help"},
                      {"cluster", "shape", "-h"}}) {
        auto r = parse_args(args);
        ASSERT_TRUE(r.is_ok()) << args[0] << ": " << r.status().context();
        EXPECT_EQ(r.value().verb, Verb::Help);
        EXPECT_TRUE(r.value().help.starts_with("usage: vremote")) << r.value().help;
        std::istringstream lines(r.value().help);
        for (std::string line; std::getline(lines, line);) {
            if (!line.starts_with("usage:")) {
                EXPECT_LE(line.size(), 79u) << line;
            }
        }
    }
    EXPECT_NE(parsed({"get", "--help"}).help.find("--length N"), std::string::npos);
    std::string cluster = parsed({"cluster", "--help"}).help;
    for (std::string_view usage : {"usage: vremote cluster up --nodes N --dir DIR",
                                   "[--no-mount] [--netns]",
                                   "usage: vremote cluster down --dir DIR",
                                   "usage: vremote cluster link up|down --dir DIR --node K",
                                   "usage: vremote cluster shape --dir DIR --node K --rate R"}) {
        EXPECT_NE(cluster.find(usage), std::string::npos) << usage << " in\n" << cluster;
    }
}

TEST(CliArgs, UsageErrorsSayWhatIsWrongAndShowTheUsage) {
    struct Case {
        std::initializer_list<std::string_view> args;
        std::string_view want;
    };
    const Case cases[] = {
        {{}, "no command given"},
        {{"frob"}, "unknown command \"frob\""},
        {{"cluster"},
         "cluster: say `cluster up`, `cluster down`, `cluster link` or `cluster shape`"},
        {{"cluster", "sideways"}, "unknown command \"cluster sideways\""},
        {{"get"}, "get: which file? (VOLUME/PATH)"},
        {{"get", "n1/a", "n1/b"}, "get: unexpected argument \"n1/b\""},
        {{"get", "novolume"}, "get: \"novolume\" is not VOLUME/PATH"},
        {{"get", "/abs/path"}, "is not VOLUME/PATH"},
        {{"get", "n1/a", "--offset"}, "get: --offset needs a value (N)"},
        {{"get", "n1/a", "--offset", "-5"}, "get: --offset: \"-5\" is not a size"},
        {{"get", "n1/a", "--offset", "1", "--offset", "2"}, "get: --offset given twice"},
        {{"get", "n1/a", "--frob"}, "get: unknown option --frob"},
        {{"get", "n1/a", "-x"}, "get: unknown option -x"},
        {{"put", "n1/a", "--length", "5"}, "put: unknown option --length"},
        {{"status", "n1/a"}, "status: unexpected argument \"n1/a\""},
        {{"stats", "--config="}, "stats: --config needs a file name"},
        {{"cluster", "up", "--dir", "/tmp/c"}, "cluster up: --nodes is required"},
        {{"cluster", "up", "--nodes", "2"}, "cluster up: --dir is required"},
        {{"cluster", "up", "--nodes", "0", "--dir", "d"},
         "cluster up: --nodes must be a number from 1 to 64, not \"0\""},
        {{"cluster", "up", "--nodes", "65", "--dir", "d"}, "from 1 to 64, not \"65\""},
        {{"cluster", "up", "--nodes", "2", "--dir", "d", "--base-port", "70000"},
         "--base-port must be a number from 1 to 65471"},
        {{"cluster", "up", "--nodes", "2", "--dir", "d", "--cache-size", "1MB"},
         "cluster up: --cache-size: \"1MB\" is not a size"},
        {{"cluster", "up", "--nodes", "2", "--dir", "d", "--config", "x.toml"},
         "cluster up: unknown option --config"},
        {{"cluster", "down"}, "cluster down: --dir is required"},
        {{"cluster", "down", "--dir", ""}, "cluster down: --dir needs a directory"},
        {{"cluster", "up", "--nodes", "2", "--dir", "d", "--no-mount=yes"},
         "cluster up: --no-mount takes no value"},
        {{"cluster", "up", "--nodes", "2", "--dir", "d", "--netns", "--base-port", "12000"},
         "cluster up: --base-port does not go with --netns"},
        {{"cluster", "down", "--dir", "d", "--netns"}, "cluster down: unknown option --netns"},
        {{"cluster", "link", "--dir", "d", "--node", "1"}, "cluster link: up or down?"},
        {{"cluster", "link", "--dir", "d", "--node", "1", "sideways"},
         "cluster link: up or down, not \"sideways\""},
        {{"cluster", "link", "--dir", "d", "down"}, "cluster link: --node is required"},
        {{"cluster", "link", "--dir", "d", "--node", "0", "up"},
         "cluster link: --node must be a number from 1 to 64"},
        {{"cluster", "shape", "--dir", "d", "--node", "1"}, "cluster shape: --rate is required"},
        {{"cluster", "shape", "--dir", "d", "--node", "1", "--rate", "fast"},
         "cluster shape: --rate is a number with a unit"},
        {{"cluster", "shape", "--dir", "d", "--node", "1", "--rate", "100"}, "not \"100\""},
    };
    for (const Case& c : cases) {
        std::string error = usage_error(c.args);
        EXPECT_NE(error.find(c.want), std::string::npos) << error;
        EXPECT_NE(error.find("\nusage: vremote "), std::string::npos) << error;
    }
}

// Files standing in for stdin, stdout and stderr.
class CliRun : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string base = d_.dir() + "/io.";
        for (auto [fd, name] : {std::pair{&io_.in, "in"}, {&io_.out, "out"}, {&io_.err, "err"}}) {
            *fd = ::open((base + name).c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            ASSERT_GE(*fd, 0);
        }
    }
    void TearDown() override {
        for (int fd : {io_.in, io_.out, io_.err}) {
            ::close(fd);
        }
    }
    // Runs `vremote ARGS --config <fake socket>` with `input` on stdin.
    int vremote(std::vector<std::string_view> args, std::string_view input = "") {
        EXPECT_EQ(::ftruncate(io_.in, 0), 0);
        EXPECT_EQ(::pwrite(io_.in, input.data(), input.size(), 0),
                  static_cast<ssize_t>(input.size()));
        EXPECT_EQ(::lseek(io_.in, 0, SEEK_SET), 0);
        for (int fd : {io_.out, io_.err}) {
            EXPECT_EQ(::ftruncate(fd, 0), 0);
            EXPECT_EQ(::lseek(fd, 0, SEEK_SET), 0);
        }
        args.push_back("--config");
        args.push_back(d_.socket_path());
        auto cmd = parse_args(args);
        EXPECT_TRUE(cmd.is_ok()) << cmd.status().context();
        return cmd.is_ok() ? run(cmd.value(), io_) : 2;
    }
    static std::string contents(int fd) {
        std::string s(static_cast<size_t>(::lseek(fd, 0, SEEK_END)), '\0');
        EXPECT_EQ(::pread(fd, s.data(), s.size(), 0), static_cast<ssize_t>(s.size()));
        return s;
    }
    std::string out() const { return contents(io_.out); }
    std::string err() const { return contents(io_.err); }

    FakeDaemon d_;
    Io io_;
};

std::string random_text(size_t n) {
    std::mt19937_64 rng(7);
    std::string s(n, '\0');
    for (char& c : s) {
        c = static_cast<char>(rng());
    }
    return s;
}

std::vector<std::byte> bytes_of(std::string_view s) {
    auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

TEST_F(CliRun, PutThenGetStreamsAFileInChunks) {
    std::string data = random_text(2 * (1 << 20) + 12345);
    ASSERT_EQ(vremote({"put", "n1/dir/f"}, data), 0) << err();
    EXPECT_EQ(d_.file("n1/dir/f"), bytes_of(data));
    for (const auto& s : d_.seen()) {
        if (s.type == wire::FrameType::ClientWrite) {
            EXPECT_LE(s.length, 1u << 20);
        }
    }
    ASSERT_EQ(vremote({"get", "n1/dir/f"}), 0) << err();
    EXPECT_TRUE(out() == data) << "got " << out().size() << " bytes";
    EXPECT_EQ(err(), "");

    ASSERT_EQ(vremote({"get", "n1/dir/f", "--offset", "1MiB", "--length", "10"}), 0) << err();
    EXPECT_EQ(out(), data.substr(1 << 20, 10));
    ASSERT_EQ(vremote({"get", "n1/dir/f", "--offset", "100MiB"}), 0) << err();
    EXPECT_EQ(out(), "");

    ASSERT_EQ(vremote({"put", "n1/dir/f", "--offset", "3"}, "XY"), 0) << err();
    ASSERT_EQ(vremote({"get", "n1/dir/f", "--length", "6"}), 0) << err();
    EXPECT_EQ(out(), data.substr(0, 3) + "XY" + data.substr(5, 1)) << "no truncation";
    ASSERT_EQ(vremote({"put", "n1/empty"}, ""), 0) << err();
    EXPECT_TRUE(d_.exists("n1/empty"));
    ASSERT_EQ(vremote({"sync", "n1/dir/f"}), 0) << err();
    EXPECT_EQ(d_.open_handles(), 0u) << "every command closes what it opened";
}

TEST_F(CliRun, ErrorsNameTheCommandAndFileAndExitWithOne) {
    EXPECT_EQ(vremote({"get", "n1/x"}), 1);
    EXPECT_EQ(err(), "vremote: get n1/x: no such file: n1/x does not exist\n");
    EXPECT_EQ(out(), "");
    EXPECT_EQ(vremote({"sync", "n1/x"}), 1);
    EXPECT_EQ(err(), "vremote: sync n1/x: no such file: n1/x does not exist\n");
    EXPECT_EQ(vremote({"pages", "n1/x"}), 1);
    EXPECT_EQ(err(), "vremote: pages n1/x: no such file: n1/x does not exist\n");
    d_.fail_writes_after(0);
    EXPECT_EQ(vremote({"put", "n1/y"}, "data"), 1);
    EXPECT_EQ(err(), "vremote: put n1/y: no space: the export is full\n");

    Command get = parsed({"get", "n1/x", "--config", "/nonexistent/vremoted.sock"});
    ASSERT_EQ(::ftruncate(io_.err, 0), 0);
    ASSERT_EQ(::lseek(io_.err, 0, SEEK_SET), 0);
    EXPECT_EQ(run(get, io_), 1);
    EXPECT_EQ(err(),
              "vremote: get n1/x: cannot connect to vremoted at /nonexistent/vremoted.sock: No "
              "such file or directory (is vremoted running?)\n");
}

TEST_F(CliRun, StatusStatsAndPages) {
    ASSERT_EQ(vremote({"status"}), 0) << err();
    EXPECT_EQ(out(),
              "NODE  NAME             LINK               RTT  HOME INCARNATION\n"
              "0     n1               self                 -  3\n"
              "1     n2               up            0.250 ms  1\n"
              "2     n3               connecting           -  -\n");
    ASSERT_EQ(vremote({"stats"}), 0) << err();
    EXPECT_EQ(out(), "client.requests 2\ncache.pages 42\n");

    // 70 pages over several replies of 16 states each.
    d_.put_file("n1/f", std::vector<std::byte>(70 * 4096 - 100));
    d_.set_page_states("n1/f", std::string(3, 'M') + std::string(62, 'S'));
    d_.set_pages_per_reply(16);
    ASSERT_EQ(vremote({"pages", "n1/f"}), 0) << err();
    EXPECT_EQ(out(),
              "n1/f: 70 pages: M 3, S 62, I 5\n"
              "       0 MMMSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS\n"
              "      64 SIIIII\n");
}

TEST(CliFormat, LargeFilesShowRunsOfPages) {
    PageMap map;
    map.add(std::string(100, 'M') + "S");
    map.add(std::string(300, 'S'));
    map.add("IIX");
    EXPECT_EQ(map.pages(), 404u);
    EXPECT_EQ(format_pages("n2/big", map),
              "n2/big: 404 pages: M 100, S 301, I 2, X 1\nruns: 0-99 M, 100-400 S, 401-402 I, "
              "403 X\n");
    PageMap many;
    for (int i = 0; i < 200; ++i) {
        many.add(i % 2 == 0 ? "MM" : "I");
    }
    std::string text = format_pages("n1/f", many);
    EXPECT_NE(text.find(", ... (136 more runs)\n"), std::string::npos) << text;
    EXPECT_EQ(format_pages("n1/e", PageMap{}), "n1/e: 0 pages: M 0, S 0, I 0\n");
}

TEST(ClusterConfig, EveryNodeKnowsEveryOtherAndItsFilesCheckOut) {
    std::string dir = ::testing::TempDir() + "vr_cluster_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    {
        std::ofstream(dir + "/secret") << std::string(32, 's');
        std::filesystem::permissions(
            dir + "/secret",
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
    Command cmd = parsed({"cluster",
                          "up",
                          "--nodes",
                          "3",
                          "--dir",
                          dir,
                          "--cache-size",
                          "64MiB",
                          "--delay-us",
                          "250"});
    std::vector<uint16_t> ports = {12001, 12002, 12003};
    for (uint32_t k = 1; k <= 3; ++k) {
        std::filesystem::create_directories(dir + fmt::format("/n{}/export", k));
        config::NodeConfig c = cluster_node_config(dir, k, loopback_addresses(ports), cmd);
        auto back = config::parse_config(config::to_toml(c), "generated.toml");
        ASSERT_TRUE(back.is_ok()) << back.status().context();
        EXPECT_EQ(back.value(), c);
        EXPECT_EQ(c.node.name, fmt::format("n{}", k));
        EXPECT_EQ(c.node.listen, (config::Address{"127.0.0.1", ports[k - 1]}));
        EXPECT_EQ(c.node.client_socket, dir + fmt::format("/n{}/data/vremoted.sock", k));
        EXPECT_EQ(c.cluster.secret_file, dir + "/secret");
        ASSERT_EQ(c.peers.size(), 2u);
        for (const config::Peer& p : c.peers) {
            EXPECT_NE(p.name, c.node.name);
            EXPECT_EQ(p.address.port, ports[static_cast<size_t>(p.name[1] - '1')]);
        }
        ASSERT_EQ(c.exports.size(), 1u);
        EXPECT_EQ(c.exports[0].volume, c.node.name);
        EXPECT_EQ(c.cache.size_bytes, 64u << 20);
        EXPECT_EQ(c.test.delay_us, 250u);
        EXPECT_EQ(c.node.mount, dir + fmt::format("/n{}/mnt", k));  // mounts by default
    }
    std::filesystem::remove_all(dir);
}

TEST(ClusterConfig, LinksAreUpOnlyWhenEveryOtherNodeIsUp) {
    using wire::LinkState;
    std::vector<std::string> names = {"n1", "n2", "n3"};
    std::vector<wire::NodeStatus> status = {{0, "n1", LinkState::Self, 0, 1},
                                            {1, "n2", LinkState::Up, 100, 1},
                                            {2, "n3", LinkState::Up, 100, 1}};
    std::string missing;
    EXPECT_TRUE(all_links_up(status, "n1", names, &missing));
    EXPECT_EQ(missing, "");
    status[2].link = LinkState::Connecting;
    EXPECT_FALSE(all_links_up(status, "n1", names, &missing));
    EXPECT_EQ(missing, "n3 connecting");
    status.pop_back();
    status[1].link = LinkState::Down;
    EXPECT_FALSE(all_links_up(status, "n1", names, &missing));
    EXPECT_EQ(missing, "n2 down, n3 absent");
}

TEST(ClusterConfig, LogTails) {
    std::string path = ::testing::TempDir() + "vr_cli_tail_test.log";
    std::ofstream(path) << "one\ntwo\nthree\nfour\n";
    EXPECT_EQ(tail_of_file(path, 2), "three\nfour\n");
    EXPECT_EQ(tail_of_file(path, 10), "one\ntwo\nthree\nfour\n");
    std::ofstream(path) << "no newline";
    EXPECT_EQ(tail_of_file(path, 1), "no newline");
    EXPECT_EQ(tail_of_file(path + ".absent", 3), "");
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace vr::cli
