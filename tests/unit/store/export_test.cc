// Export behaviour inside the export root: page reads (holes and EOF read as zeros), page writes
// clipped to the file size, extend/truncate/sync, the zero-copy page span, metadata operations,
// a read-only export refusing every change, and the bounded fd table evicting and re-opening
// files by ino. Method: each test gets its own Sandbox, prepares files directly with POSIX calls
// where the store is not under test, and checks the result through the store and directly.
#include "store/export.h"

#include <gtest/gtest.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "store_test_util.h"

namespace vr::store {
namespace {

using testing::page_of;
using testing::read_file;
using testing::Sandbox;
using testing::text_of;
using testing::write_file;

constexpr uint32_t kPage = 4096;

class ExportTest : public ::testing::Test {
  protected:
    std::unique_ptr<Export> open_export(Access access = Access::ReadWrite,
                                        size_t open_files_max = 1024) {
        ExportOptions o;
        o.volume = "vol";
        o.root = box_.root();
        o.access = access;
        o.page_size = kPage;
        o.open_files_max = open_files_max;
        o.io_pages_max = 64;
        o.readdir_entries_max = 100;
        Result<std::unique_ptr<Export>> ex = Export::open(std::move(o));
        EXPECT_TRUE(ex.is_ok()) << ex.status().to_string();
        return ex.is_ok() ? std::move(ex).value() : nullptr;
    }

    uint64_t ino_of(Export& ex, const std::string& path) {
        Result<Attr> a = ex.getattr_path(path);
        EXPECT_TRUE(a.is_ok()) << path << ": " << a.status().to_string();
        return a.is_ok() ? a->ino : 0;
    }

    uint64_t size_on_disk(const std::string& rel) {
        struct stat st {};
        EXPECT_EQ(::stat(box_.in_root(rel).c_str(), &st), 0) << rel;
        return static_cast<uint64_t>(st.st_size);
    }

    Sandbox box_;
};

TEST_F(ExportTest, OpenRefusesBadOptionsAndMissingRoots) {
    ExportOptions o;
    o.volume = "vol";
    o.root = box_.root();
    o.page_size = 1000;
    VR_EXPECT_ERROR(Export::open(o), Code::InvalidArgument, "power of two");
    o.page_size = kPage;
    o.root = box_.base() + "/nope";
    VR_EXPECT_ERROR(Export::open(o), Code::NotFound, "export root");
    write_file(box_.base() + "/plain", "x");
    o.root = box_.base() + "/plain";
    VR_EXPECT_ERROR(Export::open(o), Code::InvalidArgument, "Not a directory");
    o.root = box_.root();
    o.volume = "";
    VR_EXPECT_ERROR(Export::open(o), Code::InvalidArgument, "volume name");
}

TEST_F(ExportTest, ReadPagesZeroFillsHolesAndEverythingPastEof) {
    auto ex = open_export();
    ASSERT_TRUE(ex);
    // Page 0 holds 100 bytes then the hole up to page 3, which holds 10 bytes: EOF is mid-page.
    int fd = ::open(box_.in_root("f").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, std::string(100, 'a').data(), 100, 0), 100);
    ASSERT_EQ(::pwrite(fd, "0123456789", 10, 3 * kPage), 10);
    ::close(fd);
    uint64_t ino = ino_of(*ex, "f");

    Result<std::vector<coherence::PageBuf>> pages = ex->read_pages(ino, 0, 6);
    ASSERT_TRUE(pages.is_ok()) << pages.status().to_string();
    ASSERT_EQ(pages->size(), 6u);
    for (const auto& p : *pages) {
        ASSERT_EQ(p->size(), kPage);
    }
    EXPECT_EQ(text_of((*pages)[0]), std::string(100, 'a') + std::string(kPage - 100, '\0'));
    EXPECT_EQ(text_of((*pages)[1]), std::string(kPage, '\0')) << "hole";
    EXPECT_EQ(text_of((*pages)[2]), std::string(kPage, '\0')) << "hole";
    EXPECT_EQ(text_of((*pages)[3]), "0123456789" + std::string(kPage - 10, '\0')) << "EOF page";
    EXPECT_EQ(text_of((*pages)[4]), std::string(kPage, '\0')) << "past EOF";
    EXPECT_EQ(text_of((*pages)[5]), std::string(kPage, '\0')) << "past EOF";

