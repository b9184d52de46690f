// Client protocol codec. Each request and reply type has four small functions (frame_of,
// check, write, read) that the generic encode_op/decode_op drive; check runs on both sides.
#include "wire/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <type_traits>

#include "wire/codec.h"
#include "wire/crc32c.h"
#include "wire/handshake.h"

namespace vr::wire {

using detail::protocol_error;
using detail::Reader;
using detail::Writer;

// ------------------------------------------------------------------------------------------
// Payload

Payload Payload::owned(std::vector<std::byte> bytes) {
    Payload p;
    p.v_ = std::move(bytes);
    return p;
}

Payload Payload::borrowed(std::span<const std::byte> bytes) {
    Payload p;
    p.v_ = bytes;
    return p;
}

Payload Payload::pages(std::vector<coherence::PageBuf> pages, uint64_t offset, uint64_t length) {
    uint64_t total = 0;
    for (const coherence::PageBuf& page : pages) {
        VR_ASSERT(page != nullptr, "Payload::pages with a null page");
        total += page->size();
    }
    VR_ASSERT(offset <= total && length <= total - offset,
              "Payload window [{}, +{}) outside {} bytes of pages",
              offset,
              length,
              total);
    Payload p;
    p.v_ = Window{std::move(pages), offset, length};
    return p;
}

uint64_t Payload::size() const {
    if (const auto* w = std::get_if<Window>(&v_)) {
        return w->length;
    }
    if (const auto* s = std::get_if<std::span<const std::byte>>(&v_)) {
        return s->size();
    }
    return std::get<std::vector<std::byte>>(v_).size();
}

void Payload::append_spans(std::vector<std::span<const std::byte>>& out) const {
    if (const auto* s = std::get_if<std::span<const std::byte>>(&v_)) {
        if (!s->empty()) {
            out.push_back(*s);
        }
        return;
    }
    if (const auto* o = std::get_if<std::vector<std::byte>>(&v_)) {
        if (!o->empty()) {
            out.emplace_back(*o);
        }
        return;
    }
    const Window& w = std::get<Window>(v_);
    uint64_t skip = w.offset;
    uint64_t left = w.length;
    for (const coherence::PageBuf& page : w.pages) {
        if (left == 0) {
            break;
        }
        if (skip >= page->size()) {
            skip -= page->size();
            continue;
        }
        uint64_t n = std::min<uint64_t>(page->size() - skip, left);
        out.push_back(std::span<const std::byte>(*page).subspan(skip, n));
        left -= n;
        skip = 0;
    }
}

std::vector<std::byte> Payload::copy() const {
    std::vector<std::span<const std::byte>> spans;
    append_spans(spans);
    std::vector<std::byte> out;
    out.reserve(size());
    for (std::span<const std::byte> s : spans) {
        out.insert(out.end(), s.begin(), s.end());
    }
    return out;
}

std::vector<std::byte> Payload::take() && {
    if (auto* o = std::get_if<std::vector<std::byte>>(&v_)) {
        return std::move(*o);
    }
    return copy();
}

bool operator==(const Payload& a, const Payload& b) {
    return a.size() == b.size() && a.copy() == b.copy();
}

namespace {

// ------------------------------------------------------------------------------------------
// Shared field checks

Status check_path(const std::string& path, const Limits& limits) {
    if (path.empty()) {
        return protocol_error("path is empty");
    }
    if (path.size() > limits.max_path) {
        return protocol_error(
            "path of {} bytes exceeds the limit of {}", path.size(), limits.max_path);
    }
    return detail::check_no_nul(path, "path");
}

Status check_handle(uint64_t handle) {
    if (handle == 0) {
        return protocol_error("handle is 0 (never issued)");
    }
    return Status::ok();
}

Status check_io(std::string_view what, uint64_t offset, uint64_t length, const Limits& limits) {
    if (length == 0) {
        return protocol_error("{} of 0 bytes", what);
    }
    if (length > limits.max_io) {
        return protocol_error(
            "{} of {} bytes exceeds the limit of {}", what, length, limits.max_io);
    }
    return detail::check_byte_range(offset, length, what);
}

Status check_attrs(const Attrs& a) {
    if (a.size > kMaxFileBytes) {
        return protocol_error("attrs.size {} exceeds the largest file size", a.size);
    }
    if (a.mode > 0xFFFF) {
        return protocol_error("attrs.mode {:#o} has bits beyond st_mode's 16", a.mode);
    }
    return Status::ok();
}

Status check_code(Code code) {
    Code known;
    if (!code_from_number(static_cast<uint16_t>(code), &known)) {
        return protocol_error("code {} is not a known error code", static_cast<uint16_t>(code));
    }
    return Status::ok();
}

void write_path(Writer& w, const std::string& path) {
    w.u16(static_cast<uint16_t>(path.size()));  // checked <= max_path <= 65535
    w.text(path);
}

std::string read_path(Reader& r) {
    return r.text(r.u16("path length"), "path");
}

void write_attrs(Writer& w, const Attrs& a) {
    w.u64(a.ino);
    w.u64(a.size);
    w.u32(a.mode);
    w.i64(a.mtime_ns);
}

void read_attrs(Reader& r, Attrs& a) {
    a.ino = r.u64("attrs.ino");
    a.size = r.u64("attrs.size");
    a.mode = r.u32("attrs.mode");
    a.mtime_ns = r.i64("attrs.mtime_ns");
}

// ------------------------------------------------------------------------------------------
// Requests

FrameType frame_of(const OpenRequest&) {
    return FrameType::ClientOpen;
}
FrameType frame_of(const ReadRequest&) {
    return FrameType::ClientRead;
}
FrameType frame_of(const WriteRequest&) {
    return FrameType::ClientWrite;
}
FrameType frame_of(const FsyncRequest&) {
    return FrameType::ClientFsync;
}
FrameType frame_of(const CloseRequest&) {
    return FrameType::ClientClose;
}
FrameType frame_of(const StatRequest&) {
    return FrameType::ClientStat;
}
FrameType frame_of(const PagesRequest&) {
    return FrameType::ClientPages;
}
FrameType frame_of(const StatsRequest&) {
    return FrameType::ClientStats;
}
FrameType frame_of(const StatusRequest&) {
    return FrameType::ClientStatus;
}

Status check(const OpenRequest& m, const Limits& limits) {
    VR_TRY(check_path(m.path, limits));
    if ((m.flags & ~kOpenKnownFlags) != 0) {
        return protocol_error("unknown open flags {:#x}", m.flags & ~kOpenKnownFlags);
    }
    bool create = (m.flags & kOpenCreate) != 0;
    if ((m.flags & kOpenExclusive) != 0 && !create) {
        return protocol_error("open flag exclusive without create");
    }
    if ((m.flags & kOpenTruncate) != 0 && (m.flags & kOpenReadOnly) != 0) {
        return protocol_error("open flags truncate and read-only together");
    }
    if (create && m.mode > 07777) {
        return protocol_error("mode {:#o} has bits beyond 07777", m.mode);
    }
    if (!create && m.mode != 0) {
        return protocol_error("mode {:#o} without create", m.mode);
    }
    return Status::ok();
}
Status check(const ReadRequest& m, const Limits& limits) {
    VR_TRY(check_handle(m.handle));
    return check_io("read", m.offset, m.length, limits);
}
Status check(const WriteRequest& m, const Limits& limits) {
    VR_TRY(check_handle(m.handle));
    return check_io("write", m.offset, m.data.size(), limits);
}
Status check(const FsyncRequest& m, const Limits&) {
    return check_handle(m.handle);
}
Status check(const CloseRequest& m, const Limits&) {
    return check_handle(m.handle);
}
Status check(const StatRequest& m, const Limits& limits) {
    return check_path(m.path, limits);
}
Status check(const PagesRequest& m, const Limits& limits) {
    VR_TRY(check_path(m.path, limits));
    if (m.first_page > kMaxFileBytes / limits.page_size) {
        return protocol_error("first_page {} is past the end of the largest file", m.first_page);
    }
    return Status::ok();
}
Status check(const StatsRequest&, const Limits&) {
    return Status::ok();
}
Status check(const StatusRequest&, const Limits&) {
    return Status::ok();
}

void write(Writer& w, const OpenRequest& m) {
    w.u32(m.flags);
    w.u32(m.mode);
    write_path(w, m.path);
}
void write(Writer& w, const ReadRequest& m) {
    w.u64(m.handle);
    w.u64(m.offset);
    w.u32(m.length);
}
void write(Writer& w, const WriteRequest& m) {
    w.u64(m.handle);
    w.u64(m.offset);
}
void write(Writer& w, const FsyncRequest& m) {
    w.u64(m.handle);
}
void write(Writer& w, const CloseRequest& m) {
    w.u64(m.handle);
}
void write(Writer& w, const StatRequest& m) {
    write_path(w, m.path);
}
void write(Writer& w, const PagesRequest& m) {
    w.u64(m.first_page);
    write_path(w, m.path);
}
void write(Writer&, const StatsRequest&) {}
void write(Writer&, const StatusRequest&) {}

void read(Reader& r, OpenRequest& m) {
    m.flags = r.u32("flags");
    m.mode = r.u32("mode");
    m.path = read_path(r);
}
void read(Reader& r, ReadRequest& m) {
    m.handle = r.u64("handle");
    m.offset = r.u64("offset");
    m.length = r.u32("length");
}
void read(Reader& r, WriteRequest& m) {
    m.handle = r.u64("handle");
    m.offset = r.u64("offset");
}
void read(Reader& r, FsyncRequest& m) {
    m.handle = r.u64("handle");
}
void read(Reader& r, CloseRequest& m) {
    m.handle = r.u64("handle");
}
void read(Reader& r, StatRequest& m) {
    m.path = read_path(r);
}
void read(Reader& r, PagesRequest& m) {
    m.first_page = r.u64("first_page");
    m.path = read_path(r);
}
void read(Reader&, StatsRequest&) {}
void read(Reader&, StatusRequest&) {}

// ------------------------------------------------------------------------------------------
// Replies

FrameType frame_of(const Reply&) {
    return FrameType::Reply;
}
FrameType frame_of(const OpenReply&) {
    return FrameType::ReplyOpen;
}
FrameType frame_of(const ReadReply&) {
    return FrameType::ReplyRead;
}
FrameType frame_of(const WriteReply&) {
    return FrameType::ReplyWrite;
}
FrameType frame_of(const StatReply&) {
    return FrameType::ReplyStat;
}
FrameType frame_of(const PagesReply&) {
    return FrameType::ReplyPages;
}
FrameType frame_of(const StatsReply&) {
    return FrameType::ReplyStats;
}
FrameType frame_of(const StatusReply&) {
    return FrameType::ReplyStatus;
}

Status check(const Reply& m, const Limits& limits) {
    VR_TRY(check_code(m.code));
    if (m.message.size() > limits.max_message) {
        return protocol_error(
            "message of {} bytes exceeds the limit of {}", m.message.size(), limits.max_message);
    }
    return detail::check_no_nul(m.message, "message");
}
Status check(const OpenReply& m, const Limits&) {
    VR_TRY(check_handle(m.handle));
    return check_attrs(m.attrs);
}
Status check(const ReadReply& m, const Limits& limits) {
    if (m.data.size() > limits.max_io) {
        return protocol_error(
            "read reply of {} bytes exceeds the limit of {}", m.data.size(), limits.max_io);
    }
    return Status::ok();
}
Status check(const WriteReply& m, const Limits& limits) {
    if (m.written == 0 || m.written > limits.max_io) {
        return protocol_error("written is {}, not in [1, {}]", m.written, limits.max_io);
    }
    return Status::ok();
}
Status check(const StatReply& m, const Limits&) {
    return check_attrs(m.attrs);
}
Status check(const PagesReply& m, const Limits& limits) {
    if (m.page_count > kMaxFileBytes / limits.page_size) {
        return protocol_error("page_count {} exceeds the largest file", m.page_count);
    }
    if (m.first_page > m.page_count || m.states.size() > m.page_count - m.first_page) {
        return protocol_error("states of {} pages from page {} run past the file's {} pages",
                              m.states.size(),
                              m.first_page,
                              m.page_count);
    }
    for (size_t i = 0; i < m.states.size(); ++i) {
        auto c = static_cast<uint8_t>(m.states[i]);
        if (c < 0x21 || c > 0x7E) {
            return protocol_error(
                "states has byte {:#04x} at offset {} (printable ASCII only)", c, i);
        }
    }
    return Status::ok();
}
Status check(const StatsReply& m, const Limits& limits) {
    if (m.counters.size() > UINT16_MAX) {
        return protocol_error("{} counters exceed the limit of {}", m.counters.size(), UINT16_MAX);
    }
    std::vector<std::string_view> names;
    names.reserve(m.counters.size());
    for (const Counter& c : m.counters) {
        VR_TRY(detail::check_name(c.name, limits.max_name, "counter name"));
        names.push_back(c.name);
    }
    std::sort(names.begin(), names.end());
    auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) {
        return protocol_error("counter {} appears twice", *dup);
    }
    return Status::ok();
}
Status check(const StatusReply& m, const Limits&) {
    if (m.nodes.size() > coherence::kMaxNodes) {
        return protocol_error(
            "{} nodes exceed the limit of {}", m.nodes.size(), coherence::kMaxNodes);
    }
    coherence::NodeMask seen = 0;
    for (const NodeStatus& n : m.nodes) {
        VR_TRY(detail::check_node(n.node, "nodes[].node"));
        if ((seen & coherence::bit(n.node)) != 0) {
            return protocol_error("node {} appears twice", n.node);
        }
        seen |= coherence::bit(n.node);
        VR_TRY(detail::check_name(n.name, kNodeNameMax, "node name"));
        if (static_cast<uint8_t>(n.link) > static_cast<uint8_t>(LinkState::Up)) {
            return protocol_error("link state {} is unknown", static_cast<uint8_t>(n.link));
        }
    }
    return Status::ok();
}

void write(Writer& w, const Reply& m) {
    w.u16(static_cast<uint16_t>(m.code));
    w.u16(static_cast<uint16_t>(m.message.size()));  // checked <= max_message <= 65535
    w.text(m.message);
}
void write(Writer& w, const OpenReply& m) {
    w.u64(m.handle);
    write_attrs(w, m.attrs);
}
void write(Writer&, const ReadReply&) {}
void write(Writer& w, const WriteReply& m) {
    w.u32(m.written);
}
void write(Writer& w, const StatReply& m) {
    write_attrs(w, m.attrs);
}
void write(Writer& w, const PagesReply& m) {
    w.u64(m.first_page);
    w.u64(m.page_count);
    w.u32(static_cast<uint32_t>(m.states.size()));  // bounded by max_body
    w.text(m.states);
}
void write(Writer& w, const StatsReply& m) {
    w.u16(static_cast<uint16_t>(m.counters.size()));
    for (const Counter& c : m.counters) {
        w.u8(static_cast<uint8_t>(c.name.size()));
        w.text(c.name);
        w.u64(c.value);
    }
}
void write(Writer& w, const StatusReply& m) {
    w.u8(static_cast<uint8_t>(m.nodes.size()));
    for (const NodeStatus& n : m.nodes) {
        w.u8(n.node);
        w.u8(static_cast<uint8_t>(n.name.size()));
        w.text(n.name);
        w.u8(static_cast<uint8_t>(n.link));
        w.u32(n.rtt_us);
        w.u64(n.home_incarnation);
    }
}

void read(Reader& r, Reply& m) {
    uint16_t number = r.u16("code");
    if (r.ok() && !code_from_number(number, &m.code)) {
        r.fail("code {} is not a known error code", number);
    }
    m.message = r.text(r.u16("message length"), "message");
}
void read(Reader& r, OpenReply& m) {
    m.handle = r.u64("handle");
    read_attrs(r, m.attrs);
}
void read(Reader&, ReadReply&) {}
void read(Reader& r, WriteReply& m) {
    m.written = r.u32("written");
}
void read(Reader& r, StatReply& m) {
    read_attrs(r, m.attrs);
}
void read(Reader& r, PagesReply& m) {
    m.first_page = r.u64("first_page");
    m.page_count = r.u64("page_count");
    m.states = r.text(r.u32("states length"), "states");
}
void read(Reader& r, StatsReply& m) {
    uint16_t n = r.u16("counter count");
    // Each counter takes at least 10 bytes: never reserve more than the body can hold.
    m.counters.reserve(std::min<size_t>(n, r.remaining() / 10));
    for (uint16_t i = 0; i < n && r.ok(); ++i) {
        Counter c;
        c.name = r.text(r.u8("counter name length"), "counter name");
        c.value = r.u64("counter value");
        m.counters.push_back(std::move(c));
    }
}
void read(Reader& r, StatusReply& m) {
    uint8_t n = r.u8("node count");
    if (n > coherence::kMaxNodes) {
        r.fail("{} nodes exceed the limit of {}", n, coherence::kMaxNodes);
    }
    for (uint8_t i = 0; i < n && r.ok(); ++i) {
        NodeStatus s;
        s.node = r.u8("node");
        s.name = r.text(r.u8("node name length"), "node name");
        uint8_t link = r.u8("link state");
        if (r.ok() && link > static_cast<uint8_t>(LinkState::Up)) {
            r.fail("link state {} is unknown", link);
        }
        s.link = static_cast<LinkState>(link);
        s.rtt_us = r.u32("rtt_us");
        s.home_incarnation = r.u64("home_incarnation");
        m.nodes.push_back(std::move(s));
    }
}

// ------------------------------------------------------------------------------------------
// Data sections: only Write requests and Read replies have one.

template <typename Op>
const Payload* payload_of(const Op& op) {
    if constexpr (std::is_same_v<Op, WriteRequest> || std::is_same_v<Op, ReadReply>) {
        return &op.data;
    } else {
        return nullptr;
    }
}

template <typename Op>
void adopt_payload(Op& op, std::vector<std::byte> data) {
    if constexpr (std::is_same_v<Op, WriteRequest> || std::is_same_v<Op, ReadReply>) {
        op.data = Payload::owned(std::move(data));
    }
}

template <typename Op>
Status encode_op(const Op& op,
                 uint64_t id,
                 const Limits& limits,
                 std::vector<std::byte>& head,
                 std::vector<std::span<const std::byte>>& data) {
    FrameType type = frame_of(op);
    head.clear();
    data.clear();
    Status s = check(op, limits);
    if (!s.is_ok()) {
        return detail::as_encode_error(s, type_name(type));
    }
    detail::begin_frame(head);
    Writer w(head);
    write(w, op);
    Crc32c crc;
    uint64_t data_len = 0;
    if (const Payload* p = payload_of(op)) {
        p->append_spans(data);
        for (std::span<const std::byte> piece : data) {
            crc.update(piece);
        }
        data_len = p->size();  // checked <= max_io
    }
    s = detail::finish_frame(head, type, id, static_cast<uint32_t>(data_len), crc.value(), limits);
    if (!s.is_ok()) {
        head.clear();
        data.clear();
    }
    return s;
}

// Checks the parts of a frame every client decoder needs: family, body, data section.
Status check_frame(const FrameHeader& h,
                   std::span<const std::byte> body,
                   std::span<const std::byte> data,
                   Family family) {
    if (family_of(h.type) != family) {
        return protocol_error("frame type {} is not a client {}",
                              type_name(h.type),
                              family == Family::ClientRequest ? "request" : "reply");
    }
    VR_TRY(check_body(h, body));
    if (data.size() != h.data_len) {
        return protocol_error("{} frame data is {} bytes but the header says {}",
                              type_name(h.type),
                              data.size(),
                              h.data_len);
    }
    uint32_t crc = crc32c(data);
    if (crc != h.data_crc) {
        return Status(Code::Corrupt,
                      fmt::format("{} frame data CRC mismatch: computed {:#010x}, header says "
                                  "{:#010x}",
                                  type_name(h.type),
                                  crc,
                                  h.data_crc));
    }
    return Status::ok();
}

template <typename Op>
Result<Op> decode_op(const FrameHeader& h,
                     std::span<const std::byte> body,
                     std::vector<std::byte> data,
                     const Limits& limits) {
    Op op;
    Reader r(body, type_name(h.type));
    read(r, op);
    adopt_payload(op, std::move(data));
    if (r.ok()) {
        r.fail(check(op, limits));
    }
    VR_TRY(r.finish());
    return op;
}

template <typename Msg, typename Op>
Result<Msg> wrap(uint64_t id, Result<Op> op) {
    if (!op.is_ok()) {
        return op.status();
    }
    Msg m;
    m.id = id;
    m.op = std::move(op).value();
    return m;
}

}  // namespace

