// The coherence engine of one node: the home-side directory for the files this node exports and
// the node-side cache controller for every file it caches (its own included). A deterministic
// state machine: no syscalls, threads, clocks or randomness. Inputs are method calls (messages,
// ticks, local requests, completions of effects it asked for); outputs are Effects, collected
// with take_effects() and executed by the adapter strictly in order.
//
// The protocol is described in docs/design/protocol.md; the transitions it may take are the rows
// of coherence/table.h, and every transition is checked against them.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "coherence/dir_table.h"
#include "coherence/message.h"
#include "coherence/table.h"

namespace vr::coherence {

// Planted bugs for the simulator's mutation runs (tests that prove the checkers can fail).
// Always None in production.
enum class Mutation : uint8_t {
    None,
    SkipOneInvalidation,        // the home forgets to invalidate one sharer
    AckBeforeKernelInvalidate,  // a node acks Inv/Recall before the kernel dropped its copy
    ForgetWritebackOnEvict,     // evicting an M page sends PutS instead of PutM(data)
};

struct EngineConfig {
    NodeId self = 0;
    NodeMask members = 0;  // every node of the cluster, self included
    uint64_t node_incarnation = 1;
    uint64_t home_incarnation = 1;  // > 1 after a restart: the home recovers first
    // What the previous incarnation of this home left on disk (HomeState effects): its
    // incarnation (0: none known) and the nodes whose last session it declared dead. During
    // recovery only pages held under that incarnation, by nodes it had not declared dead, are
    // reclaimed: the others may have been given to another node since.
    uint64_t previous_home_incarnation = 0;
    NodeMask previous_dead = 0;
    uint32_t page_size = 4096;
    uint64_t cache_pages_max = 65536;
    Time lease_us = 2'000'000;
    Time grace_us = 1'000'000;
    Time request_timeout_us = 10'000'000;
    Time busy_backoff_us = 2'000;         // wait after a Busy refusal before asking that home again
    uint32_t inflight_per_home_max = 64;  // wire requests (GetS/GetM/Fsync) in flight per home
    uint32_t range_pages_max = 256;       // 1 MiB of 4 KiB pages
    uint32_t home_queue_max = 4096;       // waiting requests per exported file
    uint32_t local_requests_max = 4096;
    Mutation mutation = Mutation::None;
};

enum class ReadMode : uint8_t {
    KernelFill,  // a page-cache fill (FUSE READ): the kernel will hold the pages afterwards
    Direct,      // direct I/O or the native API: the kernel page cache is not involved
};

class Engine {
  public:
    explicit Engine(EngineConfig config);

    // Announces this home (incarnation) to every member with Hello.
    void start(Time now);

    void on_message(const Message& msg, Time now);
    void on_tick(Time now);
    // `invalidation` is the id of a KernelInvalidate effect (Effect::token).
    void on_kernel_invalidated(uint64_t invalidation, Time now);
    void on_store_synced(uint64_t token, Status status, Time now);
    // The link to `peer` lost messages (the transport gave up, or the peer restarted).
    void on_link_reset(NodeId peer, Time now);
    // The node gives up on `home` (unreachable, and on_unreachable = "error"): every local
    // request for its files still waiting completes now with `why`, as it would at its
    // deadline. A write may have applied some of its pages (protocol.md §2).
    void fail_requests(NodeId home, const Status& why);

    // Local requests. Each completes exactly once, by a ReadDone / WriteDone / FsyncDone effect.
    void read(uint64_t req, FileId file, Range range, ReadMode mode, Time now);
    // Writes are direct: the kernel's copy of the pages is dropped before the write applies, so
    // no reader on this node can see the write before the cluster has ordered it. (A FUSE
    // write through the page cache would expose it early; see docs/design/protocol.md §2.)
    void write(
        uint64_t req, FileId file, uint64_t byte_offset, std::vector<std::byte> bytes, Time now);
    void fsync(uint64_t req, FileId file, Time now);
    void evict(FileId file, Range range, Time now);
    // Evicts every S and M page this node caches (M pages are written back): for shutdown.
    void evict_all(Time now);

