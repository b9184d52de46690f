#include "fake_daemon.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace vr::client::test {

FakeDaemon::FakeDaemon(wire::Limits limits) : limits_(limits) {
    std::string pattern = "/tmp/vr_client_test.XXXXXX";
    VR_ASSERT(::mkdtemp(pattern.data()) != nullptr, "mkdtemp: {}", std::strerror(errno));
    dir_ = pattern;
    own_dir_ = true;
    socket_path_ = dir_ + "/vremoted.sock";
    status_ = {{0, "n1", wire::LinkState::Self, 0, 3},
               {1, "n2", wire::LinkState::Up, 250, 1},
               {2, "n3", wire::LinkState::Connecting, 0, 0}};
    listen_and_run();
}

FakeDaemon::FakeDaemon(std::string socket_path, std::vector<wire::NodeStatus> status)
    : socket_path_(std::move(socket_path)), status_(std::move(status)) {
    dir_ = std::filesystem::path(socket_path_).parent_path().string();
    listen_and_run();
}

void FakeDaemon::listen_and_run() {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    VR_ASSERT(listen_fd_ >= 0, "socket: {}", std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
    VR_ASSERT(::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::listen(listen_fd_, 16) == 0,
              "bind {}: {}",
              socket_path_,
              std::strerror(errno));
    VR_ASSERT(loop_.add(listen_fd_, EPOLLIN, [this](uint32_t) { on_accept(); }).is_ok(), "add");
    thread_ = std::thread([this] { VR_ASSERT(loop_.run().is_ok(), "loop"); });
}

FakeDaemon::~FakeDaemon() {
    on_loop([this] {
        clients_.clear();
        loop_.remove(listen_fd_);
        ::close(listen_fd_);
    });
    loop_.shutdown();
    thread_.join();
    if (own_dir_) {
        std::filesystem::remove_all(dir_);
    } else {
        std::filesystem::remove(socket_path_);
    }
}

void FakeDaemon::put_file(const std::string& path, std::vector<std::byte> bytes) {
    on_loop([&] { files_[path] = std::move(bytes); });
}

std::vector<std::byte> FakeDaemon::file(const std::string& path) {
    return on_loop([&] {
        auto it = files_.find(path);
        return it == files_.end() ? std::vector<std::byte>{} : it->second;
    });
}

bool FakeDaemon::exists(const std::string& path) {
    return on_loop([&] { return files_.contains(path); });
}

void FakeDaemon::set_page_states(const std::string& path, std::string states) {
    on_loop([&] { page_states_[path] = std::move(states); });
}

void FakeDaemon::set_pages_per_reply(uint64_t n) {
    on_loop([&] { pages_per_reply_ = n; });
}

void FakeDaemon::hold(bool on) {
    on_loop([&] { hold_ = on; });
}

void FakeDaemon::release() {
    on_loop([&] {
        std::vector<Held> held = std::move(held_);
        held_.clear();
        for (const Held& h : held) {
            answer(h.client, h.request);
        }
    });
}

void FakeDaemon::misbehave(Misbehave how) {
    on_loop([&] { misbehave_ = how; });
}

void FakeDaemon::cap_writes(uint32_t max_written) {
    on_loop([&] { cap_writes_ = max_written; });
}

void FakeDaemon::fail_writes_after(uint64_t n) {
    on_loop([&] { writes_left_ = n; });
}

std::vector<Seen> FakeDaemon::seen() {
    return on_loop([&] { return seen_; });
}

size_t FakeDaemon::open_handles() {
    return on_loop([&] { return handles_.size(); });
}

size_t FakeDaemon::connections() {
    return on_loop([&] { return clients_.size(); });
}

void FakeDaemon::on_accept() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        uint64_t id = next_client_++;
        auto conn = std::make_unique<net::Connection>(
            loop_, fd, limits_, fmt::format("client {}", id), size_t{64} << 20);
        net::Connection* c = conn.get();
        clients_[id].conn = std::move(conn);
        Status s = c->start([this, id](net::Frame&& f) { on_frame(id, std::move(f)); },
                            [this, id](const Status&) {
                                // Not now: the connection is still on the stack.
                                loop_.post([this, id] { clients_.erase(id); });
                            });
        VR_ASSERT(s.is_ok(), "{}", s.to_string());
    }
}

