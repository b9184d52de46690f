// Hostile input at the peer port, from an authenticated peer (RawPeer holds the cluster key and
// takes n3's place) and from connection floods. A 3-node cluster runs; n3 is killed. Every
// message type is sent with fields out of range: well-formed frames whose values the daemon must
// refuse (unknown inodes and volumes, page indices at the limit, huge sizes and counts, names
// "." and "..", files of other homes, acks of nothing, writes of pages the peer does not own),
// and frames the codec would never encode (names with '/' or NUL, counts beyond the limits,
// unknown enum values, node ids >= 64, huge lengths), which must close the link with a log line.
// Floods of connections without a handshake and of half-open handshakes must be bounded, logged,
// and must not stop n1 serving its honest peer n2. After each group: n1 is alive, a canary
// file's content is unchanged, and n2 still reads and writes through n1.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "config/config.h"
#include "node/ino.h"
#include "raw_peer.h"
#include "test_cluster.h"

namespace vr::itest {
namespace {

namespace fs = std::filesystem;
using coherence::Message;
using coherence::MsgType;
using wire::MetaOp;
using wire::MetaRequest;

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Replaces the first occurrence of `from` (bytes) in `frame` by `to` (same length).
bool patch(std::vector<std::byte>& frame,
           std::span<const std::byte> from,
           std::span<const std::byte> to) {
    auto it = std::search(frame.begin() + wire::kHeaderSize, frame.end(), from.begin(), from.end());
    if (it == frame.end()) {
        return false;
    }
    std::copy(to.begin(), to.end(), it);
    return true;
}
std::vector<std::byte> le64(uint64_t v) {
    std::vector<std::byte> b(8);
    for (int i = 0; i < 8; ++i) {
        b[static_cast<size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
    }
    return b;
}
std::vector<std::byte> str(std::string_view s) {
    return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                  reinterpret_cast<const std::byte*>(s.data() + s.size()));
}
// The one byte position where two encodings differ (or npos).
size_t diff_at(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
    size_t at = std::string::npos;
    for (size_t i = wire::kHeaderSize; i < std::min(a.size(), b.size()); ++i) {
        if (a[i] != b[i]) {
            if (at != std::string::npos) {
                return std::string::npos;
            }
            at = i;
        }
    }
    return at;
}
std::vector<std::byte> encode_meta(uint64_t id, const MetaRequest& r) {
    std::vector<std::byte> f;
    EXPECT_TRUE(wire::encode_meta_request(id, r, wire::Limits{}, f).is_ok());
    return f;
}
std::vector<std::byte> encode_msg(const Message& m, const wire::Limits& lim = {}) {
    std::vector<std::byte> head;
    std::vector<coherence::PageBuf> pages;
    Status s = wire::encode_peer(m, lim, head, pages);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    for (const auto& p : pages) {
        head.insert(head.end(), p->begin(), p->end());
    }
    return head;
}

class PeerHostile : public ::testing::Test {
  protected:
    void SetUp() override {
        c_ = std::make_unique<TestCluster>(3);
        ASSERT_TRUE(c_->up()) << c_->up_output();
        {
            // On n1's disk, before any node caches them (a put would leave the bytes in n2's
            // cache, M, until written back).
            std::ofstream(c_->export_dir(1) + "/canary.txt") << kCanary;
            std::ofstream(c_->export_dir(1) + "/victim.txt") << "victim";
        }
        auto cfg3 = config::load_config(c_->config(3));
        ASSERT_TRUE(cfg3.is_ok()) << cfg3.status().to_string();
        auto key = net::load_cluster_key(cfg3->cluster.secret_file);
        ASSERT_TRUE(key.is_ok());
        key_ = key.value();
        for (const auto& p : cfg3->peers) {
            if (p.name == "n1") {
                port_ = p.address.port;
            }
        }
        ASSERT_NE(port_, 0);
        ASSERT_TRUE(c_->kill_node(3));
        struct stat st {};
        ASSERT_EQ(::stat((c_->export_dir(1) + "/canary.txt").c_str(), &st), 0);
        canary_ino_ = node::make_ino(0, st.st_ino).value();
        ASSERT_EQ(::stat((c_->export_dir(1) + "/victim.txt").c_str(), &st), 0);
        victim_ino_ = node::make_ino(0, st.st_ino).value();
        ASSERT_EQ(::stat(c_->export_dir(1).c_str(), &st), 0);
        root_ino_ = node::make_ino(0, st.st_ino).value();
    }

