// Where an O_REMOTE open goes: the rules of docs/preload.md, as pure string functions. The
// caller (preload.cc) supplies the directory a relative path starts from and a test for
// "this name is a volume directory of the mount"; nothing here touches the file system.
//
// Results are errno values: the preload library is the edge where vremote meets errno.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vr::preload {

// A directory of this node exported as a volume. An export may be listed twice: under its path
// as written in the config and under its real path (symbolic links resolved), since getcwd and
// /proc/self/fd give real paths.
struct ExportRoot {
    std::string volume;
    std::string path;  // absolute, normalised

    friend bool operator==(const ExportRoot&, const ExportRoot&) = default;
};

struct Namespace {
    std::string mount;       // node.mount, normalised
    std::string mount_real;  // its real path if that differs (else empty)
    std::vector<ExportRoot> exports;
    std::string default_volume;  // VREMOTE_VOLUME, else cluster.default_volume; may be empty
};

struct Target {
    int error = 0;         // 0, or the errno of the failed open
    std::string path;      // the absolute path on the mount to open
    std::string_view why;  // on error: a short reason (for messages and tests)
};

// True if `name` names a volume of the cluster (a directory directly under the mount).
using IsVolume = std::function<bool(std::string_view name)>;

// `path` as given to open/openat; `base` the directory a relative path starts from (the cwd or
// the dirfd's directory, absolute), or empty if unknown; `origin` whether O_ORIGIN was given.
// The result is normalised, with the path's trailing slash if it had one.
Target resolve(const Namespace& ns,
               std::string_view base,
               std::string_view path,
               bool origin,
               const IsVolume& is_volume);

// `path` (absolute) with "//", "." and ".." removed lexically, symbolic links not followed; ".."
// at the root stays at the root. No trailing slash except for "/" itself.
std::string normalize(std::string_view path);

}  // namespace vr::preload
