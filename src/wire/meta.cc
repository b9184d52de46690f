// Metadata message codec. Each message has one fixed layout (docs/design/wire.md, "Metadata
// messages"); a MetaRequest always carries every field, and the fields its op does not use must
// be 0 or empty, so that a request has exactly one encoding and a decoder can tell a confused
// sender from a valid one. As in the other families, check() runs on both sides: the encoder
// refuses what the decoder would reject.
#include "wire/meta.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "wire/codec.h"

namespace vr::wire {

using detail::protocol_error;
using detail::Reader;
using detail::Writer;

namespace {

// MetaChange fields present on the wire: the SetAttr body's change mask.
constexpr uint8_t kChangeMode = 1u << 0;
constexpr uint8_t kChangeUid = 1u << 1;
constexpr uint8_t kChangeGid = 1u << 2;
constexpr uint8_t kChangeAtime = 1u << 3;
constexpr uint8_t kChangeMtime = 1u << 4;
constexpr uint8_t kChangeKnown =
    kChangeMode | kChangeUid | kChangeGid | kChangeAtime | kChangeMtime;

constexpr uint32_t kPermissionBits = 07777;
constexpr size_t kEntryMinBytes = 1 + 1 + 8 + 1;  // a one-byte name

// ------------------------------------------------------------------------------------------
// Which request fields each op uses. Everything else must be 0 or empty.

struct Uses {
    bool volume = false;   // path ops by path: the export index
    bool ino = false;      // ino ops (Lookup: the parent directory); path ops by ino
    bool ino2 = false;     // Rename by ino: the target's directory
    bool path = false;     // a path relative to the export root
    bool name = false;     // `path` holds one component instead of a path
    bool path2 = false;    // Rename
    bool name2 = false;    // Rename by ino: `path2` holds one component
    bool mode = false;     // Create, Mkdir
    bool flags = false;    // Create, Rename
    bool size = false;     // Truncate, Extend
    bool readdir = false;  // cookie and count
    bool change = false;   // SetAttr
};

// The ops that name their file by volume and path, or by a directory's ino and a name.
bool is_path_op(MetaOp op) {
    switch (op) {
        case MetaOp::GetAttrPath:
        case MetaOp::Create:
        case MetaOp::Mkdir:
        case MetaOp::Unlink:
        case MetaOp::Rmdir:
        case MetaOp::Rename:
        case MetaOp::Readdir:
            return true;
        case MetaOp::Lookup:
        case MetaOp::GetAttr:
        case MetaOp::Truncate:
        case MetaOp::Extend:
        case MetaOp::SetAttr:
        case MetaOp::InvalAttr:
        case MetaOp::InvalEntry:
            return false;
    }
    return false;
}

// A path op with an ino names its file by that directory (and a name in it): ino is what tells
// the two forms apart.
bool by_ino(const MetaRequest& m) {
    return is_path_op(m.op) && m.ino != 0;
}

Uses uses(MetaOp op, bool ino_form) {
    Uses u;
    // Path ops: volume and path, or ino and a name (Readdir by ino: the directory itself).
    if (is_path_op(op)) {
        u.volume = u.path = !ino_form;
        u.ino = u.name = ino_form;
    }
    switch (op) {
        case MetaOp::Lookup:
        case MetaOp::InvalEntry:
            u.ino = u.path = u.name = true;
            break;
        case MetaOp::GetAttr:
        case MetaOp::InvalAttr:
            u.ino = true;
            break;
        case MetaOp::GetAttrPath:
        case MetaOp::Unlink:
        case MetaOp::Rmdir:
            break;
        case MetaOp::Create:
            u.mode = u.flags = true;
            break;
        case MetaOp::Mkdir:
            u.mode = true;
            break;
        case MetaOp::Rename:
            u.path2 = !ino_form;
            u.ino2 = u.name2 = ino_form;
            u.flags = true;
            break;
        case MetaOp::Readdir:
            u.name = false;
            u.readdir = true;
            break;
        case MetaOp::Truncate:
        case MetaOp::Extend:
            u.ino = u.size = true;
            break;
        case MetaOp::SetAttr:
            u.ino = u.change = true;
            break;
    }
    return u;
}

bool known_op(uint8_t op) {
    return op >= static_cast<uint8_t>(MetaOp::Lookup) && op <= kMetaOpMax;
}

uint8_t change_mask(const MetaChange& c) {
    unsigned mask = 0;
    mask |= c.mode ? kChangeMode : 0u;
    mask |= c.uid ? kChangeUid : 0u;
    mask |= c.gid ? kChangeGid : 0u;
    mask |= c.atime_ns ? kChangeAtime : 0u;
    mask |= c.mtime_ns ? kChangeMtime : 0u;
    return static_cast<uint8_t>(mask);
}

// ------------------------------------------------------------------------------------------
// Shared field checks

Status check_path(std::string_view path, std::string_view field, const Limits& limits) {
    if (path.size() > limits.max_path) {
        return protocol_error(
            "{} of {} bytes exceeds the limit of {}", field, path.size(), limits.max_path);
    }
    return detail::check_no_nul(path, field);
}

// One path component: a Lookup name or a directory entry's name.
Status check_component(std::string_view name, std::string_view field) {
    if (name.empty()) {
        return protocol_error("{} is empty", field);
    }
    if (name.size() > kMetaNameMax) {
        return protocol_error(
            "{} of {} bytes exceeds the limit of {}", field, name.size(), kMetaNameMax);
    }
    size_t slash = name.find('/');
    if (slash != std::string_view::npos) {
        return protocol_error("{} has a '/' at offset {} (one path component only)", field, slash);
    }
    return detail::check_no_nul(name, field);
}

// A name in a directory named by ino (path ops by ino, InvalEntry): one component, and not "."
// or "..", which name no entry. (A Lookup of "." or ".." travels, as it always has, and the
// home's store refuses it.)
Status check_name(std::string_view name, std::string_view field) {
    VR_TRY(check_component(name, field));
    if (name == "." || name == "..") {
        return protocol_error(
            "{} \"{}\" is not a name (\".\" and \"..\" are reserved)", field, name);
    }
    return Status::ok();
}

Status check_volume_name(std::string_view name) {
    VR_TRY(detail::check_name(name, kVolumeNameMax, "volume name"));
    if (name == "." || name == "..") {
        return protocol_error("volume name \"{}\" is reserved", name);
    }
    return Status::ok();
}

Status check_ino(uint64_t ino, std::string_view field) {
    if (ino == 0) {
        return protocol_error("{} is 0 (never a valid ino)", field);
    }
    return Status::ok();
}

Status check_type(MetaType type, std::string_view field) {
    if (static_cast<uint8_t>(type) > static_cast<uint8_t>(MetaType::Symlink)) {
        return protocol_error("{} {} is not a known file type", field, static_cast<uint8_t>(type));
    }
    return Status::ok();
}

Status check_mode(uint32_t mode, std::string_view field) {
    if (mode > kPermissionBits) {
        return protocol_error("{} {:#o} has bits beyond the permission bits (07777)", field, mode);
    }
    return Status::ok();
}

Status check_size(uint64_t size, std::string_view field) {
    if (size > kMaxFileBytes) {
        return protocol_error("{} {} exceeds the largest file size {}", field, size, kMaxFileBytes);
    }
    return Status::ok();
}

// chown(2) reads -1 as "leave unchanged": a set id of -1 would silently change nothing.
Status check_owner(const std::optional<uint32_t>& id, std::string_view field) {
    if (id && *id == UINT32_MAX) {
        return protocol_error("{} is 4294967295 (-1); leave it unset to keep the owner", field);
    }
    return Status::ok();
}

// ------------------------------------------------------------------------------------------
// Volumes

Status check(const VolumesMsg& m, const Limits&) {
    if (m.volumes.size() > kVolumesMax) {
        return protocol_error("{} volumes exceed the limit of {}", m.volumes.size(), kVolumesMax);
    }
    std::vector<std::string_view> names;
    std::array<bool, kVolumesMax> index_seen{};
    names.reserve(m.volumes.size());
    for (const VolumeInfo& v : m.volumes) {
        VR_TRY(check_volume_name(v.name));
        if (v.index >= kVolumesMax) {
            return protocol_error(
                "volume {} has index {}, but indexes are below {}", v.name, v.index, kVolumesMax);
        }
        if (index_seen[v.index]) {
            return protocol_error("volume index {} appears twice", v.index);
        }
        index_seen[v.index] = true;
        VR_TRY(check_ino(v.root_ino, fmt::format("volume {} root_ino", v.name)));
        names.push_back(v.name);
    }
    std::sort(names.begin(), names.end());
    auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) {
        return protocol_error("volume {} appears twice", *dup);
    }
    return Status::ok();
}

void write(Writer& w, const VolumesMsg& m) {
    w.u16(static_cast<uint16_t>(m.volumes.size()));  // checked <= kVolumesMax
    for (const VolumeInfo& v : m.volumes) {
        w.u8(static_cast<uint8_t>(v.name.size()));  // checked <= kVolumeNameMax
        w.text(v.name);
        w.u16(v.index);
        w.boolean(v.read_only);
        w.u64(v.root_ino);
    }
}

void read(Reader& r, VolumesMsg& m) {
    uint16_t n = r.u16("volume count");
    if (r.ok() && n > kVolumesMax) {
        r.fail("{} volumes exceed the limit of {}", n, kVolumesMax);
    }
    for (uint16_t i = 0; i < n && r.ok(); ++i) {
        VolumeInfo v;
        v.name = r.text(r.u8("volume name length"), "volume name");
        v.index = r.u16("volume index");
        v.read_only = r.boolean("read_only");
        v.root_ino = r.u64("root_ino");
        m.volumes.push_back(std::move(v));
    }
}

// ------------------------------------------------------------------------------------------
// MetaRequest

// `who` is the op, and for a path op its form ("Unlink by ino", "Unlink by path").
template <typename T>
Status must_be_zero(std::string_view who, std::string_view field, T value) {
    if (value != T{}) {
        return protocol_error(
            "{} does not use {}, which must be 0 but holds {}", who, field, value);
    }
    return Status::ok();
}

Status must_be_empty(std::string_view who, std::string_view field, const std::string& value) {
    if (!value.empty()) {
        return protocol_error(
            "{} does not use {}, which must be empty but holds {} bytes", who, field, value.size());
    }
    return Status::ok();
}

Status check(const MetaRequest& m, const Limits& limits) {
    if (!known_op(static_cast<uint8_t>(m.op))) {
        return protocol_error("op {} is not a metadata operation", static_cast<uint8_t>(m.op));
    }
    Uses u = uses(m.op, by_ino(m));
    std::string_view op = meta_op_name(m.op);
    std::string who(op);
    if (is_path_op(m.op)) {
        who += by_ino(m) ? " by ino" : " by path";
    }
    if (u.volume) {
        if (m.volume >= kVolumesMax) {
            return protocol_error(
                "{} volume {} is not an export index (below {})", op, m.volume, kVolumesMax);
        }
    } else {
        VR_TRY(must_be_zero(who, "volume", m.volume));
    }
    if (u.ino) {
        VR_TRY(check_ino(m.ino, fmt::format("{} ino", op)));
    } else {
        VR_TRY(must_be_zero(who, "ino", m.ino));
    }
    if (u.ino2) {
        VR_TRY(check_ino(m.ino2, fmt::format("{} ino2", op)));
    } else {
        VR_TRY(must_be_zero(who, "ino2", m.ino2));
    }
    if (u.name) {
        std::string field = fmt::format("{} name", op);
        VR_TRY(m.op == MetaOp::Lookup ? check_component(m.path, field) : check_name(m.path, field));
    } else if (u.path) {
        VR_TRY(check_path(m.path, fmt::format("{} path", op), limits));
    } else {
        VR_TRY(must_be_empty(who, "path", m.path));
    }
    if (u.name2) {
        VR_TRY(check_name(m.path2, fmt::format("{} target name", op)));
    } else if (u.path2) {
        VR_TRY(check_path(m.path2, fmt::format("{} path2", op), limits));
    } else {
        VR_TRY(must_be_empty(who, "path2", m.path2));
    }
    if (u.mode) {
        VR_TRY(check_mode(m.mode, fmt::format("{} mode", op)));
    } else {
        VR_TRY(must_be_zero(who, "mode", m.mode));
    }
    if (m.op == MetaOp::Create && (m.flags & ~kCreateExclusive) != 0) {
        return protocol_error("Create flags {:#x} has bits other than exclusive (1)", m.flags);
    }
    if (m.op == MetaOp::Rename && m.flags > kRenameExchange) {
        return protocol_error("Rename flags {} is not replace (0), no-replace (1) or exchange (2)",
                              m.flags);
    }
    if (!u.flags) {
        VR_TRY(must_be_zero(who, "flags", m.flags));
    }
    if (u.size) {
        VR_TRY(check_size(m.size, fmt::format("{} size", op)));
    } else {
        VR_TRY(must_be_zero(who, "size", m.size));
    }
    if (u.readdir) {
        if (m.count == 0 || m.count > kReaddirMax) {
            return protocol_error("Readdir count {} is not in [1, {}]", m.count, kReaddirMax);
        }
    } else {
        VR_TRY(must_be_zero(who, "cookie", m.cookie));
        VR_TRY(must_be_zero(who, "count", m.count));
    }
    if (u.change) {
        if (m.change.mode) {
            VR_TRY(check_mode(*m.change.mode, "SetAttr change.mode"));
        }
        VR_TRY(check_owner(m.change.uid, "SetAttr change.uid"));
        VR_TRY(check_owner(m.change.gid, "SetAttr change.gid"));
    } else if (m.change != MetaChange{}) {
        return protocol_error("{} does not use change, which must be empty", who);
    }
    return Status::ok();
}

void write_text16(Writer& w, const std::string& s) {
    w.u16(static_cast<uint16_t>(s.size()));  // checked <= max_path <= 65535
    w.text(s);
}

void write(Writer& w, const MetaRequest& m) {
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
    w.u8(change_mask(c));
    w.u32(c.mode.value_or(0));
    w.u32(c.uid.value_or(0));
    w.u32(c.gid.value_or(0));
    w.i64(c.atime_ns.value_or(0));
    w.i64(c.mtime_ns.value_or(0));
    write_text16(w, m.path);
    write_text16(w, m.path2);
}

// Reads a change field: present when its mask bit is set, and then any value; 0 otherwise, so
// that a change has one encoding.
template <typename T>
std::optional<T> read_change(Reader& r, uint8_t mask, uint8_t bit, T value, const char* field) {
    if ((mask & bit) != 0) {
        return value;
    }
    if (value != T{}) {
        r.fail("{} is not in the change mask, so it must be 0, but holds {}", field, value);
    }
    return std::nullopt;
}

void read(Reader& r, MetaRequest& m) {
    uint8_t op = r.u8("op");
    if (r.ok() && !known_op(op)) {
        r.fail("op {} is not a metadata operation (1..{})", op, kMetaOpMax);
    }
    m.op = static_cast<MetaOp>(op);
    m.volume = r.u16("volume");
    m.ino = r.u64("ino");
    m.ino2 = r.u64("ino2");
    m.mode = r.u32("mode");
    m.flags = r.u32("flags");
    m.size = r.u64("size");
    m.cookie = r.u64("cookie");
    m.count = r.u32("count");
    uint8_t mask = r.u8("change mask");
    if (r.ok() && (mask & ~kChangeKnown) != 0) {
        r.fail("change mask {:#04x} has unknown bits {:#04x}", mask, mask & ~kChangeKnown);
    }
    uint32_t mode = r.u32("change.mode");
    uint32_t uid = r.u32("change.uid");
    uint32_t gid = r.u32("change.gid");
    int64_t atime = r.i64("change.atime_ns");
    int64_t mtime = r.i64("change.mtime_ns");
    if (r.ok()) {
        m.change.mode = read_change(r, mask, kChangeMode, mode, "change.mode");
        m.change.uid = read_change(r, mask, kChangeUid, uid, "change.uid");
        m.change.gid = read_change(r, mask, kChangeGid, gid, "change.gid");
        m.change.atime_ns = read_change(r, mask, kChangeAtime, atime, "change.atime_ns");
        m.change.mtime_ns = read_change(r, mask, kChangeMtime, mtime, "change.mtime_ns");
    }
    m.path = r.text(r.u16("path length"), "path");
    m.path2 = r.text(r.u16("path2 length"), "path2");
}

// ------------------------------------------------------------------------------------------
// MetaReply

Status check_attr(const MetaAttr& a) {
    VR_TRY(check_ino(a.ino, "attr.ino"));
    VR_TRY(check_type(a.type, "attr.type"));
    VR_TRY(check_mode(a.mode, "attr.mode"));
    return check_size(a.size, "attr.size");
}

Status check(const MetaReply& m, const Limits& limits) {
    Code known;
    if (!code_from_number(static_cast<uint16_t>(m.code), &known)) {
        return protocol_error("code {} is not a known error code", static_cast<uint16_t>(m.code));
    }
    if (m.message.size() > limits.max_message) {
        return protocol_error(
            "message of {} bytes exceeds the limit of {}", m.message.size(), limits.max_message);
    }
    VR_TRY(detail::check_no_nul(m.message, "message"));
    if (m.code == Code::Ok) {
        if (!m.message.empty()) {
            return protocol_error("a reply with code Ok carries a message ({} bytes)",
                                  m.message.size());
        }
    } else if (m.attr || !m.entries.empty() || m.next_cookie != 0 || m.end) {
        return protocol_error(
            "a reply with error code {} carries results (attr, entries, "
            "next_cookie or end)",
            code_name(m.code));
    }
    if (m.attr) {
        VR_TRY(check_attr(*m.attr));
    }
    if (m.entries.size() > kReaddirMax) {
        return protocol_error("{} entries exceed the limit of {}", m.entries.size(), kReaddirMax);
    }
    std::vector<std::string_view> names;
    names.reserve(m.entries.size());
    for (const MetaDirEntry& e : m.entries) {
        VR_TRY(check_component(e.name, "entry name"));
        VR_TRY(check_ino(e.ino, "entry ino"));
        VR_TRY(check_type(e.type, "entry type"));
        names.push_back(e.name);
    }
    std::sort(names.begin(), names.end());
    auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) {
        return protocol_error("entry {} appears twice", *dup);
    }
    return Status::ok();
}

