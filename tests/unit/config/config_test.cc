// Node config files. Goal: a good file yields exactly the typed values it says, defaults fill the
// rest, to_toml round-trips, and every kind of mistake is refused with a message that names the
// key and the line and column. Method: one complete good config (kGood, below) with real files in
// a fresh temporary directory; each bad case replaces one line of it (so every line number stays
// that of kGood) and compares the whole error message.
#include "config/config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace vr::config {
namespace {

// Line numbers matter: the bad cases below refer to them.
constexpr std::string_view kGood = R"(# node n1 of a three-node test cluster
[node]
name = "n1"
listen = "127.0.0.1:1104"
data_dir = "{dir}/data"
metrics_listen = "127.0.0.1:9104"
mount = "{dir}/mnt"

[cluster]
secret_file = "{dir}/cluster.key"
encrypt = true
default_volume = "n2"

[[peers]]
name = "n2"
address = "127.0.0.1:1105"

[[peers]]
name = "n3"
address = "[::1]:1106"

[[exports]]
volume = "n1"
path = "{dir}/export1"

[[exports]]
volume = "scratch"
path = "{dir}/export2"
read_only = true

[cache]
size = "64MiB"

[timeouts]
heartbeat_ms = 100
failure_ms = 1000
lease_ms = 1500
grace_ms = 500
request_ms = 5000
connect_backoff_max_ms = 1000
on_unreachable = "block"

[limits]
inflight_per_peer = 32
max_frame_bytes = 1114112

[test]
delay_us = 100
loss_ppm = 10
)";

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
        text.replace(at, from.size(), to);
        at += to.size();
    }
    return text;
}

void write_file(const std::string& path, std::string_view contents, mode_t mode) {
    std::ofstream(path, std::ios::binary) << contents;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// A fresh directory per test holding the files kGood names, plus a few bad ones.
class ConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "vr_config_test.XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        const std::string secret(40, 's');
        write_file(dir_ + "/cluster.key", secret, 0600);
        write_file(dir_ + "/short.key", "too short", 0600);
        write_file(dir_ + "/shared.key", secret, 0640);
        std::filesystem::create_directories(dir_ + "/export1/sub");
        std::filesystem::create_directories(dir_ + "/export2");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string expand(std::string_view text) const {
        return replace_all(std::string(text), "{dir}", dir_);
    }
    std::string good() const { return expand(kGood); }

    // kGood with the first line equal to `line_from` replaced by `line_to`.
    std::string good_with(std::string_view line_from, std::string_view line_to) const {
        std::string text = good();
        std::string from = expand(line_from) + "\n";
        size_t at = text.find(from);
        EXPECT_NE(at, std::string::npos) << "kGood has no line " << from;
        if (at != std::string::npos) {
            text.replace(at, from.size(), expand(line_to) + (line_to.empty() ? "" : "\n"));
        }
        return text;
    }

    // The error message of parsing `text`, which must fail with InvalidArgument.
    std::string error_of(std::string_view text) const {
        Result<NodeConfig> r = parse_config(text, "cluster.toml");
        EXPECT_FALSE(r.is_ok()) << text;
        EXPECT_EQ(r.status().code(), Code::InvalidArgument);
        return r.status().context();
    }

    std::string dir_;
};

TEST_F(ConfigTest, GoodConfigYieldsTypedValues) {
    Result<NodeConfig> r = parse_config(good(), "cluster.toml");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const NodeConfig& c = r.value();
    EXPECT_EQ(c.node.name, "n1");
    EXPECT_EQ(c.node.listen, (Address{"127.0.0.1", 1104}));
    EXPECT_EQ(c.node.data_dir, dir_ + "/data");
    EXPECT_EQ(c.node.client_socket, dir_ + "/data/vremoted.sock") << "default under data_dir";
    EXPECT_EQ(c.node.metrics_listen, (Address{"127.0.0.1", 9104}));
    EXPECT_EQ(c.node.mount, dir_ + "/mnt");
    EXPECT_EQ(c.cluster.secret_file, dir_ + "/cluster.key");
    EXPECT_TRUE(c.cluster.encrypt);
    EXPECT_EQ(c.cluster.default_volume, "n2");
    ASSERT_EQ(c.peers.size(), 2u);
    EXPECT_EQ(c.peers[0], (Peer{"n2", {"127.0.0.1", 1105}}));
    EXPECT_EQ(c.peers[1], (Peer{"n3", {"::1", 1106}}));
    ASSERT_EQ(c.exports.size(), 2u);
    EXPECT_EQ(c.exports[0], (Export{"n1", dir_ + "/export1", false}));
    EXPECT_EQ(c.exports[1], (Export{"scratch", dir_ + "/export2", true}));
    EXPECT_EQ(c.cache.size_bytes, 64u << 20);
    EXPECT_EQ(c.timeouts.heartbeat_ms, 100u);
    EXPECT_EQ(c.timeouts.failure_ms, 1000u);
    EXPECT_EQ(c.timeouts.lease_ms, 1500u);
    EXPECT_EQ(c.timeouts.grace_ms, 500u);
    EXPECT_EQ(c.timeouts.request_ms, 5000u);
    EXPECT_EQ(c.timeouts.connect_backoff_max_ms, 1000u);
    EXPECT_EQ(c.timeouts.on_unreachable, OnUnreachable::Block);
    EXPECT_EQ(c.limits.inflight_per_peer, 32u);
    EXPECT_EQ(c.limits.max_frame_bytes, 1114112u);
    EXPECT_EQ(c.test.delay_us, 100u);
    EXPECT_EQ(c.test.loss_ppm, 10u);
}

