// Metadata messages between nodes: what a node asks of the home of a volume besides pages
// (lookup, getattr, create, truncate, ...), and the list of volumes a node exports, which it
// announces to every peer after the handshake. They travel on the same authenticated link as
// the coherence messages (family Meta), so they are ordered with them.
//
//   Volumes{volumes}                 node -> peer, after every link-up (id 0)
//   MetaRequest{op, ...}             node -> home; InvalAttr, InvalEntry: home -> node
//                                    (id: the requester's rpc id, never 0)
//   MetaReply{code, message, ...}    the answer (id: the request's id)
//
// Paths are relative to the volume's export root ("" is the root), 0..max_path bytes without
// NUL; the codec does not resolve them (the home's store does, beneath its root). Names (Lookup,
// InvalEntry, path ops by ino) are one component: 1..255 bytes without '/' or NUL; but for
// Lookup's, not "." or "..". An ino is the home's engine ino (the export index in its top byte,
// see node/ino.h); the codec only checks it is not 0.
//
// A MetaRequest has one layout for every op: the fields an op does not use (see MetaOp) must be
// 0 or empty, and the encoder refuses, and the decoder rejects, a request where they are not.
// A MetaReply with an error code carries only the code and message; with Ok, the message is
// empty. Body layouts and every rule: docs/design/wire.md, "Metadata messages".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "wire/frame.h"

namespace vr::wire {

inline constexpr size_t kVolumesMax = 256;     // volumes one node may export
inline constexpr size_t kVolumeNameMax = 64;   // bytes; [A-Za-z0-9._-], not "." or ".."
inline constexpr size_t kMetaNameMax = 255;    // bytes of one path component
inline constexpr uint32_t kReaddirMax = 1024;  // entries per Readdir reply

struct VolumeInfo {
    std::string name;
    uint16_t index = 0;  // the export's index on its node (< kVolumesMax), unique per message
    bool read_only = false;
    uint64_t root_ino = 0;  // the engine ino of the export root (not 0)
    bool operator==(const VolumeInfo&) const = default;
};
struct VolumesMsg {
    std::vector<VolumeInfo> volumes;  // at most kVolumesMax, names unique
    bool operator==(const VolumesMsg&) const = default;
};

// Path ops take "volume, path" or "ino, name" (see MetaRequest).
enum class MetaOp : uint8_t {
    Lookup = 1,   // ino (the parent directory), name -> attr
    GetAttrPath,  // volume, path -> attr (a final symlink is described, not followed)
    GetAttr,      // ino -> attr
    Create,       // volume, path, mode, flags (kCreateExclusive) -> attr
    Mkdir,        // volume, path, mode -> attr
    Unlink,       // volume, path
    Rmdir,        // volume, path
    Rename,       // volume, path -> path2, flags (kRename*); by ino: ino, name -> ino2, name2
    Readdir,      // volume, path, cookie, count (1..kReaddirMax) -> entries, next_cookie, end
    Truncate,     // ino, size -> attr
    Extend,       // ino, size -> attr (grows to size, never shrinks)
    SetAttr,      // ino, change -> attr
    // Home -> node: drop what the node's kernel caches, then reply Ok (docs/design/node.md).
    InvalAttr,   // ino: the file's attributes (size, times, mode)
    InvalEntry,  // ino (a directory), name: the directory entry `name` in it
};
inline constexpr uint8_t kMetaOpMax = static_cast<uint8_t>(MetaOp::InvalEntry);

inline constexpr uint32_t kCreateExclusive = 1;  // Create: fail with Exists if the name is taken
inline constexpr uint32_t kRenameReplace = 0;
inline constexpr uint32_t kRenameNoReplace = 1;
inline constexpr uint32_t kRenameExchange = 2;

// File types in attributes and directory entries.
enum class MetaType : uint8_t { Other = 0, Regular = 1, Directory = 2, Symlink = 3 };

// SetAttr: only the fields that are set change.
struct MetaChange {
    std::optional<uint32_t> mode;  // permission bits <= 07777
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
    std::optional<int64_t> atime_ns;
    std::optional<int64_t> mtime_ns;
    bool operator==(const MetaChange&) const = default;
};

// Path ops (GetAttrPath, Create, Mkdir, Unlink, Rmdir, Rename, Readdir) name their file either
// by volume and export-relative path (ino 0), or, as the FUSE front end does, by a directory's
// ino (volume 0) and one name in it (Readdir: an empty path, the directory itself). A Rename
// with an ino names its target by ino2 (the target's directory, in the same volume) and path2
// (one name).
struct MetaRequest {
    MetaOp op = MetaOp::GetAttr;
    uint16_t volume = 0;  // path ops by path: the export index on the home
    uint64_t ino = 0;     // ino ops (Lookup: the parent directory); path ops: the directory or 0
    uint64_t ino2 = 0;    // Rename by ino: the target's directory; else 0
    std::string path;     // path ops; Lookup, InvalEntry: the name
    std::string path2;    // Rename: the target path (a name with ino2)
    uint32_t mode = 0;    // Create, Mkdir: permission bits <= 07777
    uint32_t flags = 0;   // Create: kCreateExclusive or 0; Rename: one kRename* value; else 0
    uint64_t size = 0;    // Truncate, Extend: <= kMaxFileBytes
    uint64_t cookie = 0;  // Readdir
    uint32_t count = 0;   // Readdir: 1..kReaddirMax
    MetaChange change;    // SetAttr (a set uid or gid is never UINT32_MAX, chown's "unchanged")
    bool operator==(const MetaRequest&) const = default;
};

struct MetaAttr {
    uint64_t ino = 0;
    MetaType type = MetaType::Other;
    uint32_t mode = 0;  // permission bits (07777)
    uint64_t size = 0;  // <= kMaxFileBytes
    uint64_t nlink = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const MetaAttr&) const = default;
};

