// One accepted client connection: a multishot recv on the server's provided-buffer ring, a
// bounded queue of outgoing datagrams (sendmsg, optionally with SCM_RIGHTS), and the close
// sequence. Internal to UdsServer; the owner only sees ConnId.
//
// States:
//   kOpen      receiving and sending. The id is valid.
//   kDraining  close(kAfterSends): the id is already stale and on_close reported; queued
//              datagrams still go out, received ones are dropped. Then -> kClosing.
//   kClosing   shutdown(2) done, in-flight recv/send cancelled. When neither is in flight
//              any more, the fd is closed and the object destroyed (UdsServer::release).
// Leaving kOpen reports on_close exactly once.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include <sys/uio.h>

#include "common/sys.hpp"
#include "reactor/uds_types.hpp"
#include "reactor/uring.hpp"

namespace zcp::reactor {

class UdsServer;

class Connection {
 public:
  Connection(UdsServer& server, ConnId id, sys::UniqueFd fd, const PeerCred& peer) noexcept;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ConnId id() const noexcept { return id_; }
  const PeerCred& peer() const noexcept { return peer_; }

  // Arms the multishot recv. On failure the connection closes (reported directly).
  void start() noexcept;
  // Queues one datagram (copied; fds dup'd, so the caller keeps its own). Errors leave the
  // connection open, except a full send queue, which closes it (on_close reported later).
  sys::Expected<void> send(std::span<const std::byte> bytes, std::span<const int> fds);
  // Owner-initiated close; on_close(kClosedByOwner) is reported later, through post().
  void close(CloseMode mode) noexcept;
  // Reactor teardown: hang up without reporting anything.
  void abort() noexcept;

 private:
  struct SendOp;
  enum class State { kOpen, kDraining, kClosing };

  void on_recv(int res, unsigned flags) noexcept;
  void on_send(int res, unsigned flags) noexcept;

  bool arm_recv() noexcept;
  bool start_send() noexcept;
  // kOpen -> kDraining: the id goes stale and on_close is reported (or posted). No-op in
  // any other state. The caller then hangs up, or waits for the queue to drain.
  void leave_open(CloseReason reason, int err, bool defer) noexcept;
  // A failure seen in a completion: report if still open, then hang up.
  void fail(CloseReason reason, int err) noexcept;
  // -> kClosing: shutdown(2) and cancel whatever is in flight.
  void hang_up() noexcept;
  // Destroys *this when kClosing and nothing is in flight or on the stack. Call it last.
  void maybe_release() noexcept;
  std::string describe() const;

  UdsServer& server_;
  ConnId id_;
  sys::UniqueFd fd_;
  PeerCred peer_;
  State state_ = State::kOpen;
  bool recv_armed_ = false;
  bool send_in_flight_ = false;  // the front of queue_ is in the kernel
  int busy_ = 0;                 // > 0 while one of our handlers is on the stack
  std::deque<std::unique_ptr<SendOp>> queue_;
  std::size_t queued_bytes_ = 0;
  MemberCompletion<Connection, &Connection::on_recv> recv_op_{this};
  MemberCompletion<Connection, &Connection::on_send> send_op_{this};
};

}  // namespace zcp::reactor
