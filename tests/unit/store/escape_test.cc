// Confinement: every attempt to reach outside the export root is refused with a clear error,
// and nothing outside was read or changed.
//
// Method. Each test runs in its own Sandbox. Beside the export root lies outside/ with a sentinel
// file and a directory. Before the test, their atimes are set far in the past (the filesystem is
// mounted relatime, so any read of the file or listing of a directory would move its atime) and
// a snapshot is taken of the sandbox's outside part: names, content (read with O_NOATIME),
// size, mode, link count and a/m/ctime. TearDown takes the snapshot again and requires it to be
// identical. SnapshotDetectsAReadAndAWrite proves the method notices both.
//
// The tests run as root, so permissions stop nothing: only the store's confinement does. Not
// tested, by design: a hard link to an outside file placed in the export by root is inside the
// export by inode; exports must not contain such links (see store/export.h).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/export.h"
#include "store/posix.h"
#include "store_test_util.h"

namespace vr::store {
namespace {

using testing::read_file;
using testing::Sandbox;
using testing::write_file;

constexpr const char* kSentinelText = "SENTINEL: must never be read or changed by the store";
constexpr const char* kEscapes = "escapes the export";

struct NodeState {
    std::string path;
    std::string content;             // files only
    std::vector<std::string> names;  // directories only, sorted
    uint64_t size = 0;
    uint32_t mode = 0;
    uint64_t nlink = 0;
    int64_t atime_ns = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const NodeState&) const = default;
};

int64_t ns_of(const struct timespec& t) {
    return t.tv_sec * int64_t{1'000'000'000} + t.tv_nsec;
}

// Lists a directory without touching its atime.
std::vector<std::string> list_noatime(const std::string& dir) {
    std::vector<std::string> names;
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);
    if (fd < 0) {
        return {"<cannot open>"};
    }
    DIR* d = ::fdopendir(fd);
    while (struct dirent* e = ::readdir(d)) {
        names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

NodeState state_of(const std::string& path) {
    NodeState s;
    s.path = path;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        s.content = "<missing>";
        return s;
    }
    s.size = static_cast<uint64_t>(st.st_size);
    s.mode = st.st_mode;
    s.nlink = st.st_nlink;
    s.atime_ns = ns_of(st.st_atim);
    s.mtime_ns = ns_of(st.st_mtim);
    s.ctime_ns = ns_of(st.st_ctim);
    if (S_ISDIR(st.st_mode)) {
        s.names = list_noatime(path);
    } else {
        s.content = read_file(path);
    }
    return s;
}

std::ostream& operator<<(std::ostream& os, const NodeState& s) {
    os << s.path << " size=" << s.size << " mode=" << std::oct << s.mode << std::dec
       << " nlink=" << s.nlink << " atime=" << s.atime_ns << " mtime=" << s.mtime_ns
       << " ctime=" << s.ctime_ns << " names=" << s.names.size();
    return os;
}

class EscapeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        // Inside the export.
        ASSERT_EQ(::mkdir(box_.in_root("a").c_str(), 0755), 0);
        write_file(box_.in_root("a/file"), "inside a");
        write_file(box_.in_root("file"), "inside");
        link("to_root", "/");
        link("up", "../outside");
        link("chain1", "chain2");
        link("chain2", "chain3");
        link("chain3", "../outside/sentinel");
        link("dchain1", "dchain2");
        link("dchain2", "a/../../outside");
        link("proc", "/proc");
        link("procrel", "../../../../../../../../../../proc");
        link("dangle", "../outside/created_by_escape");
        link("abs_inside", box_.in_root("a"));  // absolute, though it points inside
        // Outside it.
        write_file(sentinel(), kSentinelText);
        ASSERT_EQ(::mkdir((box_.outside() + "/dir").c_str(), 0755), 0);
        for (const std::string& p : watched()) {
            age(p);
        }
        before_ = snapshot();

        ExportOptions o;
        o.volume = "vol";
        o.root = box_.root();
        Result<std::unique_ptr<Export>> ex = Export::open(std::move(o));
        ASSERT_TRUE(ex.is_ok()) << ex.status().to_string();
        ex_ = std::move(ex).value();
    }

    void TearDown() override {
        std::vector<NodeState> after = snapshot();
        ASSERT_EQ(after.size(), before_.size());
        for (size_t i = 0; i < after.size(); ++i) {
            EXPECT_EQ(after[i], before_[i]) << "something outside the export was read or changed";
        }
    }