struct MetaDirEntry {
    std::string name;  // one component, 1..kMetaNameMax bytes, unique within a reply
    uint64_t ino = 0;
    MetaType type = MetaType::Other;
    bool operator==(const MetaDirEntry&) const = default;
};

struct MetaReply {
    Code code = Code::Ok;
    std::string message;  // error context, <= Limits::max_message bytes, no NUL; empty if Ok
    std::optional<MetaAttr> attr;  // ops that return attributes, when code is Ok
    // Readdir: at most kReaddirMax, and no more than fit Limits::max_body (10 bytes and the
    // name each): the home stops early and continues from next_cookie.
    std::vector<MetaDirEntry> entries;
    uint64_t next_cookie = 0;  // Readdir
    bool end = false;          // Readdir
    bool operator==(const MetaReply&) const = default;
};

// Encoders write one whole frame (header and body; these frames have no data section) into
// `out`, replacing its contents. They fail with InvalidArgument if a field breaks a rule above
// or the body would exceed limits.max_body.
Status encode_volumes(const VolumesMsg& msg, const Limits& limits, std::vector<std::byte>& out);
Status encode_meta_request(uint64_t id,
                           const MetaRequest& req,
                           const Limits& limits,
                           std::vector<std::byte>& out);
Status encode_meta_reply(uint64_t id,
                         const MetaReply& reply,
                         const Limits& limits,
                         std::vector<std::byte>& out);

// Decoders take a frame whose header decode_header accepted, check the body length and CRC and
// every field, and reject anything else with a Status that says what was wrong.
Result<VolumesMsg> decode_volumes(const FrameHeader& header,
                                  std::span<const std::byte> body,
                                  const Limits& limits);
Result<MetaRequest> decode_meta_request(const FrameHeader& header,
                                        std::span<const std::byte> body,
                                        const Limits& limits);
Result<MetaReply> decode_meta_reply(const FrameHeader& header,
                                    std::span<const std::byte> body,
                                    const Limits& limits);

std::string_view meta_op_name(MetaOp op);
// True for an op that may run twice with the effect of once: those that only read, Extend
// (grows to a size, and is part of a write that has not completed), and the invalidations.
// A node sends these again when the link resets before their reply.
bool meta_op_may_repeat(MetaOp op);

}  // namespace vr::wire
