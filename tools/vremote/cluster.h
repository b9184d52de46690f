// `vremote cluster up` and `vremote cluster down`: a local test cluster of N vremoted processes
// on 127.0.0.1, all state under one directory:
//
//   DIR/secret                 32 random bytes, mode 0600 (the cluster secret)
//   DIR/nK/vremote.toml        node nK's config: every other node a peer, exports volume nK
//   DIR/nK/export/             the export of volume nK
//   DIR/nK/data/               data_dir; the client socket is DIR/nK/data/vremoted.sock
//   DIR/nK/vremoted.log        the daemon's stdout and stderr, appended
//   DIR/nK/vremoted.pid        its pid while it runs
//
// NOTE: untested against a real daemon (vremoted did not exist when this was written). The
// config generation and link check below are unit tested; process control is not.
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

// Node K's config (K from 1) in a cluster whose node J listens on 127.0.0.1:ports[J-1].
// `dir` is absolute.
config::NodeConfig cluster_node_config(const std::string& dir,
                                       uint32_t k,
                                       const std::vector<uint16_t>& ports,
                                       const Command& cmd);

// Whether a node's Status reply shows every other node of `names` with its link Up. If not,
// `*missing` says which are not ("n3 connecting, n4 absent").
bool all_links_up(const std::vector<wire::NodeStatus>& nodes,
                  const std::string& self,
                  const std::vector<std::string>& names,
                  std::string* missing);

// The last `lines` lines of a file (for a daemon's log); "" if it cannot be read.
std::string tail_of_file(const std::string& path, size_t lines);

}  // namespace vr::cli
