// Writing a NodeConfig as TOML: every key in the order of docs/config.md, defaults written out
// so that a generated file (vremote cluster up) shows every setting. Strings go through quote(),
// so any path or name survives the round trip through parse_config.
#include <fmt/format.h>

#include "config/config.h"

namespace vr::config {

namespace {

void put(std::string& out, std::string_view key, std::string_view value) {
    out += fmt::format("{} = {}\n", key, value);
}

void put_string(std::string& out, std::string_view key, std::string_view value) {
    put(out, key, quote(value));
}

void put_bool(std::string& out, std::string_view key, bool value) {
    put(out, key, value ? "true" : "false");
}

void put_number(std::string& out, std::string_view key, uint64_t value) {
    put(out, key, std::to_string(value));
}

void render_node(std::string& out, const NodeSection& node) {
    out += "[node]\n";
    put_string(out, "name", node.name);
    put_string(out, "listen", format_address(node.listen));
    put_string(out, "data_dir", node.data_dir);
    put_string(out, "client_socket", node.client_socket);
    if (node.metrics_listen.has_value()) {
        put_string(out, "metrics_listen", format_address(*node.metrics_listen));
    }
    if (node.mount.has_value()) {
        put_string(out, "mount", *node.mount);
    }
}

void render_cluster(std::string& out, const ClusterSection& cluster) {
    out += "\n[cluster]\n";
    put_string(out, "secret_file", cluster.secret_file);
    put_bool(out, "encrypt", cluster.encrypt);
    if (cluster.default_volume.has_value()) {
        put_string(out, "default_volume", *cluster.default_volume);
    }
}

void render_lists(std::string& out, const NodeConfig& config) {
    for (const Peer& peer : config.peers) {
        out += "\n[[peers]]\n";
        put_string(out, "name", peer.name);
        put_string(out, "address", format_address(peer.address));
    }
    for (const Export& entry : config.exports) {
        out += "\n[[exports]]\n";
        put_string(out, "volume", entry.volume);
        put_string(out, "path", entry.path);
        put_bool(out, "read_only", entry.read_only);
    }
}

void render_tuning(std::string& out, const NodeConfig& config) {
    out += "\n[cache]\n";
    put_string(out, "size", format_size(config.cache.size_bytes));

    const Timeouts& t = config.timeouts;
    out += "\n[timeouts]\n";
    put_number(out, "heartbeat_ms", t.heartbeat_ms);
    put_number(out, "failure_ms", t.failure_ms);
    put_number(out, "lease_ms", t.lease_ms);
    put_number(out, "grace_ms", t.grace_ms);
    put_number(out, "request_ms", t.request_ms);
    put_number(out, "connect_backoff_max_ms", t.connect_backoff_max_ms);
    put_string(out, "on_unreachable", on_unreachable_name(t.on_unreachable));

    out += "\n[limits]\n";
    put_number(out, "inflight_per_peer", config.limits.inflight_per_peer);
    put_number(out, "max_frame_bytes", config.limits.max_frame_bytes);

    if (config.test != TestKnobs{}) {
        out += "\n[test]\n";
        put_number(out, "delay_us", config.test.delay_us);
        put_number(out, "loss_ppm", config.test.loss_ppm);
        put_number(out, "loss_rto_us", config.test.loss_rto_us);
        put_number(out, "reset_ppm", config.test.reset_ppm);
        if (!config.test.fault.empty()) {
            put_string(out, "fault", config.test.fault);
        }
    }
}

}  // namespace

std::string to_toml(const NodeConfig& config) {
    std::string out = "# vremoted node configuration; every key is described in docs/config.md.\n";
    render_node(out, config.node);
    render_cluster(out, config.cluster);
    render_lists(out, config);
    render_tuning(out, config);
    return out;
}

}  // namespace vr::config
