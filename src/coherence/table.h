// The protocol's transition tables, as data. The engine checks every transition it takes against
// them (VR_ASSERT, on in release builds), the simulator reports which rows it covered, and
// `vr_protocol_table` prints them into docs/design/protocol.md, where a test compares them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace vr::coherence {

enum class PState : uint8_t { I, S, M, IS_D, IM_AD, SM_AD, SI_K, MI_K, MI_A };
inline constexpr int kPStateCount = 9;

enum class NodeEvent : uint8_t {
    Read,        // a local read needs the page
    Write,       // a local write needs the page
    Evict,       // the cache (or a user) evicts the page
    KernelDone,  // the kernel dropped its copy (or a page-cache fill proved it has none)
    DataS,
    DataM,
    Inv,
    RecallS,
    RecallI,
    PutAck,
    Nack,
    Drop,  // session lost or home restarted: the page is discarded (M data reclaimed or lost)
};
inline constexpr int kNodeEventCount = 12;

// Directory page states at the home.
enum class DState : uint8_t { U, Sh, Mo };
inline constexpr int kDStateCount = 3;

enum class DirEvent : uint8_t {
    GrantS,      // GetS transaction completes: requester added to the sharers
    GrantM,      // GetM transaction completes: requester becomes the owner
    InvSent,     // a sharer is sent Inv and leaves the sharer set
    RecallAckS,  // the owner's data is written back and it becomes a sharer
    RecallAckI,  // the owner's data is written back and it keeps nothing
    PutS,
    PutM,
    Forget,  // a node died, restarted or rejoined
};
inline constexpr int kDirEventCount = 8;

std::string_view name(PState s);
std::string_view name(NodeEvent e);
std::string_view name(DState s);
std::string_view name(DirEvent e);

struct NodeRow {
    PState state;
    NodeEvent event;
    PState next;
    const char* action;
};

struct DirRow {
    DState state;
    DirEvent event;
    DState next;
    const char* action;
};

std::span<const NodeRow> node_table();
std::span<const DirRow> dir_table();

// Index of the row, or -1 when (state, event, next) is not in the table.
int find_node_row(PState state, NodeEvent event, PState next);
int find_dir_row(DState state, DirEvent event, DState next);

// The two tables as markdown, exactly as they appear in docs/design/protocol.md.
std::string tables_markdown();

}  // namespace vr::coherence
