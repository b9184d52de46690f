// Node: the composition root of one vremoted. It owns the coherence engine, the origin stores
// of this node's exports, the transport to the peers, and the effect executor that connects
// them, and it offers the operations the local front ends (the native client socket, the FUSE
// mount) are built from. Everything runs on one event loop thread, which owns all of this state;
// the only other threads are the sync worker (fdatasync) and the kernel-invalidation notifiers
// of the FUSE front end, and they talk to the loop only by posting to it.
//
// Effects are executed strictly in the order the engine emitted them (effects of a nested
// engine call wait for the batch in progress). Kernel invalidations and store syncs complete
// asynchronously and are fed back into the engine.
//
// Metadata (open, stat, create, truncate, ...) is served by the home of the volume: the node
// calls meta(), which runs the request against the local store when the volume is ours and
// sends a MetaRequest otherwise. File sizes belong to the home. A write first asks the home to
// extend the file to cover it (Extend), on the same FIFO link and before the engine's GetM, so
// the home's store has grown before any write-back of the data arrives. A read clips to the
// file's size: the one this node holds as a registered holder of the file's attributes (see
// held_sizes_), else the size the home answers to a GetAttr sent alongside the page fetch. A
// truncate at the home first
// takes every tracked page past the new end to M at the home with zeros (which invalidates every
// other copy), then shrinks the file.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "coherence/engine.h"
#include "config/config.h"
#include "net/transport.h"
#include "runtime/event_loop.h"
#include "store/export.h"
#include "wire/client.h"
#include "wire/meta.h"

namespace vr::node {

class SyncWorker;

struct VolumeRef {
    std::string name;
    coherence::NodeId node = coherence::kNoNode;
    uint16_t index = 0;
    bool read_only = false;
    uint64_t root_ino = 0;
};

// The bytes of a read: `length` bytes starting `offset` bytes into the pages' concatenation.
struct ReadResult {
    std::vector<coherence::PageBuf> pages;
    uint64_t offset = 0;
    uint64_t length = 0;
};

// The kernel page cache of this node, as the FUSE front end drives it. invalidate() must drop
// the kernel's copy of the pages and then call done() (from any thread); it must never wait for
// a FUSE request. Without a mount, the kernel holds nothing and the default completes at once.
class KernelCache {
  public:
    virtual ~KernelCache() = default;
    virtual void invalidate(coherence::FileId file,
                            coherence::Range range,
                            std::function<void()> done) = 0;
    // Metadata the kernel caches (attributes, directory entries), invalidated on the home's
    // request before a change is acknowledged. Same rules as invalidate().
    virtual void invalidate_attr(coherence::FileId file, std::function<void()> done) = 0;
    virtual void invalidate_entry(coherence::FileId dir,
                                  std::string name,
                                  std::function<void()> done) = 0;
    // This node lost `home` (the link went down): drop every attribute and entry of its files
    // the kernel caches, since its invalidations can no longer reach us. Fire and forget.
    virtual void home_lost(coherence::NodeId home) = 0;
};

class Node {
  public:
    static Result<std::unique_ptr<Node>> create(const config::NodeConfig& config,
                                                runtime::EventLoop& loop);
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // Opens the exports and starts the transport and the engine's tick.
    Status start();
    // Writes back every M page (bounded by the request timeout), then calls done on the loop.
    void shutdown(std::function<void()> done);

    coherence::NodeId self() const { return self_; }
    const std::string& name() const { return cfg_.node.name; }
    const config::NodeConfig& config() const { return cfg_; }
    uint32_t page_size() const { return page_size_; }

    // "volume/rel/path" -> the volume and the export-relative path ("" for the volume root).
    Result<std::pair<VolumeRef, std::string>> resolve(std::string_view path) const;
    Result<VolumeRef> volume_of(coherence::FileId file) const;
    std::vector<VolumeRef> volumes() const;

    using MetaCb = std::function<void(wire::MetaReply)>;
    // Runs a metadata request at `home`; cb runs exactly once, on the loop (possibly before
    // meta() returns when home is this node).
    void meta(coherence::NodeId home, wire::MetaRequest req, MetaCb cb);

