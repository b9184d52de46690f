// Reading a node config: toml++ parses the text into a tree that keeps every node's position,
// then a schema walker reads each table with a Section, which remembers the keys the schema asked
// for (so every other key is reported as unknown) and reports each problem at the right place.
// Problems are collected, not returned at the first one, so that one run shows every mistake;
// a check that depends on another value runs only if that value was read without a problem.
// toml++ reports syntax errors by throwing toml::parse_error: parse_config catches it at the call
// and nothing else in this file throws.
#include "config/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "config/files.h"
#include "config/values.h"

namespace vr::config {

namespace {

constexpr size_t kProblemsShownMax = 20;
// sockaddr_un::sun_path holds 108 bytes, the terminating NUL included.
constexpr size_t kSocketPathBytesMax = 107;
constexpr std::string_view kDefaultSocketName = "vremoted.sock";
constexpr uint64_t kPageBytes = 4096;
constexpr uint64_t kCacheBytesMin = uint64_t{1} << 20;
constexpr uint64_t kCacheBytesMax = uint64_t{1} << 40;
// A frame must hold the largest message body (64 KiB) and at least one page of data.
constexpr int64_t kFrameBytesMin = 64 * 1024 + 4096;
constexpr int64_t kFrameBytesMax = 64 << 20;

struct Problem {
    uint32_t line = 0;  // 0: no position to point at
    uint32_t column = 0;
    std::string text;  // "<key>: <message>"
};

// Every problem found in one file, reported together in file order.
class Problems {
  public:
    explicit Problems(std::string_view source) : source_(source) {}

    void add(const toml::source_position& at, std::string_view key, std::string_view message) {
        list_.push_back(Problem{at.line, at.column, fmt::format("{}: {}", key, message)});
    }
    size_t count() const { return list_.size(); }
    Status to_status() const;

  private:
    std::string source_;
    std::vector<Problem> list_;
};

std::string located(std::string_view source, uint32_t line, uint32_t column) {
    if (line == 0) {
        return fmt::format("{}: ", source);
    }
    return fmt::format("{}:{}:{}: ", source, line, column);
}

Status Problems::to_status() const {
    std::vector<Problem> sorted = list_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
        return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::string out;
    for (size_t i = 0; i < sorted.size() && i < kProblemsShownMax; ++i) {
        out += i == 0 ? "" : "\n";
        out += located(source_, sorted[i].line, sorted[i].column) + sorted[i].text;
    }
    if (sorted.size() > kProblemsShownMax) {
        out += fmt::format(
            "\n{}: {} more problems not shown", source_, sorted.size() - kProblemsShownMax);
    }
    return Status(Code::InvalidArgument, std::move(out));
}

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::none:
            return "nothing";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
    }
    return "an unknown type";
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
            diagonal = above;
        }
    }
    return row[b.size()];
}

enum class Need : uint8_t { Optional, Required };

// One TOML table read against its schema. Each getter reports a missing required key at the
// table's header and a value of the wrong type at the value; fail() reports anything else.
class Section {
  public:
    Section(Problems& problems, const toml::table& table, std::string path)
        : problems_(problems), table_(table), path_(std::move(path)) {}

    std::string key_path(std::string_view key) const {
        return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
    }
    // The key's value (or null), remembering the key as part of the schema.
    const toml::node* find(std::string_view key) {
        if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
            known_.emplace_back(key);
        }
        return table_.get(key);
    }
    // Reports at the key's value, or at the table's header when the key is absent.
    void fail(std::string_view key, std::string_view message) {
        const toml::node* node = table_.get(key);
        problems_.add(
            node != nullptr ? node->source().begin : table_.source().begin, key_path(key), message);
        failed_.emplace_back(key);
    }
    bool failed(std::string_view key) const {
        return std::find(failed_.begin(), failed_.end(), key) != failed_.end();
    }
    void wrong_type(std::string_view key, std::string_view expected) {
        const toml::node* node = table_.get(key);
        fail(key, fmt::format("expected {}, got {}", expected, type_name(node->type())));
    }

    std::optional<std::string> string(std::string_view key, Need need);
    std::optional<bool> boolean(std::string_view key);
    template <typename T>
    std::optional<T> integer(std::string_view key, int64_t min, int64_t max);
    const toml::table* table(std::string_view key, Need need);
    const toml::array* array(std::string_view key);
    // Reports every key of the table that no getter asked for.
    void reject_unknown_keys();

  private:
    // The key's value if present; reports it as missing when it is required.
    const toml::node* present(std::string_view key, Need need, std::string_view what = "key") {
        const toml::node* node = find(key);
        if (node == nullptr && need == Need::Required) {
            fail(key, fmt::format("required {} is missing", what));
        }
        return node;
    }

    Problems& problems_;
    const toml::table& table_;
    std::string path_;                 // dotted path of the table, "" for the root
    std::vector<std::string> known_;   // keys the schema asked for
    std::vector<std::string> failed_;  // keys with a reported problem
};

