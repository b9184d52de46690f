#include "net/auth.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vr::net {

namespace {
void init_sodium() {
    static const int ok = sodium_init();
    VR_ASSERT(ok >= 0, "libsodium failed to initialise");
}
}  // namespace

ClusterKey key_from_secret(std::string_view secret) {
    init_sodium();
    ClusterKey k;
    crypto_hash_sha256(
        k.bytes.data(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
    return k;
}

Result<ClusterKey> load_cluster_key(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Status(Code::NotFound, fmt::format("cluster secret {} cannot be read", path));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string secret = ss.str();
    if (secret.size() < 32) {
        return Status(
            Code::InvalidArgument,
            fmt::format(
                "cluster secret {} has {} bytes; at least 32 are needed", path, secret.size()));
    }
    ClusterKey k = key_from_secret(secret);
    sodium_memzero(secret.data(), secret.size());
    return k;
}

Nonce random_nonce() {
    init_sodium();
    Nonce n;
    randombytes_buf(n.data(), n.size());
    return n;
}

Tag handshake_tag(const ClusterKey& key,
                  Role role,
                  const Nonce& nonce_i,
                  const Nonce& nonce_a,
                  std::string_view initiator_name,
                  std::string_view acceptor_name) {
    init_sodium();
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key.bytes.data(), key.bytes.size());
    std::string_view label = role == Role::Initiator ? "vremote-1 initiator" : "vremote-1 acceptor";
    auto add = [&](const void* p, size_t n) {
        crypto_auth_hmacsha256_update(&st, static_cast<const unsigned char*>(p), n);
    };
    // Length-prefix the variable fields so that no two inputs share an encoding.
    auto add_str = [&](std::string_view s) {
        uint32_t len = static_cast<uint32_t>(s.size());
        add(&len, sizeof len);
        add(s.data(), s.size());
    };
    add_str(label);
    add(nonce_i.data(), nonce_i.size());
    add(nonce_a.data(), nonce_a.size());
    add_str(initiator_name);
    add_str(acceptor_name);
    Tag t;
    crypto_auth_hmacsha256_final(&st, t.data());
    return t;
}

bool tags_equal(const Tag& a, const Tag& b) {
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

SessionKeys derive_session_keys(const ClusterKey& key,
                                Role role,
                                const Nonce& nonce_i,
                                const Nonce& nonce_a) {
    auto derive = [&](std::string_view label) {
        std::array<uint8_t, 32> out{};
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key.bytes.data(), key.bytes.size());
        crypto_auth_hmacsha256_update(
            &st, reinterpret_cast<const unsigned char*>(label.data()), label.size());
        crypto_auth_hmacsha256_update(&st, nonce_i.data(), nonce_i.size());
        crypto_auth_hmacsha256_update(&st, nonce_a.data(), nonce_a.size());
        crypto_auth_hmacsha256_final(&st, out.data());
        return out;
    };
    auto i_to_a = derive("vremote-1 key initiator->acceptor");
    auto a_to_i = derive("vremote-1 key acceptor->initiator");
    SessionKeys k;
    k.send = role == Role::Initiator ? i_to_a : a_to_i;
    k.receive = role == Role::Initiator ? a_to_i : i_to_a;
    return k;
}

bool ReplayGuard::seen_before(const Nonce& nonce) {
    if (seen_.count(nonce) != 0) {
        return true;
    }
    seen_.insert(nonce);
    order_.push_back(nonce);
    if (order_.size() > capacity_) {
        seen_.erase(order_.front());
        order_.pop_front();
    }
    return false;
}

uint64_t cluster_id(const ClusterKey& key, std::vector<std::string> node_names) {
    std::sort(node_names.begin(), node_names.end());
    std::string members;
    for (const auto& n : node_names) {
        members += n;
        members += '\n';
    }
    Tag t = handshake_tag(key, Role::Acceptor, Nonce{}, Nonce{}, "cluster-id", members);
    uint64_t h = 0;
    std::memcpy(&h, t.data(), sizeof h);
    return h;
}

}  // namespace vr::net