    std::unique_ptr<RawPeer> impostor() {
        auto p =
            std::make_unique<RawPeer>(key_, std::vector<std::string>{"n1", "n2", "n3"}, "n3", "n1");
        std::string why;
        EXPECT_TRUE(p->connect(port_, &why)) << why;
        return p;
    }

    // n1 alive, the canary intact on disk and through n2, and n2 still served.
    void check_unharmed(const std::string& group) {
        SCOPED_TRACE(group);
        ASSERT_GT(c_->pid(1), 0);
        EXPECT_EQ(::kill(c_->pid(1), 0), 0) << "n1 died";
        EXPECT_EQ(slurp(c_->export_dir(1) + "/canary.txt"), kCanary);
        auto get = c_->cli(2, {"get", "n1/canary.txt"});
        EXPECT_EQ(get.out, kCanary) << get.err;
        // A new file each time (put writes at an offset, it does not truncate).
        std::string probe = "probe after " + group;
        std::string name = "n1/probe" + std::to_string(++probes_) + ".txt";
        auto put = c_->cli(2, {"put", name}, probe);
        EXPECT_EQ(put.exit_code, 0) << put.err;
        EXPECT_EQ(c_->cli(1, {"get", name}).out, probe);
    }

    static constexpr const char* kCanary = "CANARY: these bytes must never change";
    std::unique_ptr<TestCluster> c_;
    net::ClusterKey key_{};
    uint16_t port_ = 0;
    uint64_t canary_ino_ = 0;
    uint64_t victim_ino_ = 0;
    uint64_t root_ino_ = 0;
    int probes_ = 0;
};

TEST_F(PeerHostile, FieldsOutOfRangeAreRefused) {
    const uint64_t unknown_export = node::make_ino(200, 5).value();
    const uint64_t last_page = wire::kMaxFileBytes / 4096 - 1;
    // --- Metadata requests: well-formed, out of range. Each must get an error reply. ---
    {
        auto p = impostor();
        auto req = [](MetaOp op) {
            MetaRequest r;
            r.op = op;
            return r;
        };
        std::vector<std::pair<std::string, MetaRequest>> bad;
        {
            auto r = req(MetaOp::GetAttr);
            r.ino = unknown_export;
            bad.emplace_back("getattr of an unknown export's ino", r);
            r.ino = UINT64_MAX;
            bad.emplace_back("getattr of ino 2^64-1", r);
            r = req(MetaOp::Lookup);
            r.ino = unknown_export;
            r.path = "x";
            bad.emplace_back("lookup in an unknown directory", r);
            r.ino = canary_ino_;
            bad.emplace_back("lookup in a regular file", r);
            r = req(MetaOp::GetAttrPath);
            r.volume = 255;
            r.path = "canary.txt";
            bad.emplace_back("volume 255", r);
            r = req(MetaOp::Unlink);
            r.volume = 0;
            r.path = "";
            bad.emplace_back("unlink the export root", r);
            r = req(MetaOp::Rmdir);
            r.path = "";
            bad.emplace_back("rmdir the export root", r);
            r = req(MetaOp::Rename);
            r.ino = root_ino_;
            r.path = "victim.txt";
            r.ino2 = unknown_export;
            r.path2 = "x";
            bad.emplace_back("rename into an unknown directory", r);
            r = req(MetaOp::Truncate);
            r.ino = unknown_export;
            r.size = 0;
            bad.emplace_back("truncate an unknown ino", r);
            r.ino = victim_ino_;
            r.size = wire::kMaxFileBytes;
            bad.emplace_back("truncate to 2^63-1", r);
            r.op = MetaOp::Extend;
            bad.emplace_back("extend to 2^63-1", r);
            r = req(MetaOp::SetAttr);
            r.ino = unknown_export;
            r.change.mode = 0600;
            bad.emplace_back("setattr of an unknown ino", r);
            r = req(MetaOp::Readdir);
            r.volume = 9;
            r.path = "";
            r.count = wire::kReaddirMax;
            bad.emplace_back("readdir of an unknown volume", r);
        }
        uint64_t id = 100;
        for (const auto& [what, r] : bad) {
            ASSERT_TRUE(p->send_meta(id, r)) << what;
            auto reply = p->meta_reply(id, 5000);
            ASSERT_TRUE(reply.has_value()) << what << ": no reply";
            EXPECT_NE(reply->code, Code::Ok) << what << " was not refused";
            EXPECT_FALSE(reply->attr.has_value()) << what;
            ++id;
        }
        // Home-to-node invalidations from a node that is not the file's home (n3 exports
        // nothing): answered, harmless (n1 caches nothing of n3's).
        for (MetaOp op : {MetaOp::InvalAttr, MetaOp::InvalEntry}) {
            MetaRequest inv;
            inv.op = op;
            inv.ino = canary_ino_;
            if (op == MetaOp::InvalEntry) {
                inv.path = "canary.txt";
            }
            ASSERT_TRUE(p->send_meta(id, inv));
            EXPECT_TRUE(p->meta_reply(id, 5000).has_value()) << wire::meta_op_name(op);
            ++id;
        }
        // A cookie the home never gave (ext4's are hashes: any value is a position): an
        // answer, of entries of that directory only.
        MetaRequest rd;
        rd.op = MetaOp::Readdir;
        rd.cookie = UINT64_MAX;
        rd.count = wire::kReaddirMax;
        ASSERT_TRUE(p->send_meta(id, rd));
        auto reply = p->meta_reply(id, 5000);
        ASSERT_TRUE(reply.has_value());
        for (const auto& e : reply->entries) {
            EXPECT_TRUE(fs::exists(fs::symlink_status(c_->export_dir(1) + "/" + e.name))) << e.name;
        }
        EXPECT_EQ(fs::file_size(c_->export_dir(1) + "/victim.txt"), 6u);
    }
    check_unharmed("metadata out of range");

    // --- Coherence messages: well-formed, out of range. ---
    {
        auto p = impostor();
        Message join;
        join.type = MsgType::Join;
        join.incarnation = UINT64_MAX;
        ASSERT_TRUE(p->send_peer(join));
        auto ack = p->peer_message(MsgType::JoinAck, 5000);
        ASSERT_TRUE(ack.has_value()) << "no JoinAck";
        uint64_t session = ack->session;
        auto msg = [&](MsgType t, uint64_t ino, coherence::Range r, uint64_t id = 0) {
            Message m;
            m.type = t;
            m.session = session;
            m.id = id;
            m.file = coherence::FileId{0, ino};
            m.range = r;
            return m;
        };
        auto page = [](const char* text) {
            auto b = std::make_shared<std::vector<std::byte>>(4096);
            std::memcpy(b->data(), text, std::strlen(text));
            return coherence::PageBuf(b);
        };
        // A page of an unknown file, and the last page a file may have: zeros, never an abort.
        ASSERT_TRUE(p->send_peer(msg(MsgType::GetS, unknown_export, {0, 1}, 1)));
        auto d1 = p->peer_message(MsgType::DataS, 5000);
        ASSERT_TRUE(d1.has_value()) << "no answer for an unknown file";
        ASSERT_EQ(d1->pages.size(), 1u);
        EXPECT_EQ(*d1->pages[0], std::vector<std::byte>(4096));
        ASSERT_TRUE(p->send_peer(msg(MsgType::GetS, canary_ino_, {last_page, 1}, 2)));
        auto d2 = p->peer_message(MsgType::DataS, 5000);
        ASSERT_TRUE(d2.has_value()) << "no answer for the last page";
        ASSERT_EQ(d2->pages.size(), 1u);
        EXPECT_EQ(*d2->pages[0], std::vector<std::byte>(4096));
        // A page of another home's file: refused.
        Message other = msg(MsgType::GetS, canary_ino_, {0, 1}, 3);
        other.file.home = 1;
        ASSERT_TRUE(p->send_peer(other));
        auto nack = p->peer_message(MsgType::Nack, 5000);
        ASSERT_TRUE(nack.has_value());
        EXPECT_EQ(nack->id, 3u);
        EXPECT_EQ(nack->status, Code::InvalidArgument);
        // Write-backs of pages it does not own, a reclaim outside recovery, acks of nothing,
        // an fsync of an unknown file, a home's messages sent to a home.
        Message putm = msg(MsgType::PutM, canary_ino_, {0, 1});
        putm.pages = {page("EVIL PUTM")};
        ASSERT_TRUE(p->send_peer(putm));
        auto putack = p->peer_message(MsgType::PutAck, 5000);
        EXPECT_TRUE(putack.has_value());
        Message reclaim = msg(MsgType::Reclaim, canary_ino_, {0, 1});
        reclaim.pages = {page("EVIL RECLAIM")};
        ASSERT_TRUE(p->send_peer(reclaim));
        auto late = p->peer_message(MsgType::Nack, 5000);
        ASSERT_TRUE(late.has_value());
        EXPECT_EQ(late->status, Code::TooLate);
        Message rack = msg(MsgType::RecallAck, canary_ino_, {0, 2}, 987654321);
        rack.pages = {page("EVIL RECALLACK"), nullptr};
        ASSERT_TRUE(p->send_peer(rack));
        ASSERT_TRUE(p->send_peer(msg(MsgType::InvAck, canary_ino_, {0, 1}, UINT64_MAX)));
        ASSERT_TRUE(p->send_peer(msg(MsgType::PutS, canary_ino_, {last_page, 1})));
        ASSERT_TRUE(p->send_peer(msg(MsgType::Fsync, unknown_export, coherence::kWholeFile, 4)));
        auto fack = p->peer_message(MsgType::FsyncAck, 5000);
        ASSERT_TRUE(fack.has_value()) << [&] {
            std::string types;
            for (const auto& f : p->seen) {
                types += std::string(wire::type_name(f.header.type)) + " id " +
                         std::to_string(f.header.id) + "; ";
            }
            return "no FsyncAck; frames seen: " + types;
        }();
        EXPECT_NE(fack->status, Code::Ok);
        Message grant = msg(MsgType::LeaseGrant, 0, {0, 0});
        grant.file = coherence::FileId{2, 0};
        grant.time = INT64_MAX;
        ASSERT_TRUE(p->send_peer(grant));
        Message inv = msg(MsgType::Inv, canary_ino_, {0, 1}, 5);
        inv.file.home = 1;  // n2's file, from n3
        ASSERT_TRUE(p->send_peer(inv));
        Message hello;
        hello.type = MsgType::Hello;
        hello.incarnation = UINT64_MAX;
        ASSERT_TRUE(p->send_peer(hello));
        // The rest on a new link and session (n1 adopts each new connection from n3; it used
        // to stop sending on it when its own reconnect timer for n3 fired: fixed).
        p = impostor();
        ASSERT_TRUE(p->send_peer(join));
        ack = p->peer_message(MsgType::JoinAck, 5000);
        ASSERT_TRUE(ack.has_value()) << "no JoinAck on the second link";
        session = ack->session;
        // A GetS with a wrong session: Stale.
        Message stale = msg(MsgType::GetS, canary_ino_, {0, 1}, 6);
        stale.session = session ^ 0x5555;
        ASSERT_TRUE(p->send_peer(stale));
        EXPECT_TRUE(p->peer_message(MsgType::Stale, 5000).has_value());
        // An owner that asks again for its own page, then answers a recall without the data
        // (the home used to abort on the grant that followed: remote input tripped an
        // assertion). n2 reads the file meanwhile and must get the store's bytes.
        ASSERT_TRUE(p->send_peer(msg(MsgType::GetM, victim_ino_, {0, 1}, 8)));
        auto dm = p->peer_message(MsgType::DataM, 5000);
        ASSERT_TRUE(dm.has_value()) << "no DataM";
        ASSERT_TRUE(p->send_peer(msg(MsgType::GetS, victim_ino_, {0, 1}, 9)));
        auto own = p->peer_message(MsgType::Nack, 5000);
        ASSERT_TRUE(own.has_value());
        EXPECT_EQ(own->status, Code::ProtocolError);
        CommandResult got;
        std::thread reader([&] { got = c_->cli(2, {"get", "n1/victim.txt"}); });
        auto recall = p->peer_message(MsgType::Recall, 10000);
        EXPECT_TRUE(recall.has_value()) << "no Recall";
        if (recall) {
            Message ra = msg(MsgType::RecallAck, victim_ino_, recall->range, recall->id);
            ra.pages.assign(recall->range.count, nullptr);
            EXPECT_TRUE(p->send_peer(ra));
        }
        reader.join();
        EXPECT_EQ(got.out, "victim") << got.err;
        // And the link still answers.
        MetaRequest ga;
        ga.op = MetaOp::GetAttr;
        ga.ino = canary_ino_;
        ASSERT_TRUE(p->send_meta(77, ga));
        auto r = p->meta_reply(77, 5000);
        ASSERT_TRUE(r.has_value()) << "the link stopped answering";
        EXPECT_EQ(r->code, Code::Ok);
    }
    check_unharmed("coherence out of range");

    // --- Frames the codec never encodes: each closes the link, with a log line. ---
    std::vector<std::pair<std::string, std::vector<std::byte>>> frames;
    {
        MetaRequest lk;
        lk.op = MetaOp::Lookup;
        lk.ino = root_ino_;
        lk.path = "aXb";
        auto f = encode_meta(1, lk);
        auto slash = f;
        EXPECT_TRUE(patch(slash, str("aXb"), str("a/b")));
        frames.emplace_back("a name with '/'", slash);
        auto nul = f;
        EXPECT_TRUE(patch(nul, str("aXb"), str(std::string_view("a\0b", 3))));
        frames.emplace_back("a name with NUL", nul);
        lk.path = "zz";
        auto dd = encode_meta(1, lk);
        EXPECT_TRUE(patch(dd, str("zz"), str("..")));
        frames.emplace_back("a lookup of '..'", dd);
        MetaRequest cr;
        cr.op = MetaOp::Create;
        cr.ino = root_ino_;
        cr.path = "zz";
        cr.mode = 0644;
        auto fc = encode_meta(1, cr);
        EXPECT_TRUE(patch(fc, str("zz"), str("..")));
        frames.emplace_back("a create of '..' by ino", fc);
        cr.op = MetaOp::Mkdir;
        auto fm = encode_meta(1, cr);
        EXPECT_TRUE(patch(fm, str("zz"), str("..")));
        frames.emplace_back("a mkdir of '..' by ino", fm);
        MetaRequest rn;
        rn.op = MetaOp::Rename;
        rn.ino = root_ino_;
        rn.path = "victim.txt";
        rn.ino2 = root_ino_;
        rn.path2 = "zz";
        auto fr = encode_meta(1, rn);
        EXPECT_TRUE(patch(fr, str("zz"), str("..")));
        frames.emplace_back("a rename onto '..'", fr);
        // An unknown MetaOp: where GetAttr and Truncate of the same ino differ... they differ
        // in more than the op, so take GetAttr vs. InvalAttr (both: ino only).
        MetaRequest a;
        a.op = MetaOp::GetAttr;
        a.ino = canary_ino_;
        MetaRequest b = a;
        b.op = MetaOp::InvalAttr;
        auto fa = encode_meta(1, a);
        size_t at = diff_at(fa, encode_meta(1, b));
        EXPECT_NE(at, std::string::npos);
        if (at != std::string::npos) {
            fa[at] = std::byte{0xEE};
            frames.emplace_back("an unknown metadata op", fa);
        }
        // A Readdir count beyond kReaddirMax.
        MetaRequest rd;
        rd.op = MetaOp::Readdir;
        rd.count = 777;
        auto frd = encode_meta(1, rd);
        std::vector<std::byte> c777{std::byte{0x09}, std::byte{0x03}, std::byte{0}, std::byte{0}};
        std::vector<std::byte> huge{
            std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}};
        EXPECT_TRUE(patch(frd, c777, huge));
        frames.emplace_back("a readdir count of 2^32-1", frd);
    }
    {
        Message m;
        m.type = MsgType::GetS;
        m.session = 1;
        m.id = 1;
        m.file = coherence::FileId{0, canary_ino_};
        m.range = {0x0102030405, 1};
        auto f = encode_msg(m);
        auto beyond = f;
        EXPECT_TRUE(patch(beyond, le64(0x0102030405), le64(UINT64_MAX - 1)));
        frames.emplace_back("a page index near 2^64", beyond);
        auto near63 = f;
        EXPECT_TRUE(patch(near63, le64(0x0102030405), le64(uint64_t{1} << 62)));
        frames.emplace_back("a page index beyond 2^63 bytes", near63);
        wire::Limits lax;
        lax.max_pages = 100000;
        Message big = m;
        big.range = {0, 100000};
        frames.emplace_back("a range of 100000 pages", encode_msg(big, lax));
        Message n1 = m;
        n1.file.home = 1;
        auto fh = encode_msg(m);
        size_t at = diff_at(fh, encode_msg(n1));
        EXPECT_NE(at, std::string::npos);
        if (at != std::string::npos) {
            fh[at] = std::byte{200};
            frames.emplace_back("a node id of 200", fh);
        }
        Message nk;
        nk.type = MsgType::Nack;
        nk.session = 1;
        nk.id = 1;
        nk.file = coherence::FileId{0, canary_ino_};
        nk.range = {0, 1};
        nk.status = Code::Busy;
        Message nk2 = nk;
        nk2.status = Code::ProtocolError;
        auto fn = encode_msg(nk);
        at = diff_at(fn, encode_msg(nk2));
        EXPECT_NE(at, std::string::npos);
        if (at != std::string::npos) {
            fn[at] = std::byte{0xF0};
            frames.emplace_back("an unknown status code", fn);
        }
        Message rc;
        rc.type = MsgType::Recall;
        rc.session = 1;
        rc.id = 1;
        rc.file = coherence::FileId{0, canary_ino_};
        rc.range = {0, 1};
        Message rc2 = rc;
        rc2.to_shared = true;
        auto fr = encode_msg(rc);
        at = diff_at(fr, encode_msg(rc2));
        EXPECT_NE(at, std::string::npos);
        if (at != std::string::npos) {
            fr[at] = std::byte{7};
            frames.emplace_back("a boolean of 7", fr);
        }
        // A header claiming 1 GiB of data, and one of an unknown type.
        wire::FrameHeader h;
        h.type = wire::FrameType::DataS;
        h.flags = wire::kFlagData;
        h.data_len = 1u << 30;
        auto hb = wire::encode_header(h);
        frames.emplace_back("1 GiB of data", std::vector<std::byte>(hb.begin(), hb.end()));
        auto ft = encode_msg(m);
        ft[5] = std::byte{0xC8};
        frames.emplace_back("frame type 200", ft);
        // Two volumes of one name.
        wire::VolumesMsg v;
        v.volumes = {{"dupa", 0, false, 5}, {"dupb", 1, false, 6}};
        std::vector<std::byte> fv;
        EXPECT_TRUE(wire::encode_volumes(v, wire::Limits{}, fv).is_ok());
        EXPECT_TRUE(patch(fv, str("dupb"), str("dupa")));
        frames.emplace_back("two volumes of one name", fv);
    }
    const std::string log_before = c_->log(1);
    int closed = 0;
    for (auto& [what, frame] : frames) {
        auto p = impostor();
        ASSERT_GE(p->fd(), 0) << what;
        ASSERT_TRUE(p->send_resealed(frame)) << what;
        // The link is closed; or, for what the codec lets through to the store (a Lookup of
        // "..", which FUSE may send), the request is refused.
        auto reply = p->meta_reply(1, 5000);
        if (reply) {
            EXPECT_NE(reply->code, Code::Ok) << what << " was not refused";
        } else {
            EXPECT_TRUE(closed_by_peer(p->fd(), 1000)) << what << " did not close the link";
            ++closed;
        }
    }
    EXPECT_GE(closed, static_cast<int>(frames.size()) - 1);
    // One line each: the decoder's reason, or the header's for a frame refused before its
    // body. The last may still be on its way to the log file: wait for it (bounded).
    std::string log_after;
    for (int64_t end = runtime::monotonic_us() + 5'000'000; runtime::monotonic_us() < end;) {
        log_after = c_->log(1).substr(log_before.size());
        if (count_of(log_after, "link to n3 lost: ProtocolError") >= closed) {
            break;
        }
        ::usleep(20'000);
    }
    EXPECT_EQ(count_of(log_after, "link to n3 lost: ProtocolError"), closed) << log_after;
    check_unharmed("frames the codec refuses");

    // A peer that claims the other nodes' volume names: ignored, with a log line.
    {
        auto p = impostor();
        wire::VolumesMsg v;
        v.volumes = {{"n1", 0, false, 5}, {"n2", 1, false, 6}};
        std::vector<std::byte> fv;
        ASSERT_TRUE(wire::encode_volumes(v, wire::Limits{}, fv).is_ok());
        ASSERT_TRUE(p->send_bytes(fv));
        bool logged = false;
        for (int64_t end = runtime::monotonic_us() + 5'000'000;
             !logged && runtime::monotonic_us() < end;) {
            logged = c_->log(1).find("is exported by both") != std::string::npos;
            if (!logged) {
                ::usleep(20'000);
            }
        }
        EXPECT_TRUE(logged) << c_->log(1);
    }
    check_unharmed("volume names claimed twice");
    const std::string log1 = c_->log(1);
    EXPECT_NE(log1.find("protocol violation by n3"), std::string::npos) << log1;
    EXPECT_NE(log1.find("requested a page it owns"), std::string::npos) << log1;
    EXPECT_NE(log1.find("RecallAck without the data of owned p0"), std::string::npos) << log1;
}

TEST_F(PeerHostile, ConnectionFloodsAreBounded) {
    // 150 connections that never say a word, then 100 half-open handshakes (a Hello, then
    // silence), all held open: n1 keeps at most 64 handshakes, refuses the rest with a log line
    // that does not repeat for every one, and keeps serving n2 on the link it already has.
    const int64_t start = runtime::monotonic_us();
    std::vector<int> fds;
    for (int i = 0; i < 150; ++i) {
        int fd = tcp_connect(port_);
        if (fd >= 0) {
            fds.push_back(fd);
        }
    }
    for (int i = 0; i < 100; ++i) {
        int fd = tcp_connect(port_);
        if (fd < 0) {
            continue;
        }
        wire::AuthHello h;
        h.cluster_hash = net::cluster_id(key_, {"n1", "n2", "n3"});
        h.nonce = net::random_nonce();
        h.node_name = "n3";
        std::vector<std::byte> f;
        ASSERT_TRUE(wire::encode_handshake(h, wire::Limits{}, f).is_ok());
        (void)::send(fd, f.data(), f.size(), MSG_NOSIGNAL);
        fds.push_back(fd);
    }
    EXPECT_GE(fds.size(), 200u);
    // During the flood: the honest peer is served.
    check_unharmed("during the flood");
    for (int fd : fds) {
        ::close(fd);
    }
    // After it: an authenticated peer gets in again, within the handshake timeout.
    std::string why;
    bool in = false;
    const int64_t deadline = runtime::monotonic_us() + 10'000'000;
    while (!in && runtime::monotonic_us() < deadline) {
        RawPeer p(key_, {"n1", "n2", "n3"}, "n3", "n1");
        in = p.connect(port_, &why);
    }
    EXPECT_TRUE(in) << "no handshake after the flood: " << why;
    check_unharmed("after the flood");
    const std::string log1 = c_->log(1);
    EXPECT_NE(log1.find("handshakes already in progress"), std::string::npos) << log1;
    EXPECT_LE(count_of(log1, "handshakes already in progress"), 10) << "one log line per refusal";
    EXPECT_LT(runtime::monotonic_us() - start, 40'000'000);
}

// A daemon that stalls mid-handshake (here: SIGSTOP, as a starved process on a loaded machine)
// still completes it when it runs again. The raw peer used to send heartbeats before it was
// welcomed, which the daemon rightly refused: the "no welcome" of a loaded CI run.
TEST_F(PeerHostile, AHandshakeCompletesAfterTheDaemonStalls) {
    for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE("stall " + std::to_string(i));
        ASSERT_EQ(::kill(c_->pid(1), SIGSTOP), 0);
        std::thread resume([&] {
            ::usleep(400'000);  // the stall itself, not a synchronisation
            ::kill(c_->pid(1), SIGCONT);
        });
        RawPeer p(key_, {"n1", "n2", "n3"}, "n3", "n1");
        std::string why;
        bool in = p.connect(port_, &why);
        resume.join();
        EXPECT_TRUE(in) << why << "\n" << c_->log(1);
    }
    check_unharmed("after stalled handshakes");
}

}  // namespace
}  // namespace vr::itest
