#define FUSE_USE_VERSION 34
#include "fuse/frontend.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fuse_lowlevel.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/log.h"

namespace vr::fuse {

using coherence::FileId;
using coherence::NodeId;

namespace {

constexpr uint32_t kIoMax = 1u << 20;  // max_read, max_write, readahead: 1 MiB requests

int err_of(Code c) {
    // An unreachable or silent home is EIO to programs, like a failing disk (docs/design/fuse.md).
    if (c == Code::Timeout || c == Code::Unavailable) {
        return EIO;
    }
    int e = errno_of(c);
    return e == 0 ? EIO : e;
}

int err_of(const wire::MetaReply& r) {
    int e = err_of(r.code);
    if (e == EIO) {
        // An operator wants to know why a program got EIO; at most one line per second.
        static int64_t last_ns = 0;
        static uint64_t quiet = 0;
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
        if (now - last_ns >= 1'000'000'000) {
            log::warn("EIO to a program: {}: {}{}",
                      code_name(r.code),
                      r.message,
                      quiet > 0 ? fmt::format(" ({} more since the last such line)", quiet) : "");
            last_ns = now;
            quiet = 0;
        } else {
            ++quiet;
        }
    }
    return e;
}

FuseFrontEnd* self_of(fuse_req_t req) {
    return static_cast<FuseFrontEnd*>(fuse_req_userdata(req));
}

mode_t type_bits(wire::MetaType t) {
    switch (t) {
        case wire::MetaType::Regular:
            return S_IFREG;
        case wire::MetaType::Directory:
            return S_IFDIR;
        case wire::MetaType::Symlink:
            return S_IFLNK;
        case wire::MetaType::Other:
            break;
    }
    return S_IFREG;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The request handlers. libfuse calls them on the loop thread (on_readable), so they use the
// front end's state directly; replies to requests that wait for the engine or a home are sent
// from the loop when those complete.

struct FuseFrontEnd::Ops {
    // The directory a create/mkdir/unlink/... names, or nullptr after replying the error.
    static Inode* parent_dir(FuseFrontEnd* s, fuse_req_t req, fuse_ino_t parent, const char* name) {
        Inode* p = parent == FUSE_ROOT_ID ? nullptr : s->inode(parent);
        if (p == nullptr) {
            fuse_reply_err(req, parent == FUSE_ROOT_ID ? EPERM : ESTALE);
            return nullptr;
        }
        if (std::strlen(name) > wire::kMetaNameMax) {
            fuse_reply_err(req, ENAMETOOLONG);
            return nullptr;
        }
        return p;
    }

    static fuse_entry_param make_entry(FuseFrontEnd* s, const Inode& in, const wire::MetaAttr& a) {
        fuse_entry_param e{};
        e.ino = in.nodeid;
        e.generation = 1;
        e.attr = s->to_stat(in.nodeid, a);
        e.attr_timeout = s->opt_.attr_timeout_s;
        e.entry_timeout = s->opt_.entry_timeout_s;
        return e;
    }

    static void entry_reply(FuseFrontEnd* s,
                            fuse_req_t req,
                            uint64_t parent,
                            const std::string& name,
                            NodeId home,
                            uint16_t volume,
                            const wire::MetaAttr& a) {
        bool dir = a.type == wire::MetaType::Directory;
        Inode& in = s->remember(FileId{home, a.ino}, volume, dir, parent, name);
        ++in.nlookup;
        fuse_entry_param e = make_entry(s, in, a);
        fuse_reply_entry(req, &e);
    }

    static void init(void* userdata, fuse_conn_info* conn) {
        (void)userdata;
        conn->want &= ~(FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
                        FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_READDIRPLUS |
                        FUSE_CAP_ATOMIC_O_TRUNC);
        if ((conn->capable & FUSE_CAP_PARALLEL_DIROPS) != 0) {
            conn->want |= FUSE_CAP_PARALLEL_DIROPS;
        }
        conn->max_read = kIoMax;  // must equal the max_read mount option
        conn->max_write = kIoMax;
        conn->max_readahead = kIoMax;
        conn->max_background = 64;
        conn->congestion_threshold = 48;
    }

    static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
        FuseFrontEnd* s = self_of(req);
        ++s->stats_.lookups;
        std::string nm(name);
        if (nm.size() > wire::kMetaNameMax) {
            fuse_reply_err(req, ENAMETOOLONG);
            return;
        }
        if (parent == FUSE_ROOT_ID) {
            auto r = s->node_.resolve(nm);
            if (!r.is_ok() || !r->second.empty()) {
                fuse_reply_err(req, ENOENT);
                return;
            }
            node::VolumeRef v = r->first;
            wire::MetaRequest m;
            m.op = wire::MetaOp::GetAttr;
            m.ino = v.root_ino;
            s->node_.meta(v.node, m, [s, req, v](wire::MetaReply rep) {
                if (rep.code != Code::Ok || !rep.attr) {
                    fuse_reply_err(req, rep.code != Code::Ok ? err_of(rep) : EIO);
                    return;
                }
                entry_reply(s, req, FUSE_ROOT_ID, v.name, v.node, v.index, *rep.attr);
            });
            return;
        }
        Inode* p = s->inode(parent);
        if (p == nullptr) {
            fuse_reply_err(req, ESTALE);
            return;
        }
        wire::MetaRequest m;
        m.op = wire::MetaOp::Lookup;
        m.ino = p->file.ino;
        m.path = nm;
        NodeId home = p->file.home;
        uint16_t volume = p->volume;
        s->node_.meta(home, m, [s, req, parent, nm, home, volume](wire::MetaReply rep) {
            if (rep.code != Code::Ok || !rep.attr) {
                // Negative entries are not cached: a name created elsewhere is found at once.
                fuse_reply_err(req, rep.code != Code::Ok ? err_of(rep) : EIO);
                return;
            }
            entry_reply(s, req, parent, nm, home, volume, *rep.attr);
        });
    }

    static void forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
        self_of(req)->forget(ino, nlookup);
        fuse_reply_none(req);
    }

