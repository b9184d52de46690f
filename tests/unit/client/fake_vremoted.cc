// fake_vremoted: a stand-in for the daemon that `vremote cluster up` can start, until vremoted
// exists. `fake_vremoted --config FILE` reads the node config, serves the client socket with
// FakeDaemon (Status shows every peer Up), logs to stderr and exits 0 on SIGTERM or SIGINT.
// If $FAKE_VREMOTED_FAIL names this node, it fails at once with status 3; if
// $FAKE_VREMOTED_ISOLATED does, its Status shows every peer Connecting (for the failure paths).
//
// With node.mount it mounts a tmpfs there in place of the FUSE mount (so it must run as root) and
// unmounts it on SIGTERM, as vremoted does. If $FAKE_VREMOTED_NO_MOUNT names this node it mounts
// nothing; if $FAKE_VREMOTED_LEAVE_MOUNT does, it exits without unmounting, as a crashed daemon
// would.
#include <signal.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "config/config.h"
#include "fake_daemon.h"

int main(int argc, char** argv) {
    if (argc != 3 || std::strcmp(argv[1], "--config") != 0) {
        std::fprintf(stderr, "usage: fake_vremoted --config FILE\n");
        return 2;
    }
    // Block the signals before any thread starts, so that sigwait below receives them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto config = vr::config::load_config(argv[2]);
    if (!config.is_ok()) {
        std::fprintf(stderr, "fake_vremoted: %s\n", config.status().to_string().c_str());
        return 1;
    }
    const vr::config::NodeConfig& c = config.value();
    const char* fail = std::getenv("FAKE_VREMOTED_FAIL");
    if (fail != nullptr && c.node.name == fail) {
        std::fprintf(stderr, "fake_vremoted %s: failing on purpose\n", c.node.name.c_str());
        return 3;
    }
    const char* isolated = std::getenv("FAKE_VREMOTED_ISOLATED");
    auto link = isolated != nullptr && c.node.name == isolated ? vr::wire::LinkState::Connecting
                                                               : vr::wire::LinkState::Up;
    std::vector<vr::wire::NodeStatus> status = {{0, c.node.name, vr::wire::LinkState::Self, 0, 1}};
    for (const auto& p : c.peers) {
        status.push_back({static_cast<vr::coherence::NodeId>(status.size()), p.name, link, 100, 1});
    }
    auto named = [&](const char* variable) {
        const char* v = std::getenv(variable);
        return v != nullptr && c.node.name == v;
    };
    bool mounted = false;
    if (c.node.mount.has_value() && !named("FAKE_VREMOTED_NO_MOUNT")) {
        if (::mount("fake_vremoted", c.node.mount->c_str(), "tmpfs", 0, "size=1m") != 0) {
            std::fprintf(stderr,
                         "fake_vremoted %s: cannot mount %s: %s\n",
                         c.node.name.c_str(),
                         c.node.mount->c_str(),
                         std::strerror(errno));
            return 4;
        }
        mounted = true;
        std::fprintf(
            stderr, "fake_vremoted %s: mounted %s\n", c.node.name.c_str(), c.node.mount->c_str());
    }
    std::filesystem::create_directories(c.node.data_dir);
    std::filesystem::remove(c.node.client_socket);
    {
        vr::client::test::FakeDaemon daemon(c.node.client_socket, status);
        std::fprintf(stderr,
                     "fake_vremoted %s: serving %s\n",
                     c.node.name.c_str(),
                     c.node.client_socket.c_str());
        int sig = 0;
        sigwait(&signals, &sig);
        std::fprintf(stderr, "fake_vremoted %s: exiting on signal %d\n", c.node.name.c_str(), sig);
    }
    if (mounted && !named("FAKE_VREMOTED_LEAVE_MOUNT") && ::umount(c.node.mount->c_str()) != 0) {
        std::fprintf(stderr,
                     "fake_vremoted %s: cannot unmount: %s\n",
                     c.node.name.c_str(),
                     std::strerror(errno));
        return 5;
    }
    return 0;
}
