// UdsServer: a Unix SOCK_SEQPACKET listener and its connections, on the reactor's ring.
//
// - Multishot accept; each new connection's SO_PEERCRED is read at once and handed to
//   on_open, so identity always comes from the kernel.
// - Each connection receives with a multishot recv on a provided-buffer ring shared by all
//   connections of this server: `recv_buffers` buffers of `max_frame` bytes (see
//   buffer_ring.hpp for the truncation caveat and -ENOBUFS re-arming).
// - send() queues a datagram (optionally with fds, SCM_RIGHTS) on a bounded per-connection
//   queue; a peer that stops reading is cut off when the bound is hit.
// - ConnIds are generation-tagged: after on_close, the id is dead for good.
// Created by Reactor::listen and owned by the Reactor. Reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <linux/time_types.h>
#include <sys/types.h>

#include "common/sys.hpp"
#include "reactor/uds_types.hpp"
#include "reactor/uring.hpp"

namespace zcp::reactor {

class BufferRing;
class Connection;
class Reactor;

// Pause before re-arming accept after it failed (EMFILE, ENFILE, ENOMEM...). Too low: the
// reactor spins on a condition that persists; too high: clients wait that long to be
// accepted once the condition clears.
inline constexpr std::int64_t kAcceptRetryDelayNs = 100'000'000;

class UdsServer {
 public:
  static sys::Expected<std::unique_ptr<UdsServer>> create(Reactor& reactor, const std::string& path,
                                                          ConnectionHandler& handler,
                                                          const ServerOptions& options,
                                                          std::uint16_t buffer_group);
  ~UdsServer();
  UdsServer(const UdsServer&) = delete;
  UdsServer& operator=(const UdsServer&) = delete;

  // ---- The owner's API -------------------------------------------------------------------
  // Queues one datagram of 1..max_frame bytes, with up to kMaxFdsPerDatagram fds (dup'd
  // here; the caller keeps its own). Fails for an unknown/closed id, a bad size, or a full
  // send queue, which also closes the connection (on_close(kSendQueueFull) follows).
  sys::Expected<void> send(ConnId id, std::span<const std::byte> bytes,
                           std::span<const int> fds = {});
  // Closes one connection; on_close(kClosedByOwner) follows in this run_once. False if the
  // id is unknown or already closed.
  bool close(ConnId id, CloseMode mode = CloseMode::kNow) noexcept;
  void close_all(CloseMode mode) noexcept;
  // The kernel-verified peer of an open connection, or nullptr.
  const PeerCred* peer(ConnId id) const noexcept;
  bool is_open(ConnId id) const noexcept { return find_open(id) != nullptr; }
  // Connections reported open and not yet closed.
  std::size_t open_connections() const noexcept { return open_; }
  // Connection objects still alive: open ones plus closed ones whose fd the kernel still
  // holds (cancellation in flight). 0 means every accepted fd is closed.
  std::size_t live_connections() const noexcept { return live_; }
  const ServerStats& stats() const noexcept { return stats_; }
  const std::string& path() const noexcept { return path_; }
  bool listening() const noexcept { return listening_; }
  // Stops accepting, closes the listening socket and unlinks the socket file (if it is
  // still ours). Open connections are unaffected.
  void stop_listening() noexcept;

  // ---- For Reactor and Connection -------------------------------------------------------
  void shutdown() noexcept;  // reactor teardown: stop listening, abort every connection
  Reactor& reactor() noexcept { return reactor_; }
  BufferRing& buffers() noexcept { return *buffers_; }
  ConnectionHandler& handler() noexcept { return handler_; }
  const ServerOptions& options() const noexcept { return options_; }
  ServerStats& mutable_stats() noexcept { return stats_; }
  // The connection left kOpen: kill its id, report on_close (now or posted).
  void connection_left_open(ConnId id, CloseReason reason, int err, bool defer) noexcept;
  // Destroys the connection in id.slot (its last operation has completed).
  void release(ConnId id) noexcept;

 private:
  struct Slot {
    std::unique_ptr<Connection> conn;
    std::uint32_t generation = 1;
  };

  UdsServer(Reactor& reactor, std::string path, ConnectionHandler& handler,
            const ServerOptions& options);
  Connection* find_open(ConnId id) const noexcept;
  bool arm_accept() noexcept;
  bool arm_retry() noexcept;
  void on_accept(int res, unsigned flags) noexcept;
  void on_retry(int res, unsigned flags) noexcept;
  void adopt(sys::UniqueFd fd) noexcept;
  void close_listener_if_idle() noexcept;

  Reactor& reactor_;
  std::string path_;
  ConnectionHandler& handler_;
  ServerOptions options_;
  std::unique_ptr<BufferRing> buffers_;
  sys::UniqueFd listen_fd_;
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  bool listening_ = false;
  bool accept_armed_ = false;
  bool retry_armed_ = false;
  __kernel_timespec retry_delay_{};  // read by the kernel while the retry timeout is armed
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t open_ = 0;
  std::size_t live_ = 0;
  ServerStats stats_;
  MemberCompletion<UdsServer, &UdsServer::on_accept> accept_op_{this};
  MemberCompletion<UdsServer, &UdsServer::on_retry> retry_op_{this};
};

}  // namespace zcp::reactor