Status encode_client_request(const ClientRequest& req,
                             const Limits& limits,
                             std::vector<std::byte>& head,
                             std::vector<std::span<const std::byte>>& data) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    return std::visit([&](const auto& op) { return encode_op(op, req.id, limits, head, data); },
                      req.op);
}

Status encode_client_reply(const ClientReply& reply,
                           const Limits& limits,
                           std::vector<std::byte>& head,
                           std::vector<std::span<const std::byte>>& data) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    return std::visit([&](const auto& op) { return encode_op(op, reply.id, limits, head, data); },
                      reply.op);
}

Result<ClientRequest> decode_client_request(const FrameHeader& h,
                                            std::span<const std::byte> body,
                                            std::vector<std::byte> data,
                                            const Limits& limits) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    VR_TRY(check_frame(h, body, data, Family::ClientRequest));
    using R = ClientRequest;
    auto d = std::move(data);
    switch (h.type) {
        case FrameType::ClientOpen:
            return wrap<R>(h.id, decode_op<OpenRequest>(h, body, std::move(d), limits));
        case FrameType::ClientRead:
            return wrap<R>(h.id, decode_op<ReadRequest>(h, body, std::move(d), limits));
        case FrameType::ClientWrite:
            return wrap<R>(h.id, decode_op<WriteRequest>(h, body, std::move(d), limits));
        case FrameType::ClientFsync:
            return wrap<R>(h.id, decode_op<FsyncRequest>(h, body, std::move(d), limits));
        case FrameType::ClientClose:
            return wrap<R>(h.id, decode_op<CloseRequest>(h, body, std::move(d), limits));
        case FrameType::ClientStat:
            return wrap<R>(h.id, decode_op<StatRequest>(h, body, std::move(d), limits));
        case FrameType::ClientPages:
            return wrap<R>(h.id, decode_op<PagesRequest>(h, body, std::move(d), limits));
        case FrameType::ClientStats:
            return wrap<R>(h.id, decode_op<StatsRequest>(h, body, std::move(d), limits));
        case FrameType::ClientStatus:
            return wrap<R>(h.id, decode_op<StatusRequest>(h, body, std::move(d), limits));
        default:
            break;
    }
    VR_UNREACHABLE("client request type {} without a decoder", type_name(h.type));
}

