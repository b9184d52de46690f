// Engine, home side: the directory of the files this node exports. Per file: page entries
// (owner, sharers) in a compact DirTable, active transactions and a FIFO wait queue. See
// docs/design/protocol.md §3.
#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "coherence/engine.h"

namespace vr::coherence {

DState Engine::dstate(const DirEntry& e) {
    if (e.owner != kNoNode) {
        return DState::Mo;
    }
    return e.sharers != 0 ? DState::Sh : DState::U;
}

void Engine::dir_step(
    uint64_t ino, PageIndex p, const DirEntry& e, DirEvent ev, const DirEntry& next) {
    VR_ASSERT(next.owner == kNoNode || next.sharers == 0,
              "home n{} ino {} p{}: owner n{} and sharers {:#x} at once",
              cfg_.self,
              ino,
              p,
              next.owner,
              next.sharers);
    int row = find_dir_row(dstate(e), ev, dstate(next));
    VR_ASSERT(row >= 0,
              "home n{} ino {} p{}: directory transition {} --{}--> {} is not in the table",
              cfg_.self,
              ino,
              p,
              name(dstate(e)),
              name(ev),
              name(dstate(next)));
    ++dir_row_hits_[static_cast<size_t>(row)];
    if (trace_) {
        trace(fmt::format("home n{} ino {} p{} {}: {}(o={},s={:#x}) -> {}(o={},s={:#x})",
                          cfg_.self,
                          ino,
                          p,
                          name(ev),
                          name(dstate(e)),
                          e.owner == kNoNode ? -1 : e.owner,
                          e.sharers,
                          name(dstate(next)),
                          next.owner == kNoNode ? -1 : next.owner,
                          next.sharers));
    }
}

Engine::DirView Engine::dir_entry(uint64_t ino, PageIndex page) const {
    DirView v;
    auto fit = hfiles_.find(ino);
    if (fit == hfiles_.end()) {
        return v;
    }
    DirEntry e = fit->second.dir.get(page);
    v.owner = e.owner;
    v.sharers = e.sharers;
    for (uint64_t id : fit->second.active) {
        if (txns_.at(id).range.contains(page)) {
            v.busy = true;
        }
    }
    return v;
}

std::vector<std::pair<PageIndex, Engine::DirView>> Engine::dir_pages(uint64_t ino) const {
    std::vector<std::pair<PageIndex, DirView>> out;
    auto fit = hfiles_.find(ino);
    if (fit != hfiles_.end()) {
        fit->second.dir.for_each(kWholeFile, [&](PageIndex p, const DirEntry&) {
            out.emplace_back(p, dir_entry(ino, p));
        });
    }
    return out;
}

Engine::DirectoryStats Engine::directory_stats() const {
    DirectoryStats st;
    // libstdc++'s std::deque allocates a map of 8 block pointers and one block of at least 512
    // bytes as soon as it is constructed; more blocks only while requests wait.
    constexpr uint64_t kBlock = sizeof(Waiting) < 512 ? 512 / sizeof(Waiting) : 1;
    constexpr uint64_t kBlockBytes = heap_bytes(kBlock * sizeof(Waiting));
    for (const auto& [ino, hf] : hfiles_) {
        ++st.files;
        st.tracked_pages += hf.dir.pages();
        st.chunks += hf.dir.chunks();
        st.table_bytes += hf.dir.bytes();
        st.bytes += map_node_bytes(sizeof(std::pair<const uint64_t, HomeFile>)) +
                    heap_bytes(8 * sizeof(void*)) + kBlockBytes;
        st.transient_bytes += hf.waiting.size() / kBlock * kBlockBytes;
        if (hf.active.capacity() != 0) {
            st.transient_bytes += heap_bytes(hf.active.capacity() * sizeof(uint64_t));
        }
    }
    st.bytes += st.table_bytes;
    for (const auto& [id, t] : txns_) {
        st.transient_bytes += map_node_bytes(sizeof(std::pair<const uint64_t, Txn>)) +
                              t.pending.size() * map_node_bytes(sizeof(std::pair<NodeId, int>));
    }
    st.transient_bytes +=
        syncs_.size() * map_node_bytes(sizeof(std::pair<const uint64_t, PendingSync>));
    return st;
}

bool Engine::session_ok(const Message& m) const {
    return peers_[m.from].session != 0 && peers_[m.from].session == m.session;
}

void Engine::reply(const Message& to, MsgType type, Message msg) {
    msg.type = type;
    msg.to = to.from;
    msg.session = to.session;
    msg.incarnation = cfg_.home_incarnation;
    if (msg.file.home == kNoNode) {
        msg.file = to.file;
    }
    emit_send(std::move(msg));
}

void Engine::store_write(uint64_t ino, Range r, std::vector<PageBuf> pages) {
    Effect e;
    e.kind = EffectKind::StoreWrite;
    e.file = FileId{cfg_.self, ino};
    e.range = r;
    e.pages = std::move(pages);
    out_.push_back(std::move(e));
}

void Engine::home_on_message(const Message& m, Time now) {
    if (m.type == MsgType::Join) {
        on_join(m, now);
        return;
    }
    if (m.type == MsgType::RecoverDone && m.session == 0) {
        // From a node that never held anything of ours (answer to Hello).
        if (recovering_ && m.incarnation == cfg_.home_incarnation) {
            peers_[m.from].recovered = true;
        }
    } else if (!session_ok(m)) {
        bool is_request = m.type == MsgType::LeaseRenew || m.type == MsgType::GetS ||
                          m.type == MsgType::GetM || m.type == MsgType::Fsync;
        trace(fmt::format("home n{} unknown session in {}", cfg_.self, to_string(m)));
        if (is_request) {
            reply(m, MsgType::Stale, Message{});
        }
        return;
    }
    Peer& peer = peers_[m.from];
    peer.last_heard = std::max(peer.last_heard, now);
    bool file_ok = m.file.home == cfg_.self;
    switch (m.type) {
        case MsgType::LeaseRenew: {
            Message g;
            g.time = m.time;
            reply(m, MsgType::LeaseGrant, std::move(g));
            return;
        }
        case MsgType::GetS:
        case MsgType::GetM:
        case MsgType::Fsync:
            if (!file_ok) {
                Message n;
                n.id = m.id;
                n.status = Code::InvalidArgument;
                reply(m, MsgType::Nack, std::move(n));
                return;
            }
            on_request(m, now);
            return;
        case MsgType::PutS:
            if (file_ok) {
                on_put_s(m);
            }
            return;
        case MsgType::PutM:
            if (file_ok) {
                on_put_m(m);
            }
            return;
        case MsgType::InvAck:
        case MsgType::RecallAck:
            on_ack(m, now);
            return;
        case MsgType::Reclaim:
            if (file_ok) {
                on_reclaim(m);
            }
            return;
        case MsgType::RecoverDone:
            if (recovering_) {
                peers_[m.from].recovered = true;
                bool all = true;
                for (NodeId n = 0; n < kMaxNodes; ++n) {
                    if ((cfg_.members & bit(n)) != 0 && !peers_[n].recovered) {
                        all = false;
                    }
                }
                if (all) {
                    end_recovery(now);
                }
            }
            return;
        default:
            trace(fmt::format("home n{} unexpected {}", cfg_.self, to_string(m)));
            return;
    }
}

void Engine::on_join(const Message& m, Time now) {
    Peer& peer = peers_[m.from];
    if (peer.session != 0) {
        forget_node(m.from, now);
    }
    if ((dead_ & bit(m.from)) != 0) {
        dead_ &= ~bit(m.from);
        persist_home_state();
    }
    peer.node_incarnation = m.incarnation;
    peer.session = (cfg_.home_incarnation << 32) | (next_session_++ & 0xFFFFFFFFu);
    peer.last_heard = now;
    Message a;
    a.session = peer.session;
    a.recovering = recovering_;
    a.file = FileId{cfg_.self, 0};
    Message to = m;
    to.session = peer.session;
    reply(to, MsgType::JoinAck, std::move(a));
}

void Engine::on_request(const Message& m, Time now) {
    HomeFile& hf = hfiles_[m.file.ino];
    Waiting w;
    w.kind = m.type == MsgType::GetS   ? TxnKind::GetS
             : m.type == MsgType::GetM ? TxnKind::GetM
                                       : TxnKind::Flush;
    w.from = m.from;
    w.session = m.session;
    w.req = m.id;
    w.range = w.kind == TxnKind::Flush ? kWholeFile : m.range;
    bool range_ok = w.kind == TxnKind::Flush ||
                    (m.range.count >= 1 && m.range.count <= cfg_.range_pages_max &&
                     m.range.end() > m.range.first && m.range.end() <= kWholeFile.end());
    Code refuse = !range_ok                                  ? Code::InvalidArgument
                  : hf.waiting.size() >= cfg_.home_queue_max ? Code::Busy
                                                             : Code::Ok;
    if (refuse != Code::Ok) {
        Message n;
        n.id = m.id;
        n.status = refuse;
        reply(m, MsgType::Nack, std::move(n));
        return;
    }
    hf.waiting.push_back(w);
    try_admit(m.file.ino, now);
}

void Engine::try_admit(uint64_t ino, Time now) {
    if (recovering_ || admitting_) {
        return;
    }
    admitting_ = true;
    bool progress = true;
    while (progress) {
        progress = false;
        auto fit = hfiles_.find(ino);
        if (fit == hfiles_.end()) {
            break;
        }
        HomeFile& hf = fit->second;
        std::vector<Range> blocked;
        for (const uint64_t id : hf.active) {
            blocked.push_back(txns_.at(id).range);
        }
        for (size_t i = 0; i < hf.waiting.size(); ++i) {
            const Waiting& w = hf.waiting[i];
            bool overlaps = std::any_of(blocked.begin(), blocked.end(), [&](const Range& r) {
                return r.overlaps(w.range);
            });
            if (overlaps) {
                blocked.push_back(w.range);
                continue;
            }
            Waiting copy = w;
            hf.waiting.erase(hf.waiting.begin() + static_cast<std::ptrdiff_t>(i));
            start_txn(ino, copy, now);
            progress = true;
            break;
        }
    }
    admitting_ = false;
}

void Engine::start_txn(uint64_t ino, const Waiting& w, Time now) {
    HomeFile& hf = hfiles_[ino];
    uint64_t id = next_txn_++;
    Txn t;
    t.kind = w.kind;
    t.requester = w.from;
    t.session = w.session;
    t.req = w.req;
    t.ino = ino;
    t.range = w.range;
    // Runs of pages per node to invalidate (sharers) and to recall (owners).
    std::map<NodeId, std::vector<Range>> inv_runs;
    std::map<NodeId, std::vector<Range>> recall_runs;
    auto add_run = [&](std::vector<Range>& runs, PageIndex p) {
        if (!runs.empty() && runs.back().end() == p && runs.back().count < cfg_.range_pages_max) {
            ++runs.back().count;
        } else {
            runs.push_back(Range{p, 1});
        }
    };
    bool anomaly = false;
    hf.dir.for_each(w.range, [&](PageIndex p, const DirEntry& e) {
        if (e.owner == w.from && w.kind != TxnKind::Flush) {
            anomaly = true;  // the requester asks for a page it owns
        }
        if (e.owner != kNoNode && (w.kind == TxnKind::Flush || e.owner != w.from)) {
            add_run(recall_runs[e.owner], p);
        }
        if (w.kind == TxnKind::GetM) {
            for (NodeMask s = e.sharers & ~bit(w.from); s != 0; s &= s - 1) {
                add_run(inv_runs[static_cast<NodeId>(std::countr_zero(s))], p);
            }
        }
    });
    if (anomaly) {
        violation(w.from, "requested a page it owns");
        Message n;
        n.type = MsgType::Nack;
        n.to = w.from;
        n.session = w.session;
        n.id = w.req;
        n.file = FileId{cfg_.self, ino};
        n.status = Code::ProtocolError;
        emit_send(std::move(n));
        return;
    }
    bool skipped = false;
    for (auto& [n, runs] : inv_runs) {
        for (const Range& r : runs) {
            for (PageIndex p = r.first; p < r.end(); ++p) {
                DirEntry e = hf.dir.get(p);
                DirEntry next = e;
                next.sharers &= ~bit(n);
                dir_step(ino, p, e, DirEvent::InvSent, next);
                hf.dir.put(p, next);
            }
            if (cfg_.mutation == Mutation::SkipOneInvalidation && !skipped && id % 3 == 0) {
                skipped = true;  // planted bug: this sharer keeps its copy
                continue;
            }
            Message m;
            m.type = MsgType::Inv;
            m.to = n;
            m.session = peers_[n].session;
            m.id = id;
            m.file = FileId{cfg_.self, ino};
            m.range = r;
            emit_send(std::move(m));
            ++t.pending[n];
        }
    }
    for (auto& [n, runs] : recall_runs) {
        for (const Range& r : runs) {
            Message m;
            m.type = MsgType::Recall;
            m.to = n;
            m.session = peers_[n].session;
            m.id = id;
            m.file = FileId{cfg_.self, ino};
            m.range = r;
            m.to_shared = w.kind != TxnKind::GetM;
            emit_send(std::move(m));
            ++t.pending[n];
            t.recalls[n].push_back(r);
        }
    }
    // Entries emptied by InvSent are erased when the transaction finishes.
    bool done = t.pending.empty();
    txns_.emplace(id, std::move(t));
    hf.active.push_back(id);
    if (done) {
        finish_txn(id, now);
    }
}

void Engine::on_ack(const Message& m, Time now) {
    auto tit = txns_.find(m.id);
    if (tit == txns_.end()) {
        trace(fmt::format("home n{} ack for a finished transaction: {}", cfg_.self, to_string(m)));
        return;
    }
    Txn& t = tit->second;
    auto pit = t.pending.find(m.from);
    if (pit == t.pending.end() || pit->second <= 0) {
        trace(fmt::format("home n{} unexpected {}", cfg_.self, to_string(m)));
        return;
    }
    // Each ack answers what was sent: a RecallAck one Recall run exactly (else pages it did not
    // give back would stay owned at the grant), an InvAck an Inv (never a Recall).
    std::vector<Range>& recalls = t.recalls[m.from];
    if (m.type == MsgType::RecallAck) {
        auto rit = std::find(recalls.begin(), recalls.end(), m.range);
        if (m.pages.size() != m.range.count || rit == recalls.end() ||
            m.range.count > cfg_.range_pages_max) {
            violation(m.from, fmt::format("malformed or unasked-for {}", to_string(m)));
            return;  // the transaction waits until the node is declared dead
        }
        recalls.erase(rit);
        HomeFile& hf = hfiles_[t.ino];
        bool to_shared = t.kind != TxnKind::GetM;
        std::vector<PageBuf> run;
        PageIndex run_first = 0;
        auto flush = [&]() {
            if (!run.empty()) {
                Range written{run_first, run.size()};
                store_write(t.ino, written, std::move(run));
                run.clear();
            }
        };
        for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
            DirEntry e = hf.dir.get(p);  // empty when the page has no entry
            const PageBuf& data = m.pages[p - m.range.first];
            DirEvent ev = to_shared ? DirEvent::RecallAckS : DirEvent::RecallAckI;
            if (e.owner != m.from) {
                // The owner already wrote it back (its PutM crossed the recall): ignore the data.
                dir_step(t.ino, p, e, ev, e);
                flush();
                continue;
            }
            if (!data) {
                // The owner gives the page up without its contents: a protocol violation (an
                // honest owner always sends them). The page is no longer its own (the grant
                // must not find an owner), and the store keeps what it had.
                violation(m.from, fmt::format("RecallAck without the data of owned p{}", p));
                flush();
            } else {
                if (run.empty()) {
                    run_first = p;
                }
                run.push_back(data);
            }
            DirEntry next;
            next.sharers = to_shared ? bit(m.from) : 0;
            dir_step(t.ino, p, e, ev, next);
            if (next.sharers == 0) {
                hf.dir.erase(p);
            } else {
                hf.dir.put(p, next);
            }
        }
        flush();
    } else if (pit->second <= static_cast<int>(recalls.size())) {
        violation(m.from, fmt::format("{} answers a Recall", to_string(m)));
        return;
    }
    if (--pit->second == 0) {
        t.pending.erase(pit);
    }
    if (t.pending.empty()) {
        finish_txn(m.id, now);
    }
}