TEST_F(ConfigTest, MinimalConfigTakesTheDefaults) {
    std::string text = expand(R"([node]
name = "solo"
listen = "[::1]"
[cluster]
secret_file = "{dir}/cluster.key"
)");
    Result<NodeConfig> r = parse_config(text, "solo.toml");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    NodeConfig expected;
    expected.node.name = "solo";
    expected.node.listen = Address{"::1", kDefaultPort};
    expected.node.client_socket = "/var/lib/vremote/vremoted.sock";
    expected.cluster.secret_file = dir_ + "/cluster.key";
    EXPECT_EQ(r.value(), expected);
    EXPECT_EQ(r.value().cache.size_bytes, 256u << 20);
    EXPECT_EQ(r.value().timeouts.on_unreachable, OnUnreachable::Error);
}

TEST_F(ConfigTest, RoundTripsThroughToml) {
    Result<NodeConfig> first = parse_config(good(), "cluster.toml");
    ASSERT_TRUE(first.is_ok()) << first.status().to_string();
    std::string text = to_toml(first.value());
    Result<NodeConfig> second = parse_config(text, "rendered.toml");
    ASSERT_TRUE(second.is_ok()) << second.status().to_string() << "\n" << text;
    EXPECT_EQ(second.value(), first.value()) << text;
    EXPECT_EQ(to_toml(second.value()), text);
}

TEST_F(ConfigTest, RoundTripsAConfigBuiltInCode) {
    // What `vremote cluster up` does: build a config, write it, have the daemon read it back.
    NodeConfig c;
    c.node.name = "n-2_x.y";
    c.node.listen = Address{"::", 2000};
    c.node.data_dir = "/tmp/odd \"dir\" \\ with\ttab";
    c.node.client_socket = "/tmp/n2.sock";
    c.cluster.secret_file = dir_ + "/cluster.key";
    c.peers.push_back(Peer{"n1", Address{"localhost", 1104}});
    c.exports.push_back(Export{"v", dir_ + "/export2", true});
    c.cache.size_bytes = 12288 + (1u << 20);
    c.timeouts.failure_ms = 201;
    c.test.loss_ppm = 1'000'000;
    std::string text = to_toml(c);
    Result<NodeConfig> back = parse_config(text, "rendered.toml");
    ASSERT_TRUE(back.is_ok()) << back.status().to_string() << "\n" << text;
    EXPECT_EQ(back.value(), c) << text;
}

TEST_F(ConfigTest, LoadsFromAFileAndNamesItInErrors) {
    std::string path = dir_ + "/n1.toml";
    write_file(path, good(), 0644);
    Result<NodeConfig> r = load_config(path);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r.value().node.name, "n1");

    write_file(path, good_with(R"(name = "n3")", R"(name = 3)"), 0644);
    r = load_config(path);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().context(),
              path + ":19:8: peers[1].name: expected a string, got an integer");

    r = load_config(dir_ + "/absent.toml");
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), Code::NotFound);
    EXPECT_EQ(r.status().context(), dir_ + "/absent.toml: cannot open: No such file or directory");
}