void write(Writer& w, const MetaReply& m) {
    w.u16(static_cast<uint16_t>(m.code));
    w.u16(static_cast<uint16_t>(m.message.size()));  // checked <= max_message <= 65535
    w.text(m.message);
    w.boolean(m.attr.has_value());
    if (m.attr) {
        const MetaAttr& a = *m.attr;
        w.u64(a.ino);
        w.u8(static_cast<uint8_t>(a.type));
        w.u32(a.mode);
        w.u64(a.size);
        w.u64(a.nlink);
        w.u32(a.uid);
        w.u32(a.gid);
        w.i64(a.mtime_ns);
        w.i64(a.ctime_ns);
    }
    w.u64(m.next_cookie);
    w.boolean(m.end);
    w.u16(static_cast<uint16_t>(m.entries.size()));  // checked <= kReaddirMax
    for (const MetaDirEntry& e : m.entries) {
        w.u8(static_cast<uint8_t>(e.name.size()));  // checked <= kMetaNameMax
        w.text(e.name);
        w.u64(e.ino);
        w.u8(static_cast<uint8_t>(e.type));
    }
}

void read(Reader& r, MetaReply& m) {
    uint16_t number = r.u16("code");
    if (r.ok() && !code_from_number(number, &m.code)) {
        r.fail("code {} is not a known error code", number);
    }
    m.message = r.text(r.u16("message length"), "message");
    if (r.boolean("has_attr")) {
        MetaAttr a;
        a.ino = r.u64("attr.ino");
        a.type = static_cast<MetaType>(r.u8("attr.type"));  // checked by check()
        a.mode = r.u32("attr.mode");
        a.size = r.u64("attr.size");
        a.nlink = r.u64("attr.nlink");
        a.uid = r.u32("attr.uid");
        a.gid = r.u32("attr.gid");
        a.mtime_ns = r.i64("attr.mtime_ns");
        a.ctime_ns = r.i64("attr.ctime_ns");
        m.attr = a;
    }
    m.next_cookie = r.u64("next_cookie");
    m.end = r.boolean("end");
    uint16_t n = r.u16("entry count");
    if (r.ok() && n > kReaddirMax) {
        r.fail("{} entries exceed the limit of {}", n, kReaddirMax);
    }
    // Never reserve more than the body can hold.
    m.entries.reserve(std::min<size_t>(n, r.remaining() / kEntryMinBytes));
    for (uint16_t i = 0; i < n && r.ok(); ++i) {
        MetaDirEntry e;
        e.name = r.text(r.u8("entry name length"), "entry name");
        e.ino = r.u64("entry ino");
        e.type = static_cast<MetaType>(r.u8("entry type"));  // checked by check()
        m.entries.push_back(std::move(e));
    }
}

