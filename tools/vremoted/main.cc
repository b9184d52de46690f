// vremoted: the vremote node daemon. `vremoted --config FILE` runs one node in the foreground,
// logging to stderr, until SIGTERM or SIGINT; it then writes back modified pages and exits 0.
// A bad configuration is reported (every problem, with its line) and exits 2.

#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/log.h"
#include "config/config.h"
#include "fuse/frontend.h"
#include "net/http_metrics.h"
#include "node/client_server.h"
#include "node/node.h"
#include "runtime/event_loop.h"

namespace {

void usage(FILE* out) {
    std::fputs(
        "usage: vremoted --config FILE [--log-level debug|info|warn|error]\n"
        "Runs one vremote node in the foreground until SIGTERM or SIGINT.\n",
        out);
}

// Cache frames are 4 KiB heap blocks, one per cached page, and a cold read allocates one for
// every page it brings in. On 4 KiB pages each new frame costs a page fault (and in a VM an exit
// to the hypervisor): measured at half of a non-home node's CPU during a cold sequential read.
// glibc backs its heap with transparent huge pages when the tunable glibc.malloc.hugetlb=1 is
// set, which only works from the start of the process: so unless GLIBC_TUNABLES already says
// something about it (glibc.malloc.hugetlb=0 opts out), the daemon re-executes itself once with
// it set. If that fails, it runs on as it is.
void exec_with_huge_page_heap(char** argv) {
    const char* now = std::getenv("GLIBC_TUNABLES");
    std::string tunables = now != nullptr ? now : "";
    if (tunables.find("glibc.malloc.hugetlb") != std::string::npos) {
        return;
    }
    tunables += tunables.empty() ? "glibc.malloc.hugetlb=1" : ":glibc.malloc.hugetlb=1";
    if (::setenv("GLIBC_TUNABLES", tunables.c_str(), 1) != 0) {
        return;
    }
    ::execv("/proc/self/exe", argv);
    // Still here: the tunable stays set for any child, which is harmless.
}

}  // namespace

int main(int argc, char** argv) {
    using namespace vr;
    using node::Node;
    exec_with_huge_page_heap(argv);
    std::string config_path;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            config_path = a.substr(9);
        } else if (a == "--log-level" && i + 1 < argc) {
            std::string l = argv[++i];
            log::set_level(l == "debug"   ? log::Level::Debug
                           : l == "warn"  ? log::Level::Warn
                           : l == "error" ? log::Level::Error
                                          : log::Level::Info);
        } else if (a == "--help" || a == "-h") {
            usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "vremoted: unknown argument '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (config_path.empty()) {
        const char* env = std::getenv("VREMOTE_CONFIG");
        config_path = env != nullptr ? env : "/etc/vremote/vremote.toml";
    }
    auto cfg = config::load_config(config_path);
    if (!cfg.is_ok()) {
        std::fprintf(stderr, "vremoted: %s\n", cfg.status().to_string().c_str());
        return 2;
    }
    log::set_name(cfg->node.name);
    ::umask(022);
    if (::mkdir(cfg->node.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        log::error("cannot create data_dir {}: {}", cfg->node.data_dir, std::strerror(errno));
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    // Blocked in every thread (threads inherit the mask), read from a signalfd on the loop.
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    int sfd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    runtime::EventLoop loop;
    auto node = node::Node::create(cfg.value(), loop);
    if (!node.is_ok()) {
        log::error("{}", node.status().to_string());
        return 1;
    }
    Status st = node.value()->start();
    if (!st.is_ok()) {
        log::error("cannot start: {}", st.to_string());
        return 1;
    }
    node::ClientServer clients(
        loop, *node.value(), node::ClientServerOptions{cfg->node.client_socket});
    st = clients.start();
    if (!st.is_ok()) {
        log::error("cannot start the client socket: {}", st.to_string());
        return 1;
    }
    std::unique_ptr<fuse::FuseFrontEnd> mount;
    if (cfg->node.mount) {
        fuse::FuseOptions fo;
        fo.mountpoint = *cfg->node.mount;
        mount = std::make_unique<fuse::FuseFrontEnd>(loop, *node.value(), fo);
        node.value()->set_kernel_cache(mount.get());
        fuse::FuseFrontEnd* fe = mount.get();
        node.value()->set_counter_source([fe](std::vector<wire::Counter>& out) {
            const fuse::FuseStats& fs = fe->stats();
            out.push_back(wire::Counter{"fuse_requests", fs.requests});
            out.push_back(wire::Counter{"fuse_reads", fs.reads});
            out.push_back(wire::Counter{"fuse_writes", fs.writes});
            out.push_back(wire::Counter{"fuse_lookups", fs.lookups});
        });
        st = mount->mount();
        if (!st.is_ok()) {
            log::error("cannot mount: {}", st.to_string());
            node.value()->set_kernel_cache(nullptr);
            return 1;
        }
    }
    std::unique_ptr<net::HttpMetrics> metrics;
    if (cfg->node.metrics_listen) {
        Node* n = node.value().get();
        metrics = std::make_unique<net::HttpMetrics>(loop, [n] { return n->metrics_text(); });
        st = metrics->listen(cfg->node.metrics_listen->host, cfg->node.metrics_listen->port);
        if (!st.is_ok()) {
            log::error("cannot serve metrics: {}", st.to_string());
            return 1;
        }
        log::info(
            "metrics on http://{}:{}/metrics", cfg->node.metrics_listen->host, metrics->port());
    }
    bool stopping = false;
    (void)loop.add(sfd, EPOLLIN, [&](uint32_t) {
        signalfd_siginfo si{};
        while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            if (stopping) {
                log::warn("second signal: exiting now");
                std::_Exit(1);
            }
            stopping = true;
            log::info("signal {}: stopping", si.ssi_signo);
            clients.stop();
            // Write back what this node holds modified (the mount keeps serving meanwhile),
            // then unmount.
            node.value()->shutdown([&] {
                if (mount) {
                    node.value()->set_kernel_cache(nullptr);
                    node.value()->set_counter_source(nullptr);
                    mount->unmount();
                }
                loop.stop();
            });
        }
    });
    log::info("client socket {}", cfg->node.client_socket);
    st = loop.run();
    if (!st.is_ok()) {
        log::error("event loop: {}", st.to_string());
        return 1;
    }
    log::info("stopped");
    return 0;
}