std::optional<std::string> Section::string(std::string_view key, Need need) {
    const toml::node* node = present(key, need);
    if (node == nullptr) {
        return std::nullopt;
    }
    if (const auto* value = node->as_string()) {
        return value->get();
    }
    wrong_type(key, "a string");
    return std::nullopt;
}

std::optional<bool> Section::boolean(std::string_view key) {
    const toml::node* node = present(key, Need::Optional);
    if (node == nullptr) {
        return std::nullopt;
    }
    if (const auto* value = node->as_boolean()) {
        return value->get();
    }
    wrong_type(key, "a boolean (true or false)");
    return std::nullopt;
}

template <typename T>
std::optional<T> Section::integer(std::string_view key, int64_t min, int64_t max) {
    const toml::node* node = present(key, Need::Optional);
    if (node == nullptr) {
        return std::nullopt;
    }
    const auto* value = node->as_integer();
    if (value == nullptr) {
        wrong_type(key, "an integer");
        return std::nullopt;
    }
    int64_t number = value->get();
    if (number < min || number > max) {
        fail(key, fmt::format("{} is out of range (must be {}-{})", number, min, max));
        return std::nullopt;
    }
    return static_cast<T>(number);
}

const toml::table* Section::table(std::string_view key, Need need) {
    const toml::node* node = present(key, need, fmt::format("table [{}]", key_path(key)));
    if (node == nullptr) {
        return nullptr;
    }
    if (const auto* value = node->as_table()) {
        return value;
    }
    wrong_type(key, fmt::format("a table ([{}])", key_path(key)));
    return nullptr;
}

const toml::array* Section::array(std::string_view key) {
    const toml::node* node = present(key, Need::Optional);
    if (node == nullptr) {
        return nullptr;
    }
    if (const auto* value = node->as_array()) {
        return value;
    }
    wrong_type(key, fmt::format("an array of tables ([[{}]])", key_path(key)));
    return nullptr;
}

void Section::reject_unknown_keys() {
    for (auto&& [key, node] : table_) {
        std::string_view name = key.str();
        if (std::find(known_.begin(), known_.end(), name) != known_.end()) {
            continue;
        }
        auto closest = std::min_element(
            known_.begin(), known_.end(), [&](const std::string& a, const std::string& b) {
                return edit_distance(name, a) < edit_distance(name, b);
            });
        std::string message = "unknown key";
        if (closest != known_.end() && edit_distance(name, *closest) <= 2) {
            message += fmt::format(" (did you mean {}?)", *closest);
        } else {
            message += fmt::format(" (expected one of: {})", fmt::join(known_, ", "));
        }
        problems_.add(key.source().begin, key_path(name), message);
    }
}

// Where an earlier array entry was, to point back at it from a duplicate.
struct Seen {
    size_t index = 0;
    uint32_t line = 0;
};

// The path with symbolic links, "." and ".." resolved as far as it exists; "" on failure.
std::string canonical_or_empty(const std::string& path) {
    std::error_code ec;
    std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
    if (ec) {
        return std::string();
    }
    std::string text = canonical.string();
    while (text.size() > 1 && text.back() == '/') {
        text.pop_back();
    }
    return text;
}

// How two canonical paths overlap, as a phrase: "" when they do not (or either is unknown).
std::string_view overlap(std::string_view path, std::string_view other) {
    if (path.empty() || other.empty()) {
        return "";
    }
    if (path == other) {
        return "is the same directory as";
    }
    if (is_within(path, other)) {
        return "lies inside";
    }
    return is_within(other, path) ? "contains" : "";
}

// The schema walker. Tables are read in file-independent order; Problems sorts the messages.
class Parser {
  public:
    Parser(std::string_view source, FileChecks checks) : problems_(source), checks_(checks) {}
    Result<NodeConfig> run(const toml::table& root);

