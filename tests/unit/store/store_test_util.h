// Shared scaffolding of the store tests: a private scratch directory per test, small file
// helpers that bypass the store, and Status/Result assertions.
//
// Layout of a Sandbox (made with mkdtemp, removed afterwards without following symlinks):
//   /tmp/vr-store-XXXXXX/export/    the export root
//   /tmp/vr-store-XXXXXX/outside/   where escape tests put their sentinels
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"
#include "coherence/types.h"

namespace vr::store::testing {

#define VR_ASSERT_OK(expr)                                                       \
    do {                                                                         \
        const auto& vr_ok_tmp_ = (expr);                                         \
        ASSERT_TRUE(vr_ok_tmp_.is_ok())                                          \
            << #expr << ": " << ::vr::detail::status_of(vr_ok_tmp_).to_string(); \
    } while (0)

#define VR_EXPECT_OK(expr)                                                       \
    do {                                                                         \
        const auto& vr_ok_tmp_ = (expr);                                         \
        EXPECT_TRUE(vr_ok_tmp_.is_ok())                                          \
            << #expr << ": " << ::vr::detail::status_of(vr_ok_tmp_).to_string(); \
    } while (0)

// Expects an error with `expected_code` whose message contains `needle`.
#define VR_EXPECT_ERROR(expr, expected_code, needle)                                              \
    do {                                                                                          \
        const auto& vr_err_tmp_ = (expr);                                                         \
        const ::vr::Status vr_err_status_ = ::vr::detail::status_of(vr_err_tmp_);                 \
        EXPECT_EQ(vr_err_status_.code(), (expected_code))                                         \
            << #expr << " gave " << vr_err_status_.to_string();                                   \
        EXPECT_NE(vr_err_status_.to_string().find(needle), std::string::npos)                     \
            << #expr << ": '" << vr_err_status_.to_string() << "' does not mention '" << (needle) \
            << "'";                                                                               \
    } while (0)

class Sandbox {
  public:
    Sandbox() {
        char tmpl[] = "/tmp/vr-store-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            std::perror("mkdtemp");
            std::abort();
        }
        base_ = tmpl;
        std::filesystem::create_directory(root());
        std::filesystem::create_directory(outside());
    }
    ~Sandbox() {
        std::error_code ec;
        std::filesystem::remove_all(base_, ec);  // never follows symlinks
    }
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    const std::string& base() const { return base_; }
    std::string root() const { return base_ + "/export"; }
    std::string outside() const { return base_ + "/outside"; }
    std::string in_root(const std::string& rel) const { return root() + "/" + rel; }

  private:
    std::string base_;
};

inline void write_file(const std::string& path, const std::string& content) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
}

// Reads a whole file without touching its atime (O_NOATIME), so tests can use atime to prove
// that the store did not read a file.
inline std::string read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOATIME | O_CLOEXEC);
    if (fd < 0) {
        return "<cannot open: " + std::string(std::strerror(errno)) + ">";
    }
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

inline coherence::PageBuf page_of(size_t size, char fill) {
    return std::make_shared<const std::vector<std::byte>>(size, static_cast<std::byte>(fill));
}

inline std::string text_of(const coherence::PageBuf& page) {
    return std::string(reinterpret_cast<const char*>(page->data()), page->size());
}

}  // namespace vr::store::testing
