// EventLoop: timers fire in order and can be cancelled; posted tasks from other threads run on
// the loop thread, and those the loop posts to itself after the posting callback; fd readiness
// is delivered; stop() ends run() and drains posted work.
#include "runtime/event_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace vr::runtime {
namespace {

TEST(EventLoop, TimersFireInOrderAndCancelledOnesDoNot) {
    EventLoop loop;
    std::vector<int> fired;
    int64_t t0 = monotonic_us();
    loop.add_timer(t0 + 3000, [&] { fired.push_back(3); });
    loop.add_timer(t0 + 1000, [&] { fired.push_back(1); });
    uint64_t cancelled = loop.add_timer(t0 + 2000, [&] { fired.push_back(2); });
    loop.cancel_timer(cancelled);
    loop.add_timer(t0 + 4000, [&] { loop.stop(); });
    ASSERT_TRUE(loop.run().is_ok());
    EXPECT_EQ(fired, (std::vector<int>{1, 3}));
}

TEST(EventLoop, PostedTasksRunOnTheLoopThread) {
    EventLoop loop(/*posted_max=*/4);
    std::atomic<int> ran{0};
    std::atomic<bool> all_on_loop{true};
    std::thread producer([&] {
        for (int i = 0; i < 100; ++i) {
            loop.post([&] {
                all_on_loop = all_on_loop && loop.on_loop_thread();
                ++ran;
            });
        }
        loop.post([&] { loop.stop(); });
    });
    ASSERT_TRUE(loop.run().is_ok());
    producer.join();
    EXPECT_EQ(ran.load(), 100);
    EXPECT_TRUE(all_on_loop.load());
}

// A task the loop thread posts to itself runs after the posting callback has returned, in
// posting order with the loop's other self-posts (and those they post after them).
TEST(EventLoop, SelfPostsRunAfterThePostingCallbackInOrder) {
    EventLoop loop;
    std::vector<std::string> order;
    loop.add_timer(monotonic_us(), [&] {
        loop.post([&] {
            order.push_back("a");
            loop.post([&] {
                order.push_back("c");
                loop.stop();
            });
        });
        loop.post([&] { order.push_back("b"); });
        order.push_back("callback done");
    });
    ASSERT_TRUE(loop.run().is_ok());
    EXPECT_EQ(order, (std::vector<std::string>{"callback done", "a", "b", "c"}));
}

// A task that keeps posting itself does not starve timers or fds.
TEST(EventLoop, SelfPostingTaskDoesNotStarveTimers) {
    EventLoop loop;
    uint64_t spins = 0;
    bool stop = false;
    std::function<void()> spin = [&] {
        ++spins;
        if (!stop) {
            loop.post(spin);
        }
    };
    loop.add_timer(monotonic_us(), [&] { loop.post(spin); });
    loop.add_timer(monotonic_us() + 20'000, [&] {
        stop = true;
        loop.stop();
    });
    ASSERT_TRUE(loop.run().is_ok());
    EXPECT_TRUE(stop);
    EXPECT_GT(spins, 100u);
}

TEST(EventLoop, DeliversReadiness) {
    EventLoop loop;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    std::string got;
    ASSERT_TRUE(loop.add(sv[0],
                         EPOLLIN,
                         [&](uint32_t) {
                             char buf[16];
                             ssize_t n = read(sv[0], buf, sizeof buf);
                             got.append(buf, static_cast<size_t>(n > 0 ? n : 0));
                             loop.stop();
                         })
                    .is_ok());
    ASSERT_EQ(write(sv[1], "ping", 4), 4);
    ASSERT_TRUE(loop.run().is_ok());
    EXPECT_EQ(got, "ping");
    loop.remove(sv[0]);
    close(sv[0]);
    close(sv[1]);
}

TEST(EventLoop, RunsAgainAfterStopButNotAfterShutdown) {
    EventLoop loop;
    int runs = 0;
    for (int i = 0; i < 2; ++i) {
        loop.add_timer(monotonic_us() + 1000, [&] {
            ++runs;
            loop.stop();
        });
        ASSERT_TRUE(loop.run().is_ok());
    }
    EXPECT_EQ(runs, 2);
    loop.shutdown();
    EXPECT_FALSE(loop.post([] {}));
}

}  // namespace
}  // namespace vr::runtime