    std::vector<Effect> take_effects();

    // --- Introspection, for the simulator's checkers, `vremote pages` and tests. ---
    struct DirView {
        NodeId owner = kNoNode;
        NodeMask sharers = 0;
        bool busy = false;
    };
    PState page_state(FileId file, PageIndex page) const;
    PageBuf page_data(FileId file, PageIndex page) const;
    bool kernel_may_cache(FileId file, PageIndex page) const;
    // True when this node may serve the page from its cache right now (state and lease).
    bool can_read(FileId file, PageIndex page, Time now) const;
    bool lease_valid(NodeId home, Time now) const;
    // The incarnation of `home` this node last saw (its own for self; 0: never heard of it).
    uint64_t home_incarnation(NodeId home) const {
        return home == cfg_.self ? cfg_.home_incarnation : links_[home].incarnation;
    }
    DirView dir_entry(uint64_t ino, PageIndex page) const;
    // Pages of a file in the directory, with their entries (home side).
    std::vector<std::pair<PageIndex, DirView>> dir_pages(uint64_t ino) const;
    // Pages of a file cached on this node, with their states (node side).
    std::vector<std::pair<PageIndex, PState>> cached_pages(FileId file) const;
    // Memory of the home-side directory, counted from container sizes as glibc's malloc sizes
    // them. `bytes` covers the page tables and the per-file records; transactions and wait
    // queues (transient, bounded by home_queue_max per file) are counted apart.
    struct DirectoryStats {
        uint64_t files = 0;
        uint64_t tracked_pages = 0;
        uint64_t chunks = 0;
        uint64_t table_bytes = 0;      // the files' DirTables
        uint64_t bytes = 0;            // table_bytes + per-file records
        uint64_t transient_bytes = 0;  // active transactions, wait queues, pending syncs
    };
    DirectoryStats directory_stats() const;
    bool quiescent() const;
    bool recovering() const { return recovering_; }
    uint64_t cached_page_count() const { return page_count_; }
    const NodeId& self() const { return cfg_.self; }
    const std::vector<uint64_t>& node_row_hits() const { return node_row_hits_; }
    const std::vector<uint64_t>& dir_row_hits() const { return dir_row_hits_; }
    void set_trace(std::function<void(const std::string&)> fn) { trace_ = std::move(fn); }
    // Rare events an operator wants in the log (a lease ran out or came back, a node declared
    // dead, a home restarted, cached writes lost, recovery over). Also passed to the trace.
    void set_notice(std::function<void(const std::string&)> fn) { notice_ = std::move(fn); }
    // Remote input that breaks the protocol (a peer's bug or malice, never a race an honest
    // peer can cause) is dropped or refused, never trusted, and reported here with the peer and
    // what was wrong, for the operator's log. See "Protocol violations" in protocol.md.
    void set_violation_handler(std::function<void(NodeId, const std::string&)> fn) {
        violation_ = std::move(fn);
    }
    uint64_t violations() const { return violations_; }
    // How many times this node lost written data of `file` (it only grows). Each loss fails
    // the node's next fsync of the file; an adapter with several open files (the FUSE mount)
    // also tells every one that was open at the loss, at its own next fsync, as Linux does.
    uint64_t lost_count(FileId file) const {
        auto it = lost_counts_.find(file);
        return it == lost_counts_.end() ? 0 : it->second;
    }