    Result<std::vector<coherence::PageBuf>> far = ex->read_pages(ino, 1000, 2);
    ASSERT_TRUE(far.is_ok());
    EXPECT_EQ(text_of((*far)[1]), std::string(kPage, '\0'));

    VR_EXPECT_ERROR(ex->read_pages(ino, 0, 0), Code::InvalidArgument, "pages asked");
    VR_EXPECT_ERROR(ex->read_pages(ino, 0, 65), Code::InvalidArgument, "expected 1..64");
    VR_EXPECT_ERROR(ex->read_pages(ino, UINT64_MAX / 2, 1), Code::OutOfRange, "beyond");
    VR_EXPECT_ERROR(ex->read_pages(ex->root_ino(), 0, 1), Code::InvalidArgument, "regular");
    VR_EXPECT_ERROR(ex->read_pages(987654321, 0, 1), Code::NotFound, "look it up first");
}

TEST_F(ExportTest, WritePagesNeverMoveTheFileSize) {
    auto ex = open_export();
    ASSERT_TRUE(ex);
    Result<Attr> a = ex->create("f", 0644, CreateMode::Exclusive);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    uint64_t ino = a->ino;
    std::vector<coherence::PageBuf> pages = {page_of(kPage, 'x'), page_of(kPage, 'y')};

    // Empty file: every byte is past EOF, so nothing is stored.
    VR_ASSERT_OK(ex->write_pages(ino, 0, pages));
    EXPECT_EQ(size_on_disk("f"), 0u);

    // Extend to 1.5 pages: page 0 whole, page 1 up to the size, the rest dropped.
    VR_ASSERT_OK(ex->extend(ino, kPage + kPage / 2));
    VR_ASSERT_OK(ex->write_pages(ino, 0, pages));
    EXPECT_EQ(size_on_disk("f"), kPage + kPage / 2);
    EXPECT_EQ(read_file(box_.in_root("f")), std::string(kPage, 'x') + std::string(kPage / 2, 'y'));

    // extend never shrinks; truncate does.
    VR_ASSERT_OK(ex->extend(ino, 10));
    EXPECT_EQ(size_on_disk("f"), kPage + kPage / 2);
    VR_ASSERT_OK(ex->extend(ino, 3 * kPage));
    VR_ASSERT_OK(ex->write_pages(ino, 1, pages));
    EXPECT_EQ(size_on_disk("f"), 3 * kPage);
    EXPECT_EQ(read_file(box_.in_root("f")),
              std::string(kPage, 'x') + std::string(kPage, 'x') + std::string(kPage, 'y'));
    VR_ASSERT_OK(ex->truncate(ino, 5));
    EXPECT_EQ(read_file(box_.in_root("f")), "xxxxx");

    VR_EXPECT_ERROR(ex->write_pages(ino, 0, {page_of(100, 'z')}),
                    Code::InvalidArgument,
                    "100 bytes, expected 4096");
    VR_EXPECT_ERROR(ex->write_pages(ino, 0, {nullptr}), Code::InvalidArgument, "expected 4096");
    VR_EXPECT_ERROR(ex->extend(ino, UINT64_MAX), Code::OutOfRange, "extend");
}

TEST_F(ExportTest, SyncFilesAndDirectories) {
    auto ex = open_export();
    ASSERT_TRUE(ex);
    Result<Attr> f = ex->create("f", 0644, CreateMode::Exclusive);
    ASSERT_TRUE(f.is_ok());
    VR_ASSERT_OK(ex->extend(f->ino, kPage));
    VR_ASSERT_OK(ex->write_pages(f->ino, 0, {page_of(kPage, 's')}));
    VR_EXPECT_OK(ex->sync(f->ino));
    VR_EXPECT_OK(ex->sync(ex->root_ino()));
    EXPECT_EQ(read_file(box_.in_root("f")), std::string(kPage, 's'));
    // A read-only export can still be asked to sync (there is nothing to flush).
    auto ro = open_export(Access::ReadOnly);
    ASSERT_TRUE(ro);
    VR_EXPECT_OK(ro->sync(ino_of(*ro, "f")));
}

TEST_F(ExportTest, PageSpanFeedsSendfileAndOutlivesEviction) {
    auto ex = open_export(Access::ReadWrite, /*open_files_max=*/1);
    ASSERT_TRUE(ex);
    write_file(box_.in_root("f"), std::string(kPage + 904, 'q'));  // 5000 bytes
    write_file(box_.in_root("g"), "other");
    uint64_t f = ino_of(*ex, "f");
    uint64_t g = ino_of(*ex, "g");

    Result<PageSpan> span = ex->page_span(f, 1, 2);
    ASSERT_TRUE(span.is_ok()) << span.status().to_string();
    EXPECT_EQ(span->byte_offset, kPage);
    EXPECT_EQ(span->file_bytes, 904u);
    EXPECT_EQ(span->zero_bytes, 2 * kPage - 904);
    EXPECT_EQ(::fcntl(span->fd.get(), F_GETFL) & O_NONBLOCK, 0) << "cleared after the open";

    VR_ASSERT_OK(ex->read_pages(g, 0, 1));  // evicts f's fd from the table
    EXPECT_EQ(ex->open_file_count(), 1u);

    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    off_t offset = static_cast<off_t>(span->byte_offset);
    ssize_t sent = ::sendfile(pipe_fds[1], span->fd.get(), &offset, span->file_bytes);
    EXPECT_EQ(sent, 904);
    char buf[1000];
    EXPECT_EQ(::read(pipe_fds[0], buf, sizeof(buf)), 904);
    EXPECT_EQ(std::string(buf, 904), std::string(904, 'q'));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);

