// libFuzzer target for the coherence engine's handling of remote input. One Engine (node 0 of a
// 3-node cluster) is at once the home of its own files (FileId{0, ino}) and a caching node for
// the files of nodes 1 and 2, which the fuzzer plays: it sends the engine peer messages, as an
// authenticated but malicious peer may, and drives the engine's local side (reads, writes,
// fsyncs, evictions, giving up on a home, completions of kernel invalidations and store syncs,
// ticks, link resets) so that the messages meet every state. Every message goes through the full
// wire codec before it reaches the engine, exactly as in the daemon: either built from fields (most
// often ones the engine itself used: its sessions, request and transaction ids, ranges, lease
// times) and encoded with encode_peer, or taken as raw frame bytes (CRCs resealed); only what
// decode_peer accepts is delivered. Messages the engine sends to itself (its own files) are looped
// back, as the transport does.
//
// Findings: any crash, sanitizer report or VR_ASSERT (which aborts): remote input must be
// refused or ignored by the engine, never trip one of its invariants. And, checked on the
// engine's effects: every message it sends encodes (the transport could not send it otherwise),
// every local request completes exactly once, store writes carry one full page per page of
// their range.
//
// Input: byte 0 selects the engine's configuration (bit 0: a restarted home, recovering; bit 1:
// a cache of 4 pages, so that evictions run), then commands, each an op byte and its operands;
// a command that runs out of input ends the run.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "coherence/engine.h"
#include "wire/crc32c.h"
#include "wire/peer.h"
#include "wire_fuzz_common.h"

namespace vr::coherence::fuzz {
namespace {

using wire::Limits;

[[noreturn]] void finding(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "engine_fuzz: %s %s\n", what, detail.c_str());
    std::abort();
}

class Input {
  public:
    Input(const uint8_t* p, size_t n) : p_(p), n_(n) {}
    bool empty() const { return at_ >= n_; }
    bool ok() const { return ok_; }
    uint8_t u8() {
        if (at_ >= n_) {
            ok_ = false;
            return 0;
        }
        return p_[at_++];
    }
    uint64_t u64() {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v |= uint64_t{u8()} << (8 * i);
        }
        return v;
    }
    std::span<const uint8_t> bytes(size_t n) {
        n = std::min(n, n_ - std::min(at_, n_));
        std::span<const uint8_t> s(p_ + at_, n);
        at_ += n;
        return s;
    }

  private:
    const uint8_t* p_;
    size_t n_;
    size_t at_ = 0;
    bool ok_ = true;
};

std::string describe(const Effect& e) {
    return fmt::format("effect {} req {} token {} {} {} pages {} status {}",
                       static_cast<int>(e.kind),
                       e.req,
                       e.token,
                       to_string(e.file),
                       to_string(e.range),
                       e.pages.size(),
                       e.status.to_string());
}

constexpr NodeId kSelf = 0;
constexpr NodeMask kMembers = 0b111;

struct Harness {
    Limits limits = wire::fuzz::limits_for(1);  // 64-byte pages, 8 pages per range
    Engine engine;
    Time now = 1'000'000;
    uint64_t next_req = 1;
    std::set<uint64_t> open_reqs;           // local requests not completed yet
    std::vector<uint64_t> invalidations;    // KernelInvalidate tokens not reported
    std::vector<uint64_t> syncs;            // StoreSync tokens not reported
    std::deque<Message> loopback;           // the engine's messages to itself
    uint64_t home_session[kMaxNodes] = {};  // sessions the engine (home) assigned
    uint64_t node_session[kMaxNodes] = {};  // sessions the fuzzer's homes assigned
    std::vector<uint64_t> ids[kMaxNodes];   // ids the engine used towards a peer
    std::vector<Range> ranges;              // ranges the engine used
    Time renew_time[kMaxNodes] = {};        // LeaseRenew send times

    static EngineConfig config(uint8_t sel) {
        EngineConfig c;
        c.self = kSelf;
        c.members = kMembers;
        c.home_incarnation = (sel & 1) != 0 ? 2 : 1;
        c.page_size = 64;
        c.range_pages_max = 8;
        c.cache_pages_max = (sel & 2) != 0 ? 4 : 4096;
        c.inflight_per_home_max = 4;
        c.home_queue_max = 16;
        c.local_requests_max = 32;
        return c;
    }

    explicit Harness(uint8_t sel) : engine(config(sel)) {
        // ENGINE_FUZZ_TRACE=1: print the engine's trace (to replay a finding).
        if (std::getenv("ENGINE_FUZZ_TRACE") != nullptr) {
            engine.set_trace([](const std::string& l) { std::fprintf(stderr, "%s\n", l.c_str()); });
        }
        engine.start(now);
        drain();
    }