void FakeDaemon::on_frame(uint64_t client, net::Frame&& frame) {
    auto request =
        wire::decode_client_request(frame.header, frame.body, std::move(frame.bytes), limits_);
    if (!request.is_ok()) {
        ADD_FAILURE() << "the client sent a bad request: " << request.status().to_string();
        clients_[client].conn->close(request.status());
        return;
    }
    const wire::ClientRequest& r = request.value();
    Seen s{frame.header.type};
    if (const auto* read = std::get_if<wire::ReadRequest>(&r.op)) {
        s.offset = read->offset;
        s.length = read->length;
    } else if (const auto* write = std::get_if<wire::WriteRequest>(&r.op)) {
        s.offset = write->offset;
        s.length = write->data.size();
    }
    seen_.push_back(s);
    if (hold_) {
        held_.push_back(Held{client, request.value()});
        return;
    }
    answer(client, r);
}

wire::Attrs FakeDaemon::attrs_of(const std::string& path) const {
    auto it = files_.find(path);
    auto mode = modes_.find(path);
    return wire::Attrs{std::hash<std::string>{}(path) | 1,
                       it->second.size(),
                       0100000u | (mode != modes_.end() ? mode->second : 0644u),
                       1'700'000'000'000'000'000};
}

wire::ClientReply FakeDaemon::reply_to(const wire::ClientRequest& request) {
    auto error = [&](Code code, std::string message) {
        return wire::ClientReply{request.id, wire::Reply{code, std::move(message)}};
    };
    auto file_of = [&](uint64_t handle) -> std::vector<std::byte>* {
        auto h = handles_.find(handle);
        return h == handles_.end() ? nullptr : &files_[h->second];
    };
    const auto& op = request.op;
    if (const auto* open = std::get_if<wire::OpenRequest>(&op)) {
        bool exists = files_.contains(open->path);
        if (!exists && (open->flags & wire::kOpenCreate) == 0) {
            return error(Code::NotFound, open->path + " does not exist");
        }
        if (exists && (open->flags & wire::kOpenExclusive) != 0) {
            return error(Code::Exists, open->path + " exists");
        }
        if (!exists) {
            files_[open->path];
            modes_[open->path] = open->mode;
        }
        if ((open->flags & wire::kOpenTruncate) != 0) {
            files_[open->path].clear();
        }
        uint64_t handle = next_handle_++;
        handles_[handle] = open->path;
        return wire::ClientReply{request.id, wire::OpenReply{handle, attrs_of(open->path)}};
    }
    if (const auto* read = std::get_if<wire::ReadRequest>(&op)) {
        std::vector<std::byte>* f = file_of(read->handle);
        if (f == nullptr) {
            return error(Code::InvalidArgument, "no such handle");
        }
        uint64_t from = std::min<uint64_t>(read->offset, f->size());
        uint64_t n = std::min<uint64_t>(read->length, f->size() - from);
        std::vector<std::byte> data(f->begin() + static_cast<ptrdiff_t>(from),
                                    f->begin() + static_cast<ptrdiff_t>(from + n));
        return wire::ClientReply{request.id, wire::ReadReply{wire::Payload::owned(data)}};
    }
    if (const auto* write = std::get_if<wire::WriteRequest>(&op)) {
        std::vector<std::byte>* f = file_of(write->handle);
        if (f == nullptr) {
            return error(Code::InvalidArgument, "no such handle");
        }
        if (writes_left_ == 0) {
            return error(Code::NoSpace, "the export is full");
        }
        if (writes_left_ != UINT64_MAX) {
            --writes_left_;
        }
        std::vector<std::byte> data = write->data.copy();
        if (cap_writes_ != 0 && data.size() > cap_writes_) {
            data.resize(cap_writes_);
        }
        if (f->size() < write->offset + data.size()) {
            f->resize(write->offset + data.size());
        }
        std::copy(data.begin(), data.end(), f->begin() + static_cast<ptrdiff_t>(write->offset));
        return wire::ClientReply{request.id, wire::WriteReply{static_cast<uint32_t>(data.size())}};
    }
    if (const auto* fsync = std::get_if<wire::FsyncRequest>(&op)) {
        if (file_of(fsync->handle) == nullptr) {
            return error(Code::InvalidArgument, "no such handle");
        }
        return wire::ClientReply{request.id, wire::Reply{}};
    }
    if (const auto* close = std::get_if<wire::CloseRequest>(&op)) {
        if (handles_.erase(close->handle) == 0) {
            return error(Code::InvalidArgument, "no such handle");
        }
        return wire::ClientReply{request.id, wire::Reply{}};
    }
    if (const auto* stat = std::get_if<wire::StatRequest>(&op)) {
        if (!files_.contains(stat->path)) {
            return error(Code::NotFound, stat->path + " does not exist");
        }
        return wire::ClientReply{request.id, wire::StatReply{attrs_of(stat->path)}};
    }
    if (const auto* pages = std::get_if<wire::PagesRequest>(&op)) {
        auto it = files_.find(pages->path);
        if (it == files_.end()) {
            return error(Code::NotFound, pages->path + " does not exist");
        }
        uint64_t count = (it->second.size() + limits_.page_size - 1) / limits_.page_size;
        std::string all = page_states_[pages->path];
        all.resize(count, 'I');
        wire::PagesReply p;
        p.first_page = std::min(pages->first_page, count);
        p.page_count = count;
        p.states = all.substr(p.first_page, pages_per_reply_);
        return wire::ClientReply{request.id, std::move(p)};
    }
    if (std::holds_alternative<wire::StatsRequest>(op)) {
        wire::StatsReply s;
        s.counters = {{"client.requests", seen_.size()}, {"cache.pages", 42}};
        return wire::ClientReply{request.id, std::move(s)};
    }
    wire::StatusReply s;
    s.nodes = status_;
    return wire::ClientReply{request.id, std::move(s)};
}

