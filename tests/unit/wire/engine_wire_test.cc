// The codec carries what the engine needs. Goal: show that real engines, whose every message
// goes through encode_peer and decode_peer (and only the decoded copy is delivered), run the
// protocol as they do over the simulator's in-memory links. Method: three engines with 16-byte
// pages, a seeded random workload (reads through the kernel and direct, writes, fsyncs,
// evictions, ticks, link resets, restarts), a store per home that fills data_from_store
// replies as the daemon will; every message must encode, decode, and re-encode to the same
// bytes; the engines must never trace a malformed or unexpected message; at the end, with the
// network healed, all nodes must read the same contents; and over the seeds every MsgType must
// have crossed the wire.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "coherence/engine.h"
#include "test_util.h"
#include "wire/peer.h"

namespace vr::wire {
namespace {

using namespace vr::coherence;  // NOLINT: test of the engine's vocabulary

constexpr uint32_t kPage = 16;
constexpr int kNodes = 3;
const FileId kFiles[2] = {FileId{0, 7}, FileId{1, 9}};
constexpr PageIndex kPagesPerFile = 8;

Limits bus_limits() {
    Limits l;
    l.page_size = kPage;
    l.max_pages = 256;
    return l;
}

struct WireBus {
    explicit WireBus(uint64_t seed) : rng(seed) {
        for (int n = 0; n < kNodes; ++n) {
            EngineConfig c;
            c.self = static_cast<NodeId>(n);
            c.members = (NodeMask{1} << kNodes) - 1;
            c.page_size = kPage;
            c.lease_us = 2000;
            c.grace_us = 1000;
            c.request_timeout_us = 50'000;
            c.cache_pages_max = 10;  // small: evictions (PutS/PutM) happen on their own
            c.home_queue_max = 4;    // small: Busy refusals (Nack) happen too
            cfgs.push_back(c);
            engines.push_back(make(n));
        }
        stores.resize(kNodes);
        for (int n = 0; n < kNodes; ++n) {
            at(n).start(now);
            collect(n);
        }
    }

    std::unique_ptr<Engine> make(int n) {
        auto e = std::make_unique<Engine>(cfgs[static_cast<size_t>(n)]);
        e->set_trace([this](const std::string& line) {
            bool bad = line.find("malformed") != std::string::npos ||
                       line.find("protocol error") != std::string::npos;
            if (bad) {
                bad_traces.push_back(line);
            }
        });
        return e;
    }
    Engine& at(int n) { return *engines[static_cast<size_t>(n)]; }

    // A message leaves node n: the daemon fills store data, then it crosses the wire.
    void send(int n, Message m) {
        if (m.data_from_store) {
            m.pages.clear();
            for (PageIndex p = m.range.first; p < m.range.end(); ++p) {
                auto it = stores[static_cast<size_t>(n)].find({m.file.ino, p});
                m.pages.push_back(it != stores[static_cast<size_t>(n)].end()
                                      ? it->second
                                      : std::make_shared<std::vector<std::byte>>(kPage));
            }
        }
        std::vector<std::byte> head;
        std::vector<PageBuf> data;
        Status s = encode_peer(m, limits, head, data);
        ASSERT_TRUE(s.is_ok()) << to_string(m) << ": " << s.to_string();
        auto h = decode_header(std::span(head).first(kHeaderSize), limits);
        ASSERT_TRUE(h.is_ok()) << h.status().to_string();
        PageBuffers bufs = make_page_buffers(h.value(), limits);
        ASSERT_EQ(bufs.spans.size(), data.size());
        for (size_t i = 0; i < data.size(); ++i) {
            std::memcpy(bufs.spans[i].data(), data[i]->data(), kPage);
        }
        LinkEnds ends{static_cast<NodeId>(n), m.to};
        auto got = decode_peer(h.value(), test::body_of(head), std::move(bufs.pages), limits, ends);
        ASSERT_TRUE(got.is_ok()) << to_string(m) << ": " << got.status().to_string();
        std::vector<std::byte> again;
        std::vector<PageBuf> again_data;
        ASSERT_TRUE(encode_peer(got.value(), limits, again, again_data).is_ok());
        ASSERT_EQ(again, head) << to_string(m);
        ++seen[m.type];
        net[{n, m.to}].push_back(std::move(got).value());
    }

