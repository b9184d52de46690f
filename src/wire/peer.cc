// Peer message codec: one fixed body layout per MsgType (the table below), shared by the
// encoder, the decoder and the generated documentation.
#include "wire/peer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>

#include "wire/codec.h"
#include "wire/crc32c.h"

namespace vr::wire {

using coherence::Message;
using coherence::MsgType;
using coherence::PageBuf;
using detail::protocol_error;
using detail::Reader;
using detail::Writer;

namespace {

// The fields a body may hold, each with one encoding.
enum class Field : uint8_t {
    Session,
    Incarnation,
    File,
    Range,
    ToShared,
    Recovering,
    Time,
    Status
};

// What a type's data section holds.
enum class PageData : uint8_t {
    None,       // nothing
    All,        // every page of the range
    AllOrNone,  // every page of the range, or nothing (no data flag)
    Bitmap,     // a presence bitmap in the body; the present pages in the data section
};

struct Layout {
    MsgType msg = MsgType::Nack;
    FrameType frame = FrameType::Nack;
    bool has_id = false;
    PageData data = PageData::None;
    std::array<Field, 5> fields{};
    size_t field_count = 0;
};

constexpr Layout make_layout(
    MsgType msg, FrameType frame, bool has_id, PageData data, std::initializer_list<Field> fs) {
    Layout l;
    l.msg = msg;
    l.frame = frame;
    l.has_id = has_id;
    l.data = data;
    for (Field f : fs) {
        l.fields[l.field_count++] = f;
    }
    return l;
}

using F = Field;
using P = PageData;
#define VR_LAYOUT(name, id, data, ...) \
    make_layout(MsgType::name, FrameType::name, id, data, {__VA_ARGS__})

// In MsgType order. `id`: the header's id is the message's request or transaction id; types
// without one must send 0.
constexpr std::array<Layout, coherence::kMsgTypeCount> kLayouts = {{
    VR_LAYOUT(Join, false, P::None, F::Incarnation),
    VR_LAYOUT(JoinAck, false, P::None, F::Session, F::Incarnation, F::Recovering),
    VR_LAYOUT(Hello, false, P::None, F::Incarnation),
    VR_LAYOUT(LeaseRenew, false, P::None, F::Session, F::Time),
    VR_LAYOUT(LeaseGrant, false, P::None, F::Session, F::Incarnation, F::Time),
    VR_LAYOUT(Stale, false, P::None, F::Session, F::Incarnation),
    VR_LAYOUT(GetS, true, P::None, F::Session, F::File, F::Range),
    VR_LAYOUT(GetM, true, P::None, F::Session, F::File, F::Range),
    VR_LAYOUT(DataS, true, P::All, F::Session, F::Incarnation, F::File, F::Range),
    VR_LAYOUT(DataM, true, P::AllOrNone, F::Session, F::Incarnation, F::File, F::Range),
    VR_LAYOUT(Inv, true, P::None, F::Session, F::Incarnation, F::File, F::Range),
    VR_LAYOUT(InvAck, true, P::None, F::Session, F::File, F::Range),
    VR_LAYOUT(Recall, true, P::None, F::Session, F::Incarnation, F::File, F::Range, F::ToShared),
    VR_LAYOUT(RecallAck, true, P::Bitmap, F::Session, F::File, F::Range),
    VR_LAYOUT(PutS, false, P::None, F::Session, F::File, F::Range),
    VR_LAYOUT(PutM, false, P::All, F::Session, F::File, F::Range),
    VR_LAYOUT(PutAck, false, P::None, F::Session, F::Incarnation, F::File, F::Range),
    VR_LAYOUT(Fsync, true, P::None, F::Session, F::File),
    VR_LAYOUT(FsyncAck, true, P::None, F::Session, F::Incarnation, F::Status),
    VR_LAYOUT(Reclaim, false, P::All, F::Session, F::Incarnation, F::File, F::Range),
    VR_LAYOUT(RecoverDone, false, P::None, F::Session, F::Incarnation),
    VR_LAYOUT(Nack, true, P::None, F::Session, F::Incarnation, F::File, F::Status),
}};
#undef VR_LAYOUT

constexpr bool layouts_in_order() {
    for (size_t i = 0; i < kLayouts.size(); ++i) {
        if (static_cast<size_t>(kLayouts[i].msg) != i) {
            return false;
        }
    }
    return true;
}
static_assert(layouts_in_order(), "kLayouts must list every MsgType in order");

const Layout& layout_of(MsgType type) {
    auto i = static_cast<size_t>(type);
    VR_ASSERT(i < kLayouts.size(), "message type {} out of range", i);
    return kLayouts[i];
}

const Layout* layout_of_frame(FrameType frame) {
    for (const Layout& l : kLayouts) {
        if (l.frame == frame) {
            return &l;
        }
    }
    return nullptr;
}

std::string_view field_doc(Field f) {
    switch (f) {
        case Field::Session:
            return "session u64";
        case Field::Incarnation:
            return "incarnation u64";
        case Field::File:
            return "file.home u8, file.ino u64";
        case Field::Range:
            return "range.first u64, range.count u32";
        case Field::ToShared:
            return "to_shared u8";
        case Field::Recovering:
            return "recovering u8";
        case Field::Time:
            return "time i64";
        case Field::Status:
            return "status u16";
    }
    return "?";
}

size_t field_size(Field f) {
    switch (f) {
        case Field::Session:
        case Field::Incarnation:
        case Field::Time:
            return 8;
        case Field::File:
            return 9;
        case Field::Range:
            return 12;
        case Field::ToShared:
        case Field::Recovering:
            return 1;
        case Field::Status:
            return 2;
    }
    return 0;
}

size_t bitmap_bytes(uint64_t count) {
    return static_cast<size_t>((count + 7) / 8);
}

void write_field(Writer& w, Field f, const Message& m) {
    switch (f) {
        case Field::Session:
            w.u64(m.session);
            return;
        case Field::Incarnation:
            w.u64(m.incarnation);
            return;
        case Field::File:
            w.u8(m.file.home);
            w.u64(m.file.ino);
            return;
        case Field::Range:
            w.u64(m.range.first);
            w.u32(static_cast<uint32_t>(m.range.count));  // checked <= max_pages
            return;
        case Field::ToShared:
            w.boolean(m.to_shared);
            return;
        case Field::Recovering:
            w.boolean(m.recovering);
            return;
        case Field::Time:
            w.i64(m.time);
            return;
        case Field::Status:
            w.u16(static_cast<uint16_t>(m.status));
            return;
    }
}

void read_field(Reader& r, Field f, Message& m) {
    switch (f) {
        case Field::Session:
            m.session = r.u64("session");
            return;
        case Field::Incarnation:
            m.incarnation = r.u64("incarnation");
            return;
        case Field::File:
            m.file.home = r.u8("file.home");
            m.file.ino = r.u64("file.ino");
            return;
        case Field::Range:
            m.range.first = r.u64("range.first");
            m.range.count = r.u32("range.count");
            return;
        case Field::ToShared:
            m.to_shared = r.boolean("to_shared");
            return;
        case Field::Recovering:
            m.recovering = r.boolean("recovering");
            return;
        case Field::Time:
            m.time = r.i64("time");
            return;
        case Field::Status: {
            uint16_t number = r.u16("status");
            if (r.ok() && !code_from_number(number, &m.status)) {
                r.fail("status {} is not a known error code", number);
            }
            return;
        }
    }
}

Status check_range(const coherence::Range& range, const Limits& limits) {
    if (range.count == 0) {
        return protocol_error("range.count is 0");
    }
    if (range.count > limits.max_pages) {
        return protocol_error(
            "range of {} pages exceeds the limit of {}", range.count, limits.max_pages);
    }
    if (range.first > UINT64_MAX - range.count) {
        return protocol_error("range first {} + count {} overflows", range.first, range.count);
    }
    uint64_t pages_max = kMaxFileBytes / limits.page_size;
    if (range.end() > pages_max) {
        return protocol_error("range [{}, +{}) ends past page {}, the end of the largest file",
                              range.first,
                              range.count,
                              pages_max);
    }
    return Status::ok();
}

// The checks every field of `m` that its layout holds must pass, on both sides.
Status check_fields(const Message& m, const Layout& lay, const Limits& limits) {
    for (size_t i = 0; i < lay.field_count; ++i) {
        switch (lay.fields[i]) {
            case Field::File:
                VR_TRY(detail::check_node(m.file.home, "file.home"));
                break;
            case Field::Range:
                VR_TRY(check_range(m.range, limits));
                break;
            case Field::Time:
                if (m.time < 0) {
                    return protocol_error("time {} is negative", m.time);
                }
                break;
            case Field::Status: {
                Code known;
                if (!code_from_number(static_cast<uint16_t>(m.status), &known)) {
                    return protocol_error("status {} is not a known error code",
                                          static_cast<uint16_t>(m.status));
                }
                if (m.type == MsgType::Nack && m.status == Code::Ok) {
                    return protocol_error("a Nack must carry an error status, not Ok");
                }
                break;
            }
            case Field::Session:
            case Field::Incarnation:
            case Field::ToShared:
            case Field::Recovering:
                break;
        }
    }
    return Status::ok();
}

Status check_page(const PageBuf& page, size_t index, const Limits& limits) {
    if (!page) {
        return protocol_error("page {} is missing", index);
    }
    if (page->size() != limits.page_size) {
        return protocol_error(
            "page {} holds {} bytes, pages are {}", index, page->size(), limits.page_size);
    }
    return Status::ok();
}

// The pages of `m` its frame's data section holds, checked; fails if their shape is wrong.
Status select_pages(const Message& m,
                    const Layout& lay,
                    const Limits& limits,
                    std::vector<PageBuf>& out) {
    out.clear();
    size_t n = m.pages.size();
    bool none = lay.data == PageData::None || (lay.data == PageData::AllOrNone && n == 0);
    if (none) {
        if (n != 0) {
            return protocol_error("{} carries no pages but has {}", type_name(lay.frame), n);
        }
        return Status::ok();
    }
    if (n != m.range.count) {
        return protocol_error("{} of {} pages has {} page buffers{}",
                              type_name(lay.frame),
                              m.range.count,
                              n,
                              m.data_from_store ? " (data_from_store: fill them, or stream them "
                                                  "with encode_peer_streamed)"
                                                : "");
    }
    for (size_t i = 0; i < n; ++i) {
        if (lay.data == PageData::Bitmap && !m.pages[i]) {
            continue;
        }
        VR_TRY(check_page(m.pages[i], i, limits));
        out.push_back(m.pages[i]);
    }
    return Status::ok();
}

void write_body(std::vector<std::byte>& head, const Message& m, const Layout& lay) {
    Writer w(head);
    for (size_t i = 0; i < lay.field_count; ++i) {
        write_field(w, lay.fields[i], m);
    }
    if (lay.data == PageData::Bitmap) {
        std::vector<uint8_t> bits(bitmap_bytes(m.range.count), 0);
        for (size_t i = 0; i < m.pages.size(); ++i) {
            if (m.pages[i]) {
                bits[i / 8] = static_cast<uint8_t>(bits[i / 8] | (1u << (i % 8)));
            }
        }
        for (uint8_t b : bits) {
            w.u8(b);
        }
    }
}

}  // namespace

uint32_t pages_crc(std::span<const PageBuf> pages) {
    Crc32c crc;
    for (const PageBuf& p : pages) {
        if (p) {
            crc.update(*p);
        }
    }
    return crc.value();
}

Status encode_peer(const Message& msg,
                   const Limits& limits,
                   std::vector<std::byte>& head,
                   std::vector<PageBuf>& data) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    const Layout& lay = layout_of(msg.type);
    head.clear();
    data.clear();
    std::vector<PageBuf> present;
    Status s = check_fields(msg, lay, limits);
    if (s.is_ok()) {
        s = select_pages(msg, lay, limits, present);
    }
    if (!s.is_ok()) {
        return detail::as_encode_error(s, type_name(lay.frame));
    }
    detail::begin_frame(head);
    write_body(head, msg, lay);
    auto data_len = static_cast<uint32_t>(present.size() * limits.page_size);
    uint64_t id = lay.has_id ? msg.id : 0;
    s = detail::finish_frame(head, lay.frame, id, data_len, pages_crc(present), limits);
    if (!s.is_ok()) {
        head.clear();
        return s;
    }
    data = std::move(present);
    return Status::ok();
}

