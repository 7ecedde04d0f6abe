// What the owner of a UdsServer sees: connection ids, peer credentials, close reasons, the
// callback interface and the tuning options. No io_uring types here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include <sys/types.h>

namespace zcp::reactor {

// A connection handle. `slot` indexes the server's table; `generation` changes each time the
// slot's connection closes, so an id kept after on_close never reaches a later connection
// that reuses the slot: calls with it fail as "closed or unknown".
struct ConnId {
  std::uint32_t slot = 0xFFFFFFFFu;
  std::uint32_t generation = 0;

  std::uint64_t value() const noexcept {
    return (static_cast<std::uint64_t>(generation) << 32) | slot;
  }
  bool valid() const noexcept { return slot != 0xFFFFFFFFu; }
  friend bool operator==(ConnId, ConnId) = default;
};

struct ConnIdHash {
  std::size_t operator()(ConnId id) const noexcept {
    return std::hash<std::uint64_t>{}(id.value());
  }
};

// The peer's identity as the kernel recorded it at connect() time (SO_PEERCRED).
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

enum class CloseReason {
  kPeerClosed,     // the peer hung up (EOF)
  kRecvError,      // recv failed (err says why)
  kSendError,      // sendmsg failed (err says why), e.g. EPIPE
  kSendQueueFull,  // the peer did not read fast enough: the bounded send queue overflowed
  kClosedByOwner,  // UdsServer::close / close_all
};
const char* to_string(CloseReason reason) noexcept;

enum class CloseMode {
  kNow,         // drop queued sends, hang up at once
  kAfterSends,  // send what is queued, then hang up (e.g. a final error reply or goodbye)
};

// The owner's callbacks. All run on the reactor thread, from inside Reactor::run_once, never
// from inside a call the owner makes into the server (close() and a send() that overflows
// report on_close later in the same run_once), and never from the Reactor's destructor.
// They must not throw (they are called from noexcept completion handlers).
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // A client connected. Identity comes from the kernel, never from message fields.
  virtual void on_open(ConnId id, const PeerCred& peer) = 0;
  // One datagram. `bytes` is valid only during the call. true_len > bytes.size() means the
  // datagram was longer than the max frame and was cut: treat it as oversized.
  virtual void on_datagram(ConnId id, std::span<const std::byte> bytes, std::size_t true_len) = 0;
  // The connection is gone (exactly once per on_open); `err` is an errno value or 0.
  virtual void on_close(ConnId id, CloseReason reason, int err) = 0;
};

// Largest datagram received or sent (the max frame). Too low: legitimate frames arrive cut
// and are rejected as oversized; too high: every receive buffer costs this much memory.
inline constexpr std::size_t kDefaultMaxFrame = 64 * 1024;
// Receive buffers shared by all connections of a server (a power of two). Too low: a burst
// from many clients empties the ring and each recv pays an -ENOBUFS re-arm; too high:
// memory (count x max frame, 4 MiB by default, touched only as used).
inline constexpr unsigned kDefaultRecvBuffers = 64;
// Per-connection send queue bounds (queued + in flight). Too low: a legitimate burst of
// replies to one client (e.g. a topology listing) closes it; too high: a client that stops
// reading pins that much daemon memory (and dup'd fds) before it is cut off.
inline constexpr std::size_t kDefaultSendQueueDatagrams = 256;
inline constexpr std::size_t kDefaultSendQueueBytes = 4 * 1024 * 1024;
// Open connections per server. Too low: legitimate clients are refused under load; too
// high: a hostile local user can pin that many fds and slots.
inline constexpr std::size_t kDefaultMaxConnections = 4096;
// listen() backlog. Too low: a burst of clients connecting at once sees EAGAIN/blocked
// connect(); too high: more half-accepted connections held by the kernel.
inline constexpr int kDefaultListenBacklog = 1024;
// Most fds one datagram may carry (SCM_RIGHTS). The kernel's own cap is 253.
inline constexpr std::size_t kMaxFdsPerDatagram = 16;

struct ServerOptions {
  std::size_t max_frame = kDefaultMaxFrame;
  unsigned recv_buffers = kDefaultRecvBuffers;
  std::size_t send_queue_datagrams = kDefaultSendQueueDatagrams;
  std::size_t send_queue_bytes = kDefaultSendQueueBytes;
  std::size_t max_connections = kDefaultMaxConnections;
  int listen_backlog = kDefaultListenBacklog;
};

// Plain counters, written and read on the reactor thread. The daemon copies them into its
// shared-memory counters for zcp-top.
struct ServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused_over_limit = 0;  // accepted then closed: max_connections reached
  std::uint64_t accept_errors = 0;
  std::uint64_t closed = 0;
  std::uint64_t datagrams_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t truncated = 0;     // datagrams longer than max_frame
  std::uint64_t recv_enobufs = 0;  // multishot recv ran out of buffers and was re-armed
  std::uint64_t datagrams_out = 0;
  std::uint64_t send_queue_overflows = 0;
};

}  // namespace zcp::reactor
