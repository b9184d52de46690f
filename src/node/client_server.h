// ClientServer: the native client socket of a node. Programs on the same machine (the C
// library, the `vremote` command) connect to a Unix stream socket and speak the client protocol
// of wire/client.h; each request becomes Node operations, and each reply echoes the request's
// id, so a client may pipeline. The socket is created with mode 0660: the file system's
// permissions are the access control (the daemon runs as the user that owns the data).
//
// Bounds: at most clients_max connections (more are closed at once with a log line), at most
// handles_max open handles and requests_max requests in flight per connection (beyond, a
// request is answered Busy). A malformed frame closes that connection with a log line.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "net/connection.h"
#include "node/node.h"
#include "runtime/event_loop.h"
#include "wire/client.h"

namespace vr::node {

struct ClientServerOptions {
    std::string socket_path;
    size_t clients_max = 256;
    size_t handles_max = 4096;
    size_t requests_max = 64;
};

class ClientServer {
  public:
    ClientServer(runtime::EventLoop& loop, Node& node, ClientServerOptions options);
    ~ClientServer();
    ClientServer(const ClientServer&) = delete;
    ClientServer& operator=(const ClientServer&) = delete;

    Status start();
    void stop();
    size_t client_count() const { return clients_.size(); }

  private:
    struct Handle {
        coherence::FileId file;
        bool writable = false;
        std::string path;
    };
    struct Client {
        uint64_t id = 0;
        std::unique_ptr<net::Connection> conn;
        std::map<uint64_t, Handle> handles;
        uint64_t next_handle = 1;
        size_t inflight = 0;
        // Replies to requests completed after the client left go nowhere: callbacks hold the
        // client id, not a pointer, and look it up.
    };

    void on_accept();
    void on_frame(uint64_t client, net::Frame&& f);
    void dispatch(uint64_t client, wire::ClientRequest req);
    void reply(uint64_t client, wire::ClientReply r);
    void reply_error(uint64_t client, uint64_t id, const Status& st);
    Client* find(uint64_t client);

    void do_open(uint64_t client, uint64_t id, wire::OpenRequest op);
    void do_stat(uint64_t client, uint64_t id, wire::StatRequest op);
    void do_pages(uint64_t client, uint64_t id, wire::PagesRequest op);

    runtime::EventLoop& loop_;
    Node& node_;
    ClientServerOptions opt_;
    wire::Limits limits_;
    int listen_fd_ = -1;
    uint64_t next_client_ = 1;
    std::map<uint64_t, std::unique_ptr<Client>> clients_;
};

}  // namespace vr::node
