// Metadata messages (Volumes, MetaRequest, MetaReply). Goal: every op and every reply shape
// survives the codec, the bytes are the layout docs/design/wire.md documents, and each broken
// rule is rejected by the decoder with a message that names it (and refused by the encoder with
// the same words). Method: the test writes frames itself, field by field in the documented
// order and without any checks (raw_*), so it can both pin the layout (a valid message's raw
// frame must equal the codec's) and build frames that break exactly one rule.
#include "wire/meta.h"

#include <gtest/gtest.h>

#include <set>

#include "test_util.h"
#include "wire/codec.h"

namespace vr::wire {
namespace {

using detail::Writer;

// ------------------------------------------------------------------------------------------
// Frames written by the test, in the documented layout, with no checks.

std::vector<std::byte> seal(FrameType type, uint64_t id, std::vector<std::byte> frame) {
    Status s = detail::finish_frame(frame, type, id, 0, 0, Limits{});
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return frame;
}

std::vector<std::byte> raw_volumes(const VolumesMsg& m, uint64_t id = 0) {
    std::vector<std::byte> f;
    detail::begin_frame(f);
    Writer w(f);
    w.u16(static_cast<uint16_t>(m.volumes.size()));
    for (const VolumeInfo& v : m.volumes) {
        w.u8(static_cast<uint8_t>(v.name.size()));
        w.text(v.name);
        w.u16(v.index);
        w.boolean(v.read_only);
        w.u64(v.root_ino);
    }
    return seal(FrameType::Volumes, id, std::move(f));
}

// Offsets of the MetaRequest's fixed fields in a frame (header included).
constexpr size_t kReqOp = kHeaderSize;
constexpr size_t kReqIno2 = kHeaderSize + 11;
constexpr size_t kReqCount = kHeaderSize + 43;
constexpr size_t kReqMask = kHeaderSize + 47;
constexpr size_t kReqChangeUid = kHeaderSize + 52;
constexpr size_t kReqPathLen = kHeaderSize + 76;
constexpr size_t kReqFixed = 80;  // the fixed fields and both path lengths

std::vector<std::byte> raw_request(const MetaRequest& m, uint64_t id = 1) {
    std::vector<std::byte> f;
    detail::begin_frame(f);
    Writer w(f);
    w.u8(static_cast<uint8_t>(m.op));
    w.u16(m.volume);
    w.u64(m.ino);
    w.u64(m.ino2);
    w.u32(m.mode);
    w.u32(m.flags);
    w.u64(m.size);
    w.u64(m.cookie);
    w.u32(m.count);
    const MetaChange& c = m.change;
    w.u8(static_cast<uint8_t>((c.mode ? 1 : 0) | (c.uid ? 2 : 0) | (c.gid ? 4 : 0) |
                              (c.atime_ns ? 8 : 0) | (c.mtime_ns ? 16 : 0)));
    w.u32(c.mode.value_or(0));
    w.u32(c.uid.value_or(0));
    w.u32(c.gid.value_or(0));
    w.i64(c.atime_ns.value_or(0));
    w.i64(c.mtime_ns.value_or(0));
    w.u16(static_cast<uint16_t>(m.path.size()));
    w.text(m.path);
    w.u16(static_cast<uint16_t>(m.path2.size()));
    w.text(m.path2);
    return seal(FrameType::MetaRequest, id, std::move(f));
}

std::vector<std::byte> raw_reply(const MetaReply& m, uint64_t id = 1) {
    std::vector<std::byte> f;
    detail::begin_frame(f);
    Writer w(f);
    w.u16(static_cast<uint16_t>(m.code));
    w.u16(static_cast<uint16_t>(m.message.size()));
    w.text(m.message);
    w.boolean(m.attr.has_value());
    if (m.attr) {
        w.u64(m.attr->ino);
        w.u8(static_cast<uint8_t>(m.attr->type));
        w.u32(m.attr->mode);
        w.u64(m.attr->size);
        w.u64(m.attr->nlink);
        w.u32(m.attr->uid);
        w.u32(m.attr->gid);
        w.i64(m.attr->mtime_ns);
        w.i64(m.attr->ctime_ns);
    }
    w.u64(m.next_cookie);
    w.boolean(m.end);
    w.u16(static_cast<uint16_t>(m.entries.size()));
    for (const MetaDirEntry& e : m.entries) {
        w.u8(static_cast<uint8_t>(e.name.size()));
        w.text(e.name);
        w.u64(e.ino);
        w.u8(static_cast<uint8_t>(e.type));
    }
    return seal(FrameType::MetaReply, id, std::move(f));
}

Result<VolumesMsg> read_volumes(const std::vector<std::byte>& f, const Limits& limits = {}) {
    auto h = decode_header(std::span(f).first(kHeaderSize), limits);
    VR_TRY(h);
    return decode_volumes(h.value(), test::body_of(f), limits);
}

Result<MetaRequest> read_request(const std::vector<std::byte>& f, const Limits& limits = {}) {
    auto h = decode_header(std::span(f).first(kHeaderSize), limits);
    VR_TRY(h);
    return decode_meta_request(h.value(), test::body_of(f), limits);
}

Result<MetaReply> read_reply(const std::vector<std::byte>& f, const Limits& limits = {}) {
    auto h = decode_header(std::span(f).first(kHeaderSize), limits);
    VR_TRY(h);
    return decode_meta_reply(h.value(), test::body_of(f), limits);
}

// ------------------------------------------------------------------------------------------
// Random valid messages

std::string random_name(std::mt19937_64& rng, size_t max) {
    static constexpr std::string_view kChars =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    std::string s(1 + rng() % max, 'x');
    for (char& c : s) {
        c = kChars[rng() % kChars.size()];
    }
    if (s == "." || s == "..") {
        s += "x";
    }
    return s;
}

// Any bytes but NUL (paths) or NUL and '/' (components, never "." or "..").
std::string random_text(std::mt19937_64& rng, size_t min, size_t max, bool component) {
    std::string s(min + rng() % (max - min + 1), 'x');
    for (char& c : s) {
        do {
            c = static_cast<char>(1 + rng() % 255);
        } while (component && c == '/');
    }
    if (component && (s == "." || s == "..")) {
        s += "x";
    }
    return s;
}

VolumesMsg random_volumes(std::mt19937_64& rng) {
    VolumesMsg m;
    size_t n = rng() % 20;
    for (size_t i = 0; i < n; ++i) {
        VolumeInfo v;
        v.name = fmt::format("{:02}", i) + random_name(rng, kVolumeNameMax - 3);
        v.index = static_cast<uint16_t>(i * 7 % kVolumesMax);
        v.read_only = rng() % 2 == 0;
        v.root_ino = 1 + rng() % UINT64_MAX;
        m.volumes.push_back(v);
    }
    return m;
}

bool is_path_op(MetaOp op) {
    return op == MetaOp::GetAttrPath || op == MetaOp::Create || op == MetaOp::Mkdir ||
           op == MetaOp::Unlink || op == MetaOp::Rmdir || op == MetaOp::Rename ||
           op == MetaOp::Readdir;
}

// How a path op names its file: by volume and path, or by a directory's ino and a name.
enum class Form { ByPath, ByIno };

MetaRequest random_request(MetaOp op, std::mt19937_64& rng, Form form = Form::ByPath) {
    MetaRequest r;
    r.op = op;
    auto volume = [&] { return static_cast<uint16_t>(rng() % kVolumesMax); };
    auto ino = [&] { return 1 + rng() % UINT64_MAX; };
    auto path = [&] { return random_text(rng, 0, 300, false); };
    auto name = [&] { return random_text(rng, 1, kMetaNameMax, true); };
    auto mode = [&] { return static_cast<uint32_t>(rng() % 010000); };
    // A path op's file: volume and path, or ino and a name (Readdir by ino: no name).
    if (is_path_op(op)) {
        if (form == Form::ByIno) {
            r.ino = ino();
            r.path = op == MetaOp::Readdir ? "" : name();
        } else {
            r.volume = volume();
            r.path = path();
        }
    }
    switch (op) {
        case MetaOp::Lookup:
        case MetaOp::InvalEntry:
            r.ino = ino();
            r.path = name();
            break;
        case MetaOp::GetAttrPath:
        case MetaOp::Unlink:
        case MetaOp::Rmdir:
            break;
        case MetaOp::GetAttr:
        case MetaOp::InvalAttr:
            r.ino = ino();
            break;
        case MetaOp::Create:
            r.mode = mode();
            r.flags = static_cast<uint32_t>(rng() % 2);
            break;
        case MetaOp::Mkdir:
            r.mode = mode();
            break;
        case MetaOp::Rename:
            if (form == Form::ByIno) {
                r.ino2 = ino();
                r.path2 = name();
            } else {
                r.path2 = path();
            }
            r.flags = static_cast<uint32_t>(rng() % 3);
            break;
        case MetaOp::Readdir:
            r.cookie = rng();
            r.count = static_cast<uint32_t>(1 + rng() % kReaddirMax);
            break;
        case MetaOp::Truncate:
        case MetaOp::Extend:
            r.ino = ino();
            r.size = rng() % (kMaxFileBytes + 1);
            break;
        case MetaOp::SetAttr:
            r.ino = ino();
            if (rng() % 2 == 0) {
                r.change.mode = mode();
            }
            if (rng() % 2 == 0) {
                r.change.uid = static_cast<uint32_t>(rng() % UINT32_MAX);
            }
            if (rng() % 2 == 0) {
                r.change.gid = static_cast<uint32_t>(rng() % UINT32_MAX);
            }
            if (rng() % 2 == 0) {
                r.change.atime_ns = static_cast<int64_t>(rng());
            }
            if (rng() % 2 == 0) {
                r.change.mtime_ns = static_cast<int64_t>(rng());
            }
            break;
    }
    return r;
}

MetaAttr random_attr(std::mt19937_64& rng) {
    MetaAttr a;
    a.ino = 1 + rng() % UINT64_MAX;
    a.type = static_cast<MetaType>(rng() % 4);
    a.mode = static_cast<uint32_t>(rng() % 010000);
    a.size = rng() % (kMaxFileBytes + 1);
    a.nlink = rng();
    a.uid = static_cast<uint32_t>(rng());
    a.gid = static_cast<uint32_t>(rng());
    a.mtime_ns = static_cast<int64_t>(rng());
    a.ctime_ns = static_cast<int64_t>(rng());
    return a;
}

MetaReply random_reply(int kind, std::mt19937_64& rng) {
    MetaReply r;
    switch (kind) {
        case 0:  // an error
            r.code = rng() % 2 == 0 ? Code::NotFound : Code::Exists;
            r.message = random_text(rng, 0, 200, false);
            break;
        case 1:  // Ok without results (Unlink, Rmdir, Rename)
            break;
        case 2:  // attributes
            r.attr = random_attr(rng);
            break;
        default: {  // a Readdir page
            size_t n = rng() % 200;
            for (size_t i = 0; i < n; ++i) {
                // A fixed-width prefix keeps the names unique.
                r.entries.push_back(
                    MetaDirEntry{fmt::format("{:03}", i) + random_text(rng, 0, 60, true),
                                 1 + rng() % UINT64_MAX,
                                 static_cast<MetaType>(rng() % 4)});
            }
            r.next_cookie = rng();
            r.end = rng() % 2 == 0;
            break;
        }
    }
    return r;
}

std::vector<MetaOp> all_ops() {
    std::vector<MetaOp> ops;
    for (uint8_t op = 1; op <= kMetaOpMax; ++op) {
        ops.push_back(static_cast<MetaOp>(op));
    }
    return ops;
}

// ------------------------------------------------------------------------------------------
// Round trips

TEST(Meta, VolumesRoundTripInTheDocumentedLayout) {
    auto rng = test::rng_for_test();
    for (int i = 0; i < 200; ++i) {
        VolumesMsg m = random_volumes(rng);
        std::vector<std::byte> f;
        ASSERT_TRUE(encode_volumes(m, Limits{}, f).is_ok());
        EXPECT_EQ(f, raw_volumes(m)) << "layout differs from the documented one";
        auto back = read_volumes(f);
        ASSERT_TRUE(back.is_ok()) << back.status().to_string();
        EXPECT_EQ(back.value(), m);
    }
    // The largest list: every index, the longest names.
    VolumesMsg full;
    for (uint16_t i = 0; i < kVolumesMax; ++i) {
        full.volumes.push_back(
            VolumeInfo{fmt::format("{:03}", i) + std::string(61, 'v'), i, i % 2 == 0, i + 1u});
    }
    std::vector<std::byte> f;
    ASSERT_TRUE(encode_volumes(full, Limits{}, f).is_ok());
    auto back = read_volumes(f);
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(back.value(), full);
    EXPECT_EQ(test::header_of(f, Limits{}).id, 0u);
}

TEST(Meta, EveryRequestOpRoundTripsInTheDocumentedLayout) {
    auto rng = test::rng_for_test();
    for (MetaOp op : all_ops()) {
        for (int i = 0; i < 100; ++i) {
            // Path ops in both forms, by path and by a directory's ino.
            MetaRequest m = random_request(op, rng, i % 2 == 0 ? Form::ByPath : Form::ByIno);
            uint64_t id = 1 + rng() % UINT64_MAX;
            std::vector<std::byte> f;
            Status s = encode_meta_request(id, m, Limits{}, f);
            ASSERT_TRUE(s.is_ok()) << meta_op_name(op) << ": " << s.to_string();
            EXPECT_EQ(f, raw_request(m, id)) << meta_op_name(op);
            auto back = read_request(f);
            ASSERT_TRUE(back.is_ok()) << meta_op_name(op) << ": " << back.status().to_string();
            EXPECT_EQ(back.value(), m) << meta_op_name(op);
            EXPECT_EQ(test::header_of(f, Limits{}).id, id);
        }
    }
}

// The ino-relative forms and the home's invalidations, field by field: each request keeps
// exactly the fields it was given, and its fixed part is 80 bytes.
TEST(Meta, PathOpsByInoAndInvalidationsRoundTrip) {
    constexpr uint64_t kDir = 3ull << 56 | 17;
    constexpr uint64_t kDir2 = 3ull << 56 | 18;
    std::vector<MetaRequest> requests;
    requests.reserve(16);  // add() hands out pointers into it
    auto add = [&](MetaOp op, uint64_t ino, std::string path) {
        MetaRequest r;
        r.op = op;
        r.ino = ino;
        r.path = std::move(path);
        requests.push_back(r);
        return &requests.back();
    };
    add(MetaOp::GetAttrPath, kDir, "file.txt");
    add(MetaOp::Create, kDir, "new")->mode = 0600;
    requests.back().flags = kCreateExclusive;
    add(MetaOp::Mkdir, kDir, std::string(kMetaNameMax, 'd'))->mode = 0755;
    add(MetaOp::Unlink, kDir, "old");
    add(MetaOp::Rmdir, kDir, "sub");
    MetaRequest* rename = add(MetaOp::Rename, kDir, "a");
    rename->ino2 = kDir2;
    rename->path2 = "b";
    rename->flags = kRenameNoReplace;
    MetaRequest* same_dir = add(MetaOp::Rename, kDir, "a");
    same_dir->ino2 = kDir;  // within one directory
    same_dir->path2 = "a.bak";
    MetaRequest* readdir = add(MetaOp::Readdir, kDir, "");  // the directory itself
    readdir->cookie = 99;
    readdir->count = kReaddirMax;
    add(MetaOp::InvalAttr, kDir, "");
    add(MetaOp::InvalEntry, kDir, "gone");
    add(MetaOp::InvalEntry, 1, std::string("\xff.", 2));  // any bytes but NUL and '/'
    add(MetaOp::Lookup, kDir, "...");                     // only "." and ".." are reserved
    uint64_t id = 1;
    for (const MetaRequest& m : requests) {
        std::vector<std::byte> f;
        Status s = encode_meta_request(id, m, Limits{}, f);
        ASSERT_TRUE(s.is_ok()) << meta_op_name(m.op) << ": " << s.to_string();
        EXPECT_EQ(f, raw_request(m, id)) << meta_op_name(m.op);
        EXPECT_EQ(f.size(), kHeaderSize + kReqFixed + m.path.size() + m.path2.size());
        uint64_t ino2 = 0;
        for (size_t i = 0; i < 8; ++i) {
            ino2 |= static_cast<uint64_t>(f[kReqIno2 + i]) << (8 * i);
        }
        EXPECT_EQ(ino2, m.ino2) << meta_op_name(m.op);
        auto back = read_request(f);
        ASSERT_TRUE(back.is_ok()) << meta_op_name(m.op) << ": " << back.status().to_string();
        EXPECT_EQ(back.value(), m) << meta_op_name(m.op);
        ++id;
    }
}

TEST(Meta, EveryReplyShapeRoundTripsInTheDocumentedLayout) {
    auto rng = test::rng_for_test();
    for (int i = 0; i < 400; ++i) {
        MetaReply m = random_reply(i % 4, rng);
        uint64_t id = 1 + rng() % UINT64_MAX;
        std::vector<std::byte> f;
        Status s = encode_meta_reply(id, m, Limits{}, f);
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        EXPECT_EQ(f, raw_reply(m, id));
        auto back = read_reply(f);
        ASSERT_TRUE(back.is_ok()) << back.status().to_string();
        EXPECT_EQ(back.value(), m);
    }
}

// A Rename by ino whose directories are in two volumes: the home answers CrossDevice (EXDEV).
TEST(Meta, CrossDeviceRepliesRoundTrip) {
    MetaReply m{Code::CrossDevice, "rename a -> b: two volumes", std::nullopt, {}, 0, false};
    std::vector<std::byte> f;
    ASSERT_TRUE(encode_meta_reply(7, m, Limits{}, f).is_ok());
    EXPECT_EQ(f, raw_reply(m, 7));
    EXPECT_EQ(f[kHeaderSize], std::byte{20});  // the code's stable number
    auto back = read_reply(f);
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(back.value(), m);
}

TEST(Meta, OpNamesAreDistinct) {
    std::set<std::string_view> names;
    for (MetaOp op : all_ops()) {
        EXPECT_NE(meta_op_name(op), "?");
        names.insert(meta_op_name(op));
    }
    EXPECT_EQ(names.size(), kMetaOpMax);
    EXPECT_EQ(meta_op_name(static_cast<MetaOp>(0)), "?");
}

// ------------------------------------------------------------------------------------------
// Rejections. Each breaks one rule: the decoder must name it, and the encoder refuse it with
// the same words under InvalidArgument.

::testing::AssertionResult both_reject(const Status& encoded,
                                       const Status& decoded,
                                       std::string_view needle) {
    auto d = test::fails_with(decoded, needle);
    if (!d) {
        return d << " (decoder)";
    }
    auto e = test::fails_with(encoded, needle);
    if (!e) {
        return e << " (encoder)";
    }
    if (encoded.code() != Code::InvalidArgument) {
        return ::testing::AssertionFailure() << "encoder: " << encoded.to_string();
    }
    if (decoded.code() != Code::ProtocolError) {
        return ::testing::AssertionFailure() << "decoder: " << decoded.to_string();
    }
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult request_rejected(const MetaRequest& m,
                                            std::string_view needle,
                                            const Limits& limits = {}) {
    std::vector<std::byte> f;
    Status e = encode_meta_request(1, m, limits, f);
    if (e.is_ok() || !f.empty()) {
        return ::testing::AssertionFailure() << "encoder accepted it";
    }
    return both_reject(e, read_request(raw_request(m), limits).status(), needle);
}

::testing::AssertionResult reply_rejected(const MetaReply& m,
                                          std::string_view needle,
                                          const Limits& limits = {}) {
    std::vector<std::byte> f;
    Status e = encode_meta_reply(1, m, limits, f);
    return both_reject(e, read_reply(raw_reply(m), limits).status(), needle);
}

::testing::AssertionResult volumes_rejected(const VolumesMsg& m, std::string_view needle) {
    std::vector<std::byte> f;
    Status e = encode_volumes(m, Limits{}, f);
    return both_reject(e, read_volumes(raw_volumes(m)).status(), needle);
}

// Path ops by path.
MetaRequest valid(MetaOp op) {
    std::mt19937_64 rng(static_cast<uint64_t>(op));
    return random_request(op, rng);
}

MetaRequest valid_by_ino(MetaOp op) {
    std::mt19937_64 rng(static_cast<uint64_t>(op));
    return random_request(op, rng, Form::ByIno);
}

TEST(Meta, RejectsUnknownOps) {
    MetaRequest m = valid(MetaOp::GetAttr);
    m.op = static_cast<MetaOp>(0);
    EXPECT_TRUE(request_rejected(m, "op 0 is not a metadata operation"));
    m.op = static_cast<MetaOp>(kMetaOpMax + 1);
    EXPECT_TRUE(request_rejected(m, "op 15 is not a metadata operation"));
}

TEST(Meta, RejectsFieldsAnOpDoesNotUse) {
    MetaRequest m = valid(MetaOp::GetAttr);
    m.volume = 3;
    EXPECT_TRUE(request_rejected(m, "GetAttr does not use volume, which must be 0 but holds 3"));
    m = valid(MetaOp::GetAttr);
    m.path = "a";
    EXPECT_TRUE(request_rejected(m, "GetAttr does not use path, which must be empty"));
    m = valid(MetaOp::Mkdir);
    m.path2 = "b";
    EXPECT_TRUE(request_rejected(m, "Mkdir by path does not use path2, which must be empty"));
    m = valid(MetaOp::Unlink);
    m.mode = 0644;
    EXPECT_TRUE(
        request_rejected(m, "Unlink by path does not use mode, which must be 0 but holds 420"));
    m = valid(MetaOp::Mkdir);
    m.flags = 1;
    EXPECT_TRUE(
        request_rejected(m, "Mkdir by path does not use flags, which must be 0 but holds 1"));
    m = valid(MetaOp::Lookup);
    m.size = 5;
    EXPECT_TRUE(request_rejected(m, "Lookup does not use size, which must be 0 but holds 5"));
    m = valid(MetaOp::Rmdir);
    m.cookie = 7;
    EXPECT_TRUE(
        request_rejected(m, "Rmdir by path does not use cookie, which must be 0 but holds 7"));
    m = valid(MetaOp::Rmdir);
    m.count = 7;
    EXPECT_TRUE(
        request_rejected(m, "Rmdir by path does not use count, which must be 0 but holds 7"));
    m = valid(MetaOp::Truncate);
    m.change.uid = 5;
    EXPECT_TRUE(request_rejected(m, "Truncate does not use change, which must be empty"));
    m = valid_by_ino(MetaOp::Create);
    m.cookie = 1;
    EXPECT_TRUE(
        request_rejected(m, "Create by ino does not use cookie, which must be 0 but holds 1"));
    m = valid(MetaOp::InvalAttr);
    m.volume = 2;
    EXPECT_TRUE(request_rejected(m, "InvalAttr does not use volume, which must be 0 but holds 2"));
    m = valid(MetaOp::InvalAttr);
    m.path = "x";
    EXPECT_TRUE(request_rejected(m, "InvalAttr does not use path, which must be empty"));
    m = valid(MetaOp::InvalEntry);
    m.mode = 0600;
    EXPECT_TRUE(request_rejected(m, "InvalEntry does not use mode, which must be 0 but holds 384"));
}

// ino2 is the target directory of a Rename by ino, and nothing else.
TEST(Meta, RejectsIno2OutsideARenameByIno) {
    for (MetaOp op : all_ops()) {
        for (Form form : {Form::ByPath, Form::ByIno}) {
            if (op == MetaOp::Rename && form == Form::ByIno) {
                continue;
            }
            if (form == Form::ByIno && !is_path_op(op)) {
                continue;
            }
            MetaRequest m = form == Form::ByIno ? valid_by_ino(op) : valid(op);
            m.ino2 = 5;
            std::string who(meta_op_name(op));
            if (is_path_op(op)) {
                who += form == Form::ByIno ? " by ino" : " by path";
            }
            EXPECT_TRUE(
                request_rejected(m, who + " does not use ino2, which must be 0 but holds 5"))
                << who;
        }
    }
    // A Rename by path naming its target by ino2 (the source by ino missing).
    MetaRequest m = valid(MetaOp::Rename);
    m.volume = 0;
    m.ino2 = 9;
    m.path = "a";
    m.path2 = "b";
    EXPECT_TRUE(
        request_rejected(m, "Rename by path does not use ino2, which must be 0 but holds 9"));
    // A Rename by ino needs its target's directory.
    m = valid_by_ino(MetaOp::Rename);
    m.ino2 = 0;
    EXPECT_TRUE(request_rejected(m, "Rename ino2 is 0 (never a valid ino)"));
}

TEST(Meta, RejectsPathOpsByInoWithAVolumeOrAPath) {
    // The volume is the ino's: a request by ino that also names one is confused.
    for (MetaOp op : all_ops()) {
        if (!is_path_op(op)) {
            continue;
        }
        MetaRequest m = valid_by_ino(op);
        m.volume = 3;
        EXPECT_TRUE(request_rejected(
            m,
            fmt::format("{} by ino does not use volume, which must be 0 but holds 3",
                        meta_op_name(op))));
        if (op == MetaOp::Readdir) {
            continue;
        }
        m = valid_by_ino(op);
        m.path = "dir/file";
        EXPECT_TRUE(
            request_rejected(m,
                             fmt::format("{} name has a '/' at offset 3 (one path component only)",
                                         meta_op_name(op))));
        m.path = "";
        EXPECT_TRUE(request_rejected(m, fmt::format("{} name is empty", meta_op_name(op))));
    }
    // Readdir by ino lists the directory itself: no name.
    MetaRequest m = valid_by_ino(MetaOp::Readdir);
    m.path = "sub";
    EXPECT_TRUE(request_rejected(
        m, "Readdir by ino does not use path, which must be empty but holds 3 bytes"));
    m = valid_by_ino(MetaOp::Readdir);
    m.count = 0;
    EXPECT_TRUE(request_rejected(m, "Readdir count 0 is not in [1, 1024]"));
    // Rename by ino: the target is one name too.
    m = valid_by_ino(MetaOp::Rename);
    m.path2 = "a/b";
    EXPECT_TRUE(request_rejected(m, "Rename target name has a '/' at offset 1"));
    m.path2 = "";
    EXPECT_TRUE(request_rejected(m, "Rename target name is empty"));
    m.path2 = "..";
    EXPECT_TRUE(request_rejected(m, "Rename target name \"..\" is not a name"));
    m.path2 = std::string(kMetaNameMax + 1, 't');
    EXPECT_TRUE(request_rejected(m, "Rename target name of 256 bytes exceeds the limit of 255"));
    m = valid_by_ino(MetaOp::Rename);
    m.flags = 3;
    EXPECT_TRUE(request_rejected(m, "Rename flags 3 is not replace (0)"));
    m = valid_by_ino(MetaOp::Create);
    m.mode = 010000;
    EXPECT_TRUE(request_rejected(m, "Create mode 010000 has bits beyond the permission bits"));
}

TEST(Meta, RejectsReservedAndMalformedNames) {
    for (MetaOp op : {MetaOp::InvalEntry, MetaOp::GetAttrPath, MetaOp::Unlink, MetaOp::Create}) {
        MetaRequest m = is_path_op(op) ? valid_by_ino(op) : valid(op);
        std::string field = fmt::format("{} name", meta_op_name(op));
        m.path = ".";
        EXPECT_TRUE(
            request_rejected(m, field + " \".\" is not a name (\".\" and \"..\" are reserved)"));
        m.path = "..";
        EXPECT_TRUE(request_rejected(m, field + " \"..\" is not a name"));
        m.path = std::string("a\0", 2);
        EXPECT_TRUE(request_rejected(m, field + " has a NUL byte at offset 1"));
        m.path = std::string(kMetaNameMax + 1, 'n');
        EXPECT_TRUE(request_rejected(m, field + " of 256 bytes exceeds the limit of 255"));
    }
    MetaRequest m = valid(MetaOp::InvalEntry);
    m.ino = 0;
    EXPECT_TRUE(request_rejected(m, "InvalEntry ino is 0"));
    m = valid(MetaOp::InvalAttr);
    m.ino = 0;
    EXPECT_TRUE(request_rejected(m, "InvalAttr ino is 0"));
    // By path, and in a Lookup (as before the forms by ino), "." and ".." are the home store's
    // to refuse: the codec lets them through (tests/integration/hostile_test.cc sends them).
    std::vector<std::byte> f;
    m = valid(MetaOp::GetAttrPath);
    m.path = "..";
    EXPECT_TRUE(encode_meta_request(1, m, Limits{}, f).is_ok());
    m = valid(MetaOp::Lookup);
    m.path = "..";
    EXPECT_TRUE(encode_meta_request(1, m, Limits{}, f).is_ok());
    EXPECT_TRUE(read_request(f).is_ok());
    MetaReply d;
    d.entries = {{".", 1, MetaType::Directory}};
    EXPECT_TRUE(encode_meta_reply(1, d, Limits{}, f).is_ok());
}

TEST(Meta, RejectsBadPathsAndNames) {
    Limits limits;
    limits.max_path = 100;
    MetaRequest m = valid(MetaOp::Unlink);
    m.path = std::string(101, 'p');
    EXPECT_TRUE(request_rejected(m, "Unlink path of 101 bytes exceeds the limit of 100", limits));
    m.path = std::string("a\0b", 3);
    EXPECT_TRUE(request_rejected(m, "Unlink path has a NUL byte at offset 1"));
    m = valid(MetaOp::Rename);
    m.path2 = std::string("dir/\0", 5);
    EXPECT_TRUE(request_rejected(m, "Rename path2 has a NUL byte at offset 4"));
    m = valid(MetaOp::Lookup);
    m.path = "";
    EXPECT_TRUE(request_rejected(m, "Lookup name is empty"));
    m.path = "a/b";
    EXPECT_TRUE(request_rejected(m, "Lookup name has a '/' at offset 1"));
    m.path = std::string(256, 'n');
    EXPECT_TRUE(request_rejected(m, "Lookup name of 256 bytes exceeds the limit of 255"));
    m.path = std::string("x\0", 2);
    EXPECT_TRUE(request_rejected(m, "Lookup name has a NUL byte at offset 1"));
    // The root of the export is the empty path; it is a valid path.
    m = valid(MetaOp::GetAttrPath);
    m.path = "";
    std::vector<std::byte> f;
    EXPECT_TRUE(encode_meta_request(1, m, Limits{}, f).is_ok());
}

TEST(Meta, RejectsBadNumbers) {
    MetaRequest m = valid(MetaOp::GetAttr);
    m.ino = 0;
    EXPECT_TRUE(request_rejected(m, "GetAttr ino is 0"));
    m = valid(MetaOp::Lookup);
    m.ino = 0;
    EXPECT_TRUE(request_rejected(m, "Lookup ino is 0"));
    m = valid(MetaOp::Create);
    m.volume = kVolumesMax;
    EXPECT_TRUE(request_rejected(m, "Create volume 256 is not an export index"));
    m = valid(MetaOp::Create);
    m.mode = 010000;
    EXPECT_TRUE(request_rejected(m, "Create mode 010000 has bits beyond the permission bits"));
    m = valid(MetaOp::Create);
    m.flags = 2;
    EXPECT_TRUE(request_rejected(m, "Create flags 0x2 has bits other than exclusive"));
    m = valid(MetaOp::Rename);
    m.flags = 3;
    EXPECT_TRUE(request_rejected(m, "Rename flags 3 is not replace (0)"));
    m = valid(MetaOp::Truncate);
    m.size = kMaxFileBytes + 1;
    EXPECT_TRUE(request_rejected(m, "Truncate size 9223372036854775808 exceeds the largest"));
    m = valid(MetaOp::Extend);
    m.size = UINT64_MAX;
    EXPECT_TRUE(request_rejected(m, "Extend size 18446744073709551615 exceeds"));
    m = valid(MetaOp::Readdir);
    m.count = 0;
    EXPECT_TRUE(request_rejected(m, "Readdir count 0 is not in [1, 1024]"));
    m.count = kReaddirMax + 1;
    EXPECT_TRUE(request_rejected(m, "Readdir count 1025 is not in [1, 1024]"));
    m = valid(MetaOp::SetAttr);
    m.change.mode = 017777;
    EXPECT_TRUE(request_rejected(m, "SetAttr change.mode 017777 has bits beyond"));
    m = valid(MetaOp::SetAttr);
    m.change.gid = UINT32_MAX;
    EXPECT_TRUE(request_rejected(m, "SetAttr change.gid is 4294967295 (-1)"));
}

TEST(Meta, RejectsMalformedChangeMasks) {
    MetaRequest m = valid(MetaOp::SetAttr);
    m.change = MetaChange{};
    m.change.mode = 0600;
    std::vector<std::byte> f = raw_request(m);
    f[kReqMask] = std::byte{0x21};
    test::reseal(f);
    EXPECT_FAILS_WITH(read_request(f), "change mask 0x21 has unknown bits 0x20");
    f = raw_request(m);
    test::put_le(f, kReqChangeUid, 4, 1000);  // a uid without its mask bit
    test::reseal(f);
    EXPECT_FAILS_WITH(read_request(f),
                      "change.uid is not in the change mask, so it must be 0, but holds 1000");
}

TEST(Meta, RejectsRequestsWithoutAnIdAndTruncatedOrPaddedBodies) {
    MetaRequest m = valid(MetaOp::Readdir);
    std::vector<std::byte> f;
    EXPECT_FAILS_WITH(encode_meta_request(0, m, Limits{}, f),
                      "MetaRequest frame has id 0, but it needs its request's id");
    EXPECT_FAILS_WITH(read_request(raw_request(m, 0)), "MetaRequest frame has id 0");
    std::vector<std::byte> reply;
    EXPECT_FAILS_WITH(encode_meta_reply(0, MetaReply{}, Limits{}, reply),
                      "MetaReply frame has id 0");
    EXPECT_FAILS_WITH(read_reply(raw_reply(MetaReply{}, 0)), "MetaReply frame has id 0");

    f = raw_request(m);
    f.pop_back();
    test::fix_body_len(f);
    EXPECT_FAILS_WITH(read_request(f), "MetaRequest body: ends inside field path2");
    f = raw_request(valid(MetaOp::GetAttr));
    f.resize(kReqCount + 2);
    test::fix_body_len(f);
    EXPECT_FAILS_WITH(read_request(f), "ends inside field count");
    f = raw_request(m);
    f.push_back(std::byte{0});
    test::fix_body_len(f);
    EXPECT_FAILS_WITH(read_request(f), "1 trailing bytes after the last field");
    f = raw_request(m);
    test::put_le(f, kReqPathLen, 2, 60000);  // a path longer than the body
    test::reseal(f);
    EXPECT_FAILS_WITH(read_request(f), "ends inside field path");
    f = raw_request(m);
    f.pop_back();  // the header says one more byte than there is
    EXPECT_FAILS_WITH(read_request(f), "MetaRequest frame body is");
}

TEST(Meta, RejectsBadCrcs) {
    std::vector<std::byte> f = raw_request(valid(MetaOp::Lookup));
    f[kReqOp + 3] ^= std::byte{1};
    Status s = read_request(f).status();
    EXPECT_FAILS_WITH(s, "MetaRequest frame body CRC mismatch");
    EXPECT_EQ(s.code(), Code::Corrupt);
    f = raw_volumes(VolumesMsg{{{"v", 0, false, 1}}});
    f[16] = std::byte{1};  // the id is covered by body_crc
    EXPECT_FAILS_WITH(read_volumes(f), "Volumes frame body CRC mismatch");
    f = raw_reply(MetaReply{});
    f.back() ^= std::byte{0x80};
    EXPECT_FAILS_WITH(read_reply(f), "MetaReply frame body CRC mismatch");
}

TEST(Meta, RejectsOtherFramesAndData) {
    std::vector<std::byte> f = raw_request(valid(MetaOp::GetAttr));
    FrameHeader h = test::header_of(f, Limits{});
    EXPECT_FAILS_WITH(decode_meta_reply(h, test::body_of(f), Limits{}),
                      "frame type MetaRequest is not MetaReply");
    EXPECT_FAILS_WITH(decode_volumes(h, test::body_of(f), Limits{}),
                      "frame type MetaRequest is not Volumes");
    // Metadata frames never carry data: decode_header refuses the flag.
    FrameHeader d;
    d.type = FrameType::MetaReply;
    d.flags = kFlagData;
    d.data_len = 4096;
    EXPECT_FAILS_WITH(decode_header(encode_header(d), Limits{}),
                      "frame type MetaReply carries no data but has the data flag");
}

TEST(Meta, RejectsBadVolumeLists) {
    VolumeInfo ok{"data", 0, false, 100};
    EXPECT_TRUE(
        volumes_rejected(VolumesMsg{{VolumeInfo{"", 0, false, 1}}}, "volume name is empty"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{VolumeInfo{"a/b", 0, false, 1}}},
                                 "volume name has byte 0x2f at offset 1"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{VolumeInfo{std::string(65, 'v'), 0, false, 1}}},
                                 "volume name of 65 bytes exceeds the limit of 64"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{VolumeInfo{".", 0, false, 1}}},
                                 "volume name \".\" is reserved"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{VolumeInfo{"..", 0, false, 1}}},
                                 "volume name \"..\" is reserved"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{ok, VolumeInfo{"data", 1, false, 2}}},
                                 "volume data appears twice"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{ok, VolumeInfo{"logs", 0, true, 2}}},
                                 "volume index 0 appears twice"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{VolumeInfo{"logs", 256, true, 2}}},
                                 "volume logs has index 256, but indexes are below 256"));
    EXPECT_TRUE(volumes_rejected(VolumesMsg{{VolumeInfo{"logs", 1, true, 0}}},
                                 "volume logs root_ino is 0"));
    VolumesMsg many;
    for (uint16_t i = 0; i <= kVolumesMax; ++i) {
        many.volumes.push_back(VolumeInfo{fmt::format("v{}", i), i, false, 1});
    }
    std::vector<std::byte> f;
    EXPECT_FAILS_WITH(encode_volumes(many, Limits{}, f), "257 volumes exceed the limit of 256");
    f = raw_volumes(VolumesMsg{});
    test::put_le(f, kHeaderSize, 2, kVolumesMax + 1);  // the count, before any volume is read
    test::reseal(f);
    EXPECT_FAILS_WITH(read_volumes(f), "Volumes body: 257 volumes exceed the limit of 256");
    f = raw_volumes(VolumesMsg{{ok}});
    f[kHeaderSize + 2 + 1 + 4 + 2] = std::byte{2};  // read_only
    test::reseal(f);
    EXPECT_FAILS_WITH(read_volumes(f), "field read_only is a boolean but holds 2");
    EXPECT_FAILS_WITH(read_volumes(raw_volumes(VolumesMsg{{ok}}, 5)),
                      "Volumes frame has id 5, but Volumes carries none (0)");
}