    static void forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
        FuseFrontEnd* s = self_of(req);
        for (size_t i = 0; i < count; ++i) {
            s->forget(forgets[i].ino, forgets[i].nlookup);
        }
        fuse_reply_none(req);
    }

    static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        (void)fi;
        FuseFrontEnd* s = self_of(req);
        if (ino == FUSE_ROOT_ID) {
            struct stat st = s->root_stat();
            fuse_reply_attr(req, &st, s->opt_.attr_timeout_s);
            return;
        }
        Inode* in = s->inode(ino);
        if (in == nullptr) {
            fuse_reply_err(req, ESTALE);
            return;
        }
        wire::MetaRequest m;
        m.op = wire::MetaOp::GetAttr;
        m.ino = in->file.ino;
        s->node_.meta(in->file.home, m, [s, req, ino](wire::MetaReply rep) {
            if (rep.code != Code::Ok || !rep.attr) {
                fuse_reply_err(req, rep.code != Code::Ok ? err_of(rep) : EIO);
                return;
            }
            struct stat st = s->to_stat(ino, *rep.attr);
            fuse_reply_attr(req, &st, s->opt_.attr_timeout_s);
        });
    }

    static void setattr(
        fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
        (void)fi;
        FuseFrontEnd* s = self_of(req);
        Inode* in = ino == FUSE_ROOT_ID ? nullptr : s->inode(ino);
        if (in == nullptr) {
            fuse_reply_err(req, ino == FUSE_ROOT_ID ? EPERM : ESTALE);
            return;
        }
        FileId file = in->file;
        wire::MetaRequest change;
        change.op = wire::MetaOp::SetAttr;
        change.ino = file.ino;
        auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
        struct timespec now_ts {};
        clock_gettime(CLOCK_REALTIME, &now_ts);
        if ((to_set & FUSE_SET_ATTR_MODE) != 0) {
            change.change.mode = attr->st_mode & 07777;
        }
        if ((to_set & FUSE_SET_ATTR_UID) != 0) {
            change.change.uid = attr->st_uid;
        }
        if ((to_set & FUSE_SET_ATTR_GID) != 0) {
            change.change.gid = attr->st_gid;
        }
        if ((to_set & FUSE_SET_ATTR_ATIME_NOW) != 0) {
            change.change.atime_ns = ns(now_ts);
        } else if ((to_set & FUSE_SET_ATTR_ATIME) != 0) {
            change.change.atime_ns = ns(attr->st_atim);
        }
        if ((to_set & FUSE_SET_ATTR_MTIME_NOW) != 0) {
            change.change.mtime_ns = ns(now_ts);
        } else if ((to_set & FUSE_SET_ATTR_MTIME) != 0) {
            change.change.mtime_ns = ns(attr->st_mtim);
        }
        bool other = change.change != wire::MetaChange{};
        auto finish = [s, req, ino](wire::MetaReply rep) {
            if (rep.code != Code::Ok || !rep.attr) {
                fuse_reply_err(req, rep.code != Code::Ok ? err_of(rep) : EIO);
                return;
            }
            struct stat st = s->to_stat(ino, *rep.attr);
            fuse_reply_attr(req, &st, s->opt_.attr_timeout_s);
        };
        auto do_change = [s, file, change, other, finish](wire::MetaReply after_size) {
            if (!other) {
                finish(std::move(after_size));
                return;
            }
            s->node_.meta(file.home, change, finish);
        };
        if ((to_set & FUSE_SET_ATTR_SIZE) != 0) {
            wire::MetaRequest t;
            t.op = wire::MetaOp::Truncate;
            t.ino = file.ino;
            t.size = static_cast<uint64_t>(attr->st_size);
            s->node_.meta(file.home, t, [do_change, finish](wire::MetaReply rep) {
                if (rep.code != Code::Ok) {
                    finish(std::move(rep));
                    return;
                }
                do_change(std::move(rep));
            });
            return;
        }
        if (!other) {
            wire::MetaRequest g;
            g.op = wire::MetaOp::GetAttr;
            g.ino = file.ino;
            s->node_.meta(file.home, g, finish);
            return;
        }
        s->node_.meta(file.home, change, finish);
    }

    static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        FuseFrontEnd* s = self_of(req);
        Inode* in = ino == FUSE_ROOT_ID ? nullptr : s->inode(ino);
        if (in == nullptr) {
            fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ESTALE);
            return;
        }
        if (in->dir) {
            fuse_reply_err(req, EISDIR);
            return;
        }
        bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
        if (writable) {
            auto v = s->node_.volume_of(in->file);
            if (v.is_ok() && v->read_only) {
                fuse_reply_err(req, EROFS);
                return;
            }
        }
        uint64_t h = s->next_handle_++;
        s->handles_[h] =
            Handle{in->file, writable, false, {}, s->node_.engine().lost_count(in->file)};
        fi->fh = h;
        // Writable opens are direct (see the header); read-only opens keep the page cache,
        // which the engine keeps coherent.
        fi->direct_io = writable ? 1 : 0;
        fi->keep_cache = writable ? 0 : 1;
        fuse_reply_open(req, fi);
    }

    static void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
        (void)ino;
        FuseFrontEnd* s = self_of(req);
        ++s->stats_.reads;
        auto it = s->handles_.find(fi->fh);
        if (it == s->handles_.end() || off < 0) {
            fuse_reply_err(req, EBADF);
            return;
        }
        if (size == 0) {
            fuse_reply_buf(req, nullptr, 0);
            return;
        }
        coherence::ReadMode mode =
            it->second.direct ? coherence::ReadMode::Direct : coherence::ReadMode::KernelFill;
        s->node_.read(it->second.file,
                      static_cast<uint64_t>(off),
                      size,
                      mode,
                      [req](Result<node::ReadResult> r) {
                          if (!r.is_ok()) {
                              fuse_reply_err(req, err_of(r.status().code()));
                              return;
                          }
                          // Straight from the cache frames to the kernel: no copy here.
                          std::vector<iovec> iov;
                          uint64_t skip = r->offset;
                          uint64_t left = r->length;
                          for (const auto& p : r->pages) {
                              if (left == 0) {
                                  break;
                              }
                              uint64_t n = std::min<uint64_t>(p->size() - skip, left);
                              iov.push_back(iovec{const_cast<std::byte*>(p->data() + skip), n});
                              left -= n;
                              skip = 0;
                          }
                          fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
                      });
    }

    static void write(fuse_req_t req,
                      fuse_ino_t ino,
                      const char* buf,
                      size_t size,
                      off_t off,
                      fuse_file_info* fi) {
        (void)ino;
        FuseFrontEnd* s = self_of(req);
        ++s->stats_.writes;
        auto it = s->handles_.find(fi->fh);
        if (it == s->handles_.end() || off < 0) {
            fuse_reply_err(req, EBADF);
            return;
        }
        if (size == 0) {
            fuse_reply_write(req, 0);
            return;
        }
        it->second.wrote = true;
        std::vector<std::byte> data(size);
        std::memcpy(data.data(), buf, size);
        s->node_.write(
            it->second.file, static_cast<uint64_t>(off), std::move(data), [req, size](Status st) {
                if (!st.is_ok()) {
                    fuse_reply_err(req, err_of(st.code()));
                    return;
                }
                fuse_reply_write(req, size);
            });
    }

    static void sync_handle(fuse_req_t req, fuse_file_info* fi, bool only_if_written) {
        FuseFrontEnd* s = self_of(req);
        auto it = s->handles_.find(fi->fh);
        if (it == s->handles_.end()) {
            fuse_reply_err(req, EBADF);
            return;
        }
        if (only_if_written && !it->second.wrote) {
            fuse_reply_err(req, 0);
            return;
        }
        uint64_t fh = fi->fh;
        FileId file = it->second.file;
        s->node_.fsync(file, [s, req, fh, file](Status st) {
            // The node's next fsync reports a loss once; every other handle open at the loss
            // learns of it at its own next fsync (Linux's errseq).
            uint64_t lost = s->node_.engine().lost_count(file);
            auto h = s->handles_.find(fh);
            if (h != s->handles_.end()) {
                if (st.is_ok() && h->second.lost_seen < lost) {
                    st = Status(Code::DataLost, "written data of this file was lost");
                }
                h->second.lost_seen = lost;
            }
            fuse_reply_err(req, st.is_ok() ? 0 : err_of(st.code()));
        });
    }

    static void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        (void)ino;
        // close(2) returns durable data (the promise), like NFS's close-to-open.
        sync_handle(req, fi, /*only_if_written=*/true);
    }

    static void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
        (void)ino;
        (void)datasync;
        sync_handle(req, fi, /*only_if_written=*/false);
    }

    static void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        (void)ino;
        self_of(req)->handles_.erase(fi->fh);
        fuse_reply_err(req, 0);
    }

    static void create(
        fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
        FuseFrontEnd* s = self_of(req);
        Inode* p = parent_dir(s, req, parent, name);
        if (p == nullptr) {
            return;
        }
        std::string nm(name);
        wire::MetaRequest m;
        m.op = wire::MetaOp::Create;
        m.ino = p->file.ino;
        m.path = nm;
        m.mode = mode & 07777;
        m.flags = (fi->flags & O_EXCL) != 0 ? wire::kCreateExclusive : 0;
        NodeId home = p->file.home;
        uint16_t volume = p->volume;
        bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
        s->node_.meta(
            home,
            m,
            [s, req, parent, nm, home, volume, writable, fi_copy = *fi](
                wire::MetaReply rep) mutable {
                if (rep.code != Code::Ok || !rep.attr) {
                    fuse_reply_err(req, rep.code != Code::Ok ? err_of(rep) : EIO);
                    return;
                }
                Inode& in = s->remember(FileId{home, rep.attr->ino}, volume, false, parent, nm);
                ++in.nlookup;
                fuse_entry_param e = make_entry(s, in, *rep.attr);
                uint64_t h = s->next_handle_++;
                s->handles_[h] =
                    Handle{in.file, writable, false, {}, s->node_.engine().lost_count(in.file)};
                fi_copy.fh = h;
                fi_copy.direct_io = writable ? 1 : 0;
                fi_copy.keep_cache = writable ? 0 : 1;
                fuse_reply_create(req, &e, &fi_copy);
            });
    }

    static void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
        FuseFrontEnd* s = self_of(req);
        Inode* p = parent_dir(s, req, parent, name);
        if (p == nullptr) {
            return;
        }
        std::string nm(name);
        wire::MetaRequest m;
        m.op = wire::MetaOp::Mkdir;
        m.ino = p->file.ino;
        m.path = nm;
        m.mode = mode & 07777;
        NodeId home = p->file.home;
        uint16_t volume = p->volume;
        s->node_.meta(home, m, [s, req, parent, nm, home, volume](wire::MetaReply rep) {
            if (rep.code != Code::Ok || !rep.attr) {
                fuse_reply_err(req, rep.code != Code::Ok ? err_of(rep) : EIO);
                return;
            }
            entry_reply(s, req, parent, nm, home, volume, *rep.attr);
        });
    }

    static void remove(fuse_req_t req, fuse_ino_t parent, const char* name, wire::MetaOp op) {
        FuseFrontEnd* s = self_of(req);
        Inode* p = parent_dir(s, req, parent, name);
        if (p == nullptr) {
            return;
        }
        wire::MetaRequest m;
        m.op = op;
        m.ino = p->file.ino;
        m.path = name;
        s->node_.meta(p->file.home, m, [req](wire::MetaReply rep) {
            fuse_reply_err(req, rep.code == Code::Ok ? 0 : err_of(rep));
        });
    }

    static void unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
        remove(req, parent, name, wire::MetaOp::Unlink);
    }

    static void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
        remove(req, parent, name, wire::MetaOp::Rmdir);
    }

    static void rename(fuse_req_t req,
                       fuse_ino_t parent,
                       const char* name,
                       fuse_ino_t newparent,
                       const char* newname,
                       unsigned int flags) {
        FuseFrontEnd* s = self_of(req);
        Inode* p = parent == FUSE_ROOT_ID ? nullptr : s->inode(parent);
        Inode* q = newparent == FUSE_ROOT_ID ? nullptr : s->inode(newparent);
        if (p == nullptr || q == nullptr) {
            fuse_reply_err(req,
                           (parent == FUSE_ROOT_ID || newparent == FUSE_ROOT_ID) ? EPERM : ESTALE);
            return;
        }
        if (p->file.home != q->file.home || p->volume != q->volume) {
            fuse_reply_err(req, EXDEV);
            return;
        }
        wire::MetaRequest m;
        m.op = wire::MetaOp::Rename;
        m.ino = p->file.ino;
        m.path = name;
        m.ino2 = q->file.ino;
        m.path2 = newname;
        if (flags == RENAME_NOREPLACE) {
            m.flags = wire::kRenameNoReplace;
        } else if (flags == RENAME_EXCHANGE) {
            m.flags = wire::kRenameExchange;
        } else if (flags != 0) {
            fuse_reply_err(req, EINVAL);
            return;
        }
        if (m.path.size() > wire::kMetaNameMax || m.path2.size() > wire::kMetaNameMax) {
            fuse_reply_err(req, ENAMETOOLONG);
            return;
        }
        s->node_.meta(p->file.home, m, [req](wire::MetaReply rep) {
            fuse_reply_err(req, rep.code == Code::Ok ? 0 : err_of(rep));
        });
    }

    static void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        FuseFrontEnd* s = self_of(req);
        uint64_t h = s->next_handle_++;
        Handle& hd = s->handles_[h];
        fi->fh = h;
        struct stat dot {};
        dot.st_mode = S_IFDIR;
        hd.entries.emplace_back(".", dot);
        hd.entries.emplace_back("..", dot);
        if (ino == FUSE_ROOT_ID) {
            for (const auto& v : s->node_.volumes()) {
                struct stat st {};
                st.st_mode = S_IFDIR;
                st.st_ino = v.root_ino;
                hd.entries.emplace_back(v.name, st);
            }
            fuse_reply_open(req, fi);
            return;
        }
        Inode* in = s->inode(ino);
        if (in == nullptr) {
            s->handles_.erase(h);
            fuse_reply_err(req, ESTALE);
            return;
        }
        hd.file = in->file;
        // The whole listing is read at opendir, page by page from the home, so that offsets
        // stay stable while the directory changes.
        auto next = std::make_shared<std::function<void(uint64_t)>>();
        *next = [s, req, h, fi_copy = *fi, next](uint64_t cookie) mutable {
            auto it = s->handles_.find(h);
            if (it == s->handles_.end()) {
                *next = nullptr;
                return;
            }
            wire::MetaRequest m;
            m.op = wire::MetaOp::Readdir;
            m.ino = it->second.file.ino;
            m.cookie = cookie;
            m.count = wire::kReaddirMax;
            s->node_.meta(
                it->second.file.home, m, [s, req, h, fi_copy, next](wire::MetaReply rep) mutable {
                    auto hit = s->handles_.find(h);
                    if (hit == s->handles_.end()) {
                        *next = nullptr;
                        return;
                    }
                    if (rep.code != Code::Ok) {
                        s->handles_.erase(hit);
                        fuse_reply_err(req, err_of(rep));
                        *next = nullptr;
                        return;
                    }
                    for (const auto& e : rep.entries) {
                        struct stat st {};
                        st.st_mode = type_bits(e.type);
                        st.st_ino = e.ino;
                        hit->second.entries.emplace_back(e.name, st);
                    }
                    if (rep.end || rep.entries.empty() ||
                        hit->second.entries.size() >= s->opt_.dir_entries_max) {
                        fuse_reply_open(req, &fi_copy);
                        *next = nullptr;
                        return;
                    }
                    (*next)(rep.next_cookie);
                });
        };
        (*next)(0);
    }

    static void readdir(
        fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
        (void)ino;
        FuseFrontEnd* s = self_of(req);
        auto it = s->handles_.find(fi->fh);
        if (it == s->handles_.end() || off < 0) {
            fuse_reply_err(req, EBADF);
            return;
        }
        const auto& entries = it->second.entries;
        std::vector<char> buf(size);
        size_t used = 0;
        for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
            size_t n = fuse_add_direntry(req,
                                         buf.data() + used,
                                         size - used,
                                         entries[i].first.c_str(),
                                         &entries[i].second,
                                         static_cast<off_t>(i + 1));
            if (n > size - used) {
                break;
            }
            used += n;
        }
        fuse_reply_buf(req, buf.data(), used);
    }

    static void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        (void)ino;
        self_of(req)->handles_.erase(fi->fh);
        fuse_reply_err(req, 0);
    }

    static void statfs(fuse_req_t req, fuse_ino_t ino) {
        (void)ino;
        struct statvfs st {};
        st.f_bsize = 4096;
        st.f_frsize = 4096;
        st.f_blocks = 1ull << 32;
        st.f_bfree = 1ull << 31;
        st.f_bavail = 1ull << 31;
        st.f_files = 1ull << 32;
        st.f_ffree = 1ull << 31;
        st.f_favail = 1ull << 31;
        st.f_namemax = wire::kMetaNameMax;
        fuse_reply_statfs(req, &st);
    }
};