// ------------------------------------------------------------------------------------------
// Frames

FrameType frame_of(const VolumesMsg&) {
    return FrameType::Volumes;
}
FrameType frame_of(const MetaRequest&) {
    return FrameType::MetaRequest;
}
FrameType frame_of(const MetaReply&) {
    return FrameType::MetaReply;
}

// Volumes describe the sender, not a request: id 0. Requests and replies carry the requester's
// rpc id, which is never 0, so that a reply always names its request.
bool takes_id(FrameType type) {
    return type != FrameType::Volumes;
}

Status check_id(FrameType type, uint64_t id) {
    if (takes_id(type) && id == 0) {
        return protocol_error("{} frame has id 0, but it needs its request's id", type_name(type));
    }
    if (!takes_id(type) && id != 0) {
        return protocol_error(
            "{} frame has id {}, but {} carries none (0)", type_name(type), id, type_name(type));
    }
    return Status::ok();
}

template <typename M>
Status encode(const M& m, uint64_t id, const Limits& limits, std::vector<std::byte>& out) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    FrameType type = frame_of(m);
    out.clear();
    Status s = check_id(type, id);
    if (s.is_ok()) {
        s = check(m, limits);
    }
    if (!s.is_ok()) {
        return detail::as_encode_error(s, type_name(type));
    }
    detail::begin_frame(out);
    Writer w(out);
    write(w, m);
    s = detail::finish_frame(out, type, id, /*data_len=*/0, /*data_crc=*/0, limits);
    if (!s.is_ok()) {
        out.clear();
    }
    return s;
}

