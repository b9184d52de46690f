// The deterministic cluster simulator. See cluster.h for what it models and checks.
#include "sim/cluster.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <stdexcept>

#include "check/linearizability.h"

namespace vr::sim {

using coherence::Effect;
using coherence::EffectKind;
using coherence::Engine;
using coherence::EngineConfig;
using coherence::FileId;
using coherence::Message;
using coherence::MsgType;
using coherence::Mutation;
using coherence::NodeId;
using coherence::PageBuf;
using coherence::PageIndex;
using coherence::PState;
using coherence::Range;
using coherence::Time;

std::string mutation_name(Mutation m) {
    switch (m) {
        case Mutation::None:
            return "none";
        case Mutation::SkipOneInvalidation:
            return "skip-invalidation";
        case Mutation::AckBeforeKernelInvalidate:
            return "ack-before-kernel";
        case Mutation::ForgetWritebackOnEvict:
            return "forget-writeback";
    }
    return "?";
}

SimOptions options_for_seed(uint64_t seed) {
    SimOptions o;
    o.seed = seed;
    o.nodes = 2 + static_cast<int>(seed % 7);
    uint64_t f = (seed / 7) % 8;
    o.crashes = (f & 1) != 0;
    o.partitions = (f & 2) != 0;
    o.resets = (f & 4) != 0;
    o.clients = o.nodes <= 4 ? 2 : 1;
    o.ops = o.nodes <= 4 ? 30 : 25;
    return o;
}

std::string replay_command(const SimOptions& o) {
    return fmt::format(
        "build/tests/sim/vr_sim --seed {} --nodes {} --files {} --pages {} --clients {} --ops {} "
        "--cache {}{}{}{}{} --trace",
        o.seed,
        o.nodes,
        o.files,
        o.pages,
        o.clients,
        o.ops,
        o.cache_pages_max,
        o.crashes ? " --crashes" : "",
        o.partitions ? " --partitions" : "",
        o.resets ? " --resets" : "",
        o.mutation == Mutation::None ? "" : " --mutation " + mutation_name(o.mutation));
}

namespace {

constexpr uint32_t kPageSize = 16;  // two 8-byte registers ("slots") per page
constexpr uint32_t kSlots = 2;
constexpr Time kLease = 50'000;
constexpr Time kGrace = 20'000;
constexpr Time kRequestTimeout = 400'000;
constexpr Time kTick = 1'000;
constexpr Time kKernelInvalMax = 2'000;

struct SimFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void throwing_assert(const char* cond, const char* file, int line, const std::string& msg) {
    throw SimFailure(
        fmt::format("engine assertion failed: {} at {}:{}: {}", cond, file, line, msg));
}

uint64_t slot_value(const PageBuf& buf, uint32_t slot) {
    if (!buf) {
        return 0;
    }
    uint64_t v = 0;
    std::memcpy(&v, buf->data() + slot * 8, 8);
    return v;
}

enum class Ev : uint8_t { Deliver, Tick, KInvDone, SyncDone, ClientStep, Nemesis, Heal, Restart };

struct Event {
    Time t = 0;
    uint64_t seq = 0;
    Ev kind = Ev::Tick;
    int node = 0;
    uint64_t a = 0;    // token / client / incarnation
    uint64_t inc = 0;  // node incarnation the event belongs to
    Message msg;
    uint64_t epoch = 0;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct HistOp {
    enum class Kind : uint8_t { Read, Write, Fsync } kind = Kind::Read;
    int node = 0;
    uint64_t node_inc = 0;
    int client = 0;
    int file = 0;
    std::vector<std::pair<uint64_t, uint64_t>> regs;  // (register, value)
    int64_t invoke = 0;
    int64_t complete = check::kPending;
    bool ok = false;
    bool abandoned = false;                // its node crashed while it ran
    bool multi_page = false;               // a write spanning pages: applies page by page
    std::map<uint64_t, uint64_t> durable;  // fsync: register -> durable value at completion
};

struct Client {
    int id = 0;
    int ops_left = 0;
    bool busy = false;
    size_t hist = 0;  // current op in history
    int parts = 0;    // engine requests outstanding
    bool failed = false;
};

struct KInv {
    int file = 0;
    Range range;
};

struct Fill {
    int file = 0;
    Range range;
    int client = 0;
};

struct Node {
    std::unique_ptr<Engine> eng;
    bool up = true;
    uint64_t node_inc = 1;
    uint64_t home_inc = 1;
    // The home's durable record (HomeState effects; node/home_state.h in the daemon): the
    // incarnation that wrote it and the nodes it declared dead. Survives crashes.
    uint64_t disk_inc = 0;
    coherence::NodeMask disk_dead = 0;
    std::map<std::pair<uint64_t, PageIndex>, std::pair<PageBuf, PageBuf>> store;  // (vol, dur)
    std::map<std::pair<int, PageIndex>, PageBuf> kernel;
    std::map<uint64_t, KInv> kinvs;
    std::map<uint64_t, Fill> fills;  // engine req -> kernel fill in flight
    std::map<uint64_t, int> reqs;    // engine req -> client
    std::vector<Client> clients;
};

struct Link {
    Time last = 0;
    bool cut = false;
    uint64_t epoch = 0;
    Time base_delay = 0;
    std::deque<Message> held;  // sent while cut: delivered in order at heal
};

class Sim {
  public:
    explicit Sim(const SimOptions& o) : o_(o), rng_(o.seed) {}
    SimReport run();

  private:
    // --- plumbing ---
    uint64_t rnd(uint64_t lo, uint64_t hi) { return lo + rng_() % (hi - lo + 1); }
    bool chance(double p) { return static_cast<double>(rng_() % 1'000'000) < p * 1'000'000.0; }
    void push(Event e) {
        e.seq = ++event_seq_;
        q_.push(std::move(e));
    }
    void trace(const std::string& line) {
        std::string l = fmt::format("{:>9} {}", now_, line);
        if (o_.trace) {
            std::cerr << l << "\n";
        }
        tail_.push_back(std::move(l));
        if (tail_.size() > o_.trace_tail) {
            tail_.pop_front();
        }
    }
    [[noreturn]] void fail(const std::string& what) { throw SimFailure(what); }
    FileId file_id(int f) const {
        return FileId{static_cast<NodeId>(file_home_[f]), static_cast<uint64_t>(f + 1)};
    }
    int file_index(FileId f) const { return static_cast<int>(f.ino) - 1; }
    uint64_t reg(int file, PageIndex p, uint32_t slot) const {
        return (static_cast<uint64_t>(file) * o_.pages + p) * kSlots + slot;
    }
    int64_t tick_seq() { return ++hist_seq_; }

