// node/home_state: the durable record a home keeps across restarts (protocol.md §5).
#include "node/home_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace vr::node {
namespace {

class HomeStateFile : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vr-home-state-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/home-state";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    void write(const std::string& text) { std::ofstream(path_) << text; }
    std::string dir_;
    std::string path_;
};

TEST_F(HomeStateFile, AMissingFileIsAHomeThatNeverRan) {
    auto s = load_home_state(path_);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    EXPECT_EQ(s->incarnation, 0u);
    EXPECT_EQ(s->dead, 0u);
}

TEST_F(HomeStateFile, WhatIsSavedIsLoaded) {
    ASSERT_TRUE(save_home_state(path_, HomeState{1795939012345678, 0x8000000000000005}).is_ok());
    auto s = load_home_state(path_);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    EXPECT_EQ(s->incarnation, 1795939012345678u);
    EXPECT_EQ(s->dead, 0x8000000000000005u);
    EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
}

TEST_F(HomeStateFile, AMalformedFileIsAnErrorNamingTheLine) {
    for (const char* text : {"incarnation 7\n",                     // no dead line
                             "incarnation 7\ndead 0x1\nextra 1\n",  // unknown key
                             "incarnation -7\ndead 0\n",            // negative
                             "incarnation 7x\ndead 0\n",            // trailing garbage
                             "incarnation 7\nincarnation 8\ndead 0\n"}) {
        write(text);
        auto s = load_home_state(path_);
        ASSERT_FALSE(s.is_ok()) << text;
        EXPECT_EQ(s.status().code(), Code::Corrupt) << text;
        EXPECT_NE(s.status().context().find(path_), std::string::npos) << s.status().to_string();
    }
    write("incarnation 7\ndead 0\nbogus\n");
    EXPECT_NE(load_home_state(path_).status().context().find("line 3"), std::string::npos);
}

}  // namespace
}  // namespace vr::node