// ---------------------------------------------------------------------------------------------

FuseFrontEnd::FuseFrontEnd(runtime::EventLoop& loop, node::Node& node, FuseOptions options)
    : loop_(loop), node_(node), opt_(std::move(options)), buf_(std::make_unique<fuse_buf>()) {
    *buf_ = fuse_buf{};
}

FuseFrontEnd::~FuseFrontEnd() {
    unmount();
}

Status FuseFrontEnd::mount() {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops o{};
        o.init = Ops::init;
        o.lookup = Ops::lookup;
        o.forget = Ops::forget;
        o.forget_multi = Ops::forget_multi;
        o.getattr = Ops::getattr;
        o.setattr = Ops::setattr;
        o.open = Ops::open;
        o.read = Ops::read;
        o.write = Ops::write;
        o.flush = Ops::flush;
        o.fsync = Ops::fsync;
        o.release = Ops::release;
        o.create = Ops::create;
        o.mkdir = Ops::mkdir;
        o.unlink = Ops::unlink;
        o.rmdir = Ops::rmdir;
        o.rename = Ops::rename;
        o.opendir = Ops::opendir;
        o.readdir = Ops::readdir;
        o.releasedir = Ops::releasedir;
        o.statfs = Ops::statfs;
        return o;
    }();
    std::string options =
        fmt::format("fsname=vremote:{},subtype=vremote,default_permissions,allow_other,max_read={}",
                    node_.name(),
                    kIoMax);
    std::vector<std::string> argv_s{"vremoted", "-o", options};
    std::vector<char*> argv;
    for (auto& a : argv_s) {
        argv.push_back(a.data());
    }
    fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    se_ = fuse_session_new(&args, &ops, sizeof ops, this);
    if (se_ == nullptr) {
        return Status(Code::IoError, "fuse_session_new failed");
    }
    // A daemon that was killed leaves its mount behind, dead ("Transport endpoint is not
    // connected"): detach it, so that a restart mounts again instead of failing.
    struct stat st {};
    if (::stat(opt_.mountpoint.c_str(), &st) != 0 && errno == ENOTCONN) {
        if (::umount2(opt_.mountpoint.c_str(), MNT_DETACH) == 0) {
            log::warn("detached the dead mount a previous daemon left at {}", opt_.mountpoint);
        } else {
            log::warn(
                "cannot detach the dead mount at {}: {}", opt_.mountpoint, std::strerror(errno));
        }
    }
    if (fuse_session_mount(se_, opt_.mountpoint.c_str()) != 0) {
        fuse_session_destroy(se_);
        se_ = nullptr;
        return Status(Code::IoError, fmt::format("cannot mount FUSE at {}", opt_.mountpoint));
    }
    fd_ = fuse_session_fd(se_);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    mounted_ = true;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = false;
    }
    for (int i = 0; i < opt_.notifier_threads; ++i) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            ++running_;
        }
        notifiers_.emplace_back([this] { notifier(); });
    }
    VR_TRY(loop_.add(fd_, EPOLLIN, [this](uint32_t) { on_readable(); }));
    log::info("mounted the cluster at {}", opt_.mountpoint);
    raise_readahead();
    return Status::ok();
}

