// libvremote-preload.so end to end: a probe program (probe.c) and the seed README's example
// program (seed_example.c, unchanged) run under LD_PRELOAD with VREMOTE_CONFIG pointing at
// generated node configs whose node.mount is a temporary directory standing in for the vremote
// mount (one directory per volume). Each case checks which file the descriptor really is
// (/proc/self/fd), its flags and size, the errno of refused opens, and what went to stderr.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "vremote/fcntl.h"

namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::string& path, std::string_view text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    ASSERT_TRUE(out.good()) << path;
}

// The permission bits of `path` as the probe prints them ("0644").
std::string mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", st.st_mode & 07777);
    return buf;
}

size_t count_lines(const std::string& text) {
    size_t n = 0;
    for (char c : text) {
        n += c == '\n' ? 1 : 0;
    }
    return n;
}

struct Outcome {
    int status = -1;  // exit status, or -1 if it did not exit
    std::string out;
    std::string err;
};

// F_GETFL shows the kernel's O_LARGEFILE on every 64-bit open.
#if defined(__x86_64__)
constexpr int kLargefile = 0100000;
#else
constexpr int kLargefile = 0400000;
#endif

std::string hex(int flags) {
    std::ostringstream s;
    s << "0x" << std::hex << flags;
    return s.str();
}

class Preload : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "vr_preload_test.XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        char real[PATH_MAX];
        ASSERT_NE(::realpath(pattern.c_str(), real), nullptr);
        t_ = real;
        origin_bytes_ = std::string(300, 'o');
        for (size_t i = 0; i < origin_bytes_.size(); i += 7) {
            origin_bytes_[i] = static_cast<char>('a' + i % 26);
        }
        // The stand-in mount: volumes n1 and n2. The mount shows each origin's bytes.
        write_file(t_ + "/mnt/n1/f.txt", "mount n1 f\n");
        write_file(t_ + "/mnt/n1/sub/g.txt", "mount n1 g\n");
        write_file(t_ + "/mnt/n1/myfile.txt", origin_bytes_);
        write_file(t_ + "/mnt/n2/f.txt", "mount n2 f\n");
        write_file(t_ + "/mnt/n2/sub/h.txt", "mount n2 h\n");
        // n1's export (node n1 is the origin of volume n1), and a directory outside everything.
        write_file(t_ + "/n1/export/f.txt", "export n1 f\n");
        write_file(t_ + "/n1/export/sub/g.txt", "export n1 g\n");
        write_file(t_ + "/n1/export/myfile.txt", origin_bytes_);
        write_file(t_ + "/elsewhere/f.txt", "local f\n");
        write_file(t_ + "/elsewhere/myfile.txt", "decoy!\n");
        fs::create_directories(t_ + "/n2/export");

        write_config("n1", "", {"n1"});
        write_config("n2", "default_volume = \"n1\"\n", {"n2"});
        write_config("n3", "", {});
        write_file(t_ + "/nomount.toml",
                   "[node]\nname = \"n1\"\nlisten = \"127.0.0.1:1\"\n\n[cluster]\n"
                   "secret_file = \"/nonexistent/secret\"\n");
        write_file(t_ + "/bad.toml",
                   "[node]\nname = \"n1\"\nlisten = 17\n\n[cluster]\n"
                   "secret_file = \"/nonexistent/secret\"\n");
    }
    void TearDown() override { fs::remove_all(t_); }

    // Node `name`'s config: the stand-in mount, its exports under T/<volume>/export.
    void write_config(const std::string& name,
                      const std::string& cluster_extra,
                      const std::vector<std::string>& exports) {
        std::string text = "[node]\nname = \"" + name + "\"\nlisten = \"127.0.0.1:1\"\nmount = \"" +
                           t_ + "/mnt\"\n\n[cluster]\nsecret_file = \"/nonexistent/secret\"\n" +
                           cluster_extra;
        for (const std::string& v : exports) {
            text +=
                "\n[[exports]]\nvolume = \"" + v + "\"\npath = \"" + t_ + "/" + v + "/export\"\n";
        }
        write_file(t_ + "/" + name + ".toml", text);
    }

    // Runs `argv` in `cwd` with only LD_PRELOAD, VREMOTE_CONFIG and `env` in its environment.
    Outcome run(const std::vector<std::string>& argv,
                const std::string& config,
                const std::string& cwd,
                const std::vector<std::string>& env = {},
                bool preload = true) {
        std::vector<std::string> envs = env;
        if (preload) {
            envs.push_back(std::string("LD_PRELOAD=") + VR_PRELOAD_LIB);
        }
        if (!config.empty()) {
            envs.push_back("VREMOTE_CONFIG=" + config);
        }
        std::string out_path = t_ + "/run.out";
        std::string err_path = t_ + "/run.err";
        pid_t pid = ::fork();
        if (pid == 0) {
            int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            int in = ::open("/dev/null", O_RDONLY);
            if (out < 0 || err < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 ||
                ::dup2(err, 2) < 0 || ::chdir(cwd.c_str()) != 0) {
                ::_exit(126);
            }
            std::vector<char*> args;
            for (const std::string& a : argv) {
                args.push_back(const_cast<char*>(a.c_str()));
            }
            args.push_back(nullptr);
            std::vector<char*> envp;
            for (const std::string& e : envs) {
                envp.push_back(const_cast<char*>(e.c_str()));
            }
            envp.push_back(nullptr);
            ::execve(args[0], args.data(), envp.data());
            ::_exit(127);
        }
        Outcome r;
        int status = 0;
        EXPECT_EQ(::waitpid(pid, &status, 0), pid);
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        r.out = read_file(out_path);
        r.err = read_file(err_path);
        return r;
    }

    // preload_probe ARGS (see probe.c) as node `node` ("n1": T/n1.toml), in `cwd`.
    Outcome probe(const std::string& node,
                  const std::vector<std::string>& args,
                  const std::string& cwd,
                  const std::vector<std::string>& env = {}) {
        std::vector<std::string> argv = {VR_PRELOAD_PROBE};
        argv.insert(argv.end(), args.begin(), args.end());
        Outcome r = run(
            argv, node.find('/') == std::string::npos ? t_ + "/" + node + ".toml" : node, cwd, env);
        EXPECT_EQ(r.status, 0) << r.err;
        return r;
    }

    // The probe's line for a successful open of `path` (relative to T).
    std::string opened(const std::string& path) const { return "ok " + t_ + "/" + path + " "; }

    std::string t_;
    std::string origin_bytes_;
};

