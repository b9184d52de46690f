// The example config installed as share/vremote/vremote.toml.example (packaging/) is a valid
// config: parse_config accepts it with file checks off (its secret and export directories exist
// only on a real machine), and it sets what README's install steps and the preload library use.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/config.h"

namespace vr::config {
namespace {

TEST(ExampleConfig, ParsesWithFileChecksOff) {
    std::ifstream in(VR_EXAMPLE_CONFIG);
    ASSERT_TRUE(in.good()) << VR_EXAMPLE_CONFIG;
    std::stringstream text;
    text << in.rdbuf();
    auto c = parse_config(text.str(), "vremote.toml.example", FileChecks::Off);
    ASSERT_TRUE(c.is_ok()) << c.status().context();
    EXPECT_EQ(c->node.name, "n1");
    EXPECT_EQ(c->node.mount, "/mnt/vremote");
    EXPECT_EQ(c->cluster.secret_file, "/etc/vremote/cluster.key");
    EXPECT_EQ(c->cluster.default_volume, "n1");
    EXPECT_EQ(c->peers.size(), 2u);
    ASSERT_EQ(c->exports.size(), 1u);
    EXPECT_EQ(c->exports[0].volume, "n1");
    // It round-trips like any config.
    auto back = parse_config(to_toml(c.value()), "again.toml", FileChecks::Off);
    ASSERT_TRUE(back.is_ok()) << back.status().context();
    EXPECT_EQ(back.value(), c.value());
}

}  // namespace
}  // namespace vr::config
