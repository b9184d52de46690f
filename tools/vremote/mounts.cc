#include "mounts.h"

#include <fmt/format.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "netns.h"

namespace vr::cli {

namespace {

constexpr int kDetachRounds = 16;  // mounts stacked on one mount point that we undo, at most

// mountinfo escapes space, tab, newline and backslash as \ooo (octal).
std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            bool octal = true;
            int v = 0;
            for (size_t j = 1; j <= 3; ++j) {
                char c = s[i + j];
                octal = octal && c >= '0' && c <= '7';
                v = v * 8 + (c - '0');
            }
            if (octal && v < 256) {
                out += static_cast<char>(v);
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        size_t sp = line.find(' ', i);
        if (sp == std::string_view::npos) {
            sp = line.size();
        }
        if (sp > i) {
            out.push_back(line.substr(i, sp - i));
        }
        i = sp + 1;
    }
    return out;
}

}  // namespace

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
    // 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    // (id, parent, dev, root, mount point, options, optional fields..., "-", type, source, ...)
    std::vector<MountEntry> out;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? "" : text.substr(nl + 1);
        auto f = fields(line);
        auto dash = std::find(f.begin(), f.end(), std::string_view("-"));
        if (f.size() < 6 || dash == f.end() || dash - f.begin() < 6 || f.end() - dash < 3) {
            continue;
        }
        out.push_back(MountEntry{unescape(f[4]), unescape(dash[1]), unescape(dash[2])});
    }
    return out;
}

std::vector<MountEntry> mounts_at(const std::string& path) {
    std::ifstream in("/proc/self/mountinfo", std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    std::vector<MountEntry> all = parse_mountinfo(s.str());
    std::vector<MountEntry> out;
    for (MountEntry& e : all) {
        if (e.mount_point == path) {
            out.push_back(std::move(e));
        }
    }
    return out;
}

Status detach_mount(const std::string& path) {
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
        return Status::ok();
    }
    int e = errno;
    if (e == EPERM) {
        auto r = run_tool({"fusermount3", "-uz", path});
        if (r.is_ok()) {
            return Status::ok();
        }
        return Status(
            Code::PermissionDenied,
            fmt::format("umount2 {}: {}; {}", path, std::strerror(e), r.status().context()));
    }
    return Status(Code::IoError, fmt::format("umount2 {}: {}", path, std::strerror(e)));
}

Status detach_node_mounts(const std::string& dir, std::vector<std::string>* notes) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::string failed;
    std::vector<std::pair<unsigned long, std::string>> nodes;  // (K, "nK"), in order of K
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        if (name.size() < 2 || name.size() > 4 || name[0] != 'n' ||
            !std::all_of(
                name.begin() + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        nodes.emplace_back(std::stoul(name.substr(1)), name);
    }
    std::sort(nodes.begin(), nodes.end());
    for (const auto& [k, name] : nodes) {
        std::string mnt = fmt::format("{}/{}/mnt", dir, name);
        for (int round = 0; round < kDetachRounds; ++round) {
            std::vector<MountEntry> at = mounts_at(mnt);
            if (at.empty()) {
                break;
            }
            Status s = detach_mount(mnt);
            if (!s.is_ok()) {
                failed += "\n  " + s.context();
                break;
            }
            if (notes != nullptr) {
                notes->push_back(fmt::format("{} ({})", mnt, at.back().fstype));
            }
        }
    }
    if (ec) {
        return Status(Code::IoError, fmt::format("{}: {}", dir, ec.message()));
    }
    if (!failed.empty()) {
        return Status(Code::IoError, "cannot detach:" + failed);
    }
    return Status::ok();
}

}  // namespace vr::cli
