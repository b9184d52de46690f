// `vremote cluster up / down / link / shape`: a local test cluster of N vremoted processes, all
// state under one directory (docs/cluster.md):
//
//   DIR/secret                 32 random bytes, mode 0600 (the cluster secret)
//   DIR/netns                  with --netns: the namespaces created for it (netns.h)
//   DIR/nK/vremote.toml        node nK's config: every other node a peer, exports volume nK
//   DIR/nK/export/             the export of volume nK
//   DIR/nK/data/               data_dir; the client socket is DIR/nK/data/vremoted.sock
//   DIR/nK/mnt/                node.mount, the node's FUSE mount (not with --no-mount)
//   DIR/nK/vremoted.log        the daemon's stdout and stderr, appended
//   DIR/nK/vremoted.pid        its pid while it runs
//
// Nodes listen on 127.0.0.1 (ports from --base-port, or free ones), or with --netns each in a
// network namespace of its own on 10.77.X.K:1104. The client socket and the mount are in the
// caller's namespaces either way, so `vremote --config DIR/nK/vremote.toml ...` works from the
// host. The config generation, the link check and the mount and namespace helpers are unit
// tested; the whole runs in tests/unit/client/cluster_test.sh (with a stand-in daemon) and
// tests/integration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "config/config.h"
#include "wire/client.h"

namespace vr::cli {

int cluster_up(const Command& cmd, const Io& io);
int cluster_down(const Command& cmd, const Io& io);
int cluster_link(const Command& cmd, const Io& io);
int cluster_shape(const Command& cmd, const Io& io);

// Node K's config (K from 1) in a cluster whose node J listens on listen[J-1]; with cmd.mount,
// node.mount is DIR/nK/mnt. `dir` is absolute.
config::NodeConfig cluster_node_config(const std::string& dir,
                                       uint32_t k,
                                       const std::vector<config::Address>& listen,
                                       const Command& cmd);

// 127.0.0.1:ports[i] for each port.
std::vector<config::Address> loopback_addresses(const std::vector<uint16_t>& ports);

// Whether a node's Status reply shows every other node of `names` with its link Up. If not,
// `*missing` says which are not ("n3 connecting, n4 absent").
bool all_links_up(const std::vector<wire::NodeStatus>& nodes,
                  const std::string& self,
                  const std::vector<std::string>& names,
                  std::string* missing);

// The last `lines` lines of a file (for a daemon's log); "" if it cannot be read.
std::string tail_of_file(const std::string& path, size_t lines);

}  // namespace vr::cli
