// The C API (libvremote.so, linked as a shared library) against FakeDaemon: descriptors, large
// reads and writes split into max_io chunks, short writes resumed, negative errno values with
// words in vr_last_error, timeouts that leave the client usable, a bad reply that disconnects
// it, and connecting through a node config or $VREMOTE_CONFIG.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <fstream>
#include <random>

#include "config/config.h"
#include "fake_daemon.h"
#include "vremote/vremote.h"

namespace vr::client {
namespace {

using test::FakeDaemon;
using test::Misbehave;

struct ClientDeleter {
    void operator()(vr_client* c) const { vr_disconnect(c); }
};
using Client = std::unique_ptr<vr_client, ClientDeleter>;

Client connect_to(const std::string& where) {
    Client c(vr_connect(where.c_str()));
    EXPECT_NE(c, nullptr) << where << ": " << vr_last_error();
    return c;
}

std::vector<std::byte> random_bytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::byte> out(n);
    for (auto& b : out) {
        b = static_cast<std::byte>(rng());
    }
    return out;
}

constexpr size_t kMiB = 1 << 20;

TEST(CApi, LargeWritesAndReadsGoInMaxIoChunks) {
    FakeDaemon d;
    Client c = connect_to(d.socket_path());
    ASSERT_NE(c, nullptr);
    int fd = vr_open(c.get(), "n1/big", VR_O_CREAT | VR_O_EXCL, 0600);
    ASSERT_GE(fd, 0) << vr_strerror(fd) << ": " << vr_last_error();
    EXPECT_EQ(fd, 0) << "the lowest free descriptor";

    const size_t size = 3 * kMiB + kMiB / 2 + 7;
    std::vector<std::byte> data = random_bytes(size, 1);
    ASSERT_EQ(vr_pwrite(c.get(), fd, data.data(), size, 100), static_cast<ssize_t>(size))
        << vr_last_error();
    std::vector<test::Seen> writes;
    for (const auto& s : d.seen()) {
        if (s.type == wire::FrameType::ClientWrite) {
            writes.push_back(s);
        }
    }
    ASSERT_EQ(writes.size(), 4u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(writes[i].offset, 100 + i * kMiB);
        EXPECT_EQ(writes[i].length, kMiB);
    }
    EXPECT_EQ(writes[3].length, kMiB / 2 + 7);
    std::vector<std::byte> stored = d.file("n1/big");
    ASSERT_EQ(stored.size(), size + 100);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), stored.begin() + 100));

    // Read more than there is: the whole file in chunks, short at the end.
    std::vector<std::byte> back(size + 1000);
    ASSERT_EQ(vr_pread(c.get(), fd, back.data(), back.size(), 100), static_cast<ssize_t>(size))
        << vr_last_error();
    EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin()));
    size_t reads = 0;
    for (const auto& s : d.seen()) {
        if (s.type == wire::FrameType::ClientRead) {
            EXPECT_LE(s.length, kMiB);
            ++reads;
        }
    }
    EXPECT_EQ(reads, 4u);
    EXPECT_EQ(vr_pread(c.get(), fd, back.data(), 10, size + 100), 0) << "at the end of the file";
    EXPECT_EQ(vr_pread(c.get(), fd, nullptr, 0, 0), 0);

    struct vr_stat st {};
    ASSERT_EQ(vr_stat(c.get(), "n1/big", &st), 0) << vr_last_error();
    EXPECT_EQ(st.size, size + 100);
    EXPECT_EQ(st.mode, 0100600u);
    EXPECT_EQ(vr_fsync(c.get(), fd), 0);
    EXPECT_EQ(vr_close(c.get(), fd), 0);
    EXPECT_EQ(d.open_handles(), 0u);
}

TEST(CApi, ShortWritesAreResumed) {
    FakeDaemon d;
    d.cap_writes(1000);
    Client c = connect_to(d.socket_path());
    ASSERT_NE(c, nullptr);
    int fd = vr_open(c.get(), "n1/f", VR_O_CREAT, 0644);
    ASSERT_GE(fd, 0) << vr_last_error();
    std::vector<std::byte> data = random_bytes(4500, 2);
    ASSERT_EQ(vr_pwrite(c.get(), fd, data.data(), data.size(), 0), 4500) << vr_last_error();
    EXPECT_EQ(d.file("n1/f"), data);
    EXPECT_EQ(d.seen().size(), 1u + 5u) << "open, then writes of 4500, 3500, 2500, 1500, 500";
}