    void remember_id(NodeId to, uint64_t id) {
        auto& v = ids[to];
        v.push_back(id);
        if (v.size() > 16) {
            v.erase(v.begin());
        }
    }

    // Executes the engine's effects as the daemon would, checking what it asks for.
    void drain() {
        for (int round = 0; round < 64; ++round) {
            std::vector<Effect> effects = engine.take_effects();
            if (effects.empty()) {
                if (loopback.empty()) {
                    return;
                }
                Message m = std::move(loopback.front());
                loopback.pop_front();
                engine.on_message(m, now);
                continue;
            }
            for (Effect& e : effects) {
                execute(e);
            }
        }
    }

    void execute(Effect& e) {
        switch (e.kind) {
            case EffectKind::Send: {
                Message m = e.msg;
                if (m.to >= kMaxNodes || (kMembers & bit(m.to)) == 0) {
                    finding("send to a non-member", to_string(m));
                }
                if (m.data_from_store) {
                    m.data_from_store = false;
                    for (uint64_t i = 0; i < m.range.count && i <= limits.max_pages; ++i) {
                        m.pages.push_back(std::make_shared<std::vector<std::byte>>(64));
                    }
                }
                std::vector<std::byte> head;
                std::vector<PageBuf> data;
                Status s = wire::encode_peer(m, limits, head, data);
                if (!s.is_ok()) {
                    finding("the engine sent a message the wire refuses:",
                            to_string(m) + ": " + s.to_string());
                }
                if (m.to == kSelf) {
                    loopback.push_back(std::move(m));
                    return;
                }
                switch (m.type) {
                    case MsgType::JoinAck:
                        home_session[m.to] = m.session;
                        break;
                    case MsgType::LeaseRenew:
                        renew_time[m.to] = m.time;
                        break;
                    case MsgType::GetS:
                    case MsgType::GetM:
                    case MsgType::Fsync:
                    case MsgType::Inv:
                    case MsgType::Recall:
                        remember_id(m.to, m.id);
                        break;
                    default:
                        break;
                }
                if (m.range.count != 0 && m.range.count <= limits.max_pages) {
                    ranges.push_back(m.range);
                    if (ranges.size() > 16) {
                        ranges.erase(ranges.begin());
                    }
                }
                return;
            }
            case EffectKind::KernelInvalidate:
                invalidations.push_back(e.token);
                return;
            case EffectKind::StoreWrite:
                if (e.file.home != kSelf || e.pages.size() != e.range.count) {
                    finding("store write of the wrong shape", describe(e));
                }
                for (const PageBuf& p : e.pages) {
                    if (!p || p->size() != 64) {
                        finding("store write with a missing or short page", describe(e));
                    }
                }
                return;
            case EffectKind::StoreSync:
                syncs.push_back(e.token);
                return;
            case EffectKind::HomeState:
                return;
            case EffectKind::ReadDone:
            case EffectKind::WriteDone:
            case EffectKind::FsyncDone:
                if (open_reqs.erase(e.req) != 1) {
                    finding("a local request completed twice or was never made", describe(e));
                }
                if (e.kind == EffectKind::ReadDone && e.status.is_ok() &&
                    e.pages.size() != e.range.count) {
                    finding("a read completed with the wrong number of pages", describe(e));
                }
                return;
        }
    }

    NodeId peer(Input& in) { return static_cast<NodeId>(1 + in.u8() % 2); }

    FileId file(Input& in, NodeId from) {
        uint8_t b = in.u8();
        NodeId home = (b & 3) == 0 ? kSelf : (b & 3) == 1 ? from : (b & 3) == 2 ? 3 - from : 5;
        uint64_t ino = (b >> 2) % 5;  // 0 included: no such file
        return FileId{home, ino};
    }

    Range range(Input& in) {
        uint8_t b = in.u8();
        switch (b % 4) {
            case 0:
                if (!ranges.empty()) {
                    return ranges[in.u8() % ranges.size()];
                }
                [[fallthrough]];
            case 1:
                return Range{in.u8() % 16u, 1u + in.u8() % 8u};
            case 2: {
                uint64_t first = in.u64();
                return Range{first, 1u + in.u8() % 9u};
            }
            default:
                return Range{uint64_t{INT64_MAX / 64} - in.u8() % 16u, 1u + in.u8() % 8u};
        }
    }

    uint64_t session(Input& in, NodeId from, bool home_bound) {
        uint8_t b = in.u8();
        switch (b % 4) {
            case 0:
                return home_bound ? home_session[from] : node_session[from];
            case 1:
                return home_bound ? node_session[from] : home_session[from];
            case 2:
                return 0;
            default:
                return in.u64();
        }
    }

