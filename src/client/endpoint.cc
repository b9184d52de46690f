#include "client/endpoint.h"

#include <sys/stat.h>

#include <cstdlib>

#include "config/config.h"

namespace vr::client {

std::string default_config_path() {
    const char* env = std::getenv(kConfigEnv);
    if (env != nullptr && env[0] != '\0') {
        return env;
    }
    return std::string(kDefaultConfig);
}

Result<Endpoint> resolve_endpoint(std::string_view config_or_socket) {
    std::string path =
        config_or_socket.empty() ? default_config_path() : std::string(config_or_socket);
    struct stat st {};
    bool regular = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (!path.ends_with(".toml") && !regular) {
        return Endpoint{path, kDefaultTimeout, {}};
    }
    auto config = config::load_config(path, config::FileChecks::Off);
    if (!config.is_ok()) {
        return config.status();
    }
    Endpoint e;
    e.socket_path = config.value().node.client_socket;
    e.timeout = std::chrono::milliseconds(config.value().timeouts.request_ms) + kTimeoutMargin;
    e.config_path = std::move(path);
    return e;
}

Result<std::unique_ptr<Session>> connect(std::string_view config_or_socket) {
    auto e = resolve_endpoint(config_or_socket);
    if (!e.is_ok()) {
        return e.status();
    }
    return Session::connect(e.value().socket_path, e.value().timeout);
}

}  // namespace vr::client
