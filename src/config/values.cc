#include "config/values.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>

namespace vr::config {

namespace {

Status invalid(std::string message) {
    return Status(Code::InvalidArgument, std::move(message));
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alnum(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
}

bool is_ipv4(std::string_view host) {
    in_addr a{};
    return inet_pton(AF_INET, std::string(host).c_str(), &a) == 1;
}

bool is_ipv6(std::string_view host) {
    in6_addr a{};
    return inet_pton(AF_INET6, std::string(host).c_str(), &a) == 1;
}

// RFC 1123 host names: dot-separated labels of 1-63 letters, digits and hyphens, not starting or
// ending with a hyphen; 253 characters at most. One trailing dot (the root) is not accepted.
bool is_dns_name(std::string_view host) {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    size_t start = 0;
    while (start <= host.size()) {
        size_t end = std::min(host.find('.', start), host.size());
        std::string_view label = host.substr(start, end - start);
        bool ok =
            !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
            std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
        if (!ok) {
            return false;
        }
        start = end + 1;
    }
    return true;
}

// Returns an empty string if `host` is acceptable, otherwise why not.
std::string host_problem(std::string_view host) {
    if (host.empty()) {
        return "empty host";
    }
    bool numeric =
        std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
    if (numeric) {
        return is_ipv4(host) ? "" : fmt::format("{} is not an IPv4 address", host);
    }
    return is_dns_name(host) ? "" : fmt::format("{} is not an IPv4 address or a host name", host);
}

bool parse_port(std::string_view text, uint16_t* port) {
    if (!all_digits(text) || text.size() > 5) {
        return false;
    }
    uint32_t value = 0;
    for (char c : text) {
        value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (value == 0 || value > 65535) {
        return false;
    }
    *port = static_cast<uint16_t>(value);
    return true;
}

Status not_host_port(std::string_view text, std::string_view reason) {
    return invalid(fmt::format("{} is not host:port ({})", quote(text), reason));
}

struct Unit {
    std::string_view suffix;
    uint64_t bytes;
};
// Largest first, for format_size.
constexpr std::array<Unit, 5> kUnits{{
    {"TiB", uint64_t{1} << 40},
    {"GiB", uint64_t{1} << 30},
    {"MiB", uint64_t{1} << 20},
    {"KiB", uint64_t{1} << 10},
    {"B", 1},
}};

}  // namespace

Result<Address> parse_address(std::string_view text, uint16_t default_port) {
    if (text.empty()) {
        return not_host_port(text, "empty");
    }
    Address address;
    address.port = default_port;
    std::string_view port_text;
    bool has_port = false;
    if (text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) {
            return not_host_port(text, "missing ] after the IPv6 address");
        }
        std::string_view host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            return not_host_port(text, "expected :port after ]");
        }
        if (!is_ipv6(host)) {
            return not_host_port(text, fmt::format("{} is not an IPv6 address", host));
        }
        address.host = std::string(host);
        has_port = !rest.empty();
        port_text = has_port ? rest.substr(1) : rest;
    } else {
        size_t colons = static_cast<size_t>(std::count(text.begin(), text.end(), ':'));
        if (colons > 1) {
            return not_host_port(text, "an IPv6 address needs brackets, as in [::1]:1104");
        }
        size_t colon = text.find(':');
        std::string_view host = text.substr(0, colon);
        std::string problem = host_problem(host);
        if (!problem.empty()) {
            return not_host_port(text, problem);
        }
        address.host = std::string(host);
        has_port = colon != std::string_view::npos;
        port_text = has_port ? text.substr(colon + 1) : std::string_view{};
    }
    if (has_port && !parse_port(port_text, &address.port)) {
        return not_host_port(text, "port must be 1-65535");
    }
    return address;
}

std::string format_address(const Address& address) {
    if (address.host.find(':') != std::string::npos) {
        return fmt::format("[{}]:{}", address.host, address.port);
    }
    return fmt::format("{}:{}", address.host, address.port);
}

bool is_loopback(const Address& address) {
    if (address.host == "localhost") {
        return true;
    }
    in_addr v4{};
    if (inet_pton(AF_INET, address.host.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.host.c_str(), &v6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&v6);
    }
    return false;
}

bool is_wildcard(const Address& address) {
    in_addr v4{};
    if (inet_pton(AF_INET, address.host.c_str(), &v4) == 1) {
        return v4.s_addr == htonl(INADDR_ANY);
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.host.c_str(), &v6) == 1) {
        return IN6_IS_ADDR_UNSPECIFIED(&v6);
    }
    return false;
}

