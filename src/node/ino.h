// Engine inode numbers. A node may export several volumes, each a directory on its own, so the
// ino a home gives the coherence engine and its peers names the export too: the export's index
// on its node in the top byte, the file's st_ino in the other 56 bits. st_ino values of 2^56
// and more (which ext4, xfs and btrfs do not hand out in practice) are refused with OutOfRange.
#pragma once

#include <cstdint>

#include "base/status.h"

namespace vr::node {

inline constexpr int kInoIndexShift = 56;
inline constexpr uint64_t kInoLocalMask = (uint64_t{1} << kInoIndexShift) - 1;
inline constexpr uint16_t kExportsPerNodeMax = 255;

inline Result<uint64_t> make_ino(uint16_t export_index, uint64_t st_ino) {
    if (st_ino == 0 || st_ino > kInoLocalMask || export_index >= kExportsPerNodeMax) {
        return Status(Code::OutOfRange, "inode number does not fit 56 bits");
    }
    return (uint64_t{export_index} << kInoIndexShift) | st_ino;
}
inline uint16_t ino_export(uint64_t ino) {
    return static_cast<uint16_t>(ino >> kInoIndexShift);
}
inline uint64_t ino_local(uint64_t ino) {
    return ino & kInoLocalMask;
}

}  // namespace vr::node
