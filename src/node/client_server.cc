#include "node/client_server.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace vr::node {

using coherence::FileId;

namespace {

constexpr uint64_t kPagesPerReplyMax = 32768;

wire::Attrs to_attrs(const wire::MetaAttr& a) {
    wire::Attrs out;
    out.ino = a.ino;
    out.size = a.size;
    uint32_t type = a.type == wire::MetaType::Directory ? S_IFDIR
                    : a.type == wire::MetaType::Symlink ? S_IFLNK
                    : a.type == wire::MetaType::Regular ? S_IFREG
                                                        : 0;
    out.mode = type | (a.mode & 07777);
    out.mtime_ns = a.mtime_ns;
    return out;
}

Status reply_status(const wire::MetaReply& r) {
    return r.code == Code::Ok ? Status::ok() : Status(r.code, r.message);
}

}  // namespace

ClientServer::ClientServer(runtime::EventLoop& loop, Node& node, ClientServerOptions options)
    : loop_(loop), node_(node), opt_(std::move(options)) {}

ClientServer::~ClientServer() {
    stop();
}

Status ClientServer::start() {
    sockaddr_un addr{};
    if (opt_.socket_path.empty() || opt_.socket_path.size() >= sizeof(addr.sun_path)) {
        return Status(Code::InvalidArgument,
                      fmt::format("client socket path '{}' is empty or too long (max {} bytes)",
                                  opt_.socket_path,
                                  sizeof(addr.sun_path) - 1));
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return Status(Code::IoError, fmt::format("socket: {}", std::strerror(errno)));
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, opt_.socket_path.c_str(), opt_.socket_path.size());
    // A socket file left by a daemon that died is replaced; a live daemon answers connect().
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        if (::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            ::close(probe);
            ::close(fd);
            return Status(Code::Exists, fmt::format("another daemon serves {}", opt_.socket_path));
        }
        ::close(probe);
    }
    ::unlink(opt_.socket_path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::chmod(opt_.socket_path.c_str(), 0660) != 0 || ::listen(fd, 128) != 0) {
        int err = errno;
        ::close(fd);
        return Status(Code::IoError,
                      fmt::format("client socket {}: {}", opt_.socket_path, std::strerror(err)));
    }
    listen_fd_ = fd;
    return loop_.add(fd, EPOLLIN, [this](uint32_t) { on_accept(); });
}

void ClientServer::stop() {
    if (listen_fd_ >= 0) {
        loop_.remove(listen_fd_);
        ::close(listen_fd_);
        listen_fd_ = -1;
        ::unlink(opt_.socket_path.c_str());
    }
    auto clients = std::move(clients_);
    clients_.clear();
    for (auto& [id, c] : clients) {
        c->conn->close(Status(Code::Cancelled, "the daemon is stopping"));
    }
}

ClientServer::Client* ClientServer::find(uint64_t client) {
    auto it = clients_.find(client);
    return it == clients_.end() ? nullptr : it->second.get();
}

void ClientServer::on_accept() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                log::warn("client socket accept: {}", std::strerror(errno));
            }
            return;
        }
        if (clients_.size() >= opt_.clients_max) {
            log::warn("refusing a client: {} clients already connected", clients_.size());
            ::close(fd);
            continue;
        }
        uint64_t id = next_client_++;
        auto c = std::make_unique<Client>();
        c->id = id;
        // A client's replies are bounded by its requests in flight (requests_max x max_io).
        c->conn = std::make_unique<net::Connection>(
            loop_, fd, limits_, fmt::format("client {}", id), size_t{80} << 20);
        Client* raw = c.get();
        clients_.emplace(id, std::move(c));
        Status s = raw->conn->start(
            [this, id](net::Frame&& f) { on_frame(id, std::move(f)); },
            [this, id](const Status& why) {
                if (why.code() != Code::Cancelled && why.code() != Code::Unavailable) {
                    log::info("client {} disconnected: {}", id, why.to_string());
                }
                // Destroyed later: this callback runs inside the connection.
                auto it = clients_.find(id);
                if (it != clients_.end()) {
                    std::shared_ptr<Client> dead(std::move(it->second));
                    clients_.erase(it);
                    loop_.post([dead] {});
                }
            });
        if (!s.is_ok()) {
            log::warn("client {}: {}", id, s.to_string());
            clients_.erase(id);
        }
    }
}

void ClientServer::on_frame(uint64_t client, net::Frame&& f) {
    Client* c = find(client);
    if (c == nullptr) {
        return;
    }
    if (wire::family_of(f.header.type) != wire::Family::ClientRequest) {
        log::warn(
            "client {}: unexpected {} frame; closing", client, wire::type_name(f.header.type));
        c->conn->close(Status(Code::ProtocolError, "not a client request"));
        return;
    }
    auto req = wire::decode_client_request(f.header, f.body, std::move(f.bytes), limits_);
    if (!req.is_ok()) {
        log::warn("client {}: bad request, closing: {}", client, req.status().to_string());
        c->conn->close(req.status());
        return;
    }
    if (c->inflight >= opt_.requests_max) {
        ++c->inflight;  // reply() counts every reply down
        reply_error(client, req->id, Status(Code::Busy, "too many requests in flight"));
        return;
    }
    ++c->inflight;
    dispatch(client, std::move(req.value()));
}

