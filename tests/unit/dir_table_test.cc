// DirTable, the home's compact per-file directory, against a std::map reference under random
// puts, erases and range erasures; and its memory accounting.
#include "coherence/dir_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace vr::coherence {
namespace {

bool same(const DirEntry& a, const DirEntry& b) {
    return a.owner == b.owner && a.sharers == b.sharers;
}

void expect_equal(const DirTable& t, const std::map<PageIndex, DirEntry>& ref, Range r) {
    std::vector<std::pair<PageIndex, DirEntry>> got;
    t.for_each(r, [&](PageIndex p, const DirEntry& e) { got.emplace_back(p, e); });
    auto it = ref.lower_bound(r.first);
    for (const auto& [p, e] : got) {
        ASSERT_NE(it, ref.end());
        ASSERT_EQ(p, it->first);
        ASSERT_TRUE(same(e, it->second)) << "p" << p;
        ++it;
    }
    ASSERT_TRUE(it == ref.end() || it->first >= r.end());
}

TEST(DirTable, MatchesAMapUnderRandomOperations) {
    std::mt19937_64 rng(7);
    DirTable t;
    std::map<PageIndex, DirEntry> ref;
    auto page = [&]() -> PageIndex {
        uint64_t k = rng() % 10;
        return k < 8 ? rng() % 300
                     : (k == 8 ? 1'000'000 + rng() % 64 : rng() % (uint64_t{1} << 40));
    };
    for (int i = 0; i < 200'000; ++i) {
        PageIndex p = page();
        switch (rng() % 6) {
            case 0:
            case 1: {
                DirEntry e;
                if (rng() % 3 == 0) {
                    e.owner = static_cast<NodeId>(rng() % kMaxNodes);
                } else if (rng() % 4 != 0) {
                    e.sharers = rng();
                }
                t.put(p, e);
                ref[p] = e;
                break;
            }
            case 2:
                t.erase(p);
                ref.erase(p);
                break;
            case 3: {
                Range r{p, 1 + rng() % 200};
                auto empty_or_owned = [](PageIndex, const DirEntry& e) {
                    return e.owner != kNoNode || e.sharers == 0;
                };
                t.erase_if(r, empty_or_owned);
                for (auto it = ref.lower_bound(r.first); it != ref.end() && it->first < r.end();) {
                    it = empty_or_owned(it->first, it->second) ? ref.erase(it) : std::next(it);
                }
                break;
            }
            default: {
                ASSERT_EQ(t.contains(p), ref.count(p) == 1);
                auto it = ref.find(p);
                ASSERT_TRUE(same(t.get(p), it == ref.end() ? DirEntry{} : it->second));
                break;
            }
        }
        ASSERT_EQ(t.pages(), ref.size());
        if (i % 1000 == 0) {
            expect_equal(t, ref, kWholeFile);
            expect_equal(t, ref, Range{p, 100});
        }
    }
    expect_equal(t, ref, kWholeFile);
    t.erase_if(kWholeFile, [](PageIndex, const DirEntry&) { return true; });
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.chunks(), 0u);
    EXPECT_EQ(t.bytes(), 0u);
}

TEST(DirTable, FullChunksCostUnderTenBytesPerPage) {
    DirTable t;
    for (PageIndex p = 0; p < 64 * 1024; ++p) {
        DirEntry e;
        e.sharers = bit(static_cast<NodeId>(p % kMaxNodes)) | bit(63);
        t.put(p, e);
    }
    EXPECT_EQ(t.chunks(), 1024u);
    EXPECT_LE(t.bytes(), 10u * t.pages());
    EXPECT_EQ(t.get(65).sharers, bit(1) | bit(63));
    // Shrinking back returns the arrays.
    for (PageIndex p = 0; p < 64 * 1024; ++p) {
        if (p % 64 != 5) {
            t.erase(p);
        }
    }
    EXPECT_EQ(t.pages(), 1024u);
    EXPECT_EQ(t.bytes(), 1024u * 80u) << "one inline word per chunk";
}

}  // namespace
}  // namespace vr::coherence