TEST(CApi, AFailureAfterSomeChunksReturnsWhatWasDone) {
    FakeDaemon d;
    Client c = connect_to(d.socket_path());
    ASSERT_NE(c, nullptr);
    int fd = vr_open(c.get(), "n1/f", VR_O_CREAT, 0644);
    ASSERT_GE(fd, 0) << vr_last_error();
    d.fail_writes_after(1);
    std::vector<std::byte> data(3 * kMiB);
    EXPECT_EQ(vr_pwrite(c.get(), fd, data.data(), data.size(), 0), static_cast<ssize_t>(kMiB));
    EXPECT_EQ(vr_pwrite(c.get(), fd, data.data(), data.size(), kMiB), -ENOSPC);
    EXPECT_STREQ(vr_last_error(), "no space: the export is full");
}

TEST(CApi, ErrorsAreNegativeErrnoValuesWithWords) {
    FakeDaemon d;
    Client c = connect_to(d.socket_path());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(vr_open(c.get(), "n1/missing", 0, 0), -ENOENT);
    EXPECT_STREQ(vr_last_error(), "no such file: n1/missing does not exist");
    EXPECT_STREQ(vr_strerror(-ENOENT), "no such file");
    EXPECT_STREQ(vr_strerror(ETIMEDOUT), "timed out");
    EXPECT_STREQ(vr_strerror(-EIO), "i/o error");
    EXPECT_STREQ(vr_strerror(-ENOTCONN), "not connected to vremoted");
    EXPECT_STREQ(vr_strerror(-ECHILD), "No child processes") << "others: the C library's text";

    d.put_file("n1/f", {});
    EXPECT_EQ(vr_open(c.get(), "n1/f", VR_O_CREAT | VR_O_EXCL, 0644), -EEXIST);
    EXPECT_EQ(vr_open(c.get(), "n1/f", VR_O_EXCL, 0), -EINVAL) << "exclusive without create";
    EXPECT_EQ(vr_open(c.get(), "n1/f", VR_O_TRUNC | VR_O_RDONLY, 0), -EINVAL);
    EXPECT_EQ(vr_open(c.get(), "n1/f", 0x100, 0), -EINVAL);
    EXPECT_EQ(vr_open(c.get(), "n1/f", VR_O_CREAT, 010000), -EINVAL);
    EXPECT_EQ(vr_open(c.get(), "", 0, 0), -EINVAL);
    EXPECT_EQ(vr_open(c.get(), nullptr, 0, 0), -EINVAL);
    EXPECT_EQ(vr_open(nullptr, "n1/f", 0, 0), -EINVAL);
    char buf[4];
    EXPECT_EQ(vr_pread(c.get(), 0, buf, sizeof buf, 0), -EBADF) << "nothing is open";
    EXPECT_EQ(vr_pwrite(c.get(), -1, buf, sizeof buf, 0), -EBADF);
    EXPECT_EQ(vr_close(c.get(), 7), -EBADF);
    EXPECT_EQ(vr_fsync(c.get(), 0), -EBADF);
    struct vr_stat st {};
    EXPECT_EQ(vr_stat(c.get(), "n1/nothing", &st), -ENOENT);
    EXPECT_EQ(vr_set_timeout(c.get(), 0), -EINVAL);

    int fd = vr_open(c.get(), "n1/f", 0, 0);
    ASSERT_EQ(fd, 0) << vr_last_error();
    EXPECT_EQ(vr_pwrite(c.get(), fd, buf, 4, wire::kMaxFileBytes - 2), -EFBIG);
    EXPECT_EQ(vr_pread(c.get(), fd, buf, 4, wire::kMaxFileBytes), 0);
    int second = vr_open(c.get(), "n1/f", VR_O_RDONLY, 0);
    EXPECT_EQ(second, 1);
    EXPECT_EQ(vr_close(c.get(), fd), 0);
    EXPECT_EQ(vr_close(c.get(), fd), -EBADF) << "closed twice";
    EXPECT_EQ(vr_open(c.get(), "n1/f", 0, 0), 0) << "descriptor 0 is free again";
}

