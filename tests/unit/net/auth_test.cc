// Handshake tags: both sides compute matching tags with the same key; a wrong key, swapped
// roles, another nonce or another name all give a different tag; replayed nonces are noticed.
#include "net/auth.h"

#include <gtest/gtest.h>

namespace vr::net {
namespace {

const ClusterKey kKey = key_from_secret("0123456789abcdef0123456789abcdef-cluster");

TEST(Auth, BothSidesAgreeAndEveryBindingMatters) {
    Nonce ni = random_nonce();
    Nonce na = random_nonce();
    Tag t = handshake_tag(kKey, Role::Initiator, ni, na, "n1", "n2");
    EXPECT_TRUE(tags_equal(t, handshake_tag(kKey, Role::Initiator, ni, na, "n1", "n2")));
    EXPECT_FALSE(tags_equal(t, handshake_tag(kKey, Role::Acceptor, ni, na, "n1", "n2"))) << "roles";
    EXPECT_FALSE(
        tags_equal(t, handshake_tag(kKey, Role::Initiator, ni, random_nonce(), "n1", "n2")))
        << "a fresh acceptor nonce defeats a replayed response";
    EXPECT_FALSE(tags_equal(t, handshake_tag(kKey, Role::Initiator, ni, na, "n3", "n2")))
        << "names";
    EXPECT_FALSE(tags_equal(t, handshake_tag(kKey, Role::Initiator, ni, na, "n1n", "2")))
        << "name boundaries";
    ClusterKey wrong = key_from_secret("another secret that is long enough......");
    EXPECT_FALSE(tags_equal(t, handshake_tag(wrong, Role::Initiator, ni, na, "n1", "n2"))) << "key";
}

TEST(Auth, SessionKeysPairUpAcrossRoles) {
    Nonce ni = random_nonce();
    Nonce na = random_nonce();
    SessionKeys i = derive_session_keys(kKey, Role::Initiator, ni, na);
    SessionKeys a = derive_session_keys(kKey, Role::Acceptor, ni, na);
    EXPECT_EQ(i.send, a.receive);
    EXPECT_EQ(i.receive, a.send);
    EXPECT_NE(i.send, i.receive);
}

TEST(Auth, ReplayGuardRemembersABoundedNumberOfNonces) {
    ReplayGuard g(2);
    Nonce a = random_nonce();
    Nonce b = random_nonce();
    Nonce c = random_nonce();
    EXPECT_FALSE(g.seen_before(a));
    EXPECT_TRUE(g.seen_before(a));
    EXPECT_FALSE(g.seen_before(b));
    EXPECT_FALSE(g.seen_before(c));  // evicts a
    EXPECT_FALSE(g.seen_before(a));
}

TEST(Auth, ShortSecretIsRefused) {
    auto r = load_cluster_key("/nonexistent/vremote.key");
    EXPECT_EQ(r.status().code(), Code::NotFound);
}

}  // namespace
}  // namespace vr::net
