// The handshake frames that open a peer link (mutual authentication; the crypto is in
// src/net/auth.h, this is only the codec):
//
//   initiator -> acceptor  AuthHello      version, cluster hash, encrypt wanted, nonce_i, name
//   acceptor  -> initiator AuthChallenge  version, cluster hash, encrypt agreed, nonce_a,
//                                         tag_a, name
//   initiator -> acceptor  AuthResponse   tag_i
//   acceptor  -> initiator AuthWelcome    encrypt (final): the link is up
//   either side            AuthRefuse     error code and reason, then close
//
// The cluster hash lets two nodes of different clusters (or with different configuration)
// tell each other so before any key is used. Node names are 1..64 bytes of [A-Za-z0-9._-].
// Handshake frames carry no data and their header id is 0.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "wire/frame.h"

namespace vr::wire {

// The same types as vr::net::Nonce and vr::net::Tag.
using Nonce = std::array<uint8_t, 32>;
using Tag = std::array<uint8_t, 32>;
inline constexpr size_t kNodeNameMax = 64;

struct AuthHello {
    uint16_t protocol_version = 1;  // the highest version the initiator speaks (>= 1)
    uint64_t cluster_hash = 0;
    bool encrypt = false;  // the initiator wants the link encrypted
    Nonce nonce{};
    std::string node_name;
    bool operator==(const AuthHello&) const = default;
};

struct AuthChallenge {
    uint16_t protocol_version = 1;  // the version the link will speak (>= 1)
    uint64_t cluster_hash = 0;
    bool encrypt = false;  // whether the link will be encrypted
    Nonce nonce{};
    Tag tag{};
    std::string node_name;
    bool operator==(const AuthChallenge&) const = default;
};

struct AuthResponse {
    Tag tag{};
    bool operator==(const AuthResponse&) const = default;
};

struct AuthWelcome {
    bool encrypt = false;
    bool operator==(const AuthWelcome&) const = default;
};

struct AuthRefuse {
    Code code = Code::PermissionDenied;  // never Ok
    std::string reason;                  // <= Limits::max_message bytes, no NUL
    bool operator==(const AuthRefuse&) const = default;
};

using Handshake = std::variant<AuthHello, AuthChallenge, AuthResponse, AuthWelcome, AuthRefuse>;

// Encodes one handshake frame (header and body) into `frame`, replacing its contents. Fails with
// InvalidArgument if a field breaks the rules the decoder checks.
Status encode_handshake(const Handshake& msg, const Limits& limits, std::vector<std::byte>& frame);

// Decodes a handshake frame whose header decode_header accepted: body length and CRC, id 0,
// every field (version >= 1, booleans 0/1, node names, known non-Ok refusal code).
Result<Handshake> decode_handshake(const FrameHeader& header,
                                   std::span<const std::byte> body,
                                   const Limits& limits);

}  // namespace vr::wire
