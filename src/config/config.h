// The configuration of one vremoted node: one TOML file per node, described key by key in
// docs/config.md. load_config and parse_config return a NodeConfig whose every value has been
// parsed, range-checked and cross-checked, and whose files (the cluster secret, the export
// directories) have been checked on disk; no TOML type appears in this interface. to_toml writes
// a NodeConfig back in a form that parse_config reads to an equal NodeConfig.
//
// Errors are InvalidArgument Statuses whose context lists every problem found, one per line,
// in file order, each as
//
//   <source>:<line>:<column>: <dotted key>: <what is wrong>
//   cluster.toml:12:11: peers[1].address: "127.0.0.1:99999" is not host:port (port must be 1-65535)
//
// Array indexes count from 0. The position is that of the value, of the key for unknown keys, and
// of the enclosing table's header for missing keys. A TOML syntax error stops parsing and is the
// only problem reported.
//
// Every field is named after its TOML key (the one exception: cache.size is size_bytes), and
// every default lives here, in the member initializers: NodeConfig{} is the default config
// except for the required keys (node.name, node.listen, cluster.secret_file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/values.h"

namespace vr::config {

// At most 64 nodes per cluster (coherence::kMaxNodes): 63 peers besides this node.
inline constexpr size_t kPeersMax = 63;
inline constexpr size_t kExportsMax = 256;
// The config file itself is read whole; anything this large is not a config.
inline constexpr size_t kFileBytesMax = 1 << 20;

// What a request whose home node is unreachable does.
enum class OnUnreachable : uint8_t {
    Error,  // fail at once with Unavailable (EIO at the FUSE and shim edges)
    Block,  // wait for the home to come back, up to the request's own deadline (request_ms)
};

struct NodeSection {
    std::string name;  // required
    Address listen;    // required
    std::string data_dir = "/var/lib/vremote";
    // Default: data_dir + "/vremoted.sock" (filled in by the parser).
    std::string client_socket;
    std::optional<Address> metrics_listen;  // loopback only
    std::optional<std::string> mount;

    friend bool operator==(const NodeSection&, const NodeSection&) = default;
};

struct ClusterSection {
    std::string secret_file;  // required
    bool encrypt = false;
    std::optional<std::string> default_volume;

    friend bool operator==(const ClusterSection&, const ClusterSection&) = default;
};

struct Peer {
    std::string name;
    Address address;

    friend bool operator==(const Peer&, const Peer&) = default;
};

struct Export {
    std::string volume;
    std::string path;  // absolute, an existing directory; as written in the file
    bool read_only = false;

    friend bool operator==(const Export&, const Export&) = default;
};

struct CacheSection {
    uint64_t size_bytes = uint64_t{256} << 20;  // a multiple of 4 KiB, 1 MiB..1 TiB

    friend bool operator==(const CacheSection&, const CacheSection&) = default;
};

struct Timeouts {
    uint32_t heartbeat_ms = 200;
    uint32_t failure_ms = 2000;  // > heartbeat_ms
    uint32_t lease_ms = 2000;
    uint32_t grace_ms = 1000;
    uint32_t request_ms = 10000;
    uint32_t connect_backoff_max_ms = 2000;
    OnUnreachable on_unreachable = OnUnreachable::Error;

    friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

struct Limits {
    uint32_t inflight_per_peer = 64;
    uint32_t max_frame_bytes = 1114112;  // 1 MiB of page data plus a 64 KiB body

    friend bool operator==(const Limits&, const Limits&) = default;
};

// Test-only knobs; zero (off) in production.
struct TestKnobs {
    uint32_t delay_us = 0;  // added to every message sent
    // Messages lost per million sent. As under TCP, a lost message is sent again after
    // loss_rto_us, and everything after it on that link waits behind it (FIFO, nothing lost).
    uint32_t loss_ppm = 0;
    uint32_t loss_rto_us = 200'000;  // Linux's minimum TCP retransmission timeout
    uint32_t reset_ppm = 0;          // messages per million whose connection breaks instead
    // A planted bug, to show that the tests catch it: "" (none) or "skip-kernel-invalidation"
    // (the node acknowledges invalidations without telling the kernel).
    std::string fault;

    friend bool operator==(const TestKnobs&, const TestKnobs&) = default;
};

struct NodeConfig {
    NodeSection node;
    ClusterSection cluster;
    std::vector<Peer> peers;
    std::vector<Export> exports;
    CacheSection cache;
    Timeouts timeouts;
    Limits limits;
    TestKnobs test;

    friend bool operator==(const NodeConfig&, const NodeConfig&) = default;
};

// Whether parsing checks the files a config names on disk (the cluster secret's type, size and
// mode; the export directories' access). The daemon always does. Clients that only need
// node.client_socket (the C library, the vremote CLI) turn them off: they run as users who may
// not read the secret. Every other check runs either way.
enum class FileChecks : uint8_t { On, Off };

// Reads and parses the file; messages name the file by `path` as given. A missing file is
// NotFound, an unreadable one PermissionDenied or IoError; everything else is InvalidArgument.
Result<NodeConfig> load_config(const std::string& path, FileChecks checks = FileChecks::On);

// Parses a config held in memory; `source_name` names it in messages. Relative to the process,
// not to any file: paths in a config are absolute.
Result<NodeConfig> parse_config(std::string_view toml_text,
                                std::string_view source_name,
                                FileChecks checks = FileChecks::On);

// Every key, in the order of docs/config.md, defaults included ([test] only when a knob is on,
// optional keys only when set).
std::string to_toml(const NodeConfig& config);

std::string_view on_unreachable_name(OnUnreachable mode);

}  // namespace vr::config
