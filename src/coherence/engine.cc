// Engine: dispatch, ticks, introspection, and the node-side cache controller.
// The home side (directory) is in directory.cc. See docs/design/protocol.md.
#include "coherence/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace vr::coherence {

std::string to_string(const FileId& f) {
    return fmt::format("f{}:{}", f.home, f.ino);
}
std::string to_string(const Range& r) {
    if (r == kWholeFile) {
        return "[all]";
    }
    return r.count == 1 ? fmt::format("p{}", r.first) : fmt::format("p{}+{}", r.first, r.count);
}

std::string_view msg_name(MsgType t) {
    switch (t) {
#define VR_X(name)      \
    case MsgType::name: \
        return #name;
        VR_MESSAGE_TYPES(VR_X)
#undef VR_X
    }
    return "?";
}

std::string to_string(const Message& m) {
    return fmt::format("{} n{}->n{} s{} id{} {} {}{}",
                       msg_name(m.type),
                       m.from,
                       m.to,
                       m.session,
                       m.id,
                       to_string(m.file),
                       to_string(m.range),
                       m.type == MsgType::Recall ? (m.to_shared ? " toS" : " toI") : "");
}

bool is_home_bound(MsgType t) {
    switch (t) {
        case MsgType::Join:
        case MsgType::LeaseRenew:
        case MsgType::GetS:
        case MsgType::GetM:
        case MsgType::InvAck:
        case MsgType::RecallAck:
        case MsgType::PutS:
        case MsgType::PutM:
        case MsgType::Fsync:
        case MsgType::Reclaim:
        case MsgType::RecoverDone:
            return true;
        default:
            return false;
    }
}

Engine::Engine(EngineConfig config)
    : cfg_(config), node_row_hits_(node_table().size()), dir_row_hits_(dir_table().size()) {
    VR_ASSERT(cfg_.self < kMaxNodes, "node id {} out of range", cfg_.self);
    VR_ASSERT((cfg_.members & bit(cfg_.self)) != 0, "self must be a member");
    VR_ASSERT(cfg_.page_size > 0 && cfg_.range_pages_max > 0, "bad geometry");
    VR_ASSERT(cfg_.lease_us > 0 && cfg_.grace_us > 0, "bad lease timing");
    recovering_ = cfg_.home_incarnation > 1;
}

void Engine::start(Time now) {
    started_ = true;
    if (recovering_) {
        recovery_deadline_ = now + cfg_.lease_us + cfg_.grace_us;
    }
    for (NodeId n = 0; n < kMaxNodes; ++n) {
        if ((cfg_.members & bit(n)) != 0) {
            Message m;
            m.type = MsgType::Hello;
            m.to = n;
            m.incarnation = cfg_.home_incarnation;
            emit_send(std::move(m));
        }
    }
}

std::vector<Effect> Engine::take_effects() {
    std::vector<Effect> out;
    out.swap(out_);
    return out;
}

void Engine::emit_send(Message msg) {
    msg.from = cfg_.self;
    note_sent(msg);
    Effect e;
    e.kind = EffectKind::Send;
    e.msg = std::move(msg);
    out_.push_back(std::move(e));
}

void Engine::trace(const std::string& line) {
    if (trace_) {
        trace_(line);
    }
}

void Engine::notice(const std::string& line) {
    if (notice_) {
        notice_(line);
    }
    trace(line);
}

void Engine::violation(NodeId from, const std::string& what) {
    ++violations_;
    trace(fmt::format("n{} protocol violation by n{}: {}", cfg_.self, from, what));
    if (violation_) {
        violation_(from, what);
    }
}

void Engine::on_message(const Message& msg, Time now) {
    if (msg.to != cfg_.self || msg.from >= kMaxNodes || (cfg_.members & bit(msg.from)) == 0) {
        trace(fmt::format("n{} drop misaddressed {}", cfg_.self, to_string(msg)));
        return;
    }
    if (is_home_bound(msg.type)) {
        home_on_message(msg, now);
    } else {
        node_on_message(msg, now);
    }
}

void Engine::on_tick(Time now) {
    node_tick(now);
    home_tick(now);
}

void Engine::on_link_reset(NodeId peer, Time now) {
    if (peer >= kMaxNodes || peer == cfg_.self) {
        return;
    }
    // Node side: messages to or from that home may be lost, so the session cannot be trusted;
    // rejoin (the JoinAck tells whether the home restarted and our M data can be reclaimed).
    if (links_[peer].state != LinkState::None) {
        notice(fmt::format("n{} link to n{} reset: rejoin", cfg_.self, peer));
        drop_home(peer, now);
    }
    // Home side: nothing to do now. The node rejoins (and Join forgets its old session), or it
    // stays silent and is declared dead when its lease has surely run out.
}

void Engine::fail_requests(NodeId home, const Status& why) {
    std::vector<uint64_t> ids;
    for (const auto& [id, r] : local_) {
        if (r.file.home == home) {
            ids.push_back(id);
        }
    }
    for (uint64_t id : ids) {
        finish_local(id, why);
    }
}

// ------------------------------------------------------------------------------------------
// Introspection

Engine::Page* Engine::find_page(FileId f, PageIndex p) {
    auto fit = files_.find(f);
    if (fit == files_.end()) {
        return nullptr;
    }
    auto pit = fit->second.pages.find(p);
    return pit == fit->second.pages.end() ? nullptr : &pit->second;
}

const Engine::Page* Engine::find_page(FileId f, PageIndex p) const {
    auto fit = files_.find(f);
    if (fit == files_.end()) {
        return nullptr;
    }
    auto pit = fit->second.pages.find(p);
    return pit == fit->second.pages.end() ? nullptr : &pit->second;
}

PState Engine::page_state(FileId file, PageIndex page) const {
    const Page* p = find_page(file, page);
    return p == nullptr ? PState::I : p->state;
}

PageBuf Engine::page_data(FileId file, PageIndex page) const {
    const Page* p = find_page(file, page);
    return p == nullptr ? nullptr : p->data;
}

bool Engine::kernel_may_cache(FileId file, PageIndex page) const {
    const Page* p = find_page(file, page);
    return p != nullptr && p->kernel_cached;
}

bool Engine::lease_valid(NodeId home, Time now) const {
    const HomeLink& l = links_[home];
    return l.state == LinkState::Active && now < l.lease_until;
}

bool Engine::can_read(FileId file, PageIndex page, Time now) const {
    PState s = page_state(file, page);
    bool readable = s == PState::S || s == PState::M || s == PState::SM_AD;
    return readable && lease_valid(file.home, now);
}

std::vector<std::pair<PageIndex, PState>> Engine::cached_pages(FileId file) const {
    std::vector<std::pair<PageIndex, PState>> out;
    auto fit = files_.find(file);
    if (fit != files_.end()) {
        for (const auto& [p, page] : fit->second.pages) {
            out.emplace_back(p, page.state);
        }
    }
    return out;
}

bool Engine::quiescent() const {
    return local_.empty() && wire_.empty() && held_.empty() && tokens_.empty() && txns_.empty() &&
           syncs_.empty();
}

// ------------------------------------------------------------------------------------------
// Node side: page bookkeeping