const std::vector<std::string> kPathEntries = {"open", "open64", "__open_2", "__open64_2"};
const std::vector<std::string> kAtEntries = {"openat", "openat64", "__openat_2", "__openat64_2"};

TEST_F(Preload, EveryEntryPointRedirectsORemote) {
    std::string elsewhere = t_ + "/elsewhere";
    std::string flags = hex(O_RDONLY | O_REMOTE);
    for (const std::string& e : kPathEntries) {
        Outcome r = probe("n2", {e, "f.txt", flags}, elsewhere);
        EXPECT_TRUE(r.out.starts_with(opened("mnt/n1/f.txt"))) << e << ": " << r.out;
        EXPECT_EQ(r.err, "") << e;
    }
    for (const std::string& e : kAtEntries) {
        // A dirfd outside the mount and the exports: the cluster namespace, like the cwd.
        Outcome r = probe("n2", {"--dir", elsewhere, e, "f.txt", flags}, t_);
        EXPECT_TRUE(r.out.starts_with(opened("mnt/n1/f.txt"))) << e << ": " << r.out;
        // A dirfd on the mount: relative to it.
        r = probe("n2", {"--dir", t_ + "/mnt/n2/sub", e, "h.txt", flags}, t_);
        EXPECT_TRUE(r.out.starts_with(opened("mnt/n2/sub/h.txt"))) << e << ": " << r.out;
        // An absolute path ignores the dirfd.
        r = probe("n2", {"--dir", elsewhere, e, t_ + "/mnt/n2/f.txt", flags}, t_);
        EXPECT_TRUE(r.out.starts_with(opened("mnt/n2/f.txt"))) << e << ": " << r.out;
    }
}

TEST_F(Preload, ORemoteWithOCreatPassesTheMode) {
    int n = 0;
    for (std::string e : {"open", "open64", "openat", "openat64"}) {
        std::string name = "new" + std::to_string(n++) + ".txt";
        std::string mode = n % 2 == 0 ? "0640" : "0604";
        Outcome r = probe("n2",
                          {e, "n2/" + name, hex(O_WRONLY | O_CREAT | O_EXCL | O_REMOTE), mode},
                          t_ + "/elsewhere");
        EXPECT_EQ(r.out,
                  opened("mnt/n2/" + name) + "flags=" + hex(kLargefile | O_WRONLY) +
                      " size=0 mode=" + mode + "\n")
            << e;
        EXPECT_FALSE(fs::exists(t_ + "/elsewhere/n2/" + name));
    }
}

