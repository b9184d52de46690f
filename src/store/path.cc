#include "store/path.h"

#include <fmt/format.h>

namespace vr::store {
namespace {

// Longest rendering of a path in an error message, before the middle is cut out.
constexpr size_t kPrintableBytesMax = 120;

Status invalid(std::string_view path, std::string_view problem) {
    return Status(Code::InvalidArgument, fmt::format("path '{}': {}", printable(path), problem));
}

}  // namespace

Status check_path(std::string_view path) {
    if (path.find('\0') != std::string_view::npos) {
        return invalid(path, "contains a NUL byte");
    }
    if (path.size() > kPathBytesMax) {
        return invalid(path,
                       fmt::format("is {} bytes long, more than {}", path.size(), kPathBytesMax));
    }
    if (!path.empty() && path.front() == '/') {
        return invalid(path, "is absolute; export paths are relative to the export root");
    }
    std::string_view rest = path;
    if (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
        if (rest.empty()) {
            return invalid(path, "is absolute; export paths are relative to the export root");
        }
    }
    while (!rest.empty()) {
        size_t slash = rest.find('/');
        std::string_view component = rest.substr(0, slash);
        if (component.empty()) {
            return invalid(path, "has an empty component (\"//\")");
        }
        if (component.size() > kNameBytesMax) {
            return invalid(
                path,
                fmt::format(
                    "has a component of {} bytes, more than {}", component.size(), kNameBytesMax));
        }
        if (component == "." || component == "..") {
            return invalid(path, fmt::format("has a '{}' component", component));
        }
        if (slash == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(slash + 1);
        if (rest.empty()) {
            return invalid(path, "has an empty component (\"//\")");
        }
    }
    return Status::ok();
}

Status check_name(std::string_view name) {
    if (name.empty()) {
        return invalid(name, "an entry name must not be empty");
    }
    if (name.find('/') != std::string_view::npos) {
        return invalid(name, "an entry name must not contain '/'");
    }
    return check_path(name);
}

std::string canonical(std::string_view checked_path) {
    if (!checked_path.empty() && checked_path.back() == '/') {
        checked_path.remove_suffix(1);
    }
    return std::string(checked_path);
}

Result<SplitPath> split_final(std::string_view canonical_path) {
    if (canonical_path.empty()) {
        return Status(Code::InvalidArgument,
                      "the export root cannot be created, removed or renamed");
    }
    size_t slash = canonical_path.rfind('/');
    if (slash == std::string_view::npos) {
        return SplitPath{"", std::string(canonical_path)};
    }
    return SplitPath{std::string(canonical_path.substr(0, slash)),
                     std::string(canonical_path.substr(slash + 1))};
}

std::string join(std::string_view parent, std::string_view name) {
    if (parent.empty()) {
        return std::string(name);
    }
    std::string s;
    s.reserve(parent.size() + 1 + name.size());
    s.append(parent);
    s.push_back('/');
    s.append(name);
    return s;
}

std::string printable(std::string_view path) {
    std::string out;
    auto append = [&out](std::string_view part) {
        for (char c : part) {
            auto byte = static_cast<unsigned char>(c);
            if (byte < 0x20 || byte >= 0x7f || c == '\\') {
                out += fmt::format("\\x{:02x}", byte);
            } else {
                out.push_back(c);
            }
        }
    };
    if (path.size() <= kPrintableBytesMax) {
        append(path);
        return out;
    }
    append(path.substr(0, kPrintableBytesMax / 2));
    out += fmt::format("...({} bytes)...", path.size() - kPrintableBytesMax);
    append(path.substr(path.size() - kPrintableBytesMax / 2));
    return out;
}

}  // namespace vr::store
