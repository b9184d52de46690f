// vremote: the command-line client (see `vremote --help` and args.cc).
#include <string_view>
#include <vector>

#include "args.h"
#include "commands.h"

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto cmd = vr::cli::parse_args(args);
    vr::cli::Io io;
    if (!cmd.is_ok()) {
        vr::cli::fail(io, cmd.status().context());
        return 2;
    }
    return vr::cli::run(cmd.value(), io);
}