TEST_F(Preload, CreatIsPassedOnAndItsModeIsNeverReadAsFlags) {
    // 0620 holds 020, O_REMOTE's bit: as a mode it is group write, nothing more. Even a missing
    // config is never looked at.
    for (std::string e : {"creat", "creat64"}) {
        Outcome r = probe(t_ + "/none.toml", {e, e + ".txt", "0", "0620"}, t_ + "/elsewhere");
        EXPECT_EQ(r.out,
                  opened("elsewhere/" + e + ".txt") + "flags=" + hex(kLargefile | O_WRONLY) +
                      " size=0 mode=0620\n");
        EXPECT_EQ(r.err, "");
    }
}

TEST_F(Preload, WithoutORemoteNothingIsReadOrChanged) {
    // A broken config would print a line if the library read it.
    std::string bad = t_ + "/bad.toml";
    std::string elsewhere = t_ + "/elsewhere";
    for (const std::string& e : kPathEntries) {
        Outcome r = probe(bad, {e, "f.txt", hex(O_RDONLY)}, elsewhere);
        EXPECT_TRUE(r.out.starts_with(opened("elsewhere/f.txt"))) << e << ": " << r.out;
        r = probe(bad, {e, "f.txt", hex(O_RDONLY | O_ORIGIN)}, elsewhere);
        EXPECT_TRUE(r.out.starts_with(opened("elsewhere/f.txt"))) << e << ": " << r.out;
        EXPECT_EQ(r.err, "") << e;
    }
    for (const std::string& e : kAtEntries) {
        Outcome r = probe(bad, {"--dir", elsewhere, e, "f.txt", hex(O_RDONLY)}, t_);
        EXPECT_TRUE(r.out.starts_with(opened("elsewhere/f.txt"))) << e << ": " << r.out;
        EXPECT_EQ(r.err, "") << e;
    }
    Outcome r = probe(bad, {"open", "x", hex(O_RDONLY)}, elsewhere);
    EXPECT_EQ(r.out, "err ENOENT\n");
    r = probe(bad, {"--null", "open", "x", hex(O_RDONLY)}, elsewhere);
    EXPECT_EQ(r.out, "err EFAULT\n");
    // Without O_REMOTE even the seed's decimal value goes to the kernel as it is, and the kernel
    // truncates (what the library prevents only for O_REMOTE opens).
    write_file(elsewhere + "/scratch.txt", "some bytes");
    r = probe(bad, {"open", "scratch.txt", hex(O_RDWR | VREMOTE_SEED_DECIMAL_O_ORIGIN)}, elsewhere);
    EXPECT_TRUE(r.out.starts_with(opened("elsewhere/scratch.txt"))) << r.out;
    EXPECT_NE(r.out.find(" size=0 "), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
}

TEST_F(Preload, ORemoteAloneNamesAFileInTheCluster) {
    std::string elsewhere = t_ + "/elsewhere";
    std::string ro = hex(O_RDONLY | O_REMOTE);
    auto at = [&](const std::string& node,
                  const std::string& path,
                  const std::vector<std::string>& env = {},
                  const std::string& cwd = "") {
        return probe(node, {"open", path, ro}, cwd.empty() ? elsewhere : cwd, env).out;
    };
    // n2's config names n1 the default volume; VREMOTE_VOLUME overrides it.
    EXPECT_TRUE(at("n2", "f.txt").starts_with(opened("mnt/n1/f.txt")));
    EXPECT_TRUE(at("n2", "f.txt", {"VREMOTE_VOLUME=n2"}).starts_with(opened("mnt/n2/f.txt")));
    EXPECT_TRUE(at("n3", "f.txt", {"VREMOTE_VOLUME=n2"}).starts_with(opened("mnt/n2/f.txt")));
    // VOLUME/PATH when the first component is a volume directory of the mount.
    EXPECT_TRUE(at("n2", "n2/f.txt").starts_with(opened("mnt/n2/f.txt")));
    EXPECT_TRUE(at("n2", "./n2/sub/../f.txt").starts_with(opened("mnt/n2/f.txt")));
    EXPECT_TRUE(at("n2", "sub/g.txt").starts_with(opened("mnt/n1/sub/g.txt")));
    // Absolute paths: on the mount as they are; in a local export mapped onto the mount.
    EXPECT_TRUE(at("n2", t_ + "/mnt/n2/f.txt").starts_with(opened("mnt/n2/f.txt")));
    EXPECT_TRUE(at("n1", t_ + "/n1/export/f.txt").starts_with(opened("mnt/n1/f.txt")));
    EXPECT_EQ(at("n2", t_ + "/elsewhere/f.txt"), "err EXDEV\n");
    // A cwd on the mount: relative to it.
    EXPECT_TRUE(at("n2", "h.txt", {}, t_ + "/mnt/n2/sub").starts_with(opened("mnt/n2/sub/h.txt")));
    EXPECT_TRUE(at("n2", "../f.txt", {}, t_ + "/mnt/n2/sub").starts_with(opened("mnt/n2/f.txt")));
    // Missing files are the mount's ENOENT.
    EXPECT_EQ(at("n2", "n2/nothing"), "err ENOENT\n");
}

TEST_F(Preload, DotDotMayNotClimbOutOfTheVolume) {
    std::string ro = hex(O_RDONLY | O_REMOTE);
    for (std::string path : {"../f.txt", "sub/../../f.txt", "n2/../n1/f.txt", "n2/.."}) {
        Outcome r = probe("n2", {"open", path, ro}, t_ + "/elsewhere");
        EXPECT_EQ(r.out, "err EINVAL\n") << path;
    }
    Outcome r = probe("n2", {"open", "../../n1/f.txt", ro}, t_ + "/mnt/n2/sub");
    EXPECT_EQ(r.out, "err EINVAL\n");
    r = probe("n1",
              {"open", "../../elsewhere/f.txt", hex(O_RDONLY | O_REMOTE | O_ORIGIN)},
              t_ + "/n1/export");
    EXPECT_EQ(r.out, "err EINVAL\n") << "outside the export, so read in the cluster, where .. "
                                        "climbs out of the volume";
}

TEST_F(Preload, ORemoteOriginOpensThisNodesFileThroughTheMount) {
    std::string exp = t_ + "/n1/export";
    std::string flags = hex(O_RDONLY | O_REMOTE | O_ORIGIN);
    auto ok = [&](const std::vector<std::string>& args,
                  const std::string& cwd,
                  const std::string& want,
                  const std::vector<std::string>& env = {}) {
        Outcome r = probe("n1", args, cwd, env);
        EXPECT_TRUE(r.out.starts_with(opened(want))) << r.out << r.err;
    };
    for (const std::string& e : kPathEntries) {
        ok({e, "f.txt", flags}, exp, "mnt/n1/f.txt");
        ok({e, "sub/g.txt", flags}, exp, "mnt/n1/sub/g.txt");
        ok({e, "../f.txt", flags}, exp + "/sub", "mnt/n1/f.txt");
        ok({e, exp + "/sub/./g.txt", flags}, t_, "mnt/n1/sub/g.txt");
    }
    for (const std::string& e : kAtEntries) {
        ok({"--dir", exp + "/sub", e, "g.txt", flags}, t_, "mnt/n1/sub/g.txt");
        ok({"--dir", exp, e, "sub/g.txt", flags}, t_ + "/elsewhere", "mnt/n1/sub/g.txt");
    }
    // Outside the exports a relative path falls back to the O_REMOTE-alone rule...
    ok({"open", "f.txt", flags}, t_ + "/elsewhere", "mnt/n2/f.txt", {"VREMOTE_VOLUME=n2"});
    ok({"open", "n2/sub/h.txt", flags}, t_ + "/elsewhere", "mnt/n2/sub/h.txt");
    // ... and an absolute one fails.
    Outcome r = probe("n1", {"open", t_ + "/elsewhere/f.txt", flags}, t_);
    EXPECT_EQ(r.out, "err EXDEV\n");
    // n1 has no default volume: a bare name outside the export names nothing, said once.
    r = probe("n1", {"--repeat", "2", "open", "f.txt", flags}, t_ + "/elsewhere");
    EXPECT_EQ(r.out, "err ENOENT\nerr ENOENT\n");
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("VREMOTE_VOLUME"), std::string::npos) << r.err;
}

