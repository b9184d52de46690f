#include "node/sync_worker.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vr::node {

SyncWorker::SyncWorker(runtime::EventLoop& loop, size_t queue_max)
    : loop_(loop), queue_max_(queue_max), thread_([this] { run(); }) {}

SyncWorker::~SyncWorker() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

Status SyncWorker::submit(store::UniqueFd fd, Done done) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) {
            return Status(Code::Cancelled, "the sync worker is stopping");
        }
        if (jobs_.size() >= queue_max_) {
            return Status(Code::Busy, "too many syncs queued");
        }
        jobs_.push_back(Job{std::move(fd), std::move(done)});
    }
    cv_.notify_one();
    return Status::ok();
}

void SyncWorker::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) {
                return;  // stopping, and nothing left
            }
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        Status st;
        if (::fdatasync(job.fd.get()) != 0) {
            int err = errno;
            st = Status(err == ENOSPC || err == EDQUOT ? Code::NoSpace : Code::IoError,
                        fmt::format("fdatasync: {}", std::strerror(err)));
        }
        job.fd.reset();
        // The loop may already be shut down at exit; the job is then abandoned with it.
        (void)loop_.post([done = std::move(job.done), st] { done(st); });
    }
}

}  // namespace vr::node
