// FuseFrontEnd: the node's FUSE mount (libfuse3, low-level API). The mount shows the cluster
// namespace as MOUNT/<volume>/<path>; every access, the origin node's own included, goes through
// the coherence engine, and the node's kernel page cache holds the data (keep_cache).
//
// Threads. The /dev/fuse fd is served on the node's event loop: requests are read and handled
// there and answered from there when the engine completes them, so a request costs no thread
// hand-off. Kernel invalidations (fuse_lowlevel_notify_inval_inode/_entry) block while the kernel
// holds the pages or the directory they concern, possibly for a request the loop is serving, so
// they run on a pool of notifier threads that never wait on FUSE requests.
//
// Coherence rules (docs/design/fuse.md):
//   * read-only opens keep the page cache (keep_cache); page-cache fills are KernelFill reads,
//     which prove the kernel holds no copy of those pages;
//   * writable opens are direct I/O: a write through the page cache would be visible on this node
//     before the cluster ordered it (protocol.md §2);
//   * attributes and entries are cached with long timeouts and invalidated by their home before
//     any change is acknowledged; negative entries are not cached;
//   * flush (close), fsync and fdatasync of a file written through the handle make it durable.
#pragma once

#include <sys/stat.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "node/node.h"
#include "runtime/event_loop.h"

struct fuse_session;
struct fuse_buf;

namespace vr::fuse {

struct FuseOptions {
    std::string mountpoint;
    double attr_timeout_s = 3600;  // the home invalidates; the timeout is only a backstop
    double entry_timeout_s = 3600;
    int notifier_threads = 4;
    size_t dir_entries_max = 1 << 20;  // entries of one directory listing held per open
};

struct FuseStats {
    uint64_t requests = 0;
    uint64_t reads = 0;  // FUSE READ requests (a cached re-read makes none)
    uint64_t writes = 0;
    uint64_t lookups = 0;
    uint64_t notifications = 0;
};

class FuseFrontEnd final : public node::KernelCache {
  public:
    FuseFrontEnd(runtime::EventLoop& loop, node::Node& node, FuseOptions options);
    ~FuseFrontEnd() override;
    FuseFrontEnd(const FuseFrontEnd&) = delete;
    FuseFrontEnd& operator=(const FuseFrontEnd&) = delete;

    // Mounts and starts serving on the loop. Fails if the mountpoint is not an empty directory
    // we may mount on.
    Status mount();
    // Unmounts (the kernel forgets every inode); pending requests are answered EIO.
    void unmount();
    const FuseStats& stats() const { return stats_; }

    // node::KernelCache
    void invalidate(coherence::FileId file,
                    coherence::Range range,
                    std::function<void()> done) override;
    void invalidate_attr(coherence::FileId file, std::function<void()> done) override;
    void invalidate_entry(coherence::FileId dir,
                          std::string name,
                          std::function<void()> done) override;
    void home_lost(coherence::NodeId home) override;

    // Request handlers, called by the libfuse trampolines (public for them only).
    struct Ops;

  private:
    friend struct Ops;
    struct Inode {
        uint64_t nodeid = 0;
        coherence::FileId file;
        uint16_t volume = 0;  // export index at the home
        bool dir = false;
        uint64_t nlookup = 0;
        uint64_t parent = 0;  // nodeid of the directory it was last looked up in
        std::string name;     // and its name there
    };
    struct Handle {
        coherence::FileId file;
        bool direct = false;  // writable opens are direct I/O
        bool wrote = false;   // flush and release make the writes durable
        std::vector<std::pair<std::string, struct stat>> entries;  // directories: the listing
        // The node's lost_count of the file when this handle last learned of losses (at open,
        // then at each fsync): a loss after it fails this handle's next fsync too (errseq).
        uint64_t lost_seen = 0;
    };
    struct Job {
        uint64_t nodeid = 0;
        int64_t off = 0;  // < 0: attributes only
        int64_t len = 0;
        std::string name;  // entry invalidation when not empty
        std::function<void()> done;
    };

    void on_readable();
    void raise_readahead();
    void notifier();
    void enqueue(Job job);
    Inode* inode(uint64_t nodeid);
    Inode& remember(coherence::FileId file,
                    uint16_t volume,
                    bool dir,
                    uint64_t parent,
                    const std::string& name);
    void forget(uint64_t nodeid, uint64_t n);
    struct stat to_stat(uint64_t nodeid, const wire::MetaAttr& a) const;
    struct stat root_stat() const;

    runtime::EventLoop& loop_;
    node::Node& node_;
    FuseOptions opt_;
    struct fuse_session* se_ = nullptr;
    std::unique_ptr<struct fuse_buf> buf_;
    int fd_ = -1;
    bool mounted_ = false;
    FuseStats stats_;

    // Loop thread only.
    uint64_t next_nodeid_ = 2;  // 1 is the mount root
    std::map<uint64_t, Inode> inodes_;
    std::map<coherence::FileId, uint64_t> by_file_;
    uint64_t next_handle_ = 1;
    std::map<uint64_t, Handle> handles_;

    // Notifier threads.
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;  // guarded by mu_
    bool stop_ = false;     // guarded by mu_
    int running_ = 0;       // notifier threads not yet returned; guarded by mu_
    std::vector<std::thread> notifiers_;
};

}  // namespace vr::fuse
