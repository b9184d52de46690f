// The Reader/Writer helpers, frame assembly and shared field checks declared in codec.h.
#include "wire/codec.h"

#include "wire/crc32c.h"

namespace vr::wire::detail {

Status as_encode_error(const Status& decode_error, std::string_view what) {
    return Status(Code::InvalidArgument,
                  fmt::format("cannot encode {}: {}", what, decode_error.context()));
}

uint64_t Reader::get(size_t n, std::string_view field) {
    if (!status_.is_ok()) {
        return 0;
    }
    if (remaining() < n) {
        fail("ends inside field {} (needs {} bytes at offset {}, {} left)",
             field,
             n,
             pos_,
             remaining());
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = n; i > 0; --i) {
        v = (v << 8) | std::to_integer<uint64_t>(in_[pos_ + i - 1]);
    }
    pos_ += n;
    return v;
}

bool Reader::boolean(std::string_view field) {
    uint8_t v = u8(field);
    if (v > 1) {
        fail("field {} is a boolean but holds {}", field, v);
    }
    return v == 1;
}

std::span<const std::byte> Reader::bytes(size_t n, std::string_view field) {
    if (!status_.is_ok()) {
        return {};
    }
    if (remaining() < n) {
        fail("ends inside field {} (needs {} bytes at offset {}, {} left)",
             field,
             n,
             pos_,
             remaining());
        return {};
    }
    std::span<const std::byte> out = in_.subspan(pos_, n);
    pos_ += n;
    return out;
}

std::string Reader::text(size_t n, std::string_view field) {
    std::span<const std::byte> b = bytes(n, field);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

Status Reader::finish() {
    if (status_.is_ok() && remaining() != 0) {
        fail("{} trailing bytes after the last field", remaining());
    }
    return status_;
}

void begin_frame(std::vector<std::byte>& head) {
    head.clear();
    head.reserve(kHeaderSize + 64);
    head.resize(kHeaderSize);
}

Status finish_frame(std::vector<std::byte>& head,
                    FrameType type,
                    uint64_t id,
                    uint32_t data_len,
                    uint32_t data_crc,
                    const Limits& limits,
                    uint16_t extra_flags) {
    VR_ASSERT(head.size() >= kHeaderSize, "finish_frame without begin_frame");
    size_t body_len = head.size() - kHeaderSize;
    if (body_len > limits.max_body) {
        return Status(Code::InvalidArgument,
                      fmt::format("cannot encode {}: frame body of {} bytes exceeds the limit "
                                  "of {}",
                                  type_name(type),
                                  body_len,
                                  limits.max_body));
    }
    FrameHeader h;
    h.type = type;
    h.flags = static_cast<uint16_t>((data_len > 0 ? kFlagData : 0) | extra_flags);
    h.body_len = static_cast<uint32_t>(body_len);
    h.data_len = data_len;
    h.id = id;
    h.data_crc = data_crc;
    std::span<const std::byte> body = std::span<const std::byte>(head).subspan(kHeaderSize);
    h.body_crc = compute_body_crc(h, body);
    std::array<std::byte, kHeaderSize> raw = encode_header(h);
    std::copy(raw.begin(), raw.end(), head.begin());
    return Status::ok();
}

Status check_node(uint8_t node, std::string_view field) {
    if (node >= 64) {
        return protocol_error("{} is node {}, but node ids are below 64", field, node);
    }
    return Status::ok();
}

Status check_byte_range(uint64_t offset, uint64_t length, std::string_view field) {
    if (offset > kMaxFileBytes || length > kMaxFileBytes - offset) {
        return protocol_error("{} of {} bytes at offset {} ends past the largest file offset {}",
                              field,
                              length,
                              offset,
                              kMaxFileBytes);
    }
    return Status::ok();
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

Status check_name(std::string_view name, size_t max, std::string_view field) {
    if (name.empty()) {
        return protocol_error("{} is empty", field);
    }
    if (name.size() > max) {
        return protocol_error("{} of {} bytes exceeds the limit of {}", field, name.size(), max);
    }
    for (size_t i = 0; i < name.size(); ++i) {
        if (!is_name_char(name[i])) {
            return protocol_error("{} has byte {:#04x} at offset {} (allowed: [A-Za-z0-9._-])",
                                  field,
                                  static_cast<uint8_t>(name[i]),
                                  i);
        }
    }
    return Status::ok();
}

Status check_no_nul(std::string_view text, std::string_view field) {
    size_t at = text.find('\0');
    if (at != std::string_view::npos) {
        return protocol_error("{} has a NUL byte at offset {}", field, at);
    }
    return Status::ok();
}

}  // namespace vr::wire::detail