    void make_engine(int n);
    void drain(int n);
    void send(int from, Message m);
    void schedule_delivery(int from, int to, Message m);
    void deliver(const Event& e);
    void on_effect(int n, Effect& e);
    void on_client_done(int n, int client, const Effect& e);
    void finish_op(int n, Client& c, bool ok);
    void client_step(int n, int client);
    void schedule_step(int n, int client, Time delay);
    HistOp& begin_op(int n, Client& c, HistOp::Kind kind, int file);
    void start_read(int n, Client& c);
    void start_write(int n, Client& c);
    void nemesis();
    void crash(int n);
    void restart(int n);
    void reset_link(int a, int b);
    void mark_lost_candidates(int n, int home);
    void check_swmr(int file);
    void check_quiescent();
    bool quiescent_now() const;
    void final_phase();
    void check_history();

    SimOptions o_;
    std::mt19937_64 rng_;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> q_;
    uint64_t event_seq_ = 0;
    Time now_ = 0;
    std::vector<Node> nodes_;
    std::vector<std::vector<Link>> links_;
    std::vector<int> file_home_;
    std::deque<std::string> tail_;
    SimReport rep_;
    uint64_t next_req_ = 1;
    uint64_t next_write_ = 1;
    int64_t hist_seq_ = 0;
    std::vector<HistOp> hist_;
    std::set<uint64_t> stored_values_;  // (register << 32 | ...) packed as reg*2^40+value
    std::map<uint64_t, std::pair<int, uint64_t>> writer_;  // value -> (node, incarnation)
    std::set<std::pair<int, uint64_t>> lost_candidates_;   // (node, value)
    uint64_t inflight_ = 0;
    int clients_active_ = 0;
    bool fault_active_ = false;
    bool final_ = false;
    std::vector<int> down_;
};

// ------------------------------------------------------------------------------------------

void Sim::make_engine(int n) {
    EngineConfig cfg;
    cfg.self = static_cast<NodeId>(n);
    cfg.members = (coherence::NodeMask{1} << o_.nodes) - 1;
    cfg.node_incarnation = nodes_[n].node_inc;
    cfg.home_incarnation = nodes_[n].home_inc;
    cfg.previous_home_incarnation = nodes_[n].disk_inc;
    cfg.previous_dead = nodes_[n].disk_dead;
    nodes_[n].disk_inc = nodes_[n].home_inc;
    nodes_[n].disk_dead = 0;
    cfg.page_size = kPageSize;
    cfg.cache_pages_max = o_.cache_pages_max;
    cfg.lease_us = kLease;
    cfg.grace_us = kGrace;
    cfg.request_timeout_us = kRequestTimeout;
    cfg.inflight_per_home_max = 4;
    cfg.range_pages_max = 4;
    cfg.home_queue_max = o_.seed % 2 == 0 ? 2 : 64;  // small queues: Busy refusals get exercised
    cfg.mutation = o_.mutation;
    nodes_[n].eng = std::make_unique<Engine>(cfg);
    nodes_[n].eng->set_trace([this](const std::string& line) { trace(line); });
    nodes_[n].eng->start(now_);
    drain(n);
}

void Sim::drain(int n) {
    Node& node = nodes_[n];
    while (node.up && node.eng) {
        std::vector<Effect> effects = node.eng->take_effects();
        if (effects.empty()) {
            break;
        }
        for (Effect& e : effects) {
            on_effect(n, e);
        }
    }
}

void Sim::send(int from, Message m) {
    ++rep_.messages;
    int to = m.to;
    if (to < 0 || to >= o_.nodes) {
        fail(fmt::format(
            "n{} sent to a node outside the cluster: {}", from, coherence::to_string(m)));
    }
    Link& l = links_[from][to];
    if (l.cut) {
        l.held.push_back(std::move(m));
        ++inflight_;
        return;
    }
    schedule_delivery(from, to, std::move(m));
}

void Sim::schedule_delivery(int from, int to, Message m) {
    Link& l = links_[from][to];
    Time delay =
        from == to ? static_cast<Time>(rnd(1, 20)) : l.base_delay + static_cast<Time>(rnd(0, 300));
    Time t = std::max(now_ + delay, l.last + 1);  // FIFO per link, as TCP
    l.last = t;
    Event e;
    e.t = t;
    e.kind = Ev::Deliver;
    e.node = to;
    e.a = static_cast<uint64_t>(from);
    e.epoch = l.epoch;
    e.msg = std::move(m);
    ++inflight_;
    push(std::move(e));
}

void Sim::deliver(const Event& e) {
    --inflight_;
    int from = static_cast<int>(e.a);
    int to = e.node;
    if (e.epoch != links_[from][to].epoch || !nodes_[to].up) {
        return;  // lost with a reset or a crash
    }
    const Message& m = e.msg;
    if (m.type == MsgType::Stale || m.type == MsgType::Hello) {
        mark_lost_candidates(to, from);
    }
    nodes_[to].eng->on_message(m, now_);
    drain(to);
    if (m.file.home != coherence::kNoNode && m.file.ino >= 1 &&
        m.file.ino <= static_cast<uint64_t>(o_.files)) {
        check_swmr(file_index(m.file));
    }
}

void Sim::on_effect(int n, Effect& e) {
    Node& node = nodes_[n];
    switch (e.kind) {
        case EffectKind::Send: {
            Message& m = e.msg;
            if (m.data_from_store) {
                m.pages.clear();
                for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
                    auto it = node.store.find({m.file.ino, p});
                    m.pages.push_back(it != node.store.end() && it->second.first
                                          ? it->second.first
                                          : std::make_shared<std::vector<std::byte>>(kPageSize));
                }
                m.data_from_store = false;
            }
            send(n, std::move(m));
            return;
        }
        case EffectKind::KernelInvalidate: {
            node.kinvs[e.token] = KInv{file_index(e.file), e.range};
            trace(fmt::format("n{} kernel: invalidate #{} {} {}",
                              n,
                              e.token,
                              coherence::to_string(e.file),
                              coherence::to_string(e.range)));
            Event ev;
            ev.t = now_ + static_cast<Time>(rnd(5, kKernelInvalMax));
            ev.kind = Ev::KInvDone;
            ev.node = n;
            ev.a = e.token;
            ev.inc = node.node_inc;
            push(ev);
            return;
        }
        case EffectKind::StoreWrite: {
            int f = file_index(e.file);
            for (PageIndex p = e.range.first; p < e.range.end(); ++p) {
                const PageBuf& buf = e.pages[p - e.range.first];
                node.store[{e.file.ino, p}].first = buf;
                trace(fmt::format("n{} store write ino {} p{} = {}/{}",
                                  n,
                                  e.file.ino,
                                  p,
                                  slot_value(buf, 0),
                                  slot_value(buf, 1)));
                for (uint32_t s = 0; s < kSlots; ++s) {
                    stored_values_.insert((reg(f, p, s) << 40) | slot_value(buf, s));
                }
            }
            return;
        }
        case EffectKind::HomeState:
            node.disk_dead = e.nodes;
            return;
        case EffectKind::StoreSync: {
            Event ev;
            ev.t = now_ + static_cast<Time>(rnd(100, 3000));
            ev.kind = Ev::SyncDone;
            ev.node = n;
            ev.a = e.token;
            ev.inc = node.node_inc;
            ev.msg.file = e.file;
            push(ev);
            return;
        }
        case EffectKind::ReadDone:
        case EffectKind::WriteDone:
        case EffectKind::FsyncDone: {
            auto it = node.reqs.find(e.req);
            if (it == node.reqs.end()) {
                fail(fmt::format("n{} completed unknown request {}", n, e.req));
            }
            int client = it->second;
            node.reqs.erase(it);
            on_client_done(n, client, e);
            return;
        }
    }
}

void Sim::on_client_done(int n, int client, const Effect& e) {
    Node& node = nodes_[n];
    Client& c = node.clients[client];
    HistOp& h = hist_[c.hist];
    bool ok = e.status.is_ok();
    if (!ok) {
        trace(fmt::format("n{} c{} request {} failed: {}", n, client, e.req, e.status.to_string()));
        c.failed = true;
    }
    switch (e.kind) {
        case EffectKind::ReadDone: {
            auto fit = node.fills.find(e.req);
            bool fill = fit != node.fills.end();
            if (fill) {
                node.fills.erase(fit);
            }
            if (ok) {
                if (e.pages.size() != e.range.count) {
                    fail(fmt::format("n{} read returned {} pages for {}",
                                     n,
                                     e.pages.size(),
                                     coherence::to_string(e.range)));
                }
                for (PageIndex p = e.range.first; p < e.range.end(); ++p) {
                    const PageBuf& buf = e.pages[p - e.range.first];
                    if (fill) {
                        node.kernel[{h.file, p}] = buf;
                        trace(fmt::format("n{} kernel: fill of file {} p{} done = {}/{}",
                                          n,
                                          h.file,
                                          p,
                                          slot_value(buf, 0),
                                          slot_value(buf, 1)));
                    }
                    for (uint32_t s = 0; s < kSlots; ++s) {
                        h.regs.emplace_back(reg(h.file, p, s), slot_value(buf, s));
                    }
                }
            }
            break;
        }
        case EffectKind::FsyncDone: {
            if (ok) {
                const Node& home = nodes_[file_home_[h.file]];
                for (PageIndex p = 0; p < static_cast<PageIndex>(o_.pages); ++p) {
                    auto it = home.store.find({static_cast<uint64_t>(h.file + 1), p});
                    for (uint32_t s = 0; s < kSlots; ++s) {
                        h.durable[reg(h.file, p, s)] =
                            it == home.store.end() ? 0 : slot_value(it->second.second, s);
                    }
                }
            }
            break;
        }
        default:
            break;
    }
    if (--c.parts == 0) {
        finish_op(n, c, !c.failed);
    }
}

void Sim::finish_op(int n, Client& c, bool ok) {
    HistOp& h = hist_[c.hist];
    h.complete = tick_seq();
    h.ok = ok;
    if (o_.trace || o_.trace_tail > 0) {
        std::string vals;
        for (auto& [r, v] : h.regs) {
            vals += fmt::format(" p{}.{}={}", (r / kSlots) % o_.pages, r % kSlots, v);
        }
        const char* kinds[] = {"read", "write", "fsync"};
        trace(fmt::format("n{} c{} op{} {} file {} {}{}",
                          n,
                          c.id,
                          c.hist,
                          kinds[static_cast<int>(h.kind)],
                          h.file,
                          ok ? "ok" : "FAILED",
                          vals));
    }
    (ok ? rep_.ops_ok : rep_.ops_failed)++;
    if ((ok || h.multi_page) && h.kind == HistOp::Kind::Write) {
        for (auto& [r, v] : h.regs) {
            writer_[v] = {n, h.node_inc};
        }
    }
    c.busy = false;
    if (c.id < o_.clients) {
        schedule_step(n, c.id, static_cast<Time>(rnd(0, 3000)));
    }
}

void Sim::schedule_step(int n, int client, Time delay) {
    Event e;
    e.t = now_ + delay;
    e.kind = Ev::ClientStep;
    e.node = n;
    e.a = static_cast<uint64_t>(client);
    e.inc = nodes_[n].node_inc;
    push(e);
}

HistOp& Sim::begin_op(int n, Client& c, HistOp::Kind kind, int file) {
    c.busy = true;
    c.failed = false;
    c.parts = 0;
    hist_.push_back(HistOp{});
    c.hist = hist_.size() - 1;
    HistOp& h = hist_.back();
    h.kind = kind;
    h.node = n;
    h.node_inc = nodes_[n].node_inc;
    h.client = c.id;
    h.file = file;
    h.invoke = tick_seq();
    return h;
}

void Sim::client_step(int n, int client) {
    Node& node = nodes_[n];
    Client& c = node.clients[client];
    if (c.busy || c.ops_left < 0) {
        return;
    }
    if (c.ops_left == 0) {
        c.ops_left = -1;
        --clients_active_;
        return;
    }
    --c.ops_left;
    uint64_t dice = rnd(0, 99);
    int f = static_cast<int>(rnd(0, static_cast<uint64_t>(o_.files - 1)));
    if (dice < 6) {
        // Eviction by the user or the cache (drop_caches): not part of the history.
        PageIndex first = rnd(0, static_cast<uint64_t>(o_.pages - 1));
        node.eng->evict(file_id(f), Range{first, rnd(1, 3)}, now_);
        drain(n);
        schedule_step(n, client, static_cast<Time>(rnd(0, 2000)));
        return;
    }
    if (dice < 10) {
        // The kernel drops pages on its own (memory pressure); the engine is not told.
        for (auto it = node.kernel.begin(); it != node.kernel.end();) {
            if (chance(0.3)) {
                trace(fmt::format(
                    "n{} kernel: reclaims file {} p{}", n, it->first.first, it->first.second));
                it = node.kernel.erase(it);
            } else {
                ++it;
            }
        }
        schedule_step(n, client, static_cast<Time>(rnd(0, 2000)));
        return;
    }
    if (dice < 55) {
        begin_op(n, c, HistOp::Kind::Read, f);
        ++rep_.reads;
        start_read(n, c);
    } else if (dice < 92) {
        begin_op(n, c, HistOp::Kind::Write, f);
        ++rep_.writes;
        start_write(n, c);
    } else {
        begin_op(n, c, HistOp::Kind::Fsync, f);
        ++rep_.fsyncs;
        uint64_t req = next_req_++;
        node.reqs[req] = client;
        c.parts = 1;
        node.eng->fsync(req, file_id(f), now_);
        drain(n);
    }
}

void Sim::start_read(int n, Client& c) {
    Node& node = nodes_[n];
    HistOp& h = hist_[c.hist];
    PageIndex first = rnd(0, static_cast<uint64_t>(o_.pages - 1));
    uint64_t count = std::min<uint64_t>(rnd(1, 3), static_cast<uint64_t>(o_.pages) - first);
    FileId fid = file_id(h.file);
    if (chance(0.25)) {
        uint64_t req = next_req_++;
        node.reqs[req] = c.id;
        c.parts = 1;
        node.eng->read(req, fid, Range{first, count}, coherence::ReadMode::Direct, now_);
        drain(n);
        return;
    }
    // Through the kernel: cached pages are read at once; each run of missing pages becomes one
    // page-cache fill (the kernel locks those pages until the fill completes). A page that
    // another fill holds locked is not filled twice: Linux readahead skips it and the reader
    // waits for that fill; we model the wait as a direct read of those pages.
    std::vector<std::pair<Range, bool>> runs;  // (run, is_fill)
    for (PageIndex p = first; p < first + count; ++p) {
        auto it = node.kernel.find({h.file, p});
        if (it != node.kernel.end()) {
            for (uint32_t s = 0; s < kSlots; ++s) {
                h.regs.emplace_back(reg(h.file, p, s), slot_value(it->second, s));
            }
            continue;
        }
        bool locked = false;
        for (const auto& [req, fill] : node.fills) {
            locked = locked || (fill.file == h.file && fill.range.contains(p));
        }
        if (!runs.empty() && runs.back().first.end() == p && runs.back().second == !locked) {
            ++runs.back().first.count;
        } else {
            runs.emplace_back(Range{p, 1}, !locked);
        }
    }
    if (runs.empty()) {
        finish_op(n, c, true);
        return;
    }
    c.parts = static_cast<int>(runs.size());
    std::vector<uint64_t> reqs;
    for (const auto& [r, is_fill] : runs) {
        uint64_t req = next_req_++;
        node.reqs[req] = c.id;
        if (is_fill) {
            node.fills[req] = Fill{h.file, r, c.id};
        }
        reqs.push_back(req);
    }
    for (size_t i = 0; i < runs.size(); ++i) {
        auto [r, is_fill] = runs[i];
        if (is_fill) {
            trace(fmt::format(
                "n{} kernel: fill of file {} {} starts", n, h.file, coherence::to_string(r)));
        }
        node.eng->read(reqs[i],
                       fid,
                       r,
                       is_fill ? coherence::ReadMode::KernelFill : coherence::ReadMode::Direct,
                       now_);
        drain(n);
        if (!node.up) {
            return;
        }
    }
}

void Sim::start_write(int n, Client& c) {
    Node& node = nodes_[n];
    HistOp& h = hist_[c.hist];
    PageIndex p = rnd(0, static_cast<uint64_t>(o_.pages - 1));
    uint64_t shape = rnd(0, 9);
    uint64_t offset = p * kPageSize;
    uint64_t length = kPageSize;
    if (shape < 3) {
        length = 8;  // slot 0 only
    } else if (shape < 6) {
        offset += 8;
        length = 8;  // slot 1 only
    } else if (shape < 8 && p + 1 < static_cast<PageIndex>(o_.pages)) {
        offset += 8;
        length = 16;  // slot 1 of p and slot 0 of p+1: partial first and last page
    } else if (p + 1 < static_cast<PageIndex>(o_.pages) && shape == 9) {
        length = 32;  // two full pages
    }
    uint64_t value = next_write_++;
    std::vector<std::byte> bytes(length);
    for (uint64_t off = 0; off < length; off += 8) {
        std::memcpy(bytes.data() + off, &value, 8);
        uint64_t abs = offset + off;
        h.regs.emplace_back(
            reg(h.file, abs / kPageSize, static_cast<uint32_t>((abs % kPageSize) / 8)), value);
    }
    h.multi_page = offset / kPageSize != (offset + length - 1) / kPageSize;
    uint64_t req = next_req_++;
    node.reqs[req] = c.id;
    c.parts = 1;
    node.eng->write(req, file_id(h.file), offset, std::move(bytes), now_);
    drain(n);
}

// ------------------------------------------------------------------------------------------
// Faults

void Sim::mark_lost_candidates(int n, int home) {
    // Node n may be about to discard its M pages of `home`'s files (session lost, home
    // restarted, crash). Values it wrote that never reach a store are lost; decided at the end.
    for (const auto& [v, w] : writer_) {
        if (w.first == n && w.second == nodes_[n].node_inc) {
            lost_candidates_.insert({n, v});
        }
    }
    // A write still running may have applied some of its pages already (writes apply page by
    // page), and those can be discarded too.
    for (const Client& c : nodes_[n].clients) {
        if (c.busy && hist_[c.hist].kind == HistOp::Kind::Write) {
            for (auto& [r, v] : hist_[c.hist].regs) {
                (void)r;
                writer_[v] = {n, nodes_[n].node_inc};
                lost_candidates_.insert({n, v});
            }
        }
    }
    (void)home;
}

void Sim::reset_link(int a, int b) {
    for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
        Link& l = links_[x][y];
        ++l.epoch;
        inflight_ -= l.held.size();
        l.held.clear();
    }
    for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
        if (nodes_[x].up && x != y) {
            mark_lost_candidates(x, y);
            nodes_[x].eng->on_link_reset(static_cast<NodeId>(y), now_);
            drain(x);
        }
    }
}

