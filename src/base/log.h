// Logging: one line per event on stderr, with a wall-clock timestamp, a level and the process's
// log name (the node name in vremoted). Thread-safe; lines are written whole.
//
//   2026-11-29T10:04:12.345Z n1 WARN refused a handshake from 127.0.0.1:40112: wrong key
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace vr::log {

enum class Level : uint8_t { Debug, Info, Warn, Error };

// The name printed on every line, and the lowest level printed (default Info).
void set_name(std::string_view name);
void set_level(Level level);
bool enabled(Level level);
void line(Level level, std::string_view text);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::Info)) {
        line(Level::Info, fmt::format(f, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::Warn)) {
        line(Level::Warn, fmt::format(f, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    line(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(Level::Debug)) {
        line(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
    }
}

}  // namespace vr::log
