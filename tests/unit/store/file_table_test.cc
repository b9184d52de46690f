// FileTable bookkeeping without an export: paths follow renames and exchanges by prefix, unlinks
// and replacements drop the names they removed, the fd LRU stays bounded, the known-file limit
// answers Busy, and a reused inode number with a new birth time resets its entry. The table's
// invariants are checked after every step. Fds are real (/dev/null) so close() is exercised.
#include "store/file_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "store_test_util.h"

namespace vr::store {
namespace {

UniqueFd null_fd() {
    return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

std::string path_of(const FileTable& t, uint64_t ino) {
    const FileEntry* e = t.find(ino);
    if (e == nullptr) {
        return "<unknown>";
    }
    return e->path ? *e->path : "<no path>";
}

TEST(FileTable, RenamesMoveWholeSubtreesAndDropReplacedTargets) {
    FileTable t(/*open_files_max=*/4, /*known_files_max=*/16);
    VR_ASSERT_OK(t.remember(1, FileType::Directory, 0, ""));
    VR_ASSERT_OK(t.remember(2, FileType::Directory, 0, "a"));
    VR_ASSERT_OK(t.remember(3, FileType::Regular, 0, "a/f"));
    VR_ASSERT_OK(t.remember(4, FileType::Regular, 0, "ab"));  // shares a prefix, not a subtree
    VR_ASSERT_OK(t.remember(5, FileType::Regular, 0, "b"));
    t.check_invariants();

    t.renamed("a", "c");
    t.check_invariants();
    EXPECT_EQ(path_of(t, 2), "c");
    EXPECT_EQ(path_of(t, 3), "c/f");
    EXPECT_EQ(path_of(t, 4), "ab");

    t.renamed("ab", "b");  // replaces ino 5, which has no fd: it is forgotten
    t.check_invariants();
    EXPECT_EQ(path_of(t, 4), "b");
    EXPECT_EQ(t.find(5), nullptr);

    t.exchanged("c", "b");
    t.check_invariants();
    EXPECT_EQ(path_of(t, 2), "b");
    EXPECT_EQ(path_of(t, 3), "b/f");
    EXPECT_EQ(path_of(t, 4), "c");

    t.unlinked("b");
    t.check_invariants();
    EXPECT_EQ(t.find(2), nullptr);
    EXPECT_EQ(t.find(3), nullptr);
    EXPECT_EQ(path_of(t, 1), "");
}

TEST(FileTable, AnOpenFileOutlivesItsNameUntilEvicted) {
    FileTable t(/*open_files_max=*/2, /*known_files_max=*/16);
    for (uint64_t ino = 10; ino < 13; ++ino) {
        Result<FileEntry*> e = t.remember(ino, FileType::Regular, 0, "f" + std::to_string(ino));
        ASSERT_TRUE(e.is_ok());
        t.install_fd(**e, null_fd(), /*writable=*/false);
        t.check_invariants();
    }
    EXPECT_EQ(t.open_count(), 2u);
    EXPECT_FALSE(t.find(10)->fd.valid()) << "the least recently used fd is closed first";
    t.touch(*t.find(11));
    t.unlinked("f11");
    ASSERT_NE(t.find(11), nullptr) << "still open, so still known";
    EXPECT_FALSE(t.find(11)->path.has_value());
    Result<FileEntry*> again = t.remember(13, FileType::Regular, 0, "f13");
    ASSERT_TRUE(again.is_ok());
    t.install_fd(**again, null_fd(), /*writable=*/false);  // evicts 12, the LRU one
    t.check_invariants();
    EXPECT_TRUE(t.find(11)->fd.valid());
    Result<FileEntry*> more = t.remember(14, FileType::Regular, 0, "f14");
    ASSERT_TRUE(more.is_ok());
    t.install_fd(**more, null_fd(), /*writable=*/false);  // evicts 11: no path, no fd, gone
    t.check_invariants();
    EXPECT_EQ(t.find(11), nullptr);
}

TEST(FileTable, KnownFilesAreBoundedAndReusedNumbersReset) {
    FileTable t(/*open_files_max=*/2, /*known_files_max=*/2);
    VR_ASSERT_OK(t.remember(1, FileType::Regular, 100, "x"));
    VR_ASSERT_OK(t.remember(2, FileType::Regular, 100, "y"));
    VR_EXPECT_ERROR(t.remember(3, FileType::Regular, 100, "z"), Code::Busy, "forget some");
    t.forget(2);
    VR_ASSERT_OK(t.remember(3, FileType::Regular, 100, "z"));

    Result<FileEntry*> e = t.remember(1, FileType::Regular, 100, "x");
    ASSERT_TRUE(e.is_ok());
    t.install_fd(**e, null_fd(), /*writable=*/true);
    // Same number, other birth time: a new file took the number; the old fd must not serve it.
    Result<FileEntry*> reused = t.remember(1, FileType::Regular, 200, "x2");
    ASSERT_TRUE(reused.is_ok());
    EXPECT_FALSE((*reused)->fd.valid());
    EXPECT_EQ((*reused)->birth_ns, 200);
    EXPECT_EQ(path_of(t, 1), "x2");
    t.check_invariants();
}

}  // namespace
}  // namespace vr::store