void Engine::set_state(FileId f, PageIndex p, Page& page, NodeEvent ev, PState next) {
    int row = find_node_row(page.state, ev, next);
    VR_ASSERT(row >= 0,
              "n{} {} p{}: transition {} --{}--> {} is not in the protocol table",
              cfg_.self,
              to_string(f),
              p,
              name(page.state),
              name(ev),
              name(next));
    ++node_row_hits_[static_cast<size_t>(row)];
    if (trace_) {
        trace(fmt::format("n{} {} p{} {}: {} -> {}",
                          cfg_.self,
                          to_string(f),
                          p,
                          name(ev),
                          name(page.state),
                          name(next)));
    }
    evicting_count_ -= evicting(page.state) ? 1 : 0;
    evicting_count_ += evicting(next) ? 1 : 0;
    page.state = next;
}

void Engine::erase_page(FileId f, PageIndex p) {
    auto fit = files_.find(f);
    VR_ASSERT(fit != files_.end(), "erase of an unknown file");
    auto pit = fit->second.pages.find(p);
    VR_ASSERT(pit != fit->second.pages.end(), "erase of an unknown page");
    evicting_count_ -= evicting(pit->second.state) ? 1 : 0;
    fit->second.pages.erase(pit);
    --page_count_;
}

uint64_t Engine::new_token(FileId f, Range r) {
    // Collects the pages of r the kernel may hold, clears their bits, and asks the adapter to
    // invalidate them, one effect per contiguous run (so that a run never spans a page that a
    // page-cache fill holds locked). Returns 0 when the kernel holds none of them.
    Token t;
    t.file = f;
    auto fit = files_.find(f);
    if (fit != files_.end()) {
        auto& pages = fit->second.pages;
        for (auto it = pages.lower_bound(r.first); it != pages.end() && it->first < r.end(); ++it) {
            if (it->second.kernel_cached) {
                it->second.kernel_cached = false;
                t.pages.insert(it->first);
            }
        }
    }
    if (t.pages.empty()) {
        return 0;
    }
    uint64_t id = next_token_++;
    auto& index = token_pages_[f];
    for (PageIndex p : t.pages) {
        index.emplace(p, id);
    }
    issue_invalidations(id, t);
    tokens_.emplace(id, std::move(t));
    return id;
}

void Engine::unindex_token_page(FileId f, PageIndex p, uint64_t id) {
    auto fit = token_pages_.find(f);
    VR_ASSERT(fit != token_pages_.end(), "token page index lost a file");
    auto [first, last] = fit->second.equal_range(p);
    for (auto it = first; it != last; ++it) {
        if (it->second == id) {
            fit->second.erase(it);
            if (fit->second.empty()) {
                token_pages_.erase(fit);
            }
            return;
        }
    }
    VR_ASSERT(false, "token page index lost a page");
}

std::set<uint64_t> Engine::tokens_within(FileId f, Range r) const {
    std::set<uint64_t> out;
    auto fit = token_pages_.find(f);
    if (fit != token_pages_.end()) {
        for (auto it = fit->second.lower_bound(r.first);
             it != fit->second.end() && it->first < r.end();
             ++it) {
            out.insert(it->second);
        }
    }
    return out;
}

std::set<uint64_t> Engine::invalidate_kernel(FileId f, Range r) {
    std::set<uint64_t> out = tokens_within(f, r);
    uint64_t fresh = new_token(f, r);
    if (fresh != 0) {
        out.insert(fresh);
    }
    return out;
}

void Engine::issue_invalidations(uint64_t token, Token& t) {
    auto emit = [&](Range run) {
        uint64_t inv = next_invalidation_++;
        Effect e;
        e.kind = EffectKind::KernelInvalidate;
        e.token = inv;
        e.file = t.file;
        e.range = run;
        out_.push_back(std::move(e));
        t.effects.emplace(inv, run);
        invalidations_.emplace(inv, token);
    };
    Range run{0, 0};
    for (PageIndex p : t.pages) {
        if (run.count != 0 && run.end() == p) {
            ++run.count;
            continue;
        }
        if (run.count != 0) {
            emit(run);
        }
        run = Range{p, 1};
    }
    if (run.count != 0) {
        emit(run);
    }
}

void Engine::hold(Effect effect, std::set<uint64_t> tokens, const Held* eviction) {
    tokens.erase(0);
    Held h;
    if (eviction != nullptr) {
        h.evicts = true;
        h.file = eviction->file;
        h.page = eviction->page;
    }
    h.effect = std::move(effect);
    h.tokens = std::move(tokens);
    bool early =
        cfg_.mutation == Mutation::AckBeforeKernelInvalidate && h.effect.kind == EffectKind::Send;
    if (h.tokens.empty() || early) {
        h.tokens.clear();
    }
    uint64_t id = next_held_++;
    if (h.tokens.empty()) {
        held_ready_.insert(id);
    } else if (h.effect.kind == EffectKind::Send) {
        h.covers = true;
        const Range& r = h.effect.msg.range;
        for (PageIndex p = r.first; p < r.end(); ++p) {
            ++held_cover_[{h.effect.msg.file, p}];
        }
    }
    for (uint64_t token : h.tokens) {
        held_by_token_[token].insert(id);
    }
    held_.emplace(id, std::move(h));
    release_ready_held();
}

namespace {
bool carries_data(const Message& m) {
    return std::any_of(
        m.pages.begin(), m.pages.end(), [](const PageBuf& b) { return b != nullptr; });
}
}  // namespace

void Engine::note_sent(const Message& msg) {
    if (msg.to >= kMaxNodes || msg.to == cfg_.self) {
        return;
    }
    HomeLink& l = links_[msg.to];
    ++l.sent_seq;
    if (msg.type == MsgType::LeaseRenew) {
        l.renew_seq = l.sent_seq;
    } else if ((msg.type == MsgType::RecallAck || msg.type == MsgType::Reclaim) &&
               carries_data(msg)) {
        l.unconfirmed[msg.file] = l.sent_seq;
    }
}

void Engine::confirm_sent_before(NodeId home, uint64_t seq) {
    std::erase_if(links_[home].unconfirmed, [seq](const auto& kv) { return kv.second < seq; });
}

void Engine::mark_given_back_lost(NodeId home) {
    HomeLink& l = links_[home];
    for (const auto& [f, seq] : l.unconfirmed) {
        mark_data_lost(f);
    }
    l.unconfirmed.clear();
    // Those still held (waiting for a kernel invalidation) die with the session.
    for (const auto& [id, h] : held_) {
        const Message& msg = h.effect.msg;
        if (h.effect.kind == EffectKind::Send && msg.to == home && msg.type == MsgType::RecallAck &&
            carries_data(msg)) {
            mark_data_lost(msg.file);
        }
    }
}

void Engine::on_flush_ack(const Message& m) {
    if (m.file.home != m.from || m.range.count > cfg_.range_pages_max ||
        m.range.end() < m.range.first) {
        violation(m.from, fmt::format("malformed {}", to_string(m)));
        return;
    }
    // Stored at the home (or already there): nothing to reclaim or report.
    std::erase_if(links_[m.from].reclaim, [&](const auto& r) {
        return r.first == m.file && m.range.contains(r.second.first.first);
    });
}