TEST_F(ConfigTest, ClientsReadAConfigWithoutItsFiles) {
    // A client may not read the secret (mode 0600, owned by the daemon's user) nor the exports:
    // with FileChecks::Off only the files are not checked; every other rule still holds.
    std::string text = good_with(R"(secret_file = "{dir}/cluster.key")",
                                 R"(secret_file = "{dir}/unreadable.key")");
    text = replace_all(text, dir_ + "/export2", dir_ + "/absent-export");
    EXPECT_FALSE(parse_config(text, "cluster.toml").is_ok());
    Result<NodeConfig> r = parse_config(text, "cluster.toml", FileChecks::Off);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r.value().node.client_socket, dir_ + "/data/vremoted.sock");
    EXPECT_EQ(r.value().cluster.secret_file, dir_ + "/unreadable.key");

    std::string path = dir_ + "/client.toml";
    write_file(path, replace_all(text, "heartbeat_ms = 100", "heartbeat_ms = 0"), 0644);
    r = load_config(path, FileChecks::Off);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().context().find("timeouts.heartbeat_ms: 0 is out of range"),
              std::string::npos)
        << r.status().context();
}

TEST_F(ConfigTest, ReportsEveryProblemInFileOrder) {
    // Without its [cluster] header, the cluster keys land in the [node] table.
    std::string text = good_with("[cluster]", "");
    text = replace_all(text, "heartbeat_ms = 100", "heartbeat_ms = 0");
    EXPECT_EQ(error_of(text),
              "cluster.toml:1:1: cluster: required table [cluster] is missing\n"
              "cluster.toml:9:1: node.secret_file: unknown key (expected one of: name, listen, "
              "data_dir, client_socket, metrics_listen, mount)\n"
              "cluster.toml:10:1: node.encrypt: unknown key (expected one of: name, listen, "
              "data_dir, client_socket, metrics_listen, mount)\n"
              "cluster.toml:11:1: node.default_volume: unknown key (expected one of: name, listen, "
              "data_dir, client_socket, metrics_listen, mount)\n"
              "cluster.toml:34:16: timeouts.heartbeat_ms: 0 is out of range (must be 1-60000)");
}

struct BadCase {
    const char* name;
    const char* line_from;  // a line of kGood
    const char* line_to;    // what replaces it ("" deletes it)
    const char* expected;   // the whole message; {dir} is the test's directory
};

void PrintTo(const BadCase& c, std::ostream* os) {
    *os << c.name;
}

class BadConfigTest : public ConfigTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(BadConfigTest, NamesKeyAndPosition) {
    const BadCase& c = GetParam();
    EXPECT_EQ(error_of(good_with(c.line_from, c.line_to)), expand(c.expected));
}