void FuseFrontEnd::unmount() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    // A notifier blocked in the kernel (on a page a READ still holds) must not hold up the
    // unmount, which releases it: wait a bounded time, then leave it behind.
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(2), [this] { return running_ == 0; });
    }
    for (auto& t : notifiers_) {
        bool done;
        {
            std::lock_guard<std::mutex> lock(mu_);
            done = running_ == 0;
        }
        if (done) {
            t.join();
        } else {
            t.detach();
        }
    }
    notifiers_.clear();
    if (se_ != nullptr) {
        if (mounted_) {
            loop_.remove(fd_);
            fuse_session_unmount(se_);
            mounted_ = false;
            log::info("unmounted {}", opt_.mountpoint);
        }
        fuse_session_destroy(se_);
        se_ = nullptr;
    }
    std::free(buf_->mem);
    buf_->mem = nullptr;
}

void FuseFrontEnd::raise_readahead() {
    // The kernel caps a FUSE mount's readahead at the VM default (128 KiB) whatever max_readahead
    // says; its backing device's read_ahead_kb lifts the cap, so that sequential reads become
    // 1 MiB requests (one engine range, one fetch from the home). Best effort: needs root.
    // The device number comes from /proc/self/mountinfo: a stat() of the mount point would send
    // this very loop a FUSE request while it waits for the answer.
    char real[PATH_MAX];
    if (::realpath(opt_.mountpoint.c_str(), real) == nullptr) {
        return;
    }
    std::ifstream mi("/proc/self/mountinfo");
    std::string line, dev;
    while (std::getline(mi, line)) {
        std::istringstream in(line);
        std::string id, parent, majmin, root, point;
        in >> id >> parent >> majmin >> root >> point;
        if (point == real) {
            dev = majmin;  // the last one mounted there wins
        }
    }
    if (dev.empty()) {
        return;
    }
    std::string path = fmt::format("/sys/class/bdi/{}/read_ahead_kb", dev);
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    std::string kb = std::to_string(kIoMax / 1024);
    if (fd < 0 || ::write(fd, kb.data(), kb.size()) != static_cast<ssize_t>(kb.size())) {
        log::info("readahead stays at the kernel's default: cannot write {}", path);
    }
    if (fd >= 0) {
        ::close(fd);
    }
}