void Engine::finish_txn(uint64_t id, Time now) {
    auto tit = txns_.find(id);
    VR_ASSERT(tit != txns_.end(), "finish of unknown transaction {}", id);
    Txn t = std::move(tit->second);
    txns_.erase(tit);
    HomeFile& hf = hfiles_[t.ino];
    hf.active.erase(std::find(hf.active.begin(), hf.active.end(), id));
    bool alive = !t.requester_gone && peers_[t.requester].session == t.session;
    FileId file{cfg_.self, t.ino};
    switch (t.kind) {
        case TxnKind::GetS:
        case TxnKind::GetM: {
            bool exclusive = t.kind == TxnKind::GetM;
            bool shared_all = true;
            for (PageIndex p = t.range.first; p < t.range.end(); ++p) {
                if ((hf.dir.get(p).sharers & bit(t.requester)) == 0) {
                    shared_all = false;
                }
            }
            if (alive) {
                for (PageIndex p = t.range.first; p < t.range.end(); ++p) {
                    DirEntry e = hf.dir.get(p);
                    VR_ASSERT(e.owner == kNoNode,
                              "home n{} grant of p{} while n{} owns it",
                              cfg_.self,
                              p,
                              e.owner);
                    DirEntry next;
                    if (exclusive) {
                        VR_ASSERT((e.sharers & ~bit(t.requester)) == 0,
                                  "GetM granted with other sharers");
                        next.owner = t.requester;
                    } else {
                        next.sharers = e.sharers | bit(t.requester);
                    }
                    dir_step(t.ino, p, e, exclusive ? DirEvent::GrantM : DirEvent::GrantS, next);
                    hf.dir.put(p, next);
                }
                Message m;
                m.type = exclusive ? MsgType::DataM : MsgType::DataS;
                m.to = t.requester;
                m.session = t.session;
                m.incarnation = cfg_.home_incarnation;
                m.id = t.req;
                m.file = file;
                m.range = t.range;
                m.data_from_store = !exclusive || !shared_all;
                emit_send(std::move(m));
            }
            break;
        }
        case TxnKind::Flush: {
            uint64_t token = next_token_++;
            Effect e;
            e.kind = EffectKind::StoreSync;
            e.token = token;
            e.file = file;
            out_.push_back(std::move(e));
            syncs_.emplace(token, PendingSync{t.requester, t.session, t.req});
            break;
        }
    }
    // Erase entries emptied by invalidations or by a dead requester.
    hf.dir.erase_if(
        t.range, [](PageIndex, const DirEntry& e) { return e.owner == kNoNode && e.sharers == 0; });
    try_admit(t.ino, now);
}

