// The value types of a node configuration (addresses, sizes, names, paths) and the checks that
// turn text into them. Pure string code, no TOML and no file access (inet_pton is the only libc
// call): the schema walker in config.cc prefixes every message these return with the file
// position and the dotted key, so a message here says only what is wrong with the text itself,
// for example `"127.0.0.1:99999" is not host:port (port must be 1-65535)`.
//
// Every failure is an InvalidArgument Status whose context is that message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace vr::config {

// The peer port when an address has none, and the metrics port when metrics_listen has none.
inline constexpr uint16_t kDefaultPort = 1104;
inline constexpr uint16_t kDefaultMetricsPort = 9104;
// Node and volume names: 1..kNameBytesMax characters from [a-zA-Z0-9._-], not "." or "..".
inline constexpr size_t kNameBytesMax = 64;
// PATH_MAX (4096) includes the terminating NUL.
inline constexpr size_t kPathBytesMax = 4095;

struct Address {
    std::string host;   // an IPv4 literal, an IPv6 literal without brackets, or a DNS name
    uint16_t port = 0;  // 1..65535

    friend bool operator==(const Address&, const Address&) = default;
};

// Parses "host:port", "[ipv6]:port", or either without ":port" (the port is then default_port).
// A host is a dotted-quad IPv4 address, a bracketed IPv6 address, or a DNS name; a host made of
// digits and dots only must be a valid IPv4 address, and an IPv6 address needs its brackets.
Result<Address> parse_address(std::string_view text, uint16_t default_port);
// The form parse_address reads back: "host:port", or "[ipv6]:port".
std::string format_address(const Address& address);
// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const Address& address);
// 0.0.0.0 and ::, which a node may listen on but nobody can connect to.
bool is_wildcard(const Address& address);

Status check_name(std::string_view name);

// A byte count: decimal digits, optionally followed by a unit B, KiB, MiB, GiB or TiB (powers of
// 1024; one space before the unit is allowed). "256MiB" is 268435456.
Result<uint64_t> parse_size(std::string_view text);
// The largest unit that divides `bytes` exactly ("256MiB", "4KiB", "100B"): what parse_size
// reads back to the same number.
std::string format_size(uint64_t bytes);

// An absolute path: starts with '/', at most kPathBytesMax bytes, no NUL byte.
Status check_absolute_path(std::string_view path);
// True if `path` is `dir` or lies under it, comparing whole components of two paths without
// trailing slashes ("/a/bc" is not under "/a/b").
bool is_within(std::string_view path, std::string_view dir);

// `text` as a TOML basic string: in double quotes, with ", \ and control characters escaped.
// Used both to write TOML and to show user text in messages unambiguously.
std::string quote(std::string_view text);

}  // namespace vr::config
