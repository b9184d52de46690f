// Frames: the unit of every vremote connection (peer links, the handshake that opens them, and
// the native client socket). A frame is a 32-byte header, a body whose layout is fixed per frame
// type, and an optional data section (page contents, or the bytes of a client read or write)
// that the transport moves between sockets and page buffers without copying it.
//
//   offset size field
//        0    4 magic     0x314D5256, "VRM1" in memory order
//        4    1 version   1
//        5    1 type      FrameType
//        6    2 flags     bit 0: the frame has a data section; bit 1: the data section is
//                         not checksummed (DataS/DataM only, see kFlagDataUnchecked); every
//                         other bit must be 0
//        8    4 body_len  bytes of body after the header (<= Limits::max_body)
//       12    4 data_len  bytes of data after the body (0 unless flag bit 0 is set)
//       16    8 id        request or transaction id (0 for types that have none)
//       24    4 body_crc  CRC32C of header bytes [0, 24) followed by the body
//       28    4 data_crc  CRC32C of the data section (0 without data or with unchecked data)
//
// All integers are little-endian. Receiving a frame takes three reads: the header (checked by
// decode_header before anything else is read, so a hostile length never allocates), the body,
// and the data straight into its final buffers; then the family's decoder (peer.h,
// handshake.h, client.h) checks the CRCs and every field. Every rejection is a Status whose
// context says what was wrong; the connection that sent it is closed. See docs/design/wire.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/status.h"

namespace vr::wire {

inline constexpr size_t kHeaderSize = 32;
inline constexpr uint32_t kMagic = 0x314D5256;  // bytes 'V' 'R' 'M' '1'
inline constexpr uint8_t kVersion = 1;
inline constexpr uint16_t kFlagData = 0x0001;
// The data section has no CRC (data_crc is 0). Only DataS and DataM may carry it, and only
// with kFlagData: it is for pages a home streams from the origin file with sendfile, which it
// never sees in user space and could only checksum by reading them first. TCP's checksum (and
// the AEAD tag on an encrypted link) covers those bytes; the header and body keep their CRC.
inline constexpr uint16_t kFlagDataUnchecked = 0x0002;
inline constexpr uint16_t kKnownFlags = kFlagData | kFlagDataUnchecked;
// The largest byte offset a file may reach (off_t): ranges and I/O must end at or below it.
inline constexpr uint64_t kMaxFileBytes = INT64_MAX;

// Bounds on everything a decoder accepts; both ends of a connection must agree on them (the
// handshake's protocol version pins the defaults). Every field is checked against them.
struct Limits {
    uint32_t max_body = 64 * 1024;  // bytes of frame body
    uint32_t page_size = 4096;      // bytes per page in peer data sections
    uint32_t max_pages = 256;       // pages per range (the engine's range_pages_max)
    uint32_t max_path = 4096;       // bytes of a client path
    uint32_t max_name = 255;        // bytes of a counter name (client Stats)
    uint32_t max_io = 1024 * 1024;  // bytes of one client read or write
    uint32_t max_message = 1024;    // bytes of a client Reply's message

