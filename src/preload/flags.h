// The open flags of the preload library: which opens it redirects, and what it passes on.
// Pure functions, no I/O (docs/preload.md, "Flags").
#pragma once

#include <cstdint>

namespace vr::preload {

// The seed kernel's flags, as in include/vremote/fcntl.h.
inline constexpr int kRemote = 020;
inline constexpr int kOrigin = 010;
// The seed README's O_ORIGIN, decimal 10000000 = 0x989680: O_EXCL | O_TRUNC | O_APPEND |
// O_DSYNC | 0100000 (O_LARGEFILE on x86-64, O_NOFOLLOW on aarch64) | O_CLOEXEC | __O_SYNC |
// 040000000 (no flag). The last bit belongs to no Linux flag, so the whole pattern identifies it.
inline constexpr int kSeedDecimalOrigin = 10000000;

// Every bit open(2) gives a meaning to on this architecture, the kernel's O_LARGEFILE included
// (glibc defines O_LARGEFILE as 0 on 64-bit ABIs; the kernel's value is 0100000 on x86-64 and
// 0400000 on aarch64).
int known_open_flags();

enum class Verdict : uint8_t {
    Local,    // no O_REMOTE: the call goes on exactly as made
    Remote,   // an O_REMOTE open: redirect it, pass `flags`
    Invalid,  // O_REMOTE with bits no flag uses: EINVAL
};

struct Flags {
    Verdict verdict = Verdict::Local;
    int flags = 0;              // Local: as given; Remote: without O_REMOTE, O_ORIGIN (and the
                                // seed's decimal pattern); Invalid: the unknown bits
    bool origin = false;        // O_ORIGIN, or the seed's decimal value
    bool seed_decimal = false;  // the seed's decimal value was recognised and removed
};

Flags classify(int flags);

// Whether open(2) reads its third argument: O_CREAT, or O_TMPFILE (glibc's __OPEN_NEEDS_MODE).
bool needs_mode(int flags);

}  // namespace vr::preload
