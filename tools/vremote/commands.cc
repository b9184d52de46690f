#include "commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "client/endpoint.h"
#include "client/session.h"
#include "cluster.h"
#include "vremote/vremote.h"
#include "warmup.h"

namespace vr::cli {

namespace {

constexpr size_t kChunk = 1 << 20;  // get and put move 1 MiB at a time

struct ClientDeleter {
    void operator()(vr_client* c) const { vr_disconnect(c); }
};
using Client = std::unique_ptr<vr_client, ClientDeleter>;

// "get n1/x: " and the like.
std::string what(const Command& cmd, std::string_view verb) {
    return fmt::format("{} {}: ", verb, cmd.path);
}

Client connect_or_fail(const Command& cmd, const Io& io, std::string_view verb, int* rc) {
    Client c(vr_connect(cmd.config.empty() ? nullptr : cmd.config.c_str()));
    if (c == nullptr) {
        *rc = fail(io, what(cmd, verb) + vr_last_error());
    }
    return c;
}

// Fills `buf` from `fd` until it is full or the input ends; the bytes read, or -1.
ssize_t read_full(int fd, std::byte* buf, size_t size) {
    size_t got = 0;
    while (got < size) {
        ssize_t n = ::read(fd, buf + got, size - got);
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        got += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(got);
}

int get(const Command& cmd, const Io& io) {
    int rc = 0;
    Client c = connect_or_fail(cmd, io, "get", &rc);
    if (c == nullptr) {
        return rc;
    }
    int fd = vr_open(c.get(), cmd.path.c_str(), VR_O_RDONLY, 0);
    if (fd < 0) {
        return fail(io, what(cmd, "get") + vr_last_error());
    }
    std::vector<std::byte> buf(kChunk);
    uint64_t pos = cmd.offset;
    uint64_t left = cmd.length.value_or(UINT64_MAX);
    while (left > 0) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(left, kChunk));
        ssize_t n = vr_pread(c.get(), fd, buf.data(), want, pos);
        if (n < 0) {
            return fail(io, what(cmd, "get") + vr_last_error());
        }
        if (!write_all(io.out,
                       std::string_view(reinterpret_cast<const char*>(buf.data()),
                                        static_cast<size_t>(n)))) {
            return fail(io, what(cmd, "get") + "write to stdout: " + std::strerror(errno));
        }
        pos += static_cast<uint64_t>(n);
        left -= static_cast<uint64_t>(n);
        if (static_cast<size_t>(n) < want) {
            break;  // end of file
        }
    }
    if (int r = vr_close(c.get(), fd); r < 0) {
        return fail(io, what(cmd, "get") + vr_last_error());
    }
    return 0;
}

int put(const Command& cmd, const Io& io) {
    int rc = 0;
    Client c = connect_or_fail(cmd, io, "put", &rc);
    if (c == nullptr) {
        return rc;
    }
    int fd = vr_open(c.get(), cmd.path.c_str(), VR_O_CREAT, 0644);
    if (fd < 0) {
        return fail(io, what(cmd, "put") + vr_last_error());
    }
    std::vector<std::byte> buf(kChunk);
    uint64_t pos = cmd.offset;
    for (;;) {
        ssize_t n = read_full(io.in, buf.data(), buf.size());
        if (n < 0) {
            return fail(io, what(cmd, "put") + "read from stdin: " + std::strerror(errno));
        }
        if (n == 0) {
            break;
        }
        ssize_t w = vr_pwrite(c.get(), fd, buf.data(), static_cast<size_t>(n), pos);
        if (w < 0) {
            return fail(io, what(cmd, "put") + vr_last_error());
        }
        if (w != n) {
            return fail(
                io,
                what(cmd, "put") +
                    fmt::format(
                        "only {} of {} bytes written at {}: {}", w, n, pos, vr_last_error()));
        }
        pos += static_cast<uint64_t>(n);
        if (static_cast<size_t>(n) < buf.size()) {
            break;  // stdin ended
        }
    }
    if (vr_close(c.get(), fd) < 0) {
        return fail(io, what(cmd, "put") + vr_last_error());
    }
    return 0;
}

int sync(const Command& cmd, const Io& io) {
    int rc = 0;
    Client c = connect_or_fail(cmd, io, "sync", &rc);
    if (c == nullptr) {
        return rc;
    }
    int fd = vr_open(c.get(), cmd.path.c_str(), VR_O_RDONLY, 0);
    if (fd < 0 || vr_fsync(c.get(), fd) < 0) {
        return fail(io, what(cmd, "sync") + vr_last_error());
    }
    if (vr_close(c.get(), fd) < 0) {
        return fail(io, what(cmd, "sync") + vr_last_error());
    }
    return 0;
}

// Connects with the C++ Session; on failure prints the reason and sets *rc.
std::unique_ptr<client::Session> session_or_fail(const Command& cmd,
                                                 const Io& io,
                                                 std::string_view prefix,
                                                 int* rc) {
    auto s = client::connect(cmd.config);
    if (!s.is_ok()) {
        const Status& st = s.status();
        *rc =
            fail(io,
                 std::string(prefix) +
                     (st.context().empty() ? std::string(code_message(st.code())) : st.context()));
        return nullptr;
    }
    return std::move(s.value());
}

int status(const Command& cmd, const Io& io) {
    int rc = 0;
    auto s = session_or_fail(cmd, io, "status: ", &rc);
    if (s == nullptr) {
        return rc;
    }
    auto nodes = s->status();
    if (!nodes.is_ok()) {
        return fail(io, "status: " + client::describe(nodes.status()));
    }
    return write_all(io.out, format_status(nodes.value())) ? 0 : 1;
}

int stats(const Command& cmd, const Io& io) {
    int rc = 0;
    auto s = session_or_fail(cmd, io, "stats: ", &rc);
    if (s == nullptr) {
        return rc;
    }
    auto counters = s->stats();
    if (!counters.is_ok()) {
        return fail(io, "stats: " + client::describe(counters.status()));
    }
    return write_all(io.out, format_stats(counters.value())) ? 0 : 1;
}

int pages(const Command& cmd, const Io& io) {
    int rc = 0;
    std::string prefix = what(cmd, "pages");
    auto s = session_or_fail(cmd, io, prefix, &rc);
    if (s == nullptr) {
        return rc;
    }
    PageMap map;
    uint64_t page_count = 0;
    do {
        auto reply = s->pages(cmd.path, map.pages());
        if (!reply.is_ok()) {
            return fail(io, prefix + client::describe(reply.status()));
        }
        const wire::PagesReply& r = reply.value();
        if (r.first_page != map.pages()) {
            return fail(
                io,
                prefix + fmt::format(
                             "vremoted answered from page {}, not {}", r.first_page, map.pages()));
        }
        page_count = r.page_count;
        if (r.states.empty() && map.pages() < page_count) {
            return fail(io,
                        prefix + fmt::format("vremoted returned no states from page {} of {}",
                                             map.pages(),
                                             page_count));
        }
        map.add(r.states);
    } while (map.pages() < page_count);
    return write_all(io.out, format_pages(cmd.path, map)) ? 0 : 1;
}

std::string_view link_name(wire::LinkState s) {
    switch (s) {
        case wire::LinkState::Self:
            return "self";
        case wire::LinkState::Down:
            return "down";
        case wire::LinkState::Connecting:
            return "connecting";
        case wire::LinkState::Up:
            return "up";
    }
    return "?";
}

}  // namespace