template <typename M>
Result<M> decode(const FrameHeader& h, std::span<const std::byte> body, const Limits& limits) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    M m;
    FrameType want = frame_of(m);
    if (h.type != want) {
        return protocol_error("frame type {} is not {}", type_name(h.type), type_name(want));
    }
    VR_TRY(check_body(h, body));
    VR_TRY(check_id(h.type, h.id));
    if (h.data_len != 0) {  // decode_header already refuses it; say so if a caller did not ask
        return protocol_error(
            "{} frame has {} bytes of data, but carries none", type_name(h.type), h.data_len);
    }
    Reader r(body, type_name(h.type));
    read(r, m);
    if (r.ok()) {
        r.fail(check(m, limits));
    }
    VR_TRY(r.finish());
    return m;
}

}  // namespace

Status encode_volumes(const VolumesMsg& msg, const Limits& limits, std::vector<std::byte>& out) {
    return encode(msg, /*id=*/0, limits, out);
}

Status encode_meta_request(uint64_t id,
                           const MetaRequest& req,
                           const Limits& limits,
                           std::vector<std::byte>& out) {
    return encode(req, id, limits, out);
}

Status encode_meta_reply(uint64_t id,
                         const MetaReply& reply,
                         const Limits& limits,
                         std::vector<std::byte>& out) {
    return encode(reply, id, limits, out);
}