  private:
    // ---------------- node side (cache controller) ----------------
    struct Page {
        PState state = PState::I;
        bool kernel_cached = false;
        bool referenced = false;  // CLOCK bit
        PageBuf data;
    };
    struct CachedFile {
        std::map<PageIndex, Page> pages;
        bool data_lost = false;  // reported by the next fsync on this node
    };
    enum class LinkState : uint8_t { None, Joining, Active };
    struct HomeLink {
        LinkState state = LinkState::None;
        uint64_t incarnation = 0;  // last incarnation seen from this home (0: never)
        uint64_t session = 0;
        Time lease_until = 0;
        Time join_sent = 0;
        Time renew_sent = 0;  // send time of the renewal in flight (0: none)
        Time last_renew_sent = 0;
        bool suspended = false;  // the lease ran out and the kernel's copies were dropped
        Time busy_until = 0;     // the home refused with Busy: no new requests before then
        uint32_t inflight = 0;
        std::vector<std::pair<FileId, std::pair<Range, std::vector<PageBuf>>>> reclaim;
        uint64_t reclaim_incarnation = 0;  // the home incarnation the reclaim pages were held under
        // Dirty data this node gave up (a RecallAck carrying M pages, or a Reclaim to a
        // restarted home) is no longer in its cache: if the session ends before the home is
        // known to have it, the write may be lost (a Reclaim, with a second crash of the home).
        // Messages sent to this home are numbered; `unconfirmed` holds, per file, the number of
        // the last such message, until a reply to any request sent after it (the link is FIFO)
        // confirms it.
        uint64_t sent_seq = 0;
        uint64_t renew_seq = 0;  // sent_seq of the renewal in flight
        std::map<FileId, uint64_t> unconfirmed;
        // After a reset, before rejoining, the node writes back (PutM, in the old session) the M
        // pages it put in `reclaim`: a home that still holds that session stores them and
        // answers PutAck, which takes them off `reclaim`. The old session while that goes on.
        uint64_t flush_session = 0;
    };
    enum class LocalKind : uint8_t { Read, Write, Fsync };
    struct LocalReq {
        LocalKind kind = LocalKind::Read;
        FileId file;
        Range range;
        Time deadline = 0;
        ReadMode read_mode = ReadMode::Direct;
        uint64_t byte_offset = 0;
        std::vector<std::byte> bytes;
        // Writes apply page by page: the pages of the range already applied.
        std::vector<bool> applied;
        uint64_t applied_count = 0;
        bool fsync_sent = false;
    };
    enum class WireKind : uint8_t { GetS, GetM, Fsync };
    struct WireReq {
        WireKind kind = WireKind::GetS;
        FileId file;
        Range range;
        uint64_t local = 0;  // the local request (fsync only)
        // HomeLink::sent_seq of the request: any reply proves that the home read everything
        // sent before it (FIFO), which confirms the dirty data given back before it.
        uint64_t seq = 0;
    };
    // Effects (messages to send, completions of direct writes) waiting for kernel
    // invalidations before they may happen.
    struct Held {
        Effect effect;
        std::set<uint64_t> tokens;
        // An eviction's Put: when it is released the page moves on (SI_K -> I, MI_K -> MI_A).
        bool evicts = false;
        FileId file;
        PageIndex page = 0;
        bool covers = false;  // counted in held_cover_
    };
    // One logical invalidation: the pages the kernel may still hold. It is done when every page
    // was either covered by a completed KernelInvalidate effect or proven empty by a page-cache
    // fill. Each KernelInvalidate effect covers one run of pages and has its own id.
    struct Token {
        FileId file;
        std::set<PageIndex> pages;
        std::map<uint64_t, Range> effects;  // invalidation id -> run, still running
    };