void FuseFrontEnd::on_readable() {
    // A bounded batch per wake-up, so that peers and clients get their turn.
    for (int i = 0; i < 64 && se_ != nullptr; ++i) {
        int res = fuse_session_receive_buf(se_, buf_.get());
        if (res == -EAGAIN || res == -EINTR) {
            return;
        }
        if (res <= 0) {
            // Unmounted from outside (umount, fusermount -u) or the connection was aborted.
            log::warn("the FUSE session at {} ended ({})",
                      opt_.mountpoint,
                      res == 0 ? "unmounted" : std::strerror(-res));
            loop_.remove(fd_);
            mounted_ = false;
            return;
        }
        ++stats_.requests;
        fuse_session_process_buf(se_, buf_.get());
    }
}

// ---------------------------------------------------------------------------------------------
// Inodes

FuseFrontEnd::Inode* FuseFrontEnd::inode(uint64_t nodeid) {
    auto it = inodes_.find(nodeid);
    return it == inodes_.end() ? nullptr : &it->second;
}

FuseFrontEnd::Inode& FuseFrontEnd::remember(
    FileId file, uint16_t volume, bool dir, uint64_t parent, const std::string& name) {
    auto it = by_file_.find(file);
    if (it != by_file_.end()) {
        Inode& in = inodes_.at(it->second);
        in.parent = parent;
        in.name = name;
        in.dir = dir;
        return in;
    }
    uint64_t id = next_nodeid_++;
    Inode& in = inodes_[id];
    in.nodeid = id;
    in.file = file;
    in.volume = volume;
    in.dir = dir;
    in.parent = parent;
    in.name = name;
    by_file_[file] = id;
    return in;
}