namespace {

// Both forms of encode_peer_streamed: with a data CRC, or unchecked (no value).
Status encode_streamed(const Message& msg,
                       std::optional<uint32_t> data_crc,
                       const Limits& limits,
                       std::vector<std::byte>& head) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    const Layout& lay = layout_of(msg.type);
    head.clear();
    Status s = check_fields(msg, lay, limits);
    if (s.is_ok() && lay.data != PageData::All && lay.data != PageData::AllOrNone) {
        s = protocol_error("{} cannot stream its pages", type_name(lay.frame));
    }
    // decode_header refuses kFlagDataUnchecked on anything but a home's answers.
    if (s.is_ok() && !data_crc && lay.frame != FrameType::DataS && lay.frame != FrameType::DataM) {
        s = protocol_error("{} cannot stream its pages unchecked (only DataS and DataM)",
                           type_name(lay.frame));
    }
    if (s.is_ok() && !msg.pages.empty()) {
        s = protocol_error("a streamed {} must not hold page buffers, it has {}",
                           type_name(lay.frame),
                           msg.pages.size());
    }
    if (!s.is_ok()) {
        return detail::as_encode_error(s, type_name(lay.frame));
    }
    detail::begin_frame(head);
    write_body(head, msg, lay);
    auto data_len = static_cast<uint32_t>(msg.range.count * limits.page_size);
    s = detail::finish_frame(head,
                             lay.frame,
                             msg.id,
                             data_len,
                             data_crc.value_or(0),
                             limits,
                             data_crc ? 0 : kFlagDataUnchecked);
    if (!s.is_ok()) {
        head.clear();
    }
    return s;
}

}  // namespace

