// The transition tables in docs/design/protocol.md must be exactly the ones the engine checks
// its transitions against (coherence/table.cc). Regenerate with:
//   build/tools/vr_protocol_table --update docs/design/protocol.md
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "coherence/table.h"

namespace {
std::string g_doc_path;

TEST(ProtocolDoc, GeneratedTablesMatchTheCode) {
    std::ifstream in(g_doc_path);
    ASSERT_TRUE(in) << "cannot open " << g_doc_path;
    std::stringstream ss;
    ss << in.rdbuf();
    std::string doc = ss.str();
    const std::string begin = "<!-- BEGIN GENERATED TABLES -->\n";
    const std::string end = "<!-- END GENERATED TABLES -->";
    size_t b = doc.find(begin);
    size_t e = doc.find(end);
    ASSERT_NE(b, std::string::npos);
    ASSERT_NE(e, std::string::npos);
    std::string in_doc = doc.substr(b + begin.size(), e - b - begin.size());
    EXPECT_EQ(in_doc, vr::coherence::tables_markdown())
        << "docs/design/protocol.md is out of date: run build/tools/vr_protocol_table --update "
           "docs/design/protocol.md";
}

TEST(ProtocolDoc, EveryRowIsUnique) {
    auto rows = vr::coherence::node_table();
    for (size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(vr::coherence::find_node_row(rows[i].state, rows[i].event, rows[i].next),
                  static_cast<int>(i));
    }
    auto drows = vr::coherence::dir_table();
    for (size_t i = 0; i < drows.size(); ++i) {
        EXPECT_EQ(vr::coherence::find_dir_row(drows[i].state, drows[i].event, drows[i].next),
                  static_cast<int>(i));
    }
}
}  // namespace

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    if (argc > 1) {
        g_doc_path = argv[1];
    }
    return RUN_ALL_TESTS();
}