    Result<PageSpan> past = ex->page_span(f, 5, 1);
    ASSERT_TRUE(past.is_ok());
    EXPECT_EQ(past->file_bytes, 0u);
    EXPECT_EQ(past->zero_bytes, kPage);
}

TEST_F(ExportTest, CreateMkdirLookupAndGetattr) {
    auto ex = open_export();
    ASSERT_TRUE(ex);
    Result<Attr> d = ex->mkdir("d", 0750);
    ASSERT_TRUE(d.is_ok()) << d.status().to_string();
    EXPECT_EQ(d->type, FileType::Directory);
    EXPECT_EQ(d->mode, 0750u);
    VR_EXPECT_ERROR(ex->mkdir("d", 0750), Code::Exists, "mkdir 'd'");
    VR_EXPECT_ERROR(ex->mkdir("missing/d", 0750), Code::NotFound, "missing");

    Result<Attr> f = ex->create("d/f", 0640, CreateMode::Exclusive);
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    EXPECT_EQ(f->type, FileType::Regular);
    EXPECT_EQ(f->mode, 0640u);
    EXPECT_EQ(f->size, 0u);
    EXPECT_EQ(f->nlink, 1u);
    VR_EXPECT_ERROR(ex->create("d/f", 0640, CreateMode::Exclusive), Code::Exists, "d/f");
    Result<Attr> again = ex->create("d/f", 0640, CreateMode::OpenExisting);
    ASSERT_TRUE(again.is_ok());
    EXPECT_EQ(again->ino, f->ino);
    VR_EXPECT_ERROR(
        ex->create("d", 0640, CreateMode::OpenExisting), Code::InvalidArgument, "Is a directory");
    VR_EXPECT_ERROR(ex->create("", 0640, CreateMode::Exclusive), Code::InvalidArgument, "root");
    // A FIFO is described, never opened as a file (and opening it does not block).
    ASSERT_EQ(::mkfifo(box_.in_root("fifo").c_str(), 0644), 0);
    VR_EXPECT_ERROR(ex->create("fifo", 0640, CreateMode::OpenExisting),
                    Code::InvalidArgument,
                    "not a regular file");
    Result<Attr> fifo = ex->getattr_path("fifo");
    ASSERT_TRUE(fifo.is_ok());
    EXPECT_EQ(fifo->type, FileType::Other);
    VR_EXPECT_ERROR(ex->read_pages(fifo->ino, 0, 1), Code::InvalidArgument, "not a regular file");

    Result<Attr> looked = ex->lookup(d->ino, "f");
    ASSERT_TRUE(looked.is_ok()) << looked.status().to_string();
    EXPECT_EQ(looked->ino, f->ino);
    EXPECT_EQ(ex->path_of(f->ino).value(), "d/f");
    VR_EXPECT_ERROR(ex->lookup(d->ino, "nope"), Code::NotFound, "d/nope");
    VR_EXPECT_ERROR(ex->lookup(f->ino, "x"), Code::InvalidArgument, "not a directory");
    VR_EXPECT_ERROR(ex->lookup(d->ino, "a/b"), Code::InvalidArgument, "'/'");

    Result<Attr> by_ino = ex->getattr(f->ino);
    ASSERT_TRUE(by_ino.is_ok());
    EXPECT_EQ(by_ino->mtime_ns, f->mtime_ns);
    Result<Attr> root = ex->getattr_path("");
    ASSERT_TRUE(root.is_ok());
    EXPECT_EQ(root->ino, ex->root_ino());
    EXPECT_EQ(ex->getattr_path("d/").value().ino, d->ino) << "a trailing slash is allowed";

    // getattr_path describes a symlink, it does not follow it.
    ASSERT_EQ(::symlink("d/f", box_.in_root("link").c_str()), 0);
    Result<Attr> link = ex->getattr_path("link");
    ASSERT_TRUE(link.is_ok());
    EXPECT_EQ(link->type, FileType::Symlink);
    // Inner symlinks that stay inside the export are followed.
    ASSERT_EQ(::symlink("d", box_.in_root("dlink").c_str()), 0);
    Result<Attr> through = ex->getattr_path("dlink/f");
    ASSERT_TRUE(through.is_ok()) << through.status().to_string();
    EXPECT_EQ(through->ino, f->ino);
}