    void link(const std::string& name, const std::string& target) {
        ASSERT_EQ(::symlink(target.c_str(), box_.in_root(name).c_str()), 0) << name;
    }

    // atime well before mtime and ctime: under relatime the next read moves it.
    static void age(const std::string& path) {
        struct timespec times[2] = {{946684800, 0}, {978307200, 0}};  // 2000-01-01, 2001-01-01
        ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
    }

    std::vector<std::string> watched() const {
        return {box_.base(), box_.outside(), sentinel(), box_.outside() + "/dir"};
    }
    std::vector<NodeState> snapshot() const {
        std::vector<NodeState> states;
        for (const std::string& p : watched()) {
            states.push_back(state_of(p));
        }
        return states;
    }

    std::string sentinel() const { return box_.outside() + "/sentinel"; }
    // The sentinel's absolute path without its leading slash, to append to a link to "/".
    std::string sentinel_from_slash() const { return sentinel().substr(1); }

    Sandbox box_;
    std::vector<NodeState> before_;
    std::unique_ptr<Export> ex_;
};

TEST_F(EscapeTest, SnapshotDetectsAReadAndAWrite) {
    {
        int fd = ::open(sentinel().c_str(), O_RDONLY | O_CLOEXEC);  // an ordinary read
        ASSERT_GE(fd, 0);
        char buf[16];
        ASSERT_GT(::read(fd, buf, sizeof(buf)), 0);
        ::close(fd);
    }
    std::vector<NodeState> after_read = snapshot();
    EXPECT_NE(after_read[2].atime_ns, before_[2].atime_ns) << "a read must show in the atime";
    DIR* d = ::opendir(box_.outside().c_str());  // an ordinary listing
    ASSERT_NE(d, nullptr);
    while (::readdir(d) != nullptr) {
    }
    ::closedir(d);
    EXPECT_NE(snapshot()[1].atime_ns, before_[1].atime_ns) << "a listing must show in the atime";
    write_file(sentinel(), "changed");
    EXPECT_NE(snapshot()[2], after_read[2]);
    // Put things back as they were, so TearDown's check holds.
    write_file(sentinel(), kSentinelText);
    for (const std::string& p : watched()) {
        age(p);
    }
    before_ = snapshot();
}

// 1. ".." in any position is refused before any syscall.
TEST_F(EscapeTest, DotDot) {
    const std::string kInvalid = "'..' component";
    VR_EXPECT_ERROR(ex_->getattr_path(".."), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->getattr_path("../outside/sentinel"), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->readdir("..", 0, 10), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->readdir("../outside", 0, 10), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->lookup(ex_->root_ino(), ".."), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->create("../outside/new", 0644, CreateMode::Exclusive),
                    Code::InvalidArgument,
                    kInvalid);
    VR_EXPECT_ERROR(ex_->unlink("../outside/sentinel"), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->mkdir("../outside/newdir", 0755), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->rmdir("../outside/dir"), Code::InvalidArgument, kInvalid);
}

// 2. ".." after a real directory.
TEST_F(EscapeTest, DotDotAfterADirectory) {
    const std::string kInvalid = "'..' component";
    VR_EXPECT_ERROR(ex_->getattr_path("a/../../outside/sentinel"), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->create("a/../../outside/sentinel", 0644, CreateMode::OpenExisting),
                    Code::InvalidArgument,
                    kInvalid);
    VR_EXPECT_ERROR(ex_->unlink("a/../../outside/sentinel"), Code::InvalidArgument, kInvalid);
    VR_EXPECT_ERROR(ex_->readdir("a/../..", 0, 10), Code::InvalidArgument, kInvalid);
}