Status encode_peer_streamed(const Message& msg,
                            uint32_t data_crc,
                            const Limits& limits,
                            std::vector<std::byte>& head) {
    return encode_streamed(msg, data_crc, limits, head);
}

Status encode_peer_streamed(const Message& msg,
                            const Limits& limits,
                            std::vector<std::byte>& head) {
    return encode_streamed(msg, std::nullopt, limits, head);
}

namespace {

// Reads the presence bitmap of a RecallAck whose range was checked; returns present pages.
std::vector<bool> read_bitmap(Reader& r, uint64_t count) {
    std::vector<bool> present(count, false);
    std::span<const std::byte> bits = r.bytes(bitmap_bytes(count), "presence bitmap");
    if (!r.ok()) {
        return present;
    }
    for (size_t i = 0; i < bits.size() * 8; ++i) {
        bool set = ((std::to_integer<unsigned>(bits[i / 8]) >> (i % 8)) & 1u) != 0;
        if (i < count) {
            present[i] = set;
        } else if (set) {
            r.fail("presence bitmap has bit {} set, past the range's {} pages", i, count);
            break;
        }
    }
    return present;
}

// Checks that the data section holds exactly the pages `m` needs and moves them into `m`.
Status adopt_pages(const FrameHeader& h,
                   const Layout& lay,
                   const Limits& limits,
                   std::vector<PageBuf> pages,
                   const std::vector<bool>& present,
                   Message& m) {
    std::string_view name = type_name(h.type);
    if (h.data_len % limits.page_size != 0) {
        return protocol_error("{} data of {} bytes is not whole pages", name, h.data_len);
    }
    uint64_t data_pages = h.data_len / limits.page_size;
    uint64_t expected = 0;
    switch (lay.data) {
        case PageData::None:
            break;
        case PageData::All:
            expected = m.range.count;
            break;
        case PageData::AllOrNone:
            expected = data_pages == 0 ? 0 : m.range.count;
            break;
        case PageData::Bitmap:
            expected = static_cast<uint64_t>(std::count(present.begin(), present.end(), true));
            break;
    }
    if (data_pages != expected) {
        return protocol_error("{} of {} pages has {} pages of data, expected {}",
                              name,
                              m.range.count,
                              data_pages,
                              expected);
    }
    if (pages.size() != data_pages) {
        return protocol_error(
            "{} has {} page buffers for {} pages of data", name, pages.size(), data_pages);
    }
    for (size_t i = 0; i < pages.size(); ++i) {
        VR_TRY(check_page(pages[i], i, limits));
    }
    // Unchecked data (kFlagDataUnchecked) was streamed by a sender that never saw it in user
    // space; the transport's own integrity check (TCP, or the link's AEAD tag) vouches for it.
    if (!h.data_unchecked()) {
        uint32_t crc = pages_crc(pages);
        if (crc != h.data_crc) {
            return Status(Code::Corrupt,
                          fmt::format("{} frame data CRC mismatch: computed {:#010x}, header says "
                                      "{:#010x}",
                                      name,
                                      crc,
                                      h.data_crc));
        }
    }
    if (lay.data != PageData::Bitmap) {
        m.pages = std::move(pages);
        return Status::ok();
    }
    m.pages.assign(m.range.count, nullptr);
    size_t next = 0;
    for (size_t i = 0; i < present.size(); ++i) {
        if (present[i]) {
            m.pages[i] = std::move(pages[next++]);
        }
    }
    return Status::ok();
}

}  // namespace