void Engine::mark_data_lost(FileId f) {
    cfile(f).data_lost = true;
    ++lost_counts_[f];
}

void Engine::hold_send(Message msg, std::set<uint64_t> tokens) {
    msg.from = cfg_.self;
    Effect e;
    e.kind = EffectKind::Send;
    e.msg = std::move(msg);
    hold(std::move(e), std::move(tokens));
}

void Engine::release_ready_held() {
    // In creation order among those ready (ids grow with creation).
    while (!held_ready_.empty()) {
        auto it = held_.find(*held_ready_.begin());
        held_ready_.erase(held_ready_.begin());
        if (it == held_.end()) {
            continue;  // dropped with its session
        }
        Held& h = it->second;
        VR_ASSERT(h.tokens.empty(), "a held effect released while it waits");
        if (h.evicts) {
            Page* pg = find_page(h.file, h.page);
            if (pg != nullptr && pg->state == PState::SI_K) {
                set_state(h.file, h.page, *pg, NodeEvent::KernelDone, PState::I);
                erase_page(h.file, h.page);
            } else if (pg != nullptr && pg->state == PState::MI_K) {
                set_state(h.file, h.page, *pg, NodeEvent::KernelDone, PState::MI_A);
            }
        }
        uncover(h);
        if (h.effect.kind == EffectKind::Send) {
            note_sent(h.effect.msg);
        }
        out_.push_back(std::move(h.effect));
        held_.erase(it);
    }
}

void Engine::uncover(const Held& h) {
    if (!h.covers) {
        return;
    }
    const Range& r = h.effect.msg.range;
    for (PageIndex p = r.first; p < r.end(); ++p) {
        auto it = held_cover_.find({h.effect.msg.file, p});
        VR_ASSERT(it != held_cover_.end(), "held cover lost");
        if (--it->second == 0) {
            held_cover_.erase(it);
        }
    }
}

void Engine::complete_token(uint64_t token) {
    auto tit = tokens_.find(token);
    if (tit == tokens_.end()) {
        return;
    }
    for (const auto& [inv, run] : tit->second.effects) {
        invalidations_.erase(inv);
    }
    for (PageIndex p : tit->second.pages) {
        unindex_token_page(tit->second.file, p, token);
    }
    tokens_.erase(tit);
    auto hb = held_by_token_.find(token);
    if (hb != held_by_token_.end()) {
        for (uint64_t id : hb->second) {
            auto hit = held_.find(id);
            if (hit != held_.end() && hit->second.tokens.erase(token) != 0 &&
                hit->second.tokens.empty()) {
                held_ready_.insert(id);
            }
        }
        held_by_token_.erase(hb);
    }
    release_ready_held();
}

void Engine::on_kernel_invalidated(uint64_t invalidation, Time now) {
    auto iit = invalidations_.find(invalidation);
    if (iit == invalidations_.end()) {
        return;  // its token was already completed (proven by page-cache fills)
    }
    uint64_t token = iit->second;
    invalidations_.erase(iit);
    Token& t = tokens_.at(token);
    Range run = t.effects.at(invalidation);
    t.effects.erase(invalidation);
    for (auto it = t.pages.lower_bound(run.first); it != t.pages.end() && *it < run.end();) {
        unindex_token_page(t.file, *it, token);
        it = t.pages.erase(it);
    }
    if (t.pages.empty()) {
        FileId f = t.file;
        complete_token(token);
        pump(f, now);
    }
}

void Engine::prove_kernel_empty(FileId f, Range r) {
    // A page-cache fill read of r reached us: the kernel holds those pages locked and not up to
    // date, so it has no valid copy of them. Invalidations waiting on them need not wait, and
    // since a running invalidation may be blocked on such a locked page, the rest of its pages
    // are invalidated again by new effects that avoid the locked ones.
    auto fit = files_.find(f);
    if (fit != files_.end()) {
        auto& pages = fit->second.pages;
        for (auto it = pages.lower_bound(r.first); it != pages.end() && it->first < r.end(); ++it) {
            it->second.kernel_cached = false;
        }
    }
    std::vector<uint64_t> done;
    for (uint64_t id : tokens_within(f, r)) {
        Token& t = tokens_.at(id);
        bool touched = false;
        for (auto it = t.pages.lower_bound(r.first); it != t.pages.end() && *it < r.end();) {
            unindex_token_page(f, *it, id);
            it = t.pages.erase(it);
            touched = true;
        }
        if (t.pages.empty()) {
            done.push_back(id);
        } else if (touched) {
            bool blocked = false;
            for (const auto& [inv, run] : t.effects) {
                blocked = blocked || run.overlaps(r);
            }
            if (blocked) {
                issue_invalidations(id, t);
            }
        }
    }
    for (uint64_t id : done) {
        trace(fmt::format("n{} token {} proven by a page-cache fill", cfg_.self, id));
        complete_token(id);
    }
}

// ------------------------------------------------------------------------------------------
// Node side: links and sessions

void Engine::send_to_home(Message msg, Time now) {
    (void)now;
    msg.to = msg.file.home;
    msg.session = links_[msg.to].session;
    emit_send(std::move(msg));
}

bool Engine::ensure_link(NodeId home, Time now) {
    HomeLink& l = links_[home];
    if (l.state == LinkState::None) {
        l.state = LinkState::Joining;
        l.join_sent = now;
        Message m;
        m.type = MsgType::Join;
        m.to = home;
        m.incarnation = cfg_.node_incarnation;
        emit_send(std::move(m));
        return false;
    }
    return l.state == LinkState::Active;
}

void Engine::suspend_home(NodeId home, Time now) {
    (void)now;
    // The lease ran out: stop serving this home's pages and drop the kernel's copies, so that
    // nothing stale is read after the home may declare us dead. M data is kept.
    notice(fmt::format("n{} lease from n{} expired: suspend", cfg_.self, home));
    for (auto& [f, cf] : files_) {
        if (f.home == home) {
            (void)new_token(f, kWholeFile);
        }
    }
}

