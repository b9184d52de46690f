// EventLoop: the one owner thread of a node. It multiplexes file descriptors with epoll, runs
// one-shot timers, and accepts work posted from other threads (FUSE workers, the notifier and
// store threads) through a bounded queue woken by an eventfd. Everything registered with the
// loop runs on the loop thread; only post() and stop() may be called from other threads.
// A task the loop thread posts to itself (a message a node sends to itself, a completion that
// is ready at once) takes no eventfd round trip: it is queued locally and runs once the
// callback that posted it has returned, before the loop waits again.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "base/status.h"

namespace vr::runtime {

// Microseconds of CLOCK_MONOTONIC.
int64_t monotonic_us();

class EventLoop {
  public:
    using IoCallback = std::function<void(uint32_t epoll_events)>;
    using Task = std::function<void()>;

    explicit EventLoop(size_t posted_max = 65536);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    Status add(int fd, uint32_t events, IoCallback cb);
    Status modify(int fd, uint32_t events);
    void remove(int fd);

    // One-shot timer at an absolute monotonic time; returns an id for cancel_timer.
    uint64_t add_timer(int64_t at_us, Task task);
    void cancel_timer(uint64_t id);

    // Thread-safe. Blocks while the queue is full (back-pressure on the posting thread) unless
    // the loop was shut down, in which case the task is dropped and false is returned. On the
    // loop thread it never blocks (nothing could empty the queue while it waited): the task
    // runs after the current callback returns, in posting order with the loop thread's other
    // posts.
    bool post(Task task);

    // Runs until stop(). Returns the first error of epoll_wait other than EINTR. May be called
    // again after it returned.
    Status run();
    // Thread-safe: makes the current (or next) run() return after this iteration.
    void stop();
    // Thread-safe and final: stops the loop and refuses further posts, waking blocked posters.
    void shutdown();
    bool on_loop_thread() const;

  private:
    void drain_posted();
    // Runs the tasks the loop thread posted to itself, and those these post, for at most
    // `rounds` rounds.
    void run_local(int rounds);
    int64_t next_timeout_ms() const;
    void run_due_timers();

    int epfd_ = -1;
    int wakefd_ = -1;
    std::map<int, IoCallback> fds_;  // fd -> callback, loop thread only
    struct Timer {
        int64_t at;
        uint64_t id;
        bool operator>(const Timer& o) const { return at != o.at ? at > o.at : id > o.id; }
    };
    std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timer_heap_;
    std::map<uint64_t, Task> timers_;  // live timers by id; cancelled ones are erased here
    uint64_t next_timer_ = 1;

    // Guards posted_ and stopping_. Lock order: taken alone, never while calling a task.
    std::mutex mu_;
    std::condition_variable not_full_;
    std::deque<Task> posted_;
    size_t posted_max_;
    bool stopping_ = false;  // run() should return
    bool closed_ = false;    // shutdown(): post() refuses
    // Set by run(); read by post() on any thread.
    std::atomic<std::thread::id> loop_thread_{};
    // Tasks the loop thread posted to itself: loop thread only. Not bounded by posted_max_:
    // they come from the loop's own work, which the bounded queue and the fds already pace.
    std::deque<Task> local_;
};

}  // namespace vr::runtime
