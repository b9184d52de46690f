// The protocol's messages and the engine's effects. See docs/design/protocol.md, section 4.
// One struct carries every message type; fields a type does not use stay at their defaults. The
// wire codec (src/wire) encodes exactly the fields each type uses.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "coherence/types.h"

namespace vr::coherence {

#define VR_MESSAGE_TYPES(X) \
    X(Join)                 \
    X(JoinAck)              \
    X(Hello)                \
    X(LeaseRenew)           \
    X(LeaseGrant)           \
    X(Stale)                \
    X(GetS)                 \
    X(GetM)                 \
    X(DataS)                \
    X(DataM)                \
    X(Inv)                  \
    X(InvAck)               \
    X(Recall)               \
    X(RecallAck)            \
    X(PutS)                 \
    X(PutM)                 \
    X(PutAck)               \
    X(Fsync)                \
    X(FsyncAck)             \
    X(Reclaim)              \
    X(RecoverDone)          \
    X(Nack)

enum class MsgType : uint8_t {
#define VR_X(name) name,
    VR_MESSAGE_TYPES(VR_X)
#undef VR_X
};
inline constexpr int kMsgTypeCount = 0
#define VR_X(name) +1
    VR_MESSAGE_TYPES(VR_X)
#undef VR_X
    ;
std::string_view msg_name(MsgType t);

struct Message {
    MsgType type = MsgType::Nack;
    NodeId from = kNoNode;
    NodeId to = kNoNode;
    // Node to home: the session the home assigned. Home to node: the session it refers to.
    uint64_t session = 0;
    // Join: the node's incarnation. Home to node: the home's incarnation.
    uint64_t incarnation = 0;
    // Request id (GetS, GetM, Fsync and their answers) or transaction id (Inv, Recall, acks).
    uint64_t id = 0;
    FileId file;
    Range range;
    bool to_shared = false;   // Recall: downgrade to S (true) or to I (false)
    bool recovering = false;  // JoinAck: the home is recovering; reclaim M pages now
    Time time = 0;            // LeaseRenew / LeaseGrant: the renewal's send time, echoed
    Code status = Code::Ok;   // FsyncAck, Nack
    // Page contents, one per page of `range` (DataS, DataM with data, RecallAck, PutM, Reclaim).
    // In a RecallAck a null entry means "I do not own this page".
    std::vector<PageBuf> pages;
    // Home only: the adapter fills `pages` from the store when it sends the message (sendfile).
    bool data_from_store = false;
};

std::string to_string(const Message& m);
// True for the types a node sends to a home (the home's engine handles them); the others go
// from a home to a node.
bool is_home_bound(MsgType t);

enum class EffectKind : uint8_t {
    Send,              // msg
    KernelInvalidate,  // token, file, range: drop the kernel page cache's copy, then report back
    StoreWrite,        // file, range, pages: write pages to the origin store (home)
    StoreSync,         // token, file: make the store durable (fdatasync), then report back
    ReadDone,          // req, status, pages
    WriteDone,         // req, status
    FsyncDone,         // req, status
    HomeState,         // nodes: persist (durably, before any later effect) the nodes whose last
                       // session this home incarnation declared dead; see EngineConfig
};

struct Effect {
    EffectKind kind = EffectKind::Send;
    Message msg;
    uint64_t token = 0;
    uint64_t req = 0;
    FileId file;
    Range range;
    std::vector<PageBuf> pages;
    Status status;
    NodeMask nodes = 0;
};

std::string to_string(const Effect& e);

}  // namespace vr::coherence