void Sim::crash(int n) {
    Node& node = nodes_[n];
    trace(fmt::format("### crash n{}", n));
    ++rep_.crashes;
    mark_lost_candidates(n, -1);
    node.up = false;
    node.eng.reset();
    node.kernel.clear();
    node.kinvs.clear();
    node.fills.clear();
    node.reqs.clear();
    for (Client& c : node.clients) {
        if (c.busy) {
            hist_[c.hist].abandoned = true;
            c.busy = false;
        }
    }
    for (int m = 0; m < o_.nodes; ++m) {
        if (m != n) {
            reset_link(n, m);
        }
    }
    Link& self = links_[n][n];
    ++self.epoch;
    down_.push_back(n);
    Event e;
    e.t = now_ + static_cast<Time>(rnd(5'000, 100'000));
    e.kind = Ev::Restart;
    e.node = n;
    push(e);
}

void Sim::restart(int n) {
    Node& node = nodes_[n];
    if (node.up) {
        return;
    }
    trace(fmt::format("### restart n{}", n));
    node.up = true;
    ++node.node_inc;
    ++node.home_inc;
    std::erase(down_, n);
    make_engine(n);
    for (int m = 0; m < o_.nodes; ++m) {
        if (m != n) {
            reset_link(n, m);
        }
    }
    for (int c = 0; c < o_.clients; ++c) {
        schedule_step(n, c, static_cast<Time>(rnd(0, 2000)));
    }
    fault_active_ = false;
}