Result<Message> decode_peer(const FrameHeader& header,
                            std::span<const std::byte> body,
                            std::vector<PageBuf> pages,
                            const Limits& limits,
                            LinkEnds ends) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    const Layout* lay = layout_of_frame(header.type);
    if (lay == nullptr) {
        return protocol_error("frame type {} is not a peer message", type_name(header.type));
    }
    VR_TRY(check_body(header, body));
    std::string_view name = type_name(header.type);
    if (!lay->has_id && header.id != 0) {
        return protocol_error("{} frame has id {}, but {} carries none (0)", name, header.id, name);
    }
    Message m;
    m.type = lay->msg;
    m.from = ends.from;
    m.to = ends.to;
    m.id = header.id;
    Reader r(body, name);
    for (size_t i = 0; i < lay->field_count; ++i) {
        read_field(r, lay->fields[i], m);
    }
    if (r.ok()) {
        r.fail(check_fields(m, *lay, limits));
    }
    std::vector<bool> present;
    if (lay->data == PageData::Bitmap && r.ok()) {
        present = read_bitmap(r, m.range.count);
    }
    VR_TRY(r.finish());
    VR_TRY(adopt_pages(header, *lay, limits, std::move(pages), present, m));
    if (m.type == MsgType::Fsync) {
        m.range = coherence::kWholeFile;
    }
    return m;
}

