#include "runtime/event_loop.h"

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace vr::runtime {

namespace {
constexpr int kLocalRounds = 64;
}  // namespace

int64_t monotonic_us() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

EventLoop::EventLoop(size_t posted_max) : posted_max_(posted_max) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    VR_ASSERT(epfd_ >= 0, "epoll_create1: {}", std::strerror(errno));
    wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    VR_ASSERT(wakefd_ >= 0, "eventfd: {}", std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakefd_;
    VR_ASSERT(
        epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) == 0, "epoll_ctl: {}", std::strerror(errno));
}

EventLoop::~EventLoop() {
    close(wakefd_);
    close(epfd_);
}

Status EventLoop::add(int fd, uint32_t events, IoCallback cb) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return Status(Code::IoError, fmt::format("epoll add fd {}: {}", fd, std::strerror(errno)));
    }
    fds_[fd] = std::move(cb);
    return Status::ok();
}

Status EventLoop::modify(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
        return Status(Code::IoError, fmt::format("epoll mod fd {}: {}", fd, std::strerror(errno)));
    }
    return Status::ok();
}

void EventLoop::remove(int fd) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    fds_.erase(fd);
}

uint64_t EventLoop::add_timer(int64_t at_us, Task task) {
    uint64_t id = next_timer_++;
    timers_.emplace(id, std::move(task));
    timer_heap_.push(Timer{at_us, id});
    return id;
}

void EventLoop::cancel_timer(uint64_t id) {
    timers_.erase(id);
}

bool EventLoop::post(Task task) {
    if (on_loop_thread()) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (closed_) {
                return false;
            }
        }
        local_.push_back(std::move(task));
        return true;
    }
    {
        std::unique_lock<std::mutex> lock(mu_);
        not_full_.wait(lock, [&] { return closed_ || posted_.size() < posted_max_; });
        if (closed_) {
            return false;
        }
        posted_.push_back(std::move(task));
    }
    uint64_t one = 1;
    ssize_t n = write(wakefd_, &one, sizeof one);
    (void)n;  // a full eventfd counter still wakes the loop
    return true;
}

void EventLoop::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    not_full_.notify_all();
    uint64_t one = 1;
    ssize_t n = write(wakefd_, &one, sizeof one);
    (void)n;
}

void EventLoop::shutdown() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        closed_ = true;
    }
    stop();
}

bool EventLoop::on_loop_thread() const {
    return std::this_thread::get_id() == loop_thread_.load(std::memory_order_relaxed);
}

void EventLoop::run_local(int rounds) {
    for (int i = 0; i < rounds && !local_.empty(); ++i) {
        std::deque<Task> batch;
        batch.swap(local_);
        for (Task& t : batch) {
            t();
        }
    }
}

void EventLoop::drain_posted() {
    uint64_t count = 0;
    ssize_t n = read(wakefd_, &count, sizeof count);
    (void)n;
    std::deque<Task> batch;
    {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(posted_);
    }
    not_full_.notify_all();
    for (Task& t : batch) {
        t();
    }
}

int64_t EventLoop::next_timeout_ms() const {
    if (timer_heap_.empty()) {
        return 1000;
    }
    int64_t wait_us = timer_heap_.top().at - monotonic_us();
    if (wait_us <= 0) {
        return 0;
    }
    return std::min<int64_t>((wait_us + 999) / 1000, 1000);
}

void EventLoop::run_due_timers() {
    int64_t now = monotonic_us();
    while (!timer_heap_.empty() && timer_heap_.top().at <= now) {
        Timer t = timer_heap_.top();
        timer_heap_.pop();
        auto it = timers_.find(t.id);
        if (it == timers_.end()) {
            continue;  // cancelled
        }
        Task task = std::move(it->second);
        timers_.erase(it);
        task();
    }
}

Status EventLoop::run() {
    loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    std::vector<epoll_event> events(256);
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stopping_) {
                stopping_ = false;  // a later run() runs again
                break;
            }
        }
        // Tasks the loop posted to itself run before it waits again (a request served at home
        // passes a few messages to itself this way); if they keep posting, the wait becomes a
        // poll, so that fds and timers get their turn too.
        run_local(kLocalRounds);
        int n = epoll_wait(epfd_,
                           events.data(),
                           static_cast<int>(events.size()),
                           local_.empty() ? static_cast<int>(next_timeout_ms()) : 0);
        if (n < 0 && errno != EINTR) {
            return Status(Code::IoError, fmt::format("epoll_wait: {}", std::strerror(errno)));
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[static_cast<size_t>(i)].data.fd;
            if (fd == wakefd_) {
                drain_posted();
                continue;
            }
            auto it = fds_.find(fd);
            if (it != fds_.end()) {
                IoCallback cb = it->second;  // the callback may remove itself
                cb(events[static_cast<size_t>(i)].events);
            }
        }
        run_due_timers();
    }
    // Run what was posted before the stop so that no waiter is left hanging.
    drain_posted();
    run_local(kLocalRounds);
    return Status::ok();
}

}  // namespace vr::runtime
