#include "coherence/table.h"

#include <fmt/format.h>

namespace vr::coherence {

std::string_view name(PState s) {
    switch (s) {
        case PState::I:
            return "I";
        case PState::S:
            return "S";
        case PState::M:
            return "M";
        case PState::IS_D:
            return "IS_D";
        case PState::IM_AD:
            return "IM_AD";
        case PState::SM_AD:
            return "SM_AD";
        case PState::SI_K:
            return "SI_K";
        case PState::MI_K:
            return "MI_K";
        case PState::MI_A:
            return "MI_A";
    }
    return "?";
}

std::string_view name(NodeEvent e) {
    switch (e) {
        case NodeEvent::Read:
            return "Read";
        case NodeEvent::Write:
            return "Write";
        case NodeEvent::Evict:
            return "Evict";
        case NodeEvent::KernelDone:
            return "KernelDone";
        case NodeEvent::DataS:
            return "DataS";
        case NodeEvent::DataM:
            return "DataM";
        case NodeEvent::Inv:
            return "Inv";
        case NodeEvent::RecallS:
            return "Recall(S)";
        case NodeEvent::RecallI:
            return "Recall(I)";
        case NodeEvent::PutAck:
            return "PutAck";
        case NodeEvent::Nack:
            return "Nack";
        case NodeEvent::Drop:
            return "Drop";
    }
    return "?";
}

std::string_view name(DState s) {
    switch (s) {
        case DState::U:
            return "U";
        case DState::Sh:
            return "Sh";
        case DState::Mo:
            return "Mo";
    }
    return "?";
}

std::string_view name(DirEvent e) {
    switch (e) {
        case DirEvent::GrantS:
            return "GrantS";
        case DirEvent::GrantM:
            return "GrantM";
        case DirEvent::InvSent:
            return "InvSent";
        case DirEvent::RecallAckS:
            return "RecallAck(S)";
        case DirEvent::RecallAckI:
            return "RecallAck(I)";
        case DirEvent::PutS:
            return "PutS";
        case DirEvent::PutM:
            return "PutM";
        case DirEvent::Forget:
            return "Forget";
    }
    return "?";
}

namespace {

using P = PState;
using E = NodeEvent;

// Node side. "held" means the message waits for the kernel invalidation issued in the same step
// (only when the kernel may hold a copy; otherwise it is sent at once and the row without
// KernelInvalidate applies).
constexpr NodeRow kNodeRows[] = {
    {P::I, E::Read, P::IS_D, "send GetS"},
    {P::S, E::Read, P::S, "hit"},
    {P::M, E::Read, P::M, "hit"},
    {P::SM_AD, E::Read, P::SM_AD, "hit (the S copy is still valid)"},
    {P::IS_D, E::Read, P::IS_D, "wait"},
    {P::IM_AD, E::Read, P::IM_AD, "wait"},
    {P::SI_K, E::Read, P::SI_K, "wait"},
    {P::MI_K, E::Read, P::MI_K, "wait"},
    {P::MI_A, E::Read, P::MI_A, "wait"},

    {P::I, E::Write, P::IM_AD, "send GetM"},
    {P::S, E::Write, P::SM_AD, "send GetM (upgrade)"},
    {P::M, E::Write, P::M, "apply the write"},
    {P::IS_D, E::Write, P::IS_D, "wait"},
    {P::IM_AD, E::Write, P::IM_AD, "wait"},
    {P::SM_AD, E::Write, P::SM_AD, "wait"},
    {P::SI_K, E::Write, P::SI_K, "wait"},
    {P::MI_K, E::Write, P::MI_K, "wait"},
    {P::MI_A, E::Write, P::MI_A, "wait"},

    {P::S, E::Evict, P::SI_K, "KernelInvalidate; PutS held"},
    {P::S, E::Evict, P::I, "send PutS (kernel holds no copy)"},
    {P::M, E::Evict, P::MI_K, "KernelInvalidate; PutM(data) held"},
    {P::M, E::Evict, P::MI_A, "send PutM(data) (kernel holds no copy)"},

    {P::SI_K, E::KernelDone, P::I, "send held PutS"},
    {P::MI_K, E::KernelDone, P::MI_A, "send held PutM"},

    {P::IS_D, E::DataS, P::S, "install data; complete waiting requests"},
    {P::IM_AD, E::DataM, P::M, "install data; complete waiting requests"},
    {P::SM_AD, E::DataM, P::M, "keep or replace data; complete waiting requests"},

    {P::S, E::Inv, P::I, "KernelInvalidate; InvAck held, or InvAck if the kernel holds no copy"},
    {P::SM_AD, E::Inv, P::IM_AD, "KernelInvalidate; InvAck held, or InvAck"},
    {P::I, E::Inv, P::I, "InvAck (the copy was already evicted)"},
    {P::IS_D, E::Inv, P::IS_D, "InvAck (old copy; the grant follows on the FIFO link)"},
    {P::IM_AD, E::Inv, P::IM_AD, "InvAck (old copy)"},
    {P::SI_K, E::Inv, P::SI_K, "InvAck held behind the eviction's invalidation"},

    {P::M, E::RecallS, P::S, "RecallAck(data)"},
    {P::MI_K, E::RecallS, P::MI_K, "RecallAck(data) held behind the eviction's invalidation"},
    {P::MI_A, E::RecallS, P::MI_A, "RecallAck(data) (the PutM crossed it)"},
    {P::M, E::RecallI, P::I, "KernelInvalidate; RecallAck(data) held, or RecallAck(data)"},
    {P::MI_K, E::RecallI, P::MI_K, "RecallAck(data) held behind the eviction's invalidation"},
    {P::MI_A, E::RecallI, P::MI_A, "RecallAck(data) (the PutM crossed it)"},

    {P::MI_A, E::PutAck, P::I, "forget the page"},

    {P::IS_D,
     E::Nack,
     P::I,
     "Busy: retry after a back-off; other errors fail the waiting requests"},
    {P::IM_AD, E::Nack, P::I, "as above"},
    {P::SM_AD, E::Nack, P::S, "as above"},

    {P::S, E::Drop, P::I, "discard"},
    {P::M, E::Drop, P::I, "reclaim to a restarted home, or mark the file's data lost"},
    {P::IS_D, E::Drop, P::I, "requests are re-sent in the new session"},
    {P::IM_AD, E::Drop, P::I, "requests are re-sent in the new session"},
    {P::SM_AD, E::Drop, P::I, "requests are re-sent in the new session"},
    {P::SI_K, E::Drop, P::I, "discard"},
    {P::MI_K, E::Drop, P::I, "reclaim or mark data lost"},
    {P::MI_A, E::Drop, P::I, "reclaim or mark data lost"},
};

using D = DState;
using DE = DirEvent;

constexpr DirRow kDirRows[] = {
    {D::U, DE::GrantS, D::Sh, "DataS from the store; add the requester"},
    {D::Sh, DE::GrantS, D::Sh, "DataS from the store; add the requester"},
    {D::U, DE::GrantM, D::Mo, "DataM; the requester becomes owner"},
    {D::Sh, DE::GrantM, D::Mo, "DataM (no data if the requester shares it); owner"},
    {D::Sh, DE::InvSent, D::Sh, "other sharers remain"},
    {D::Sh, DE::InvSent, D::U, "the last sharer was invalidated"},
    {D::Mo, DE::RecallAckS, D::Sh, "write back; the owner becomes a sharer"},
    {D::Mo, DE::RecallAckI, D::U, "write back; no copy remains"},
    {D::U, DE::RecallAckS, D::U, "owner already gone (PutM crossed): ignore data"},
    {D::U, DE::RecallAckI, D::U, "owner already gone: ignore data"},
    {D::Sh, DE::RecallAckS, D::Sh, "owner already gone: ignore data"},
    {D::Sh, DE::RecallAckI, D::Sh, "owner already gone: ignore data"},
    {D::Sh, DE::PutS, D::Sh, "remove the sender"},
    {D::Sh, DE::PutS, D::U, "remove the last sharer"},
    {D::U, DE::PutS, D::U, "stale (Inv crossed it): no-op"},
    {D::Mo, DE::PutS, D::Mo, "stale: no-op"},
    {D::Mo, DE::PutM, D::Mo, "another node owns it now: discard data; PutAck"},
    {D::Mo, DE::PutM, D::U, "write back; PutAck"},
    {D::U, DE::PutM, D::U, "not the owner (recalled or forgotten): discard data; PutAck"},
    {D::Sh, DE::PutM, D::Sh, "not the owner: discard data; PutAck"},
    {D::Mo, DE::Forget, D::U, "the owner's unsynced data is lost; revert to the store"},
    {D::Sh, DE::Forget, D::Sh, "other sharers remain"},
    {D::Sh, DE::Forget, D::U, "the last sharer is gone"},
};

}  // namespace

std::span<const NodeRow> node_table() {
    return kNodeRows;
}
std::span<const DirRow> dir_table() {
    return kDirRows;
}

int find_node_row(PState state, NodeEvent event, PState next) {
    for (size_t i = 0; i < std::size(kNodeRows); ++i) {
        const NodeRow& r = kNodeRows[i];
        if (r.state == state && r.event == event && r.next == next) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

int find_dir_row(DState state, DirEvent event, DState next) {
    for (size_t i = 0; i < std::size(kDirRows); ++i) {
        const DirRow& r = kDirRows[i];
        if (r.state == state && r.event == event && r.next == next) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::string tables_markdown() {
    std::string out;
    out += "### Node side: (page state × event) → next state\n\n";
    out += "| state | event | next | messages and effects |\n|---|---|---|---|\n";
    for (const NodeRow& r : kNodeRows) {
        out += fmt::format(
            "| `{}` | {} | `{}` | {} |\n", name(r.state), name(r.event), name(r.next), r.action);
    }
    out +=
        "\nEvents not listed for a state cannot happen for that state (a peer that sends them is\n"
        "violating the protocol: the engine logs it and ignores the message).\n";
    out += "\n### Home side: (directory page state × event) → next state\n\n";
    out += "| state | event | next | messages and effects |\n|---|---|---|---|\n";
    for (const DirRow& r : kDirRows) {
        out += fmt::format(
            "| `{}` | {} | `{}` | {} |\n", name(r.state), name(r.event), name(r.next), r.action);
    }
    return out;
}

}  // namespace vr::coherence