    uint64_t max_page_data() const { return uint64_t{max_pages} * page_size; }
    // Whether the limits are usable: every bound fits its length prefix and the data limits fit
    // the header's 32-bit data_len. check() says which bound is wrong (for configuration).
    bool valid() const { return check().is_ok(); }
    Status check() const;
};

// Frame types and their families. Numbers are stable (they travel on the wire). Peer messages
// have the names of coherence::MsgType; heartbeats (ping.h) and metadata messages (meta.h)
// follow them on the peer links; the handshake (handshake.h) and the client protocol
// (client.h) have their own ranges. `data` is what the type's data section may hold.
#define VR_FRAME_TYPES(X)                    \
    X(Join, 1, Peer, None)                   \
    X(JoinAck, 2, Peer, None)                \
    X(Hello, 3, Peer, None)                  \
    X(LeaseRenew, 4, Peer, None)             \
    X(LeaseGrant, 5, Peer, None)             \
    X(Stale, 6, Peer, None)                  \
    X(GetS, 7, Peer, None)                   \
    X(GetM, 8, Peer, None)                   \
    X(DataS, 9, Peer, Pages)                 \
    X(DataM, 10, Peer, Pages)                \
    X(Inv, 11, Peer, None)                   \
    X(InvAck, 12, Peer, None)                \
    X(Recall, 13, Peer, None)                \
    X(RecallAck, 14, Peer, Pages)            \
    X(PutS, 15, Peer, None)                  \
    X(PutM, 16, Peer, Pages)                 \
    X(PutAck, 17, Peer, None)                \
    X(Fsync, 18, Peer, None)                 \
    X(FsyncAck, 19, Peer, None)              \
    X(Reclaim, 20, Peer, Pages)              \
    X(RecoverDone, 21, Peer, None)           \
    X(Nack, 22, Peer, None)                  \
    X(Ping, 23, Link, None)                  \
    X(Pong, 24, Link, None)                  \
    X(Volumes, 25, Meta, None)               \
    X(MetaRequest, 26, Meta, None)           \
    X(MetaReply, 27, Meta, None)             \
    X(AuthHello, 32, Handshake, None)        \
    X(AuthChallenge, 33, Handshake, None)    \
    X(AuthResponse, 34, Handshake, None)     \
    X(AuthWelcome, 35, Handshake, None)      \
    X(AuthRefuse, 36, Handshake, None)       \
    X(ClientOpen, 64, ClientRequest, None)   \
    X(ClientRead, 65, ClientRequest, None)   \
    X(ClientWrite, 66, ClientRequest, Bytes) \
    X(ClientFsync, 67, ClientRequest, None)  \
    X(ClientClose, 68, ClientRequest, None)  \
    X(ClientStat, 69, ClientRequest, None)   \
    X(ClientPages, 70, ClientRequest, None)  \
    X(ClientStats, 71, ClientRequest, None)  \
    X(ClientStatus, 72, ClientRequest, None) \
    X(Reply, 96, ClientReply, None)          \
    X(ReplyOpen, 97, ClientReply, None)      \
    X(ReplyRead, 98, ClientReply, Bytes)     \
    X(ReplyWrite, 99, ClientReply, None)     \
    X(ReplyStat, 100, ClientReply, None)     \
    X(ReplyPages, 101, ClientReply, None)    \
    X(ReplyStats, 102, ClientReply, None)    \
    X(ReplyStatus, 103, ClientReply, None)

enum class FrameType : uint8_t {
#define VR_X(name, number, family, data) name = number,
    VR_FRAME_TYPES(VR_X)
#undef VR_X
};

enum class Family : uint8_t {
    Unknown,
    Peer,           // coherence messages (peer.h)
    Link,           // heartbeats (ping.h)
    Meta,           // metadata requests and replies, the volume list (meta.h)
    Handshake,      // authentication (handshake.h)
    ClientRequest,  // client.h
    ClientReply,
};
// What a frame type's data section may hold: nothing, whole pages of Limits::page_size bytes,
// or up to Limits::max_io bytes.
enum class DataKind : uint8_t { None, Pages, Bytes };

Family family_of(FrameType type);  // Unknown for numbers that are not frame types
DataKind data_kind_of(FrameType type);
std::string_view type_name(FrameType type);  // "?" for numbers that are not frame types

struct FrameHeader {
    FrameType type = FrameType::Reply;
    uint16_t flags = 0;
    uint32_t body_len = 0;
    uint32_t data_len = 0;
    uint64_t id = 0;
    uint32_t body_crc = 0;
    uint32_t data_crc = 0;

    bool has_data() const { return (flags & kFlagData) != 0; }
    bool data_unchecked() const { return (flags & kFlagDataUnchecked) != 0; }
    bool operator==(const FrameHeader&) const = default;
};

// Serializes a header exactly as given (no checks; encoders fill body_crc themselves).
std::array<std::byte, kHeaderSize> encode_header(const FrameHeader& header);

// Decodes and checks the first kHeaderSize bytes of a frame: magic, version, known type, known
// flags, data flag set exactly when data_len > 0, data_crc 0 without data, the unchecked flag
// only with data on DataS/DataM and then data_crc 0, body_len and
// data_len within the limits and allowed for the type (whole pages for page data). The body
// and data are checked by the family's decoder.
Result<FrameHeader> decode_header(std::span<const std::byte> bytes, const Limits& limits);

// CRC32C of the header's first 24 bytes followed by the body: the value body_crc must hold.
uint32_t compute_body_crc(const FrameHeader& header, std::span<const std::byte> body);

// Checks that `body` is the header's body: exactly body_len bytes with the right CRC.
// The family decoders call it first.
Status check_body(const FrameHeader& header, std::span<const std::byte> body);

}  // namespace vr::wire