  private:
    std::optional<std::string> read_checked(Section& s,
                                            std::string_view key,
                                            Need need,
                                            Status (*check)(std::string_view));
    void read_node(Section& s);
    void read_socket(Section& s);
    void read_cluster(Section& s);
    void read_peers(const toml::array& peers);
    void read_peer(Section& s, size_t index);
    void check_peer_address(Section& s,
                            size_t index,
                            std::string_view text,
                            const Address& address);
    void read_exports(const toml::array& exports);
    void read_export(Section& s, size_t index);
    void check_export_path(Section& s, size_t index, const Export& entry);
    void check_mount(Section& node);
    void read_cache(Section& s);
    void read_timeouts(Section& s);
    void read_limits(Section& s);
    void read_test(Section& s);

    Problems problems_;
    FileChecks checks_;
    NodeConfig config_;
    std::map<std::string, Seen, std::less<>> peer_names_;
    std::map<std::string, Seen, std::less<>> peer_addresses_;
    std::map<std::string, Seen, std::less<>> volumes_;
    // Canonical paths of the exports read so far, with where they were.
    std::vector<std::pair<std::string, Seen>> export_paths_;
};

Result<NodeConfig> Parser::run(const toml::table& root) {
    Section top(problems_, root, "");
    const toml::table* node = top.table("node", Need::Required);
    const toml::table* cluster = top.table("cluster", Need::Required);
    const toml::array* peers = top.array("peers");
    const toml::array* exports = top.array("exports");
    std::optional<Section> node_section;
    if (node != nullptr) {
        read_node(node_section.emplace(problems_, *node, "node"));
    }
    if (cluster != nullptr) {
        Section s(problems_, *cluster, "cluster");
        read_cluster(s);
    }
    if (peers != nullptr) {
        read_peers(*peers);
    }
    if (exports != nullptr) {
        read_exports(*exports);
    }
    if (node_section.has_value()) {
        check_mount(*node_section);
    }
    using Reader = void (Parser::*)(Section&);
    const std::pair<std::string_view, Reader> optional_tables[] = {
        {"cache", &Parser::read_cache},
        {"timeouts", &Parser::read_timeouts},
        {"limits", &Parser::read_limits},
        {"test", &Parser::read_test},
    };
    for (const auto& [name, reader] : optional_tables) {
        if (const toml::table* table = top.table(name, Need::Optional)) {
            Section s(problems_, *table, std::string(name));
            (this->*reader)(s);
        }
    }
    top.reject_unknown_keys();
    if (problems_.count() > 0) {
        return problems_.to_status();
    }
    return std::move(config_);
}

std::optional<std::string> Parser::read_checked(Section& s,
                                                std::string_view key,
                                                Need need,
                                                Status (*check)(std::string_view)) {
    std::optional<std::string> text = s.string(key, need);
    if (!text.has_value()) {
        return std::nullopt;
    }
    Status status = check(*text);
    if (!status.is_ok()) {
        s.fail(key, status.context());
        return std::nullopt;
    }
    return text;
}

void Parser::read_node(Section& s) {
    NodeSection& node = config_.node;
    if (auto name = read_checked(s, "name", Need::Required, check_name)) {
        node.name = *name;
    }
    if (auto listen = s.string("listen", Need::Required)) {
        Result<Address> address = parse_address(*listen, kDefaultPort);
        if (address.is_ok()) {
            node.listen = address.value();
        } else {
            s.fail("listen", address.status().context());
        }
    }
    if (auto data_dir = read_checked(s, "data_dir", Need::Optional, check_absolute_path)) {
        node.data_dir = *data_dir;
    }
    read_socket(s);
    if (auto metrics = s.string("metrics_listen", Need::Optional)) {
        Result<Address> address = parse_address(*metrics, kDefaultMetricsPort);
        if (!address.is_ok()) {
            s.fail("metrics_listen", address.status().context());
        } else if (!is_loopback(address.value())) {
            s.fail("metrics_listen",
                   fmt::format("{} is not a loopback address (the metrics endpoint is local only: "
                               "use 127.0.0.1 or [::1])",
                               quote(*metrics)));
        } else {
            node.metrics_listen = address.value();
        }
    }
    node.mount = read_checked(s, "mount", Need::Optional, check_absolute_path);
    s.reject_unknown_keys();
}