    uint64_t id(Input& in, NodeId from) {
        uint8_t b = in.u8();
        if (b % 4 != 3 && !ids[from].empty()) {
            return ids[from][in.u8() % ids[from].size()];
        }
        if (b % 4 == 3) {
            return in.u64();
        }
        return b;
    }

    // A message from fields, through encode_peer and decode_peer.
    void built_message(Input& in) {
        Message m;
        m.type = static_cast<MsgType>(in.u8() % kMsgTypeCount);
        m.from = peer(in);
        m.to = kSelf;
        m.session = session(in, m.from, is_home_bound(m.type));
        uint8_t inc = in.u8();
        m.incarnation = inc % 4 == 3 ? in.u64() : inc % 4;
        m.id = id(in, m.from);
        m.file = file(in, m.from);
        m.range = range(in);
        uint8_t flags = in.u8();
        m.to_shared = (flags & 1) != 0;
        m.recovering = (flags & 2) != 0;
        switch ((flags >> 2) % 4) {
            case 0:
                m.time = renew_time[m.from];
                break;
            case 1:
                m.time = now;
                break;
            case 2:
                m.time = static_cast<Time>(in.u64() >> 1);
                break;
            default:
                m.time = INT64_MAX - in.u8();
                break;
        }
        m.status = static_cast<Code>(in.u8() % 22);
        if (m.type == MsgType::Join && m.session != 0 && (flags & 0x40) != 0) {
            m.session = 0;
        }
        uint8_t present = in.u8();
        uint8_t fill = in.u8();
        bool data_type = m.type == MsgType::DataS || m.type == MsgType::DataM ||
                         m.type == MsgType::RecallAck || m.type == MsgType::PutM ||
                         m.type == MsgType::Reclaim;
        if (data_type && m.range.count <= limits.max_pages &&
            !(m.type == MsgType::DataM && (flags & 0x80) != 0)) {
            for (uint64_t i = 0; i < m.range.count; ++i) {
                bool has = m.type != MsgType::RecallAck || ((present >> (i % 8)) & 1) != 0;
                m.pages.push_back(has ? std::make_shared<std::vector<std::byte>>(
                                            64, static_cast<std::byte>(fill + i))
                                      : nullptr);
            }
        }
        if (!in.ok()) {
            return;
        }
        std::vector<std::byte> head;
        std::vector<PageBuf> data;
        if (!wire::encode_peer(m, limits, head, data).is_ok()) {
            return;  // the wire cannot carry it: nothing a peer could send
        }
        std::vector<std::byte> data_bytes;
        for (const PageBuf& p : data) {
            data_bytes.insert(data_bytes.end(), p->begin(), p->end());
        }
        deliver_frame(head, data_bytes, m.from);
    }

    // Raw frame bytes (CRCs resealed), through decode_header and decode_peer.
    void raw_message(Input& in) {
        NodeId from = peer(in);
        size_t len = in.u8() + (size_t{in.u8()} << 8) % 2048;
        auto raw = in.bytes(len);
        if (raw.size() < wire::kHeaderSize) {
            return;
        }
        std::vector<std::byte> frame(reinterpret_cast<const std::byte*>(raw.data()),
                                     reinterpret_cast<const std::byte*>(raw.data() + raw.size()));
        auto h =
            wire::decode_header(std::span<const std::byte>(frame).first(wire::kHeaderSize), limits);
        if (!h.is_ok() || wire::family_of(h->type) != wire::Family::Peer) {
            return;
        }
        size_t body_len = std::min<size_t>(h->body_len, frame.size() - wire::kHeaderSize);
        size_t data_len =
            std::min<size_t>(h->data_len, frame.size() - wire::kHeaderSize - body_len);
        std::span<const std::byte> all(frame);
        std::vector<std::byte> head(
            frame.begin(), frame.begin() + static_cast<ptrdiff_t>(wire::kHeaderSize + body_len));
        std::vector<std::byte> data(
            all.begin() + static_cast<ptrdiff_t>(wire::kHeaderSize + body_len),
            all.begin() + static_cast<ptrdiff_t>(wire::kHeaderSize + body_len + data_len));
        // Reseal: an honest-looking frame, so that the fields reach the decoder's checks.
        wire::FrameHeader fh = h.value();
        fh.data_crc = (fh.data_len == 0 || fh.data_unchecked()) ? 0 : wire::crc32c(data);
        fh.body_crc =
            wire::compute_body_crc(fh, std::span<const std::byte>(head).subspan(wire::kHeaderSize));
        auto hb = wire::encode_header(fh);
        std::copy(hb.begin(), hb.end(), head.begin());
        deliver_frame(head, data, from);
    }

