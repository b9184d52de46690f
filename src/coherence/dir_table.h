// The home's directory of one file: for each tracked page, its owner or its sharer set.
//
// Pages are grouped in chunks of 64 consecutive pages, one std::map node per chunk that has an
// entry. An entry is one 64-bit word: the page's sharer set (one bit per node, up to kMaxNodes =
// 64) or, when the page's bit in the chunk's `owned` mask is set, its owner's id. An owner and
// sharers never coexist (asserted), so one word holds either. The `live` mask says which pages
// have an entry; an entry may be live and empty (U) while a transaction covers it, exactly like
// an entry of the std::map<page, entry> this replaces. Only live pages take a word, packed in
// page order; a chunk with one live page keeps it inline.
//
// Cost (glibc malloc sizes): 80 bytes per chunk plus 8 bytes per live page, rounded up to the
// array's capacity: about 9.3 bytes per page when chunks are full, 80 bytes for an isolated page.
// Transaction state (acks awaited, queued requests) is not here: it lives in the engine's
// transactions, one per range, keyed by transaction id.
#pragma once

#include <algorithm>
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
        return c == nullptr || (c->live & slot_bit(p)) == 0 ? DirEntry{} : c->get(slot(p));
    }
    // Creates or replaces p's entry (an empty one included, as std::map::operator[] would).
    void put(PageIndex p, const DirEntry& e) {
        VR_ASSERT(e.owner == kNoNode || (e.sharers == 0 && e.owner < kMaxNodes),
                  "directory p{}: owner {} with sharers {:#x}",
                  p,
                  e.owner,
                  e.sharers);
        Chunk& c = chunks_[p / kChunkPages];
        if ((c.live & slot_bit(p)) == 0) {
            array_bytes_ += c.insert(slot(p));
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
    uint64_t bytes() const {
        return chunks_.size() * kChunkNodeBytes + static_cast<uint64_t>(array_bytes_);
    }

  private:
    // The entries of 64 consecutive pages. Only live slots take a word, packed in slot order (a
    // slot's word is at the rank of its bit in `live`): one word inline, more in an array sized
    // to the count (grown by half, shrunk at half), so that a chunk of isolated pages stays
    // small and a full chunk costs 64 words.
    struct Chunk {
        uint64_t live = 0;
        uint64_t owned = 0;  // the slot's word is an owner id, not a sharer set
        union {
            uint64_t one;  // cap == 0: the only live slot's word
            uint64_t* many;
        } w{0};
        uint32_t cap = 0;  // length of w.many; 0: inline

        Chunk() = default;
        Chunk(const Chunk&) = delete;
        Chunk& operator=(const Chunk&) = delete;
        ~Chunk() {
            if (cap != 0) {
                delete[] w.many;
            }
        }
        unsigned rank(unsigned s) const {
            return static_cast<unsigned>(std::popcount(live & ((uint64_t{1} << s) - 1)));
        }
        uint64_t& word(unsigned s) { return cap == 0 ? w.one : w.many[rank(s)]; }
        uint64_t word(unsigned s) const { return cap == 0 ? w.one : w.many[rank(s)]; }
        DirEntry get(unsigned s) const {  // s must be live
            DirEntry e;
            if ((owned >> s) & 1) {
                e.owner = static_cast<NodeId>(word(s));
            } else {
                e.sharers = word(s);
            }
            return e;
        }
        void set(unsigned s, const DirEntry& e) {
            uint64_t b = uint64_t{1} << s;
            if (e.owner != kNoNode) {
                owned |= b;
                word(s) = e.owner;
            } else {
                owned &= ~b;
                word(s) = e.sharers;
            }
        }
        // Makes slot s live with an empty word; returns the change in array bytes.
        int64_t insert(unsigned s) {
            uint64_t b = uint64_t{1} << s;
            unsigned n = static_cast<unsigned>(std::popcount(live));
            int64_t delta = 0;
            if (n == 0) {
                w.one = 0;
            } else if (cap == 0 || n + 1 > cap) {
                uint32_t grown = std::max<uint32_t>(n + 1, cap + cap / 2);
                delta = reshape(std::min<uint32_t>((grown + 1) & ~1u, kChunkPages), n);
            }
            if (cap != 0) {
                unsigned r = rank(s);
                std::copy_backward(w.many + r, w.many + n, w.many + n + 1);
                w.many[r] = 0;
            }
            live |= b;
            return delta;
        }
        // Erases live slot s; returns the change in array bytes.
        int64_t erase(unsigned s) {
            uint64_t b = uint64_t{1} << s;
            unsigned n = static_cast<unsigned>(std::popcount(live));
            if (cap != 0) {
                unsigned r = rank(s);
                std::copy(w.many + r + 1, w.many + n, w.many + r);
            }
            live &= ~b;
            owned &= ~b;
            --n;
            if (cap != 0 && (n <= 1 || n <= cap / 2)) {
                return reshape(n <= 1 ? 0 : (n + 1) & ~1u, n);
            }
            return 0;
        }
        // Moves the first n words to an array of new_cap words (0: inline, n <= 1).
        int64_t reshape(uint32_t new_cap, unsigned n) {
            int64_t delta = 0;
            uint64_t first = cap == 0 ? w.one : (n != 0 ? w.many[0] : 0);
            uint64_t* fresh = nullptr;
            if (new_cap != 0) {
                fresh = new uint64_t[new_cap]();
                delta += static_cast<int64_t>(heap_bytes(new_cap * sizeof(uint64_t)));
                if (cap == 0) {
                    fresh[0] = first;
                } else {
                    std::copy(w.many, w.many + n, fresh);
                }
            }
            if (cap != 0) {
                delete[] w.many;
                delta -= static_cast<int64_t>(heap_bytes(cap * sizeof(uint64_t)));
            }
            cap = new_cap;
            if (new_cap != 0) {
                w.many = fresh;
            } else {
                w.one = first;
            }
            return delta;
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
        array_bytes_ += it->second.erase(s);
        --pages_;
        if (it->second.live == 0) {
            chunks_.erase(it);
            return true;
        }
        return false;
    }

    Map chunks_;
    uint64_t pages_ = 0;
    int64_t array_bytes_ = 0;  // heap bytes of the chunks' word arrays
};

}  // namespace vr::coherence