void FuseFrontEnd::forget(uint64_t nodeid, uint64_t n) {
    auto it = inodes_.find(nodeid);
    if (it == inodes_.end()) {
        return;
    }
    it->second.nlookup = it->second.nlookup > n ? it->second.nlookup - n : 0;
    if (it->second.nlookup == 0) {
        by_file_.erase(it->second.file);
        inodes_.erase(it);
    }
}

struct stat FuseFrontEnd::to_stat(uint64_t nodeid, const wire::MetaAttr& a) const {
    struct stat st {};
    st.st_ino = nodeid;
    st.st_mode = type_bits(a.type) | (a.mode & 07777);
    st.st_nlink = a.nlink;
    st.st_uid = a.uid;
    st.st_gid = a.gid;
    st.st_size = static_cast<off_t>(a.size);
    st.st_blksize = 4096;
    st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
    st.st_mtim.tv_sec = a.mtime_ns / 1'000'000'000;
    st.st_mtim.tv_nsec = a.mtime_ns % 1'000'000'000;
    st.st_ctim.tv_sec = a.ctime_ns / 1'000'000'000;
    st.st_ctim.tv_nsec = a.ctime_ns % 1'000'000'000;
    st.st_atim = st.st_mtim;
    return st;
}

struct stat FuseFrontEnd::root_stat() const {
    struct stat st {};
    st.st_ino = FUSE_ROOT_ID;
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
    return st;
}