TEST_F(Preload, TheSeedDecimalOriginIsOOriginAndTruncatesNothing) {
    std::string exp = t_ + "/n1/export";
    int flags = O_RDWR | O_REMOTE | VREMOTE_SEED_DECIMAL_O_ORIGIN;
    for (const std::string& e : kPathEntries) {
        Outcome r = probe("n1", {"--repeat", "3", e, "myfile.txt", hex(flags)}, exp);
        std::string want = opened("mnt/n1/myfile.txt") + "flags=" + hex(kLargefile | O_RDWR) +
                           " size=300 mode=" + mode_of(t_ + "/mnt/n1/myfile.txt") + "\n";
        EXPECT_EQ(r.out, want + want + want) << e;
        EXPECT_EQ(count_lines(r.err), 1u) << "one warning per process: " << r.err;
        EXPECT_NE(r.err.find("10000000"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("O_ORIGIN"), std::string::npos) << r.err;
    }
    for (const std::string& e : kAtEntries) {
        Outcome r = probe("n1", {"--dir", exp, e, "myfile.txt", hex(flags)}, t_);
        EXPECT_EQ(r.out,
                  opened("mnt/n1/myfile.txt") + "flags=" + hex(kLargefile | O_RDWR) +
                      " size=300 mode=" + mode_of(t_ + "/mnt/n1/myfile.txt") + "\n")
            << e;
    }
    EXPECT_EQ(read_file(exp + "/myfile.txt"), origin_bytes_);
    EXPECT_EQ(read_file(t_ + "/mnt/n1/myfile.txt"), origin_bytes_);
}

TEST_F(Preload, UnknownBitsWithORemoteAreEinval) {
    std::string exp = t_ + "/n1/export";
    for (int extra : {04,
                      040,
                      040000000,
                      VREMOTE_SEED_DECIMAL_O_ORIGIN & ~O_EXCL,
                      VREMOTE_SEED_DECIMAL_O_ORIGIN & ~O_CLOEXEC}) {
        for (std::string e : {"open", "__openat_2"}) {
            Outcome r =
                probe("n1", {e, "myfile.txt", hex(O_RDWR | O_REMOTE | O_ORIGIN | extra)}, exp);
            EXPECT_EQ(r.out, "err EINVAL\n") << e << " " << hex(extra);
            EXPECT_EQ(r.err, "");
        }
    }
    EXPECT_EQ(read_file(exp + "/myfile.txt"), origin_bytes_);
    EXPECT_EQ(read_file(t_ + "/mnt/n1/myfile.txt"), origin_bytes_);
}

TEST_F(Preload, AnUnusableConfigFailsORemoteOpensAndSaysSoOnce) {
    struct Case {
        std::string config;
        std::string want_errno;
        std::string want_text;
    };
    const Case cases[] = {
        {t_ + "/none.toml", "ENOENT", "none.toml"},
        {t_ + "/bad.toml", "EINVAL", "node.listen"},
        {t_ + "/nomount.toml", "EOPNOTSUPP", "node.mount"},
    };
    for (const Case& c : cases) {
        Outcome r = probe(c.config,
                          {"--repeat", "3", "open", "f.txt", hex(O_RDONLY | O_REMOTE)},
                          t_ + "/elsewhere");
        std::string line = "err " + c.want_errno + "\n";
        EXPECT_EQ(r.out, line + line + line) << c.config;
        EXPECT_EQ(count_lines(r.err), 1u) << r.err;
        EXPECT_NE(r.err.find(c.want_text), std::string::npos) << r.err;
        EXPECT_TRUE(r.err.starts_with("vremote-preload: ")) << r.err;
        // Opens without O_REMOTE still work.
        r = probe(c.config, {"open", "f.txt", hex(O_RDONLY)}, t_ + "/elsewhere");
        EXPECT_TRUE(r.out.starts_with(opened("elsewhere/f.txt"))) << r.out;
        EXPECT_EQ(r.err, "");
    }
    Outcome r = probe("n2",
                      {"--repeat", "2", "open", "f.txt", hex(O_RDONLY | O_REMOTE)},
                      t_ + "/elsewhere",
                      {"VREMOTE_VOLUME=no/such"});
    EXPECT_EQ(r.out, "err EINVAL\nerr EINVAL\n");
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("VREMOTE_VOLUME"), std::string::npos) << r.err;
}

