// Benchmarks of the coherence core alone: engines wired in-process through one FIFO queue (as
// in tests/unit/coherence_test.cc), no I/O. Two kinds:
//   * flows: transitions per second of typical protocol flows (read miss, write that
//     invalidates k sharers, ownership ping-pong, eviction with write-back);
//   * directory memory: bytes per tracked page at the home with 1 Mi tracked pages.
// The counters are listed in bench/core/README.md; bench/run reads them from the JSON output.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

#include "coherence/engine.h"

namespace vr::coherence {
namespace {

constexpr uint32_t kPageSize = 4096;
constexpr Time kNow = 1000;  // time stands still: leases never run out, nothing times out
const FileId kFile{0, 7};    // homed at node 0

// n engines, node 0 the home of kFile. Stores are not modelled: data read from the store is one
// shared zero page, StoreWrite is dropped. Reads are direct, so no kernel invalidations arise;
// any that do are completed at once.
class Cluster {
  public:
    explicit Cluster(int n) {
        for (int i = 0; i < n; ++i) {
            EngineConfig c;
            c.self = static_cast<NodeId>(i);
            c.members = (NodeMask{1} << n) - 1;
            c.page_size = kPageSize;
            c.cache_pages_max = 1 << 20;
            engines_.push_back(std::make_unique<Engine>(c));
        }
        zero_ = std::make_shared<const std::vector<std::byte>>(kPageSize);
        for (int i = 0; i < n; ++i) {
            engines_[static_cast<size_t>(i)]->start(kNow);
            collect(i);
        }
        run();
    }
    Engine& at(int n) { return *engines_[static_cast<size_t>(n)]; }

    void collect(int n) {
        for (Effect& e : at(n).take_effects()) {
            switch (e.kind) {
                case EffectKind::Send:
                    if (e.msg.data_from_store) {
                        e.msg.pages.assign(e.msg.range.count, zero_);
                    }
                    net_.push_back(std::move(e.msg));
                    ++messages_;
                    break;
                case EffectKind::KernelInvalidate:
                    kernel_.emplace_back(n, e.token);
                    break;
                case EffectKind::StoreSync:
                    syncs_.emplace_back(n, e.token);
                    break;
                case EffectKind::ReadDone:
                case EffectKind::WriteDone:
                case EffectKind::FsyncDone:
                    ++completed_;
                    break;
                case EffectKind::StoreWrite:
                case EffectKind::HomeState:
                    break;
            }
        }
    }
    // Delivers messages and completes effects until nothing is left.
    void run() {
        while (!net_.empty() || !kernel_.empty() || !syncs_.empty()) {
            while (!net_.empty()) {
                Message m = std::move(net_.front());
                net_.pop_front();
                int to = m.to;
                at(to).on_message(m, kNow);
                collect(to);
            }
            for (auto [n, token] : std::exchange(kernel_, {})) {
                at(n).on_kernel_invalidated(token, kNow);
                collect(n);
            }
            for (auto [n, token] : std::exchange(syncs_, {})) {
                at(n).on_store_synced(token, Status(), kNow);
                collect(n);
            }
        }
    }
    // Table transitions checked so far by every engine (node side and directory).
    uint64_t transitions() const {
        uint64_t t = 0;
        for (const auto& e : engines_) {
            for (uint64_t h : e->node_row_hits()) {
                t += h;
            }
            for (uint64_t h : e->dir_row_hits()) {
                t += h;
            }
        }
        return t;
    }
    uint64_t messages() const { return messages_; }
    uint64_t completed() const { return completed_; }