PageBuffers make_page_buffers(const FrameHeader& header, const Limits& limits) {
    VR_ASSERT(header.data_len % limits.page_size == 0,
              "data_len {} of a header not checked by decode_header",
              header.data_len);
    PageBuffers out;
    size_t n = header.data_len / limits.page_size;
    out.pages.reserve(n);
    out.spans.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        auto page = std::make_shared<std::vector<std::byte>>(limits.page_size);
        out.spans.emplace_back(*page);
        out.pages.push_back(std::move(page));
    }
    return out;
}

std::string peer_layout_table() {
    std::string out =
        "| type | no. | header id | body fields, in order | body bytes | data section |\n"
        "|---|---|---|---|---|---|\n";
    for (const Layout& l : kLayouts) {
        std::string fields;
        size_t bytes = 0;
        for (size_t i = 0; i < l.field_count; ++i) {
            fields += (i == 0 ? "" : ", ") + std::string(field_doc(l.fields[i]));
            bytes += field_size(l.fields[i]);
        }
        std::string size = std::to_string(bytes);
        std::string data = "none";
        switch (l.data) {
            case PageData::None:
                break;
            case PageData::All:
                data = "range.count pages";
                break;
            case PageData::AllOrNone:
                data = "range.count pages, or none";
                break;
            case PageData::Bitmap:
                fields += ", presence bitmap ⌈range.count/8⌉ bytes";
                size += " + ⌈range.count/8⌉";
                data = "the present pages";
                break;
        }
        out += fmt::format("| `{}` | {} | {} | {} | {} | {} |\n",
                           type_name(l.frame),
                           static_cast<int>(l.frame),
                           l.has_id ? "id" : "0",
                           fields,
                           size,
                           data);
    }
    return out;
}

}  // namespace vr::wire
