// Writes the seed corpus of wire_fuzz: valid frames of every type (peer messages, handshake,
// metadata messages, client requests and replies) under every fuzz selector (both Limits, with and
// without re-sealing), each prefixed by its selector byte, as files frame-<n> in the directory
// given as the only argument. build_and_run.sh --regen-corpus builds it, runs it and names the
// files by their SHA-1 (as libFuzzer does). Deterministic.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "wire/client.h"
#include "wire/handshake.h"
#include "wire/meta.h"
#include "wire/peer.h"
#include "wire_fuzz_common.h"

namespace vr::wire::fuzz {
namespace {

using coherence::Message;
using coherence::MsgType;

std::mt19937_64 rng(20240601);  // NOLINT: one fixed stream for the whole corpus
int files = 0;

void write_file(const std::string& dir, uint8_t selector, const std::vector<std::byte>& frame) {
    std::string path = dir + "/frame-" + std::to_string(files++);
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        std::perror(path.c_str());
        std::exit(1);
    }
    std::fputc(selector, f);
    std::fwrite(frame.data(), 1, frame.size(), f);
    std::fclose(f);
}

void check(const Status& s) {
    if (!s.is_ok()) {
        std::fprintf(stderr, "corpus: %s\n", s.to_string().c_str());
        std::exit(1);
    }
}

coherence::PageBuf page(const Limits& l) {
    auto p = std::make_shared<std::vector<std::byte>>(l.page_size);
    for (auto& b : *p) {
        b = static_cast<std::byte>(rng());
    }
    return p;
}

void peer_frames(const std::string& dir, uint8_t selector) {
    Limits l = limits_for(selector);
    for (int t = 0; t < coherence::kMsgTypeCount; ++t) {
        for (int variant = 0; variant < 2; ++variant) {
            Message m;
            m.type = static_cast<MsgType>(t);
            m.session = rng();
            m.incarnation = 1 + rng() % 5;
            m.id = 1 + rng() % 1000;
            m.file = coherence::FileId{static_cast<uint8_t>(rng() % 64), rng() % 100000};
            m.range = coherence::Range{rng() % 1000, 1 + rng() % 3};
            m.to_shared = variant == 1;
            m.recovering = variant == 1;
            m.time = static_cast<coherence::Time>(rng() % 1000000000);
            m.status = m.type == MsgType::Nack ? Code::Busy : Code::Ok;
            bool data = m.type == MsgType::DataS || m.type == MsgType::PutM ||
                        m.type == MsgType::Reclaim || (m.type == MsgType::DataM && variant == 0);
            for (uint64_t i = 0; data && i < m.range.count; ++i) {
                m.pages.push_back(page(l));
            }
            if (m.type == MsgType::RecallAck) {
                for (uint64_t i = 0; i < m.range.count; ++i) {
                    m.pages.push_back(i % 2 == static_cast<uint64_t>(variant) ? page(l) : nullptr);
                }
            }
            std::vector<std::byte> head;
            std::vector<coherence::PageBuf> pages;
            check(encode_peer(m, l, head, pages));
            for (const auto& p : pages) {
                head.insert(head.end(), p->begin(), p->end());
            }
            write_file(dir, selector, head);
        }
    }
}

void handshake_frames(const std::string& dir, uint8_t selector) {
    Limits l = limits_for(selector);
    AuthHello hello{1, rng(), true, {}, "node-a"};
    AuthChallenge challenge{1, rng(), false, {}, {}, "node_B.2"};
    for (size_t i = 0; i < 32; ++i) {
        hello.nonce[i] = static_cast<uint8_t>(rng());
        challenge.nonce[i] = static_cast<uint8_t>(rng());
        challenge.tag[i] = static_cast<uint8_t>(rng());
    }
    AuthResponse response{challenge.tag};
    std::vector<Handshake> all = {hello,
                                  challenge,
                                  response,
                                  AuthWelcome{true},
                                  AuthWelcome{false},
                                  AuthRefuse{Code::PermissionDenied, "bad tag"}};
    for (const Handshake& h : all) {
        std::vector<std::byte> frame;
        check(encode_handshake(h, l, frame));
        write_file(dir, selector, frame);
    }
}

template <typename Msg>
void client_frame(const std::string& dir, uint8_t selector, const Msg& m) {
    Limits l = limits_for(selector);
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> data;
    if constexpr (std::is_same_v<Msg, ClientRequest>) {
        check(encode_client_request(m, l, head, data));
    } else {
        check(encode_client_reply(m, l, head, data));
    }
    for (auto piece : data) {
        head.insert(head.end(), piece.begin(), piece.end());
    }
    write_file(dir, selector, head);
}

std::vector<std::byte> bytes(size_t n) {
    std::vector<std::byte> out(n);
    for (auto& b : out) {
        b = static_cast<std::byte>(rng());
    }
    return out;
}

void client_frames(const std::string& dir, uint8_t selector) {
    Attrs attrs{42, 12345, 0100644, 1700000000123456789};
    std::vector<ClientRequest> requests = {
        {1, OpenRequest{"vol/dir/file.txt", kOpenCreate | kOpenExclusive, 0644}},
        {2, OpenRequest{"vol/a", kOpenReadOnly, 0}},
        {3, ReadRequest{7, 4096, 100}},
        {4, WriteRequest{7, 10, Payload::owned(bytes(50))}},
        {5, FsyncRequest{7}},
        {6, CloseRequest{7}},
        {7, StatRequest{"vol/dir"}},
        {8, PagesRequest{"vol/dir/file.txt", 3}},
        {9, StatsRequest{}},
        {10, StatusRequest{}},
    };
    for (const auto& r : requests) {
        client_frame(dir, selector, r);
    }
    StatsReply stats{{{"reads", 10}, {"writes", 3}, {"net.bytes_sent", 1u << 30}}};
    StatusReply status{{{0, "alpha", LinkState::Self, 0, 1},
                        {1, "beta", LinkState::Up, 250, 3},
                        {5, "gamma-5", LinkState::Connecting, 0, 0}}};
    std::vector<ClientReply> replies = {
        {1, Reply{Code::Ok, ""}},
        {2, Reply{Code::NotFound, "vol/a: no such file"}},
        {3, OpenReply{9, attrs}},
        {4, ReadReply{Payload::owned(bytes(100))}},
        {5, ReadReply{Payload{}}},
        {6, WriteReply{50}},
        {7, StatReply{attrs}},
        {8, PagesReply{3, 10, "SSMI.I"}},
        {9, stats},
        {10, status},
    };
    for (const auto& r : replies) {
        client_frame(dir, selector, r);
    }
}

// Every op, every reply shape and a volume list, small enough for the tiny limits too.
void meta_frames(const std::string& dir, uint8_t selector) {
    Limits l = limits_for(selector);
    std::vector<std::byte> frame;
    VolumesMsg volumes{{{"home", 0, false, 1ull << 56 | 1},
                        {"scratch.tmp", 3, true, 3ull << 56 | 1},
                        {"data-2", 255, false, 42}}};
    check(encode_volumes(volumes, l, frame));
    write_file(dir, selector, frame);
    check(encode_volumes(VolumesMsg{}, l, frame));
    write_file(dir, selector, frame);

    MetaChange change;
    change.mode = 0640;
    change.gid = 100;
    change.mtime_ns = -1;  // before the epoch

    // Fields in order: op, volume, ino, ino2, path, path2, mode, flags, size, cookie, count.
    std::vector<MetaRequest> requests = {
        {MetaOp::Lookup, 0, 7, 0, "file.txt", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::GetAttrPath, 1, 0, 0, "dir/link", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::GetAttrPath, 1, 0, 0, "", "", 0, 0, 0, 0, 0, {}},  // the export root
        {MetaOp::GetAttr, 0, 9, 0, "", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::Create, 2, 0, 0, "dir/new", "", 0644, kCreateExclusive, 0, 0, 0, {}},
        {MetaOp::Mkdir, 2, 0, 0, "dir/sub", "", 0755, 0, 0, 0, 0, {}},
        {MetaOp::Unlink, 2, 0, 0, "dir/old", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::Rmdir, 2, 0, 0, "dir/sub", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::Rename, 2, 0, 0, "dir/a", "dir/b", 0, kRenameExchange, 0, 0, 0, {}},
        {MetaOp::Readdir, 0, 0, 0, "dir", "", 0, 0, 0, 1234, 100, {}},
        {MetaOp::Truncate, 0, 9, 0, "", "", 0, 0, 4096, 0, 0, {}},
        {MetaOp::Extend, 0, 9, 0, "", "", 0, 0, 1ull << 40, 0, 0, {}},
        {MetaOp::SetAttr, 0, 9, 0, "", "", 0, 0, 0, 0, 0, change},
    };
    uint64_t id = 1;
    for (const MetaRequest& r : requests) {
        check(encode_meta_request(id++, r, l, frame));
        write_file(dir, selector, frame);
    }
    MetaAttr attr{9, MetaType::Regular, 0644, 12345, 1, 1000, 100, 1700000000123456789, -5};
    std::vector<MetaReply> replies = {
        {Code::NotFound, "dir/old: no such file", std::nullopt, {}, 0, false},
        {Code::Ok, "", std::nullopt, {}, 0, false},
        {Code::Ok, "", attr, {}, 0, false},
        {Code::Ok,
         "",
         std::nullopt,
         {{"a", 10, MetaType::Regular},
          {"sub", 11, MetaType::Directory},
          {"l", 12, MetaType::Symlink}},
         3,
         true},
    };
    for (const MetaReply& r : replies) {
        check(encode_meta_reply(id++, r, l, frame));
        write_file(dir, selector, frame);
    }
    constexpr uint64_t kDir = 2ull << 56 | 5;  // a directory's ino in export 2
    // Added later, after the frames above so that their ids, and so their seeds, stay the same.
    std::vector<MetaRequest> later = {
        // Path ops by a directory's ino and one name in it.
        {MetaOp::GetAttrPath, 0, kDir, 0, "link", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::Create, 0, kDir, 0, "new", "", 0600, 0, 0, 0, 0, {}},
        {MetaOp::Mkdir, 0, kDir, 0, "sub", "", 0700, 0, 0, 0, 0, {}},
        {MetaOp::Unlink, 0, kDir, 0, "old", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::Rmdir, 0, kDir, 0, "sub", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::Rename, 0, kDir, kDir + 1, "a", "b", 0, kRenameNoReplace, 0, 0, 0, {}},
        {MetaOp::Readdir, 0, kDir, 0, "", "", 0, 0, 0, 0, 1024, {}},  // the directory itself
        // The home's invalidations.
        {MetaOp::InvalAttr, 0, 9, 0, "", "", 0, 0, 0, 0, 0, {}},
        {MetaOp::InvalEntry, 0, kDir, 0, "gone", "", 0, 0, 0, 0, 0, {}},
    };
    for (const MetaRequest& r : later) {
        check(encode_meta_request(id++, r, l, frame));
        write_file(dir, selector, frame);
    }
    check(encode_meta_reply(
        id++, MetaReply{Code::CrossDevice, "a -> b", std::nullopt, {}, 0, false}, l, frame));
    write_file(dir, selector, frame);
}

// DataS and DataM whose pages were streamed unchecked (kFlagDataUnchecked, no data CRC).
void unchecked_frames(const std::string& dir, uint8_t selector) {
    Limits l = limits_for(selector);
    for (MsgType t : {MsgType::DataS, MsgType::DataM}) {
        Message m;
        m.type = t;
        m.session = 77;
        m.incarnation = 2;
        m.id = 5;
        m.file = coherence::FileId{3, 12345};
        m.range = coherence::Range{40, 2};
        std::vector<std::byte> frame;
        check(encode_peer_streamed(m, l, frame));
        for (uint64_t i = 0; i < m.range.count; ++i) {
            coherence::PageBuf p = page(l);
            frame.insert(frame.end(), p->begin(), p->end());
        }
        write_file(dir, selector, frame);
    }
}

}  // namespace
}  // namespace vr::wire::fuzz

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: wire_corpus_gen <directory>\n");
        return 2;
    }
    for (uint8_t selector : {uint8_t{0}, uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
        vr::wire::fuzz::peer_frames(argv[1], selector);
        vr::wire::fuzz::handshake_frames(argv[1], selector);
        vr::wire::fuzz::client_frames(argv[1], selector);
    }
    // In a loop of their own, after the others, so that adding them left the random stream of
    // the frames above, and so the committed seeds, unchanged.
    for (uint8_t selector : {uint8_t{0}, uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
        vr::wire::fuzz::meta_frames(argv[1], selector);
    }
    for (uint8_t selector : {uint8_t{0}, uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
        vr::wire::fuzz::unchecked_frames(argv[1], selector);
    }
    std::printf("wrote %d frames\n", vr::wire::fuzz::files);
    return 0;
}