void Engine::drop_home(NodeId home, Time now, bool forgotten) {
    HomeLink& l = links_[home];
    l.flush_session = 0;  // an earlier write-back not acknowledged: its pages stay in reclaim
    mark_given_back_lost(home);
    const size_t reclaim_before = l.reclaim.size();
    std::set<uint64_t> tokens;
    for (auto& [f, cf] : files_) {
        if (f.home != home) {
            continue;
        }
        std::set<uint64_t> t = invalidate_kernel(f, kWholeFile);
        tokens.insert(t.begin(), t.end());
        for (auto it = cf.pages.begin(); it != cf.pages.end();) {
            Page& pg = it->second;
            PageIndex p = it->first;
            ++it;
            bool has_dirty =
                pg.state == PState::M || pg.state == PState::MI_K || pg.state == PState::MI_A;
            if (has_dirty && pg.data) {
                l.reclaim.push_back({f, {Range{p, 1}, {pg.data}}});
                l.reclaim_incarnation = l.incarnation;
            }
            set_state(f, p, pg, NodeEvent::Drop, PState::I);
            erase_page(f, p);
        }
    }
    tokens.erase(0);
    // Messages of the old session are void.
    for (auto it = held_.begin(); it != held_.end();) {
        bool old = it->second.effect.kind == EffectKind::Send && it->second.effect.msg.to == home;
        if (old) {
            uncover(it->second);
        }
        it = old ? held_.erase(it) : std::next(it);
    }
    for (auto it = wire_.begin(); it != wire_.end();) {
        if (it->second.file.home == home) {
            if (it->second.kind == WireKind::Fsync) {
                auto lit = local_.find(it->second.local);
                if (lit != local_.end()) {
                    lit->second.fsync_sent = false;
                }
            }
            it = wire_.erase(it);
        } else {
            ++it;
        }
    }
    // Write back, in the old session, the M pages just dropped, after the kernel has dropped its
    // copies and before the Join that ends that session. A home that still holds the session
    // still counts this node their owner (nobody can have written them since), stores them and
    // answers PutAck; one that forgot the session or restarted ignores them. Data given back
    // earlier (a RecallAck or a Reclaim not confirmed) is not sent again: the home may have
    // read it and granted the page to this node again since (that grant lost with the
    // connection), and an older copy would then replace a newer write (simulator, seed 4359).
    // It is reported lost instead.
    if (forgotten) {
        // The home declared us dead and may have given these pages to others since: they are
        // lost now, not at the JoinAck (a home that clears our death at the Join and then
        // restarts before its JoinAck reaches us would otherwise take them back; simulator,
        // seed 3723).
        for (size_t i = reclaim_before; i < l.reclaim.size(); ++i) {
            mark_data_lost(l.reclaim[i].first);
            notice(fmt::format("n{} {} {}: cached writes lost (n{} forgot our session)",
                               cfg_.self,
                               to_string(l.reclaim[i].first),
                               to_string(l.reclaim[i].second.first),
                               home));
        }
        l.reclaim.resize(reclaim_before);
    } else if (l.state == LinkState::Active && l.session != 0 &&
               reclaim_before < l.reclaim.size()) {
        // The new reclaim entries are single pages in file and page order: one PutM per run.
        Message put;
        auto send_run = [&] {
            put.type = MsgType::PutM;
            put.to = home;
            put.session = l.session;
            hold_send(std::move(put), tokens);
            put = Message{};
        };
        for (size_t i = reclaim_before; i < l.reclaim.size(); ++i) {
            const auto& [f, rp] = l.reclaim[i];
            PageIndex p = rp.first.first;
            if (put.range.count != 0 && (put.file != f || put.range.end() != p ||
                                         put.range.count >= cfg_.range_pages_max)) {
                send_run();
            }
            if (put.range.count == 0) {
                put.file = f;
                put.range = Range{p, 0};
            }
            ++put.range.count;
            put.pages.push_back(rp.second.at(0));
        }
        send_run();
        l.flush_session = l.session;
    }
    l.inflight = 0;
    l.session = 0;
    l.renew_sent = 0;
    l.state = LinkState::Joining;
    l.join_sent = now;
    // The new session lets the home forget us, so the kernel must have dropped our copies first.
    Message m;
    m.type = MsgType::Join;
    m.to = home;
    m.incarnation = cfg_.node_incarnation;
    hold_send(std::move(m), std::move(tokens));
}

void Engine::on_join_ack(const Message& m, Time now) {
    HomeLink& l = links_[m.from];
    if (l.state != LinkState::Joining) {
        trace(fmt::format("n{} unexpected JoinAck from n{}", cfg_.self, m.from));
        return;
    }
    bool restarted = l.incarnation != 0 && m.incarnation > l.incarnation;
    l.state = LinkState::Active;
    l.session = m.session;
    l.incarnation = m.incarnation;
    l.lease_until = l.join_sent + cfg_.lease_us;
    l.renew_sent = 0;
    l.last_renew_sent = now;
    l.suspended = false;
    // The write-back of the reset that ended the old session: what the home did not acknowledge
    // before this JoinAck (it answers in order) is still in the reclaim list, handled below.
    l.flush_session = 0;
    auto reclaim = std::move(l.reclaim);
    l.reclaim.clear();
    if (restarted && m.recovering) {
        for (auto& [f, rp] : reclaim) {
            Message r;
            r.type = MsgType::Reclaim;
            r.file = f;
            r.range = rp.first;
            r.pages = std::move(rp.second);
            r.incarnation = l.reclaim_incarnation;
            send_to_home(std::move(r), now);
        }
    } else {
        // The home kept its state and forgot our session (or recovery is over): our unsynced
        // writes are gone. Say so at the next fsync.
        for (auto& [f, rp] : reclaim) {
            mark_data_lost(f);
            notice(fmt::format(
                "n{} {} {}: cached writes lost", cfg_.self, to_string(f), to_string(rp.first)));
        }
    }
    if (m.recovering) {
        Message d;
        d.type = MsgType::RecoverDone;
        d.file = FileId{m.from, 0};
        d.incarnation = m.incarnation;
        send_to_home(std::move(d), now);
    }
    pump_home(m.from, now);
}

void Engine::on_stale_or_hello(const Message& m, Time now) {
    HomeLink& l = links_[m.from];
    if (m.type == MsgType::Hello) {
        if (l.state == LinkState::None) {
            // We hold nothing of this home's: let its recovery end without waiting for us.
            if (m.incarnation > 1) {
                Message d;
                d.type = MsgType::RecoverDone;
                d.to = m.from;
                d.incarnation = m.incarnation;
                emit_send(std::move(d));
            }
            return;
        }
        if (l.state == LinkState::Active && m.incarnation > l.incarnation) {
            notice(fmt::format(
                "n{} home n{} restarted (incarnation {})", cfg_.self, m.from, m.incarnation));
            drop_home(m.from, now);
        }
        return;
    }
    // Stale: the home does not know the session we used.
    if (l.state != LinkState::Active || m.session != l.session) {
        return;  // about an older session
    }
    notice(fmt::format("n{} session with n{} is stale: rejoin", cfg_.self, m.from));
    // Same incarnation: it declared us dead. A later one (its Hello not here yet): it restarted,
    // and recovery may take our pages back.
    drop_home(m.from, now, /*forgotten=*/m.incarnation <= l.incarnation);
}

// ------------------------------------------------------------------------------------------
// Node side: local requests

void Engine::read(uint64_t req, FileId file, Range range, ReadMode mode, Time now) {
    if (range.count == 0 || range.end() < range.first || file.home >= kMaxNodes ||
        (cfg_.members & bit(file.home)) == 0 || local_.size() >= cfg_.local_requests_max ||
        local_.count(req) != 0) {
        Effect e;
        e.kind = EffectKind::ReadDone;
        e.req = req;
        e.status =
            Status(local_.size() >= cfg_.local_requests_max ? Code::Busy : Code::InvalidArgument);
        out_.push_back(std::move(e));
        return;
    }
    if (mode == ReadMode::KernelFill) {
        prove_kernel_empty(file, range);
    }
    LocalReq r;
    r.kind = LocalKind::Read;
    r.file = file;
    r.range = range;
    r.deadline = now + cfg_.request_timeout_us;
    r.read_mode = mode;
    local_.emplace(req, std::move(r));
    pump(file, now);
}