void Parser::read_socket(Section& s) {
    NodeSection& node = config_.node;
    std::optional<std::string> socket =
        read_checked(s, "client_socket", Need::Optional, check_absolute_path);
    if (s.failed("client_socket")) {
        return;
    }
    if (socket.has_value()) {
        if (socket->size() > kSocketPathBytesMax) {
            s.fail("client_socket",
                   fmt::format("{} is {} bytes long; a Unix socket path is at most {}",
                               quote(*socket),
                               socket->size(),
                               kSocketPathBytesMax));
            return;
        }
        node.client_socket = *socket;
        return;
    }
    if (s.failed("data_dir")) {
        return;
    }
    node.client_socket = (std::filesystem::path(node.data_dir) / kDefaultSocketName).string();
    if (node.client_socket.size() > kSocketPathBytesMax) {
        s.fail("client_socket",
               fmt::format("the default, {}, is {} bytes long; a Unix socket path is at most {}: "
                           "set client_socket",
                           quote(node.client_socket),
                           node.client_socket.size(),
                           kSocketPathBytesMax));
    }
}

void Parser::read_cluster(Section& s) {
    ClusterSection& cluster = config_.cluster;
    if (auto secret = read_checked(s, "secret_file", Need::Required, check_absolute_path)) {
        Status status = checks_ == FileChecks::On ? check_secret_file(*secret) : Status::ok();
        if (status.is_ok()) {
            cluster.secret_file = *secret;
        } else {
            s.fail("secret_file", status.context());
        }
    }
    if (auto encrypt = s.boolean("encrypt")) {
        cluster.encrypt = *encrypt;
    }
    cluster.default_volume = read_checked(s, "default_volume", Need::Optional, check_name);
    s.reject_unknown_keys();
}

void Parser::read_peers(const toml::array& peers) {
    for (size_t i = 0; i < peers.size(); ++i) {
        std::string path = fmt::format("peers[{}]", i);
        const toml::table* table = peers.get(i)->as_table();
        if (table == nullptr) {
            problems_.add(peers.get(i)->source().begin,
                          path,
                          fmt::format("expected a table ([[peers]]), got {}",
                                      type_name(peers.get(i)->type())));
            continue;
        }
        if (i == kPeersMax) {
            problems_.add(table->source().begin,
                          path,
                          fmt::format("too many peers: a cluster has at most {} nodes, this one "
                                      "included",
                                      kPeersMax + 1));
            return;
        }
        Section s(problems_, *table, path);
        read_peer(s, i);
    }
}

void Parser::read_peer(Section& s, size_t index) {
    Peer peer;
    if (auto name = read_checked(s, "name", Need::Required, check_name)) {
        auto seen = peer_names_.find(*name);
        if (*name == config_.node.name) {
            s.fail("name",
                   fmt::format("{} is this node's own name (node.name); list only the other nodes",
                               quote(*name)));
        } else if (seen != peer_names_.end()) {
            s.fail("name",
                   fmt::format("{} is already the name of peers[{}] (line {})",
                               quote(*name),
                               seen->second.index,
                               seen->second.line));
        } else {
            peer_names_.emplace(*name, Seen{index, s.find("name")->source().begin.line});
        }
        peer.name = std::move(*name);
    }
    if (auto text = s.string("address", Need::Required)) {
        Result<Address> address = parse_address(*text, kDefaultPort);
        if (address.is_ok()) {
            peer.address = address.value();
            check_peer_address(s, index, *text, peer.address);
        } else {
            s.fail("address", address.status().context());
        }
    }
    s.reject_unknown_keys();
    config_.peers.push_back(std::move(peer));
}

void Parser::check_peer_address(Section& s,
                                size_t index,
                                std::string_view text,
                                const Address& address) {
    std::string key = format_address(address);
    auto seen = peer_addresses_.find(key);
    if (is_wildcard(address)) {
        s.fail("address",
               fmt::format("{} is a wildcard address; give one the peer can be reached at",
                           quote(text)));
    } else if (address == config_.node.listen) {
        s.fail("address", fmt::format("{} is this node's own address (node.listen)", quote(key)));
    } else if (seen != peer_addresses_.end()) {
        s.fail("address",
               fmt::format("{} is already the address of peers[{}] (line {})",
                           quote(key),
                           seen->second.index,
                           seen->second.line));
    } else {
        peer_addresses_.emplace(key, Seen{index, s.find("address")->source().begin.line});
    }
}

