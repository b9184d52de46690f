// Transport: the node's links to its peers, on the event loop.
//
// * One TCP connection per pair of nodes, so each direction is FIFO. The node with the lower id
//   connects; the other accepts. A connection carries coherence messages only after a mutual
//   challenge-response handshake with the cluster key (net/auth.h) that binds it to the peer's
//   configured name; a wrong key, an unknown name or a replayed handshake is refused and logged.
// * Optional encryption (encrypt): after the handshake every frame is an AEAD record under
//   per-direction session keys derived from the cluster key and both handshake nonces; a
//   record that fails authentication (altered, replayed, reordered) closes the link. Page data
//   then passes through the cipher: send_from_file reads the file instead of sendfile.
// * Failure detection: a link that has received nothing for failure_ms is closed (peers send a
//   heartbeat every heartbeat_ms when idle). Reconnects back off exponentially up to a bound.
//   The peer counts as unreachable (LinkInfo::unreachable) at once after such silence, or once
//   its link has been down for failure_ms for any other reason; a connection that breaks and
//   is back within that time is only a reset.
// * Whenever messages to or from a peer may have been lost (a connection ended, or send() refused
//   while the link was down), the owner is told with on_link_reset when the link comes up, before
//   any new message is delivered, so the coherence engine can resynchronise (protocol.md §5).
// * Back-pressure: a connection's send queue is bounded in bytes; beyond it send() fails and
//   the owner keeps the message (the engine bounds its own in-flight requests per home).
// * Metadata (wire/meta.h): right after the handshake each side sends its Volumes list, so the
//   peer has it before any coherence message of the link; metadata requests and replies share
//   the link's FIFO order with the coherence messages.
// * Page data may come straight from a file (send_from_file, sendfile): no user-space copy.
// * Test hooks, to emulate a LAN without netem: delay_us is added to every message sent;
//   loss_ppm loses messages the way TCP does, by stalling the link for loss_rto_us (the message
//   is "retransmitted" and everything after it waits: FIFO, nothing lost); reset_ppm breaks the
//   connection instead (the link is then reset). A delayed message whose connection ended
//   before it was due is dropped, like the rest of what that connection carried (the owner is
//   told with on_link_reset).
#pragma once

#include <netinet/in.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "coherence/message.h"
#include "net/auth.h"
#include "net/connection.h"
#include "runtime/event_loop.h"
#include "wire/frame.h"
#include "wire/meta.h"

namespace vr::net {

struct PeerSpec {
    coherence::NodeId id = coherence::kNoNode;
    std::string name;
    std::string host;
    uint16_t port = 0;
};

struct TransportConfig {
    coherence::NodeId self = 0;
    std::string self_name;
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 1104;
    std::vector<PeerSpec> peers;
    ClusterKey key;
    wire::Limits limits;
    int64_t heartbeat_us = 200'000;
    int64_t failure_us = 2'000'000;
    int64_t handshake_timeout_us = 2'000'000;
    int64_t backoff_max_us = 2'000'000;
    size_t queued_max_bytes = 64u << 20;
    // Seal every frame after the handshake (cluster.encrypt). Both ends must agree: a node
    // refuses a peer whose setting differs, in either direction.
    bool encrypt = false;
    uint32_t delay_us = 0;
    uint32_t loss_ppm = 0;
    uint32_t loss_rto_us = 200'000;
    uint32_t reset_ppm = 0;
};

enum class LinkState : uint8_t { Down, Connecting, Handshake, Up };
std::string_view link_state_name(LinkState s);

struct LinkInfo {
    LinkState state = LinkState::Down;
    int64_t rtt_us = -1;
    uint64_t resets = 0;
    uint64_t frames_in = 0;
    uint64_t frames_out = 0;
    uint64_t page_bytes_out = 0;  // from page buffers, without a user-space copy
    uint64_t file_bytes_out = 0;  // from files with sendfile (send_from_file)
    // From files, read into user space for the cipher (send_from_file on an encrypted link).
    uint64_t file_bytes_copied = 0;
    bool encrypted = false;    // the current connection seals its frames
    uint64_t test_losses = 0;  // messages the loss test hook "lost" (stalls of the link)
    // The peer counts as down: the link went down because the peer was silent for failure_ms,
    // or it has been down (closed, refused, never up) for failure_ms. A connection that breaks
    // and comes back within failure_ms is a reset, not an outage: the owner retries over it.
    bool unreachable = true;
};

class Transport {
  public:
    struct Handler {
        std::function<void(const coherence::Message&)> on_message;
        std::function<void(coherence::NodeId)> on_link_reset;
        std::function<void(coherence::NodeId)> on_link_up;
        std::function<void(const std::string&)> log;
        // Metadata family (wire/meta.h). Volumes arrive after every link-up, before any
        // coherence message of that link.
        std::function<void(coherence::NodeId, wire::VolumesMsg)> on_volumes;
        std::function<void(coherence::NodeId, uint64_t id, wire::MetaRequest)> on_meta_request;
        std::function<void(coherence::NodeId, uint64_t id, wire::MetaReply)> on_meta_reply;
    };