void Engine::write(
    uint64_t req, FileId file, uint64_t byte_offset, std::vector<std::byte> bytes, Time now) {
    bool bad = bytes.empty() || byte_offset + bytes.size() < byte_offset ||
               file.home >= kMaxNodes || (cfg_.members & bit(file.home)) == 0 ||
               local_.count(req) != 0;
    if (bad || local_.size() >= cfg_.local_requests_max) {
        Effect e;
        e.kind = EffectKind::WriteDone;
        e.req = req;
        e.status = Status(bad ? Code::InvalidArgument : Code::Busy);
        out_.push_back(std::move(e));
        return;
    }
    LocalReq r;
    r.kind = LocalKind::Write;
    r.file = file;
    PageIndex first = byte_offset / cfg_.page_size;
    PageIndex last = (byte_offset + bytes.size() - 1) / cfg_.page_size;
    r.range = Range{first, last - first + 1};
    r.deadline = now + cfg_.request_timeout_us;
    r.byte_offset = byte_offset;
    r.bytes = std::move(bytes);
    local_.emplace(req, std::move(r));
    pump(file, now);
}

void Engine::fsync(uint64_t req, FileId file, Time now) {
    if (file.home >= kMaxNodes || (cfg_.members & bit(file.home)) == 0 || local_.count(req) != 0 ||
        local_.size() >= cfg_.local_requests_max) {
        Effect e;
        e.kind = EffectKind::FsyncDone;
        e.req = req;
        e.status = Status(Code::InvalidArgument);
        out_.push_back(std::move(e));
        return;
    }
    LocalReq r;
    r.kind = LocalKind::Fsync;
    r.file = file;
    r.range = kWholeFile;
    r.deadline = now + cfg_.request_timeout_us;
    local_.emplace(req, std::move(r));
    pump(file, now);
}

Effect Engine::make_done(uint64_t id, Status st, std::vector<PageBuf> pages) {
    auto it = local_.find(id);
    VR_ASSERT(it != local_.end(), "finish of unknown request {}", id);
    Effect e;
    switch (it->second.kind) {
        case LocalKind::Read:
            e.kind = EffectKind::ReadDone;
            break;
        case LocalKind::Write:
            e.kind = EffectKind::WriteDone;
            break;
        case LocalKind::Fsync:
            e.kind = EffectKind::FsyncDone;
            break;
    }
    e.req = id;
    e.file = it->second.file;
    e.range = it->second.range;
    e.status = std::move(st);
    e.pages = std::move(pages);
    local_.erase(it);
    return e;
}

void Engine::finish_local(uint64_t id, Status st, std::vector<PageBuf> pages) {
    out_.push_back(make_done(id, std::move(st), std::move(pages)));
}

void Engine::pump(FileId f, Time now) {
    std::vector<uint64_t> ids;
    for (const auto& [id, r] : local_) {
        if (r.file == f) {
            ids.push_back(id);
        }
    }
    for (uint64_t id : ids) {
        auto it = local_.find(id);
        if (it == local_.end()) {
            continue;
        }
        LocalReq& r = it->second;
        switch (r.kind) {
            case LocalKind::Read:
                (void)try_read(id, r, now);
                break;
            case LocalKind::Write:
                (void)try_write(id, r, now);
                break;
            case LocalKind::Fsync:
                (void)try_fsync(id, r, now);
                break;
        }
    }
    enforce_capacity(now);
}

void Engine::pump_home(NodeId home, Time now) {
    std::set<FileId> fs;
    for (const auto& [id, r] : local_) {
        if (r.file.home == home) {
            fs.insert(r.file);
        }
    }
    for (FileId f : fs) {
        pump(f, now);
    }
}

bool Engine::try_read(uint64_t id, LocalReq& r, Time now) {
    NodeId h = r.file.home;
    if (!ensure_link(h, now) || !lease_valid(h, now)) {
        return false;
    }
    bool ready = true;
    for (PageIndex p = r.range.first; p < r.range.end(); ++p) {
        PState s = page_state(r.file, p);
        if (s != PState::S && s != PState::M && s != PState::SM_AD) {
            ready = false;
            break;
        }
    }
    if (!ready) {
        issue_runs(r.file, r.range, /*exclusive=*/false, now);
        return false;
    }
    std::vector<PageBuf> data;
    data.reserve(r.range.count);
    for (PageIndex p = r.range.first; p < r.range.end(); ++p) {
        Page* pg = find_page(r.file, p);
        set_state(r.file, p, *pg, NodeEvent::Read, pg->state);
        pg->referenced = true;
        if (r.read_mode == ReadMode::KernelFill) {
            pg->kernel_cached = true;
        }
        data.push_back(pg->data);
    }
    finish_local(id, Status::ok(), std::move(data));
    return true;
}

bool Engine::try_write(uint64_t id, LocalReq& r, Time now) {
    // A write applies page by page, each page as soon as this node holds it in M and the
    // kernel's copy of it is gone, and completes when every page has been applied. (Linux's own
    // page cache gives no more: a read may see part of a write that spans pages.) Waiting for
    // every page at once livelocks against readers, which take one page back while the home
    // grants the others. A write that fails (deadline, refusal) may therefore have applied some
    // of its pages; protocol.md §2.
    NodeId h = r.file.home;
    if (!ensure_link(h, now) || !lease_valid(h, now)) {
        return false;
    }
    if (r.applied.empty()) {
        r.applied.assign(r.range.count, false);
    }
    // Runs of pages still to write: those held in M are applied once the kernel holds no copy
    // of them (the invalidation pumps this request again); the others are fetched.
    auto for_runs = [&](auto&& want, auto&& fn) {
        PageIndex p = r.range.first;
        while (p < r.range.end()) {
            if (r.applied[p - r.range.first] || !want(p)) {
                ++p;
                continue;
            }
            PageIndex q = p + 1;
            while (q < r.range.end() && !r.applied[q - r.range.first] && want(q)) {
                ++q;
            }
            fn(Range{p, q - p});
            p = q;
        }
    };
    auto held = [&](PageIndex p) { return page_state(r.file, p) == PState::M; };
    for_runs(held, [&](Range run) {
        if (!invalidate_kernel(r.file, run).empty()) {
            return;
        }
        for (PageIndex p = run.first; p < run.end(); ++p) {
            apply_write_page(r, p);
        }
    });
    if (r.applied_count == r.range.count) {
        finish_local(id, Status::ok());
        return true;
    }
    for_runs([&](PageIndex p) { return !held(p); },
             [&](Range run) { issue_runs(r.file, run, /*exclusive=*/true, now); });
    return false;
}

void Engine::apply_write_page(LocalReq& r, PageIndex p) {
    VR_ASSERT(!r.applied[p - r.range.first], "page {} of a write applied twice", p);
    uint64_t end = r.byte_offset + r.bytes.size();
    Page* pg = find_page(r.file, p);
    set_state(r.file, p, *pg, NodeEvent::Write, PState::M);
    uint64_t page_start = p * cfg_.page_size;
    uint64_t lo = std::max(page_start, r.byte_offset);
    uint64_t hi = std::min(page_start + cfg_.page_size, end);
    auto buf = pg->data ? std::make_shared<std::vector<std::byte>>(*pg->data)
                        : std::make_shared<std::vector<std::byte>>(cfg_.page_size);
    buf->resize(cfg_.page_size);
    std::memcpy(buf->data() + (lo - page_start), r.bytes.data() + (lo - r.byte_offset), hi - lo);
    pg->data = std::move(buf);
    pg->referenced = true;
    r.applied[p - r.range.first] = true;
    ++r.applied_count;
}

