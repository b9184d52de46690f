// Unit tests of the coherence engine: specific scenarios and races, driven message by message
// through a tiny in-memory bus (one global FIFO, which keeps every link FIFO). Goal: pin down
// the behaviours the design doc promises, each with assertions that fail if it breaks. The
// random exploration of interleavings is the simulator's job (tests/sim).
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <map>
#include <memory>

#include "coherence/engine.h"

namespace vr::coherence {
namespace {

constexpr uint32_t kPage = 16;

PageBuf page_of(uint64_t v) {
    auto b = std::make_shared<std::vector<std::byte>>(kPage);
    std::memcpy(b->data(), &v, 8);
    return b;
}
uint64_t value_of(const PageBuf& b) {
    uint64_t v = 0;
    if (b) {
        std::memcpy(&v, b->data(), 8);
    }
    return v;
}
std::vector<std::byte> bytes_of(uint64_t v, size_t n = kPage) {
    std::vector<std::byte> out(n);
    std::memcpy(out.data(), &v, 8);
    return out;
}

struct Bus {
    explicit Bus(int nodes, uint64_t range_max = 256, uint32_t queue_max = 4096) {
        for (int n = 0; n < nodes; ++n) {
            EngineConfig c;
            c.self = static_cast<NodeId>(n);
            c.members = nodes >= kMaxNodes ? ~NodeMask{0} : (NodeMask{1} << nodes) - 1;
            c.page_size = kPage;
            c.range_pages_max = static_cast<uint32_t>(range_max);
            c.lease_us = 1000;
            c.grace_us = 500;
            c.request_timeout_us = 100'000;
            c.home_queue_max = queue_max;
            cfgs.push_back(c);
            engines.push_back(std::make_unique<Engine>(c));
        }
        stores.resize(static_cast<size_t>(nodes));
        disks.resize(static_cast<size_t>(nodes));
        for (int n = 0; n < nodes; ++n) {
            disks[n].incarnation = cfgs[n].home_incarnation;
            collect(n);
        }
    }
    void restart(int n, uint64_t inc) {
        EngineConfig c = cfgs[n];
        c.node_incarnation = inc;
        c.home_incarnation = inc;
        c.previous_home_incarnation = disks[n].incarnation;
        c.previous_dead = disks[n].dead;
        disks[n] = Disk{inc, 0};
        engines[n] = std::make_unique<Engine>(c);
        engines[n]->start(now);
        collect(n);
    }
    Engine& at(int n) { return *engines[static_cast<size_t>(n)]; }
    void collect(int n) {
        for (Effect& e : at(n).take_effects()) {
            if (e.kind == EffectKind::Send) {
                if (e.msg.data_from_store) {
                    e.msg.pages.clear();
                    for (PageIndex p = e.msg.range.first; p < e.msg.range.end(); ++p) {
                        auto it = stores[n].find(p);
                        e.msg.pages.push_back(it == stores[n].end() ? page_of(0) : it->second);
                    }
                }
                ++sent[e.msg.type];
                net.push_back(e.msg);
                continue;
            }
            if (e.kind == EffectKind::StoreWrite) {
                for (PageIndex p = e.range.first; p < e.range.end(); ++p) {
                    stores[n][p] = e.pages[p - e.range.first];
                }
            }
            if (e.kind == EffectKind::KernelInvalidate) {
                kernel_pending[n].push_back(e.token);
            }
            if (e.kind == EffectKind::HomeState) {
                disks[n].dead = e.nodes;
            }
            done.push_back({n, e});
        }
    }
    // Delivers the next message; returns false when the network is empty.
    bool step() {
        if (net.empty()) {
            return false;
        }
        Message m = net.front();
        net.pop_front();
        at(m.to).on_message(m, now);
        collect(m.to);
        return true;
    }
    void run() {
        while (step()) {
        }
    }
    void complete_kernel(int n) {
        auto pending = std::move(kernel_pending[n]);
        kernel_pending[n].clear();
        for (uint64_t t : pending) {
            at(n).on_kernel_invalidated(t, now);
            collect(n);
        }
    }
    // Runs until quiet, completing kernel invalidations as they come.
    void settle() {
        for (int i = 0; i < 100; ++i) {
            run();
            bool any = false;
            for (int n = 0; n < static_cast<int>(engines.size()); ++n) {
                any = any || !kernel_pending[n].empty();
                complete_kernel(n);
            }
            if (!any && net.empty()) {
                return;
            }
        }
    }
    const Effect* completion(uint64_t req) const {
        for (const auto& [n, e] : done) {
            bool is_done = e.kind == EffectKind::ReadDone || e.kind == EffectKind::WriteDone ||
                           e.kind == EffectKind::FsyncDone;
            if (is_done && e.req == req) {
                return &e;
            }
        }
        return nullptr;
    }
    size_t count(MsgType t) const {
        auto it = sent.find(t);
        return it == sent.end() ? 0 : it->second;
    }
    // Completes, successfully, every store sync the homes asked for since the last call.
    void complete_store_syncs() {
        for (; synced < done.size(); ++synced) {  // on_store_synced may add to done
            auto [n, e] = done[synced];
            if (e.kind == EffectKind::StoreSync) {
                at(n).on_store_synced(e.token, Status::ok(), now);
                collect(n);
            }
        }
    }
    void tick_all(Time t) {
        now = t;
        for (int n = 0; n < static_cast<int>(engines.size()); ++n) {
            at(n).on_tick(now);
            collect(n);
        }
    }

