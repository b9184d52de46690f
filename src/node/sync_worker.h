// SyncWorker: runs fdatasync off the event loop. A sync takes milliseconds on a real disk, and
// the loop must keep serving coherence traffic meanwhile. Jobs queue in a bounded FIFO (beyond
// it submit() fails with Busy and the caller reports the error); each job's outcome is posted
// back to the loop. One thread: syncs of one disk do not get faster in parallel.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "base/status.h"
#include "runtime/event_loop.h"
#include "store/posix.h"

namespace vr::node {

class SyncWorker {
  public:
    using Done = std::function<void(Status)>;

    SyncWorker(runtime::EventLoop& loop, size_t queue_max = 4096);
    ~SyncWorker();  // finishes the queued jobs, then joins
    SyncWorker(const SyncWorker&) = delete;
    SyncWorker& operator=(const SyncWorker&) = delete;

    // fdatasync(fd), then done(status) on the loop thread.
    Status submit(store::UniqueFd fd, Done done);

  private:
    struct Job {
        store::UniqueFd fd;
        Done done;
    };
    void run();

    runtime::EventLoop& loop_;
    size_t queue_max_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;  // guarded by mu_
    bool stop_ = false;     // guarded by mu_
    std::thread thread_;
};

}  // namespace vr::node
