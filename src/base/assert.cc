#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace vr::detail {
namespace {
AssertHandler g_handler = nullptr;
}

void set_assert_handler(AssertHandler handler) {
    g_handler = handler;
}

void assert_fail(const char* cond, const char* file, int line, const std::string& msg) {
    if (g_handler != nullptr) {
        g_handler(cond, file, line, msg);
    }
    std::fprintf(
        stderr, "vremote: assertion failed: %s at %s:%d: %s\n", cond, file, line, msg.c_str());
    std::fflush(stderr);
    std::abort();
}
}  // namespace vr::detail