    std::vector<EngineConfig> cfgs;
    std::vector<std::unique_ptr<Engine>> engines;
    std::vector<std::map<PageIndex, PageBuf>> stores;
    struct Disk {  // what a home keeps across restarts (HomeState)
        uint64_t incarnation = 0;
        NodeMask dead = 0;
    };
    std::vector<Disk> disks;
    std::deque<Message> net;
    std::map<MsgType, size_t> sent;
    std::map<int, std::vector<uint64_t>> kernel_pending;
    std::vector<std::pair<int, Effect>> done;
    size_t synced = 0;  // of done, the entries complete_store_syncs has seen
    Time now = 1;
};

const FileId kFile{0, 7};  // homed at node 0

TEST(Engine, ReadMissThenHitWithoutMessages) {
    Bus bus(2);
    bus.stores[0][3] = page_of(42);
    bus.at(1).read(1, kFile, Range{3, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.settle();
    ASSERT_NE(bus.completion(1), nullptr);
    EXPECT_TRUE(bus.completion(1)->status.is_ok());
    EXPECT_EQ(value_of(bus.completion(1)->pages.at(0)), 42u);
    EXPECT_EQ(bus.at(1).page_state(kFile, 3), PState::S);
    size_t before = bus.net.size() + bus.count(MsgType::GetS);
    bus.at(1).read(2, kFile, Range{3, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    EXPECT_EQ(bus.net.size() + bus.count(MsgType::GetS), before) << "a hit must not send anything";
    ASSERT_NE(bus.completion(2), nullptr);
    EXPECT_EQ(value_of(bus.completion(2)->pages.at(0)), 42u);
}

TEST(Engine, OneMebibyteReadIsOneRoundTrip) {
    Bus bus(2, /*range_max=*/256);
    bus.at(1).read(1, kFile, Range{0, 256}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.settle();
    ASSERT_NE(bus.completion(1), nullptr);
    EXPECT_EQ(bus.completion(1)->pages.size(), 256u);
    EXPECT_EQ(bus.count(MsgType::GetS), 1u);
    EXPECT_EQ(bus.count(MsgType::DataS), 1u);
}

TEST(Engine, WriteIsSeenByTheNextReadElsewhere) {
    Bus bus(3);
    bus.at(1).read(1, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.at(2).read(2, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.collect(2);
    bus.settle();
    bus.at(2).write(3, kFile, 0, bytes_of(99), bus.now);
    bus.collect(2);
    bus.settle();
    ASSERT_TRUE(bus.completion(3) && bus.completion(3)->status.is_ok());
    EXPECT_EQ(bus.at(1).page_state(kFile, 0), PState::I) << "the other sharer was invalidated";
    EXPECT_EQ(bus.at(2).page_state(kFile, 0), PState::M);
    bus.at(1).read(4, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.settle();
    EXPECT_EQ(value_of(bus.completion(4)->pages.at(0)), 99u);
    EXPECT_EQ(bus.at(2).page_state(kFile, 0), PState::S)
        << "recalled to S, with its data written back";
    EXPECT_EQ(value_of(bus.stores[0][0]), 99u);
}

TEST(Engine, TwoSharersUpgradeAtOnceAndTheLoserGetsData) {
    Bus bus(3);
    bus.at(1).read(1, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.at(2).read(2, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.collect(2);
    bus.settle();
    // Both upgrade before either hears from the home.
    bus.at(1).write(3, kFile, 0, bytes_of(11, 8), bus.now);
    bus.at(2).write(4, kFile, 8, bytes_of(22, 8), bus.now);
    bus.collect(1);
    bus.collect(2);
    EXPECT_EQ(bus.at(1).page_state(kFile, 0), PState::SM_AD);
    EXPECT_EQ(bus.at(2).page_state(kFile, 0), PState::SM_AD);
    bus.settle();
    ASSERT_TRUE(bus.completion(3) && bus.completion(3)->status.is_ok());
    ASSERT_TRUE(bus.completion(4) && bus.completion(4)->status.is_ok());
    // Exactly one owner, and it holds both partial writes.
    int owners = (bus.at(1).page_state(kFile, 0) == PState::M) +
                 (bus.at(2).page_state(kFile, 0) == PState::M);
    EXPECT_EQ(owners, 1);
    int owner = bus.at(1).page_state(kFile, 0) == PState::M ? 1 : 2;
    PageBuf data = bus.at(owner).page_data(kFile, 0);
    uint64_t lo = 0;
    uint64_t hi = 0;
    std::memcpy(&lo, data->data(), 8);
    std::memcpy(&hi, data->data() + 8, 8);
    EXPECT_EQ(lo, 11u);
    EXPECT_EQ(hi, 22u);
}

TEST(Engine, InvalidationIsAcknowledgedOnlyAfterTheKernelDroppedItsCopy) {
    Bus bus(3);
    bus.at(1).read(1, kFile, Range{0, 1}, ReadMode::KernelFill, bus.now);
    bus.collect(1);
    bus.settle();
    EXPECT_TRUE(bus.at(1).kernel_may_cache(kFile, 0));
    bus.at(2).write(2, kFile, 0, bytes_of(5), bus.now);
    bus.collect(2);
    bus.run();  // Inv reaches node 1, which asks its kernel to drop the page
    EXPECT_EQ(bus.at(1).page_state(kFile, 0), PState::I);
    EXPECT_EQ(bus.count(MsgType::InvAck), 0u) << "no ack before the kernel invalidation completes";
    EXPECT_EQ(bus.completion(2), nullptr) << "the writer must wait";
    ASSERT_EQ(bus.kernel_pending[1].size(), 1u);
    bus.complete_kernel(1);
    bus.settle();
    EXPECT_EQ(bus.count(MsgType::InvAck), 1u);
    ASSERT_TRUE(bus.completion(2) && bus.completion(2)->status.is_ok());
}

TEST(Engine, PageCacheFillProvesTheKernelHoldsNoCopy) {
    // The kernel invalidation blocks behind a READ of the same page; the READ reaching the
    // engine proves the kernel has no valid copy, so the ack goes out without waiting.
    Bus bus(3);
    bus.at(1).read(1, kFile, Range{0, 1}, ReadMode::KernelFill, bus.now);
    bus.collect(1);
    bus.settle();
    bus.at(2).write(2, kFile, 0, bytes_of(5), bus.now);
    bus.collect(2);
    bus.run();
    EXPECT_EQ(bus.count(MsgType::InvAck), 0u);
    bus.at(1).read(
        3, kFile, Range{0, 1}, ReadMode::KernelFill, bus.now);  // kernel re-reads the page
    bus.collect(1);
    EXPECT_EQ(bus.count(MsgType::InvAck), 1u) << "the fill released the held ack";
    bus.run();  // no kernel completion delivered at all
    ASSERT_TRUE(bus.completion(2) && bus.completion(2)->status.is_ok());
    ASSERT_TRUE(bus.completion(3) && bus.completion(3)->status.is_ok());
    EXPECT_EQ(value_of(bus.completion(3)->pages.at(0)), 5u);
}

TEST(Engine, EvictingAModifiedPageWritesItBack) {
    Bus bus(2);
    bus.at(1).write(1, kFile, 16 * 4, bytes_of(77), bus.now);
    bus.collect(1);
    bus.settle();
    EXPECT_EQ(bus.at(1).page_state(kFile, 4), PState::M);
    bus.at(1).evict(kFile, Range{4, 1}, bus.now);
    bus.collect(1);
    bus.settle();
    EXPECT_EQ(bus.at(1).page_state(kFile, 4), PState::I);
    EXPECT_EQ(value_of(bus.stores[0][4]), 77u);
    EXPECT_EQ(bus.at(0).dir_entry(kFile.ino, 4).owner, kNoNode);
}

TEST(Engine, FsyncWritesBackEveryModifiedPageAndSyncsBeforeAcking) {
    Bus bus(3);
    bus.at(1).write(1, kFile, 0, bytes_of(1), bus.now);
    bus.at(2).write(2, kFile, 16, bytes_of(2), bus.now);
    bus.collect(1);
    bus.collect(2);
    bus.settle();
    bus.at(1).fsync(3, kFile, bus.now);
    bus.collect(1);
    bus.settle();
    // The home asked for a sync; the fsync is not done until the sync completes.
    const Effect* sync = nullptr;
    for (const auto& [n, e] : bus.done) {
        if (e.kind == EffectKind::StoreSync) {
            sync = &e;
        }
    }
    ASSERT_NE(sync, nullptr);
    EXPECT_EQ(bus.completion(3), nullptr);
    EXPECT_EQ(value_of(bus.stores[0][0]), 1u);
    EXPECT_EQ(value_of(bus.stores[0][1]), 2u) << "another node's M page is written back too";
    bus.at(0).on_store_synced(sync->token, Status::ok(), bus.now);
    bus.collect(0);
    bus.settle();
    ASSERT_TRUE(bus.completion(3) && bus.completion(3)->status.is_ok());
}

TEST(Engine, LeaseExpiryStopsServingAndTheHomeWaitsLongerBeforeDeclaringDeath) {
    Bus bus(2);
    bus.at(1).read(1, kFile, Range{0, 1}, ReadMode::KernelFill, bus.now);
    bus.collect(1);
    bus.settle();
    EXPECT_TRUE(bus.at(1).can_read(kFile, 0, bus.now));
    // Partition: renewals are lost from now on.
    bus.tick_all(1100);
    bus.net.clear();
    EXPECT_FALSE(bus.at(1).lease_valid(0, bus.now)) << "lease ran from the Join send time";
    EXPECT_FALSE(bus.at(1).can_read(kFile, 0, bus.now));
    EXPECT_FALSE(bus.kernel_pending[1].empty()) << "suspension drops the kernel's copies";
    EXPECT_EQ(bus.at(0).dir_entry(kFile.ino, 0).sharers, bit(1)) << "too early to declare death";
    bus.tick_all(1 + 1000 + 500 + 1);
    bus.net.clear();
    EXPECT_EQ(bus.at(0).dir_entry(kFile.ino, 0).sharers, 0u) << "declared dead after lease + grace";
}

TEST(Engine, HomeRestartReclaimsModifiedPagesAndLosesNoFsyncedData) {
    Bus bus(2);
    bus.at(1).write(1, kFile, 0, bytes_of(10), bus.now);
    bus.collect(1);
    bus.settle();
    bus.at(1).fsync(2, kFile, bus.now);
    bus.collect(1);
    bus.settle();
    bus.complete_store_syncs();
    bus.settle();
    ASSERT_TRUE(bus.completion(2) && bus.completion(2)->status.is_ok());
    bus.at(1).write(
        3, kFile, 0, bytes_of(20), bus.now);  // after the fsync: only in node 1's M page
    bus.collect(1);
    bus.settle();
    EXPECT_EQ(value_of(bus.stores[0][0]), 10u);
    // The home restarts (its store survives); node 1 hears of it and reclaims.
    bus.net.clear();
    bus.restart(0, 2);
    EXPECT_TRUE(bus.at(0).recovering());
    bus.at(1).on_link_reset(0, bus.now);
    bus.collect(1);
    bus.settle();
    EXPECT_FALSE(bus.at(0).recovering()) << "every member reported, recovery ended early";
    EXPECT_EQ(value_of(bus.stores[0][0]), 20u) << "the unsynced write was reclaimed";
    bus.at(1).read(4, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.settle();
    ASSERT_TRUE(bus.completion(4) && bus.completion(4)->status.is_ok());
    EXPECT_EQ(value_of(bus.completion(4)->pages.at(0)), 20u);
}

TEST(Engine, AHomeRestartDoesNotTakeBackPagesFromANodeItDeclaredDead) {
    // Found by the simulator (seed 5341): node 1 holds page 0 in M and is cut off; the home
    // declares it dead and serves the page's older stored value to node 2; then the home
    // crashes and restarts, the cut heals, and node 1 reclaims its page. Taking it would
    // bring back a write that node 2 has already seen replaced by the older value.
    Bus bus(3);
    bus.stores[0][0] = page_of(10);
    bus.at(1).write(1, kFile, 0, bytes_of(20), bus.now);
    bus.collect(1);
    bus.settle();
    ASSERT_TRUE(bus.completion(1) && bus.completion(1)->status.is_ok());
    auto cut = [&] {
        std::erase_if(bus.net, [](const Message& m) { return m.from == 1 || m.to == 1; });
    };
    for (Time t = 100; t <= 2000; t += 100) {
        bus.tick_all(t);
        cut();
        bus.settle();
        cut();
    }
    EXPECT_EQ(bus.at(0).dir_entry(kFile.ino, 0).owner, kNoNode) << "node 1 declared dead";
    EXPECT_EQ(bus.disks[0].dead, bit(1)) << "the death is on disk before the page moves on";
    bus.at(2).read(2, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(2);
    bus.settle();
    ASSERT_TRUE(bus.completion(2) && bus.completion(2)->status.is_ok());
    EXPECT_EQ(value_of(bus.completion(2)->pages.at(0)), 10u);
    // The home restarts; node 1 reaches it again and tries to reclaim.
    bus.net.clear();
    bus.restart(0, 2);
    bus.at(1).on_link_reset(0, bus.now);
    bus.at(2).on_link_reset(0, bus.now);
    bus.collect(1);
    bus.collect(2);
    bus.settle();
    EXPECT_EQ(value_of(bus.stores[0][0]), 10u) << "the dead node's page was taken back";
    bus.at(2).read(3, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(2);
    bus.settle();
    ASSERT_TRUE(bus.completion(3) && bus.completion(3)->status.is_ok());
    EXPECT_EQ(value_of(bus.completion(3)->pages.at(0)), 10u);
    // Node 1 learns that its write is gone at its next fsync.
    bus.at(1).fsync(4, kFile, bus.now);
    bus.collect(1);
    bus.settle();
    ASSERT_NE(bus.completion(4), nullptr);
    EXPECT_EQ(bus.completion(4)->status.code(), Code::DataLost);
    // And the record of the previous incarnation is not carried on: once node 1 has joined the
    // new one, its pages may be reclaimed after a later restart.
    EXPECT_EQ(bus.disks[0].dead, 0u);
}

// A node that gives its written data back to a Recall no longer holds it as dirty. If that
// RecallAck is lost with the connection, the write must not vanish without a word: the node's
// next fsync fails, once. Before, the home forgot the session and the next fsync succeeded: the
// history under connection resets lost fsync'd writes. The pages the node still holds in M are
// written back in the old session before it rejoins (reset), or reclaimed (home restarted).
TEST(Engine, DirtyDataGivenBackAndLostWithTheLinkIsReportedAndMPagesAreKept) {
    enum class Case { Confirmed, Reset, HomeRestarted };
    for (Case c : {Case::Confirmed, Case::Reset, Case::HomeRestarted}) {
        SCOPED_TRACE(static_cast<int>(c));
        Bus bus(3);
        // The home's store syncs complete as soon as they are asked for.
        auto fsync = [&](uint64_t req) {
            bus.at(1).fsync(req, kFile, bus.now);
            bus.collect(1);
            bus.settle();
            bus.complete_store_syncs();
            bus.settle();
            return bus.completion(req);
        };
        bus.at(1).write(1, kFile, 0, bytes_of(20), bus.now);
        bus.at(1).write(9, kFile, kPage, bytes_of(21), bus.now);  // page 1, kept in M
        bus.collect(1);
        bus.settle();
        ASSERT_TRUE(bus.completion(1) && bus.completion(1)->status.is_ok());
        EXPECT_EQ(bus.at(1).lost_count(kFile), 0u);
        // Node 2 reads page 0: the home recalls it from node 1, whose answer carries the data.
        bus.at(2).read(2, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
        bus.collect(2);
        while (bus.step()) {
            bus.complete_kernel(1);
            if (!bus.net.empty() && bus.net.front().type == MsgType::RecallAck) {
                break;
            }
        }
        ASSERT_FALSE(bus.net.empty());
        ASSERT_EQ(bus.net.front().type, MsgType::RecallAck);
        ASSERT_NE(bus.net.front().pages.at(0), nullptr) << "the data goes with the ack";
        if (c == Case::Confirmed) {
            // The home reads it, and a lease renewal sent after it is granted (FIFO).
            bus.step();
            bus.tick_all(bus.now + 500);
            bus.settle();
            EXPECT_EQ(value_of(bus.stores[0][0]), 20u);
        } else {
            bus.net.pop_front();  // lost with the connection
        }
        bus.net.clear();
        if (c == Case::HomeRestarted) {
            bus.restart(0, 2);
        }
        bus.at(1).on_link_reset(0, bus.now);
        bus.at(0).on_link_reset(1, bus.now);
        bus.collect(1);
        bus.collect(0);
        bus.settle();
        ASSERT_NE(fsync(3), nullptr);
        EXPECT_EQ(value_of(bus.stores[0][1]), 21u)
            << "the M page was written back (reset) or reclaimed (restart)";
        if (c == Case::Confirmed) {
            EXPECT_TRUE(bus.completion(3)->status.is_ok()) << bus.completion(3)->status.to_string();
            EXPECT_EQ(bus.at(1).lost_count(kFile), 0u);
        } else {
            // Page 0's given-back data may not have arrived: said so, once.
            EXPECT_EQ(bus.completion(3)->status.code(), Code::DataLost);
            EXPECT_EQ(bus.at(1).lost_count(kFile), 1u);
            ASSERT_NE(fsync(4), nullptr);
            EXPECT_TRUE(bus.completion(4)->status.is_ok()) << "reported once";
        }
        // Node 2 reads what node 1 wrote and kept.
        bus.at(2).read(5, kFile, Range{0, 2}, ReadMode::Direct, bus.now);
        bus.collect(2);
        bus.settle();
        ASSERT_TRUE(bus.completion(5) && bus.completion(5)->status.is_ok());
        if (c == Case::Confirmed) {
            EXPECT_EQ(value_of(bus.completion(5)->pages.at(0)), 20u);
        }
        EXPECT_EQ(value_of(bus.completion(5)->pages.at(1)), 21u);
    }
}

TEST(Engine, HostileMessagesAreRefusedWithoutHarm) {
    Bus bus(2);
    bus.at(1).read(1, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.settle();
    Message m;
    m.type = MsgType::GetS;
    m.from = 9;  // not a member
    m.to = 0;
    m.file = kFile;
    m.range = Range{0, 1};
    bus.at(0).on_message(m, bus.now);
    bus.collect(0);
    EXPECT_TRUE(bus.net.empty()) << "a non-member gets nothing";
    // A member with a stale session is told so, not served.
    m.from = 1;
    m.session = 12345;
    bus.at(0).on_message(m, bus.now);
    bus.collect(0);
    ASSERT_EQ(bus.net.size(), 1u);
    EXPECT_EQ(bus.net.front().type, MsgType::Stale);
    bus.net.clear();
    // An oversized Inv from the home is ignored by the node, which keeps its copy.
    Message inv;
    inv.type = MsgType::Inv;
    inv.from = 0;
    inv.to = 1;
    inv.file = kFile;
    inv.range = Range{0, 1u << 30};
    bus.at(1).on_message(inv, bus.now);
    bus.collect(1);
    EXPECT_EQ(bus.at(1).page_state(kFile, 0), PState::S);
}

TEST(Engine, AFullHomeQueueThrottlesWithBusyAndLosesNothing) {
    Bus bus(4, 256, /*queue_max=*/1);
    bus.at(3).write(1, kFile, 0, bytes_of(3), bus.now);
    bus.collect(3);
    bus.settle();
    // Node 1's fetch is admitted (recalling from node 3); node 2's waits; node 0's is refused.
    bus.at(1).read(2, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.at(2).read(3, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.at(0).read(4, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.collect(2);
    bus.collect(0);
    bus.settle();
    EXPECT_EQ(bus.count(MsgType::Nack), 1u);
    EXPECT_EQ(bus.completion(4), nullptr) << "throttled, not failed";
    EXPECT_EQ(bus.at(0).page_state(kFile, 0), PState::I)
        << "the refused fetch left no transient state";
    ASSERT_TRUE(bus.completion(2) && bus.completion(2)->status.is_ok());
    ASSERT_TRUE(bus.completion(3) && bus.completion(3)->status.is_ok());
    EXPECT_EQ(value_of(bus.completion(3)->pages.at(0)), 3u);
    bus.tick_all(bus.now + 2'000);  // the back-off ends: the fetch is sent again
    bus.settle();
    ASSERT_TRUE(bus.completion(4) && bus.completion(4)->status.is_ok());
    EXPECT_EQ(value_of(bus.completion(4)->pages.at(0)), 3u);
}

TEST(Engine, SixtyFourNodesShareAndOneWriteInvalidatesTheOther63) {
    Bus bus(kMaxNodes);
    const FileId f{63, 1};  // homed at the last node
    for (int n = 0; n < kMaxNodes; ++n) {
        bus.at(n).read(static_cast<uint64_t>(100 + n), f, Range{0, 1}, ReadMode::Direct, bus.now);
        bus.collect(n);
    }
    bus.settle();
    EXPECT_EQ(bus.at(63).dir_entry(f.ino, 0).sharers, ~NodeMask{0})
        << "all 64 nodes share the page";
    bus.at(5).write(1, f, 0, bytes_of(64), bus.now);
    bus.collect(5);
    bus.settle();
    ASSERT_TRUE(bus.completion(1) && bus.completion(1)->status.is_ok());
    EXPECT_EQ(bus.count(MsgType::Inv), 63u);
    EXPECT_EQ(bus.at(63).dir_entry(f.ino, 0).owner, 5);
    for (int n = 0; n < kMaxNodes; ++n) {
        EXPECT_EQ(bus.at(n).page_state(f, 0), n == 5 ? PState::M : PState::I) << "node " << n;
    }
}

TEST(Engine, RequestsTimeOutInsteadOfWaitingForever) {
    Bus bus(2);
    bus.at(1).read(1, kFile, Range{0, 1}, ReadMode::Direct, bus.now);
    bus.collect(1);
    bus.net.clear();  // the home never answers
    bus.tick_all(200'000);
    ASSERT_NE(bus.completion(1), nullptr);
    EXPECT_EQ(bus.completion(1)->status.code(), Code::Timeout);
}

}  // namespace
}  // namespace vr::coherence
