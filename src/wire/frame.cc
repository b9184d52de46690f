// Frame header encoding and checks, frame type metadata, and the Reader/Writer helpers of
// codec.h. See frame.h for the layout.
#include "wire/frame.h"

#include <fmt/format.h>

#include "wire/codec.h"
#include "wire/crc32c.h"

namespace vr::wire {

using detail::protocol_error;

namespace {

uint64_t load_le(std::span<const std::byte> b, size_t at, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i > 0; --i) {
        v = (v << 8) | std::to_integer<uint64_t>(b[at + i - 1]);
    }
    return v;
}

void store_le(std::span<std::byte> b, size_t at, size_t n, uint64_t v) {
    for (size_t i = 0; i < n; ++i) {
        b[at + i] = static_cast<std::byte>(v >> (8 * i));
    }
}

bool known_type(uint8_t number) {
    switch (number) {
#define VR_X(name, num, family, data) case num:
        VR_FRAME_TYPES(VR_X)
#undef VR_X
        return true;
        default:
            return false;
    }
}

// The data section rules of decode_header, once the type and flags are known to be valid.
Status check_data_len(const FrameHeader& h, const Limits& limits) {
    if (!h.has_data()) {
        if (h.data_len != 0) {
            return protocol_error("frame without the data flag has data_len {}", h.data_len);
        }
        if (h.data_crc != 0) {
            return protocol_error("frame without data has data_crc {:#010x}", h.data_crc);
        }
        return Status::ok();
    }
    DataKind kind = data_kind_of(h.type);
    if (kind == DataKind::None) {
        return protocol_error("frame type {} carries no data but has the data flag",
                              type_name(h.type));
    }
    if (h.data_len == 0) {
        return protocol_error("frame has the data flag but data_len 0");
    }
    if (kind == DataKind::Bytes) {
        if (h.data_len > limits.max_io) {
            return protocol_error(
                "frame data of {} bytes exceeds the limit of {}", h.data_len, limits.max_io);
        }
        return Status::ok();
    }
    if (h.data_len > limits.max_page_data()) {
        return protocol_error("frame data of {} bytes exceeds the limit of {} ({} pages of {})",
                              h.data_len,
                              limits.max_page_data(),
                              limits.max_pages,
                              limits.page_size);
    }
    if (h.data_len % limits.page_size != 0) {
        return protocol_error("frame data of {} bytes is not a whole number of {}-byte pages",
                              h.data_len,
                              limits.page_size);
    }
    return Status::ok();
}

// kFlagDataUnchecked, once the data flag and length are known to agree.
Status check_unchecked(const FrameHeader& h) {
    if (!h.data_unchecked()) {
        return Status::ok();
    }
    if (!h.has_data()) {
        return protocol_error("frame has the unchecked-data flag but no data flag");
    }
    if (h.type != FrameType::DataS && h.type != FrameType::DataM) {
        return protocol_error("frame type {} cannot carry unchecked data (only DataS and DataM)",
                              type_name(h.type));
    }
    if (h.data_crc != 0) {
        return protocol_error("frame with unchecked data has data_crc {:#010x}, expected 0",
                              h.data_crc);
    }
    return Status::ok();
}

}  // namespace

Status Limits::check() const {
    auto bad = [](std::string_view what) {
        return Status(Code::InvalidArgument, fmt::format("wire limits: {}", what));
    };
    if (page_size == 0 || page_size > (1u << 20)) {
        return bad("page_size must be in [1, 1 MiB]");
    }
    if (max_pages == 0 || max_page_data() > (1u << 30)) {
        return bad("max_pages must be >= 1 and max_pages * page_size <= 1 GiB");
    }
    if (max_body < 128 + max_pages / 8 || max_body > (16u << 20)) {
        return bad("max_body must be in [128 + max_pages / 8, 16 MiB]");
    }
    if (max_path == 0 || max_path > UINT16_MAX) {
        return bad("max_path must be in [1, 65535]");
    }
    if (max_name == 0 || max_name > UINT8_MAX) {
        return bad("max_name must be in [1, 255]");
    }
    if (max_io == 0 || max_io > (1u << 30)) {
        return bad("max_io must be in [1, 1 GiB]");
    }
    if (max_message > UINT16_MAX) {
        return bad("max_message must be <= 65535");
    }
    return Status::ok();
}