bool Engine::try_fsync(uint64_t id, LocalReq& r, Time now) {
    if (r.fsync_sent) {
        return false;
    }
    NodeId h = r.file.home;
    if (!ensure_link(h, now) || links_[h].inflight >= cfg_.inflight_per_home_max ||
        links_[h].busy_until != 0) {
        return false;
    }
    CachedFile& cf = cfile(r.file);
    if (cf.data_lost) {
        cf.data_lost = false;
        finish_local(id, Status(Code::DataLost, to_string(r.file)));
        return true;
    }
    uint64_t wid = next_wire_++;
    wire_.emplace(wid, WireReq{WireKind::Fsync, r.file, kWholeFile, id});
    ++links_[h].inflight;
    r.fsync_sent = true;
    Message m;
    m.type = MsgType::Fsync;
    m.id = wid;
    m.file = r.file;
    m.range = kWholeFile;
    send_to_home(std::move(m), now);
    wire_.at(wid).seq = links_[h].sent_seq;
    return false;
}

void Engine::issue_runs(FileId f, Range range, bool exclusive, Time now) {
    // Sends one GetS/GetM per contiguous run of pages that need one; pages in transient states
    // are already on their way and are waited for.
    HomeLink& l = links_[f.home];
    CachedFile& cf = cfile(f);
    PageIndex p = range.first;
    while (p < range.end()) {
        auto needs = [&](PageIndex q) {
            PState s = page_state(f, q);
            return s == PState::I || (exclusive && s == PState::S);
        };
        if (!needs(p)) {
            Page* pg = find_page(f, p);
            if (pg != nullptr && pg->state != PState::S && pg->state != PState::M) {
                // Already on its way (or leaving): wait for it.
                set_state(f, p, *pg, exclusive ? NodeEvent::Write : NodeEvent::Read, pg->state);
            }
            ++p;
            continue;
        }
        PageIndex run_first = p;
        while (p < range.end() && needs(p) && p - run_first < cfg_.range_pages_max) {
            ++p;
        }
        if (l.inflight >= cfg_.inflight_per_home_max || l.busy_until != 0) {
            return;  // back-pressure: retried when a request completes or the back-off ends
        }
        Range run{run_first, p - run_first};
        uint64_t wid = next_wire_++;
        wire_.emplace(wid, WireReq{exclusive ? WireKind::GetM : WireKind::GetS, f, run, 0});
        ++l.inflight;
        for (PageIndex q = run.first; q < run.end(); ++q) {
            auto [it, inserted] = cf.pages.try_emplace(q);
            if (inserted) {
                ++page_count_;
                clock_.emplace_back(f, q);
            }
            PState next = exclusive
                              ? (it->second.state == PState::S ? PState::SM_AD : PState::IM_AD)
                              : PState::IS_D;
            set_state(f, q, it->second, exclusive ? NodeEvent::Write : NodeEvent::Read, next);
        }
        Message m;
        m.type = exclusive ? MsgType::GetM : MsgType::GetS;
        m.id = wid;
        m.file = f;
        m.range = run;
        send_to_home(std::move(m), now);
        wire_.at(wid).seq = l.sent_seq;
    }
}

// ------------------------------------------------------------------------------------------
// Node side: eviction

void Engine::evict(FileId file, Range range, Time now) {
    auto fit = files_.find(file);
    if (fit == files_.end() || range.count == 0) {
        return;
    }
    std::vector<PageIndex> victims;
    auto& pages = fit->second.pages;
    for (auto it = pages.lower_bound(range.first); it != pages.end() && it->first < range.end();
         ++it) {
        // As in enforce_capacity: a page that a held message covers (a RecallAck waiting on
        // another page's invalidation) stays, or its Put would pass that message and the home
        // would count this node a sharer after it dropped the page (simulator, seed 12084).
        if ((it->second.state == PState::S || it->second.state == PState::M) &&
            held_cover_.count({file, it->first}) == 0) {
            victims.push_back(it->first);
        }
    }
    if (victims.empty()) {
        return;
    }
    std::vector<Message> puts_now;
    for (PageIndex p : victims) {
        evict_page(file, p, *find_page(file, p), puts_now, now);
    }
    for (Message& m : puts_now) {
        send_to_home(std::move(m), now);
    }
    pump(file, now);
}

void Engine::evict_all(Time now) {
    std::vector<FileId> files;
    for (const auto& [f, cf] : files_) {
        files.push_back(f);
    }
    for (const FileId& f : files) {
        evict(f, kWholeFile, now);
    }
}

void Engine::evict_page(FileId f, PageIndex p, Page& pg, std::vector<Message>& puts_now, Time now) {
    (void)now;
    bool is_m = pg.state == PState::M;
    Message m;
    m.type = is_m ? MsgType::PutM : MsgType::PutS;
    m.file = f;
    m.range = Range{p, 1};
    m.to = f.home;
    m.session = links_[f.home].session;
    if (is_m) {
        m.pages.push_back(pg.data);
    }
    std::set<uint64_t> tokens = invalidate_kernel(f, Range{p, 1});
    if (!tokens.empty()) {
        set_state(f, p, pg, NodeEvent::Evict, is_m ? PState::MI_K : PState::SI_K);
        Held ev;
        ev.file = f;
        ev.page = p;
        Effect e;
        e.kind = EffectKind::Send;
        m.from = cfg_.self;
        e.msg = std::move(m);
        hold(std::move(e), std::move(tokens), &ev);
        return;
    }
    set_state(f, p, pg, NodeEvent::Evict, is_m ? PState::MI_A : PState::I);
    if (!is_m) {
        erase_page(f, p);
    }
    // Batch contiguous immediate puts of the same kind into one message.
    if (!puts_now.empty()) {
        Message& last = puts_now.back();
        if (last.type == m.type && last.file == f && last.range.end() == p &&
            last.range.count < cfg_.range_pages_max) {
            ++last.range.count;
            if (is_m) {
                last.pages.push_back(m.pages[0]);
            }
            return;
        }
    }
    puts_now.push_back(std::move(m));
}