Result<VolumesMsg> decode_volumes(const FrameHeader& header,
                                  std::span<const std::byte> body,
                                  const Limits& limits) {
    return decode<VolumesMsg>(header, body, limits);
}

Result<MetaRequest> decode_meta_request(const FrameHeader& header,
                                        std::span<const std::byte> body,
                                        const Limits& limits) {
    return decode<MetaRequest>(header, body, limits);
}

Result<MetaReply> decode_meta_reply(const FrameHeader& header,
                                    std::span<const std::byte> body,
                                    const Limits& limits) {
    return decode<MetaReply>(header, body, limits);
}

bool meta_op_may_repeat(MetaOp op) {
    switch (op) {
        case MetaOp::Lookup:
        case MetaOp::GetAttrPath:
        case MetaOp::GetAttr:
        case MetaOp::Readdir:
        case MetaOp::Extend:
        case MetaOp::InvalAttr:
        case MetaOp::InvalEntry:
            return true;
        case MetaOp::Create:
        case MetaOp::Mkdir:
        case MetaOp::Unlink:
        case MetaOp::Rmdir:
        case MetaOp::Rename:
        case MetaOp::Truncate:
        case MetaOp::SetAttr:
            return false;
    }
    return false;
}

std::string_view meta_op_name(MetaOp op) {
    switch (op) {
        case MetaOp::Lookup:
            return "Lookup";
        case MetaOp::GetAttrPath:
            return "GetAttrPath";
        case MetaOp::GetAttr:
            return "GetAttr";
        case MetaOp::Create:
            return "Create";
        case MetaOp::Mkdir:
            return "Mkdir";
        case MetaOp::Unlink:
            return "Unlink";
        case MetaOp::Rmdir:
            return "Rmdir";
        case MetaOp::Rename:
            return "Rename";
        case MetaOp::Readdir:
            return "Readdir";
        case MetaOp::Truncate:
            return "Truncate";
        case MetaOp::Extend:
            return "Extend";
        case MetaOp::SetAttr:
            return "SetAttr";
        case MetaOp::InvalAttr:
            return "InvalAttr";
        case MetaOp::InvalEntry:
            return "InvalEntry";
    }
    return "?";
}

}  // namespace vr::wire
