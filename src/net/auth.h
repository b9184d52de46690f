// Mutual authentication of two nodes with the pre-shared cluster key (HMAC-SHA256, libsodium).
//
//   initiator -> acceptor: Hello     {initiator name, nonce_i}
//   acceptor -> initiator: Challenge {acceptor name, nonce_a, tag_a = HMAC(K, "acceptor" | ni | na
//   | names)} initiator -> acceptor: Response  {tag_i = HMAC(K, "initiator" | ni | na | names)}
//
// Each side proves it knows K, bound to both fresh nonces and to both node names, so a tag is
// useless for any other connection or peer: a replayed Response fails against a new nonce_a,
// and the acceptor also remembers recent nonce_i values to name a replayed Hello as such.
// Session keys for link encryption are derived from K and both nonces.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace vr::net {

using Nonce = std::array<uint8_t, 32>;
using Tag = std::array<uint8_t, 32>;

struct ClusterKey {
    std::array<uint8_t, 32> bytes{};
};

// Reads the secret file and derives the key (SHA-256 of its contents, at least 32 bytes).
Result<ClusterKey> load_cluster_key(const std::string& path);
ClusterKey key_from_secret(std::string_view secret);

Nonce random_nonce();

enum class Role : uint8_t { Initiator, Acceptor };

// The cluster id a node sends in its Hello: derived from the key (without revealing it) and from
// the cluster's node names (its own and its peers', in any order), since nodes number each other
// by their sorted names and must therefore agree on the list.
uint64_t cluster_id(const ClusterKey& key, std::vector<std::string> node_names);

// The tag a side of the given role must present.
Tag handshake_tag(const ClusterKey& key,
                  Role role,
                  const Nonce& nonce_i,
                  const Nonce& nonce_a,
                  std::string_view initiator_name,
                  std::string_view acceptor_name);

// Constant-time comparison.
bool tags_equal(const Tag& a, const Tag& b);

struct SessionKeys {
    std::array<uint8_t, 32> send{};
    std::array<uint8_t, 32> receive{};
};
SessionKeys derive_session_keys(const ClusterKey& key,
                                Role role,
                                const Nonce& nonce_i,
                                const Nonce& nonce_a);

// Remembers the most recent initiator nonces (bounded) to recognise a replayed Hello.
class ReplayGuard {
  public:
    explicit ReplayGuard(size_t capacity = 4096) : capacity_(capacity) {}
    // Returns true if the nonce was seen before; records it otherwise.
    bool seen_before(const Nonce& nonce);

  private:
    size_t capacity_;
    std::set<Nonce> seen_;
    std::deque<Nonce> order_;
};

}  // namespace vr::net