// ---------------------------------------------------------------------------------------------
// Invalidations

void FuseFrontEnd::enqueue(Job job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!stop_) {
            jobs_.push_back(std::move(job));
            cv_.notify_one();
            return;
        }
    }
    // Not mounted any more: the kernel holds nothing.
    if (job.done) {
        job.done();
    }
}

void FuseFrontEnd::notifier() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) {
                --running_;
                cv_.notify_all();
                return;
            }
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        // May block while the kernel holds the pages or the directory, for a request that the
        // loop thread is serving; never for one that waits on this thread.
        if (!job.name.empty()) {
            fuse_lowlevel_notify_inval_entry(se_, job.nodeid, job.name.c_str(), job.name.size());
        } else {
            fuse_lowlevel_notify_inval_inode(se_, job.nodeid, job.off, job.len);
        }
        if (job.done) {
            job.done();
        }
    }
}

void FuseFrontEnd::invalidate(FileId file, coherence::Range range, std::function<void()> done) {
    ++stats_.notifications;
    auto it = by_file_.find(file);
    if (it == by_file_.end() || !mounted_) {
        done();  // the kernel never looked the file up (or forgot it): it holds no page of it
        return;
    }
    uint64_t ps = node_.page_size();
    Job j;
    j.nodeid = it->second;
    j.off = static_cast<int64_t>(range.first * ps);
    // A range this long is "to the end" (kWholeFile).
    j.len = range.count >= (uint64_t{1} << 40) ? 0 : static_cast<int64_t>(range.count * ps);
    j.done = std::move(done);
    enqueue(std::move(j));
}