TEST_F(ExportTest, UnlinkRmdirRenameSetattrTruncate) {
    auto ex = open_export();
    ASSERT_TRUE(ex);
    ASSERT_TRUE(ex->mkdir("d", 0755).is_ok());
    Result<Attr> f = ex->create("d/f", 0644, CreateMode::Exclusive);
    Result<Attr> g = ex->create("g", 0644, CreateMode::Exclusive);
    ASSERT_TRUE(f.is_ok() && g.is_ok());

    VR_EXPECT_ERROR(ex->rmdir("d"), Code::NotEmpty, "not empty");
    VR_EXPECT_ERROR(ex->unlink("d"), Code::InvalidArgument, "unlink 'd'");
    VR_EXPECT_ERROR(ex->rmdir("g"), Code::InvalidArgument, "Not a directory");

    VR_EXPECT_ERROR(ex->rename("g", "d/f", RenameMode::NoReplace), Code::Exists, "rename");
    VR_ASSERT_OK(ex->rename("d", "e", RenameMode::Replace));
    EXPECT_EQ(ex->path_of(f->ino).value(), "e/f") << "the subtree's cached paths follow";
    VR_ASSERT_OK(ex->rename("g", "e/f", RenameMode::Exchange));
    EXPECT_EQ(ex->path_of(f->ino).value(), "g");
    EXPECT_EQ(ex->path_of(g->ino).value(), "e/f");
    VR_ASSERT_OK(ex->rename("g", "e/f", RenameMode::Replace));  // replaces g's old inode
    EXPECT_EQ(ex->path_of(f->ino).value(), "e/f");
    VR_EXPECT_ERROR(ex->getattr_path("g"), Code::NotFound, "'g'");
    VR_EXPECT_ERROR(ex->rename("nope", "x", RenameMode::Replace), Code::NotFound, "nope");
    VR_EXPECT_ERROR(ex->rename("", "x", RenameMode::Replace), Code::InvalidArgument, "root");

    AttrChange change;
    change.mode = 0600;
    change.uid = 1234;
    change.gid = 5678;
    change.atime_ns = 1'000'000'000'123;
    change.mtime_ns = 2'000'000'000'456;
    Result<Attr> changed = ex->setattr(f->ino, change);
    ASSERT_TRUE(changed.is_ok()) << changed.status().to_string();
    EXPECT_EQ(changed->mode, 0600u);
    EXPECT_EQ(changed->uid, 1234u);
    EXPECT_EQ(changed->gid, 5678u);
    EXPECT_EQ(changed->mtime_ns, 2'000'000'000'456);
    struct stat st {};
    ASSERT_EQ(::stat(box_.in_root("e/f").c_str(), &st), 0);
    EXPECT_EQ(st.st_atim.tv_sec, 1000);
    EXPECT_EQ(st.st_atim.tv_nsec, 123);
    AttrChange dir_mode;
    dir_mode.mode = 0700;
    Result<Attr> dir = ex->setattr(ex->getattr_path("e").value().ino, dir_mode);
    ASSERT_TRUE(dir.is_ok()) << dir.status().to_string();
    EXPECT_EQ(dir->mode, 0700u);
    dir_mode.mode = 010000;
    VR_EXPECT_ERROR(ex->setattr(f->ino, dir_mode), Code::InvalidArgument, "mode");

    write_file(box_.in_root("e/f"), "hello world");
    VR_ASSERT_OK(ex->truncate(f->ino, 5));
    EXPECT_EQ(read_file(box_.in_root("e/f")), "hello");
    VR_ASSERT_OK(ex->truncate(f->ino, 8));
    EXPECT_EQ(read_file(box_.in_root("e/f")), std::string("hello\0\0\0", 8));

    VR_ASSERT_OK(ex->unlink("e/f"));
    EXPECT_FALSE(std::filesystem::exists(box_.in_root("e/f")));
    VR_EXPECT_ERROR(ex->path_of(f->ino), Code::NotFound, "no known path");
    VR_ASSERT_OK(ex->rmdir("e"));
    EXPECT_FALSE(std::filesystem::exists(box_.in_root("e")));
    VR_EXPECT_ERROR(ex->unlink("e/f"), Code::NotFound, "'e'");
}