    Transport(runtime::EventLoop& loop, TransportConfig config, Handler handler);
    ~Transport();

    Status start();
    // Sends to a peer (or loops back to self through the event loop). Returns false if the link
    // is not up or its queue is full: the message is not sent.
    bool send(const coherence::Message& msg);
    // Sends a DataS/DataM whose pages (msg.pages empty, range.count pages) come from a file:
    // `segment` (file_bytes + zero_bytes == range.count * page_size) is sent with sendfile,
    // with no user-space copy (counted in LinkInfo::file_bytes_out). The frame carries
    // kFlagDataUnchecked (no data CRC: TCP's checksum covers it). With encryption on, the
    // bytes are read and sent through the cipher instead. Takes segment.fd whatever it returns
    // (closed once sent or dropped). Returns false like send().
    bool send_from_file(const coherence::Message& msg, FileSegment segment);
    // The volumes this node exports: sent to every peer whenever its link comes up (an empty
    // list until this is called), and at once to the peers whose link is up. The list must
    // pass wire::encode_volumes (the config loader checks export names).
    void set_volumes(wire::VolumesMsg volumes);
    // Metadata requests and replies (`id` != 0). To self, the handler is called through the
    // event loop. A request: Unavailable when not sent like send() (link down, queue full: it
    // may go later), or the encoder's error if it breaks the wire's rules (logged; it never
    // will). A reply: false in either case.
    Status send_meta_request(coherence::NodeId peer, uint64_t id, const wire::MetaRequest& req);
    bool send_meta_reply(coherence::NodeId peer, uint64_t id, const wire::MetaReply& reply);
    LinkInfo info(coherence::NodeId peer) const;
    uint16_t bound_port() const { return bound_port_; }

  private:
    struct Link;
    void on_accept();
    void connect(coherence::NodeId peer);
    void schedule_reconnect(coherence::NodeId peer);
    void attach(Link& link, int fd, bool initiator);
    void on_frame(coherence::NodeId peer, Frame&& f);
    void on_meta_frame(Link& link, Frame&& f);
    void on_handshake_frame(Link& link, Frame&& f);
    void on_pending_frame(uint64_t id, Frame&& f);
    void link_up(Link& link);
    void link_lost(coherence::NodeId peer, const Status& why);
    // The link to `peer` if it is up; null otherwise.
    Link* up_link(coherence::NodeId peer);
    // The reset test hook: true if this message's connection is to break (the link is reset).
    bool reset_hook(Link& link);
    // When the delay and loss hooks let the next message on `link` go (monotonic us, never
    // earlier than the one before it); 0 with both hooks off: now, without a timer.
    int64_t due_time(Link& link);
    // Runs send_on with the link's connection at `due`, if it is still the same connection and
    // up then.
    void after_delay(Link& link, int64_t due, std::function<void(Connection&)> send_on);
    // Queue a frame on an up link, now or after the test hook's delay (in call order).
    bool queue(Link& link, std::vector<std::byte> head, std::vector<coherence::PageBuf> pages);
    bool queue_file(Link& link, std::vector<std::byte> head, FileSegment segment);
    void heartbeat();
    void log(const std::string& line);
    const PeerSpec* spec_by_name(const std::string& name) const;
    uint64_t cluster_hash() const;

    runtime::EventLoop& loop_;
    TransportConfig cfg_;
    Handler handler_;
    int listen_fd_ = -1;
    uint16_t bound_port_ = 0;
    std::map<coherence::NodeId, std::unique_ptr<Link>> links_;
    // Accepted connections still in the handshake, keyed by a serial number; at most
    // kPendingMax (beyond it, new connections are closed at once: a flood).
    struct Pending;
    static constexpr size_t kPendingMax = 64;
    uint64_t refused_flood_ = 0;
    std::map<uint64_t, std::unique_ptr<Pending>> pending_;
    uint64_t next_pending_ = 1;
    ReplayGuard replay_;
    std::mt19937_64 rng_;
    uint64_t heartbeat_timer_ = 0;
    std::vector<std::byte> volumes_frame_;  // this node's Volumes frame, sent at every link-up
    std::set<uint64_t> delayed_;            // timers of messages the test hook delays
};

}  // namespace vr::net