// 3. Below the lexical check, openat2 refuses the same escapes on its own.
TEST_F(EscapeTest, KernelResolutionRefusesEscapesWithoutTheLexicalCheck) {
    UniqueFd root(::open(box_.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root.valid());
    for (const std::string& path : {std::string("../outside/sentinel"),
                                    std::string("a/../../outside/sentinel"),
                                    std::string(".."),
                                    sentinel(),
                                    std::string("/etc/passwd"),
                                    std::string("up/sentinel"),
                                    std::string("chain1"),
                                    std::string("proc/self/root/etc/passwd"),
                                    std::string("abs_inside")}) {
        VR_EXPECT_ERROR(
            open_beneath(root.get(), path, O_RDONLY, 0), Code::PermissionDenied, kEscapes);
    }
    VR_EXPECT_ERROR(open_beneath(root.get(), "../outside/x", O_CREAT | O_RDWR, 0644),
                    Code::PermissionDenied,
                    kEscapes);
    // ".." that stays inside is fine at this layer.
    VR_EXPECT_OK(open_beneath(root.get(), "a/../file", O_RDONLY, 0));
}

// 4. Absolute paths are refused, not re-rooted.
TEST_F(EscapeTest, AbsolutePaths) {
    VR_EXPECT_ERROR(ex_->getattr_path("/etc/passwd"), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(ex_->getattr_path(sentinel()), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(ex_->readdir("/", 0, 10), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(ex_->readdir(box_.outside(), 0, 10), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(ex_->create(box_.outside() + "/new", 0644, CreateMode::Exclusive),
                    Code::InvalidArgument,
                    "absolute");
    VR_EXPECT_ERROR(ex_->unlink(sentinel()), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(
        ex_->rename("file", sentinel(), RenameMode::Replace), Code::InvalidArgument, "absolute");
    // Following a symlink with an absolute target is refused even when it points inside.
    VR_EXPECT_ERROR(ex_->getattr_path("abs_inside/file"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->readdir("abs_inside", 0, 10), Code::PermissionDenied, kEscapes);
}

// 5. A symlink inside the export pointing to "/".
TEST_F(EscapeTest, SymlinkToSlash) {
    std::string via = "to_root/" + sentinel_from_slash();
    VR_EXPECT_ERROR(ex_->getattr_path(via), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->getattr_path("to_root/etc/passwd"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->readdir("to_root", 0, 10), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(
        ex_->create(via, 0644, CreateMode::OpenExisting), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->unlink(via), Code::PermissionDenied, kEscapes);
    // Looking up the link itself is inside (it describes the link); using it as a file is not.
    Result<Attr> link = ex_->lookup(ex_->root_ino(), "to_root");
    ASSERT_TRUE(link.is_ok());
    EXPECT_EQ(link->type, FileType::Symlink);
    VR_EXPECT_ERROR(ex_->read_pages(link->ino, 0, 1), Code::InvalidArgument, "not a regular");
    VR_EXPECT_ERROR(ex_->lookup(link->ino, "etc"), Code::InvalidArgument, "not a directory");
}

// 6. A symlink pointing to "../outside".
TEST_F(EscapeTest, SymlinkToParent) {
    VR_EXPECT_ERROR(ex_->getattr_path("up/sentinel"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->readdir("up", 0, 10), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->readdir("up/", 0, 10), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->create("up/sentinel", 0644, CreateMode::OpenExisting),
                    Code::PermissionDenied,
                    kEscapes);
    VR_EXPECT_ERROR(
        ex_->create("up/new", 0644, CreateMode::Exclusive), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->mkdir("up/newdir", 0755), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->unlink("up/sentinel"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->rmdir("up/dir"), Code::PermissionDenied, kEscapes);
}

// 7. Chains of symlinks, to a file and to a directory outside.
TEST_F(EscapeTest, SymlinkChains) {
    // Opening the chain's head as a file follows nothing (O_NOFOLLOW).
    VR_EXPECT_ERROR(
        ex_->create("chain1", 0644, CreateMode::OpenExisting), Code::PermissionDenied, kEscapes);
    Result<Attr> head = ex_->getattr_path("chain1");
    ASSERT_TRUE(head.is_ok());
    EXPECT_EQ(head->type, FileType::Symlink);
    VR_EXPECT_ERROR(ex_->read_pages(head->ino, 0, 1), Code::InvalidArgument, "not a regular");
    // Through a directory chain, whose last link climbs out through a/..
    VR_EXPECT_ERROR(ex_->getattr_path("dchain1/sentinel"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->readdir("dchain1", 0, 10), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->unlink("dchain1/sentinel"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(
        ex_->create("dchain1/new", 0644, CreateMode::Exclusive), Code::PermissionDenied, kEscapes);
}

// 8. /proc/self/root as an absolute path.
TEST_F(EscapeTest, ProcSelfRootAbsolute) {
    std::string path = "/proc/self/root" + sentinel();
    VR_EXPECT_ERROR(ex_->getattr_path(path), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(ex_->unlink(path), Code::InvalidArgument, "absolute");
    VR_EXPECT_ERROR(ex_->readdir("/proc/self/root", 0, 10), Code::InvalidArgument, "absolute");
}

// 9. proc/self/root through symlinks to /proc (absolute and relative).
TEST_F(EscapeTest, ProcSelfRootThroughSymlinks) {
    for (const std::string via : {"proc", "procrel"}) {
        std::string path = via + "/self/root/" + sentinel_from_slash();
        VR_EXPECT_ERROR(ex_->getattr_path(path), Code::PermissionDenied, kEscapes);
        VR_EXPECT_ERROR(ex_->unlink(path), Code::PermissionDenied, kEscapes);
        VR_EXPECT_ERROR(ex_->create(via + "/self/root/" + box_.outside().substr(1) + "/new",
                                    0644,
                                    CreateMode::Exclusive),
                        Code::PermissionDenied,
                        kEscapes);
        VR_EXPECT_ERROR(ex_->readdir(via + "/self/root", 0, 10), Code::PermissionDenied, kEscapes);
        VR_EXPECT_ERROR(ex_->readdir(via + "/self/fd", 0, 10), Code::PermissionDenied, kEscapes);
    }
}

// 10. Embedded NUL bytes (a C API would have cut the string there).
TEST_F(EscapeTest, NulBytes) {
    std::string cut = std::string("file\0/../../outside/sentinel", 28);
    ASSERT_EQ(cut.size(), 28u);
    VR_EXPECT_ERROR(ex_->getattr_path(cut), Code::InvalidArgument, "NUL");
    VR_EXPECT_ERROR(ex_->unlink(cut), Code::InvalidArgument, "NUL");
    VR_EXPECT_ERROR(ex_->create(std::string("new\0x", 5), 0644, CreateMode::Exclusive),
                    Code::InvalidArgument,
                    "NUL");
    VR_EXPECT_ERROR(
        ex_->lookup(ex_->root_ino(), std::string("file\0", 5)), Code::InvalidArgument, "NUL");
    VR_EXPECT_ERROR(ex_->rename(std::string("file\0", 5), "x", RenameMode::Replace),
                    Code::InvalidArgument,
                    "NUL");
    EXPECT_FALSE(std::filesystem::exists(box_.in_root("new")));
    EXPECT_TRUE(std::filesystem::exists(box_.in_root("file")));
}

// 11. A component longer than NAME_MAX.
TEST_F(EscapeTest, OverlongComponent) {
    std::string name(256, 'n');
    VR_EXPECT_ERROR(ex_->getattr_path(name), Code::InvalidArgument, "component of 256 bytes");
    VR_EXPECT_ERROR(ex_->create("a/" + name, 0644, CreateMode::Exclusive),
                    Code::InvalidArgument,
                    "component of 256 bytes");
    VR_EXPECT_ERROR(
        ex_->lookup(ex_->root_ino(), name), Code::InvalidArgument, "component of 256 bytes");
    VR_EXPECT_OK(ex_->create("a/" + std::string(255, 'n'), 0644, CreateMode::Exclusive));
}

// 12. A path longer than PATH_MAX, made of valid components (even ones that resolve).
TEST_F(EscapeTest, OverlongPath) {
    std::string path;
    while (path.size() <= 4096) {
        path += "a/";
    }
    path += "file";
    VR_EXPECT_ERROR(ex_->getattr_path(path), Code::InvalidArgument, "more than 4095");
    VR_EXPECT_ERROR(
        ex_->create(path, 0644, CreateMode::OpenExisting), Code::InvalidArgument, "more than 4095");
    VR_EXPECT_ERROR(ex_->readdir(path, 0, 10), Code::InvalidArgument, "more than 4095");
}

// 13. Renames onto, from and with paths outside.
TEST_F(EscapeTest, RenameAcrossTheBoundary) {
    VR_EXPECT_ERROR(ex_->rename("file", "../outside/sentinel", RenameMode::Replace),
                    Code::InvalidArgument,
                    "'..' component");
    VR_EXPECT_ERROR(
        ex_->rename("file", "up/sentinel", RenameMode::Replace), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(
        ex_->rename("file", "up/stolen", RenameMode::NoReplace), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->rename("up/sentinel", "stolen", RenameMode::Replace),
                    Code::PermissionDenied,
                    kEscapes);
    VR_EXPECT_ERROR(
        ex_->rename("file", "up/sentinel", RenameMode::Exchange), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(
        ex_->rename("a", "to_root/" + box_.outside().substr(1) + "/a", RenameMode::Replace),
        Code::PermissionDenied,
        kEscapes);
    EXPECT_EQ(read_file(box_.in_root("file")), "inside");
    EXPECT_FALSE(std::filesystem::exists(box_.in_root("stolen")));
    // Renaming the link itself stays inside and is allowed; its target is untouched.
    VR_EXPECT_OK(ex_->rename("up", "up2", RenameMode::NoReplace));
}

// 14. A dangling symlink whose target lies outside: create must not create the target.
TEST_F(EscapeTest, CreateThroughADanglingSymlink) {
    VR_EXPECT_ERROR(
        ex_->create("dangle", 0644, CreateMode::OpenExisting), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->create("dangle", 0644, CreateMode::Exclusive), Code::Exists, "dangle");
    EXPECT_FALSE(std::filesystem::exists(box_.outside() + "/created_by_escape"));
}

// 15. A file swapped for a symlink (or its directory for one) after the store looked it up: the
// re-open by ino is confined too, and sees the swap.
TEST_F(EscapeTest, SwapAfterLookup) {
    ExportOptions o;
    o.volume = "vol";
    o.root = box_.root();
    o.open_files_max = 1;
    Result<std::unique_ptr<Export>> opened = Export::open(std::move(o));
    ASSERT_TRUE(opened.is_ok());
    Export& ex = **opened;
    write_file(box_.in_root("a/sentinel"), "inside, same name as the outside sentinel");
    uint64_t file = ex.getattr_path("file").value().ino;
    uint64_t deep = ex.getattr_path("a/sentinel").value().ino;
    VR_ASSERT_OK(ex.read_pages(file, 0, 1));
    VR_ASSERT_OK(ex.read_pages(deep, 0, 1));  // evicts `file`
    VR_ASSERT_OK(ex.read_pages(file, 0, 1));  // evicts `deep`

    std::filesystem::rename(box_.in_root("a"), box_.in_root("a_old"));
    ASSERT_EQ(::symlink("../outside", box_.in_root("a").c_str()), 0);
    VR_EXPECT_ERROR(ex.read_pages(deep, 0, 1), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex.getattr(deep), Code::PermissionDenied, kEscapes);
    AttrChange chmod;
    chmod.mode = 0777;
    VR_EXPECT_ERROR(ex.setattr(deep, chmod), Code::PermissionDenied, kEscapes);

    // The same inode under its new name opens again (and evicts `file`).
    ASSERT_EQ(ex.getattr_path("a_old/sentinel").value().ino, deep);
    VR_ASSERT_OK(ex.read_pages(deep, 0, 1));
    ASSERT_EQ(::unlink(box_.in_root("file").c_str()), 0);
    ASSERT_EQ(::symlink("../outside/sentinel", box_.in_root("file").c_str()), 0);
    Result<std::vector<coherence::PageBuf>> r = ex.read_pages(file, 0, 1);
    EXPECT_FALSE(r.is_ok());
    EXPECT_TRUE(r.status().code() == Code::PermissionDenied || r.status().code() == Code::NotFound)
        << r.status().to_string();
}

// 16. RESOLVE_NO_XDEV without bind mounts: an export of "/" cannot enter /proc, a separate mount.
TEST_F(EscapeTest, MountPointsAreNotCrossed) {
    struct stat slash {};
    struct stat proc {};
    ASSERT_EQ(::stat("/", &slash), 0);
    ASSERT_EQ(::stat("/proc/self", &proc), 0);
    if (slash.st_dev == proc.st_dev) {
        GTEST_SKIP() << "/proc is not a separate mount here";
    }
    ExportOptions o;
    o.volume = "slash";
    o.root = "/";
    o.access = Access::ReadOnly;
    Result<std::unique_ptr<Export>> opened = Export::open(std::move(o));
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    Export& ex = **opened;
    VR_EXPECT_ERROR(ex.getattr_path("proc/self"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex.getattr_path("proc/self/root/etc/passwd"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex.readdir("proc", 0, 10), Code::PermissionDenied, kEscapes);
}

// 17. A mount inside the export (a fresh tmpfs, skipped where mounting is not allowed).
TEST_F(EscapeTest, MountInsideTheExport) {
    std::string mnt = box_.in_root("mnt");
    ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
    if (::mount("vr-store-test", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
        GTEST_SKIP() << "cannot mount tmpfs here: " << std::strerror(errno);
    }
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{mnt};
    write_file(mnt + "/x", "on another filesystem");
    VR_EXPECT_ERROR(ex_->getattr_path("mnt/x"), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(
        ex_->create("mnt/y", 0644, CreateMode::Exclusive), Code::PermissionDenied, kEscapes);
    VR_EXPECT_ERROR(ex_->readdir("mnt", 0, 10), Code::PermissionDenied, kEscapes);
    EXPECT_FALSE(std::filesystem::exists(mnt + "/y"));
}

}  // namespace
}  // namespace vr::store