TEST_F(ExportTest, ReaddirPaginatesWithCookies) {
    auto ex = open_export();
    ASSERT_TRUE(ex);
    ASSERT_TRUE(ex->mkdir("d", 0755).is_ok());
    std::set<std::string> made;
    for (int i = 0; i < 23; ++i) {
        std::string name = "file" + std::to_string(i);
        write_file(box_.in_root("d/" + name), "x");
        made.insert(name);
    }
    ASSERT_TRUE(ex->mkdir("d/sub", 0755).is_ok());
    made.insert("sub");

    std::set<std::string> seen;
    uint64_t cookie = 0;
    int calls = 0;
    while (true) {
        Result<DirPage> page = ex->readdir("d", cookie, 5);
        ASSERT_TRUE(page.is_ok()) << page.status().to_string();
        EXPECT_LE(page->entries.size(), 5u);
        for (const DirEntry& e : page->entries) {
            EXPECT_TRUE(seen.insert(e.name).second) << "listed twice: " << e.name;
            EXPECT_NE(e.ino, 0u);
            EXPECT_EQ(e.type, e.name == "sub" ? FileType::Directory : FileType::Regular);
        }
        cookie = page->next_cookie;
        ASSERT_LT(++calls, 20);
        if (page->end) {
            break;
        }
    }
    EXPECT_EQ(seen, made) << "every entry once, no '.' or '..'";
    VR_EXPECT_ERROR(ex->readdir("d", 0, 0), Code::InvalidArgument, "expected 1..100");
    VR_EXPECT_ERROR(ex->readdir("d", 0, 101), Code::InvalidArgument, "expected 1..100");
    VR_EXPECT_ERROR(ex->readdir("d/file1", 0, 5), Code::InvalidArgument, "Not a directory");
    Result<DirPage> root = ex->readdir("", 0, 100);
    ASSERT_TRUE(root.is_ok());
    ASSERT_EQ(root->entries.size(), 1u);
    EXPECT_EQ(root->entries[0].name, "d");
}