void Engine::enforce_capacity(Time now) {
    // Pages already on their way out count as gone: otherwise every step of a large eviction
    // would evict more pages and scan the whole clock again for pages that are all busy.
    if (page_count_ - evicting_count_ <= cfg_.cache_pages_max) {
        return;
    }
    // Drop stale clock entries now and then so the clock stays proportional to the cache.
    if (clock_.size() > 2 * page_count_ + 64) {
        std::deque<std::pair<FileId, PageIndex>> kept;
        for (auto& e : clock_) {
            if (find_page(e.first, e.second) != nullptr) {
                kept.push_back(e);
            }
        }
        clock_.swap(kept);
    }
    std::vector<Message> puts_now;
    size_t budget = 2 * clock_.size();
    while (page_count_ - evicting_count_ > cfg_.cache_pages_max && budget-- > 0 &&
           !clock_.empty()) {
        auto [f, p] = clock_.front();
        clock_.pop_front();
        Page* pg = find_page(f, p);
        if (pg == nullptr) {
            continue;
        }
        bool pinned = false;
        for (const auto& [id, r] : local_) {
            if (r.file == f && r.range.contains(p)) {
                pinned = true;
                break;
            }
        }
        bool stable = pg->state == PState::S || pg->state == PState::M;
        // A page that a held message (a RecallAck waiting on another page's invalidation,
        // say) covers stays until that message has gone: its Put must not pass it.
        bool covered = held_cover_.count({f, p}) != 0;
        if (!stable || pinned || covered || pg->referenced) {
            pg->referenced = false;
            clock_.emplace_back(f, p);
            continue;
        }
        evict_page(f, p, *pg, puts_now, now);
        if (find_page(f, p) != nullptr) {
            clock_.emplace_back(f, p);  // MI_K / MI_A / SI_K: still present until acked
        }
    }
    for (Message& m : puts_now) {
        send_to_home(std::move(m), now);
    }
}

// ------------------------------------------------------------------------------------------
// Node side: messages from homes

void Engine::node_on_message(const Message& m, Time now) {
    HomeLink& l = links_[m.from];
    switch (m.type) {
        case MsgType::JoinAck:
            on_join_ack(m, now);
            return;
        case MsgType::Hello:
        case MsgType::Stale:
            on_stale_or_hello(m, now);
            return;
        default:
            break;
    }
    if (m.type == MsgType::PutAck && l.flush_session != 0 && m.session == l.flush_session) {
        on_flush_ack(m);  // the write-back of a reset, acknowledged in the old session
        return;
    }
    if (l.state != LinkState::Active || m.session != l.session) {
        trace(fmt::format("n{} drop {} of an old session", cfg_.self, to_string(m)));
        return;
    }
    // A home speaks only of its own files: a message about another home's file is refused
    // (else one peer could recall or invalidate what this node holds of another's files).
    bool names_file = m.type == MsgType::DataS || m.type == MsgType::DataM ||
                      m.type == MsgType::Inv || m.type == MsgType::Recall ||
                      m.type == MsgType::PutAck ||
                      (m.type == MsgType::Nack && m.status == Code::TooLate);
    if (names_file && m.file.home != m.from) {
        violation(m.from, fmt::format("{} names a file of n{}", to_string(m), m.file.home));
        return;
    }
    switch (m.type) {
        case MsgType::LeaseGrant:
            if (m.time > now) {
                // The grant echoes the send time of our renewal: never in the future.
                violation(m.from,
                          fmt::format("lease grant from the future ({} > {})", m.time, now));
                return;
            }
            if (m.time == l.renew_sent) {
                l.renew_sent = 0;
                // The home read everything sent before that renewal (FIFO): it has that data.
                confirm_sent_before(m.from, l.renew_seq);
            }
            if (m.time + cfg_.lease_us > l.lease_until) {
                l.lease_until = m.time + cfg_.lease_us;
                if (l.suspended && now < l.lease_until) {
                    l.suspended = false;
                    notice(fmt::format("n{} lease from n{} renewed: resume", cfg_.self, m.from));
                    pump_home(m.from, now);
                }
            }
            return;
        case MsgType::DataS:
        case MsgType::DataM:
            on_grant(m, now);
            return;
        case MsgType::Inv:
            on_inv(m, now);
            return;
        case MsgType::Recall:
            on_recall(m, now);
            return;
        case MsgType::PutAck:
            on_put_ack(m, now);
            return;
        case MsgType::FsyncAck: {
            auto wit = wire_.find(m.id);
            if (wit == wire_.end() || wit->second.kind != WireKind::Fsync) {
                trace(fmt::format("n{} unexpected {}", cfg_.self, to_string(m)));
                return;
            }
            if (wit->second.file.home != m.from) {
                violation(m.from,
                          fmt::format(
                              "{} answers a request to n{}", to_string(m), wit->second.file.home));
                return;
            }
            uint64_t local = wit->second.local;
            FileId f = wit->second.file;
            confirm_sent_before(m.from, wit->second.seq);
            wire_.erase(wit);
            --l.inflight;
            if (local_.count(local) != 0) {
                CachedFile& cf = cfile(f);
                Status st(m.status);
                if (st.is_ok() && cf.data_lost) {
                    cf.data_lost = false;
                    st = Status(Code::DataLost, to_string(f));
                }
                finish_local(local, st);
            }
            pump_home(m.from, now);
            return;
        }
        case MsgType::Nack:
            on_nack(m, now);
            return;
        default:
            trace(fmt::format("n{} unexpected {}", cfg_.self, to_string(m)));
            return;
    }
}

void Engine::on_grant(const Message& m, Time now) {
    auto wit = wire_.find(m.id);
    bool is_s = m.type == MsgType::DataS;
    bool shape_ok = wit != wire_.end() && wit->second.range == m.range &&
                    wit->second.file == m.file &&
                    wit->second.kind == (is_s ? WireKind::GetS : WireKind::GetM) &&
                    (m.pages.empty() ? !is_s : m.pages.size() == m.range.count);
    if (!shape_ok) {
        violation(m.from, fmt::format("malformed or unexpected {}", to_string(m)));
        if (wit != wire_.end()) {
            Message nack = m;
            nack.type = MsgType::Nack;
            nack.status = Code::ProtocolError;
            on_nack(nack, now);
        }
        return;
    }
    confirm_sent_before(m.from, wit->second.seq);
    wire_.erase(wit);
    --links_[m.from].inflight;
    for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
        Page* pg = find_page(m.file, p);
        size_t i = p - m.range.first;
        PageBuf data = m.pages.empty() ? nullptr : m.pages[i];
        if (pg == nullptr) {
            continue;
        }
        if (is_s && pg->state == PState::IS_D) {
            pg->data = data;
            set_state(m.file, p, *pg, NodeEvent::DataS, PState::S);
        } else if (!is_s && (pg->state == PState::IM_AD || pg->state == PState::SM_AD)) {
            if (data) {
                pg->data = data;
            }
            if (!pg->data) {
                violation(m.from, fmt::format("DataM without data for p{}", p));
                pg->data = std::make_shared<std::vector<std::byte>>(cfg_.page_size);
            }
            set_state(m.file, p, *pg, NodeEvent::DataM, PState::M);
        }
    }
    pump(m.file, now);
}

