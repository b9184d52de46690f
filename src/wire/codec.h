// Internal to src/wire and its tests: the little-endian Writer, the bounds-checked Reader, frame
// assembly, and the field checks that encoders and decoders share. Not part of the module's API.
//
// The Reader keeps the first error and returns zeros after it, so a decoder reads all its fields
// and checks once; the first error (a truncation, or the first failed field check recorded with
// fail()) is what the caller reports. Encoders run the same checks on what they are given, so a
// frame that encodes always decodes.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "wire/frame.h"

namespace vr::wire::detail {

template <typename... Args>
Status protocol_error(fmt::format_string<Args...> format, Args&&... args) {
    return Status(Code::ProtocolError, fmt::format(format, std::forward<Args>(args)...));
}

// A decoder's check failed on a message we were asked to send: our caller's bug or an input
// beyond the limits, reported with the same words under InvalidArgument.
Status as_encode_error(const Status& decode_error, std::string_view what);

class Writer {
  public:
    explicit Writer(std::vector<std::byte>& out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(std::byte{v}); }
    void u16(uint16_t v) { put(v, 2); }
    void u32(uint32_t v) { put(v, 4); }
    void u64(uint64_t v) { put(v, 8); }
    void i64(int64_t v) { put(static_cast<uint64_t>(v), 8); }
    void boolean(bool v) { u8(v ? 1 : 0); }
    void bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void text(std::string_view s) { bytes(std::as_bytes(std::span(s.data(), s.size()))); }

  private:
    void put(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) {
            out_.push_back(static_cast<std::byte>(v >> (8 * i)));
        }
    }
    std::vector<std::byte>& out_;
};

class Reader {
  public:
    // `type` names the body in error messages: "GetS body: ...".
    Reader(std::span<const std::byte> bytes, std::string_view type) : in_(bytes), type_(type) {}

    uint8_t u8(std::string_view field) { return static_cast<uint8_t>(get(1, field)); }
    uint16_t u16(std::string_view field) { return static_cast<uint16_t>(get(2, field)); }
    uint32_t u32(std::string_view field) { return static_cast<uint32_t>(get(4, field)); }
    uint64_t u64(std::string_view field) { return get(8, field); }
    int64_t i64(std::string_view field) { return static_cast<int64_t>(get(8, field)); }
    // A byte that must be 0 or 1.
    bool boolean(std::string_view field);
    // `n` raw bytes (empty after an error).
    std::span<const std::byte> bytes(size_t n, std::string_view field);
    std::string text(size_t n, std::string_view field);

    // Records a failed field check (the first error wins), prefixed by "<type> body: ".
    template <typename... Args>
    void fail(fmt::format_string<Args...> format, Args&&... args) {
        if (status_.is_ok()) {
            status_ =
                Status(Code::ProtocolError,
                       fmt::format(
                           "{} body: {}", type_, fmt::format(format, std::forward<Args>(args)...)));
        }
    }
    void fail(const Status& s) {
        if (status_.is_ok() && !s.is_ok()) {
            status_ = Status(s.code(), fmt::format("{} body: {}", type_, s.context()));
        }
    }
    bool ok() const { return status_.is_ok(); }
    size_t remaining() const { return in_.size() - pos_; }
    // The first error, or an error if bytes are left after the last field.
    Status finish();

  private:
    uint64_t get(size_t n, std::string_view field);
    std::span<const std::byte> in_;
    size_t pos_ = 0;
    std::string_view type_;
    Status status_;
};

// Starts a frame in `head` (cleared): room for the header, the body follows.
void begin_frame(std::vector<std::byte>& head);
// Writes the header of the frame begun in `head`, whose body is everything after the header.
// The data flag is set when data_len > 0; `extra_flags` are added to it (kFlagDataUnchecked).
// Fails if the body exceeds the limit.
Status finish_frame(std::vector<std::byte>& head,
                    FrameType type,
                    uint64_t id,
                    uint32_t data_len,
                    uint32_t data_crc,
                    const Limits& limits,
                    uint16_t extra_flags = 0);

// Shared field checks; each returns a ProtocolError that names the field and the bad value.
Status check_node(uint8_t node, std::string_view field);
Status check_byte_range(uint64_t offset, uint64_t length, std::string_view field);
// Characters allowed in node names and counter names: [A-Za-z0-9._-].
bool is_name_char(char c);
Status check_name(std::string_view name, size_t max, std::string_view field);
Status check_no_nul(std::string_view text, std::string_view field);

}  // namespace vr::wire::detail