void FuseFrontEnd::invalidate_attr(FileId file, std::function<void()> done) {
    auto it = by_file_.find(file);
    if (it == by_file_.end() || !mounted_) {
        done();
        return;
    }
    Job j;
    j.nodeid = it->second;
    j.off = -1;  // attributes only
    j.done = std::move(done);
    enqueue(std::move(j));
}

void FuseFrontEnd::invalidate_entry(FileId dir, std::string name, std::function<void()> done) {
    auto it = by_file_.find(dir);
    if (it == by_file_.end() || !mounted_ || name.empty()) {
        done();
        return;
    }
    Job j;
    j.nodeid = it->second;
    j.name = std::move(name);
    j.done = std::move(done);
    enqueue(std::move(j));
}

void FuseFrontEnd::home_lost(NodeId home) {
    if (!mounted_) {
        return;
    }
    size_t n = 0;
    for (const auto& [id, in] : inodes_) {
        if (in.file.home != home) {
            continue;
        }
        Job a;
        a.nodeid = id;
        a.off = -1;
        enqueue(std::move(a));
        if (in.parent != 0 && !in.name.empty()) {
            Job e;
            e.nodeid = in.parent;
            e.name = in.name;
            enqueue(std::move(e));
        }
        ++n;
    }
    if (n != 0) {
        log::info(
            "dropped the kernel's attributes and entries of {} inode(s) of a home whose link went "
            "down or was reset",
            n);
    }
}

}  // namespace vr::fuse