Result<ClientReply> decode_client_reply(const FrameHeader& h,
                                        std::span<const std::byte> body,
                                        std::vector<std::byte> data,
                                        const Limits& limits) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    VR_TRY(check_frame(h, body, data, Family::ClientReply));
    using R = ClientReply;
    auto d = std::move(data);
    switch (h.type) {
        case FrameType::Reply:
            return wrap<R>(h.id, decode_op<Reply>(h, body, std::move(d), limits));
        case FrameType::ReplyOpen:
            return wrap<R>(h.id, decode_op<OpenReply>(h, body, std::move(d), limits));
        case FrameType::ReplyRead:
            return wrap<R>(h.id, decode_op<ReadReply>(h, body, std::move(d), limits));
        case FrameType::ReplyWrite:
            return wrap<R>(h.id, decode_op<WriteReply>(h, body, std::move(d), limits));
        case FrameType::ReplyStat:
            return wrap<R>(h.id, decode_op<StatReply>(h, body, std::move(d), limits));
        case FrameType::ReplyPages:
            return wrap<R>(h.id, decode_op<PagesReply>(h, body, std::move(d), limits));
        case FrameType::ReplyStats:
            return wrap<R>(h.id, decode_op<StatsReply>(h, body, std::move(d), limits));
        case FrameType::ReplyStatus:
            return wrap<R>(h.id, decode_op<StatusReply>(h, body, std::move(d), limits));
        default:
            break;
    }
    VR_UNREACHABLE("client reply type {} without a decoder", type_name(h.type));
}

}  // namespace vr::wire