TEST_F(Preload, ConcurrentFirstOpensLoadTheConfigOnce) {
    Outcome r = probe(t_ + "/none.toml",
                      {"--threads", "32", "open", "f.txt", hex(O_RDONLY | O_REMOTE)},
                      t_ + "/elsewhere");
    EXPECT_EQ(count_lines(r.out), 32u);
    EXPECT_EQ(r.out.find("ok"), std::string::npos) << r.out;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;

    r = probe(
        "n2", {"--threads", "32", "open", "f.txt", hex(O_RDONLY | O_REMOTE)}, t_ + "/elsewhere");
    std::string want;
    for (int i = 0; i < 32; ++i) {
        want += opened("mnt/n1/f.txt") + "flags=" + hex(kLargefile) +
                " size=11 mode=" + mode_of(t_ + "/mnt/n1/f.txt") + "\n";
    }
    EXPECT_EQ(r.out, want);
    EXPECT_EQ(r.err, "");
}

TEST_F(Preload, DirfdsAndPathsTheLibraryCannotUse) {
    std::string ro = hex(O_RDONLY | O_REMOTE);
    EXPECT_EQ(probe("n2", {"--dirfd", "999", "openat", "f.txt", ro}, t_).out, "err EBADF\n");
    EXPECT_EQ(probe("n2", {"--dirfd", "0", "openat", "f.txt", ro}, t_).out, "err ENOTDIR\n");
    EXPECT_EQ(probe("n2", {"--null", "open", "x", ro}, t_).out, "err EFAULT\n");
    EXPECT_EQ(probe("n2", {"open", "", ro}, t_).out, "err ENOENT\n");
    // An absolute path needs no dirfd, even a bad one.
    EXPECT_TRUE(probe("n2", {"--dirfd", "999", "openat", t_ + "/mnt/n2/f.txt", ro}, t_)
                    .out.starts_with(opened("mnt/n2/f.txt")));
}

