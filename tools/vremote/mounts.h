// The mounts of a local cluster: node nK mounts the cluster at DIR/nK/mnt (node.mount). `cluster
// up` waits until every one is listed in /proc/self/mountinfo; `cluster down` and `cluster up`
// detach any left behind (by a daemon that crashed: its FUSE mount then answers every access with
// ENOTCONN, "Transport endpoint is not connected").
//
// Whether a path is a mount point is read from mountinfo only, never by touching the path: a
// FUSE mount whose daemon hangs would block a stat for ever.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vr::cli {

struct MountEntry {
    std::string mount_point;  // unescaped
    std::string fstype;       // "fuse.vremote", "tmpfs", ...
    std::string source;
};

// The entries of /proc/<pid>/mountinfo's text, in order (later entries are mounted on top).
// Malformed lines are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

// The mounts whose mount point is exactly `path` (absolute, canonical), bottom first; read from
// /proc/self/mountinfo.
std::vector<MountEntry> mounts_at(const std::string& path);

// Detaches the topmost mount at `path` lazily: umount2(MNT_DETACH), or `fusermount3 -uz` where
// that is not permitted (an unprivileged user's FUSE mount).
Status detach_mount(const std::string& path);

// Detaches every mount left at DIR/nK/mnt for each node directory DIR/nK; one line per detached
// mount in *notes ("DIR/n1/mnt (fuse.vremote)"), problems in the Status.
Status detach_node_mounts(const std::string& dir, std::vector<std::string>* notes);

}  // namespace vr::cli
