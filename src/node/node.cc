#include "node/node.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/log.h"
#include "net/auth.h"
#include "node/home_state.h"
#include "node/ino.h"
#include "node/sync_worker.h"
#include "store/path.h"

namespace vr::node {

using coherence::Effect;
using coherence::EffectKind;
using coherence::FileId;
using coherence::Message;
using coherence::MsgType;
using coherence::NodeId;
using coherence::PageBuf;
using coherence::PageIndex;
using coherence::Range;

// Every counter `vremote stats` and the metrics endpoint show. Updated on the loop thread only.
#define VR_NODE_COUNTERS(X)                                                                     \
    X(fetch_requests, "GetS and GetM requests sent to homes")                                   \
    X(pages_served, "pages sent to other nodes in DataS/DataM")                                 \
    X(invalidations_sent, "Inv and Recall messages sent to sharers and owners")                 \
    X(kernel_invalidations, "kernel page-cache invalidations run")                              \
    X(writebacks, "M pages written back to a home (PutM, recall, reclaim)")                     \
    X(evictions, "pages evicted from this node's cache (PutS, PutM)")                           \
    X(store_pages_written, "pages written to this node's origin stores")                        \
    X(store_write_errors, "origin store writes that failed")                                    \
    X(store_syncs, "fdatasync calls on origin files")                                           \
    X(bytes_sent_zero_copy, "page bytes sent with no user-space copy (sendfile, cache frames)") \
    X(bytes_sent_copied, "page bytes read into user space before they were sent")               \
    X(send_failures, "messages the transport refused (link down or queue full)")                \
    X(meta_requests_sent, "metadata requests sent to homes")                                    \
    X(meta_requests_served, "metadata requests served for peers")                               \
    X(meta_requests_refused, "metadata requests of peers refused with an error")                \
    X(meta_invalidations_sent, "attribute and entry invalidations sent to holders")             \
    X(reads, "local reads")                                                                     \
    X(reads_held_size, "local reads clipped to a held size, without asking the home")           \
    X(writes, "local writes")                                                                   \
    X(fsyncs, "local fsyncs")                                                                   \
    X(request_errors, "local reads, writes and fsyncs that failed")                             \
    X(protocol_violations, "peer messages the engine refused as protocol violations")

struct Node::Counters {
#define VR_X(name, help) uint64_t name = 0;
    VR_NODE_COUNTERS(VR_X)
#undef VR_X
};

namespace {

wire::MetaReply error_reply(const Status& st) {
    wire::MetaReply r;
    r.code = st.code();
    std::string msg = st.context();
    if (msg.size() > 512) {
        msg.resize(512);
    }
    std::replace(msg.begin(), msg.end(), '\0', '?');
    r.message = std::move(msg);
    return r;
}

wire::MetaType meta_type(store::FileType t) {
    switch (t) {
        case store::FileType::Regular:
            return wire::MetaType::Regular;
        case store::FileType::Directory:
            return wire::MetaType::Directory;
        case store::FileType::Symlink:
            return wire::MetaType::Symlink;
        case store::FileType::Other:
            break;
    }
    return wire::MetaType::Other;
}

bool expected_error(Code c) {
    return c == Code::NotFound || c == Code::Exists || c == Code::NotEmpty;
}

}  // namespace

Node::Node(const config::NodeConfig& config,
           runtime::EventLoop& loop,
           std::vector<std::string> names,
           const coherence::EngineConfig& ec)
    : cfg_(config),
      loop_(loop),
      self_(ec.self),
      names_(std::move(names)),
      page_size_(ec.page_size),
      engine_(ec),
      counters_(std::make_unique<Counters>()) {
    // The engine names nodes by id ("n0"); the log uses the configured names.
    engine_.set_notice([this](const std::string& line) {
        std::string out;
        for (size_t i = 0; i < line.size();) {
            size_t j = i + 1;
            while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j])) != 0) {
                ++j;
            }
            bool word_start = i == 0 || line[i - 1] == ' ';
            if (line[i] == 'n' && j > i + 1 && word_start &&
                (j == line.size() || !std::isalnum(static_cast<unsigned char>(line[j])))) {
                size_t id = std::stoul(line.substr(i + 1, j - i - 1));
                out += id < names_.size() ? names_[id] : line.substr(i, j - i);
                i = j;
            } else {
                out += line[i++];
            }
        }
        log::info("coherence: {}", out);
    });
}

Node::~Node() {
    if (tick_timer_ != 0) {
        loop_.cancel_timer(tick_timer_);
    }
}

Result<std::unique_ptr<Node>> Node::create(const config::NodeConfig& config,
                                           runtime::EventLoop& loop) {
    // Node ids: the index of the name among all node names, sorted. Every node computes the
    // same numbering from its own config as long as the configs list the same nodes, which the
    // handshake checks (the cluster hash covers every name).
    std::vector<std::string> names{config.node.name};
    for (const auto& p : config.peers) {
        names.push_back(p.name);
    }
    std::sort(names.begin(), names.end());
    if (names.size() > static_cast<size_t>(coherence::kMaxNodes)) {
        return Status(Code::InvalidArgument, "more than 64 nodes");
    }
    coherence::EngineConfig ec;
    for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == config.node.name) {
            ec.self = static_cast<NodeId>(i);
        }
        ec.members |= coherence::bit(static_cast<NodeId>(i));
    }
    ec.page_size = 4096;
    ec.cache_pages_max = std::max<uint64_t>(config.cache.size_bytes / ec.page_size, 64);
    ec.lease_us = int64_t{config.timeouts.lease_ms} * 1000;
    ec.grace_us = int64_t{config.timeouts.grace_ms} * 1000;
    ec.request_timeout_us = int64_t{config.timeouts.request_ms} * 1000;
    ec.inflight_per_home_max = config.limits.inflight_per_peer;
    // A restarted daemon is a new incarnation, both as a node and as a home: wall-clock
    // microseconds grow across restarts (and the engine only compares them for equality and
    // order with what peers remember).
    uint64_t inc = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    ec.node_incarnation = inc;
    ec.home_incarnation = inc;
    // What the previous incarnation of this home declared, then this incarnation's own record
    // (durable before any peer can hear of it).
    const std::string state_path =
        (std::filesystem::path(config.node.data_dir) / "home-state").string();
    auto previous = load_home_state(state_path);
    if (!previous.is_ok()) {
        return previous.status().with_context("home state");
    }
    if (previous->incarnation >= inc) {
        return Status(Code::InvalidArgument,
                      fmt::format("{}: the previous incarnation {} is not older than this one "
                                  "({}): has the clock gone back?",
                                  state_path,
                                  previous->incarnation,
                                  inc));
    }
    ec.previous_home_incarnation = previous->incarnation;
    ec.previous_dead = previous->dead;
    if (Status st = save_home_state(state_path, HomeState{inc, 0}); !st.is_ok()) {
        return st.with_context("home state");
    }
    std::unique_ptr<Node> n(new Node(config, loop, std::move(names), ec));
    n->home_state_path_ = state_path;

    for (size_t i = 0; i < config.exports.size(); ++i) {
        if (i >= kExportsPerNodeMax) {
            return Status(Code::InvalidArgument, "too many exports");
        }
        store::ExportOptions eo;
        eo.volume = config.exports[i].volume;
        eo.root = config.exports[i].path;
        eo.access =
            config.exports[i].read_only ? store::Access::ReadOnly : store::Access::ReadWrite;
        eo.page_size = n->page_size_;
        auto ex = store::Export::open(eo);
        if (!ex.is_ok()) {
            return ex.status().with_context(fmt::format("export '{}' at {}", eo.volume, eo.root));
        }
        auto root = make_ino(static_cast<uint16_t>(i), ex.value()->root_ino());
        if (!root.is_ok()) {
            return root.status().with_context(fmt::format("export '{}'", eo.volume));
        }
        VolumeRef v{eo.volume,
                    n->self_,
                    static_cast<uint16_t>(i),
                    config.exports[i].read_only,
                    root.value()};
        n->volumes_[v.name] = v;
        n->volume_names_[{v.node, v.index}] = v.name;
        n->exports_.push_back(std::move(ex.value()));
    }
    return n;
}

int64_t Node::now() const {
    return runtime::monotonic_us();
}