    using ReadCb = std::function<void(Result<ReadResult>)>;
    using DoneCb = std::function<void(Status)>;
    // Reads up to `length` bytes at `offset`, clipped to the file's size at the home.
    void read(coherence::FileId file,
              uint64_t offset,
              uint64_t length,
              coherence::ReadMode mode,
              ReadCb cb);
    void write(coherence::FileId file, uint64_t offset, std::vector<std::byte> data, DoneCb cb);
    void fsync(coherence::FileId file, DoneCb cb);

    // One character per page from `first` (M, S, I; lower case m/s for a page on its way to
    // that state, and e for one being evicted).
    std::string page_states(coherence::FileId file, uint64_t first, uint64_t count) const;
    std::vector<wire::Counter> counters() const;
    std::vector<wire::NodeStatus> status() const;
    std::string metrics_text() const;  // Prometheus text format

    void set_kernel_cache(KernelCache* cache) { kernel_ = cache; }
    // More counters for `vremote stats` and the metrics endpoint (the FUSE front end's).
    void set_counter_source(std::function<void(std::vector<wire::Counter>&)> source) {
        counter_source_ = std::move(source);
    }
    const coherence::Engine& engine() const { return engine_; }

  private:
    Node(const config::NodeConfig& config,
         runtime::EventLoop& loop,
         std::vector<std::string> names,
         const coherence::EngineConfig& ec);

    struct Counters;
    // A metadata request to a peer. It waits (unsent) while the link is down but the peer not
    // yet unreachable; one that only reads (and so may run twice) is sent again over the new
    // connection if the link resets before the reply.
    struct Rpc {
        coherence::NodeId peer = coherence::kNoNode;
        int64_t deadline = 0;
        MetaCb cb;
        wire::MetaRequest req;
        bool sent = false;
    };

    int64_t now() const;
    void drain();
    void execute(coherence::Effect& e);
    void send(coherence::Message msg);
    void send_from_store(coherence::Message msg);
    void tick();
    void on_message(const coherence::Message& m);
    void on_link_reset(coherence::NodeId peer);
    void on_volumes(coherence::NodeId peer, wire::VolumesMsg msg);
    void on_meta_request(coherence::NodeId peer, uint64_t id, wire::MetaRequest req);
    void on_meta_reply(coherence::NodeId peer, uint64_t id, wire::MetaReply reply);
    // Sends the peer's unsent metadata requests while its link takes them.
    void send_waiting_rpcs(coherence::NodeId peer);
    bool unreachable(coherence::NodeId peer) const;
    void note_size(coherence::FileId file, uint64_t size);
    // Keeps held_sizes_ true: what a metadata reply from `home` tells about a file's size.
    void note_attr_reply(coherence::NodeId home, wire::MetaOp op, const wire::MetaReply& r);
    void drop_held_sizes(coherence::NodeId home);
    // With on_unreachable = "error", requests for a home whose link is down fail at once.
    Status check_reachable(coherence::NodeId home) const;
    void engine_read(coherence::FileId file,
                     coherence::Range range,
                     coherence::ReadMode mode,
                     std::function<void(Result<std::vector<coherence::PageBuf>>)> cb);

    // Home side.
    struct Inval {
        uint64_t ino = 0;  // the file (attributes) or the directory (entry)
        std::string name;  // the entry's name
        bool entry = false;
    };
    static bool path_op(wire::MetaOp op);
    void begin_entry_op(coherence::NodeId from, uint64_t dir, uint64_t dir2);
    void end_entry_op(coherence::NodeId from, uint64_t dir, uint64_t dir2);
    // Invalidates at every holder but `except` (which gets the new state in its reply), then
    // calls done. A holder that does not answer is waited for until its lease has run out.
    void invalidate_holders(std::vector<Inval> invals,
                            coherence::NodeId except,
                            std::function<void()> done);
    void exec_meta(coherence::NodeId from, wire::MetaRequest req, MetaCb cb);
    void truncate_at_home(uint64_t ino, uint64_t size, MetaCb cb);
    Result<store::Export*> export_at(uint16_t index);
    wire::MetaReply attr_reply(uint16_t index, const Result<store::Attr>& attr);

