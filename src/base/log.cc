#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <string>

namespace vr::log {
namespace {

std::mutex g_mu;
std::string g_name = "vremote";  // guarded by g_mu
std::atomic<Level> g_level{Level::Info};

std::string_view level_name(Level l) {
    switch (l) {
        case Level::Debug:
            return "DEBUG";
        case Level::Info:
            return "INFO";
        case Level::Warn:
            return "WARN";
        case Level::Error:
            return "ERROR";
    }
    return "?";
}

}  // namespace

void set_name(std::string_view name) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_name = std::string(name);
}

void set_level(Level level) {
    g_level.store(level);
}

bool enabled(Level level) {
    return level >= g_level.load(std::memory_order_relaxed);
}

void line(Level level, std::string_view text) {
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::lock_guard<std::mutex> lock(g_mu);
    std::string out =
        fmt::format("{}.{:03}Z {} {} {}\n", stamp, ms, g_name, level_name(level), text);
    size_t off = 0;
    while (off < out.size()) {
        ssize_t n = ::write(STDERR_FILENO, out.data() + off, out.size() - off);
        if (n <= 0) {
            break;  // nowhere to report a failing stderr
        }
        off += static_cast<size_t>(n);
    }
}

}  // namespace vr::log