void Engine::on_store_synced(uint64_t token, Status status, Time now) {
    (void)now;
    auto it = syncs_.find(token);
    if (it == syncs_.end()) {
        return;
    }
    PendingSync ps = it->second;
    syncs_.erase(it);
    if (peers_[ps.requester].session != ps.session) {
        return;
    }
    Message m;
    m.type = MsgType::FsyncAck;
    m.to = ps.requester;
    m.session = ps.session;
    m.incarnation = cfg_.home_incarnation;
    m.id = ps.req;
    m.status = status.code();
    emit_send(std::move(m));
}

void Engine::on_put_s(const Message& m) {
    if (m.range.count > cfg_.range_pages_max) {
        return;
    }
    DirTable& dir = hfiles_[m.file.ino].dir;
    for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
        if (!dir.contains(p)) {
            DirEntry none;  // an Inv crossed it: already gone
            dir_step(m.file.ino, p, none, DirEvent::PutS, none);
            continue;
        }
        DirEntry e = dir.get(p);
        DirEntry next = e;
        next.sharers &= ~bit(m.from);
        dir_step(m.file.ino, p, e, DirEvent::PutS, next);
        if (next.owner == kNoNode && next.sharers == 0) {
            dir.erase(p);
        } else {
            dir.put(p, next);
        }
    }
}