void Sim::nemesis() {
    if (final_ || clients_active_ == 0) {
        return;
    }
    Event next;
    next.t = now_ + static_cast<Time>(rnd(20'000, 80'000));
    next.kind = Ev::Nemesis;
    push(next);
    if (fault_active_) {
        return;
    }
    std::vector<int> kinds;
    if (o_.crashes)
        kinds.push_back(0);
    if (o_.partitions)
        kinds.push_back(1);
    if (o_.resets)
        kinds.push_back(2);
    if (kinds.empty() || chance(0.3)) {
        return;
    }
    int kind = kinds[rnd(0, kinds.size() - 1)];
    if (kind == 0) {
        fault_active_ = true;
        crash(static_cast<int>(rnd(0, static_cast<uint64_t>(o_.nodes - 1))));
    } else if (kind == 1) {
        fault_active_ = true;
        ++rep_.partitions;
        std::vector<int> side;
        for (int i = 0; i < o_.nodes; ++i) {
            if (chance(0.5))
                side.push_back(i);
        }
        if (side.empty() || static_cast<int>(side.size()) == o_.nodes) {
            side = {static_cast<int>(rnd(0, static_cast<uint64_t>(o_.nodes - 1)))};
        }
        std::set<int> s(side.begin(), side.end());
        std::string names;
        for (int i : side)
            names += fmt::format(" n{}", i);
        trace(fmt::format("### partition{} | rest", names));
        for (int a = 0; a < o_.nodes; ++a) {
            for (int b = 0; b < o_.nodes; ++b) {
                if (s.count(a) != s.count(b)) {
                    links_[a][b].cut = true;
                }
            }
        }
        Event heal;
        heal.t = now_ + static_cast<Time>(rnd(5'000, 150'000));
        heal.kind = Ev::Heal;
        push(heal);
    } else {
        ++rep_.resets;
        int a = static_cast<int>(rnd(0, static_cast<uint64_t>(o_.nodes - 1)));
        int b = static_cast<int>(rnd(0, static_cast<uint64_t>(o_.nodes - 1)));
        if (a != b && nodes_[a].up && nodes_[b].up) {
            trace(fmt::format("### reset link n{} <-> n{}", a, b));
            reset_link(a, b);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Checkers

void Sim::check_swmr(int f) {
    ++rep_.swmr_checks;
    FileId fid = file_id(f);
    for (PageIndex p = 0; p < static_cast<PageIndex>(o_.pages); ++p) {
        int writer = -1;
        std::vector<int> readers;
        for (int n = 0; n < o_.nodes; ++n) {
            const Node& node = nodes_[n];
            if (!node.up) {
                continue;
            }
            bool valid = node.eng->lease_valid(fid.home, now_);
            PState s = node.eng->page_state(fid, p);
            if (s == PState::M && valid) {
                if (writer >= 0) {
                    fail(fmt::format("SWMR: n{} and n{} both hold {} p{} in M",
                                     writer,
                                     n,
                                     coherence::to_string(fid),
                                     p));
                }
                writer = n;
                continue;
            }
            bool reads = valid && (s == PState::S || s == PState::SM_AD);
            if (reads || node.kernel.count({f, p}) != 0) {
                readers.push_back(n);
            }
        }
        for (int r : readers) {
            if (writer >= 0 && r != writer) {
                fail(fmt::format("SWMR: n{} holds {} p{} in M while n{} can read it ({}{})",
                                 writer,
                                 coherence::to_string(fid),
                                 p,
                                 r,
                                 coherence::name(nodes_[r].eng->page_state(fid, p)),
                                 nodes_[r].kernel.count({f, p}) ? ", kernel copy" : ""));
            }
        }
    }
}

bool Sim::quiescent_now() const {
    if (inflight_ != 0) {
        return false;
    }
    for (const Node& n : nodes_) {
        if (n.up && (!n.eng->quiescent() || !n.kinvs.empty())) {
            return false;
        }
    }
    for (const auto& row : links_) {
        for (const Link& l : row) {
            if (l.cut) {
                return false;
            }
        }
    }
    return true;
}

void Sim::check_quiescent() {
    if (!quiescent_now()) {
        return;
    }
    ++rep_.quiescent_checks;
    for (int f = 0; f < o_.files; ++f) {
        FileId fid = file_id(f);
        const Node& home = nodes_[fid.home];
        if (!home.up || home.eng->recovering()) {
            continue;
        }
        std::set<PageIndex> pages;
        for (auto& [p, v] : home.eng->dir_pages(fid.ino)) {
            pages.insert(p);
        }
        for (const Node& n : nodes_) {
            if (n.up) {
                for (auto& [p, s] : n.eng->cached_pages(fid)) {
                    pages.insert(p);
                }
            }
        }
        for (PageIndex p : pages) {
            Engine::DirView d = home.eng->dir_entry(fid.ino, p);
            for (int n = 0; n < o_.nodes; ++n) {
                const Node& node = nodes_[n];
                if (!node.up || !node.eng->lease_valid(fid.home, now_)) {
                    continue;
                }
                PState s = node.eng->page_state(fid, p);
                bool dir_m = d.owner == n;
                bool dir_s = (d.sharers & coherence::bit(static_cast<NodeId>(n))) != 0;
                bool ok = (s == PState::M && dir_m && !dir_s) ||
                          (s == PState::S && dir_s && !dir_m) ||
                          (s == PState::I && !dir_m && !dir_s);
                if (!ok) {
                    fail(
                        fmt::format("at quiescence, {} p{}: n{} is in {} but the directory says "
                                    "owner={} sharers={:#x}",
                                    coherence::to_string(fid),
                                    p,
                                    n,
                                    coherence::name(s),
                                    d.owner == coherence::kNoNode ? -1 : d.owner,
                                    d.sharers));
                }
            }
        }
    }
}

void Sim::check_history() {
    // A write that spans pages applies page by page, so if it failed (or its node crashed while
    // it ran) any of its values may or may not have taken effect: its outcome is unknown.
    auto unknown = [](const HistOp& h) {
        return h.kind == HistOp::Kind::Write && h.multi_page && (!h.ok || h.abandoned);
    };
    // Values that never reached any store were lost with a crash or a dropped session. They
    // must have been written on a node that had such a fault, and seen only there.
    std::set<std::pair<uint64_t, uint64_t>> lost;  // (register, value)
    std::set<uint64_t> candidates;
    for (const auto& [n, v] : lost_candidates_) {
        candidates.insert(v);
    }
    for (const HistOp& h : hist_) {
        if (h.kind != HistOp::Kind::Write || (!h.ok && !unknown(h))) {
            continue;
        }
        for (auto& [r, v] : h.regs) {
            if (candidates.count(v) != 0 && stored_values_.count((r << 40) | v) == 0) {
                lost.insert({r, v});
            }
        }
    }
    rep_.lost_writes = lost.size();
    // A lost write must be reported: once it is lost, an fsync of its file on its node (same
    // incarnation) that began after the write completed may not succeed unless some fsync there
    // that ended after the write began failed (Linux's errseq; failure.md). A node that gave up
    // a page's dirty data to a Recall whose answer was lost with a link reset once lost the
    // write without a word: the home forgot the session, and the node's next fsync succeeded.
    for (size_t i = 0; i < hist_.size(); ++i) {
        const HistOp& w = hist_[i];
        if (w.kind != HistOp::Kind::Write || !w.ok || w.abandoned) {
            continue;
        }
        // Lost: a value that never reached a store, and that its own node did not overwrite
        // (a value replaced in the node's cache never reaches a store either).
        bool lost_here = false;
        for (auto& [r, v] : w.regs) {
            if (lost.count({r, v}) == 0) {
                continue;
            }
            // Any write of that node that may come after it (even one that overlapped it).
            const uint64_t reg = r;
            bool overwritten = std::any_of(hist_.begin(), hist_.end(), [&](const HistOp& w2) {
                return &w2 != &w && w2.kind == HistOp::Kind::Write && w2.node == w.node &&
                       w2.node_inc == w.node_inc && w2.complete > w.invoke &&
                       std::any_of(w2.regs.begin(), w2.regs.end(), [&](const auto& rv) {
                           return rv.first == reg;
                       });
            });
            lost_here = lost_here || !overwritten;
        }
        if (!lost_here) {
            continue;
        }
        std::optional<size_t> ok_after;  // the first fsync there that succeeded after it
        bool reported = false;
        for (size_t j = 0; j < hist_.size(); ++j) {
            const HistOp& fs = hist_[j];
            if (fs.kind != HistOp::Kind::Fsync || fs.node != w.node || fs.node_inc != w.node_inc ||
                fs.file != w.file || fs.abandoned) {
                continue;
            }
            if (fs.ok && fs.invoke > w.complete && !ok_after) {
                ok_after = j;
            }
            if (!fs.ok && fs.complete != check::kPending && fs.complete > w.invoke) {
                reported = true;
            }
        }
        if (ok_after && !reported) {
            fail(
                fmt::format("write op{} on n{} was lost, yet fsync op{} of its file on that node "
                            "succeeded after it and none reported the loss",
                            i,
                            w.node,
                            *ok_after));
        }
    }
    std::map<uint64_t, std::vector<check::RegisterOp>> per_reg;
    for (size_t i = 0; i < hist_.size(); ++i) {
        const HistOp& h = hist_[i];
        if ((h.abandoned && !unknown(h)) || h.kind == HistOp::Kind::Fsync) {
            continue;
        }
        if (!h.ok && !unknown(h)) {
            continue;  // failed one-page writes were never applied; failed reads saw nothing
        }
        std::string who = fmt::format("op{} n{} c{}", i, h.node, h.client);
        for (auto& [r, v] : h.regs) {
            if (lost.count({r, v}) != 0) {
                auto w = writer_.find(v);
                if (h.kind == HistOp::Kind::Read &&
                    (w == writer_.end() || w->second.first != h.node)) {
                    fail(fmt::format(
                        "value {} never reached the origin, yet {} read it on another node",
                        v,
                        who));
                }
                continue;
            }
            check::RegisterOp op;
            op.kind = h.kind == HistOp::Kind::Read ? check::RegisterOp::Kind::Read
                                                   : check::RegisterOp::Kind::Write;
            op.value = v;
            op.invoke = h.invoke;
            op.complete = unknown(h) ? check::kPending : h.complete;
            op.who = who;
            per_reg[r].push_back(op);
        }
    }
    for (auto& [r, ops] : per_reg) {
        ++rep_.registers_checked;
        if (auto v = check::check_register(ops, 0)) {
            int f = static_cast<int>(r / kSlots / o_.pages);
            PageIndex p = (r / kSlots) % o_.pages;
            fail(fmt::format(
                "not linearizable: file {} p{} slot {}: {}", f, p, r % kSlots, v->to_string()));
        }
    }
    // Durability: after a successful fsync, no register of the file may hold on the durable
    // store a value that a write completed before the fsync began had already replaced (in real
    // time: the durable value's write completed before that write was invoked). Lost writes
    // (crashed nodes, dropped sessions) are exempt.
    std::map<std::pair<uint64_t, uint64_t>, const HistOp*> write_of;  // (register, value) -> write
    for (const HistOp& w : hist_) {
        if ((w.kind == HistOp::Kind::Write && w.ok && !w.abandoned) || unknown(w)) {
            for (auto& [r, v] : w.regs) {
                write_of[{r, v}] = &w;
            }
        }
    }
    for (size_t i = 0; i < hist_.size(); ++i) {
        const HistOp& fs = hist_[i];
        if (fs.kind != HistOp::Kind::Fsync || !fs.ok || fs.abandoned) {
            continue;
        }
        for (auto& [r, durable_value] : fs.durable) {
            auto dw = write_of.find({r, durable_value});
            int64_t durable_done = durable_value == 0     ? -1
                                   : dw == write_of.end() ? -1
                                   : unknown(*dw->second) ? check::kPending
                                                          : dw->second->complete;
            for (const HistOp& w : hist_) {
                if (w.kind != HistOp::Kind::Write || !w.ok || w.abandoned ||
                    w.complete >= fs.invoke) {
                    continue;
                }
                for (auto& [wr, v] : w.regs) {
                    if (wr == r && v != durable_value && lost.count({r, v}) == 0 &&
                        durable_done < w.invoke) {
                        fail(
                            fmt::format("durability: fsync op{} completed, but register {} holds "
                                        "{} on disk although "
                                        "value {} replaced it before the fsync began",
                                        i,
                                        r,
                                        durable_value,
                                        v));
                    }
                }
            }
        }
    }
}

void Sim::final_phase() {
    // Heal everything, restart crashed nodes, let leases settle, then every node must be able
    // to read every page, and a final fsync must put every surviving write in the stores.
    final_ = true;
    for (auto& row : links_) {
        for (Link& l : row) {
            l.cut = false;
        }
    }
    for (int a = 0; a < o_.nodes; ++a) {
        for (int b = 0; b < o_.nodes; ++b) {
            Link& l = links_[a][b];
            std::deque<Message> held;
            held.swap(l.held);
            inflight_ -= held.size();
            for (Message& m : held) {
                schedule_delivery(a, b, std::move(m));
            }
        }
    }
    for (int n : std::vector<int>(down_)) {
        restart(n);
    }
}

SimReport Sim::run() {
    detail::set_assert_handler(&throwing_assert);
    try {
        nodes_.resize(static_cast<size_t>(o_.nodes));
        links_.assign(static_cast<size_t>(o_.nodes),
                      std::vector<Link>(static_cast<size_t>(o_.nodes)));
        for (auto& row : links_) {
            for (Link& l : row) {
                l.base_delay = static_cast<Time>(rnd(20, 400));
            }
        }
        for (int f = 0; f < o_.files; ++f) {
            file_home_.push_back(static_cast<int>(rnd(0, static_cast<uint64_t>(o_.nodes - 1))));
        }
        for (int n = 0; n < o_.nodes; ++n) {
            make_engine(n);
            // Regular clients run the workload; one probe client per file runs the final checks.
            nodes_[n].clients.resize(static_cast<size_t>(o_.clients + o_.files));
            for (int c = 0; c < o_.clients + o_.files; ++c) {
                nodes_[n].clients[c].id = c;
                nodes_[n].clients[c].ops_left = c < o_.clients ? o_.ops : -1;
            }
            for (int c = 0; c < o_.clients; ++c) {
                ++clients_active_;
                schedule_step(n, c, static_cast<Time>(rnd(0, 5000)));
            }
            Event t;
            t.t = static_cast<Time>(rnd(0, kTick));
            t.kind = Ev::Tick;
            t.node = n;
            push(t);
        }
        Event nem;
        nem.t = static_cast<Time>(rnd(10'000, 40'000));
        nem.kind = Ev::Nemesis;
        push(nem);

        Time deadline = 0;
        Time all_done = 0;
        int final_stage = 0;  // 0 running, 1 settling, 2 final reads, 3 final fsyncs, 4 done
        std::vector<std::pair<int, int>> final_reads;
        while (!q_.empty()) {
            Event e = q_.top();
            q_.pop();
            now_ = e.t;
            ++rep_.events;
            if (rep_.events > 5'000'000 || now_ > 3'600'000'000) {
                fail("the run did not finish within its event or time budget (livelock?)");
            }
            switch (e.kind) {
                case Ev::Deliver:
                    deliver(e);
                    break;
                case Ev::Tick:
                    if (nodes_[e.node].up) {
                        nodes_[e.node].eng->on_tick(now_);
                        drain(e.node);
                    }
                    if (final_stage < 4) {
                        Event t = e;
                        t.t = now_ + kTick;
                        push(t);
                    }
                    break;
                case Ev::KInvDone: {
                    Node& node = nodes_[e.node];
                    if (!node.up || node.node_inc != e.inc) {
                        break;
                    }
                    auto it = node.kinvs.find(e.a);
                    if (it == node.kinvs.end()) {
                        break;
                    }
                    bool blocked = false;
                    for (const auto& [req, fill] : node.fills) {
                        blocked = blocked || (fill.file == it->second.file &&
                                              fill.range.overlaps(it->second.range));
                    }
                    if (blocked) {
                        Event again = e;
                        again.t = now_ + 200;
                        push(again);
                        break;
                    }
                    for (PageIndex p = it->second.range.first;
                         p < it->second.range.end() && p < static_cast<PageIndex>(o_.pages);
                         ++p) {
                        node.kernel.erase({it->second.file, p});
                    }
                    trace(fmt::format("n{} kernel: invalidate #{} done", e.node, e.a));
                    node.kinvs.erase(it);
                    node.eng->on_kernel_invalidated(e.a, now_);
                    drain(e.node);
                    break;
                }
                case Ev::SyncDone: {
                    Node& node = nodes_[e.node];
                    if (!node.up || node.node_inc != e.inc) {
                        break;
                    }
                    for (auto& [key, cell] : node.store) {
                        if (key.first == e.msg.file.ino) {
                            cell.second = cell.first;
                        }
                    }
                    node.eng->on_store_synced(e.a, Status::ok(), now_);
                    drain(e.node);
                    break;
                }
                case Ev::ClientStep:
                    if (nodes_[e.node].up && nodes_[e.node].node_inc == e.inc && final_stage == 0) {
                        client_step(e.node, static_cast<int>(e.a));
                    }
                    break;
                case Ev::Nemesis:
                    nemesis();
                    break;
                case Ev::Heal: {
                    trace("### heal");
                    for (int a = 0; a < o_.nodes; ++a) {
                        for (int b = 0; b < o_.nodes; ++b) {
                            Link& l = links_[a][b];
                            l.cut = false;
                            std::deque<Message> held;
                            held.swap(l.held);
                            inflight_ -= held.size();
                            for (Message& m : held) {
                                schedule_delivery(a, b, std::move(m));
                            }
                        }
                    }
                    fault_active_ = false;
                    break;
                }
                case Ev::Restart:
                    restart(e.node);
                    break;
            }
            check_quiescent();
            // Stage machine for the end of the run.
            if (final_stage == 0 && clients_active_ == 0) {
                bool busy = false;
                for (const Node& n : nodes_) {
                    for (const Client& c : n.clients) {
                        busy = busy || c.busy;
                    }
                }
                if (all_done == 0) {
                    all_done = now_;
                }
                if (!busy) {
                    final_phase();
                    final_stage = 1;
                    deadline = now_ + 2 * (kLease + kGrace);
                } else if (now_ > all_done + 3 * kRequestTimeout) {
                    fail("liveness: an operation never completed (not even with a timeout)");
                }
            } else if (final_stage == 1 && now_ >= deadline) {
                // Every node reads every page of every file: nothing may fail after the heal.
                for (int n = 0; n < o_.nodes; ++n) {
                    Node& node = nodes_[n];
                    for (int f = 0; f < o_.files; ++f) {
                        Client& c = node.clients[static_cast<size_t>(o_.clients + f)];
                        begin_op(n, c, HistOp::Kind::Read, f);
                        final_reads.emplace_back(n, static_cast<int>(c.hist));
                        uint64_t req = next_req_++;
                        node.reqs[req] = c.id;
                        c.parts = 1;
                        node.eng->read(req,
                                       file_id(f),
                                       Range{0, static_cast<uint64_t>(o_.pages)},
                                       coherence::ReadMode::Direct,
                                       now_);
                        drain(n);
                    }
                }
                final_stage = 2;
                deadline = now_ + kRequestTimeout + kLease;
            } else if (final_stage == 2 && now_ >= deadline) {
                for (auto [n, idx] : final_reads) {
                    const HistOp& h = hist_[static_cast<size_t>(idx)];
                    if (!h.ok || h.complete == check::kPending) {
                        fail(fmt::format(
                            "liveness: after the final heal, n{} could not read file {} ({})",
                            n,
                            h.file,
                            h.complete == check::kPending ? "no answer" : "error"));
                    }
                }
                // A final fsync of every file from its home puts every surviving write in a store.
                for (int f = 0; f < o_.files; ++f) {
                    int n = file_home_[f];
                    Node& node = nodes_[n];
                    Client& c = node.clients[static_cast<size_t>(o_.clients + f)];
                    begin_op(n, c, HistOp::Kind::Fsync, f);
                    uint64_t req = next_req_++;
                    node.reqs[req] = c.id;
                    c.parts = 1;
                    node.eng->fsync(req, file_id(f), now_);
                    drain(n);
                }
                final_stage = 3;
                deadline = now_ + kRequestTimeout;
            } else if (final_stage == 3 && now_ >= deadline) {
                final_stage = 4;
            }
            if (final_stage == 4 && quiescent_now()) {
                break;
            }
            if (final_stage == 4 && now_ > deadline + 10 * kRequestTimeout) {
                fail("the cluster never became quiescent after the run");
            }
        }
        check_history();
        for (const Node& n : nodes_) {
            if (n.up) {
                const auto& nr = n.eng->node_row_hits();
                const auto& dr = n.eng->dir_row_hits();
                rep_.node_rows.resize(nr.size());
                rep_.dir_rows.resize(dr.size());
                for (size_t i = 0; i < nr.size(); ++i)
                    rep_.node_rows[i] += nr[i];
                for (size_t i = 0; i < dr.size(); ++i)
                    rep_.dir_rows[i] += dr[i];
            }
        }
    } catch (const SimFailure& f) {
        rep_.ok = false;
        rep_.failure = f.what();
    }
    detail::set_assert_handler(nullptr);
    rep_.trace_tail.assign(tail_.begin(), tail_.end());
    return rep_;
}

}  // namespace

SimReport run_sim(const SimOptions& options) {
    Sim sim(options);
    return sim.run();
}

}  // namespace vr::sim
