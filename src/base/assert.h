// VR_ASSERT: always-on invariant checks (release builds included). A failed assertion prints
// the condition, the location and a formatted message, then aborts. Use it for our own
// invariants only; input from peers or users is validated and answered with a Status.
#pragma once

#include <fmt/format.h>

namespace vr::detail {
[[noreturn]] void assert_fail(const char* cond, const char* file, int line, const std::string& msg);
// Test hook: when set, a failed assertion calls this instead of aborting (it must not return).
using AssertHandler = void (*)(const char* cond,
                               const char* file,
                               int line,
                               const std::string& msg);
void set_assert_handler(AssertHandler handler);
}  // namespace vr::detail

#define VR_ASSERT(cond, ...)                                                                \
    do {                                                                                    \
        if (!(cond)) [[unlikely]] {                                                         \
            ::vr::detail::assert_fail(#cond, __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
        }                                                                                   \
    } while (0)

#define VR_UNREACHABLE(...) \
    ::vr::detail::assert_fail("unreachable", __FILE__, __LINE__, fmt::format(__VA_ARGS__))