TEST_F(Preload, WorksInAForkedChild) {
    Outcome r =
        probe("n2", {"--fork", "open", "f.txt", hex(O_RDONLY | O_REMOTE)}, t_ + "/elsewhere");
    EXPECT_TRUE(r.out.starts_with(opened("mnt/n1/f.txt"))) << r.out;
}

// The seed README's example, compiled exactly as printed (seed_example.c), plain and with
// _FORTIFY_SOURCE=2.
class SeedExample : public Preload, public ::testing::WithParamInterface<const char*> {};

TEST_P(SeedExample, ReadsTheOriginsBytesOnTheOrigin) {
    std::string exp = t_ + "/n1/export";
    Outcome r = run({GetParam()}, t_ + "/n1.toml", exp);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "Read 300 bytes\n");
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("10000000"), std::string::npos) << r.err;
    EXPECT_EQ(read_file(exp + "/myfile.txt"), origin_bytes_) << "the origin's file is untouched";
    EXPECT_EQ(read_file(t_ + "/mnt/n1/myfile.txt"), origin_bytes_);
}

TEST_P(SeedExample, ReadsTheOriginsBytesOnARemoteNode) {
    // VREMOTE_VOLUME, and a config's default_volume; a local myfile.txt is neither read nor
    // truncated.
    for (auto [config, env] :
         {std::pair<std::string, std::vector<std::string>>{"n3.toml", {"VREMOTE_VOLUME=n1"}},
          {"n2.toml", {}}}) {
        Outcome r = run({GetParam()}, t_ + "/" + config, t_ + "/elsewhere", env);
        EXPECT_EQ(r.status, 0) << config << ": " << r.err;
        EXPECT_EQ(r.out, "Read 300 bytes\n") << config;
        EXPECT_EQ(count_lines(r.err), 1u) << r.err;
        EXPECT_EQ(read_file(t_ + "/elsewhere/myfile.txt"), "decoy!\n");
        EXPECT_EQ(read_file(t_ + "/mnt/n1/myfile.txt"), origin_bytes_);
    }
}

TEST_P(SeedExample, WithoutTheLibraryTheKernelTruncatesTheFile) {
    // What the library prevents: the seed's decimal O_ORIGIN carries O_TRUNC.
    write_file(t_ + "/scratch/myfile.txt", origin_bytes_);
    Outcome r = run({GetParam()}, "", t_ + "/scratch", {}, /*preload=*/false);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "Read 0 bytes\n");
    EXPECT_EQ(read_file(t_ + "/scratch/myfile.txt"), "");
}

INSTANTIATE_TEST_SUITE_P(Preload,
                         SeedExample,
                         ::testing::Values(VR_SEED_EXAMPLE, VR_SEED_EXAMPLE_FORTIFIED));

}  // namespace