void Engine::on_inv(const Message& m, Time now) {
    if (m.range.count > cfg_.range_pages_max) {
        violation(m.from, fmt::format("oversized {}", to_string(m)));
        return;
    }
    std::set<uint64_t> tokens = invalidate_kernel(m.file, m.range);
    for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
        if (find_page(m.file, p) == nullptr) {
            Page absent;  // evicted already: nothing to drop, ack at once
            set_state(m.file, p, absent, NodeEvent::Inv, PState::I);
        }
    }
    auto fit = files_.find(m.file);
    if (fit != files_.end()) {
        auto& pages = fit->second.pages;
        for (auto it = pages.lower_bound(m.range.first);
             it != pages.end() && it->first < m.range.end();) {
            PageIndex p = it->first;
            Page& pg = it->second;
            ++it;
            switch (pg.state) {
                case PState::S:
                    set_state(m.file, p, pg, NodeEvent::Inv, PState::I);
                    erase_page(m.file, p);
                    break;
                case PState::SM_AD:
                    pg.data = nullptr;
                    set_state(m.file, p, pg, NodeEvent::Inv, PState::IM_AD);
                    break;
                case PState::SI_K:
                    set_state(m.file, p, pg, NodeEvent::Inv, PState::SI_K);
                    break;
                case PState::IS_D:
                case PState::IM_AD:
                case PState::I:
                    set_state(m.file, p, pg, NodeEvent::Inv, pg.state);
                    break;
                case PState::M:
                case PState::MI_K:
                case PState::MI_A:
                    violation(m.from, fmt::format("Inv for owned p{}, ignored", p));
                    break;
            }
        }
    }
    Message ack;
    ack.type = MsgType::InvAck;
    ack.id = m.id;
    ack.file = m.file;
    ack.range = m.range;
    ack.to = m.from;
    ack.session = links_[m.from].session;
    hold_send(std::move(ack), std::move(tokens));
    pump(m.file, now);
}

void Engine::on_recall(const Message& m, Time now) {
    if (m.range.count > cfg_.range_pages_max) {
        violation(m.from, fmt::format("oversized {}", to_string(m)));
        return;
    }
    // Pages leaving M for I need the kernel to drop its copy; pages already being evicted
    // (MI_K) wait for the eviction's invalidation. A downgrade to S keeps the kernel's copy.
    std::set<uint64_t> tokens;
    for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
        PState s = page_state(m.file, p);
        if ((s == PState::M && !m.to_shared) || s == PState::MI_K) {
            std::set<uint64_t> t = invalidate_kernel(m.file, Range{p, 1});
            tokens.insert(t.begin(), t.end());
        }
    }
    Message ack;
    ack.type = MsgType::RecallAck;
    ack.id = m.id;
    ack.file = m.file;
    ack.range = m.range;
    ack.to = m.from;
    ack.session = links_[m.from].session;
    ack.pages.resize(m.range.count);
    for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
        Page* pg = find_page(m.file, p);
        if (pg == nullptr) {
            continue;
        }
        size_t i = p - m.range.first;
        NodeEvent ev = m.to_shared ? NodeEvent::RecallS : NodeEvent::RecallI;
        switch (pg->state) {
            case PState::M:
                ack.pages[i] = pg->data;
                if (m.to_shared) {
                    set_state(m.file, p, *pg, ev, PState::S);
                } else {
                    set_state(m.file, p, *pg, ev, PState::I);
                    erase_page(m.file, p);
                }
                break;
            case PState::MI_K:
                ack.pages[i] = pg->data;
                set_state(m.file, p, *pg, ev, PState::MI_K);
                break;
            case PState::MI_A:
                ack.pages[i] = pg->data;
                set_state(m.file, p, *pg, ev, PState::MI_A);
                break;
            default:
                trace(fmt::format(
                    "n{} Recall for p{} in {}: not owned", cfg_.self, p, name(pg->state)));
                break;
        }
    }
    hold_send(std::move(ack), std::move(tokens));
    pump(m.file, now);
}

void Engine::on_put_ack(const Message& m, Time now) {
    if (m.range.count > cfg_.range_pages_max) {
        return;
    }
    for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
        Page* pg = find_page(m.file, p);
        if (pg != nullptr && pg->state == PState::MI_A) {
            set_state(m.file, p, *pg, NodeEvent::PutAck, PState::I);
            erase_page(m.file, p);
        }
    }
    pump(m.file, now);
}

void Engine::on_nack(const Message& m, Time now) {
    if (m.status == Code::TooLate) {
        mark_data_lost(m.file);
        trace(fmt::format(
            "n{} reclaim of {} refused: cached writes lost", cfg_.self, to_string(m.file)));
        return;
    }
    auto wit = wire_.find(m.id);
    if (wit == wire_.end()) {
        return;
    }
    if (wit->second.file.home != m.from) {
        violation(m.from,
                  fmt::format("{} answers a request to n{}", to_string(m), wit->second.file.home));
        return;
    }
    WireReq w = wit->second;
    confirm_sent_before(m.from, w.seq);
    wire_.erase(wit);
    --links_[m.from].inflight;
    if (w.kind == WireKind::Fsync) {
        auto lit = local_.find(w.local);
        if (lit != local_.end() && m.status == Code::Busy) {
            lit->second.fsync_sent = false;
            links_[m.from].busy_until = now + cfg_.busy_backoff_us;
        } else if (lit != local_.end()) {
            finish_local(w.local, Status(m.status, "fsync refused by the home"));
        }
        return;
    }
    for (PageIndex p = w.range.first; p < w.range.end(); ++p) {
        Page* pg = find_page(w.file, p);
        if (pg == nullptr) {
            continue;
        }
        if (pg->state == PState::IS_D || pg->state == PState::IM_AD) {
            set_state(w.file, p, *pg, NodeEvent::Nack, PState::I);
            erase_page(w.file, p);
        } else if (pg->state == PState::SM_AD) {
            set_state(w.file, p, *pg, NodeEvent::Nack, PState::S);
        }
    }
    if (m.status == Code::Busy) {
        // Throttled, not failed: the requests are sent again after a back-off, until their
        // own deadlines.
        links_[m.from].busy_until = now + cfg_.busy_backoff_us;
        return;
    }
    std::vector<uint64_t> failed;
    for (const auto& [id, r] : local_) {
        if (r.file == w.file && r.kind != LocalKind::Fsync && r.range.overlaps(w.range)) {
            failed.push_back(id);
        }
    }
    for (uint64_t id : failed) {
        finish_local(id, Status(m.status, "refused by the home"));
    }
    pump(w.file, now);
}

void Engine::node_tick(Time now) {
    for (NodeId h = 0; h < kMaxNodes; ++h) {
        HomeLink& l = links_[h];
        if (l.state != LinkState::Active) {
            continue;
        }
        if (l.busy_until != 0 && now >= l.busy_until) {
            l.busy_until = 0;
            pump_home(h, now);
        }
        if (now >= l.lease_until && !l.suspended) {
            suspend_home(h, now);
            l.suspended = true;
        }
        Time period = cfg_.lease_us / 4;
        bool due =
            l.renew_sent == 0 ? now - l.last_renew_sent >= period : now - l.renew_sent >= period;
        if (due) {
            Message m;
            m.type = MsgType::LeaseRenew;
            m.to = h;
            m.session = l.session;
            m.time = now;
            m.file = FileId{h, 0};
            emit_send(std::move(m));
            l.renew_sent = now;
            l.last_renew_sent = std::max(l.last_renew_sent, now);
        }
    }
    std::vector<uint64_t> expired;
    for (const auto& [id, r] : local_) {
        if (r.deadline <= now) {
            expired.push_back(id);
        }
    }
    for (uint64_t id : expired) {
        finish_local(id, Status(Code::Timeout));
    }
}

}  // namespace vr::coherence
