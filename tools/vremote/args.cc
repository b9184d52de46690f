#include "args.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <map>
#include <vector>

#include "client/endpoint.h"
#include "config/values.h"
#include "netns.h"

namespace vr::cli {

namespace {

struct Option {
    std::string_view name;   // without the leading "--"
    std::string_view value;  // the value's name in usage ("N", "FILE"); empty for a flag
    std::string_view help;
};

// The positional argument a command takes.
enum class PathArg : uint8_t {
    None,
    Volume,  // VOLUME/PATH
    Any,     // PATH: VOLUME/PATH, or a path on the mount (warmup)
    UpDown,  // up|down (cluster link)
};

std::string_view path_name(PathArg p) {
    return p == PathArg::Volume   ? "VOLUME/PATH"
           : p == PathArg::Any    ? "PATH"
           : p == PathArg::UpDown ? "up|down"
                                  : "";
}

struct Spec {
    Verb verb;
    std::string_view name;  // "get", "cluster up"
    PathArg path;
    std::vector<Option> options;
    std::string_view summary;
    std::string_view details;
};

const Option kConfig{"config",
                     "FILE",
                     "the node's config (default $VREMOTE_CONFIG, else /etc/vremote/vremote.toml), "
                     "or the daemon's socket"};

const std::vector<Spec>& specs() {
    static const std::vector<Spec> kSpecs = {
        {Verb::Get,
         "get",
         PathArg::Volume,
         {{"offset", "N", "start at byte N (default 0)"},
          {"length", "N", "at most N bytes (default: to the end of the file)"},
          kConfig},
         "write a file's bytes to stdout",
         "Reads in 1 MiB chunks, so any file size streams in constant memory."},
        {Verb::Put,
         "put",
         PathArg::Volume,
         {{"offset", "N", "write at byte N (default 0)"}, kConfig},
         "write stdin into a file, creating it if missing",
         "The file is not truncated: bytes beyond what stdin covers stay. Run `vremote sync` to "
         "make the data durable on the file's home node."},
        {Verb::Sync,
         "sync",
         PathArg::Volume,
         {kConfig},
         "make a file's completed writes durable (fsync)",
         ""},
        {Verb::Status,
         "status",
         PathArg::None,
         {kConfig},
         "this node's view of the cluster's links",
         ""},
        {Verb::Pages,
         "pages",
         PathArg::Volume,
         {kConfig},
         "the state of each page of a file on this node",
         "M: modified here (the only copy that may be written), S: shared (a clean copy), "
         "I: not cached here. Prints the count of each state, then one character per page (up "
         "to 256 pages) or the runs of equal states."},
        {Verb::Stats,
         "stats",
         PathArg::None,
         {kConfig},
         "this node's counters, one `name value` a line",
         ""},
        {Verb::Warmup,
         "warmup",
         PathArg::Any,
         {{"config",
           "FILE",
           "the node's config, for node.mount (default $VREMOTE_CONFIG, else "
           "/etc/vremote/vremote.toml)"}},
         "read files so that this node's caches hold them",
         "PATH is a file or a directory (read recursively; symbolic links inside it are not "
         "followed): an absolute path or one starting with ./ or ../ is used as given, anything "
         "else is VOLUME/PATH under the config's node.mount. Every regular file is read from "
         "start to end in 1 MiB reads, in constant memory. A progress bar goes to stderr when it "
         "is a terminal; a one-line summary goes to stdout. A file that cannot be read is "
         "reported and counted, and the exit status is then 1."},
        {Verb::ClusterUp,
         "cluster up",
         PathArg::None,
         {{"nodes", "N", "number of nodes, 1-64 (required)"},
          {"dir", "DIR", "where the cluster lives (required)"},
          {"base-port", "P", "node K listens on 127.0.0.1:P+K (default: free ports from 11041)"},
          {"cache-size", "BYTES", "each node's cache size, e.g. 64MiB (default 256MiB)"},
          {"delay-us", "N", "added to every message between nodes (test knob; default 0)"},
          {"loss-ppm",
           "N",
           "messages lost per million; each stalls its link like a TCP retransmission (test "
           "knob; default 0)"},
          {"loss-rto-us", "N", "how long a lost message stalls its link (default 200000)"},
          {"reset-ppm",
           "N",
           "messages per million whose connection breaks instead (test knob; default 0)"},
          {"lease-ms",
           "N",
           "lease length; also the failure timeout, with grace N/2 (default 2000)"},
          {"fault", "NAME", "plant a bug to show the tests catch it: skip-kernel-invalidation"},
          {"on-unreachable", "error|block", "I/O to a down home fails or waits (default error)"},
          {"encrypt", "on|off", "seal every link with ChaCha20-Poly1305 (default off)"},
          {"no-mount", "", "do not mount the cluster at DIR/nK/mnt (no FUSE)"},
          {"netns",
           "",
           "run each node in a network namespace of its own, on a bridge, listening on "
           "10.77.X.K:1104 (needs root; see docs/cluster.md)"},
          {"vremoted", "PATH", "the daemon to start (default: next to vremote, else in PATH)"},
          {"wait", "SECONDS", "how long to wait for every link and mount to come up (default 30)"}},
         "start a local test cluster of N nodes",
         "Writes DIR/secret and, for each node nK, DIR/nK/vremote.toml, DIR/nK/export/ (the "
         "export of volume nK), DIR/nK/data/ and DIR/nK/mnt/ (its mount point); starts "
         "`vremoted --config DIR/nK/vremote.toml` (log DIR/nK/vremoted.log, pid "
         "DIR/nK/vremoted.pid) and waits until every node sees every other one up and every "
         "node's mount is live. With --netns, DIR/netns records the namespaces it creates. "
         "Refuses a DIR that holds a running cluster."},
        {Verb::ClusterDown,
         "cluster down",
         PathArg::None,
         {{"dir", "DIR", "the cluster's directory (required)"},
          {"wait", "SECONDS", "how long to wait for the daemons to exit (default 20)"}},
         "stop a local test cluster",
         "Sends SIGTERM to every node (each unmounts, writes back its modified pages and "
         "exits), waits, then kills those still running with SIGKILL. Then detaches any mount "
         "left at DIR/nK/mnt (a crashed daemon's) and deletes the network namespaces recorded in "
         "DIR/netns: the bridge and veths go with them."},
        {Verb::ClusterLink,
         "cluster link",
         PathArg::UpDown,
         {{"dir", "DIR", "the cluster's directory (required)"},
          {"node", "K", "the node whose link to change (required)"}},
         "cut or restore a node's link (--netns clusters)",
         "Sets node K's veth down or up inside its namespace: while down, no packet reaches or "
         "leaves the node; its daemon keeps running."},
        {Verb::ClusterShape,
         "cluster shape",
         PathArg::None,
         {{"dir", "DIR", "the cluster's directory (required)"},
          {"node", "K", "the node whose link to shape (required)"},
          {"rate", "R", "e.g. 100mbit or 1gbit (bit, kbit, mbit, gbit), or off (required)"}},
         "limit a node's link bandwidth (--netns clusters)",
         "A tc tbf qdisc on both ends of node K's veth, so that each direction is limited to "
         "R; `--rate off` removes it. This kernel has no netem: delay is --delay-us."},
    };
    return kSpecs;
}

std::string usage_line(const Spec& s) {
    std::string line = fmt::format("usage: vremote {}", s.name);
    if (s.path != PathArg::None) {
        line += fmt::format(" {}", path_name(s.path));
    }
    for (const Option& o : s.options) {
        bool required = o.help.find("(required)") != std::string_view::npos;
        std::string text =
            o.value.empty() ? fmt::format("--{}", o.name) : fmt::format("--{} {}", o.name, o.value);
        line += required ? " " + text : " [" + text + "]";
    }
    return line;
}

// `text` in lines of at most kWidth columns, each but the first led by `indent` spaces.
constexpr size_t kWidth = 79;
std::string wrap(std::string_view text, size_t first_column, size_t indent) {
    std::string out;
    size_t column = first_column;
    bool line_start = true;
    while (!text.empty()) {
        size_t space = text.find(' ');
        std::string_view word = text.substr(0, space);
        text = space == std::string_view::npos ? "" : text.substr(space + 1);
        if (!line_start && column + 1 + word.size() > kWidth) {
            out += "\n" + std::string(indent, ' ');
            column = indent;
            line_start = true;
        }
        if (!line_start) {
            out += ' ';
            ++column;
        }
        out += word;
        column += word.size();
        line_start = false;
    }
    return out;
}

std::string help_of(const Spec& s) {
    std::string summary(s.summary);
    summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
    std::string text = usage_line(s) + "\n\n" + wrap(summary + ".", 0, 0) + "\n";
    if (!s.details.empty()) {
        text += "\n" + wrap(s.details, 0, 0) + "\n";
    }
    text += "\n";
    for (const Option& o : s.options) {
        std::string head =
            o.value.empty() ? std::string(o.name) : fmt::format("{} {}", o.name, o.value);
        // A head longer than its column pushes the first line of help to the right.
        size_t first = 4 + std::max<size_t>(19, head.size()) + 1;
        text += fmt::format("  --{:<19} {}\n", head, wrap(o.help, first, 24));
    }
    text += fmt::format("  --{:<19} {}\n", "help", "show this help");
    return text;
}

std::string general_help() {
    std::string text =
        "usage: vremote COMMAND [ARGS] [--config FILE]\n\n"
        "The command-line client of vremote, a coherent distributed page cache. Paths\n"
        "are VOLUME/relative/path; a volume is the name a node exports a directory\n"
        "under.\n\n"
        "Commands:\n";
    for (const Spec& s : specs()) {
        std::string head(s.name);
        if (s.path == PathArg::Volume || s.path == PathArg::Any) {
            head += fmt::format(" {}", path_name(s.path));
        }
        text += fmt::format("  {:<26} {}\n", head, s.summary);
    }
    text +=
        "\nOffsets, lengths, sizes: bytes, or a number with a unit (4096, 64KiB, 1MiB).\n"
        "Exit status: 0 on success, 1 on errors, 2 on usage errors.\n"
        "Run `vremote COMMAND --help` for a command's options.\n";
    return text;
}

Command help_command(std::string text) {
    Command cmd;
    cmd.verb = Verb::Help;
    cmd.help = std::move(text);
    return cmd;
}

Status usage_error(const Spec* s, std::string message) {
    std::string text = std::move(message);
    text += "\n";
    text += s != nullptr ? usage_line(*s) : "usage: vremote COMMAND [ARGS] [--config FILE]";
    text += fmt::format("\nRun `vremote {}--help` for more.",
                        s != nullptr ? std::string(s->name) + " " : "");
    return Status(Code::InvalidArgument, std::move(text));
}

template <typename T>
std::optional<T> parse_number(std::string_view text, T min, T max) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

Result<Command> parse_args(std::span<const std::string_view> args) {
    // A leading `--config FILE` (or --config=FILE) applies to the command that follows, as in
    // `vremote --config n1.toml get n1/f`: move it after the command and parse as usual.
    if (!args.empty() && (args[0] == "--config" || args[0].starts_with("--config="))) {
        size_t n = args[0] == "--config" ? 2 : 1;
        if (args.size() > n) {
            std::vector<std::string_view> moved(args.begin() + static_cast<ptrdiff_t>(n),
                                                args.end());
            size_t at = moved[0] == "cluster" && moved.size() > 1 ? 2 : 1;
            moved.insert(moved.begin() + static_cast<ptrdiff_t>(at),
                         args.begin(),
                         args.begin() + static_cast<ptrdiff_t>(n));
            return parse_args(std::span<const std::string_view>(moved));
        }
    }
    if (args.empty()) {
        return usage_error(nullptr, "no command given");
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        return help_command(general_help());
    }
    std::string name(args[0]);
    size_t consumed = 1;
    if (name == "cluster") {
        if (args.size() < 2 || args[1] == "--help" || args[1] == "-h") {
            if (args.size() < 2) {
                return usage_error(nullptr,
                                   "cluster: say `cluster up`, `cluster down`, `cluster link` "
                                   "or `cluster shape`");
            }
            std::string text;
            for (const Spec& s : specs()) {
                if (s.name.starts_with("cluster ")) {
                    text += (text.empty() ? "" : "\n") + help_of(s);
                }
            }
            return help_command(std::move(text));
        }
        name += " " + std::string(args[1]);
        consumed = 2;
    }
    const Spec* spec = nullptr;
    for (const Spec& s : specs()) {
        if (s.name == name) {
            spec = &s;
        }
    }
    if (spec == nullptr) {
        return usage_error(nullptr, fmt::format("unknown command \"{}\"", name));
    }

    // --help anywhere (before "--") wins over every other problem.
    for (size_t i = consumed; i < args.size() && args[i] != "--"; ++i) {
        if (args[i] == "--help" || args[i] == "-h") {
            return help_command(help_of(*spec));
        }
    }

    std::map<std::string, std::string, std::less<>> values;
    std::vector<std::string_view> positional;
    bool options_done = false;
    for (size_t i = consumed; i < args.size(); ++i) {
        std::string_view a = args[i];
        if (options_done || !a.starts_with("-") || a == "-") {
            positional.push_back(a);
            continue;
        }
        if (a == "--") {
            options_done = true;
            continue;
        }
        if (!a.starts_with("--")) {
            return usage_error(spec, fmt::format("{}: unknown option {}", spec->name, a));
        }
        std::string_view key = a.substr(2);
        std::optional<std::string_view> value;
        if (size_t eq = key.find('='); eq != std::string_view::npos) {
            value = key.substr(eq + 1);
            key = key.substr(0, eq);
        }
        const Option* option = nullptr;
        for (const Option& o : spec->options) {
            if (o.name == key) {
                option = &o;
            }
        }
        if (option == nullptr) {
            return usage_error(spec, fmt::format("{}: unknown option --{}", spec->name, key));
        }
        if (option->value.empty()) {  // a flag
            if (value.has_value()) {
                return usage_error(spec, fmt::format("{}: --{} takes no value", spec->name, key));
            }
            value = "";
        }
        if (!value.has_value()) {
            if (i + 1 == args.size()) {
                return usage_error(
                    spec,
                    fmt::format("{}: --{} needs a value ({})", spec->name, key, option->value));
            }
            value = args[++i];
        }
        if (values.contains(key)) {
            return usage_error(spec, fmt::format("{}: --{} given twice", spec->name, key));
        }
        values.emplace(std::string(key), std::string(*value));
    }

    Command cmd;
    cmd.verb = spec->verb;
    size_t want = spec->path != PathArg::None ? 1 : 0;
    if (positional.size() != want) {
        if (want == 1 && positional.empty()) {
            return usage_error(
                spec,
                spec->path == PathArg::UpDown
                    ? fmt::format("{}: up or down?", spec->name)
                    : fmt::format("{}: which file? ({})", spec->name, path_name(spec->path)));
        }
        return usage_error(
            spec, fmt::format("{}: unexpected argument \"{}\"", spec->name, positional[want]));
    }
    if (spec->path == PathArg::UpDown) {
        if (positional[0] != "up" && positional[0] != "down") {
            return usage_error(
                spec, fmt::format("{}: up or down, not \"{}\"", spec->name, positional[0]));
        }
        cmd.link_up = positional[0] == "up";
    } else if (want == 1) {
        cmd.path = std::string(positional[0]);
        if (spec->path == PathArg::Any && cmd.path.empty()) {
            return usage_error(spec, fmt::format("{}: the path is empty", spec->name));
        }
        if (spec->path == PathArg::Volume &&
            (cmd.path.empty() || cmd.path.find('/') == std::string::npos ||
             cmd.path.starts_with('/'))) {
            return usage_error(
                spec,
                fmt::format("{}: \"{}\" is not VOLUME/PATH (a volume name, a slash, then the "
                            "path in that volume)",
                            spec->name,
                            cmd.path));
        }
    }

    // Each option's value, converted; every failure names the option and the text.
    Status bad = Status::ok();
    auto size_of = [&](std::string_view key) -> std::optional<uint64_t> {
        auto it = values.find(key);
        if (it == values.end()) {
            return std::nullopt;
        }
        auto n = config::parse_size(it->second);
        if (!n.is_ok()) {
            bad = usage_error(spec,
                              fmt::format("{}: --{}: {}", spec->name, key, n.status().context()));
            return std::nullopt;
        }
        return n.value();
    };
    auto number_of =
        [&](std::string_view key, uint32_t min, uint32_t max) -> std::optional<uint32_t> {
        auto it = values.find(key);
        if (it == values.end()) {
            return std::nullopt;
        }
        auto n = parse_number<uint32_t>(it->second, min, max);
        if (!n.has_value() && bad.is_ok()) {
            bad = usage_error(spec,
                              fmt::format("{}: --{} must be a number from {} to {}, not \"{}\"",
                                          spec->name,
                                          key,
                                          min,
                                          max,
                                          it->second));
        }
        return n;
    };
    auto text_of = [&](std::string_view key) {
        auto it = values.find(key);
        return it == values.end() ? std::string() : it->second;
    };

    cmd.config = text_of("config");
    cmd.offset = size_of("offset").value_or(0);
    cmd.length = size_of("length");
    cmd.dir = text_of("dir");
    cmd.vremoted = text_of("vremoted");
    cmd.nodes = number_of("nodes", 1, kClusterNodesMax).value_or(0);
    if (auto p = number_of("base-port", 1, UINT16_MAX - kClusterNodesMax)) {
        cmd.base_port = static_cast<uint16_t>(*p);
    }
    cmd.cache_size = size_of("cache-size");
    cmd.delay_us = number_of("delay-us", 0, 1'000'000).value_or(0);
    cmd.loss_ppm = number_of("loss-ppm", 0, 1'000'000).value_or(0);
    cmd.reset_ppm = number_of("reset-ppm", 0, 1'000'000).value_or(0);
    cmd.loss_rto_us = number_of("loss-rto-us", 1'000, 10'000'000).value_or(200'000);
    cmd.lease_ms = number_of("lease-ms", 400, 600'000).value_or(0);
    cmd.fault = text_of("fault");
    if (!cmd.fault.empty() && cmd.fault != "skip-kernel-invalidation" && bad.is_ok()) {
        bad = usage_error(
            spec,
            fmt::format(
                "{}: --fault is skip-kernel-invalidation, not \"{}\"", spec->name, cmd.fault));
    }
    cmd.on_unreachable = text_of("on-unreachable");
    if (!cmd.on_unreachable.empty() && cmd.on_unreachable != "error" &&
        cmd.on_unreachable != "block" && bad.is_ok()) {
        bad = usage_error(spec,
                          fmt::format("{}: --on-unreachable is error or block, not \"{}\"",
                                      spec->name,
                                      cmd.on_unreachable));
    }
    if (values.contains("encrypt")) {
        std::string e = text_of("encrypt");
        if (e != "on" && e != "off" && bad.is_ok()) {
            bad = usage_error(spec,
                              fmt::format("{}: --encrypt is on or off, not \"{}\"", spec->name, e));
        }
        cmd.encrypt = e == "on";
    }
    cmd.wait_seconds = number_of("wait", 1, 3600)
                           .value_or(spec->verb == Verb::ClusterDown ? 20 : kDefaultWaitSeconds);
    cmd.mount = !values.contains("no-mount");
    cmd.netns = values.contains("netns");
    cmd.node = number_of("node", 1, kClusterNodesMax).value_or(0);
    if (values.contains("rate")) {
        std::string r = text_of("rate");
        auto bits = r == "off" ? std::optional<uint64_t>(0) : parse_rate(r);
        if (!bits.has_value() && bad.is_ok()) {
            bad = usage_error(spec,
                              fmt::format("{}: --rate is a number with a unit bit, kbit, mbit or "
                                          "gbit (from 8kbit to 100gbit), or off; not \"{}\"",
                                          spec->name,
                                          r));
        }
        cmd.rate_bits = bits.value_or(0);
    }
    VR_TRY(bad);
    if (values.contains("config") && cmd.config.empty()) {
        return usage_error(spec, fmt::format("{}: --config needs a file name", spec->name));
    }
    if (cmd.offset > INT64_MAX) {
        return usage_error(spec,
                           fmt::format("{}: --offset is beyond the largest file", spec->name));
    }
    for (std::string_view required : {"nodes", "dir", "node", "rate"}) {
        bool listed = false;
        for (const Option& o : spec->options) {
            listed = listed ||
                     (o.name == required && o.help.find("(required)") != std::string_view::npos);
        }
        if (listed && !values.contains(required)) {
            return usage_error(spec, fmt::format("{}: --{} is required", spec->name, required));
        }
    }
    if (spec->name.starts_with("cluster ")) {
        if (cmd.dir.empty()) {
            return usage_error(spec, fmt::format("{}: --dir needs a directory", spec->name));
        }
    }
    if (cmd.netns && cmd.base_port.has_value()) {
        return usage_error(spec,
                           fmt::format("{}: --base-port does not go with --netns (each node "
                                       "listens on port {} of its own address)",
                                       spec->name,
                                       kNetnsPort));
    }
    if (cmd.base_port.has_value() && *cmd.base_port + cmd.nodes > UINT16_MAX) {
        return usage_error(spec,
                           fmt::format("{}: --base-port {} leaves no room for {} nodes",
                                       spec->name,
                                       *cmd.base_port,
                                       cmd.nodes));
    }
    return cmd;
}

}  // namespace vr::cli
