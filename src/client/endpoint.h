// Where a client finds its daemon: a node config (the daemon's own TOML file, whose
// node.client_socket it listens on) or the socket itself, and how long to wait for replies.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "client/session.h"

namespace vr::client {

// The config used when none is named and $VREMOTE_CONFIG is unset or empty.
inline constexpr std::string_view kDefaultConfig = "/etc/vremote/vremote.toml";
inline constexpr const char* kConfigEnv = "VREMOTE_CONFIG";
// The per-call deadline when only a socket is named.
inline constexpr std::chrono::milliseconds kDefaultTimeout{30'000};
// Added to a config's timeouts.request_ms: the daemon fails a request that runs out of time with
// Timeout itself, and the client waits a little longer so that this answer reaches it.
inline constexpr std::chrono::milliseconds kTimeoutMargin{5'000};

struct Endpoint {
    std::string socket_path;
    std::chrono::milliseconds timeout = kDefaultTimeout;
    std::string config_path;  // the config the socket came from; empty when given a socket
};

// $VREMOTE_CONFIG if it is set and not empty, else kDefaultConfig.
std::string default_config_path();

// Resolves `config_or_socket`: empty means default_config_path(); a path that ends in ".toml" or
// names a regular file is a node config, read with config::FileChecks::Off (a client need not
// be able to read the cluster secret), whose node.client_socket is the socket and whose
// timeouts.request_ms + kTimeoutMargin is the timeout; any other path is the socket itself.
Result<Endpoint> resolve_endpoint(std::string_view config_or_socket);

// resolve_endpoint, then Session::connect.
Result<std::unique_ptr<Session>> connect(std::string_view config_or_socket);

}  // namespace vr::client
