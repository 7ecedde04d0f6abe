#include "reactor/connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "reactor/buffer_ring.hpp"
#include "reactor/reactor.hpp"
#include "reactor/uds_server.hpp"

namespace zcp::reactor {

// One queued datagram. msghdr, iovec and the cmsg buffer must stay where they are until
// the sendmsg completes (the kernel may read them only when it finally issues the send),
// so each SendOp lives on the heap and is freed by on_send.
struct Connection::SendOp {
  std::vector<std::byte> bytes;
  std::vector<sys::UniqueFd> fds;  // our dups: the caller may close its own right away
  std::vector<std::byte> control;  // cmsg space; operator new's alignment suits cmsghdr
  iovec iov{};
  msghdr msg{};
};

Connection::Connection(UdsServer& server, ConnId id, sys::UniqueFd fd,
                       const PeerCred& peer) noexcept
    : server_(server), id_(id), fd_(std::move(fd)), peer_(peer) {}

Connection::~Connection() = default;

std::string Connection::describe() const {
  return "connection " + std::to_string(id_.slot) + "#" + std::to_string(id_.generation) +
         " (pid " + std::to_string(peer_.pid) + ") on " + server_.path();
}

void Connection::start() noexcept {
  ++busy_;
  if (!arm_recv()) fail(CloseReason::kRecvError, EBUSY);
  --busy_;
  maybe_release();
}

bool Connection::arm_recv() noexcept {
  io_uring_sqe* sqe = server_.reactor().ring().get_sqe(&recv_op_);
  if (sqe == nullptr) return false;
  // MSG_TRUNC: res is the datagram's true length even when the buffer was shorter, so an
  // oversized datagram is detected instead of silently cut (SOCK_SEQPACKET semantics).
  io_uring_prep_recv_multishot(sqe, fd_.get(), nullptr, 0, MSG_TRUNC);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = server_.buffers().group();
  recv_armed_ = true;
  return true;
}

void Connection::on_recv(int res, unsigned flags) noexcept {
  ++busy_;
  if ((flags & IORING_CQE_F_MORE) == 0) recv_armed_ = false;
  BufferRing& buffers = server_.buffers();
  ServerStats& stats = server_.mutable_stats();
  bool bad_buffer = false;
  if (res > 0 && state_ == State::kOpen) {
    std::span<std::byte> buf = buffers.buffer_of(flags);
    bad_buffer = buf.empty();  // a positive result always carries a buffer: kernel contract
    if (!bad_buffer) {
      auto true_len = static_cast<std::size_t>(res);
      std::size_t got = std::min(true_len, buf.size());
      ++stats.datagrams_in;
      stats.bytes_in += got;
      if (true_len > buf.size()) ++stats.truncated;
      server_.handler().on_datagram(id_, std::span<const std::byte>(buf.data(), got), true_len);
    }
  }
  buffers.recycle(flags);  // only after the handler: the bytes it saw live in this buffer

  if (state_ != State::kClosing) {
    if (bad_buffer) {
      fail(CloseReason::kRecvError, EIO);
    } else if (res == 0) {
      // EOF. (An empty datagram reads the same and also ends a multishot recv: the protocol
      // never sends one.)
      fail(CloseReason::kPeerClosed, 0);
    } else if (res == -ENOBUFS) {
      // Every shared buffer was in use. The ones handled above are back in the ring now;
      // re-arm (the SQE goes in with the next io_uring_enter, after the rest of this batch
      // of completions has been handled and its buffers recycled too).
      ++stats.recv_enobufs;
      if (state_ == State::kOpen && !recv_armed_ && !arm_recv())
        fail(CloseReason::kRecvError, EBUSY);
    } else if (res < 0) {
      fail(CloseReason::kRecvError, -res);
    } else if (state_ == State::kOpen && !recv_armed_ && !arm_recv()) {
      // The multishot ended after data (e.g. CQ overflow): re-armed above unless that failed.
      fail(CloseReason::kRecvError, EBUSY);
    }
  }
  --busy_;
  maybe_release();
}

sys::Expected<void> Connection::send(std::span<const std::byte> bytes, std::span<const int> fds) {
  const ServerOptions& options = server_.options();
  if (state_ != State::kOpen) return sys::fail("send to " + describe() + ": closing", ENOTCONN);
  if (bytes.empty()) {
    return sys::fail("send to " + describe() + ": empty datagram (reads as EOF)", EINVAL);
  }
  if (bytes.size() > options.max_frame) {
    return sys::fail("send to " + describe() + ": " + std::to_string(bytes.size()) +
                         " bytes exceed the max frame of " + std::to_string(options.max_frame),
                     EMSGSIZE);
  }
  if (fds.size() > kMaxFdsPerDatagram) {
    return sys::fail(
        "send to " + describe() + ": more than " + std::to_string(kMaxFdsPerDatagram) + " fds",
        EINVAL);
  }
  if (queue_.size() + 1 > options.send_queue_datagrams ||
      queued_bytes_ + bytes.size() > options.send_queue_bytes) {
    auto error =
        sys::fail("send to " + describe() + ": send queue full (" + std::to_string(queue_.size()) +
                      " datagrams, " + std::to_string(queued_bytes_) +
                      " bytes): the peer does not read; connection closed",
                  ENOBUFS);
    ++server_.mutable_stats().send_queue_overflows;
    leave_open(CloseReason::kSendQueueFull, ENOBUFS, /*defer=*/true);
    hang_up();
    maybe_release();  // may destroy *this
    return error;
  }

  auto op = std::make_unique<SendOp>();
  op->bytes.assign(bytes.begin(), bytes.end());
  for (int fd : fds) {
    sys::Result r = sys::call(::fcntl, fd, F_DUPFD_CLOEXEC, 0);
    if (!r.ok())
      return sys::fail("send to " + describe() + ": dup fd " + std::to_string(fd), r.err);
    op->fds.emplace_back(static_cast<int>(r.value));
  }
  op->iov.iov_base = op->bytes.data();
  op->iov.iov_len = op->bytes.size();
  op->msg.msg_iov = &op->iov;
  op->msg.msg_iovlen = 1;
  if (!op->fds.empty()) {
    std::size_t payload = op->fds.size() * sizeof(int);
    op->control.assign(CMSG_SPACE(payload), std::byte{0});
    op->msg.msg_control = op->control.data();
    op->msg.msg_controllen = op->control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&op->msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(payload);
    for (std::size_t i = 0; i < op->fds.size(); ++i) {
      int raw = op->fds[i].get();
      std::memcpy(CMSG_DATA(cm) + i * sizeof(int), &raw, sizeof(int));
    }
  }
  queued_bytes_ += op->bytes.size();
  queue_.push_back(std::move(op));
  // One sendmsg in flight at a time: two could be reordered (a first one waiting for socket
  // space while a second goes through), and datagram order is part of the protocol.
  if (!send_in_flight_ && !start_send()) {
    auto error = sys::fail("send to " + describe() + ": submission queue full", EBUSY);
    leave_open(CloseReason::kSendError, EBUSY, /*defer=*/true);
    hang_up();
    maybe_release();  // may destroy *this
    return error;
  }
  return {};
}

bool Connection::start_send() noexcept {
  io_uring_sqe* sqe = server_.reactor().ring().get_sqe(&send_op_);
  if (sqe == nullptr) return false;
  // MSG_NOSIGNAL: a peer that hung up yields -EPIPE, not a SIGPIPE for the daemon.
  io_uring_prep_sendmsg(sqe, fd_.get(), &queue_.front()->msg, MSG_NOSIGNAL);
  send_in_flight_ = true;
  return true;
}

void Connection::on_send(int res, unsigned /*flags*/) noexcept {
  ++busy_;
  send_in_flight_ = false;
  std::unique_ptr<SendOp> done = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= done->bytes.size();
  if (state_ != State::kClosing) {
    if (res < 0) {
      fail(CloseReason::kSendError, -res);
    } else if (static_cast<std::size_t>(res) != done->bytes.size()) {
      fail(CloseReason::kSendError, EMSGSIZE);  // SOCK_SEQPACKET sends all or nothing
    } else {
      ++server_.mutable_stats().datagrams_out;
      if (!queue_.empty()) {
        if (!start_send()) fail(CloseReason::kSendError, EBUSY);
      } else if (state_ == State::kDraining) {
        hang_up();
      }
    }
  }
  done.reset();  // closes our fd dups: the kernel holds its own references by now
  --busy_;
  maybe_release();
}

void Connection::close(CloseMode mode) noexcept {
  if (state_ != State::kOpen) return;
  leave_open(CloseReason::kClosedByOwner, 0, /*defer=*/true);
  if (mode == CloseMode::kAfterSends && send_in_flight_) {
    state_ = State::kDraining;
    return;
  }
  hang_up();
  maybe_release();  // may destroy *this
}

void Connection::abort() noexcept {
  if (state_ == State::kOpen) leave_open(CloseReason::kClosedByOwner, 0, /*defer=*/false);
  hang_up();
  maybe_release();  // may destroy *this
}

void Connection::leave_open(CloseReason reason, int err, bool defer) noexcept {
  if (state_ != State::kOpen) return;
  state_ = State::kDraining;  // the caller moves on to kClosing when nothing is left to send
  server_.connection_left_open(id_, reason, err, defer);
}

void Connection::fail(CloseReason reason, int err) noexcept {
  if (err != 0 && spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("reactor: {}: {}: {}", describe(), to_string(reason), std::strerror(err));
  }
  leave_open(reason, err, /*defer=*/false);
  hang_up();
}

void Connection::hang_up() noexcept {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  // Wakes the peer with EOF now, whatever we still have in flight.
  (void)sys::call(::shutdown, fd_.get(), SHUT_RDWR);
  Ring& ring = server_.reactor().ring();
  if (recv_armed_) (void)ring.cancel(&recv_op_);
  if (send_in_flight_) (void)ring.cancel(&send_op_);
  // Drop what the kernel has not seen; the in-flight front stays until its CQE.
  auto keep = queue_.begin() + (send_in_flight_ ? 1 : 0);
  for (auto it = keep; it != queue_.end(); ++it)
    queued_bytes_ -= (*it)->bytes.size();
  queue_.erase(keep, queue_.end());
}

void Connection::maybe_release() noexcept {
  if (state_ != State::kClosing || busy_ > 0 || recv_armed_ || send_in_flight_) return;
  server_.release(id_);  // destroys *this
}

}  // namespace zcp::reactor
