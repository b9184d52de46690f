// Prints the protocol's transition tables as markdown, or with --update rewrites the generated
// section of docs/design/protocol.md in place.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "coherence/table.h"

int main(int argc, char** argv) {
    std::string tables = vr::coherence::tables_markdown();
    if (argc == 3 && std::string(argv[1]) == "--update") {
        std::ifstream in(argv[2]);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string doc = ss.str();
        const std::string begin = "<!-- BEGIN GENERATED TABLES -->\n";
        const std::string end = "<!-- END GENERATED TABLES -->";
        size_t b = doc.find(begin);
        size_t e = doc.find(end);
        if (b == std::string::npos || e == std::string::npos || e < b) {
            std::fprintf(stderr, "vr_protocol_table: markers not found in %s\n", argv[2]);
            return 1;
        }
        doc = doc.substr(0, b + begin.size()) + tables + doc.substr(e);
        std::ofstream(argv[2]) << doc;
        return 0;
    }
    std::cout << tables;
    return 0;
}