TEST(Meta, RejectsBadReplies) {
    auto rng = test::rng_for_test();
    MetaReply m;
    m.code = static_cast<Code>(4242);
    EXPECT_TRUE(reply_rejected(m, "code 4242 is not a known error code"));
    m = MetaReply{Code::NotFound, "gone", random_attr(rng), {}, 0, false};
    EXPECT_TRUE(reply_rejected(m, "a reply with error code NotFound carries results"));
    m = MetaReply{Code::NotFound, "", std::nullopt, {{"a", 1, MetaType::Regular}}, 0, false};
    EXPECT_TRUE(reply_rejected(m, "carries results"));
    m = MetaReply{Code::NotEmpty, "", std::nullopt, {}, 0, true};
    EXPECT_TRUE(reply_rejected(m, "carries results"));
    m = MetaReply{Code::Ok, "fine", std::nullopt, {}, 0, false};
    EXPECT_TRUE(reply_rejected(m, "a reply with code Ok carries a message (4 bytes)"));
    m = MetaReply{Code::IoError, std::string("a\0", 2), std::nullopt, {}, 0, false};
    EXPECT_TRUE(reply_rejected(m, "message has a NUL byte at offset 1"));
    m = MetaReply{Code::IoError, std::string(1025, 'm'), std::nullopt, {}, 0, false};
    EXPECT_TRUE(reply_rejected(m, "message of 1025 bytes exceeds the limit of 1024"));

    MetaReply a;
    a.attr = random_attr(rng);
    a.attr->ino = 0;
    EXPECT_TRUE(reply_rejected(a, "attr.ino is 0"));
    a.attr = random_attr(rng);
    a.attr->type = static_cast<MetaType>(4);
    EXPECT_TRUE(reply_rejected(a, "attr.type 4 is not a known file type"));
    a.attr = random_attr(rng);
    a.attr->mode = 0100644;  // st_mode with the type bits: only permission bits travel
    EXPECT_TRUE(reply_rejected(a, "attr.mode 0100644 has bits beyond the permission bits"));
    a.attr = random_attr(rng);
    a.attr->size = kMaxFileBytes + 1;
    EXPECT_TRUE(reply_rejected(a, "attr.size 9223372036854775808 exceeds"));

    MetaReply d;
    d.entries = {{"a", 1, MetaType::Regular}, {"b", 2, MetaType::Directory}};
    d.entries[1].name = "b/c";
    EXPECT_TRUE(reply_rejected(d, "entry name has a '/' at offset 1"));
    d.entries[1].name = "";
    EXPECT_TRUE(reply_rejected(d, "entry name is empty"));
    d.entries[1].name = "a";
    EXPECT_TRUE(reply_rejected(d, "entry a appears twice"));
    d.entries[1] = {"b", 0, MetaType::Regular};
    EXPECT_TRUE(reply_rejected(d, "entry ino is 0"));
    d.entries[1] = {"b", 2, static_cast<MetaType>(9)};
    EXPECT_TRUE(reply_rejected(d, "entry type 9 is not a known file type"));
    MetaReply big;
    for (uint32_t i = 0; i <= kReaddirMax; ++i) {
        big.entries.push_back({std::to_string(i), i + 1u, MetaType::Regular});
    }
    std::vector<std::byte> f;
    EXPECT_FAILS_WITH(encode_meta_reply(1, big, Limits{}, f),
                      "1025 entries exceed the limit of 1024");

    // Wire-only anomalies: booleans and counts.
    f = raw_reply(MetaReply{});
    f[kHeaderSize + 4] = std::byte{2};  // has_attr
    test::reseal(f);
    EXPECT_FAILS_WITH(read_reply(f), "field has_attr is a boolean but holds 2");
    f = raw_reply(MetaReply{});
    f[kHeaderSize + 13] = std::byte{7};  // end
    test::reseal(f);
    EXPECT_FAILS_WITH(read_reply(f), "field end is a boolean but holds 7");
    f = raw_reply(MetaReply{});
    test::put_le(f, kHeaderSize + 14, 2, kReaddirMax + 1);  // entry count
    test::reseal(f);
    EXPECT_FAILS_WITH(read_reply(f), "MetaReply body: 1025 entries exceed the limit of 1024");
    f = raw_reply(MetaReply{});
    test::put_le(f, kHeaderSize + 14, 2, 3);  // three entries announced, none there
    test::reseal(f);
    EXPECT_FAILS_WITH(read_reply(f), "ends inside field entry name length");
}

TEST(Meta, EncoderRefusesBodiesBeyondTheLimit) {
    // 1024 entries of 255-byte names do not fit 64 KiB: the home must page its Readdir replies.
    MetaReply big;
    for (uint32_t i = 0; i < kReaddirMax; ++i) {
        big.entries.push_back(
            {fmt::format("{:04}", i) + std::string(251, 'e'), i + 1u, MetaType::Regular});
    }
    std::vector<std::byte> f;
    Status s = encode_meta_reply(1, big, Limits{}, f);
    EXPECT_FAILS_WITH(s, "cannot encode MetaReply: frame body of");
    EXPECT_EQ(s.code(), Code::InvalidArgument);
    EXPECT_TRUE(f.empty());
}

}  // namespace
}  // namespace vr::wire