    void deliver_frame(const std::vector<std::byte>& head,
                       const std::vector<std::byte>& data,
                       NodeId from) {
        std::span<const std::byte> hs(head);
        auto h = wire::decode_header(hs.first(wire::kHeaderSize), limits);
        if (!h.is_ok()) {
            return;
        }
        wire::PageBuffers bufs = wire::make_page_buffers(h.value(), limits);
        size_t at = 0;
        for (auto span : bufs.spans) {
            size_t n = std::min(span.size(), data.size() - std::min(at, data.size()));
            if (n != span.size()) {
                return;  // truncated: the connection would still be waiting for it
            }
            std::memcpy(span.data(), data.data() + at, n);
            at += n;
        }
        auto m = wire::decode_peer(h.value(),
                                   hs.subspan(wire::kHeaderSize),
                                   std::move(bufs.pages),
                                   limits,
                                   wire::LinkEnds{from, kSelf});
        if (!m.is_ok()) {
            return;
        }
        if (m->type == MsgType::JoinAck) {
            node_session[from] = m->session;
        }
        engine.on_message(m.value(), now);
        drain();
    }

    void local(Input& in, uint8_t op) {
        uint8_t b = in.u8();
        NodeId home = static_cast<NodeId>(b % 3);
        FileId f{home, 1u + (b >> 2) % 3};
        Range r{in.u8() % 24u, 1u + in.u8() % 10u};
        if (!in.ok()) {
            return;
        }
        uint64_t req = next_req++;
        switch (op) {
            case 0:
                open_reqs.insert(req);
                engine.read(
                    req, f, r, (b & 0x80) != 0 ? ReadMode::KernelFill : ReadMode::Direct, now);
                break;
            case 1: {
                open_reqs.insert(req);
                std::vector<std::byte> bytes(1 + (r.count * 37) % 200, std::byte{0x5a});
                engine.write(req, f, r.first * 64 + (b >> 5), std::move(bytes), now);
                break;
            }
            case 2:
                open_reqs.insert(req);
                engine.fsync(req, f, now);
                break;
            case 3:
                engine.evict(f, r, now);
                break;
            default:
                // The adapter gives up on an unreachable home (on_unreachable = "error").
                engine.fail_requests(home, Status(Code::Unavailable, "fuzz"));
                break;
        }
        drain();
    }

    void step(Input& in) {
        uint8_t op = in.u8();
        switch (op % 12) {
            case 0:
            case 1:
            case 2:
            case 3:
                built_message(in);
                return;
            case 4:
                raw_message(in);
                return;
            case 5: {
                uint8_t b = in.u8();
                now += b < 200 ? Time{b} * 1000 : Time{b - 199} * 1'000'000;
                engine.on_tick(now);
                drain();
                return;
            }
            case 6:
            case 7:
                local(in, in.u8() % 5);
                return;
            case 8:
                if (!invalidations.empty()) {
                    size_t i = in.u8() % invalidations.size();
                    uint64_t t = invalidations[i];
                    invalidations.erase(invalidations.begin() + static_cast<ptrdiff_t>(i));
                    engine.on_kernel_invalidated(t, now);
                    drain();
                }
                return;
            case 9:
                if (!syncs.empty()) {
                    size_t i = in.u8() % syncs.size();
                    uint64_t t = syncs[i];
                    syncs.erase(syncs.begin() + static_cast<ptrdiff_t>(i));
                    engine.on_store_synced(
                        t, (in.u8() & 1) != 0 ? Status::ok() : Status(Code::IoError), now);
                    drain();
                }
                return;
            case 10:
                engine.on_link_reset(peer(in), now);
                drain();
                return;
            default:
                // Every outstanding kernel invalidation completes (the usual case).
                while (!invalidations.empty()) {
                    uint64_t t = invalidations.front();
                    invalidations.erase(invalidations.begin());
                    engine.on_kernel_invalidated(t, now);
                    drain();
                }
                return;
        }
    }
};

void one_input(const uint8_t* data, size_t size) {
    if (size < 1) {
        return;
    }
    Input in(data + 1, size - 1);
    Harness h(data[0]);
    for (int steps = 0; steps < 256 && !in.empty() && in.ok(); ++steps) {
        h.step(in);
    }
    // The engine must stay usable: time passes, everything the fuzzer owes it completes.
    for (int i = 0; i < 4; ++i) {
        h.now += 5'000'000;
        while (!h.invalidations.empty()) {
            uint64_t t = h.invalidations.front();
            h.invalidations.erase(h.invalidations.begin());
            h.engine.on_kernel_invalidated(t, h.now);
            h.drain();
        }
        h.engine.on_tick(h.now);
        h.drain();
    }
}

}  // namespace
}  // namespace vr::coherence::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    vr::coherence::fuzz::one_input(data, size);
    return 0;
}