void Engine::on_put_m(const Message& m) {
    if (m.range.count > cfg_.range_pages_max || m.pages.size() != m.range.count) {
        violation(m.from, fmt::format("malformed {}", to_string(m)));
        return;
    }
    HomeFile& hf = hfiles_[m.file.ino];
    std::vector<PageBuf> run;
    PageIndex run_first = 0;
    auto flush = [&]() {
        if (!run.empty() && cfg_.mutation != Mutation::ForgetWritebackOnEvict) {
            Range written{run_first, run.size()};
            store_write(m.file.ino, written, std::move(run));
        }
        run.clear();
    };
    for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
        DirEntry e = hf.dir.get(p);  // empty when the page has no entry
        const PageBuf& data = m.pages[p - m.range.first];
        if (e.owner != m.from || !data) {
            // Not the owner any more (recalled, or forgotten): discard the data.
            dir_step(m.file.ino, p, e, DirEvent::PutM, e);
            flush();
            continue;
        }
        if (run.empty()) {
            run_first = p;
        }
        run.push_back(data);
        dir_step(m.file.ino, p, e, DirEvent::PutM, DirEntry{});
        hf.dir.erase(p);
    }
    flush();
    Message a;
    a.range = m.range;
    reply(m, MsgType::PutAck, std::move(a));
}

