// Vocabulary of the coherence core: node ids, files, page ranges, page buffers and time.
// Nothing here does I/O.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vr::coherence {

// Nodes are numbered 0..kMaxNodes-1 within a cluster; sharer sets are 64-bit masks.
using NodeId = uint8_t;
inline constexpr int kMaxNodes = 64;
inline constexpr NodeId kNoNode = 0xFF;
using NodeMask = uint64_t;
inline NodeMask bit(NodeId n) {
    return NodeMask{1} << n;
}

// Virtual or real time in microseconds; the core never reads a clock, it is told the time.
using Time = int64_t;

using PageIndex = uint64_t;

// A file is named by its home node and an inode-like number the home assigned.
struct FileId {
    NodeId home = kNoNode;
    uint64_t ino = 0;
    auto operator<=>(const FileId&) const = default;
};

// A contiguous run of pages [first, first + count).
struct Range {
    PageIndex first = 0;
    uint64_t count = 0;

    PageIndex end() const { return first + count; }
    bool contains(PageIndex p) const { return p >= first && p < end(); }
    bool overlaps(const Range& o) const { return first < o.end() && o.first < end(); }
    auto operator<=>(const Range&) const = default;
};
// A range that covers every page of a file (fsync, whole-file invalidation).
inline constexpr Range kWholeFile{0, UINT64_MAX / 2};

// Immutable, shared page contents. A write makes a new buffer (copy on write), so a buffer that
// has been handed to a message or a completed read never changes under its reader.
using PageBuf = std::shared_ptr<const std::vector<std::byte>>;

std::string to_string(const FileId& f);
std::string to_string(const Range& r);

}  // namespace vr::coherence
