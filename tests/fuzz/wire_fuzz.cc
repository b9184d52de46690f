// libFuzzer target for the wire codec. Input: a selector byte (the Limits, and whether to
// re-seal the CRCs; see wire_fuzz_common.h) and then the bytes of one frame. The header goes to
// decode_header; if it is accepted, the body and data that follow (possibly truncated) go to the
// decoder of the frame's family. Whatever decodes is encoded again, and the bytes must be the same:
// the codec has one encoding per message, so a frame that decodes is exactly the frame it would
// send. Any crash, sanitizer report, assertion (VR_ASSERT aborts) or mismatch is a finding.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "wire/client.h"
#include "wire/crc32c.h"
#include "wire/handshake.h"
#include "wire/meta.h"
#include "wire/peer.h"
#include "wire/ping.h"
#include "wire_fuzz_common.h"

namespace vr::wire::fuzz {
namespace {

[[noreturn]] void mismatch(const char* what) {
    std::fprintf(stderr, "wire_fuzz: %s\n", what);
    std::abort();
}

void expect_same(std::span<const std::byte> a, std::span<const std::byte> b, const char* what) {
    if (a.size() != b.size() || !std::equal(a.begin(), a.end(), b.begin())) {
        mismatch(what);
    }
}

void peer(const FrameHeader& h,
          std::span<const std::byte> frame,
          std::span<const std::byte> body,
          std::span<const std::byte> data,
          const Limits& limits) {
    std::vector<coherence::PageBuf> pages;
    for (size_t at = 0; at + limits.page_size <= data.size(); at += limits.page_size) {
        auto page = data.subspan(at, limits.page_size);
        pages.push_back(std::make_shared<std::vector<std::byte>>(page.begin(), page.end()));
    }
    auto m = decode_peer(h, body, std::move(pages), limits, LinkEnds{1, 2});
    if (!m.is_ok()) {
        return;
    }
    std::vector<std::byte> head;
    std::vector<coherence::PageBuf> out;
    if (h.data_unchecked()) {
        // Streamed without a data CRC: the sender encodes the head alone, then sends the pages.
        coherence::Message streamed = m.value();
        out = std::move(streamed.pages);
        streamed.pages.clear();
        if (!encode_peer_streamed(streamed, limits, head).is_ok()) {
            mismatch("a decoded unchecked peer message does not encode");
        }
    } else if (!encode_peer(m.value(), limits, head, out).is_ok()) {
        mismatch("a decoded peer message does not encode");
    }
    expect_same(head, frame.first(kHeaderSize + body.size()), "peer head differs");
    std::vector<std::byte> again;
    for (const coherence::PageBuf& p : out) {
        again.insert(again.end(), p->begin(), p->end());
    }
    expect_same(again, data, "peer data differs");
}

void handshake(const FrameHeader& h,
               std::span<const std::byte> frame,
               std::span<const std::byte> body,
               const Limits& limits) {
    auto m = decode_handshake(h, body, limits);
    if (!m.is_ok()) {
        return;
    }
    std::vector<std::byte> again;
    if (!encode_handshake(m.value(), limits, again).is_ok()) {
        mismatch("a decoded handshake message does not encode");
    }
    expect_same(again, frame.first(kHeaderSize + body.size()), "handshake frame differs");
}

// Metadata frames: what decodes must encode again to the same bytes.
void meta(const FrameHeader& h,
          std::span<const std::byte> frame,
          std::span<const std::byte> body,
          const Limits& limits) {
    std::vector<std::byte> again;
    Status s;
    switch (h.type) {
        case FrameType::Volumes: {
            auto m = decode_volumes(h, body, limits);
            if (!m.is_ok()) {
                return;
            }
            s = encode_volumes(m.value(), limits, again);
            break;
        }
        case FrameType::MetaRequest: {
            auto m = decode_meta_request(h, body, limits);
            if (!m.is_ok()) {
                return;
            }
            s = encode_meta_request(h.id, m.value(), limits, again);
            break;
        }
        case FrameType::MetaReply: {
            auto m = decode_meta_reply(h, body, limits);
            if (!m.is_ok()) {
                return;
            }
            s = encode_meta_reply(h.id, m.value(), limits, again);
            break;
        }
        default:
            mismatch("a Meta family type without a decoder");
    }
    if (!s.is_ok()) {
        mismatch("a decoded metadata message does not encode");
    }
    expect_same(again, frame.first(kHeaderSize + body.size()), "metadata frame differs");
}

template <typename Msg>
void client(const Msg& m,
            std::span<const std::byte> frame,
            std::span<const std::byte> body,
            std::span<const std::byte> data,
            const Limits& limits) {
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> pieces;
    Status s;
    if constexpr (std::is_same_v<Msg, ClientRequest>) {
        s = encode_client_request(m, limits, head, pieces);
    } else {
        s = encode_client_reply(m, limits, head, pieces);
    }
    if (!s.is_ok()) {
        mismatch("a decoded client message does not encode");
    }
    expect_same(head, frame.first(kHeaderSize + body.size()), "client head differs");
    std::vector<std::byte> again;
    for (auto piece : pieces) {
        again.insert(again.end(), piece.begin(), piece.end());
    }
    expect_same(again, data, "client data differs");
}

// Rewrites body_crc and data_crc to match the body and data that follow the header (as far as
// the input goes), as an honest sender would have computed them.
void reseal(std::vector<std::byte>& frame) {
    auto le32 = [&](size_t at) {
        uint32_t v = 0;
        for (size_t i = 4; i > 0; --i) {
            v = (v << 8) | std::to_integer<uint32_t>(frame[at + i - 1]);
        }
        return v;
    };
    auto put32 = [&](size_t at, uint32_t v) {
        for (size_t i = 0; i < 4; ++i) {
            frame[at + i] = static_cast<std::byte>(v >> (8 * i));
        }
    };
    std::span<const std::byte> all(frame);
    size_t body_len = std::min<size_t>(le32(8), frame.size() - kHeaderSize);
    size_t data_len = std::min<size_t>(le32(12), frame.size() - kHeaderSize - body_len);
    std::span<const std::byte> data = all.subspan(kHeaderSize + body_len, data_len);
    bool unchecked = (std::to_integer<unsigned>(frame[6]) & kFlagDataUnchecked) != 0;
    put32(28, le32(12) == 0 || unchecked ? 0 : crc32c(data));
    put32(24, crc32c_extend(crc32c(all.first(24)), all.subspan(kHeaderSize, body_len)));
}

void one_input(const uint8_t* input, size_t size) {
    if (size < 1 + kHeaderSize) {
        return;
    }
    Limits limits = limits_for(input[0]);
    std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(input + 1),
                                 reinterpret_cast<const std::byte*>(input + size));
    if (reseal_for(input[0])) {
        reseal(bytes);
    }
    std::span<const std::byte> frame(bytes);
    auto h = decode_header(frame.first(kHeaderSize), limits);
    if (!h.is_ok()) {
        return;
    }
    std::span<const std::byte> rest = frame.subspan(kHeaderSize);
    std::span<const std::byte> body = rest.first(std::min<size_t>(h->body_len, rest.size()));
    rest = rest.subspan(body.size());
    std::span<const std::byte> data = rest.first(std::min<size_t>(h->data_len, rest.size()));
    std::vector<std::byte> data_copy(data.begin(), data.end());
    switch (family_of(h->type)) {
        case Family::Peer:
            peer(h.value(), frame, body, data, limits);
            return;
        case Family::Handshake:
            handshake(h.value(), frame, body, limits);
            return;
        case Family::Meta:
            meta(h.value(), frame, body, limits);
            return;
        case Family::Link: {
            // Heartbeats: what decodes must re-encode to the same bytes.
            auto t = decode_ping(h.value(), body);
            if (t.is_ok()) {
                std::vector<std::byte> again;
                if (!encode_ping(h->type == FrameType::Pong, t.value(), again).is_ok() ||
                    again.size() > frame.size() ||
                    !std::equal(again.begin(), again.end(), frame.begin())) {
                    mismatch("heartbeat did not re-encode to the same bytes");
                }
            }
            return;
        }
        case Family::ClientRequest: {
            auto m = decode_client_request(h.value(), body, std::move(data_copy), limits);
            if (m.is_ok()) {
                client(m.value(), frame, body, data, limits);
            }
            return;
        }
        case Family::ClientReply: {
            auto m = decode_client_reply(h.value(), body, std::move(data_copy), limits);
            if (m.is_ok()) {
                client(m.value(), frame, body, data, limits);
            }
            return;
        }
        case Family::Unknown:
            mismatch("decode_header accepted a type without a family");
    }
}

}  // namespace
}  // namespace vr::wire::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    vr::wire::fuzz::one_input(data, size);
    return 0;
}