    uint64_t new_req() { return next_req_++; }

    config::NodeConfig cfg_;
    runtime::EventLoop& loop_;
    coherence::NodeId self_ = coherence::kNoNode;
    std::vector<std::string> names_;  // by NodeId
    uint32_t page_size_ = 4096;
    coherence::Engine engine_;
    std::unique_ptr<net::Transport> transport_;
    std::vector<std::unique_ptr<store::Export>> exports_;
    std::unique_ptr<SyncWorker> sync_;
    KernelCache* kernel_ = nullptr;
    bool skip_kernel_invalidation_ = false;  // test.fault: a planted bug
    std::string home_state_path_;            // data_dir/home-state (home_state.h)
    std::function<void(std::vector<wire::Counter>&)> counter_source_;

    std::map<std::string, VolumeRef, std::less<>> volumes_;
    std::map<std::pair<coherence::NodeId, uint16_t>, std::string> volume_names_;

    bool draining_ = false;
    uint64_t next_req_ = 1;
    std::map<uint64_t, ReadCb> reads_;
    std::map<uint64_t, DoneCb> writes_;
    std::map<uint64_t, DoneCb> fsyncs_;
    uint64_t next_rpc_ = 1;
    std::map<uint64_t, Rpc> rpcs_;
    // Of rpcs_, those waiting for their link, by peer, and in all (at most kRpcsUnsentMax).
    std::map<coherence::NodeId, size_t> unsent_of_;
    size_t rpcs_unsent_ = 0;
    static constexpr size_t kRpcsUnsentMax = 4096;
    void count_unsent(coherence::NodeId peer, bool more);
    // Home side: the nodes whose kernels may cache a file's attributes, or a directory's
    // entries (engine inos of this node's exports).
    std::map<uint64_t, coherence::NodeMask> attr_holders_;
    std::map<uint64_t, coherence::NodeMask> entry_holders_;
    // Directories with an unlink/rmdir/rename in progress here, by requester (a multiset: one
    // entry per operation).
    std::map<uint64_t, std::multiset<coherence::NodeId>> entry_ops_;
    // Entry invalidations this home waits for, by (directory, node). When that node's own entry
    // operation in the directory arrives, its kernel holds the directory's lock, so the wait is
    // released at once (begin_entry_op); see fuse.md "Metadata".
    std::map<std::pair<uint64_t, coherence::NodeId>, std::map<uint64_t, std::function<void()>>>
        entry_waits_;
    uint64_t next_entry_wait_ = 1;
    std::vector<net::LinkState> link_states_;  // last seen, per peer, to notice losses
    // Files being truncated at this home: requests that must wait for the truncation.
    std::map<uint64_t, std::vector<std::function<void()>>> truncating_;
    // The last size each file was known to have: reads fetch only the pages below it, and
    // whatever the home's answer shows is missing right after (see read()).
    static constexpr size_t kSizeHintsMax = 65536;
    std::map<coherence::FileId, uint64_t> size_hints_;
    // The sizes of the files whose attributes this node holds at their home: the home has this
    // node in the file's attribute holders and invalidates it (InvalAttr, or a local
    // invalidate_holders) before it acknowledges any size change, so a read may clip to these
    // without asking. An entry is made only from the answer to a request the home answers at
    // once, holder registration included (Lookup, GetAttr, GetAttrPath, Create): that answer
    // leaves the home before the invalidation of any later change, on the same FIFO link. It is
    // dropped by that invalidation, by any other answer about the file (an Extend, Truncate or
    // SetAttr answer may be older than an invalidation that came first), and with everything of
    // its home when the link to the home goes down or is reset (the home then waits out our
    // lease before it acknowledges a change, as for the kernel's attributes). Dropping an entry
    // is always safe: the next read asks the home again.
    static constexpr size_t kHeldSizesMax = 65536;
    std::map<coherence::FileId, uint64_t> held_sizes_;
    uint64_t tick_timer_ = 0;
    bool stopping_ = false;
    std::unique_ptr<Counters> counters_;
};

}  // namespace vr::node
