// Export-relative paths: the lexical checks done before any syscall, and splitting a path into
// the directory that holds it and its final name. Pure string code, no I/O.
//
// A valid path is relative ("" names the export root), has no NUL byte, at most kPathBytesMax
// bytes, and components of 1..kNameBytesMax bytes separated by single slashes; one trailing
// slash is allowed and ignored. "." and ".." components are refused: the daemon never needs them
// (the kernel and peers resolve them before asking), and refusing them keeps every path the
// store caches canonical, so renames can update the cache by prefix. Confinement does not rest
// on these checks: openat2 in posix.h refuses every escape on its own.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace vr::store {

inline constexpr size_t kNameBytesMax = 255;
// PATH_MAX (4096) includes the terminating NUL.
inline constexpr size_t kPathBytesMax = 4095;

// Checks a path as described above; InvalidArgument names the problem.
Status check_path(std::string_view path);
// Checks one directory-entry name: a valid path of exactly one component, no slash at all.
Status check_name(std::string_view name);
// The canonical form of a checked path: without its trailing slash.
std::string canonical(std::string_view checked_path);

struct SplitPath {
    std::string parent;  // canonical, "" for the root
    std::string name;    // one component
};
// Splits a canonical path; InvalidArgument for the root, which has no parent in the export.
Result<SplitPath> split_final(std::string_view canonical_path);

// parent + "/" + name, or name when parent is the root.
std::string join(std::string_view parent, std::string_view name);

// A short, printable rendering of untrusted bytes for error messages: non-printable bytes are
// shown as \xHH and long paths are cut in the middle.
std::string printable(std::string_view path);

}  // namespace vr::store
