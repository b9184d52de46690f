#include "node/home_state.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/posix.h"

namespace vr::node {

Result<HomeState> load_home_state(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) {
        return HomeState{};
    }
    std::ifstream in(path);
    if (!in) {
        return Status(Code::IoError, fmt::format("cannot read {}", path));
    }
    HomeState s;
    bool have_inc = false;
    bool have_dead = false;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty()) {
            continue;
        }
        std::istringstream words(line);
        std::string key;
        std::string value;
        std::string extra;
        words >> key >> value;
        bool ok = !value.empty() && !(words >> extra);
        char* end = nullptr;
        errno = 0;
        uint64_t v = ok ? std::strtoull(value.c_str(), &end, 0) : 0;
        ok = ok && errno == 0 && end != nullptr && *end == '\0' && value[0] != '-';
        if (ok && key == "incarnation" && !have_inc) {
            s.incarnation = v;
            have_inc = true;
        } else if (ok && key == "dead" && !have_dead) {
            s.dead = v;
            have_dead = true;
        } else {
            return Status(Code::Corrupt,
                          fmt::format("{} line {}: expected 'incarnation N' then 'dead MASK', "
                                      "got '{}'",
                                      path,
                                      number,
                                      line));
        }
    }
    if (in.bad() || !have_inc || !have_dead) {
        return Status(Code::Corrupt,
                      fmt::format("{}: incomplete (needs 'incarnation N' and 'dead MASK')", path));
    }
    return s;
}

Status save_home_state(const std::string& path, const HomeState& state) {
    std::string tmp = path + ".tmp";
    std::string text =
        fmt::format("incarnation {}\ndead {:#018x}\n", state.incarnation, state.dead);
    store::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
        return store::errno_status(errno, "open", tmp);
    }
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return store::errno_status(n < 0 ? errno : EIO, "write", tmp);
        }
        done += static_cast<size_t>(n);
    }
    if (::fdatasync(fd.get()) != 0) {
        return store::errno_status(errno, "fdatasync", tmp);
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        return store::errno_status(errno, "rename", path);
    }
    std::string dir = std::filesystem::path(path).parent_path().string();
    store::UniqueFd dfd(
        ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
        return store::errno_status(errno, "fsync", dir);
    }
    return Status::ok();
}

}  // namespace vr::node