Status check_name(std::string_view name) {
    bool ok = !name.empty() && name.size() <= kNameBytesMax &&
              std::all_of(name.begin(), name.end(), [](char c) {
                  return is_alnum(c) || c == '.' || c == '_' || c == '-';
              });
    if (!ok) {
        return invalid(
            fmt::format("{} is not a valid name (1-{} characters from a-z A-Z 0-9 . _ -)",
                        quote(name),
                        kNameBytesMax));
    }
    if (name == "." || name == "..") {
        return invalid(fmt::format("{} is not a valid name (. and .. are reserved)", quote(name)));
    }
    return Status::ok();
}

Result<uint64_t> parse_size(std::string_view text) {
    size_t digits = 0;
    while (digits < text.size() && is_digit(text[digits])) {
        ++digits;
    }
    std::string_view number = text.substr(0, digits);
    std::string_view suffix = text.substr(digits);
    bool spaced = !suffix.empty() && suffix.front() == ' ';
    if (spaced) {
        suffix.remove_prefix(1);
    }
    auto unit = std::find_if(
        kUnits.begin(), kUnits.end(), [&](const Unit& u) { return u.suffix == suffix; });
    bool unit_ok = suffix.empty() ? !spaced : unit != kUnits.end();
    if (number.empty() || !unit_ok) {
        return invalid(fmt::format(
            "{} is not a size (write a number of bytes, or a number with a B, KiB, MiB, GiB or "
            "TiB suffix)",
            quote(text)));
    }
    uint64_t multiplier = suffix.empty() ? 1 : unit->bytes;
    uint64_t value = 0;
    for (char c : number) {
        uint64_t digit = static_cast<uint64_t>(c - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            return invalid(fmt::format("{} is too large", quote(text)));
        }
        value = value * 10 + digit;
    }
    if (value > UINT64_MAX / multiplier) {
        return invalid(fmt::format("{} is too large", quote(text)));
    }
    return value * multiplier;
}

std::string format_size(uint64_t bytes) {
    for (const Unit& unit : kUnits) {
        if (bytes != 0 && bytes % unit.bytes == 0) {
            return fmt::format("{}{}", bytes / unit.bytes, unit.suffix);
        }
    }
    return "0B";
}

Status check_absolute_path(std::string_view path) {
    if (path.find('\0') != std::string_view::npos) {
        return invalid(fmt::format("{} contains a NUL byte", quote(path)));
    }
    if (path.empty() || path.front() != '/') {
        return invalid(fmt::format("{} is not an absolute path", quote(path)));
    }
    if (path.size() > kPathBytesMax) {
        return invalid(
            fmt::format("the path is {} bytes long; at most {}", path.size(), kPathBytesMax));
    }
    return Status::ok();
}

bool is_within(std::string_view path, std::string_view dir) {
    if (dir == "/") {
        return true;
    }
    if (path.size() < dir.size() || path.substr(0, dir.size()) != dir) {
        return false;
    }
    return path.size() == dir.size() || path[dir.size()] == '/';
}

std::string quote(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (byte < 0x20 || byte == 0x7f) {
                    out += fmt::format("\\u{:04X}", byte);
                } else {
                    out += c;
                }
        }
    }
    out += '"';
    return out;
}

}  // namespace vr::config