TEST_F(ExportTest, ReadOnlyExportRefusesEveryChangeBeforeTouchingAnything) {
    ASSERT_EQ(::mkdir(box_.in_root("d").c_str(), 0755), 0);
    write_file(box_.in_root("f"), "original");
    auto ex = open_export(Access::ReadOnly);
    ASSERT_TRUE(ex);
    EXPECT_TRUE(ex->read_only());
    uint64_t f = ino_of(*ex, "f");
    uint64_t d = ino_of(*ex, "d");

    VR_EXPECT_ERROR(ex->create("new", 0644, CreateMode::Exclusive), Code::ReadOnly, "read-only");
    VR_EXPECT_ERROR(ex->create("f", 0644, CreateMode::OpenExisting), Code::ReadOnly, "create");
    VR_EXPECT_ERROR(ex->mkdir("newdir", 0755), Code::ReadOnly, "mkdir");
    VR_EXPECT_ERROR(ex->unlink("f"), Code::ReadOnly, "unlink");
    VR_EXPECT_ERROR(ex->rmdir("d"), Code::ReadOnly, "rmdir");
    VR_EXPECT_ERROR(ex->rename("f", "g", RenameMode::Replace), Code::ReadOnly, "rename");
    VR_EXPECT_ERROR(ex->truncate(f, 0), Code::ReadOnly, "truncate");
    VR_EXPECT_ERROR(ex->extend(f, 100000), Code::ReadOnly, "extend");
    VR_EXPECT_ERROR(ex->write_pages(f, 0, {page_of(kPage, 'w')}), Code::ReadOnly, "write");
    AttrChange change;
    change.mode = 0600;
    VR_EXPECT_ERROR(ex->setattr(d, change), Code::ReadOnly, "setattr");
    // Checked before any validation or lookup: even a bogus request gets ReadOnly.
    VR_EXPECT_ERROR(ex->unlink("/etc/passwd"), Code::ReadOnly, "read-only");
    VR_EXPECT_ERROR(ex->truncate(987654321, 0), Code::ReadOnly, "read-only");

    EXPECT_EQ(read_file(box_.in_root("f")), "original");
    EXPECT_TRUE(std::filesystem::exists(box_.in_root("d")));
    EXPECT_FALSE(std::filesystem::exists(box_.in_root("new")));
    EXPECT_FALSE(std::filesystem::exists(box_.in_root("g")));
    struct stat st {};
    ASSERT_EQ(::stat(box_.in_root("d").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);

    // Reads work.
    Result<std::vector<coherence::PageBuf>> pages = ex->read_pages(f, 0, 1);
    ASSERT_TRUE(pages.is_ok()) << pages.status().to_string();
    EXPECT_EQ(text_of((*pages)[0]).substr(0, 8), "original");
    VR_EXPECT_OK(ex->readdir("", 0, 10));
    VR_EXPECT_OK(ex->getattr(f));
}

TEST_F(ExportTest, FdTableIsBoundedAndReopensByIno) {
    auto ex = open_export(Access::ReadWrite, /*open_files_max=*/2);
    ASSERT_TRUE(ex);
    std::vector<uint64_t> inos;
    for (int i = 0; i < 5; ++i) {
        std::string name = "f" + std::to_string(i);
        write_file(box_.in_root(name), "content of " + name);
        inos.push_back(ino_of(*ex, name));
    }
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 5; ++i) {
            Result<std::vector<coherence::PageBuf>> p = ex->read_pages(inos[i], 0, 1);
            ASSERT_TRUE(p.is_ok()) << p.status().to_string();
            EXPECT_EQ(text_of((*p)[0]).substr(0, 13), "content of f" + std::to_string(i));
            EXPECT_LE(ex->open_file_count(), 2u);
        }
    }
    EXPECT_EQ(ex->open_file_count(), 2u);

    // f0 is evicted now. Renamed through the store: its cached path follows, it reopens.
    VR_ASSERT_OK(ex->rename("f0", "moved", RenameMode::Replace));
    VR_EXPECT_OK(ex->read_pages(inos[0], 0, 1));

    // Renamed behind the store's back while evicted: the path is gone, the ino is NotFound.
    VR_ASSERT_OK(ex->read_pages(inos[3], 0, 1));
    VR_ASSERT_OK(ex->read_pages(inos[4], 0, 1));  // f1 and f2 are evicted
    std::filesystem::rename(box_.in_root("f1"), box_.in_root("elsewhere"));
    VR_EXPECT_ERROR(ex->read_pages(inos[1], 0, 1), Code::NotFound, "reopening ino");

    // Replaced behind the store's back: the path names another inode now.
    write_file(box_.in_root("replacement"), "impostor");
    std::filesystem::rename(box_.in_root("replacement"), box_.in_root("f2"));
    VR_EXPECT_ERROR(ex->read_pages(inos[2], 0, 1), Code::Stale, "now names another file");
    VR_EXPECT_ERROR(ex->getattr(inos[2]), Code::Stale, "now names another file");

    // Unlinked through the store (its last name): the fd is closed at once, and the ino is
    // not found again (no name leads to it).
    VR_ASSERT_OK(ex->read_pages(inos[3], 0, 1));
    size_t open_before = ex->open_file_count();
    VR_ASSERT_OK(ex->unlink("f3"));
    EXPECT_EQ(ex->open_file_count(), open_before - 1);
    VR_EXPECT_ERROR(ex->read_pages(inos[3], 0, 1), Code::NotFound, "not known");
    VR_EXPECT_ERROR(ex->getattr(inos[3]), Code::NotFound, "not known");

    // forget() closes the fd; the ino is found again by its name when next used (a restarted
    // daemon's case); the root cannot be forgotten.
    VR_ASSERT_OK(ex->read_pages(inos[4], 0, 1));
    ex->forget(inos[4]);
    EXPECT_EQ(ex->open_file_count(), open_before - 2);
    VR_EXPECT_OK(ex->read_pages(inos[4], 0, 1));
    ex->forget(ex->root_ino());
    VR_EXPECT_OK(ex->getattr(ex->root_ino()));
}