void FakeDaemon::answer(uint64_t client, const wire::ClientRequest& request) {
    if (!clients_.contains(client) || clients_[client].conn->closed()) {
        return;
    }
    wire::ClientReply reply = reply_to(request);
    switch (misbehave_) {
        case Misbehave::None:
        case Misbehave::BadBodyCrc:
            break;
        case Misbehave::Garbage: {
            std::vector<std::byte> junk(wire::kHeaderSize, std::byte{0x41});
            clients_[client].conn->send(std::move(junk));
            return;
        }
        case Misbehave::WrongId:
            reply.id += 1000;
            break;
        case Misbehave::WrongType:
            reply.op = wire::StatReply{};
            break;
        case Misbehave::OkForOpen:
            if (std::holds_alternative<wire::OpenRequest>(request.op)) {
                reply.op = wire::Reply{};
            }
            break;
        case Misbehave::LongRead:
            if (const auto* read = std::get_if<wire::ReadRequest>(&request.op)) {
                reply.op = wire::ReadReply{
                    wire::Payload::owned(std::vector<std::byte>(read->length + 1u))};
            }
            break;
        case Misbehave::HangUp:
            clients_[client].conn->close(Status(Code::Unavailable, "hung up"));
            return;
    }
    send(client, reply, request);
}

void FakeDaemon::send(uint64_t client, const wire::ClientReply& reply, const wire::ClientRequest&) {
    std::vector<std::byte> head;
    std::vector<std::span<const std::byte>> data;
    Status s = wire::encode_client_reply(reply, limits_, head, data);
    VR_ASSERT(s.is_ok(), "{}", s.to_string());
    if (misbehave_ == Misbehave::BadBodyCrc) {
        head.back() ^= std::byte{1};
    }
    auto bytes = std::make_shared<std::vector<std::byte>>();
    for (auto piece : data) {
        bytes->insert(bytes->end(), piece.begin(), piece.end());
    }
    std::vector<coherence::PageBuf> pages;
    if (!bytes->empty()) {
        pages.push_back(std::move(bytes));
    }
    VR_ASSERT(clients_[client].conn->send(std::move(head), std::move(pages)), "send queue full");
}

}  // namespace vr::client::test