void ClientServer::reply(uint64_t client, wire::ClientReply r) {
    Client* c = find(client);
    if (c == nullptr) {
        return;
    }
    --c->inflight;
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> data;
    Status s = wire::encode_client_reply(r, limits_, head, data);
    if (!s.is_ok()) {
        log::error("client {}: cannot encode a reply: {}", client, s.to_string());
        wire::ClientReply err{r.id, wire::Reply{Code::IoError, "reply could not be encoded"}};
        VR_ASSERT(wire::encode_client_reply(err, limits_, head, data).is_ok(),
                  "an error reply must encode");
    }
    std::vector<coherence::PageBuf> pages;
    if (!data.empty()) {
        // Whole cached pages go out as they are; a partial window is gathered into one buffer.
        auto* rr = std::get_if<wire::ReadReply>(&r.op);
        size_t total = 0;
        for (auto sp : data) {
            total += sp.size();
        }
        auto buf = std::make_shared<std::vector<std::byte>>();
        buf->reserve(total);
        for (auto sp : data) {
            buf->insert(buf->end(), sp.begin(), sp.end());
        }
        (void)rr;
        pages.push_back(std::move(buf));
    }
    if (!c->conn->send(std::move(head), std::move(pages))) {
        c->conn->close(Status(Code::Busy, "the client does not read its replies"));
    }
}

void ClientServer::reply_error(uint64_t client, uint64_t id, const Status& st) {
    std::string msg = st.context().empty() ? std::string(code_message(st.code())) : st.context();
    if (msg.size() > limits_.max_message) {
        msg.resize(limits_.max_message);
    }
    std::replace(msg.begin(), msg.end(), '\0', '?');
    reply(client, wire::ClientReply{id, wire::Reply{st.code(), std::move(msg)}});
}

void ClientServer::dispatch(uint64_t client, wire::ClientRequest req) {
    Client* c = find(client);
    uint64_t id = req.id;
    auto fail = [this, client, id](const Status& st) { reply_error(client, id, st); };
    std::visit(
        [&](auto& op) {
            using T = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<T, wire::OpenRequest>) {
                do_open(client, id, std::move(op));
            } else if constexpr (std::is_same_v<T, wire::StatRequest>) {
                do_stat(client, id, std::move(op));
            } else if constexpr (std::is_same_v<T, wire::PagesRequest>) {
                do_pages(client, id, std::move(op));
            } else if constexpr (std::is_same_v<T, wire::StatsRequest>) {
                reply(client, wire::ClientReply{id, wire::StatsReply{node_.counters()}});
            } else if constexpr (std::is_same_v<T, wire::StatusRequest>) {
                reply(client, wire::ClientReply{id, wire::StatusReply{node_.status()}});
            } else {
                auto hit = c->handles.find(op.handle);
                if (hit == c->handles.end()) {
                    fail(
                        Status(Code::InvalidArgument, fmt::format("no open handle {}", op.handle)));
                    return;
                }
                Handle h = hit->second;
                if constexpr (std::is_same_v<T, wire::ReadRequest>) {
                    node_.read(h.file,
                               op.offset,
                               op.length,
                               coherence::ReadMode::Direct,
                               [this, client, id](Result<ReadResult> r) {
                                   if (!r.is_ok()) {
                                       reply_error(client, id, r.status());
                                       return;
                                   }
                                   wire::ReadReply rr;
                                   if (r->length > 0) {
                                       rr.data = wire::Payload::pages(
                                           std::move(r->pages), r->offset, r->length);
                                   }
                                   reply(client, wire::ClientReply{id, std::move(rr)});
                               });
                } else if constexpr (std::is_same_v<T, wire::WriteRequest>) {
                    if (!h.writable) {
                        fail(Status(Code::PermissionDenied, "the file was opened read-only"));
                        return;
                    }
                    auto n = static_cast<uint32_t>(op.data.size());
                    node_.write(h.file,
                                op.offset,
                                std::move(op.data).take(),
                                [this, client, id, n](Status st) {
                                    if (!st.is_ok()) {
                                        reply_error(client, id, st);
                                        return;
                                    }
                                    reply(client, wire::ClientReply{id, wire::WriteReply{n}});
                                });
                } else if constexpr (std::is_same_v<T, wire::FsyncRequest>) {
                    node_.fsync(h.file,
                                [this, client, id](Status st) { reply_error(client, id, st); });
                } else if constexpr (std::is_same_v<T, wire::CloseRequest>) {
                    c->handles.erase(op.handle);
                    reply(client, wire::ClientReply{id, wire::Reply{}});
                }
            }
        },
        req.op);
}