TEST_F(ExportTest, KnownFilesAreBounded) {
    ExportOptions o;
    o.volume = "vol";
    o.root = box_.root();
    o.known_files_max = 3;  // the root and two more
    Result<std::unique_ptr<Export>> opened = Export::open(o);
    ASSERT_TRUE(opened.is_ok());
    Export& ex = **opened;
    for (const char* name : {"a", "b", "c"}) {
        write_file(box_.in_root(name), name);
    }
    uint64_t a = ino_of(ex, "a");
    VR_ASSERT_OK(ex.getattr_path("b"));
    VR_EXPECT_ERROR(ex.getattr_path("c"), Code::Busy, "forget some");
    ex.forget(a);
    VR_EXPECT_OK(ex.getattr_path("c"));
    EXPECT_EQ(ex.known_file_count(), 3u);
}

}  // namespace
}  // namespace vr::store

namespace vr::store {
namespace {

// A restarted daemon has looked nothing up, yet peers write back pages of inos they learnt
// before: the export finds them again by walking its tree (failure.md, home restart).
TEST_F(ExportTest, AnInoFromBeforeARestartIsFoundAgain) {
    uint64_t ino = 0;
    {
        auto before = open_export();
        ASSERT_TRUE(before);
        VR_ASSERT_OK(before->mkdir("d", 0755));
        VR_ASSERT_OK(before->mkdir("d/e", 0755));
        Result<Attr> a = before->create("d/e/f", 0644, CreateMode::Exclusive);
        ASSERT_TRUE(a.is_ok()) << a.status().to_string();
        ino = a->ino;
        VR_ASSERT_OK(before->truncate(ino, kPage));
    }
    auto after = open_export();
    ASSERT_TRUE(after);
    VR_ASSERT_OK(after->write_pages(ino, 0, {page_of(kPage, 'r')}));
    EXPECT_EQ(after->path_of(ino).value(), "d/e/f");
    Result<Attr> got = after->getattr(ino);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_EQ(got->size, kPage);
    // An ino that is nowhere in the export is still unknown (and costs no second walk now).
    VR_EXPECT_ERROR(after->getattr(ino + 1'000'000), Code::NotFound, "not known");
    VR_EXPECT_ERROR(after->getattr(ino + 1'000'001), Code::NotFound, "not known");
}

}  // namespace
}  // namespace vr::store
