#include "store/file_table.h"

#include <fmt/format.h>

#include "base/assert.h"
#include "store/path.h"

namespace vr::store {

FileTable::FileTable(size_t open_files_max, size_t known_files_max)
    : open_files_max_(open_files_max), known_files_max_(known_files_max) {
    VR_ASSERT(open_files_max_ >= 1, "open_files_max must be positive");
    VR_ASSERT(known_files_max_ >= 1, "known_files_max must be positive");
}

FileEntry* FileTable::find(uint64_t ino) {
    auto it = by_ino_.find(ino);
    return it == by_ino_.end() ? nullptr : &it->second;
}

const FileEntry* FileTable::find(uint64_t ino) const {
    auto it = by_ino_.find(ino);
    return it == by_ino_.end() ? nullptr : &it->second;
}

Result<FileEntry*> FileTable::remember(uint64_t ino,
                                       FileType type,
                                       int64_t birth_ns,
                                       const std::string& path) {
    auto it = by_ino_.find(ino);
    if (it == by_ino_.end()) {
        if (by_ino_.size() >= known_files_max_) {
            return Status(Code::Busy,
                          fmt::format("the store already knows {} files, its limit; forget some "
                                      "before looking up more",
                                      known_files_max_));
        }
        it = by_ino_.emplace(ino, FileEntry{}).first;
        it->second.ino = ino;
    }
    FileEntry& entry = it->second;
    if (entry.birth_ns != birth_ns || entry.type != type) {
        // A new file with a reused inode number: nothing of the old entry applies any more.
        close_fd(entry);
        entry.birth_ns = birth_ns;
        entry.type = type;
    }
    set_path(entry, path);
    return &entry;
}

void FileTable::forget(uint64_t ino) {
    FileEntry* entry = find(ino);
    if (entry == nullptr) {
        return;
    }
    close_fd(*entry);
    if (entry->path) {
        by_path_.erase(*entry->path);
    }
    by_ino_.erase(ino);
}

void FileTable::unlinked(const std::string& path) {
    for (const auto& [old_path, ino] : take_within(path)) {
        erase_if_unused(ino);
    }
}

void FileTable::renamed(const std::string& from, const std::string& to) {
    if (from == to) {
        return;  // rename(2) of a name onto itself changes nothing
    }
    // Whatever `to` named was replaced (the kernel only replaces a file or an empty directory).
    for (const auto& [old_path, ino] : take_within(to)) {
        erase_if_unused(ino);
    }
    for (const auto& [old_path, ino] : take_within(from)) {
        set_path(by_ino_.at(ino), to + old_path.substr(from.size()));
    }
}

void FileTable::exchanged(const std::string& a, const std::string& b) {
    if (a == b) {
        return;
    }
    auto under_a = take_within(a);
    auto under_b = take_within(b);
    for (const auto& [old_path, ino] : under_a) {
        set_path(by_ino_.at(ino), b + old_path.substr(a.size()));
    }
    for (const auto& [old_path, ino] : under_b) {
        set_path(by_ino_.at(ino), a + old_path.substr(b.size()));
    }
}

void FileTable::install_fd(FileEntry& entry, UniqueFd fd, bool writable) {
    VR_ASSERT(!entry.fd.valid(), "ino {} already has an open fd", entry.ino);
    VR_ASSERT(fd.valid(), "installing an invalid fd for ino {}", entry.ino);
    if (lru_.size() >= open_files_max_) {
        uint64_t victim = lru_.back();
        VR_ASSERT(victim != entry.ino, "ino {} in the LRU without an fd", victim);
        close_fd(by_ino_.at(victim));
        erase_if_unused(victim);
    }
    entry.fd = std::move(fd);
    entry.writable = writable;
    lru_.push_front(entry.ino);
    entry.lru = lru_.begin();
}

void FileTable::touch(FileEntry& entry) {
    VR_ASSERT(entry.fd.valid(), "touching ino {} without an fd", entry.ino);
    lru_.splice(lru_.begin(), lru_, entry.lru);
}

void FileTable::check_invariants() const {
    VR_ASSERT(
        lru_.size() <= open_files_max_, "{} fds open, limit {}", lru_.size(), open_files_max_);
    VR_ASSERT(by_ino_.size() <= known_files_max_, "{} files known", by_ino_.size());
    size_t with_path = 0;
    size_t with_fd = 0;
    for (const auto& [ino, entry] : by_ino_) {
        VR_ASSERT(entry.ino == ino, "entry keyed {} says ino {}", ino, entry.ino);
        VR_ASSERT(entry.path || entry.fd.valid(), "ino {} has neither path nor fd", ino);
        if (entry.path) {
            ++with_path;
            auto it = by_path_.find(*entry.path);
            VR_ASSERT(it != by_path_.end() && it->second == ino, "ino {} path not indexed", ino);
        }
        if (entry.fd.valid()) {
            ++with_fd;
            VR_ASSERT(*entry.lru == ino, "ino {} LRU position is wrong", ino);
        }
    }
    VR_ASSERT(
        with_path == by_path_.size(), "{} paths indexed, {} held", by_path_.size(), with_path);
    VR_ASSERT(with_fd == lru_.size(), "{} inos in the LRU, {} fds held", lru_.size(), with_fd);
}

std::vector<std::pair<std::string, uint64_t>> FileTable::take_within(const std::string& dir) {
    std::vector<std::pair<std::string, uint64_t>> taken;
    auto take = [&](std::map<std::string, uint64_t>::iterator it) {
        by_ino_.at(it->second).path.reset();
        taken.emplace_back(it->first, it->second);
        return by_path_.erase(it);
    };
    if (auto it = by_path_.find(dir); it != by_path_.end()) {
        take(it);
    }
    std::string prefix = dir + "/";
    for (auto it = by_path_.lower_bound(prefix);
         it != by_path_.end() && it->first.starts_with(prefix);) {
        it = take(it);
    }
    return taken;
}

void FileTable::set_path(FileEntry& entry, const std::string& path) {
    if (entry.path == path) {
        return;
    }
    if (entry.path) {
        by_path_.erase(*entry.path);
        entry.path.reset();
    }
    auto [it, inserted] = by_path_.try_emplace(path, entry.ino);
    if (!inserted) {
        // The path now names this file; the file it named before is no longer there.
        uint64_t previous = it->second;
        by_ino_.at(previous).path.reset();
        it->second = entry.ino;
        erase_if_unused(previous);
    }
    entry.path = path;
}

void FileTable::close_fd(FileEntry& entry) {
    if (entry.fd.valid()) {
        lru_.erase(entry.lru);
        entry.fd.reset();
        entry.writable = false;
    }
}

void FileTable::erase_if_unused(uint64_t ino) {
    auto it = by_ino_.find(ino);
    if (it != by_ino_.end() && !it->second.path && !it->second.fd.valid()) {
        by_ino_.erase(it);
    }
}

}  // namespace vr::store