Family family_of(FrameType type) {
    switch (type) {
#define VR_X(name, num, family, data) \
    case FrameType::name:             \
        return Family::family;
        VR_FRAME_TYPES(VR_X)
#undef VR_X
    }
    return Family::Unknown;
}

DataKind data_kind_of(FrameType type) {
    switch (type) {
#define VR_X(name, num, family, data) \
    case FrameType::name:             \
        return DataKind::data;
        VR_FRAME_TYPES(VR_X)
#undef VR_X
    }
    return DataKind::None;
}

std::string_view type_name(FrameType type) {
    switch (type) {
#define VR_X(name, num, family, data) \
    case FrameType::name:             \
        return #name;
        VR_FRAME_TYPES(VR_X)
#undef VR_X
    }
    return "?";
}

std::array<std::byte, kHeaderSize> encode_header(const FrameHeader& h) {
    std::array<std::byte, kHeaderSize> out{};
    std::span<std::byte> b(out);
    store_le(b, 0, 4, kMagic);
    store_le(b, 4, 1, kVersion);
    store_le(b, 5, 1, static_cast<uint8_t>(h.type));
    store_le(b, 6, 2, h.flags);
    store_le(b, 8, 4, h.body_len);
    store_le(b, 12, 4, h.data_len);
    store_le(b, 16, 8, h.id);
    store_le(b, 24, 4, h.body_crc);
    store_le(b, 28, 4, h.data_crc);
    return out;
}

Result<FrameHeader> decode_header(std::span<const std::byte> bytes, const Limits& limits) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    if (bytes.size() != kHeaderSize) {
        return protocol_error("frame header of {} bytes, expected {}", bytes.size(), kHeaderSize);
    }
    auto magic = static_cast<uint32_t>(load_le(bytes, 0, 4));
    if (magic != kMagic) {
        return protocol_error(
            "bad frame magic {:#010x}, expected {:#010x} (\"VRM1\")", magic, kMagic);
    }
    auto version = static_cast<uint8_t>(load_le(bytes, 4, 1));
    if (version != kVersion) {
        return protocol_error(
            "frame version {} is not supported (this build speaks version {})", version, kVersion);
    }
    auto type = static_cast<uint8_t>(load_le(bytes, 5, 1));
    if (!known_type(type)) {
        return protocol_error("unknown frame type {}", type);
    }
    FrameHeader h;
    h.type = static_cast<FrameType>(type);
    h.flags = static_cast<uint16_t>(load_le(bytes, 6, 2));
    h.body_len = static_cast<uint32_t>(load_le(bytes, 8, 4));
    h.data_len = static_cast<uint32_t>(load_le(bytes, 12, 4));
    h.id = load_le(bytes, 16, 8);
    h.body_crc = static_cast<uint32_t>(load_le(bytes, 24, 4));
    h.data_crc = static_cast<uint32_t>(load_le(bytes, 28, 4));
    if ((h.flags & ~kKnownFlags) != 0) {
        return protocol_error("unknown frame flags {:#06x}", h.flags & ~kKnownFlags);
    }
    if (h.body_len > limits.max_body) {
        return protocol_error(
            "frame body of {} bytes exceeds the limit of {}", h.body_len, limits.max_body);
    }
    VR_TRY(check_data_len(h, limits));
    VR_TRY(check_unchecked(h));
    return h;
}

uint32_t compute_body_crc(const FrameHeader& header, std::span<const std::byte> body) {
    std::array<std::byte, kHeaderSize> raw = encode_header(header);
    Crc32c crc;
    crc.update(std::span<const std::byte>(raw).first(24));
    crc.update(body);
    return crc.value();
}

Status check_body(const FrameHeader& header, std::span<const std::byte> body) {
    if (body.size() != header.body_len) {
        return protocol_error("{} frame body is {} bytes but the header says {}",
                              type_name(header.type),
                              body.size(),
                              header.body_len);
    }
    uint32_t crc = compute_body_crc(header, body);
    if (crc != header.body_crc) {
        return Status(Code::Corrupt,
                      fmt::format("{} frame body CRC mismatch: computed {:#010x}, header says "
                                  "{:#010x}",
                                  type_name(header.type),
                                  crc,
                                  header.body_crc));
    }
    return Status::ok();
}

}  // namespace vr::wire