void Engine::on_reclaim(const Message& m) {
    // Only pages held under the previous incarnation, by a node it had not declared dead, are
    // taken: a node that was declared dead (and perhaps cut off since) may hold pages that the
    // previous incarnation then gave to others, and an older incarnation's pages may have been
    // replaced during a recovery the node missed.
    bool stale =
        m.incarnation != cfg_.previous_home_incarnation || (cfg_.previous_dead & bit(m.from)) != 0;
    if (stale && recovering_) {
        notice(fmt::format("home n{} refuses n{}'s reclaim of {}: {}",
                           cfg_.self,
                           m.from,
                           to_string(m.file),
                           (cfg_.previous_dead & bit(m.from)) != 0
                               ? "the previous incarnation declared it dead"
                               : "held under an older incarnation"));
    }
    if (!recovering_ || stale || m.range.count > cfg_.range_pages_max ||
        m.pages.size() != m.range.count) {
        Message n;
        n.status = Code::TooLate;
        reply(m, MsgType::Nack, std::move(n));
        return;
    }
    store_write(m.file.ino, m.range, m.pages);
}

void Engine::forget_node(NodeId n, Time now) {
    trace(fmt::format("home n{} forgets n{}", cfg_.self, n));
    for (auto& file : hfiles_) {
        // Named, not structured bindings: lambdas below use them (clang 14 cannot capture those).
        const uint64_t ino = file.first;
        HomeFile& hf = file.second;
        // Entries that lose n, in page order; then stored, or erased when empty and idle.
        std::vector<std::pair<PageIndex, DirEntry>> changed;
        hf.dir.for_each(kWholeFile, [&](PageIndex p, const DirEntry& e) {
            DirEntry next = e;
            next.sharers &= ~bit(n);
            if (next.owner == n) {
                next.owner = kNoNode;
            }
            if (next.owner != e.owner || next.sharers != e.sharers) {
                dir_step(ino, p, e, DirEvent::Forget, next);
                changed.emplace_back(p, next);
            }
        });
        for (const auto& [p, next] : changed) {
            hf.dir.put(p, next);
        }
        hf.dir.erase_if(kWholeFile, [&](PageIndex p, const DirEntry& e) {
            bool busy = false;
            for (uint64_t id : hf.active) {
                busy = busy || txns_.at(id).range.contains(p);
            }
            return e.owner == kNoNode && e.sharers == 0 && !busy;
        });
        std::erase_if(hf.waiting, [&](const Waiting& w) { return w.from == n; });
    }
    std::vector<uint64_t> done;
    for (auto& [id, t] : txns_) {
        t.pending.erase(n);
        if (t.requester == n) {
            t.requester_gone = true;
        }
        if (t.pending.empty()) {
            done.push_back(id);
        }
    }
    std::erase_if(syncs_, [&](const auto& kv) { return kv.second.requester == n; });
    peers_[n].session = 0;
    for (uint64_t id : done) {
        if (txns_.count(id) != 0) {
            finish_txn(id, now);
        }
    }
    for (auto& [ino, hf] : hfiles_) {
        try_admit(ino, now);
    }
}

void Engine::persist_home_state() {
    Effect e;
    e.kind = EffectKind::HomeState;
    e.nodes = dead_;
    out_.push_back(std::move(e));
}

void Engine::end_recovery(Time now) {
    notice(fmt::format("home n{} recovery over", cfg_.self));
    recovering_ = false;
    std::vector<uint64_t> inos;
    for (auto& [ino, hf] : hfiles_) {
        inos.push_back(ino);
    }
    for (uint64_t ino : inos) {
        try_admit(ino, now);
    }
}

void Engine::home_tick(Time now) {
    for (NodeId n = 0; n < kMaxNodes; ++n) {
        Peer& p = peers_[n];
        if (p.session != 0 && n != cfg_.self &&
            now - p.last_heard > cfg_.lease_us + cfg_.grace_us) {
            notice(fmt::format("home n{} declares n{} dead", cfg_.self, n));
            // Durable before anything of n's is given to another node (the adapter runs
            // effects in order): a later incarnation must not take n's pages back from it.
            dead_ |= bit(n);
            persist_home_state();
            forget_node(n, now);
        }
    }
    if (recovering_ && started_ && now >= recovery_deadline_) {
        end_recovery(now);
    }
}

}  // namespace vr::coherence