void Parser::read_exports(const toml::array& exports) {
    for (size_t i = 0; i < exports.size(); ++i) {
        std::string path = fmt::format("exports[{}]", i);
        const toml::table* table = exports.get(i)->as_table();
        if (table == nullptr) {
            problems_.add(exports.get(i)->source().begin,
                          path,
                          fmt::format("expected a table ([[exports]]), got {}",
                                      type_name(exports.get(i)->type())));
            continue;
        }
        if (i == kExportsMax) {
            problems_.add(table->source().begin,
                          path,
                          fmt::format("too many exports: at most {}", kExportsMax));
            return;
        }
        Section s(problems_, *table, path);
        read_export(s, i);
    }
}

void Parser::read_export(Section& s, size_t index) {
    Export entry;
    if (auto volume = read_checked(s, "volume", Need::Required, check_name)) {
        auto seen = volumes_.find(*volume);
        if (seen != volumes_.end()) {
            s.fail("volume",
                   fmt::format("{} is already exported by exports[{}] (line {})",
                               quote(*volume),
                               seen->second.index,
                               seen->second.line));
        } else {
            volumes_.emplace(*volume, Seen{index, s.find("volume")->source().begin.line});
        }
        entry.volume = std::move(*volume);
    }
    if (auto read_only = s.boolean("read_only")) {
        entry.read_only = *read_only;
    }
    if (auto path = read_checked(s, "path", Need::Required, check_absolute_path)) {
        entry.path = std::move(*path);
        check_export_path(s, index, entry);
    }
    s.reject_unknown_keys();
    config_.exports.push_back(std::move(entry));
}

// The directory exists with the access the export needs, and overlaps no earlier export: the
// same file under two volumes would have two directory entries, and so two sets of copies that
// no invalidation connects.
void Parser::check_export_path(Section& s, size_t index, const Export& entry) {
    Status status =
        checks_ == FileChecks::On
            ? check_export_dir(entry.path,
                               entry.read_only ? ExportAccess::ReadOnly : ExportAccess::ReadWrite)
            : Status::ok();
    if (!status.is_ok()) {
        s.fail("path", status.context());
        return;
    }
    std::string canonical = canonical_or_empty(entry.path);
    for (const auto& [other, seen] : export_paths_) {
        std::string_view relation = overlap(canonical, other);
        if (!relation.empty()) {
            s.fail("path",
                   fmt::format("{} {} exports[{}].path (line {}); exports must not overlap",
                               quote(entry.path),
                               relation,
                               seen.index,
                               seen.line));
            return;
        }
    }
    export_paths_.emplace_back(canonical, Seen{index, s.find("path")->source().begin.line});
}

// A mount point inside an export (or the other way round) would serve the mount to itself.
void Parser::check_mount(Section& node) {
    if (!config_.node.mount.has_value()) {
        return;
    }
    std::string mount = canonical_or_empty(*config_.node.mount);
    for (const auto& [other, seen] : export_paths_) {
        if (!overlap(mount, other).empty()) {
            node.fail("mount",
                      fmt::format("{} overlaps exports[{}].path (line {}); the FUSE mount must be "
                                  "outside every export",
                                  quote(*config_.node.mount),
                                  seen.index,
                                  seen.line));
            return;
        }
    }
}

// cache.size as a byte count, before the range checks; reports and returns nothing if it is
// neither an integer nor a size string. `shown` is the value as the file wrote it.
std::optional<uint64_t> size_value(Section& s, const toml::node& node, std::string* shown) {
    if (const auto* integer = node.as_integer()) {
        *shown = std::to_string(integer->get());
        // A negative count becomes 0, which the range check then refuses.
        return static_cast<uint64_t>(std::max<int64_t>(integer->get(), 0));
    }
    if (const auto* text = node.as_string()) {
        *shown = quote(text->get());
        Result<uint64_t> parsed = parse_size(text->get());
        if (!parsed.is_ok()) {
            s.fail("size", parsed.status().context());
            return std::nullopt;
        }
        return parsed.value();
    }
    s.wrong_type("size", "a size (a string such as \"256MiB\", or an integer of bytes)");
    return std::nullopt;
}

void Parser::read_cache(Section& s) {
    std::string shown;
    const toml::node* node = s.find("size");
    // Absent (the default stands) or already reported when there is no value.
    std::optional<uint64_t> bytes =
        node != nullptr ? size_value(s, *node, &shown) : std::optional<uint64_t>();
    if (!bytes.has_value()) {
        s.reject_unknown_keys();
        return;
    }
    if (*bytes < kCacheBytesMin || *bytes > kCacheBytesMax) {
        s.fail("size",
               fmt::format("{} is out of range (must be {}-{})",
                           shown,
                           format_size(kCacheBytesMin),
                           format_size(kCacheBytesMax)));
    } else if (*bytes % kPageBytes != 0) {
        s.fail("size", fmt::format("{} is not a multiple of the page size (4KiB)", shown));
    } else {
        config_.cache.size_bytes = *bytes;
    }
    s.reject_unknown_keys();
}