Status Node::start() {
    auto key = net::load_cluster_key(cfg_.cluster.secret_file);
    if (!key.is_ok()) {
        return key.status().with_context("cluster.secret_file");
    }
    net::TransportConfig tc;
    tc.self = self_;
    tc.self_name = cfg_.node.name;
    tc.listen_host = cfg_.node.listen.host;
    tc.listen_port = cfg_.node.listen.port;
    for (const auto& p : cfg_.peers) {
        auto it = std::find(names_.begin(), names_.end(), p.name);
        tc.peers.push_back(net::PeerSpec{
            static_cast<NodeId>(it - names_.begin()), p.name, p.address.host, p.address.port});
    }
    tc.key = key.value();
    tc.limits.page_size = page_size_;
    tc.heartbeat_us = int64_t{cfg_.timeouts.heartbeat_ms} * 1000;
    tc.failure_us = int64_t{cfg_.timeouts.failure_ms} * 1000;
    tc.backoff_max_us = int64_t{cfg_.timeouts.connect_backoff_max_ms} * 1000;
    // Per peer; with the engine's own bound on requests in flight this is rarely reached.
    tc.queued_max_bytes = size_t{16} << 20;
    tc.encrypt = cfg_.cluster.encrypt;
    tc.delay_us = cfg_.test.delay_us;
    tc.loss_ppm = cfg_.test.loss_ppm;
    tc.loss_rto_us = cfg_.test.loss_rto_us;
    tc.reset_ppm = cfg_.test.reset_ppm;
    if (cfg_.test.delay_us != 0 || cfg_.test.loss_ppm != 0 || cfg_.test.reset_ppm != 0) {
        log::warn("test hooks on: delay {} us, loss {} ppm (stall {} us), reset {} ppm",
                  cfg_.test.delay_us,
                  cfg_.test.loss_ppm,
                  cfg_.test.loss_rto_us,
                  cfg_.test.reset_ppm);
    }
    skip_kernel_invalidation_ = cfg_.test.fault == "skip-kernel-invalidation";
    if (skip_kernel_invalidation_) {
        log::warn(
            "PLANTED BUG (test.fault): invalidations are acknowledged without telling the "
            "kernel; this node can serve stale data");
    }
    net::Transport::Handler h;
    h.on_message = [this](const Message& m) { on_message(m); };
    h.on_link_reset = [this](NodeId peer) { on_link_reset(peer); };
    h.on_link_up = [](NodeId) {};
    // The transport says what happened to links and why connections were refused.
    h.log = [](const std::string& line) { log::info("{}", line); };
    h.on_volumes = [this](NodeId peer, wire::VolumesMsg v) { on_volumes(peer, std::move(v)); };
    h.on_meta_request = [this](NodeId peer, uint64_t id, wire::MetaRequest r) {
        on_meta_request(peer, id, std::move(r));
    };
    h.on_meta_reply = [this](NodeId peer, uint64_t id, wire::MetaReply r) {
        on_meta_reply(peer, id, std::move(r));
    };
    transport_ = std::make_unique<net::Transport>(loop_, tc, std::move(h));
    // --log-level debug: every transition of the coherence engine (a lot of output).
    if (log::enabled(log::Level::Debug)) {
        engine_.set_trace([](const std::string& line) { log::debug("engine: {}", line); });
    }
    // A peer's protocol violations: logged (the first 100, then every 1000th: a hostile peer
    // must not flood the log) and counted.
    engine_.set_violation_handler([this](NodeId from, const std::string& what) {
        uint64_t n = ++counters_->protocol_violations;
        if (n <= 100 || n % 1000 == 0) {
            log::warn("protocol violation by {} (refused, #{}): {}",
                      from < names_.size() ? names_[from] : std::to_string(from),
                      n,
                      what);
        }
    });
    wire::VolumesMsg mine;
    for (const auto& [name, v] : volumes_) {
        if (v.node == self_) {
            mine.volumes.push_back(wire::VolumeInfo{v.name, v.index, v.read_only, v.root_ino});
        }
    }
    transport_->set_volumes(std::move(mine));
    VR_TRY(transport_->start());
    sync_ = std::make_unique<SyncWorker>(loop_);
    engine_.start(now());
    drain();
    tick();
    log::info("node {} (id {}) listening on {}:{}, {} export(s), cache {} MiB",
              cfg_.node.name,
              self_,
              cfg_.node.listen.host,
              transport_->bound_port(),
              exports_.size(),
              cfg_.cache.size_bytes >> 20);
    return Status::ok();
}

