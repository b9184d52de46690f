#include "preload/flags.h"

#include <fcntl.h>

namespace vr::preload {

namespace {

#if defined(__x86_64__)
constexpr int kKernelLargefile = 0100000;
#elif defined(__aarch64__)
constexpr int kKernelLargefile = 0400000;
#else
#error "the preload library knows the open flags of Linux x86-64 and aarch64 only"
#endif

constexpr int kKnown = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
                       O_DSYNC | O_ASYNC | O_DIRECT | O_LARGEFILE | kKernelLargefile | O_DIRECTORY |
                       O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE;

static_assert((kKnown & (kRemote | kOrigin)) == 0, "O_REMOTE or O_ORIGIN collides with a flag");
static_assert((kSeedDecimalOrigin & ~kKnown) == 040000000,
              "the seed's decimal O_ORIGIN has exactly one bit no flag uses");
static_assert((kSeedDecimalOrigin & O_CREAT) == 0 && (kSeedDecimalOrigin & O_TMPFILE) == 0,
              "the seed's decimal O_ORIGIN never asks for a mode");

}  // namespace

int known_open_flags() {
    return kKnown;
}

Flags classify(int flags) {
    Flags out;
    if ((flags & kRemote) == 0) {
        out.flags = flags;
        return out;
    }
    int rest = flags & ~(kRemote | kOrigin);
    out.origin = (flags & kOrigin) != 0;
    if ((rest & kSeedDecimalOrigin) == kSeedDecimalOrigin) {
        rest &= ~kSeedDecimalOrigin;
        out.origin = true;
        out.seed_decimal = true;
    }
    if ((rest & ~kKnown) != 0) {
        out.verdict = Verdict::Invalid;
        out.flags = rest & ~kKnown;
        return out;
    }
    out.verdict = Verdict::Remote;
    out.flags = rest;
    return out;
}

bool needs_mode(int flags) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

}  // namespace vr::preload
