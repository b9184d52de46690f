// `vremote warmup`: its arguments, where PATH is, the walk (recursive, symbolic links not
// followed, other file kinds skipped), byte and file counts, per-file errors, the summary, and
// the progress bar on a real terminal (a pseudo-terminal).
#include "warmup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "args.h"
#include "commands.h"

namespace vr::cli {
namespace {

namespace fs = std::filesystem;

Command parsed(std::vector<std::string_view> args) {
    auto r = parse_args(args);
    EXPECT_TRUE(r.is_ok()) << r.status().context();
    return r.is_ok() ? r.value() : Command{};
}

std::string usage_error(std::vector<std::string_view> args) {
    auto r = parse_args(args);
    EXPECT_FALSE(r.is_ok());
    return r.is_ok() ? "" : r.status().context();
}

TEST(WarmupArgs, TakesAnyPathAndConfig) {
    Command c = parsed({"warmup", "n1", "--config", "x.toml"});
    EXPECT_EQ(c.verb, Verb::Warmup);
    EXPECT_EQ(c.path, "n1");
    EXPECT_EQ(c.config, "x.toml");
    EXPECT_EQ(parsed({"warmup", "/mnt/vremote/n1/data"}).path, "/mnt/vremote/n1/data");
    EXPECT_EQ(parsed({"warmup", "./here"}).path, "./here");
    EXPECT_NE(usage_error({"warmup"}).find("warmup: which file? (PATH)"), std::string::npos);
    EXPECT_NE(usage_error({"warmup", "a", "b"}).find("warmup: unexpected argument \"b\""),
              std::string::npos);
    EXPECT_NE(usage_error({"warmup", ""}).find("warmup: the path is empty"), std::string::npos);
    EXPECT_NE(usage_error({"warmup", "n1", "--offset", "3"}).find("unknown option --offset"),
              std::string::npos);
    Command help = parsed({"warmup", "--help"});
    EXPECT_EQ(help.verb, Verb::Help);
    EXPECT_TRUE(help.help.starts_with("usage: vremote warmup PATH [--config FILE]\n")) << help.help;
    EXPECT_NE(parsed({"--help"}).help.find("warmup PATH"), std::string::npos);
}

TEST(WarmupFormat, BytesProgressAndSummary) {
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(1023), "1023 B");
    EXPECT_EQ(format_bytes(1536), "1.5 KiB");
    EXPECT_EQ(format_bytes(uint64_t{3} << 30), "3.0 GiB");
    WarmupProgress p;
    p.bytes = 3 << 20;
    p.total_bytes = 12 << 20;
    p.files = 1;
    p.total_files = 4;
    EXPECT_EQ(format_progress(p), " 25% [######..................] 3.0 MiB / 12.0 MiB  1/4 files");
    p.errors = 2;
    EXPECT_TRUE(format_progress(p).ends_with("1/4 files, 2 errors"));
    p.bytes = p.total_bytes + 5;  // the tree grew since it was counted
    EXPECT_TRUE(format_progress(p).starts_with("100% [########################]"));
    EXPECT_LE(format_progress(p).size(), 79u);
    WarmupProgress empty;
    EXPECT_EQ(format_progress(empty), "100% [########################] 0 B / 0 B  0/0 files");
    p = {};
    p.files = 2;
    p.bytes = 2 << 20;
    EXPECT_EQ(format_warmup_summary("n1/d", p, 2.0),
              "warmup n1/d: 2 files, 2.0 MiB in 2.00 s "
              "(1.0 MiB/s)\n");
    p.files = 1;
    p.errors = 1;
    EXPECT_EQ(format_warmup_summary("x", p, 0), "warmup x: 1 file, 2.0 MiB in 0.00 s, 1 error\n");
}

class Warmup : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "vr_warmup_test.XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        t_ = pattern;
        fs::permissions(t_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
        // The stand-in mount: volume n1 with a tree.
        write(t_ + "/mnt/n1/big", std::string((3 << 20) + 12345, 'b'));
        write(t_ + "/mnt/n1/dir/empty", "");
        write(t_ + "/mnt/n1/dir/c", std::string(100, 'c'));
        write(t_ + "/mnt/n1/dir/deep/er/d", "d");
        write(t_ + "/outside", std::string(999, 'o'));
        fs::create_symlink(t_ + "/outside", t_ + "/mnt/n1/dir/link");     // not followed
        fs::create_directory_symlink(t_, t_ + "/mnt/n1/dir/loop");        // not followed
        ASSERT_EQ(::mkfifo((t_ + "/mnt/n1/dir/fifo").c_str(), 0644), 0);  // skipped
        write(t_ + "/n1.toml",
              "[node]\nname = \"n1\"\nlisten = \"127.0.0.1:1\"\nmount = \"" + t_ +
                  "/mnt/\"\n\n[cluster]\nsecret_file = \"/nonexistent/secret\"\n");
        write(t_ + "/nomount.toml",
              "[node]\nname = \"n1\"\nlisten = \"127.0.0.1:1\"\n\n[cluster]\n"
              "secret_file = \"/nonexistent/secret\"\n");
        for (auto [fd, name] : {std::pair{&io_.out, "out"}, {&io_.err, "err"}}) {
            *fd =
                ::open((t_ + "/io." + name).c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            ASSERT_GE(*fd, 0);
        }
    }
    void TearDown() override {
        ::close(io_.out);
        ::close(io_.err);
        fs::remove_all(t_);
    }
    // Writes a file readable by all, in directories all may list (within t_).
    void write(const std::string& path, std::string_view text) const {
        fs::create_directories(fs::path(path).parent_path());
        for (fs::path p = fs::path(path).parent_path(); p.string().size() > t_.size();
             p = p.parent_path()) {
            fs::permissions(p,
                            fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec |
                                fs::perms::group_read | fs::perms::others_read);
        }
        std::ofstream(path, std::ios::binary) << text;
        fs::permissions(path,
                        fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
    }
    static std::string contents(int fd) {
        std::string s(static_cast<size_t>(::lseek(fd, 0, SEEK_END)), '\0');
        EXPECT_EQ(::pread(fd, s.data(), s.size(), 0), static_cast<ssize_t>(s.size()));
        return s;
    }
    int warmup(std::vector<std::string_view> args) {
        for (int fd : {io_.out, io_.err}) {
            if (::isatty(fd) == 0) {
                EXPECT_EQ(::ftruncate(fd, 0), 0);
                EXPECT_EQ(::lseek(fd, 0, SEEK_SET), 0);
            }
        }
        args.insert(args.begin(), "warmup");
        auto cmd = parse_args(args);
        EXPECT_TRUE(cmd.is_ok()) << cmd.status().context();
        return cmd.is_ok() ? run(cmd.value(), io_) : 2;
    }
    std::string out() const { return contents(io_.out); }
    std::string err() const { return contents(io_.err); }

    std::string t_;
    Io io_;
};

// "warmup P: F files, B in ..." as (F, B).
std::pair<uint64_t, std::string> summary_of(const std::string& out) {
    std::smatch m;
    static const std::regex re(
        "^warmup [^:]+: ([0-9]+) files?, ([0-9.]+ [KMG]?i?B) in [0-9.]+ s"
        "( \\([^)]*\\))?(, [0-9]+ errors?)?\n$");
    if (!std::regex_match(out, m, re)) {
        ADD_FAILURE() << "not a summary: " << out;
        return {0, ""};
    }
    return {std::stoull(m[1].str()), m[2].str()};
}

TEST_F(Warmup, ReadsEveryRegularFileOfATree) {
    ASSERT_EQ(warmup({"n1", "--config", t_ + "/n1.toml"}), 0) << err();
    EXPECT_EQ(err(), "") << "not a terminal: no progress bar";
    EXPECT_TRUE(out().starts_with("warmup n1: ")) << out();
    // big + c + d + empty: the link, the directory link and the FIFO are not read.
    EXPECT_EQ(summary_of(out()),
              std::make_pair(uint64_t{4}, format_bytes((3 << 20) + 12345 + 101)));

    // A single file, and paths on the mount given directly.
    ASSERT_EQ(warmup({"n1/dir/c", "--config", t_ + "/n1.toml"}), 0) << err();
    EXPECT_EQ(summary_of(out()), std::make_pair(uint64_t{1}, std::string("100 B")));
    ASSERT_EQ(warmup({t_ + "/mnt/n1/dir"}), 0) << err();
    EXPECT_EQ(summary_of(out()), std::make_pair(uint64_t{3}, std::string("101 B")));
    ASSERT_EQ(warmup({t_ + "/mnt/n1/dir/link"}), 0) << "a root that is a link is followed";
    EXPECT_EQ(summary_of(out()), std::make_pair(uint64_t{1}, std::string("999 B")));
}

TEST_F(Warmup, VolumePathsNeedAConfigWithAMount) {
    EXPECT_EQ(warmup({"n1", "--config", t_ + "/nomount.toml"}), 1);
    EXPECT_NE(err().find("vremote: warmup n1: read as VOLUME/PATH on the mount, but"),
              std::string::npos)
        << err();
    EXPECT_NE(err().find("sets no node.mount"), std::string::npos) << err();
    EXPECT_EQ(warmup({"n1", "--config", t_ + "/absent.toml"}), 1);
    EXPECT_NE(err().find("absent.toml"), std::string::npos) << err();
    EXPECT_EQ(out(), "");
}

TEST_F(Warmup, MissingPathsAndOddRootsAreErrors) {
    EXPECT_EQ(warmup({"n1/nothing", "--config", t_ + "/n1.toml"}), 1);
    EXPECT_EQ(err(), "vremote: warmup " + t_ + "/mnt/n1/nothing: No such file or directory\n");
    EXPECT_EQ(summary_of(out()), std::make_pair(uint64_t{0}, std::string("0 B")));
    EXPECT_TRUE(out().ends_with(", 1 error\n")) << out();
    EXPECT_EQ(warmup({t_ + "/mnt/n1/dir/fifo"}), 1);
    EXPECT_NE(err().find("dir/fifo: Invalid argument"), std::string::npos) << err();
}

TEST_F(Warmup, AFileThatCannotBeReadIsReportedAndTheRestIsRead) {
    // Unreadable for anyone but root: the walk runs in a child without root's rights.
    write(t_ + "/mnt/n1/dir/secret", "s");
    fs::permissions(t_ + "/mnt/n1/dir/secret", fs::perms::none);
    std::string config = t_ + "/n1.toml";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::geteuid() == 0) {
            const passwd* nobody = ::getpwnam("nobody");
            if (nobody == nullptr || ::setgid(nobody->pw_gid) != 0 ||
                ::setuid(nobody->pw_uid) != 0) {
                ::_exit(100);
            }
        }
        auto cmd = parse_args(std::vector<std::string_view>{"warmup", "n1", "--config", config});
        ::_exit(cmd.is_ok() ? run(cmd.value(), io_) : 101);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1) << err();
    EXPECT_EQ(err(), "vremote: warmup " + t_ + "/mnt/n1/dir/secret: Permission denied\n");
    EXPECT_EQ(summary_of(out()),
              std::make_pair(uint64_t{4}, format_bytes((3 << 20) + 12345 + 101)));
    EXPECT_TRUE(out().ends_with(", 1 error\n")) << out();
}

TEST_F(Warmup, DrawsAProgressBarOnATerminal) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(master, 0);
    ASSERT_EQ(::grantpt(master), 0);
    ASSERT_EQ(::unlockpt(master), 0);
    int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    ASSERT_GE(slave, 0);
    ::close(io_.err);
    io_.err = slave;
    ASSERT_EQ(warmup({"n1", "--config", t_ + "/n1.toml"}), 0);
    // What the terminal received (a few short lines; the pty holds them all).
    ASSERT_EQ(::fcntl(master, F_SETFL, O_NONBLOCK), 0);
    std::string screen;
    char buf[4096];
    for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) {
        screen.append(buf, static_cast<size_t>(n));
    }
    ::close(master);
    EXPECT_TRUE(screen.starts_with("\r  0% [........................] 0 B / 3.0 MiB  0/4 files"))
        << screen;
    std::string last = "\r100% [########################] 3.0 MiB / 3.0 MiB  4/4 files\033[K";
    EXPECT_NE(screen.find(last + "\r\n"), std::string::npos) << screen;
    EXPECT_EQ(summary_of(out()),
              std::make_pair(uint64_t{4}, format_bytes((3 << 20) + 12345 + 101)));
}

}  // namespace
}  // namespace vr::cli