void ClientServer::do_open(uint64_t client, uint64_t id, wire::OpenRequest op) {
    auto fail = [this, client, id](const Status& st) { reply_error(client, id, st); };
    Client* c = find(client);
    if (c->handles.size() >= opt_.handles_max) {
        fail(Status(Code::Busy, "too many open handles on this connection"));
        return;
    }
    auto res = node_.resolve(op.path);
    if (!res.is_ok()) {
        fail(res.status());
        return;
    }
    VolumeRef vol = res->first;
    bool writable = (op.flags & wire::kOpenReadOnly) == 0;
    if (writable && vol.read_only) {
        fail(Status(Code::ReadOnly, fmt::format("volume '{}' is read-only", vol.name)));
        return;
    }
    wire::MetaRequest req;
    req.volume = vol.index;
    req.path = res->second;
    if ((op.flags & wire::kOpenCreate) != 0) {
        req.op = wire::MetaOp::Create;
        req.mode = op.mode;
        req.flags = (op.flags & wire::kOpenExclusive) != 0 ? wire::kCreateExclusive : 0;
    } else {
        req.op = wire::MetaOp::GetAttrPath;
    }
    bool truncate = (op.flags & wire::kOpenTruncate) != 0;
    std::string path = op.path;
    node_.meta(
        vol.node, req, [this, client, id, vol, writable, truncate, path, fail](wire::MetaReply r) {
            if (r.code != Code::Ok || !r.attr) {
                fail(r.code != Code::Ok ? reply_status(r)
                                        : Status(Code::ProtocolError, "no attributes"));
                return;
            }
            if (r.attr->type != wire::MetaType::Regular) {
                fail(
                    Status(Code::InvalidArgument, fmt::format("'{}' is not a regular file", path)));
                return;
            }
            auto opened = [this, client, id, vol, writable, path, fail](const wire::MetaAttr& a) {
                Client* cc = find(client);
                if (cc == nullptr) {
                    return;
                }
                if (cc->handles.size() >= opt_.handles_max) {
                    fail(Status(Code::Busy, "too many open handles on this connection"));
                    return;
                }
                uint64_t h = cc->next_handle++;
                cc->handles[h] = Handle{FileId{vol.node, a.ino}, writable, path};
                reply(client, wire::ClientReply{id, wire::OpenReply{h, to_attrs(a)}});
            };
            if (!truncate) {
                opened(*r.attr);
                return;
            }
            wire::MetaRequest t;
            t.op = wire::MetaOp::Truncate;
            t.ino = r.attr->ino;
            t.size = 0;
            node_.meta(vol.node, t, [opened, fail](wire::MetaReply tr) {
                if (tr.code != Code::Ok || !tr.attr) {
                    fail(tr.code != Code::Ok ? reply_status(tr)
                                             : Status(Code::ProtocolError, "no attributes"));
                    return;
                }
                opened(*tr.attr);
            });
        });
}

void ClientServer::do_stat(uint64_t client, uint64_t id, wire::StatRequest op) {
    auto res = node_.resolve(op.path);
    if (!res.is_ok()) {
        reply_error(client, id, res.status());
        return;
    }
    wire::MetaRequest req;
    req.op = wire::MetaOp::GetAttrPath;
    req.volume = res->first.index;
    req.path = res->second;
    node_.meta(res->first.node, req, [this, client, id](wire::MetaReply r) {
        if (r.code != Code::Ok || !r.attr) {
            reply_error(client,
                        id,
                        r.code != Code::Ok ? reply_status(r)
                                           : Status(Code::ProtocolError, "no attributes"));
            return;
        }
        reply(client, wire::ClientReply{id, wire::StatReply{to_attrs(*r.attr)}});
    });
}

void ClientServer::do_pages(uint64_t client, uint64_t id, wire::PagesRequest op) {
    auto res = node_.resolve(op.path);
    auto fail = [this, client, id](const Status& st) { reply_error(client, id, st); };
    if (!res.is_ok()) {
        fail(res.status());
        return;
    }
    wire::MetaRequest req;
    req.op = wire::MetaOp::GetAttrPath;
    req.volume = res->first.index;
    req.path = res->second;
    coherence::NodeId home = res->first.node;
    uint64_t first = op.first_page;
    node_.meta(home, req, [this, client, id, home, first, fail](wire::MetaReply r) {
        if (r.code != Code::Ok || !r.attr) {
            fail(r.code != Code::Ok ? reply_status(r)
                                    : Status(Code::ProtocolError, "no attributes"));
            return;
        }
        uint64_t ps = node_.page_size();
        uint64_t count = (r.attr->size + ps - 1) / ps;
        wire::PagesReply pr;
        pr.page_count = count;
        pr.first_page = std::min(first, count);
        uint64_t n = std::min(count - pr.first_page, kPagesPerReplyMax);
        pr.states = node_.page_states(FileId{home, r.attr->ino}, pr.first_page, n);
        reply(client, wire::ClientReply{id, std::move(pr)});
    });
}

}  // namespace vr::node