void Node::tick() {
    engine_.on_tick(now());
    drain();
    // Metadata requests that waited for their link go out once it takes them; those whose
    // peer is unreachable (on_unreachable = "error") or silent past their deadline fail rather
    // than hang. So do the engine's requests to an unreachable home: waiting for their deadline
    // would only hold the program up longer.
    int64_t t = now();
    for (NodeId n = 0; n < names_.size() && rpcs_unsent_ != 0; ++n) {
        send_waiting_rpcs(n);
    }
    const bool fail_fast = cfg_.timeouts.on_unreachable == config::OnUnreachable::Error;
    std::vector<std::pair<uint64_t, Status>> failed;
    for (auto& [id, rpc] : rpcs_) {
        if (t >= rpc.deadline) {
            failed.emplace_back(
                id,
                Status(Code::Timeout,
                       rpc.sent ? fmt::format("no answer from {}", names_[rpc.peer])
                                : fmt::format("{} could not be reached", names_[rpc.peer])));
        } else if (fail_fast && unreachable(rpc.peer)) {
            failed.emplace_back(
                id, Status(Code::Unavailable, fmt::format("{} is unreachable", names_[rpc.peer])));
        }
    }
    for (auto& [id, st] : failed) {
        auto it = rpcs_.find(id);
        MetaCb cb = std::move(it->second.cb);
        if (!it->second.sent) {
            count_unsent(it->second.peer, false);
        }
        rpcs_.erase(it);
        cb(error_reply(st));
    }
    if (fail_fast) {
        for (NodeId n = 0; n < names_.size(); ++n) {
            if (n != self_ && unreachable(n)) {
                engine_.fail_requests(
                    n, Status(Code::Unavailable, fmt::format("{} is unreachable", names_[n])));
            }
        }
        drain();
    }
    // A home whose link went down can no longer invalidate what our kernel caches of its
    // metadata: drop it now (its pages are the engine's business: the lease).
    if (link_states_.size() != names_.size()) {
        link_states_.assign(names_.size(), net::LinkState::Down);
    }
    for (NodeId n = 0; n < names_.size(); ++n) {
        if (n == self_) {
            continue;
        }
        net::LinkState st = transport_->info(n).state;
        if (link_states_[n] == net::LinkState::Up && st != net::LinkState::Up) {
            drop_held_sizes(n);
            if (kernel_ != nullptr) {
                kernel_->home_lost(n);
            }
        }
        link_states_[n] = st;
    }
    tick_timer_ = loop_.add_timer(now() + 10'000, [this] { tick(); });
}

// ---------------------------------------------------------------------------------------------
// The effect executor

void Node::drain() {
    if (draining_) {
        return;  // the outer drain picks up what the nested call produced, in order
    }
    draining_ = true;
    for (;;) {
        std::vector<Effect> effects = engine_.take_effects();
        if (effects.empty()) {
            break;
        }
        for (Effect& e : effects) {
            execute(e);
        }
    }
    draining_ = false;
}

void Node::execute(Effect& e) {
    Counters& c = *counters_;
    switch (e.kind) {
        case EffectKind::Send:
            if (e.msg.data_from_store) {
                send_from_store(std::move(e.msg));
            } else {
                send(std::move(e.msg));
            }
            return;
        case EffectKind::HomeState: {
            // Synchronous on purpose: the effects after this one may hand a dead node's pages
            // to others, and a restart must find the death on disk first.
            Status st = save_home_state(home_state_path_,
                                        HomeState{engine_.home_incarnation(self_), e.nodes});
            if (!st.is_ok()) {
                log::error(
                    "cannot record the nodes declared dead ({}); a restart of this home "
                    "could take back pages they no longer own",
                    st.to_string());
            }
            return;
        }
        case EffectKind::KernelInvalidate: {
            ++c.kernel_invalidations;
            uint64_t id = e.token;
            if (kernel_ == nullptr || skip_kernel_invalidation_) {
                // No mount: the kernel holds nothing. Completed through the loop so that the
                // engine sees it as the asynchronous event it is. (Or the planted bug of
                // test.fault: the kernel keeps its copy.)
                loop_.post([this, id] {
                    engine_.on_kernel_invalidated(id, now());
                    drain();
                });
                return;
            }
            kernel_->invalidate(e.file, e.range, [this, id] {
                loop_.post([this, id] {
                    engine_.on_kernel_invalidated(id, now());
                    drain();
                });
            });
            return;
        }
        case EffectKind::StoreWrite: {
            uint16_t index = ino_export(e.file.ino);
            auto ex = export_at(index);
            Status st = ex.is_ok()
                            ? ex.value()->write_pages(ino_local(e.file.ino), e.range.first, e.pages)
                            : ex.status();
            if (!st.is_ok()) {
                ++c.store_write_errors;
                log::error("store write of {} {} failed: {}",
                           coherence::to_string(e.file),
                           coherence::to_string(e.range),
                           st.to_string());
            } else {
                c.store_pages_written += e.range.count;
            }
            return;
        }
        case EffectKind::StoreSync: {
            ++c.store_syncs;
            uint64_t token = e.token;
            auto ex = export_at(ino_export(e.file.ino));
            Result<store::PageSpan> span =
                ex.is_ok() ? ex.value()->page_span(ino_local(e.file.ino), 0, 1) : ex.status();
            Status st = span.is_ok() ? sync_->submit(std::move(span.value().fd),
                                                     [this, token](Status s) {
                                                         engine_.on_store_synced(token, s, now());
                                                         drain();
                                                     })
                                     : span.status();
            if (!st.is_ok()) {
                loop_.post([this, token, st] {
                    engine_.on_store_synced(token, st, now());
                    drain();
                });
            }
            return;
        }
        case EffectKind::ReadDone: {
            auto it = reads_.find(e.req);
            VR_ASSERT(it != reads_.end(), "ReadDone for unknown request {}", e.req);
            ReadCb cb = std::move(it->second);
            reads_.erase(it);
            if (!e.status.is_ok()) {
                cb(e.status);
            } else {
                cb(ReadResult{std::move(e.pages), 0, 0});
            }
            return;
        }
        case EffectKind::WriteDone:
        case EffectKind::FsyncDone: {
            auto& m = e.kind == EffectKind::WriteDone ? writes_ : fsyncs_;
            auto it = m.find(e.req);
            VR_ASSERT(it != m.end(), "completion for unknown request {}", e.req);
            DoneCb cb = std::move(it->second);
            m.erase(it);
            cb(e.status);
            return;
        }
    }
}

void Node::send(Message msg) {
    Counters& c = *counters_;
    switch (msg.type) {
        case MsgType::GetS:
        case MsgType::GetM:
            ++c.fetch_requests;
            break;
        case MsgType::DataS:
        case MsgType::DataM:
            c.pages_served += msg.pages.size();
            break;
        case MsgType::Inv:
        case MsgType::Recall:
            ++c.invalidations_sent;
            break;
        case MsgType::PutS:
            ++c.evictions;
            break;
        case MsgType::PutM:
            ++c.evictions;
            c.writebacks += msg.range.count;
            break;
        case MsgType::RecallAck:
        case MsgType::Reclaim:
            for (const auto& p : msg.pages) {
                c.writebacks += p ? 1 : 0;
            }
            break;
        default:
            break;
    }
    if (msg.to != self_) {
        uint64_t bytes = 0;
        for (const auto& p : msg.pages) {
            bytes += p ? p->size() : 0;
        }
        // Cache frames go out as iovecs: no user-space copy unless the link is encrypted.
        (cfg_.cluster.encrypt ? c.bytes_sent_copied : c.bytes_sent_zero_copy) += bytes;
    }
    NodeId to = msg.to;
    MsgType type = msg.type;
    if (!transport_->send(msg)) {
        // A Hello to a peer whose link is not up yet is expected (start-up announces this home
        // to everyone; the link's resync repeats what matters), so it is not a failure.
        if (type != MsgType::Hello) {
            ++c.send_failures;
        }
        // The transport tells the engine about the loss (on_link_reset) when the link is back.
        log::debug("could not send {} to {}", coherence::msg_name(type), names_[to]);
    }
}

void Node::send_from_store(Message msg) {
    Counters& c = *counters_;
    msg.data_from_store = false;
    c.pages_served += msg.range.count;
    auto ex = export_at(ino_export(msg.file.ino));
    uint64_t local = ino_local(msg.file.ino);
    // A few pages (a 4 KiB miss) are cheaper read and sent from memory: a pread each and the
    // send, against a stat, a dup, the send, a sendfile and a close for the stream.
    constexpr uint64_t kStreamMinPages = 5;
    if (msg.to != self_ && ex.is_ok() && msg.range.count >= kStreamMinPages) {
        auto span = ex.value()->page_span(local, msg.range.first, msg.range.count);
        if (span.is_ok()) {
            net::FileSegment seg{span.value().fd.release(),
                                 span.value().byte_offset,
                                 span.value().file_bytes,
                                 span.value().zero_bytes};
            uint64_t bytes = seg.file_bytes + seg.zero_bytes;
            if (transport_->send_from_file(msg, seg)) {
                (cfg_.cluster.encrypt ? c.bytes_sent_copied : c.bytes_sent_zero_copy) += bytes;
            } else {
                ++c.send_failures;
            }
            return;
        }
        log::warn("cannot stream {} {}: {}",
                  coherence::to_string(msg.file),
                  coherence::to_string(msg.range),
                  span.status().to_string());
    }
    // To ourselves (the pages stay in memory), a few pages, or the streaming path failed: read
    // the pages.
    Result<std::vector<PageBuf>> pages =
        ex.is_ok() ? ex.value()->read_pages(local, msg.range.first, msg.range.count)
                   : Result<std::vector<PageBuf>>(ex.status());
    if (pages.is_ok()) {
        msg.pages = std::move(pages.value());
    } else {
        // The file is gone from the store (removed behind our back): it reads as zeros, which
        // is what a removed file's last reader would get from a truncation, and is logged.
        log::error("cannot read {} {} from the store: {}",
                   coherence::to_string(msg.file),
                   coherence::to_string(msg.range),
                   pages.status().to_string());
        auto zero = std::make_shared<const std::vector<std::byte>>(page_size_);
        msg.pages.assign(msg.range.count, zero);
    }
    if (msg.to != self_) {
        c.bytes_sent_copied += msg.range.count * page_size_;
    }
    c.pages_served -= msg.range.count;  // send() counts them again
    send(std::move(msg));
}

// ---------------------------------------------------------------------------------------------
// Transport events

void Node::on_message(const Message& m) {
    engine_.on_message(m, now());
    drain();
}

void Node::on_link_reset(NodeId peer) {
    log::debug("resynchronising with {}", names_[peer]);
    drop_held_sizes(peer);  // the peer may have lost (restarted) or given up on its holders
    // Invalidations of that home's metadata may have been lost with the old connection, and
    // the home stops waiting for an answer it did not get: drop what the kernel caches of it.
    // The tick did so if it saw the link down (nothing can be cached again while it is), but a
    // link may be back before the tick looks.
    bool tick_saw_down = peer < link_states_.size() && link_states_[peer] != net::LinkState::Up;
    if (kernel_ != nullptr && !tick_saw_down) {
        kernel_->home_lost(peer);
    }
    if (peer < link_states_.size()) {
        link_states_[peer] = net::LinkState::Up;
    }
    // Metadata requests sent on the old connection may have been lost, or executed with their
    // reply lost. One that only reads (or answers an invalidation) is sent again; for one that
    // changes something the outcome is unknown, and the program is told so.
    std::vector<MetaCb> unknown;
    for (auto it = rpcs_.begin(); it != rpcs_.end();) {
        Rpc& rpc = it->second;
        if (rpc.peer != peer || !rpc.sent) {
            ++it;
            continue;
        }
        if (wire::meta_op_may_repeat(rpc.req.op)) {
            rpc.sent = false;
            count_unsent(peer, true);
            ++it;
            continue;
        }
        unknown.push_back(std::move(rpc.cb));
        it = rpcs_.erase(it);
    }
    for (auto& cb : unknown) {
        cb(error_reply(Status(
            Code::Unavailable,
            fmt::format("the link to {} was reset before the answer came: the outcome is unknown",
                        names_[peer]))));
    }
    engine_.on_link_reset(peer, now());
    drain();
    send_waiting_rpcs(peer);
}

void Node::count_unsent(NodeId peer, bool more) {
    if (more) {
        ++unsent_of_[peer];
        ++rpcs_unsent_;
        return;
    }
    auto it = unsent_of_.find(peer);
    VR_ASSERT(it != unsent_of_.end() && it->second > 0 && rpcs_unsent_ > 0,
              "unsent metadata requests miscounted");
    if (--it->second == 0) {
        unsent_of_.erase(it);
    }
    --rpcs_unsent_;
}

void Node::send_waiting_rpcs(NodeId peer) {
    if (unsent_of_.count(peer) == 0 || transport_ == nullptr ||
        transport_->info(peer).state != net::LinkState::Up) {
        return;
    }
    for (auto& [id, rpc] : rpcs_) {
        if (rpc.peer != peer || rpc.sent) {
            continue;
        }
        if (!transport_->send_meta_request(peer, id, rpc.req).is_ok()) {
            return;  // the queue is full: the next tick tries again, in order
        }
        rpc.sent = true;
        count_unsent(peer, false);
    }
}

bool Node::unreachable(NodeId peer) const {
    return peer != self_ && transport_ != nullptr && transport_->info(peer).unreachable;
}

void Node::on_volumes(NodeId peer, wire::VolumesMsg msg) {
    // Forget what the peer exported before (it may have restarted with other exports).
    for (auto it = volume_names_.begin(); it != volume_names_.end();) {
        if (it->first.first == peer) {
            volumes_.erase(it->second);
            it = volume_names_.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& v : msg.volumes) {
        auto it = volumes_.find(v.name);
        if (it != volumes_.end()) {
            log::error("volume '{}' is exported by both {} and {}; ignoring {}'s",
                       v.name,
                       names_[it->second.node],
                       names_[peer],
                       names_[peer]);
            continue;
        }
        volumes_[v.name] = VolumeRef{v.name, peer, v.index, v.read_only, v.root_ino};
        volume_names_[{peer, v.index}] = v.name;
    }
    log::info("{} exports {} volume(s)", names_[peer], msg.volumes.size());
}

void Node::on_meta_request(NodeId peer, uint64_t id, wire::MetaRequest req) {
    ++counters_->meta_requests_served;
    wire::MetaOp op = req.op;
    std::string path = req.path;
    exec_meta(peer, std::move(req), [this, peer, id, op, path](wire::MetaReply reply) {
        if (reply.code != Code::Ok && !expected_error(reply.code)) {
            ++counters_->meta_requests_refused;
            log::warn("refused {} '{}' from {}: {}: {}",
                      wire::meta_op_name(op),
                      path,
                      names_[peer],
                      code_name(reply.code),
                      reply.message);
        }
        if (!transport_->send_meta_reply(peer, id, reply)) {
            ++counters_->send_failures;
        }
    });
}

void Node::on_meta_reply(NodeId peer, uint64_t id, wire::MetaReply reply) {
    auto it = rpcs_.find(id);
    if (it == rpcs_.end() || it->second.peer != peer) {
        // Late (it timed out) or not ours: nothing waits for it.
        log::debug("ignoring a metadata reply {} from {}", id, names_[peer]);
        return;
    }
    MetaCb cb = std::move(it->second.cb);
    if (!it->second.sent) {
        count_unsent(peer, false);  // its first sending was answered after a reset
    }
    rpcs_.erase(it);
    cb(std::move(reply));
}

// ---------------------------------------------------------------------------------------------
// Front-end operations

Result<std::pair<VolumeRef, std::string>> Node::resolve(std::string_view path) const {
    size_t slash = path.find('/');
    std::string_view vol = path.substr(0, slash);
    std::string_view rest =
        slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (vol.empty()) {
        return Status(Code::InvalidArgument,
                      fmt::format("'{}' does not start with a volume name", path));
    }
    auto it = volumes_.find(vol);
    if (it == volumes_.end()) {
        return Status(Code::NotFound, fmt::format("no volume '{}' is known", vol));
    }
    return std::make_pair(it->second, std::string(rest));
}

Result<VolumeRef> Node::volume_of(FileId file) const {
    auto it = volume_names_.find({file.home, ino_export(file.ino)});
    if (it == volume_names_.end()) {
        return Status(Code::Stale, "the file's volume is no longer exported");
    }
    return volumes_.at(it->second);
}

std::vector<VolumeRef> Node::volumes() const {
    std::vector<VolumeRef> out;
    for (const auto& [name, v] : volumes_) {
        out.push_back(v);
    }
    return out;
}

void Node::meta(NodeId home, wire::MetaRequest req, MetaCb cb) {
    // Every answer that carries a regular file's attributes refreshes this node's size hint,
    // and keeps its held sizes true.
    cb = [this, home, op = req.op, cb = std::move(cb)](wire::MetaReply r) {
        if (r.code == Code::Ok && r.attr && r.attr->type == wire::MetaType::Regular) {
            note_size(FileId{home, r.attr->ino}, r.attr->size);
        }
        note_attr_reply(home, op, r);
        cb(std::move(r));
    };
    if (home == self_) {
        exec_meta(self_, std::move(req), std::move(cb));
        return;
    }
    if (home >= names_.size()) {
        cb(error_reply(Status(Code::InvalidArgument, "no such node")));
        return;
    }
    ++counters_->meta_requests_sent;
    uint64_t id = next_rpc_++;
    Rpc rpc{home, now() + int64_t{cfg_.timeouts.request_ms} * 1000, std::move(cb), req, false};
    // Behind others still waiting for the link: in order, after them.
    Status sent = Status(Code::Unavailable, "others wait");
    if (unsent_of_.count(home) == 0) {
        sent = transport_->send_meta_request(home, id, req);
    }
    if (sent.is_ok()) {
        rpc.sent = true;
    } else if (sent.code() != Code::Unavailable) {
        rpc.cb(error_reply(sent));  // it breaks the wire's rules: it never will go
        return;
    } else if ((cfg_.timeouts.on_unreachable == config::OnUnreachable::Error &&
                unreachable(home)) ||
               req.op == wire::MetaOp::InvalAttr || req.op == wire::MetaOp::InvalEntry) {
        // An invalidation does not wait for a link that is down: the home then waits out the
        // holder's lease instead (invalidate_holders), and the holder drops its kernel's copy
        // when it notices the loss.
        ++counters_->send_failures;
        rpc.cb(
            error_reply(Status(Code::Unavailable, fmt::format("{} is unreachable", names_[home]))));
        return;
    } else if (rpcs_unsent_ >= kRpcsUnsentMax) {
        ++counters_->send_failures;
        rpc.cb(error_reply(Status(
            Code::Busy,
            fmt::format("{} metadata requests already wait for their links", rpcs_unsent_))));
        return;
    } else {
        count_unsent(home, true);  // the link is down for now (or its queue full): sent later
    }
    rpcs_.emplace(id, std::move(rpc));
}

Status Node::check_reachable(NodeId home) const {
    if (cfg_.timeouts.on_unreachable != config::OnUnreachable::Error || !unreachable(home)) {
        return Status::ok();
    }
    return Status(Code::Unavailable, fmt::format("{} is unreachable", names_[home]));
}

void Node::note_size(FileId file, uint64_t size) {
    if (size_hints_.size() >= kSizeHintsMax && !size_hints_.count(file)) {
        size_hints_.clear();  // hints only save fetches; losing them costs one round trip
    }
    size_hints_[file] = size;
}

void Node::note_attr_reply(NodeId home, wire::MetaOp op, const wire::MetaReply& r) {
    using wire::MetaOp;
    if (r.code != Code::Ok || !r.attr) {
        return;
    }
    FileId file{home, r.attr->ino};
    bool at_once = op == MetaOp::Lookup || op == MetaOp::GetAttr || op == MetaOp::GetAttrPath ||
                   op == MetaOp::Create;
    if (!at_once || r.attr->type != wire::MetaType::Regular) {
        held_sizes_.erase(file);
        return;
    }
    if (held_sizes_.size() >= kHeldSizesMax && !held_sizes_.count(file)) {
        held_sizes_.clear();  // forgetting costs only a GetAttr per file
    }
    held_sizes_[file] = r.attr->size;
}

void Node::drop_held_sizes(NodeId home) {
    auto it = held_sizes_.lower_bound(FileId{home, 0});
    while (it != held_sizes_.end() && it->first.home == home) {
        it = held_sizes_.erase(it);
    }
}

void Node::engine_read(FileId file,
                       Range range,
                       coherence::ReadMode mode,
                       std::function<void(Result<std::vector<PageBuf>>)> cb) {
    uint64_t req_id = new_req();
    reads_[req_id] = [cb = std::move(cb)](Result<ReadResult> r) {
        if (!r.is_ok()) {
            cb(r.status());
        } else {
            cb(std::move(r.value().pages));
        }
    };
    engine_.read(req_id, file, range, mode, now());
    drain();
}

void Node::read(
    FileId file, uint64_t offset, uint64_t length, coherence::ReadMode mode, ReadCb cb) {
    ++counters_->reads;
    if (length == 0 || offset > wire::kMaxFileBytes) {
        cb(Status(Code::InvalidArgument, "bad read range"));
        return;
    }
    // Nothing lies beyond the last page the wire can address: a read there returns 0 bytes
    // (as read(2) past the largest file size does), a read across it is cut short.
    const uint64_t max_bytes = wire::kMaxFileBytes / page_size_ * page_size_;
    if (offset >= max_bytes) {
        cb(ReadResult{{}, 0, 0});
        return;
    }
    length = std::min(length, max_bytes - offset);
    if (Status st = check_reachable(file.home); !st.is_ok()) {
        ++counters_->request_errors;
        cb(st);
        return;
    }
    // The size comes from the home (GetAttr) and the pages from the engine. When this node has
    // a size hint, both are asked for at once, on the same FIFO link, and the pages fetched are
    // those below the hinted size; if the home then reports a larger size, the rest is fetched
    // after. Without a hint the size is asked first. Either way the size the home reports is at
    // least that of every write that completed before this read began. A held size (see
    // held_sizes_) is as good, since the home would have dropped it before acknowledging a
    // change, and asks nothing.
    struct Join {
        int pending = 0;
        Status st;
        uint64_t size = 0;
        std::vector<PageBuf> pages;
        PageIndex covered_end = 0;  // pages [first, covered_end) are in `pages`
        ReadCb cb;
    };
    auto j = std::make_shared<Join>();
    j->cb = std::move(cb);
    const PageIndex first = offset / page_size_;
    j->covered_end = first;
    auto pages_until = [this](uint64_t byte_end) {
        return (byte_end + page_size_ - 1) / page_size_;
    };
    auto complete = [this, j, offset, length]() {
        if (!j->st.is_ok()) {
            ++counters_->request_errors;
            j->cb(j->st);
            return;
        }
        uint64_t avail = j->size > offset ? j->size - offset : 0;
        ReadResult r;
        r.length = std::min(length, avail);
        r.offset = offset % page_size_;
        r.pages = r.length == 0 ? std::vector<PageBuf>{} : std::move(j->pages);
        j->cb(std::move(r));
    };
    // Once the size is known and the first fetch (if any) is in: fetch what is still missing.
    auto finish = [this, j, file, mode, offset, length, pages_until, complete]() {
        if (--j->pending != 0) {
            return;
        }
        if (!j->st.is_ok()) {
            complete();
            return;
        }
        PageIndex need_end = pages_until(std::min(offset + length, j->size));
        if (need_end <= j->covered_end) {
            complete();
            return;
        }
        Range rest{j->covered_end, need_end - j->covered_end};
        engine_read(file, rest, mode, [j, complete](Result<std::vector<PageBuf>> r) {
            if (!r.is_ok()) {
                j->st = r.status();
            } else {
                for (auto& p : r.value()) {
                    j->pages.push_back(std::move(p));
                }
            }
            complete();
        });
    };
    // A page-cache fill fetches every page the kernel asked for, past the end too: the kernel
    // keeps them (zero-filled), so the engine must know it holds them.
    bool fill = mode == coherence::ReadMode::KernelFill;
    auto held = held_sizes_.find(file);
    bool have_size = held != held_sizes_.end();
    std::optional<uint64_t> known;
    if (have_size) {
        known = held->second;
        j->size = held->second;
        ++counters_->reads_held_size;
    } else if (auto hint = size_hints_.find(file); hint != size_hints_.end()) {
        known = hint->second;
    }
    bool prefetch = fill || (known && *known > offset);
    if (have_size && !prefetch) {
        complete();  // at or past the end
        return;
    }
    // Both parts are counted before either starts: either may complete at once.
    j->pending = (prefetch ? 1 : 0) + (have_size ? 0 : 1);
    if (prefetch) {
        PageIndex end =
            fill ? pages_until(offset + length) : pages_until(std::min(offset + length, *known));
        j->covered_end = end;
        engine_read(
            file, Range{first, end - first}, mode, [j, finish](Result<std::vector<PageBuf>> r) {
                if (!r.is_ok()) {
                    if (j->st.is_ok()) {
                        j->st = r.status();
                    }
                } else {
                    j->pages = std::move(r.value());
                }
                finish();
            });
    }
    if (have_size) {
        return;
    }
    wire::MetaRequest req;
    req.op = wire::MetaOp::GetAttr;
    req.ino = file.ino;
    meta(file.home, req, [j, finish](wire::MetaReply r) {
        if (r.code != Code::Ok) {
            if (j->st.is_ok()) {
                j->st = Status(r.code, r.message);
            }
        } else if (r.attr) {
            j->size = r.attr->size;
        }
        finish();
    });
}

void Node::write(FileId file, uint64_t offset, std::vector<std::byte> data, DoneCb cb) {
    ++counters_->writes;
    if (data.empty()) {
        cb(Status(Code::InvalidArgument, "bad write range"));
        return;
    }
    // A write must end within the last page the wire can address (2^63 - 4096 bytes with
    // 4 KiB pages): beyond it, EFBIG at once (it would otherwise wait for a page request that
    // can never be sent).
    const uint64_t max_bytes = wire::kMaxFileBytes / page_size_ * page_size_;
    if (offset >= max_bytes || data.size() > max_bytes - offset) {
        cb(Status(Code::OutOfRange,
                  fmt::format("a write of {} bytes at {} ends beyond the largest file size ({})",
                              data.size(),
                              offset,
                              max_bytes)));
        return;
    }
    if (Status st = check_reachable(file.home); !st.is_ok()) {
        ++counters_->request_errors;
        cb(st);
        return;
    }
    auto vol = volume_of(file);
    if (!vol.is_ok()) {
        cb(vol.status());
        return;
    }
    if (vol->read_only) {
        cb(Status(Code::ReadOnly, fmt::format("volume '{}' is read-only", vol->name)));
        return;
    }
    struct Join {
        int pending = 2;
        Status st;
        DoneCb cb;
    };
    auto j = std::make_shared<Join>();
    j->cb = std::move(cb);
    auto finish = [this, j](Status st) {
        if (!st.is_ok() && j->st.is_ok()) {
            j->st = st;
        }
        if (--j->pending == 0) {
            if (!j->st.is_ok()) {
                ++counters_->request_errors;
            }
            j->cb(j->st);
        }
    };
    // Extend first: it reaches the home before this node's GetM and before any write-back of
    // the data (same FIFO link), so the store never clips the data away.
    wire::MetaRequest req;
    req.op = wire::MetaOp::Extend;
    req.ino = file.ino;
    req.size = offset + data.size();
    meta(file.home, req, [finish](wire::MetaReply r) {
        finish(r.code == Code::Ok ? Status::ok() : Status(r.code, r.message));
    });
    uint64_t req_id = new_req();
    writes_[req_id] = finish;
    engine_.write(req_id, file, offset, std::move(data), now());
    drain();
}

void Node::fsync(FileId file, DoneCb cb) {
    ++counters_->fsyncs;
    if (Status st = check_reachable(file.home); !st.is_ok()) {
        ++counters_->request_errors;
        cb(st);
        return;
    }
    uint64_t req_id = new_req();
    fsyncs_[req_id] = [this, cb = std::move(cb)](Status st) {
        if (!st.is_ok()) {
            ++counters_->request_errors;
        }
        cb(st);
    };
    engine_.fsync(req_id, file, now());
    drain();
}

// ---------------------------------------------------------------------------------------------
// Home side: metadata

Result<store::Export*> Node::export_at(uint16_t index) {
    if (index >= exports_.size()) {
        return Status(Code::NotFound, fmt::format("no export with index {}", index));
    }
    return exports_[index].get();
}

wire::MetaReply Node::attr_reply(uint16_t index, const Result<store::Attr>& attr) {
    if (!attr.is_ok()) {
        return error_reply(attr.status());
    }
    auto ino = make_ino(index, attr->ino);
    if (!ino.is_ok()) {
        return error_reply(ino.status());
    }
    wire::MetaReply r;
    wire::MetaAttr a;
    a.ino = ino.value();
    a.type = meta_type(attr->type);
    a.mode = attr->mode & 07777;
    a.size = attr->size;
    a.nlink = attr->nlink;
    a.uid = attr->uid;
    a.gid = attr->gid;
    a.mtime_ns = attr->mtime_ns;
    a.ctime_ns = attr->ctime_ns;
    r.attr = a;
    return r;
}

bool Node::path_op(wire::MetaOp op) {
    using wire::MetaOp;
    return op == MetaOp::GetAttrPath || op == MetaOp::Create || op == MetaOp::Mkdir ||
           op == MetaOp::Unlink || op == MetaOp::Rmdir || op == MetaOp::Rename ||
           op == MetaOp::Readdir;
}

void Node::exec_meta(NodeId from, wire::MetaRequest req, MetaCb cb) {
    using wire::MetaOp;
    if (req.op == MetaOp::InvalAttr || req.op == MetaOp::InvalEntry) {
        // The home of the file asks this node to drop what its kernel caches.
        FileId f{from, req.ino};
        auto reply = [cb] { cb(wire::MetaReply{}); };
        if (req.op == MetaOp::InvalAttr) {
            held_sizes_.erase(f);  // before the answer that lets the home go on
        }
        if (kernel_ == nullptr) {
            reply();
        } else if (req.op == MetaOp::InvalAttr) {
            kernel_->invalidate_attr(f, [this, reply] { loop_.post(reply); });
        } else {
            kernel_->invalidate_entry(f, req.path, [this, reply] { loop_.post(reply); });
        }
        return;
    }
    bool relative = path_op(req.op) && req.ino != 0;
    bool by_ino = !path_op(req.op) || relative;
    uint16_t index = by_ino ? ino_export(req.ino) : req.volume;
    uint64_t local = ino_local(req.ino);
    auto exr = export_at(index);
    if (!exr.is_ok()) {
        cb(error_reply(exr.status()));
        return;
    }
    store::Export& ex = *exr.value();
    // A truncation in progress orders every size change of its file after it.
    if ((req.op == MetaOp::Extend || req.op == MetaOp::Truncate) && truncating_.count(req.ino)) {
        truncating_[req.ino].push_back(
            [this, from, req, cb]() mutable { exec_meta(from, std::move(req), std::move(cb)); });
        return;
    }
    // Path ops by directory ino: the directory's path in the store, joined with the name.
    std::string path = req.path;
    std::string path2 = req.path2;
    uint64_t dir_ino = 0;   // the directory whose entry the op reads or changes (engine ino)
    uint64_t dir2_ino = 0;  // Rename: the target's directory
    if (relative) {
        auto base = ex.path_of(local);
        if (!base.is_ok()) {
            cb(error_reply(base.status()));
            return;
        }
        path = req.path.empty() ? base.value() : store::join(base.value(), req.path);
        dir_ino = req.ino;
        if (req.op == MetaOp::Rename) {
            if (ino_export(req.ino2) != index) {
                cb(error_reply(Status(Code::CrossDevice, "rename across volumes")));
                return;
            }
            auto base2 = ex.path_of(ino_local(req.ino2));
            if (!base2.is_ok()) {
                cb(error_reply(base2.status()));
                return;
            }
            path2 = store::join(base2.value(), req.path2);
            dir2_ino = req.ino2;
        }
    } else if (path_op(req.op)) {
        // By path (the native API): find the directory for the entry bookkeeping.
        auto dir_of = [&](const std::string& p) -> uint64_t {
            size_t slash = p.rfind('/');
            auto d = ex.getattr_path(slash == std::string::npos ? "" : p.substr(0, slash));
            if (!d.is_ok()) {
                return 0;
            }
            auto ino = make_ino(index, d->ino);
            return ino.is_ok() ? ino.value() : 0;
        };
        if (req.op != MetaOp::Readdir && req.op != MetaOp::GetAttrPath) {
            dir_ino = dir_of(path);
            if (req.op == MetaOp::Rename) {
                dir2_ino = dir_of(path2);
            }
        }
    } else if (req.op == MetaOp::Lookup) {
        dir_ino = req.ino;
    }
    // Every answer with attributes makes the requester a holder of them (its kernel may cache
    // them); a lookup makes it a holder of the directory's entries too.
    auto holding = [this, from, index, dir_ino, cb](const Result<store::Attr>& attr) {
        wire::MetaReply r = attr_reply(index, attr);
        if (r.code == Code::Ok && r.attr) {
            attr_holders_[r.attr->ino] |= coherence::bit(from);
            if (dir_ino != 0) {
                entry_holders_[dir_ino] |= coherence::bit(from);
            }
        }
        cb(std::move(r));
    };
    switch (req.op) {
        case MetaOp::Lookup:
            holding(ex.lookup(local, req.path));
            return;
        case MetaOp::GetAttrPath:
            holding(ex.getattr_path(path));
            return;
        case MetaOp::GetAttr:
            holding(ex.getattr(local));
            return;
        case MetaOp::Create:
            holding(ex.create(path,
                              req.mode,
                              (req.flags & wire::kCreateExclusive) != 0
                                  ? store::CreateMode::Exclusive
                                  : store::CreateMode::OpenExisting));
            return;
        case MetaOp::Mkdir:
            holding(ex.mkdir(path, req.mode));
            return;
        case MetaOp::Unlink:
        case MetaOp::Rmdir: {
            auto victim = ex.getattr_path(path);
            Status st = req.op == MetaOp::Unlink ? ex.unlink(path) : ex.rmdir(path);
            if (!st.is_ok()) {
                cb(error_reply(st));
                return;
            }
            std::vector<Inval> inv;
            std::string name =
                path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
            if (dir_ino != 0) {
                inv.push_back(Inval{dir_ino, name, true});
            }
            if (victim.is_ok()) {
                auto vino = make_ino(index, victim->ino);
                if (vino.is_ok()) {
                    inv.push_back(Inval{vino.value(), {}, false});
                }
            }
            begin_entry_op(from, dir_ino, 0);
            invalidate_holders(std::move(inv), from, [this, from, dir_ino, cb] {
                end_entry_op(from, dir_ino, 0);
                cb(wire::MetaReply{});
            });
            return;
        }
        case MetaOp::Rename: {
            store::RenameMode how =
                req.flags == wire::kRenameNoReplace  ? store::RenameMode::NoReplace
                : req.flags == wire::kRenameExchange ? store::RenameMode::Exchange
                                                     : store::RenameMode::Replace;
            Status st = ex.rename(path, path2, how);
            if (!st.is_ok()) {
                cb(error_reply(st));
                return;
            }
            auto last = [](const std::string& p) {
                size_t slash = p.rfind('/');
                return slash == std::string::npos ? p : p.substr(slash + 1);
            };
            std::vector<Inval> inv;
            if (dir_ino != 0) {
                inv.push_back(Inval{dir_ino, last(path), true});
            }
            if (dir2_ino != 0) {
                inv.push_back(Inval{dir2_ino, last(path2), true});
            }
            begin_entry_op(from, dir_ino, dir2_ino);
            invalidate_holders(std::move(inv), from, [this, from, dir_ino, dir2_ino, cb] {
                end_entry_op(from, dir_ino, dir2_ino);
                cb(wire::MetaReply{});
            });
            return;
        }
        case MetaOp::Readdir: {
            auto page = ex.readdir(path, req.cookie, std::min<size_t>(req.count, 1024));
            if (!page.is_ok()) {
                cb(error_reply(page.status()));
                return;
            }
            wire::MetaReply r;
            for (auto& d : page->entries) {
                auto ino = make_ino(index, d.ino);
                if (!ino.is_ok()) {
                    continue;  // not representable: the entry is left out
                }
                r.entries.push_back(
                    wire::MetaDirEntry{std::move(d.name), ino.value(), meta_type(d.type)});
            }
            r.next_cookie = page->next_cookie;
            r.end = page->end;
            cb(std::move(r));
            return;
        }
        case MetaOp::Extend: {
            auto before = ex.getattr(local);
            Status st = ex.extend(local, req.size);
            if (!st.is_ok()) {
                cb(error_reply(st));
                return;
            }
            wire::MetaReply r = attr_reply(index, ex.getattr(local));
            if (before.is_ok() && r.attr && r.attr->size == before->size) {
                cb(std::move(r));  // no change: nobody's cached size is stale
                return;
            }
            invalidate_holders({Inval{req.ino, {}, false}}, from, [cb, r = std::move(r)]() mutable {
                cb(std::move(r));
            });
            return;
        }
        case MetaOp::Truncate:
            if (ex.read_only()) {
                cb(error_reply(Status(Code::ReadOnly, "truncate on a read-only export")));
                return;
            }
            truncate_at_home(req.ino, req.size, [this, from, ino = req.ino, cb](wire::MetaReply r) {
                if (r.code != Code::Ok) {
                    cb(std::move(r));
                    return;
                }
                invalidate_holders({Inval{ino, {}, false}}, from, [cb, r = std::move(r)]() mutable {
                    cb(std::move(r));
                });
            });
            return;
        case MetaOp::SetAttr: {
            store::AttrChange ch;
            ch.mode = req.change.mode;
            ch.uid = req.change.uid;
            ch.gid = req.change.gid;
            ch.atime_ns = req.change.atime_ns;
            ch.mtime_ns = req.change.mtime_ns;
            wire::MetaReply r = attr_reply(index, ex.setattr(local, ch));
            if (r.code != Code::Ok) {
                cb(std::move(r));
                return;
            }
            invalidate_holders({Inval{req.ino, {}, false}}, from, [cb, r = std::move(r)]() mutable {
                cb(std::move(r));
            });
            return;
        }
        case MetaOp::InvalAttr:
        case MetaOp::InvalEntry:
            break;  // handled above
    }
    cb(error_reply(Status(Code::InvalidArgument, "unknown metadata operation")));
}

void Node::begin_entry_op(NodeId from, uint64_t dir, uint64_t dir2) {
    std::vector<std::function<void()>> released;
    for (uint64_t d : {dir, dir2}) {
        if (d == 0) {
            continue;
        }
        entry_ops_[d].insert(from);
        // `from`'s kernel holds this directory's lock until this operation completes: an
        // invalidation of its entries there cannot run before, so nothing may wait for it.
        auto w = entry_waits_.find({d, from});
        if (w != entry_waits_.end()) {
            for (auto& [id, release] : w->second) {
                released.push_back(std::move(release));
            }
            entry_waits_.erase(w);
        }
    }
    for (auto& release : released) {
        release();
    }
}

void Node::end_entry_op(NodeId from, uint64_t dir, uint64_t dir2) {
    for (uint64_t d : {dir, dir2}) {
        auto it = d == 0 ? entry_ops_.end() : entry_ops_.find(d);
        if (it == entry_ops_.end()) {
            continue;
        }
        auto one = it->second.find(from);
        if (one != it->second.end()) {
            it->second.erase(one);
        }
        if (it->second.empty()) {
            entry_ops_.erase(it);
        }
    }
}

void Node::invalidate_holders(std::vector<Inval> invals,
                              NodeId except,
                              std::function<void()> done) {
    struct Join {
        size_t pending = 1;
        bool failed = false;
        std::function<void()> done;
        // (invalidation, holder) still unanswered; named in the log only if the wait is slow.
        std::set<std::pair<size_t, NodeId>> waiting;
        std::vector<Inval> invals;
    };
    auto j = std::make_shared<Join>();
    j->done = std::move(done);
    using Wait = std::pair<size_t, NodeId>;
    auto finish = [this, j](bool failed, Wait what = {SIZE_MAX, coherence::kNoNode}) {
        j->failed |= failed;
        j->waiting.erase(what);
        if (--j->pending != 0) {
            return;
        }
        if (!j->failed) {
            j->done();
            return;
        }
        // A holder did not answer. Its kernel's copy is dropped when it notices that it lost
        // this home (lease expiry or link loss, KernelCache::home_lost): wait that long.
        int64_t wait = int64_t{cfg_.timeouts.lease_ms + cfg_.timeouts.grace_ms} * 1000;
        loop_.add_timer(now() + wait, [j] { j->done(); });
    };
    // Who holds what, before any of it is cleared: two invalidations may name the same
    // holder set (a rename within one directory: both names are entries of that directory),
    // and each must reach every holder.
    std::vector<coherence::NodeMask> targets_of(invals.size(), 0);
    for (size_t i = 0; i < invals.size(); ++i) {
        auto& holders = invals[i].entry ? entry_holders_ : attr_holders_;
        auto it = holders.find(invals[i].ino);
        if (it != holders.end()) {
            targets_of[i] = it->second & ~coherence::bit(except);
        }
    }
    for (const Inval& inv : invals) {
        // A directory's entry holders stay holders: invalidating one name leaves every other
        // name of the directory that they looked up in their kernels (a holder dropped here
        // would miss the invalidation of those, and keep a stale entry for good).
        if (inv.entry) {
            continue;
        }
        auto it = attr_holders_.find(inv.ino);
        if (it != attr_holders_.end()) {
            // Holders must fetch again; the requester keeps what its own reply gave it.
            it->second &= coherence::bit(except);
            if (it->second == 0) {
                attr_holders_.erase(it);
            }
        }
    }
    for (size_t i = 0; i < invals.size(); ++i) {
        const Inval& inv = invals[i];
        coherence::NodeMask targets = targets_of[i];
        for (NodeId n = 0; n < names_.size(); ++n) {
            if ((targets & coherence::bit(n)) == 0) {
                continue;
            }
            ++j->pending;
            ++counters_->meta_invalidations_sent;
            FileId f{self_, inv.ino};
            Wait what{i, n};
            j->waiting.insert(what);
            // Each wait ends once: by the answer, or (entries) released early when the holder's
            // own entry operation in this directory is or becomes pending here. Such a node
            // holds the directory's lock in its kernel, so its notification cannot run before
            // that operation completes, which may wait on this one. The window this leaves is
            // fuse.md's known gap.
            auto once = std::make_shared<bool>(false);
            auto complete = [finish, what, once](bool failed) {
                if (!*once) {
                    *once = true;
                    finish(failed, what);
                }
            };
            uint64_t wait_id = 0;
            std::pair<uint64_t, NodeId> wait_key{inv.ino, n};
            if (inv.entry) {
                auto eo = entry_ops_.find(inv.ino);
                if (eo != entry_ops_.end() && eo->second.count(n) != 0) {
                    complete(false);
                } else {
                    wait_id = next_entry_wait_++;
                    entry_waits_[wait_key][wait_id] = [complete] { complete(false); };
                }
            }
            auto answered = [this, complete, wait_key, wait_id](bool failed) {
                if (wait_id != 0) {
                    auto w = entry_waits_.find(wait_key);
                    if (w != entry_waits_.end()) {
                        w->second.erase(wait_id);
                        if (w->second.empty()) {
                            entry_waits_.erase(w);
                        }
                    }
                }
                complete(failed);
            };
            if (n == self_) {
                if (!inv.entry) {
                    held_sizes_.erase(f);
                }
                if (kernel_ == nullptr) {
                    answered(false);
                } else if (inv.entry) {
                    kernel_->invalidate_entry(f, inv.name, [this, answered] {
                        loop_.post([answered] { answered(false); });
                    });
                } else {
                    kernel_->invalidate_attr(
                        f, [this, answered] { loop_.post([answered] { answered(false); }); });
                }
                continue;
            }
            wire::MetaRequest r;
            r.op = inv.entry ? wire::MetaOp::InvalEntry : wire::MetaOp::InvalAttr;
            r.ino = inv.ino;
            r.path = inv.name;
            meta(n, std::move(r), [answered](wire::MetaReply reply) {
                answered(reply.code != Code::Ok);
            });
        }
    }
    if (j->pending > 1) {
        // A wait this long holds up the operation of some program: say on what.
        j->invals = invals;
        loop_.add_timer(now() + 1'000'000, [this, j] {
            if (j->pending != 0 && !j->waiting.empty()) {
                std::string list;
                for (const auto& [i, n] : j->waiting) {
                    const Inval& inv = j->invals[i];
                    FileId f{self_, inv.ino};
                    list += (list.empty() ? "" : "; ") +
                            (inv.entry
                                 ? fmt::format("{}: entry '{}' of {}",
                                               names_[n],
                                               inv.name,
                                               coherence::to_string(f))
                                 : fmt::format(
                                       "{}: attributes of {}", names_[n], coherence::to_string(f)));
                }
                log::warn("an invalidation has waited 1 s for {}", list);
            }
        });
    }
    finish(false);
}

void Node::truncate_at_home(uint64_t ino, uint64_t size, MetaCb cb) {
    uint16_t index = ino_export(ino);
    uint64_t local = ino_local(ino);
    auto exr = export_at(index);
    if (!exr.is_ok()) {
        cb(error_reply(exr.status()));
        return;
    }
    auto before = exr.value()->getattr(local);
    if (!before.is_ok()) {
        cb(error_reply(before.status()));
        return;
    }
    truncating_[ino];
    // Every page past the new end that some node tracks is taken to M here, holding zeros:
    // that invalidates every other copy, and what the pages hold from now on is what a file
    // extended again later must read there.
    PageIndex first = size / page_size_;
    std::vector<Range> runs;
    for (const auto& [p, entry] : engine_.dir_pages(ino)) {
        (void)entry;
        if (p < first) {
            continue;
        }
        if (!runs.empty() && runs.back().end() == p && runs.back().count < 256) {
            ++runs.back().count;
        } else {
            runs.push_back(Range{p, 1});
        }
    }
    struct Join {
        size_t pending = 1;
        Status st;
    };
    auto j = std::make_shared<Join>();
    auto finish = [this, j, ino, index, local, size, cb](Status st) {
        if (!st.is_ok() && j->st.is_ok()) {
            j->st = st;
        }
        if (--j->pending != 0) {
            return;
        }
        wire::MetaReply reply;
        if (j->st.is_ok()) {
            auto ex = export_at(index);
            Status t = ex.is_ok() ? ex.value()->truncate(local, size) : ex.status();
            reply = t.is_ok() ? attr_reply(index, ex.value()->getattr(local)) : error_reply(t);
        } else {
            reply = error_reply(j->st.with_context("truncate"));
        }
        auto waiting = std::move(truncating_[ino]);
        truncating_.erase(ino);
        cb(std::move(reply));
        for (auto& w : waiting) {
            w();
        }
    };
    FileId f{self_, ino};
    for (const Range& r : runs) {
        uint64_t from = std::max<uint64_t>(r.first * page_size_, size);
        uint64_t to = r.end() * page_size_;
        if (from >= to) {
            continue;
        }
        ++j->pending;
        uint64_t req_id = new_req();
        writes_[req_id] = finish;
        engine_.write(req_id, f, from, std::vector<std::byte>(to - from), now());
    }
    drain();
    finish(Status::ok());
}

// ---------------------------------------------------------------------------------------------
// Shutdown

void Node::shutdown(std::function<void()> done) {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    log::info("shutting down: writing back modified pages");
    // Evict everything this node caches: M pages go back to their homes (PutM), and S pages
    // are given up so the homes do not wait for this node's lease to run out.
    engine_.evict_all(now());
    drain();
    int64_t deadline = now() + int64_t{cfg_.timeouts.request_ms} * 1000;
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [this, deadline, done, poll]() {
        if (engine_.cached_page_count() == 0 || now() >= deadline) {
            if (engine_.cached_page_count() != 0) {
                log::error("{} page(s) still cached at shutdown (homes unreachable?)",
                           engine_.cached_page_count());
            }
            loop_.cancel_timer(tick_timer_);
            tick_timer_ = 0;
            done();
            *poll = nullptr;  // breaks the self-reference
            return;
        }
        loop_.add_timer(now() + 5'000, [poll] {
            if (*poll) {
                (*poll)();
            }
        });
    };
    (*poll)();
}

// ---------------------------------------------------------------------------------------------
// Introspection

std::string Node::page_states(FileId file, uint64_t first, uint64_t count) const {
    std::string out(count, 'I');
    for (const auto& [p, st] : engine_.cached_pages(file)) {
        if (p < first || p >= first + count) {
            continue;
        }
        char ch = 'I';
        switch (st) {
            case coherence::PState::I:
                ch = 'I';
                break;
            case coherence::PState::S:
                ch = 'S';
                break;
            case coherence::PState::M:
                ch = 'M';
                break;
            case coherence::PState::IS_D:
                ch = 's';
                break;
            case coherence::PState::IM_AD:
            case coherence::PState::SM_AD:
                ch = 'm';
                break;
            case coherence::PState::SI_K:
            case coherence::PState::MI_K:
            case coherence::PState::MI_A:
                ch = 'e';
                break;
        }
        out[p - first] = ch;
    }
    return out;
}

std::vector<wire::Counter> Node::counters() const {
    std::vector<wire::Counter> out;
#define VR_X(name, help) out.push_back(wire::Counter{#name, counters_->name});
    VR_NODE_COUNTERS(VR_X)
#undef VR_X
    out.push_back(wire::Counter{"cached_pages", engine_.cached_page_count()});
    out.push_back(wire::Counter{"cache_pages_max", cfg_.cache.size_bytes / page_size_});
    uint64_t frames_in = 0, frames_out = 0, resets = 0, losses = 0;
    for (NodeId n = 0; n < names_.size(); ++n) {
        if (n == self_) {
            continue;
        }
        net::LinkInfo li = transport_ ? transport_->info(n) : net::LinkInfo{};
        frames_in += li.frames_in;
        frames_out += li.frames_out;
        resets += li.resets;
        losses += li.test_losses;
    }
    if (counter_source_) {
        counter_source_(out);
    }
    out.push_back(wire::Counter{"frames_in", frames_in});
    out.push_back(wire::Counter{"frames_out", frames_out});
    out.push_back(wire::Counter{"link_resets", resets});
    if (cfg_.test.loss_ppm != 0) {
        out.push_back(wire::Counter{"test_losses", losses});
    }
    return out;
}

std::vector<wire::NodeStatus> Node::status() const {
    std::vector<wire::NodeStatus> out;
    for (NodeId n = 0; n < names_.size(); ++n) {
        wire::NodeStatus s;
        s.node = n;
        s.name = names_[n];
        s.home_incarnation = engine_.home_incarnation(n);
        if (n == self_) {
            s.link = wire::LinkState::Self;
        } else {
            net::LinkInfo li = transport_ ? transport_->info(n) : net::LinkInfo{};
            switch (li.state) {
                case net::LinkState::Up:
                    s.link = wire::LinkState::Up;
                    break;
                case net::LinkState::Connecting:
                case net::LinkState::Handshake:
                    s.link = wire::LinkState::Connecting;
                    break;
                case net::LinkState::Down:
                    s.link = wire::LinkState::Down;
                    break;
            }
            s.rtt_us = li.rtt_us < 0 ? 0 : static_cast<uint32_t>(li.rtt_us);
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::string Node::metrics_text() const {
    std::string out;
    auto all = counters();
#define VR_X(name, help)                                                \
    fmt::format_to(std::back_inserter(out),                             \
                   "# HELP vremote_{} {}\n# TYPE vremote_{} counter\n", \
                   #name,                                               \
                   help,                                                \
                   #name);
    VR_NODE_COUNTERS(VR_X)
#undef VR_X
    for (const auto& c : all) {
        fmt::format_to(std::back_inserter(out),
                       "vremote_{}{{node=\"{}\"}} {}\n",
                       c.name,
                       cfg_.node.name,
                       c.value);
    }
    for (const auto& s : status()) {
        if (s.link == wire::LinkState::Self) {
            continue;
        }
        fmt::format_to(std::back_inserter(out),
                       "vremote_link_up{{node=\"{}\",peer=\"{}\"}} {}\n"
                       "vremote_link_rtt_seconds{{node=\"{}\",peer=\"{}\"}} {:.6f}\n",
                       cfg_.node.name,
                       s.name,
                       s.link == wire::LinkState::Up ? 1 : 0,
                       cfg_.node.name,
                       s.name,
                       static_cast<double>(s.rtt_us) / 1e6);
    }
    return out;
}

}  // namespace vr::node