bool write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        text.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

int fail(const Io& io, std::string_view message) {
    (void)write_all(io.err, fmt::format("vremote: {}\n", message));
    return 1;
}

void PageMap::add(std::string_view states) {
    for (char c : states) {
        ++counts_[c];
        if (!runs_.empty() && runs_.back().first == c) {
            ++runs_.back().second;
        } else {
            runs_.emplace_back(c, 1);
        }
    }
    pages_ += states.size();
}

std::string format_pages(std::string_view path, const PageMap& map) {
    std::string out = fmt::format("{}: {} page{}", path, map.pages(), map.pages() == 1 ? "" : "s");
    std::string sep = ": ";
    for (char c : std::string_view("MSI")) {
        auto it = map.counts().find(c);
        out += fmt::format("{}{} {}", sep, c, it == map.counts().end() ? 0 : it->second);
        sep = ", ";
    }
    for (const auto& [c, n] : map.counts()) {
        if (c != 'M' && c != 'S' && c != 'I') {
            out += fmt::format(", {} {}", c, n);
        }
    }
    out += "\n";
    if (map.pages() == 0) {
        return out;
    }
    if (map.pages() <= kPageMapMax) {
        std::string all;
        for (const auto& [c, n] : map.runs()) {
            all.append(n, c);
        }
        for (size_t at = 0; at < all.size(); at += 64) {
            out += fmt::format("{:>8} {}\n", at, std::string_view(all).substr(at, 64));
        }
        return out;
    }
    uint64_t page = 0;
    sep = "";
    out += "runs: ";
    for (size_t i = 0; i < map.runs().size(); ++i) {
        const auto& [c, n] = map.runs()[i];
        if (i == kRunsShown) {
            out += fmt::format(", ... ({} more runs)", map.runs().size() - i);
            break;
        }
        out += n == 1 ? fmt::format("{}{} {}", sep, page, c)
                      : fmt::format("{}{}-{} {}", sep, page, page + n - 1, c);
        page += n;
        sep = ", ";
    }
    out += "\n";
    return out;
}

std::string format_status(const std::vector<wire::NodeStatus>& nodes) {
    std::string out = fmt::format(
        "{:<5} {:<16} {:<11} {:>10}  {}\n", "NODE", "NAME", "LINK", "RTT", "HOME INCARNATION");
    for (const wire::NodeStatus& n : nodes) {
        std::string rtt = n.link == wire::LinkState::Up
                              ? fmt::format("{:.3f} ms", n.rtt_us / 1000.0)
                              : std::string("-");
        out += fmt::format(
            "{:<5} {:<16} {:<11} {:>10}  {}\n",
            n.node,
            n.name,
            link_name(n.link),
            rtt,
            // 0: this node has not yet been in touch with that home.
            n.home_incarnation == 0 ? std::string("-") : std::to_string(n.home_incarnation));
    }
    return out;
}

std::string format_stats(const std::vector<wire::Counter>& counters) {
    std::string out;
    for (const wire::Counter& c : counters) {
        out += fmt::format("{} {}\n", c.name, c.value);
    }
    return out;
}

int run(const Command& cmd, const Io& io) {
    switch (cmd.verb) {
        case Verb::Get:
            return get(cmd, io);
        case Verb::Put:
            return put(cmd, io);
        case Verb::Sync:
            return sync(cmd, io);
        case Verb::Status:
            return status(cmd, io);
        case Verb::Pages:
            return pages(cmd, io);
        case Verb::Stats:
            return stats(cmd, io);
        case Verb::Warmup:
            return warmup(cmd, io);
        case Verb::ClusterUp:
            return cluster_up(cmd, io);
        case Verb::ClusterDown:
            return cluster_down(cmd, io);
        case Verb::ClusterLink:
            return cluster_link(cmd, io);
        case Verb::ClusterShape:
            return cluster_shape(cmd, io);
        case Verb::Help:
            break;
    }
    return write_all(io.out, cmd.help) ? 0 : 1;
}

}  // namespace vr::cli