    void collect(int n) {
        for (Effect& e : at(n).take_effects()) {
            switch (e.kind) {
                case EffectKind::Send:
                    send(n, std::move(e.msg));
                    break;
                case EffectKind::StoreWrite:
                    for (PageIndex p = e.range.first; p < e.range.end(); ++p) {
                        stores[static_cast<size_t>(n)][{e.file.ino, p}] =
                            e.pages[p - e.range.first];
                    }
                    break;
                case EffectKind::StoreSync:
                    syncs.push_back({n, e.token});
                    break;
                case EffectKind::HomeState:
                    break;
                case EffectKind::KernelInvalidate:
                    kernel[n].push_back(e.token);
                    break;
                case EffectKind::ReadDone:
                case EffectKind::WriteDone:
                case EffectKind::FsyncDone:
                    done[e.req] = e;
                    break;
            }
        }
    }

    // Delivers the next message of a random link (links are FIFO, like TCP connections).
    bool deliver() {
        std::erase_if(net, [](const auto& kv) { return kv.second.empty(); });
        if (net.empty()) {
            return false;
        }
        auto it = std::next(net.begin(), static_cast<long>(rng() % net.size()));
        Message m = std::move(it->second.front());
        it->second.pop_front();
        at(m.to).on_message(m, now);
        collect(m.to);
        return true;
    }

    void complete_kernel(int n) {
        auto tokens = std::move(kernel[n]);
        kernel[n].clear();
        for (uint64_t t : tokens) {
            at(n).on_kernel_invalidated(t, now);
            collect(n);
        }
    }

    void complete_syncs() {
        auto pending = std::move(syncs);
        syncs.clear();
        for (auto [n, token] : pending) {
            at(n).on_store_synced(token, Status::ok(), now);
            collect(n);
        }
    }

    void tick(Time dt) {
        now += dt;
        for (int n = 0; n < kNodes; ++n) {
            at(n).on_tick(now);
            collect(n);
        }
    }

    // Drops what is in flight between a and b and tells both ends.
    void reset_link(int a, int b) {
        net.erase({a, b});
        net.erase({b, a});
        at(a).on_link_reset(static_cast<NodeId>(b), now);
        collect(a);
        at(b).on_link_reset(static_cast<NodeId>(a), now);
        collect(b);
    }

    void restart(int n) {
        std::erase_if(net,
                      [&](const auto& kv) { return kv.first.first == n || kv.first.second == n; });
        kernel[n].clear();
        std::erase_if(syncs, [&](const auto& s) { return s.first == n; });
        EngineConfig& c = cfgs[static_cast<size_t>(n)];
        ++c.node_incarnation;
        ++c.home_incarnation;
        engines[static_cast<size_t>(n)] = make(n);
        at(n).start(now);
        collect(n);
        for (int o = 0; o < kNodes; ++o) {
            if (o != n) {
                at(o).on_link_reset(static_cast<NodeId>(n), now);
                collect(o);
            }
        }
    }

    void random_step();
    void heal_and_settle();

