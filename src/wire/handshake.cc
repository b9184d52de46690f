// Handshake frame codec: fixed layouts with a length-prefixed node name or reason at the end.
#include "wire/handshake.h"

#include <fmt/format.h>

#include "wire/codec.h"

namespace vr::wire {

using detail::protocol_error;
using detail::Reader;
using detail::Writer;

namespace {

template <size_t N>
void write_array(Writer& w, const std::array<uint8_t, N>& a) {
    w.bytes(std::as_bytes(std::span(a)));
}

template <size_t N>
void read_array(Reader& r, std::array<uint8_t, N>& a, std::string_view field) {
    std::span<const std::byte> b = r.bytes(N, field);
    for (size_t i = 0; i < b.size(); ++i) {
        a[i] = std::to_integer<uint8_t>(b[i]);
    }
}

Status check_version(uint16_t version) {
    if (version == 0) {
        return protocol_error("protocol_version is 0 (versions start at 1)");
    }
    return Status::ok();
}

Status check(const AuthHello& m, const Limits&) {
    VR_TRY(check_version(m.protocol_version));
    return detail::check_name(m.node_name, kNodeNameMax, "node_name");
}
Status check(const AuthChallenge& m, const Limits&) {
    VR_TRY(check_version(m.protocol_version));
    return detail::check_name(m.node_name, kNodeNameMax, "node_name");
}
Status check(const AuthResponse&, const Limits&) {
    return Status::ok();
}
Status check(const AuthWelcome&, const Limits&) {
    return Status::ok();
}
Status check(const AuthRefuse& m, const Limits& limits) {
    Code known;
    if (!code_from_number(static_cast<uint16_t>(m.code), &known)) {
        return protocol_error("code {} is not a known error code", static_cast<uint16_t>(m.code));
    }
    if (m.code == Code::Ok) {
        return protocol_error("a refusal must carry an error code, not Ok");
    }
    if (m.reason.size() > limits.max_message) {
        return protocol_error(
            "reason of {} bytes exceeds the limit of {}", m.reason.size(), limits.max_message);
    }
    return detail::check_no_nul(m.reason, "reason");
}

FrameType frame_of(const AuthHello&) {
    return FrameType::AuthHello;
}
FrameType frame_of(const AuthChallenge&) {
    return FrameType::AuthChallenge;
}
FrameType frame_of(const AuthResponse&) {
    return FrameType::AuthResponse;
}
FrameType frame_of(const AuthWelcome&) {
    return FrameType::AuthWelcome;
}
FrameType frame_of(const AuthRefuse&) {
    return FrameType::AuthRefuse;
}

void write(Writer& w, const AuthHello& m) {
    w.u16(m.protocol_version);
    w.u64(m.cluster_hash);
    w.boolean(m.encrypt);
    write_array(w, m.nonce);
    w.u8(static_cast<uint8_t>(m.node_name.size()));  // checked <= 64
    w.text(m.node_name);
}
void write(Writer& w, const AuthChallenge& m) {
    w.u16(m.protocol_version);
    w.u64(m.cluster_hash);
    w.boolean(m.encrypt);
    write_array(w, m.nonce);
    write_array(w, m.tag);
    w.u8(static_cast<uint8_t>(m.node_name.size()));
    w.text(m.node_name);
}
void write(Writer& w, const AuthResponse& m) {
    write_array(w, m.tag);
}
void write(Writer& w, const AuthWelcome& m) {
    w.boolean(m.encrypt);
}
void write(Writer& w, const AuthRefuse& m) {
    w.u16(static_cast<uint16_t>(m.code));
    w.u16(static_cast<uint16_t>(m.reason.size()));  // checked <= max_message <= 65535
    w.text(m.reason);
}

void read(Reader& r, AuthHello& m) {
    m.protocol_version = r.u16("protocol_version");
    m.cluster_hash = r.u64("cluster_hash");
    m.encrypt = r.boolean("encrypt");
    read_array(r, m.nonce, "nonce");
    m.node_name = r.text(r.u8("node_name length"), "node_name");
}
void read(Reader& r, AuthChallenge& m) {
    m.protocol_version = r.u16("protocol_version");
    m.cluster_hash = r.u64("cluster_hash");
    m.encrypt = r.boolean("encrypt");
    read_array(r, m.nonce, "nonce");
    read_array(r, m.tag, "tag");
    m.node_name = r.text(r.u8("node_name length"), "node_name");
}
void read(Reader& r, AuthResponse& m) {
    read_array(r, m.tag, "tag");
}
void read(Reader& r, AuthWelcome& m) {
    m.encrypt = r.boolean("encrypt");
}
void read(Reader& r, AuthRefuse& m) {
    uint16_t number = r.u16("code");
    if (r.ok() && !code_from_number(number, &m.code)) {
        r.fail("code {} is not a known error code", number);
    }
    m.reason = r.text(r.u16("reason length"), "reason");
}

template <typename M>
Result<Handshake> decode_as(const FrameHeader& header,
                            std::span<const std::byte> body,
                            const Limits& limits) {
    M m;
    Reader r(body, type_name(header.type));
    read(r, m);
    if (r.ok()) {
        r.fail(check(m, limits));
    }
    VR_TRY(r.finish());
    return Handshake(std::move(m));
}

}  // namespace

Status encode_handshake(const Handshake& msg, const Limits& limits, std::vector<std::byte>& frame) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    frame.clear();
    return std::visit(
        [&](const auto& m) -> Status {
            FrameType type = frame_of(m);
            Status s = check(m, limits);
            if (!s.is_ok()) {
                return detail::as_encode_error(s, type_name(type));
            }
            detail::begin_frame(frame);
            Writer w(frame);
            write(w, m);
            s = detail::finish_frame(frame, type, /*id=*/0, /*data_len=*/0, /*data_crc=*/0, limits);
            if (!s.is_ok()) {
                frame.clear();
            }
            return s;
        },
        msg);
}

Result<Handshake> decode_handshake(const FrameHeader& header,
                                   std::span<const std::byte> body,
                                   const Limits& limits) {
    VR_ASSERT(limits.valid(), "{}", limits.check().to_string());
    if (family_of(header.type) != Family::Handshake) {
        return protocol_error("frame type {} is not a handshake message", type_name(header.type));
    }
    VR_TRY(check_body(header, body));
    if (header.id != 0) {
        return protocol_error("{} frame has id {}, but handshake frames carry none (0)",
                              type_name(header.type),
                              header.id);
    }
    if (header.data_len != 0) {
        return protocol_error("{} frame has {} bytes of data, but handshake frames carry none",
                              type_name(header.type),
                              header.data_len);
    }
    switch (header.type) {
        case FrameType::AuthHello:
            return decode_as<AuthHello>(header, body, limits);
        case FrameType::AuthChallenge:
            return decode_as<AuthChallenge>(header, body, limits);
        case FrameType::AuthResponse:
            return decode_as<AuthResponse>(header, body, limits);
        case FrameType::AuthWelcome:
            return decode_as<AuthWelcome>(header, body, limits);
        case FrameType::AuthRefuse:
            return decode_as<AuthRefuse>(header, body, limits);
        default:
            break;
    }
    VR_UNREACHABLE("handshake family type {} without a decoder", type_name(header.type));
}

}  // namespace vr::wire