void Parser::read_timeouts(Section& s) {
    Timeouts& t = config_.timeouts;
    constexpr int64_t kHour = 3'600'000;
    t.heartbeat_ms = s.integer<uint32_t>("heartbeat_ms", 1, 60'000).value_or(t.heartbeat_ms);
    t.failure_ms = s.integer<uint32_t>("failure_ms", 2, 600'000).value_or(t.failure_ms);
    // Leases are renewed every lease_ms / 4, which must not round to 0.
    t.lease_ms = s.integer<uint32_t>("lease_ms", 4, kHour).value_or(t.lease_ms);
    t.grace_ms = s.integer<uint32_t>("grace_ms", 1, kHour).value_or(t.grace_ms);
    t.request_ms = s.integer<uint32_t>("request_ms", 1, kHour).value_or(t.request_ms);
    t.connect_backoff_max_ms = s.integer<uint32_t>("connect_backoff_max_ms", 1, 600'000)
                                   .value_or(t.connect_backoff_max_ms);
    if (auto mode = s.string("on_unreachable", Need::Optional)) {
        if (*mode == "error") {
            t.on_unreachable = OnUnreachable::Error;
        } else if (*mode == "block") {
            t.on_unreachable = OnUnreachable::Block;
        } else {
            s.fail("on_unreachable", fmt::format("{} is not \"error\" or \"block\"", quote(*mode)));
        }
    }
    if (!s.failed("heartbeat_ms") && !s.failed("failure_ms") && t.failure_ms <= t.heartbeat_ms) {
        s.fail("failure_ms",
               fmt::format("{} must be greater than heartbeat_ms ({}): a peer is declared down "
                           "only after it missed heartbeats",
                           t.failure_ms,
                           t.heartbeat_ms));
    }
    s.reject_unknown_keys();
}

void Parser::read_limits(Section& s) {
    Limits& l = config_.limits;
    l.inflight_per_peer =
        s.integer<uint32_t>("inflight_per_peer", 1, 65'536).value_or(l.inflight_per_peer);
    l.max_frame_bytes = s.integer<uint32_t>("max_frame_bytes", kFrameBytesMin, kFrameBytesMax)
                            .value_or(l.max_frame_bytes);
    s.reject_unknown_keys();
}

void Parser::read_test(Section& s) {
    TestKnobs& k = config_.test;
    k.delay_us = s.integer<uint32_t>("delay_us", 0, 1'000'000).value_or(k.delay_us);
    k.loss_ppm = s.integer<uint32_t>("loss_ppm", 0, 1'000'000).value_or(k.loss_ppm);
    k.loss_rto_us = s.integer<uint32_t>("loss_rto_us", 1'000, 10'000'000).value_or(k.loss_rto_us);
    k.reset_ppm = s.integer<uint32_t>("reset_ppm", 0, 1'000'000).value_or(k.reset_ppm);
    if (auto fault = s.string("fault", Need::Optional)) {
        if (*fault == "" || *fault == "skip-kernel-invalidation") {
            k.fault = *fault;
        } else {
            s.fail("fault", fmt::format("{} is not \"skip-kernel-invalidation\"", quote(*fault)));
        }
    }
    s.reject_unknown_keys();
}

}  // namespace

Result<NodeConfig> parse_config(std::string_view toml_text,
                                std::string_view source_name,
                                FileChecks checks) {
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& error) {
        const toml::source_position& at = error.source().begin;
        return Status(Code::InvalidArgument,
                      located(source_name, at.line, at.column) +
                          fmt::format("invalid TOML: {}", error.description()));
    }
    Parser parser(source_name, checks);
    return parser.run(root);
}

Result<NodeConfig> load_config(const std::string& path, FileChecks checks) {
    Result<std::string> text = read_small_file(path, kFileBytesMax);
    if (!text.is_ok()) {
        return text.status();
    }
    return parse_config(text.value(), path, checks);
}

std::string_view on_unreachable_name(OnUnreachable mode) {
    switch (mode) {
        case OnUnreachable::Error:
            return "error";
        case OnUnreachable::Block:
            return "block";
    }
    return "error";
}

}  // namespace vr::config