TEST(CApi, ATimeoutLeavesTheClientUsable) {
    FakeDaemon d;
    d.put_file("n1/f", {std::byte{1}, std::byte{2}});
    Client c = connect_to(d.socket_path());
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(vr_set_timeout(c.get(), 50), 0);
    d.hold(true);
    struct vr_stat st {};
    EXPECT_EQ(vr_stat(c.get(), "n1/f", &st), -ETIMEDOUT);
    EXPECT_NE(std::string(vr_last_error()).find("no reply from vremoted"), std::string::npos)
        << vr_last_error();
    d.hold(false);
    d.release();
    ASSERT_EQ(vr_set_timeout(c.get(), 10'000), 0);
    EXPECT_EQ(vr_stat(c.get(), "n1/f", &st), 0) << vr_last_error();
    EXPECT_EQ(st.size, 2u);
}

TEST(CApi, AMalformedReplyDisconnects) {
    FakeDaemon d;
    d.put_file("n1/f", {});
    Client c = connect_to(d.socket_path());
    ASSERT_NE(c, nullptr);
    int fd = vr_open(c.get(), "n1/f", 0, 0);
    ASSERT_GE(fd, 0);
    d.misbehave(Misbehave::Garbage);
    struct vr_stat st {};
    EXPECT_EQ(vr_stat(c.get(), "n1/f", &st), -EPROTO);
    EXPECT_NE(std::string(vr_last_error()).find("bad reply header from vremoted"),
              std::string::npos)
        << vr_last_error();
    d.misbehave(Misbehave::None);
    EXPECT_EQ(vr_stat(c.get(), "n1/f", &st), -ENOTCONN);
    EXPECT_NE(std::string(vr_last_error()).find("bad reply header"), std::string::npos)
        << vr_last_error();
    EXPECT_EQ(vr_close(c.get(), fd), -ENOTCONN) << "released; the daemon dropped it anyway";
    EXPECT_EQ(vr_close(c.get(), fd), -EBADF);
}

TEST(CApi, ConnectsThroughAConfigOrTheEnvironment) {
    FakeDaemon d;
    config::NodeConfig cfg;
    cfg.node.name = "n1";
    cfg.node.listen = config::Address{"127.0.0.1", 11041};
    cfg.node.data_dir = d.dir();  // client_socket defaults to data_dir/vremoted.sock
    cfg.node.client_socket = d.socket_path();
    cfg.cluster.secret_file = d.dir() + "/no-such-secret";
    std::string path = d.dir() + "/n1.toml";
    std::ofstream(path) << config::to_toml(cfg);

    Client by_config = connect_to(path);
    ASSERT_NE(by_config, nullptr);
    struct vr_stat st {};
    EXPECT_EQ(vr_stat(by_config.get(), "n1/none", &st), -ENOENT);

    ASSERT_EQ(::setenv("VREMOTE_CONFIG", path.c_str(), 1), 0);
    Client by_env(vr_connect(nullptr));
    ::unsetenv("VREMOTE_CONFIG");
    ASSERT_NE(by_env, nullptr) << vr_last_error();
    EXPECT_EQ(d.connections(), 2u);

    errno = 0;
    EXPECT_EQ(vr_connect((d.dir() + "/absent.sock").c_str()), nullptr);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(std::string(vr_last_error()),
              "cannot connect to vremoted at " + d.dir() +
                  "/absent.sock: No such file or directory (is vremoted running?)");
    errno = 0;
    EXPECT_EQ(vr_connect((d.dir() + "/absent.toml").c_str()), nullptr);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(std::string(vr_last_error()),
              d.dir() + "/absent.toml: cannot open: No such file or directory");
    vr_disconnect(nullptr);
}

}  // namespace
}  // namespace vr::client
