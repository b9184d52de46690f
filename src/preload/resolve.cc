#include "preload/resolve.h"

#include <cerrno>
#include <climits>

#include "config/values.h"

namespace vr::preload {

namespace {

// Splits `path` at slashes, dropping empty and "." components.
std::vector<std::string_view> components(std::string_view path) {
    std::vector<std::string_view> out;
    while (!path.empty()) {
        size_t slash = path.find('/');
        std::string_view c = path.substr(0, slash);
        path = slash == std::string_view::npos ? "" : path.substr(slash + 1);
        if (!c.empty() && c != ".") {
            out.push_back(c);
        }
    }
    return out;
}

std::string join(std::string_view dir, std::string_view rest) {
    std::string out(dir);
    if (!rest.empty()) {
        if (out.empty() || out.back() != '/') {
            out += '/';
        }
        out += rest;
    }
    return out;
}

// The part of `path` below `dir` (both normalised; `path` within `dir`), without a leading slash.
std::string_view below(std::string_view path, std::string_view dir) {
    if (dir == "/") {
        return path.substr(1);
    }
    return path.size() == dir.size() ? std::string_view() : path.substr(dir.size() + 1);
}

Target fail(int error, std::string_view why) {
    Target t;
    t.error = error;
    t.why = why;
    return t;
}

Target done(std::string path) {
    if (path.size() > PATH_MAX - 1) {
        return fail(ENAMETOOLONG, "the path on the mount is too long");
    }
    Target t;
    t.path = std::move(path);
    return t;
}

// A normalised absolute path with the mount's real path spelled as the mount.
std::string as_mount_path(const Namespace& ns, std::string path) {
    if (!ns.mount_real.empty() && config::is_within(path, ns.mount_real)) {
        return join(ns.mount, below(path, ns.mount_real));
    }
    return path;
}

// The export holding `path` (normalised), the longest match first.
const ExportRoot* export_of(const Namespace& ns, std::string_view path) {
    const ExportRoot* best = nullptr;
    for (const ExportRoot& e : ns.exports) {
        if (config::is_within(path, e.path) &&
            (best == nullptr || e.path.size() > best->path.size())) {
            best = &e;
        }
    }
    return best;
}

Target in_export(const Namespace& ns, const ExportRoot& e, std::string_view path) {
    return done(join(join(ns.mount, e.volume), below(path, e.path)));
}

// A relative path whose directory is on the mount: joined to it, and it must stay in that
// directory's volume (or in the mount, from the mount's root).
Target on_mount(const Namespace& ns, std::string_view base, std::string_view path) {
    std::string joined = normalize(join(base, path));
    std::string_view base_rel = below(base, ns.mount);
    std::string fence = ns.mount;
    if (!base_rel.empty()) {
        fence = join(ns.mount, base_rel.substr(0, base_rel.find('/')));
    }
    if (!config::is_within(joined, fence)) {
        return fail(EINVAL, ".. climbs out of the volume");
    }
    return done(std::move(joined));
}

// The cluster namespace: "VOLUME/PATH" when the first component is a volume of the mount and a
// slash follows it, else PATH in the default volume.
Target in_cluster(const Namespace& ns, std::string_view path, const IsVolume& is_volume) {
    while (path.starts_with("./") || path.starts_with("/")) {
        path.remove_prefix(1);
    }
    std::string_view volume = ns.default_volume;
    std::string_view rest = path;
    size_t slash = path.find('/');
    if (slash != std::string_view::npos) {
        std::string_view first = path.substr(0, slash);
        if (config::check_name(first).is_ok() && is_volume(first)) {
            volume = first;
            rest = path.substr(slash + 1);
        }
    }
    std::vector<std::string_view> kept;
    for (std::string_view c : components(rest)) {
        if (c == "..") {
            if (kept.empty()) {
                return fail(EINVAL, ".. climbs out of the volume");
            }
            kept.pop_back();
        } else {
            kept.push_back(c);
        }
    }
    if (volume.empty()) {
        return fail(ENOENT, "no volume named and no default volume");
    }
    std::string out = join(ns.mount, volume);
    for (std::string_view c : kept) {
        out = join(out, c);
    }
    return done(std::move(out));
}

}  // namespace

std::string normalize(std::string_view path) {
    std::vector<std::string_view> kept;
    for (std::string_view c : components(path)) {
        if (c == "..") {
            if (!kept.empty()) {
                kept.pop_back();
            }
        } else {
            kept.push_back(c);
        }
    }
    std::string out;
    for (std::string_view c : kept) {
        out += '/';
        out += c;
    }
    return out.empty() ? "/" : out;
}

namespace {

Target resolve_lexically(const Namespace& ns,
                         std::string_view base,
                         std::string_view path,
                         bool origin,
                         const IsVolume& is_volume) {
    if (path.front() == '/') {
        std::string p = as_mount_path(ns, normalize(path));
        if (config::is_within(p, ns.mount)) {
            return done(std::move(p));
        }
        if (const ExportRoot* e = export_of(ns, p)) {
            return in_export(ns, *e, p);
        }
        return fail(EXDEV, "absolute path outside the mount and this node's exports");
    }
    if (!base.empty()) {
        std::string b = as_mount_path(ns, normalize(base));
        if (config::is_within(b, ns.mount)) {
            return on_mount(ns, b, path);
        }
        if (origin) {
            std::string p = normalize(join(b, path));
            if (const ExportRoot* e = export_of(ns, p)) {
                return in_export(ns, *e, p);
            }
        }
    }
    return in_cluster(ns, path, is_volume);
}

}  // namespace

Target resolve(const Namespace& ns,
               std::string_view base,
               std::string_view path,
               bool origin,
               const IsVolume& is_volume) {
    if (path.empty()) {
        return fail(ENOENT, "empty path");
    }
    if (path.size() > PATH_MAX - 1) {
        return fail(ENAMETOOLONG, "path too long");
    }
    Target t = resolve_lexically(ns, base, path, origin, is_volume);
    // A trailing slash keeps its meaning (the file must be a directory).
    if (t.error == 0 && path.ends_with('/') && !t.path.ends_with('/')) {
        t.path += '/';
    }
    return t;
}

}  // namespace vr::preload
