// The home's directory of one file: for each tracked page, its owner or its sharer set.
//
// Dense and compact: pages are grouped in chunks of 64 consecutive pages, and a chunk stores one
// 64-bit word per page plus two 64-bit masks for the whole chunk. A page's word is its sharer set
// (one bit per node, up to kMaxNodes = 64) or, when the page's `owned` bit is set, its owner's id:
// an owner and sharers never coexist (asserted), so one word holds either. The `live` mask says
// which pages have an entry; an entry may be live and empty (U) while a transaction covers it,
// exactly like an entry of the std::map this replaces. A fully used chunk costs 528 bytes, plus
// its map node: about 9 bytes per tracked page. Transaction state (acks awaited, queued
// requests) is not here: it lives in the engine's transactions, keyed by id, one per range.
//
// No I/O; chunks are freed as soon as their last entry is erased.
#pragma once

#include <array>
#include <bit>
#include <map>

#include "base/assert.h"
#include "coherence/types.h"

namespace vr::coherence {

// Heap bytes that glibc's malloc uses for a request of n bytes: an 8-byte header, rounded up to
// 16 bytes, 32 at least. Used to count memory honestly (directory_stats()).
inline constexpr uint64_t heap_bytes(uint64_t n) {
    uint64_t b = (n + 8 + 15) / 16 * 16;
    return b < 32 ? 32 : b;
}
// Bytes of a std::map node holding a value of n bytes: colour and three links, then the value.
inline constexpr uint64_t map_node_bytes(uint64_t n) {
    return heap_bytes(32 + n);
}

// A directory entry as the engine sees it.
struct DirEntry {
    NodeMask sharers = 0;
    NodeId owner = kNoNode;
};

class DirTable {
  public:
    static constexpr uint64_t kChunkPages = 64;

    bool contains(PageIndex p) const {
        const Chunk* c = chunk(p);
        return c != nullptr && (c->live & slot_bit(p)) != 0;
    }
    // The entry of p; an empty entry when p has none.
    DirEntry get(PageIndex p) const {
        const Chunk* c = chunk(p);
        return c == nullptr ? DirEntry{} : c->get(slot(p));
    }
    // Creates or replaces p's entry (an empty one included, as std::map::operator[] would).
    void put(PageIndex p, const DirEntry& e) {
        VR_ASSERT(e.owner == kNoNode || (e.sharers == 0 && e.owner < kMaxNodes),
                  "directory p{}: owner {} with sharers {:#x}",
                  p,
                  e.owner,
                  e.sharers);
        Chunk& c = chunks_[p / kChunkPages];
        uint64_t b = slot_bit(p);
        if ((c.live & b) == 0) {
            c.live |= b;
            ++pages_;
        }
        c.set(slot(p), e);
    }
    void erase(PageIndex p) {
        auto it = chunks_.find(p / kChunkPages);
        if (it == chunks_.end() || (it->second.live & slot_bit(p)) == 0) {
            return;
        }
        erase_in(it, slot(p));
    }
    // Calls f(page, entry) for every live entry of r, in page order. f must not change the table.
    template <typename F>
    void for_each(Range r, F&& f) const {
        for (auto it = chunks_.lower_bound(r.first / kChunkPages);
             it != chunks_.end() && it->first * kChunkPages < r.end();
             ++it) {
            PageIndex base = it->first * kChunkPages;
            uint64_t live = it->second.live & mask_of(r, base);
            while (live != 0) {
                unsigned s = static_cast<unsigned>(std::countr_zero(live));
                live &= live - 1;
                f(base + s, it->second.get(s));
            }
        }
    }
    // Erases every live entry of r for which pred(page, entry) is true.
    template <typename P>
    void erase_if(Range r, P&& pred) {
        for (auto it = chunks_.lower_bound(r.first / kChunkPages);
             it != chunks_.end() && it->first * kChunkPages < r.end();) {
            PageIndex base = it->first * kChunkPages;
            uint64_t live = it->second.live & mask_of(r, base);
            auto next = std::next(it);
            while (live != 0) {
                unsigned s = static_cast<unsigned>(std::countr_zero(live));
                live &= live - 1;
                if (pred(base + s, it->second.get(s)) && erase_in(it, s)) {
                    break;  // the chunk is gone
                }
            }
            it = next;
        }
    }

    bool empty() const { return pages_ == 0; }
    uint64_t pages() const { return pages_; }
    uint64_t chunks() const { return chunks_.size(); }
    // Heap bytes held, as glibc's malloc sizes the map's nodes (see directory_stats()).
    uint64_t bytes() const { return chunks_.size() * kChunkNodeBytes; }

  private:
    struct Chunk {
        std::array<uint64_t, kChunkPages> word{};  // sharer mask, or owner id when owned
        uint64_t live = 0;
        uint64_t owned = 0;

        DirEntry get(unsigned s) const {
            DirEntry e;
            if ((owned >> s) & 1) {
                e.owner = static_cast<NodeId>(word[s]);
            } else {
                e.sharers = word[s];
            }
            return e;
        }
        void set(unsigned s, const DirEntry& e) {
            uint64_t b = uint64_t{1} << s;
            if (e.owner != kNoNode) {
                owned |= b;
                word[s] = e.owner;
            } else {
                owned &= ~b;
                word[s] = e.sharers;
            }
        }
    };
    using Map = std::map<uint64_t, Chunk>;

    static constexpr uint64_t kChunkNodeBytes = map_node_bytes(sizeof(Map::value_type));

    static unsigned slot(PageIndex p) { return static_cast<unsigned>(p % kChunkPages); }
    static uint64_t slot_bit(PageIndex p) { return uint64_t{1} << slot(p); }
    // The slots of the chunk starting at base that r covers.
    static uint64_t mask_of(Range r, PageIndex base) {
        uint64_t from = r.first > base ? r.first - base : 0;
        uint64_t to = r.end() - base < kChunkPages ? r.end() - base : kChunkPages;
        uint64_t hi = to == kChunkPages ? ~uint64_t{0} : (uint64_t{1} << to) - 1;
        return hi & ~((uint64_t{1} << from) - 1);
    }
    const Chunk* chunk(PageIndex p) const {
        auto it = chunks_.find(p / kChunkPages);
        return it == chunks_.end() ? nullptr : &it->second;
    }
    // Erases slot s of the chunk at it; true when that freed the chunk.
    bool erase_in(Map::iterator it, unsigned s) {
        uint64_t b = uint64_t{1} << s;
        it->second.live &= ~b;
        it->second.owned &= ~b;
        it->second.word[s] = 0;
        --pages_;
        if (it->second.live == 0) {
            chunks_.erase(it);
            return true;
        }
        return false;
    }

    Map chunks_;
    uint64_t pages_ = 0;
};

}  // namespace vr::coherence
