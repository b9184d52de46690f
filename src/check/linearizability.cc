#include "check/linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace vr::check {

namespace {
std::string op_string(const RegisterOp& op) {
    std::string end = op.complete == kPending ? "pending" : fmt::format("{}", op.complete);
    return fmt::format("{} {} {} [{}, {}]",
                       op.who,
                       op.kind == RegisterOp::Kind::Read ? "read" : "write",
                       op.value,
                       op.invoke,
                       end);
}

struct Zone {
    uint64_t value;
    int64_t lo;
    int64_t hi;
};
}  // namespace

std::string Violation::to_string() const {
    std::string s = what;
    for (const RegisterOp& op : ops) {
        s += "\n    ";
        s += op_string(op);
    }
    return s;
}

std::optional<Violation> check_register(const std::vector<RegisterOp>& ops, uint64_t initial) {
    constexpr int64_t kBefore = std::numeric_limits<int64_t>::min() / 2;
    struct Cluster {
        const RegisterOp* write = nullptr;
        RegisterOp initial_write;
        std::vector<const RegisterOp*> reads;
    };
    std::map<uint64_t, Cluster> clusters;
    Cluster& init = clusters[initial];
    init.initial_write =
        RegisterOp{RegisterOp::Kind::Write, initial, kBefore, kBefore + 1, "initial value"};
    init.write = &init.initial_write;
    for (const RegisterOp& op : ops) {
        if (op.kind == RegisterOp::Kind::Write) {
            Cluster& c = clusters[op.value];
            if (c.write != nullptr) {
                return Violation{fmt::format("value {} written twice", op.value), {*c.write, op}};
            }
            c.write = &op;
        }
    }
    for (const RegisterOp& op : ops) {
        if (op.kind != RegisterOp::Kind::Read) {
            continue;
        }
        auto it = clusters.find(op.value);
        if (it == clusters.end() || it->second.write == nullptr) {
            return Violation{fmt::format("read returned {}, which no write stored", op.value),
                             {op}};
        }
        if (op.complete < it->second.write->invoke) {
            return Violation{"read returned a value before its write began",
                             {*it->second.write, op}};
        }
        it->second.reads.push_back(&op);
    }
    std::vector<Zone> forward;
    std::vector<Zone> backward;
    for (const auto& [value, c] : clusters) {
        if (c.reads.empty() && c.write->complete == kPending) {
            continue;  // a write of unknown outcome that nobody saw: it may not have happened
        }
        int64_t f = c.write->complete;
        int64_t s = c.write->invoke;
        for (const RegisterOp* r : c.reads) {
            f = std::min(f, r->complete);
            s = std::max(s, r->invoke);
        }
        if (f < s) {
            forward.push_back(Zone{value, f, s});
        } else {
            backward.push_back(Zone{value, s, f});
        }
    }
    auto involved = [&](uint64_t value) {
        std::vector<RegisterOp> out;
        const Cluster& c = clusters.at(value);
        out.push_back(*c.write);
        for (const RegisterOp* r : c.reads) {
            out.push_back(*r);
        }
        return out;
    };
    std::sort(
        forward.begin(), forward.end(), [](const Zone& a, const Zone& b) { return a.lo < b.lo; });
    for (size_t i = 1; i < forward.size(); ++i) {
        if (forward[i].lo < forward[i - 1].hi) {
            std::vector<RegisterOp> both = involved(forward[i - 1].value);
            std::vector<RegisterOp> other = involved(forward[i].value);
            both.insert(both.end(), other.begin(), other.end());
            return Violation{fmt::format("values {} and {} were each observed after the other was",
                                         forward[i - 1].value,
                                         forward[i].value),
                             both};
        }
    }
    for (const Zone& b : backward) {
        // The forward zone starting last before b.lo is the only candidate to contain b
        // (forward zones are disjoint, hence ordered by both ends).
        auto it =
            std::upper_bound(forward.begin(), forward.end(), b.lo, [](int64_t lo, const Zone& z) {
                return lo < z.lo;
            });
        if (it == forward.begin()) {
            continue;
        }
        --it;
        if (it->lo < b.lo && b.hi < it->hi) {
            std::vector<RegisterOp> both = involved(it->value);
            std::vector<RegisterOp> other = involved(b.value);
            both.insert(both.end(), other.begin(), other.end());
            return Violation{
                fmt::format("stale read: value {} was observed after value {} replaced it",
                            it->value,
                            b.value),
                both};
        }
    }
    return std::nullopt;
}

}  // namespace vr::check