const BadCase kBadCases[] = {
    {"SyntaxError",
     R"(listen = "127.0.0.1:1104")",
     R"(listen = "127.0.0.1:1104)",
     "cluster.toml:4:25: invalid TOML: Error while parsing string: unescaped control characters "
     "other than TAB (U+0009) are explicitly prohibited"},
    {"DuplicateKeyIsSyntax",
     R"(encrypt = true)",
     "encrypt = true\nencrypt = false",
     "cluster.toml:12:11: invalid TOML: Error while parsing key-value pair: cannot redefine "
     "existing boolean 'encrypt'"},
    {"PortOutOfRange",
     R"(address = "127.0.0.1:1105")",
     R"(address = "127.0.0.1:99999")",
     "cluster.toml:16:11: peers[0].address: \"127.0.0.1:99999\" is not host:port (port must be "
     "1-65535)"},
    {"Ipv6WithoutBrackets",
     R"(address = "[::1]:1106")",
     R"(address = "::1:1106")",
     "cluster.toml:20:11: peers[1].address: \"::1:1106\" is not host:port (an IPv6 address needs "
     "brackets, as in [::1]:1104)"},
    {"BadIpv4",
     R"(listen = "127.0.0.1:1104")",
     R"(listen = "127.0.0.256:1104")",
     "cluster.toml:4:10: node.listen: \"127.0.0.256:1104\" is not host:port (127.0.0.256 is not an "
     "IPv4 address)"},
    {"MissingRequiredKey",
     R"(name = "n1")",
     "",
     "cluster.toml:2:1: node.name: required key is missing"},
    {"MissingPeerAddress",
     R"(address = "[::1]:1106")",
     "",
     "cluster.toml:18:1: peers[1].address: required key is missing"},
    {"WrongType",
     "heartbeat_ms = 100",
     R"(heartbeat_ms = "100")",
     "cluster.toml:35:16: timeouts.heartbeat_ms: expected an integer, got a string"},
    {"WrongTypeBoolean",
     "encrypt = true",
     R"(encrypt = "yes")",
     "cluster.toml:11:11: cluster.encrypt: expected a boolean (true or false), got a string"},
    {"OutOfRange",
     "inflight_per_peer = 32",
     "inflight_per_peer = 0",
     "cluster.toml:44:21: limits.inflight_per_peer: 0 is out of range (must be 1-65536)"},
    {"FrameTooSmall",
     "max_frame_bytes = 1114112",
     "max_frame_bytes = 4096",
     "cluster.toml:45:19: limits.max_frame_bytes: 4096 is out of range (must be 69632-67108864)"},
    {"LossAboveAMillion",
     "loss_ppm = 10",
     "loss_ppm = 1000001",
     "cluster.toml:49:12: test.loss_ppm: 1000001 is out of range (must be 0-1000000)"},
    {"BadSizeUnit",
     R"(size = "64MiB")",
     R"(size = "64MB")",
     "cluster.toml:32:8: cache.size: \"64MB\" is not a size (write a number of bytes, or a number "
     "with a B, KiB, MiB, GiB or TiB suffix)"},
    {"SizeTooSmall",
     R"(size = "64MiB")",
     R"(size = "512KiB")",
     R"(cluster.toml:32:8: cache.size: "512KiB" is out of range (must be 1MiB-1TiB))"},
    {"SizeTooLarge",
     R"(size = "64MiB")",
     R"(size = "2TiB")",
     R"(cluster.toml:32:8: cache.size: "2TiB" is out of range (must be 1MiB-1TiB))"},
    {"SizeNotPages",
     R"(size = "64MiB")",
     "size = 1048577",
     "cluster.toml:32:8: cache.size: 1048577 is not a multiple of the page size (4KiB)"},
    {"SizeWrongType",
     R"(size = "64MiB")",
     "size = 1.5",
     "cluster.toml:32:8: cache.size: expected a size (a string such as \"256MiB\", or an integer "
     "of bytes), got a float"},
    {"BadNodeName",
     R"(name = "n1")",
     R"(name = "n 1")",
     "cluster.toml:3:8: node.name: \"n 1\" is not a valid name (1-64 characters from a-z A-Z "
     "0-9 . _ -)"},
    {"DotDotVolume",
     R"(volume = "scratch")",
     R"(volume = "..")",
     R"(cluster.toml:27:10: exports[1].volume: ".." is not a valid name (. and .. are reserved))"},
    {"DuplicatePeerName",
     R"(name = "n3")",
     R"(name = "n2")",
     R"(cluster.toml:19:8: peers[1].name: "n2" is already the name of peers[0] (line 15))"},
    {"PeerWithOwnName",
     R"(name = "n2")",
     R"(name = "n1")",
     "cluster.toml:15:8: peers[0].name: \"n1\" is this node's own name (node.name); list only the "
     "other nodes"},
    {"DuplicatePeerAddress",
     R"(address = "[::1]:1106")",
     R"(address = "127.0.0.1:1105")",
     "cluster.toml:20:11: peers[1].address: \"127.0.0.1:1105\" is already the address of "
     "peers[0] (line 16)"},
    {"PeerAtOwnAddress",
     R"(address = "127.0.0.1:1105")",
     R"(address = "127.0.0.1")",
     "cluster.toml:16:11: peers[0].address: \"127.0.0.1:1104\" is this node's own address "
     "(node.listen)"},
    {"DuplicateVolume",
     R"(volume = "scratch")",
     R"(volume = "n1")",
     R"(cluster.toml:27:10: exports[1].volume: "n1" is already exported by exports[0] (line 23))"},
    {"UnknownKeyWithSuggestion",
     "heartbeat_ms = 100",
     "hearbeat_ms = 100",
     "cluster.toml:35:1: timeouts.hearbeat_ms: unknown key (did you mean heartbeat_ms?)"},
    {"UnknownKeyInArrayTable",
     R"(read_only = true)",
     R"(readonly = true)",
     "cluster.toml:29:1: exports[1].readonly: unknown key (did you mean read_only?)"},
    {"UnknownTable",
     "[limits]",
     "[limit]",
     "cluster.toml:43:2: limit: unknown key (did you mean limits?)"},
    {"UnknownKeyWithoutSuggestion",
     "encrypt = true",
     "compress = true",
     "cluster.toml:11:1: cluster.compress: unknown key (expected one of: secret_file, encrypt, "
     "default_volume)"},
    {"RelativeDataDir",
     R"(data_dir = "{dir}/data")",
     R"(data_dir = "data")",
     R"(cluster.toml:5:12: node.data_dir: "data" is not an absolute path)"},
    {"RelativeSecretFile",
     R"(secret_file = "{dir}/cluster.key")",
     R"(secret_file = "cluster.key")",
     R"(cluster.toml:10:15: cluster.secret_file: "cluster.key" is not an absolute path)"},
    {"ExportMissing",
     R"(path = "{dir}/export1")",
     R"(path = "{dir}/nope")",
     R"(cluster.toml:24:8: exports[0].path: "{dir}/nope" does not exist)"},
    {"ExportNotADirectory",
     R"(path = "{dir}/export2")",
     R"(path = "{dir}/cluster.key")",
     R"(cluster.toml:28:8: exports[1].path: "{dir}/cluster.key" is not a directory)"},
    {"ExportsOverlap",
     R"(path = "{dir}/export2")",
     R"(path = "{dir}/export1/sub/")",
     "cluster.toml:28:8: exports[1].path: \"{dir}/export1/sub/\" lies inside exports[0].path "
     "(line 24); exports must not overlap"},
    {"MountInsideExport",
     R"(mount = "{dir}/mnt")",
     R"(mount = "{dir}/export2/mnt")",
     "cluster.toml:7:9: node.mount: \"{dir}/export2/mnt\" overlaps exports[1].path (line 28); the "
     "FUSE mount must be outside every export"},
    {"SecretMissing",
     R"(secret_file = "{dir}/cluster.key")",
     R"(secret_file = "{dir}/missing.key")",
     "cluster.toml:10:15: cluster.secret_file: \"{dir}/missing.key\" cannot be opened: No such "
     "file or directory"},
    {"SecretTooShort",
     R"(secret_file = "{dir}/cluster.key")",
     R"(secret_file = "{dir}/short.key")",
     "cluster.toml:10:15: cluster.secret_file: \"{dir}/short.key\" has 9 bytes; a cluster secret "
     "needs at least 32"},
    {"SecretGroupReadable",
     R"(secret_file = "{dir}/cluster.key")",
     R"(secret_file = "{dir}/shared.key")",
     "cluster.toml:10:15: cluster.secret_file: \"{dir}/shared.key\" has mode 0640; the cluster "
     "secret must not be readable or writable by group or others (chmod 600 it)"},
    {"SecretIsADirectory",
     R"(secret_file = "{dir}/cluster.key")",
     R"(secret_file = "{dir}/export1")",
     R"(cluster.toml:10:15: cluster.secret_file: "{dir}/export1" is not a regular file)"},
    {"FailureNotAfterHeartbeat",
     "failure_ms = 1000",
     "failure_ms = 100",
     "cluster.toml:36:14: timeouts.failure_ms: 100 must be greater than heartbeat_ms (100): a peer "
     "is declared down only after it missed heartbeats"},
    {"DefaultFailureNotAfterHeartbeat",
     "heartbeat_ms = 100\nfailure_ms = 1000",
     "heartbeat_ms = 5000",
     "cluster.toml:34:1: timeouts.failure_ms: 2000 must be greater than heartbeat_ms (5000): a "
     "peer is declared down only after it missed heartbeats"},
    {"ZeroLease",
     "lease_ms = 1500",
     "lease_ms = 0",
     "cluster.toml:37:12: timeouts.lease_ms: 0 is out of range (must be 4-3600000)"},
    {"ZeroGrace",
     "grace_ms = 500",
     "grace_ms = 0",
     "cluster.toml:38:12: timeouts.grace_ms: 0 is out of range (must be 1-3600000)"},
    {"BadOnUnreachable",
     R"(on_unreachable = "block")",
     R"(on_unreachable = "wait")",
     R"(cluster.toml:41:18: timeouts.on_unreachable: "wait" is not "error" or "block")"},
    {"MetricsNotLoopback",
     R"(metrics_listen = "127.0.0.1:9104")",
     R"(metrics_listen = "0.0.0.0")",
     "cluster.toml:6:18: node.metrics_listen: \"0.0.0.0\" is not a loopback address (the metrics "
     "endpoint is local only: use 127.0.0.1 or [::1])"},
    {"SocketPathTooLong",
     R"(data_dir = "{dir}/data")",
     "client_socket = \"/run/vremote/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaa.sock\"",
     "cluster.toml:5:17: node.client_socket: \"/run/vremote/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaa.sock\" is 126 bytes long; a Unix socket path is at most 107"},
    {"PeersNotAnArray",
     "[[peers]]\nname = \"n2\"\naddress = \"127.0.0.1:1105\"\n\n[[peers]]",
     "[peers]",
     "cluster.toml:14:1: peers: expected an array of tables ([[peers]]), got a table"},
};

INSTANTIATE_TEST_SUITE_P(Config,
                         BadConfigTest,
                         ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& param_info) {
                             return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace vr::config