    std::mt19937_64 rng;
    Limits limits = bus_limits();
    Time now = 1;
    uint64_t next_req = 1;
    std::vector<EngineConfig> cfgs;
    std::vector<std::unique_ptr<Engine>> engines;
    std::vector<std::map<std::pair<uint64_t, PageIndex>, PageBuf>> stores;
    std::map<std::pair<int, int>, std::deque<Message>> net;  // per link, FIFO
    std::map<int, std::vector<uint64_t>> kernel;
    std::vector<std::pair<int, uint64_t>> syncs;
    std::map<uint64_t, Effect> done;
    std::map<MsgType, int> seen;
    std::vector<std::string> bad_traces;
};

void WireBus::random_step() {
    int n = static_cast<int>(rng() % kNodes);
    FileId f = kFiles[rng() % 2];
    uint64_t roll = rng() % 100;
    if (roll < 40) {
        deliver();
    } else if (roll < 50) {
        complete_kernel(n);
    } else if (roll < 53) {
        complete_syncs();
    } else if (roll < 63) {
        PageIndex first = rng() % kPagesPerFile;
        Range r{first, 1 + rng() % std::min<uint64_t>(3, kPagesPerFile - first)};
        ReadMode mode = rng() % 2 == 0 ? ReadMode::KernelFill : ReadMode::Direct;
        at(n).read(next_req++, f, r, mode, now);
    } else if (roll < 75) {
        std::vector<std::byte> bytes = test::random_bytes(rng, 1 + rng() % 40);
        uint64_t offset = rng() % (kPagesPerFile * kPage - bytes.size());
        at(n).write(next_req++, f, offset, std::move(bytes), now);
    } else if (roll < 79) {
        at(n).fsync(next_req++, f, now);
    } else if (roll < 84) {
        at(n).evict(f, Range{rng() % kPagesPerFile, 1 + rng() % 3}, now);
    } else if (roll < 98) {
        tick(static_cast<Time>(rng() % 300));
        return;
    } else if (roll < 99) {
        reset_link(n, static_cast<int>((n + 1 + rng() % (kNodes - 1)) % kNodes));
        return;
    } else {
        restart(n);
        return;
    }
    collect(n);
}

void WireBus::heal_and_settle() {
    // Deliveries, kernel completions and ticks interleave (as they do in a daemon), so that
    // no schedule starves one of them.
    for (int round = 0; round < 2000; ++round) {
        for (int i = 0; i < 50 && deliver(); ++i) {
        }
        for (int n = 0; n < kNodes; ++n) {
            complete_kernel(n);
        }
        complete_syncs();
        tick(100);
    }
    for (int i = 0; i < 10000 && deliver(); ++i) {
    }
    size_t left = 0;
    for (const auto& [link, q] : net) {
        left += q.size();
    }
    EXPECT_EQ(left, 0u) << "the network did not go quiet";
}

TEST(EngineOverWire, EnginesRunTheProtocolThroughTheCodec) {
    std::map<MsgType, int> seen;
    for (uint64_t s = 0; s < 24; ++s) {
        uint64_t seed = test::seed() + s;
        WireBus bus(seed);
        for (int i = 0; i < 3000 && !HasFatalFailure(); ++i) {
            bus.random_step();
        }
        ASSERT_FALSE(HasFatalFailure()) << "seed " << seed;
        bus.heal_and_settle();
        ASSERT_FALSE(HasFatalFailure()) << "seed " << seed;
        EXPECT_TRUE(bus.bad_traces.empty()) << "seed " << seed << ": " << bus.bad_traces[0];
        // Every node reads every page, and all see the same bytes.
        std::map<std::pair<int, int>, uint64_t> reqs;
        for (int n = 0; n < kNodes; ++n) {
            for (int f = 0; f < 2; ++f) {
                reqs[{n, f}] = bus.next_req;
                bus.at(n).read(
                    bus.next_req++, kFiles[f], Range{0, kPagesPerFile}, ReadMode::Direct, bus.now);
                bus.collect(n);
            }
        }
        bus.heal_and_settle();
        for (int f = 0; f < 2; ++f) {
            std::vector<std::vector<std::byte>> first;
            for (int n = 0; n < kNodes; ++n) {
                auto it = bus.done.find(reqs[{n, f}]);
                ASSERT_NE(it, bus.done.end()) << "seed " << seed << " node " << n;
                ASSERT_TRUE(it->second.status.is_ok()) << it->second.status.to_string();
                std::vector<std::vector<std::byte>> got;
                for (const PageBuf& p : it->second.pages) {
                    got.push_back(*p);
                }
                if (n == 0) {
                    first = got;
                }
                EXPECT_EQ(got, first) << "seed " << seed << ": node " << n << " file " << f;
            }
        }
        for (auto [t, c] : bus.seen) {
            seen[t] += c;
        }
    }
    std::string counts;
    for (auto [t, c] : seen) {
        counts += fmt::format("{}={} ", msg_name(t), c);
    }
    std::printf("messages through the codec: %s\n", counts.c_str());
    for (int t = 0; t < kMsgTypeCount; ++t) {
        EXPECT_GT(seen[static_cast<MsgType>(t)], 0)
            << msg_name(static_cast<MsgType>(t)) << " never crossed the wire";
    }
}

}  // namespace
}  // namespace vr::wire