    CachedFile& cfile(FileId f) { return files_[f]; }
    Page* find_page(FileId f, PageIndex p);
    const Page* find_page(FileId f, PageIndex p) const;
    void set_state(FileId f, PageIndex p, Page& page, NodeEvent ev, PState next);
    void erase_page(FileId f, PageIndex p);
    uint64_t new_token(FileId f, Range r);
    // Invalidates what the kernel may hold of r and returns every token the kernel copies of
    // r wait for: the new one and any still pending from earlier steps.
    std::set<uint64_t> invalidate_kernel(FileId f, Range r);
    // token_pages_ upkeep: page p of file f left token id's pages.
    void unindex_token_page(FileId f, PageIndex p, uint64_t id);
    void uncover(const Held& h);
    // The pending tokens of file f with a page in r.
    std::set<uint64_t> tokens_within(FileId f, Range r) const;
    void issue_invalidations(uint64_t token, Token& t);
    void hold(Effect effect, std::set<uint64_t> tokens, const Held* eviction = nullptr);
    void hold_send(Message msg, std::set<uint64_t> tokens);
    // Every Send effect leaves through here (direct, or released from held_): numbers the
    // messages to each home and notes dirty data given up (HomeLink::unconfirmed).
    void note_sent(const Message& msg);
    // The session with `home` ends: data given back whose arrival is not confirmed (noted, or in
    // a RecallAck still held) is marked lost.
    void mark_given_back_lost(NodeId home);
    // A PutAck of the old session for the write-back of a reset (HomeLink::flush_session).
    void on_flush_ack(const Message& m);
    // The home has read every message sent to it before the one numbered `seq`.
    void confirm_sent_before(NodeId home, uint64_t seq);
    // Written data of `f` was lost: the next fsync fails, and lost_count grows.
    void mark_data_lost(FileId f);
    void release_ready_held();
    void complete_token(uint64_t token);
    void prove_kernel_empty(FileId f, Range r);
    void send_to_home(Message msg, Time now);
    bool ensure_link(NodeId home, Time now);
    void pump(FileId f, Time now);
    void pump_home(NodeId home, Time now);
    bool try_read(uint64_t id, LocalReq& r, Time now);
    bool try_write(uint64_t id, LocalReq& r, Time now);
    bool try_fsync(uint64_t id, LocalReq& r, Time now);
    void issue_runs(FileId f, Range r, bool exclusive, Time now);
    Effect make_done(uint64_t id, Status st, std::vector<PageBuf> pages = {});
    void finish_local(uint64_t id, Status st, std::vector<PageBuf> pages = {});
    void apply_write_page(LocalReq& r, PageIndex p);
    void enforce_capacity(Time now);
    void evict_page(FileId f, PageIndex p, Page& page, std::vector<Message>& puts_now, Time now);
    void node_on_message(const Message& m, Time now);
    void on_join_ack(const Message& m, Time now);
    void on_grant(const Message& m, Time now);
    void on_inv(const Message& m, Time now);
    void on_recall(const Message& m, Time now);
    void on_put_ack(const Message& m, Time now);
    void on_nack(const Message& m, Time now);
    void on_stale_or_hello(const Message& m, Time now);
    // `forgotten`: the home said it does not know our session (Stale, same incarnation): it
    // declared us dead, so what we held in it can never be written back or reclaimed.
    void drop_home(NodeId home, Time now, bool forgotten = false);
    void suspend_home(NodeId home, Time now);
    void node_tick(Time now);

    // ---------------- home side (directory) ----------------
    enum class TxnKind : uint8_t { GetS, GetM, Flush };
    struct Waiting {
        TxnKind kind = TxnKind::GetS;
        NodeId from = kNoNode;
        uint64_t session = 0;
        uint64_t req = 0;
        Range range;
    };
    struct Txn {
        TxnKind kind = TxnKind::GetS;
        NodeId requester = kNoNode;
        uint64_t session = 0;
        uint64_t req = 0;
        uint64_t ino = 0;
        Range range;
        std::map<NodeId, int> pending;  // outstanding acks per node
        // The Recall runs each node has yet to answer (an answer must name one exactly; the
        // rest of `pending` are Invs).
        std::map<NodeId, std::vector<Range>> recalls;
        bool requester_gone = false;
        bool requester_shared_all = true;  // GetM: requester shared every page (no data needed)
    };
    struct HomeFile {
        DirTable dir;
        std::vector<uint64_t> active;  // transaction ids
        std::deque<Waiting> waiting;
    };
    struct Peer {
        uint64_t node_incarnation = 0;
        uint64_t session = 0;  // 0: no session
        Time last_heard = 0;
        bool recovered = false;
    };
    struct PendingSync {
        NodeId requester = kNoNode;
        uint64_t session = 0;
        uint64_t req = 0;
    };