  private:
    std::vector<std::unique_ptr<Engine>> engines_;
    std::deque<Message> net_;
    std::vector<std::pair<int, uint64_t>> kernel_;
    std::vector<std::pair<int, uint64_t>> syncs_;
    PageBuf zero_;
    uint64_t messages_ = 0;
    uint64_t completed_ = 0;
};

// Counters shared by the flow benchmarks, over the measured part of `flows` flows.
void flow_counters(benchmark::State& state, uint64_t flows, uint64_t transitions, uint64_t msgs) {
    using benchmark::Counter;
    state.counters["flows_per_s"] = Counter(static_cast<double>(flows), Counter::kIsRate);
    state.counters["transitions_per_s"] =
        Counter(static_cast<double>(transitions), Counter::kIsRate);
    state.counters["transitions_per_flow"] =
        static_cast<double>(transitions) / static_cast<double>(flows);
    state.counters["messages_per_flow"] = static_cast<double>(msgs) / static_cast<double>(flows);
}

std::vector<std::byte> bytes(size_t n, uint8_t v) {
    return std::vector<std::byte>(n, std::byte{v});
}

// A read miss served by the home (GetS -> DataS) of `range` pages, then the clean eviction of
// those pages (PutS), so the cache stays small. Measured: the whole flow.
void BM_ReadMiss(benchmark::State& state) {
    uint64_t range = static_cast<uint64_t>(state.range(0));
    Cluster c(2);
    uint64_t req = 1;
    PageIndex p = 0;
    uint64_t t0 = c.transitions();
    uint64_t m0 = c.messages();
    for (auto _ : state) {
        Range r{p, range};
        c.at(1).read(req++, kFile, r, ReadMode::Direct, kNow);
        c.collect(1);
        c.run();
        c.at(1).evict(kFile, r, kNow);
        c.collect(1);
        c.run();
        p = (p + range) % (4096 * range);
    }
    flow_counters(state, state.iterations(), c.transitions() - t0, c.messages() - m0);
}
BENCHMARK(BM_ReadMiss)->ArgName("pages")->Arg(1)->Arg(16)->Arg(256);

// k readers share a page, then one writer upgrades it (GetM): the home invalidates the k
// sharers (Inv / InvAck) and grants M. Measured: the write only (manual time); the readers'
// fetches (whose first one recalls the writer's M copy to S) are set up outside it.
void BM_WriteInvalidate(benchmark::State& state) {
    int k = static_cast<int>(state.range(0));
    Cluster c(k + 2);
    int writer = k + 1;
    uint64_t req = 1;
    uint64_t transitions = 0;
    uint64_t msgs = 0;
    for (auto _ : state) {
        for (int n = 1; n <= k; ++n) {
            c.at(n).read(req++, kFile, Range{0, 1}, ReadMode::Direct, kNow);
            c.collect(n);
        }
        c.run();
        uint64_t t0 = c.transitions();
        uint64_t m0 = c.messages();
        auto start = std::chrono::steady_clock::now();
        c.at(writer).write(req++, kFile, 0, bytes(8, 1), kNow);
        c.collect(writer);
        c.run();
        auto end = std::chrono::steady_clock::now();
        state.SetIterationTime(std::chrono::duration<double>(end - start).count());
        transitions += c.transitions() - t0;
        msgs += c.messages() - m0;
    }
    flow_counters(state, state.iterations(), transitions, msgs);
}
BENCHMARK(BM_WriteInvalidate)->ArgName("sharers")->Arg(1)->Arg(3)->Arg(7)->UseManualTime();

// Two nodes write the same page in turn: each write recalls the page from the other (Recall to
// I, RecallAck with data, write-back at the home, DataM). Measured: one transfer per iteration.
void BM_PingPong(benchmark::State& state) {
    Cluster c(3);
    uint64_t req = 1;
    int n = 1;
    uint64_t t0 = c.transitions();
    uint64_t m0 = c.messages();
    for (auto _ : state) {
        c.at(n).write(req, kFile, 0, bytes(8, static_cast<uint8_t>(req)), kNow);
        ++req;
        c.collect(n);
        c.run();
        n = 3 - n;
    }
    flow_counters(state, state.iterations(), c.transitions() - t0, c.messages() - m0);
}
BENCHMARK(BM_PingPong);

// A node writes `range` pages (write miss: GetM, DataM) and evicts them (PutM with the data,
// write-back at the home, PutAck). Measured: the eviction only (manual time).
void BM_EvictWriteBack(benchmark::State& state) {
    uint64_t range = static_cast<uint64_t>(state.range(0));
    Cluster c(2);
    uint64_t req = 1;
    PageIndex p = 0;
    uint64_t transitions = 0;
    uint64_t msgs = 0;
    for (auto _ : state) {
        c.at(1).write(req++, kFile, p * kPageSize, bytes(range * kPageSize, 2), kNow);
        c.collect(1);
        c.run();
        uint64_t t0 = c.transitions();
        uint64_t m0 = c.messages();
        auto start = std::chrono::steady_clock::now();
        c.at(1).evict(kFile, Range{p, range}, kNow);
        c.collect(1);
        c.run();
        auto end = std::chrono::steady_clock::now();
        state.SetIterationTime(std::chrono::duration<double>(end - start).count());
        transitions += c.transitions() - t0;
        msgs += c.messages() - m0;
        p = (p + range) % (4096 * range);
    }
    flow_counters(state, state.iterations(), transitions, msgs);
}
BENCHMARK(BM_EvictWriteBack)->ArgName("pages")->Arg(1)->Arg(16)->UseManualTime();

// ---- Directory memory at 1 Mi tracked pages ----

enum class Pattern : uint8_t { OneSharer, ThreeSharers, Owned, Sparse };

// Drives the home engine alone: nodes 1..3 join, then fetch (GetS) or upgrade (GetM) 1 Mi pages
// in requests of 256 pages. `Sparse` tracks one page in every 64 (1 Mi pages over 64 Mi).
void BM_DirBytes(benchmark::State& state, Pattern pattern) {
    constexpr uint64_t kPages = uint64_t{1} << 20;
    for (auto _ : state) {
        EngineConfig cfg;
        cfg.self = 0;
        cfg.members = 0xF;
        cfg.page_size = kPageSize;
        auto home = std::make_unique<Engine>(cfg);
        home->start(kNow);
        home->take_effects();
        uint64_t session[4] = {};
        for (NodeId n = 1; n <= 3; ++n) {
            Message j;
            j.type = MsgType::Join;
            j.from = n;
            j.to = 0;
            j.incarnation = 1;
            home->on_message(j, kNow);
            for (const Effect& e : home->take_effects()) {
                if (e.kind == EffectKind::Send && e.msg.type == MsgType::JoinAck) {
                    session[n] = e.msg.session;
                }
            }
        }
        size_t heap_before = mallinfo2().uordblks;
        int nodes = pattern == Pattern::ThreeSharers ? 3 : 1;
        uint64_t stride = pattern == Pattern::Sparse ? DirTable::kChunkPages : 1;
        uint64_t per_msg = pattern == Pattern::Sparse ? 1 : 256;
        uint64_t req = 1;
        for (int n = 1; n <= nodes; ++n) {
            for (PageIndex p = 0; p < kPages * stride; p += per_msg * stride) {
                Message m;
                m.type = pattern == Pattern::Owned ? MsgType::GetM : MsgType::GetS;
                m.from = static_cast<NodeId>(n);
                m.to = 0;
                m.session = session[n];
                m.id = req++;
                m.file = kFile;
                m.range = Range{p, per_msg};
                home->on_message(m, kNow);
                home->take_effects();
            }
        }
        size_t heap_after = mallinfo2().uordblks;
        Engine::DirectoryStats st = home->directory_stats();
        if (st.tracked_pages != kPages) {
            state.SkipWithError("wrong number of tracked pages");
            return;
        }
        double pages = static_cast<double>(st.tracked_pages);
        state.counters["tracked_pages"] = pages;
        state.counters["dir_bytes_per_page"] = static_cast<double>(st.bytes) / pages;
        state.counters["dir_table_bytes_per_page"] = static_cast<double>(st.table_bytes) / pages;
        state.counters["dir_heap_bytes_per_page"] =
            static_cast<double>(heap_after - heap_before) / pages;
        state.counters["dir_transient_bytes"] = static_cast<double>(st.transient_bytes);
    }
}
BENCHMARK_CAPTURE(BM_DirBytes, one_sharer, Pattern::OneSharer)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DirBytes, three_sharers, Pattern::ThreeSharers)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DirBytes, owned_m, Pattern::Owned)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DirBytes, sparse_1_in_64, Pattern::Sparse)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace vr::coherence

BENCHMARK_MAIN();