    void home_on_message(const Message& m, Time now);
    bool session_ok(const Message& m) const;
    void reply(const Message& to, MsgType type, Message msg);
    void on_join(const Message& m, Time now);
    void on_request(const Message& m, Time now);
    void on_put_s(const Message& m);
    void on_put_m(const Message& m);
    void on_ack(const Message& m, Time now);
    void on_reclaim(const Message& m);
    void persist_home_state();
    void try_admit(uint64_t ino, Time now);
    void start_txn(uint64_t ino, const Waiting& w, Time now);
    void finish_txn(uint64_t id, Time now);
    void forget_node(NodeId n, Time now);
    void home_tick(Time now);
    void end_recovery(Time now);
    // Checks the transition e --ev--> next against the table and traces it; the caller stores it.
    void dir_step(uint64_t ino, PageIndex p, const DirEntry& e, DirEvent ev, const DirEntry& next);
    static DState dstate(const DirEntry& e);
    void store_write(uint64_t ino, Range r, std::vector<PageBuf> pages);

    void emit_send(Message msg);
    void trace(const std::string& line);
    void notice(const std::string& line);
    void violation(NodeId from, const std::string& what);

    EngineConfig cfg_;
    std::vector<Effect> out_;
    std::function<void(const std::string&)> trace_;
    std::function<void(const std::string&)> notice_;
    std::function<void(NodeId, const std::string&)> violation_;
    uint64_t violations_ = 0;
    std::vector<uint64_t> node_row_hits_;
    std::vector<uint64_t> dir_row_hits_;
    uint64_t next_token_ = 1;
    uint64_t next_wire_ = 1;
    uint64_t next_txn_ = 1;
    uint64_t next_session_ = 1;

    // node side
    std::map<FileId, CachedFile> files_;
    uint64_t page_count_ = 0;
    uint64_t evicting_count_ = 0;  // pages in SI_K, MI_K or MI_A: already being evicted
    static bool evicting(PState s) {
        return s == PState::SI_K || s == PState::MI_K || s == PState::MI_A;
    }
    std::deque<std::pair<FileId, PageIndex>> clock_;
    std::array<HomeLink, kMaxNodes> links_{};
    std::map<uint64_t, LocalReq> local_;
    std::map<uint64_t, WireReq> wire_;
    std::map<uint64_t, Held> held_;  // by id: in creation order
    uint64_t next_held_ = 1;
    // Indexes, so that evicting n pages costs O(n log n), not O(n^2): the held effects each
    // token holds back, the held effects ready to go, and each file's pages in pending tokens.
    std::map<uint64_t, std::set<uint64_t>> held_by_token_;
    std::set<uint64_t> held_ready_;
    std::map<std::pair<FileId, PageIndex>, uint32_t> held_cover_;  // pages held sends cover
    std::map<FileId, std::multimap<PageIndex, uint64_t>> token_pages_;
    std::map<uint64_t, Token> tokens_;
    std::map<uint64_t, uint64_t> invalidations_;  // invalidation id -> token
    uint64_t next_invalidation_ = 1;

    // home side
    std::map<uint64_t, HomeFile> hfiles_;
    std::map<uint64_t, Txn> txns_;
    std::array<Peer, kMaxNodes> peers_{};
    std::map<uint64_t, PendingSync> syncs_;
    std::map<FileId, uint64_t> lost_counts_;  // node side: lost_count()
    bool recovering_ = false;
    NodeMask dead_ = 0;       // nodes whose last session this incarnation declared dead (persisted)
    bool admitting_ = false;  // try_admit is running: nested calls leave the work to it
    Time recovery_deadline_ = 0;
    bool started_ = false;
};

}  // namespace vr::coherence
