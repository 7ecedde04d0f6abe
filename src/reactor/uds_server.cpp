#include "reactor/uds_server.hpp"

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "reactor/buffer_ring.hpp"
#include "reactor/connection.hpp"
#include "reactor/reactor.hpp"
#include "reactor/unix_socket.hpp"

namespace zcp::reactor {

namespace {

// A frame larger than this would not fit a Unix datagram socket's default send buffer.
constexpr std::size_t kLargestMaxFrame = 16 * 1024 * 1024;

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

const char* to_string(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::kPeerClosed:
      return "peer closed";
    case CloseReason::kRecvError:
      return "recv error";
    case CloseReason::kSendError:
      return "send error";
    case CloseReason::kSendQueueFull:
      return "send queue full";
    case CloseReason::kClosedByOwner:
      return "closed by owner";
  }
  return "?";
}

UdsServer::UdsServer(Reactor& reactor, std::string path, ConnectionHandler& handler,
                     const ServerOptions& options)
    : reactor_(reactor), path_(std::move(path)), handler_(handler), options_(options) {}

sys::Expected<std::unique_ptr<UdsServer>> UdsServer::create(Reactor& reactor,
                                                            const std::string& path,
                                                            ConnectionHandler& handler,
                                                            const ServerOptions& options,
                                                            std::uint16_t buffer_group) {
  const std::string where = "listen on " + path + ": ";
  if (options.max_frame == 0 || options.max_frame > kLargestMaxFrame) {
    return sys::fail(where + "max frame must be 1.." + std::to_string(kLargestMaxFrame), EINVAL);
  }
  if (options.send_queue_datagrams == 0 || options.send_queue_bytes < options.max_frame) {
    return sys::fail(where + "the send queue must hold at least one max-size frame", EINVAL);
  }
  std::unique_ptr<UdsServer> server(new UdsServer(reactor, path, handler, options));

  if (auto dir = ensure_runtime_dir(parent_dir(path)); !dir) {
    return sys::fail(where + dir.error().what, dir.error().err);
  }
  auto buffers =
      BufferRing::create(reactor.ring(), buffer_group, options.recv_buffers, options.max_frame);
  if (!buffers) return sys::fail(where + buffers.error().what, buffers.error().err);
  server->buffers_ = std::move(*buffers);

  auto bound = listen_seqpacket(path, options.listen_backlog);
  if (!bound) return sys::fail(where + bound.error().what, bound.error().err);
  server->listen_fd_ = std::move(bound->fd);
  server->socket_dev_ = bound->dev;
  server->socket_ino_ = bound->ino;
  server->listening_ = true;
  if (!server->arm_accept()) {
    server->stop_listening();
    return sys::fail(where + "cannot arm accept: submission queue full", EBUSY);
  }
  spdlog::info("reactor: listening on {} (max frame {} B, {} shared receive buffers)", path,
               options.max_frame, options.recv_buffers);
  return server;
}

UdsServer::~UdsServer() {
  // The reactor drained every operation before destroying us: no connection is left, the
  // buffer ring (unregistered by its destructor) is no longer used by the kernel.
  stop_listening();
  listen_fd_.reset();
}

bool UdsServer::arm_accept() noexcept {
  io_uring_sqe* sqe = reactor_.ring().get_sqe(&accept_op_);
  if (sqe == nullptr) return false;
  io_uring_prep_multishot_accept(sqe, listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  accept_armed_ = true;
  return true;
}

bool UdsServer::arm_retry() noexcept {
  io_uring_sqe* sqe = reactor_.ring().get_sqe(&retry_op_);
  if (sqe == nullptr) return false;
  retry_delay_.tv_sec = 0;
  retry_delay_.tv_nsec = kAcceptRetryDelayNs;
  io_uring_prep_timeout(sqe, &retry_delay_, 0, 0);
  retry_armed_ = true;
  return true;
}

void UdsServer::on_accept(int res, unsigned flags) noexcept {
  if ((flags & IORING_CQE_F_MORE) == 0) accept_armed_ = false;
  if (res >= 0) {
    sys::UniqueFd fd(res);
    if (listening_ && !reactor_.shutting_down()) adopt(std::move(fd));
  } else if (res != -ECANCELED && listening_) {
    ++stats_.accept_errors;
    spdlog::warn("reactor: accept on {}: {}; retrying in {} ms", path_, std::strerror(-res),
                 kAcceptRetryDelayNs / 1'000'000);
  }
  if (!listening_) close_listener_if_idle();
  if (accept_armed_ || !listening_ || reactor_.shutting_down()) return;
  // A multishot accept ends after an error (and rarely on its own): re-arm, after a pause
  // when it failed, since conditions like EMFILE persist for a while.
  if (!(res < 0 ? arm_retry() : arm_accept())) {
    spdlog::error("reactor: cannot re-arm accept on {}: submission queue full", path_);
    stop_listening();
  }
}

void UdsServer::on_retry(int /*res*/, unsigned /*flags*/) noexcept {
  retry_armed_ = false;  // res is -ETIME when the pause ran out, -ECANCELED when cancelled
  if (!listening_) close_listener_if_idle();
  if (!listening_ || reactor_.shutting_down() || accept_armed_) return;
  if (!arm_accept()) {
    spdlog::error("reactor: cannot re-arm accept on {}: submission queue full", path_);
    stop_listening();
  }
}

void UdsServer::adopt(sys::UniqueFd fd) noexcept {
  if (live_ >= options_.max_connections) {
    ++stats_.refused_over_limit;  // closing fd: the client sees EOF
    return;
  }
  ucred cred{};
  socklen_t len = sizeof(cred);
  sys::Result r = sys::call(::getsockopt, fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len);
  if (!r.ok()) {
    ++stats_.accept_errors;
    spdlog::warn("reactor: SO_PEERCRED on a connection to {}: {}", path_, std::strerror(r.err));
    return;
  }
  std::uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  ConnId id{slot, slots_[slot].generation};
  PeerCred peer{cred.pid, cred.uid, cred.gid};
  slots_[slot].conn = std::make_unique<Connection>(*this, id, std::move(fd), peer);
  ++open_;
  ++live_;
  ++stats_.accepted;
  handler_.on_open(id, peer);
  // on_open may have closed it already.
  if (Connection* conn = find_open(id)) conn->start();
}

Connection* UdsServer::find_open(ConnId id) const noexcept {
  if (id.slot >= slots_.size()) return nullptr;
  const Slot& s = slots_[id.slot];
  // The generation moves on when a connection leaves kOpen: a match means open.
  if (!s.conn || s.generation != id.generation) return nullptr;
  return s.conn.get();
}

sys::Expected<void> UdsServer::send(ConnId id, std::span<const std::byte> bytes,
                                    std::span<const int> fds) {
  Connection* conn = find_open(id);
  if (conn == nullptr) {
    return sys::fail("send on " + path_ + ": connection " + std::to_string(id.slot) + "#" +
                         std::to_string(id.generation) + " is closed or unknown",
                     ENOTCONN);
  }
  return conn->send(bytes, fds);
}

bool UdsServer::close(ConnId id, CloseMode mode) noexcept {
  Connection* conn = find_open(id);
  if (conn == nullptr) return false;
  conn->close(mode);  // may destroy *conn
  return true;
}

void UdsServer::close_all(CloseMode mode) noexcept {
  // By index: closing may release a slot's connection, never reallocates slots_.
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].conn) slots_[i].conn->close(mode);
  }
}

const PeerCred* UdsServer::peer(ConnId id) const noexcept {
  const Connection* conn = find_open(id);
  return conn != nullptr ? &conn->peer() : nullptr;
}

void UdsServer::stop_listening() noexcept {
  if (!listening_) return;
  listening_ = false;
  Ring& ring = reactor_.ring();
  if (accept_armed_) (void)ring.cancel(&accept_op_);
  if (retry_armed_) (void)ring.cancel(&retry_op_);
  bool unlinked = unlink_if_same(path_, socket_dev_, socket_ino_);
  spdlog::info("reactor: stopped listening on {}{}", path_,
               unlinked ? " (socket removed)" : " (socket file no longer ours, left alone)");
  close_listener_if_idle();
}

void UdsServer::close_listener_if_idle() noexcept {
  // An accept SQE may still sit unsubmitted in the SQ: closing the fd under it would turn
  // its cancellation into -EBADF. Close once the kernel has handed both operations back.
  if (!listening_ && !accept_armed_ && !retry_armed_) listen_fd_.reset();
}

void UdsServer::shutdown() noexcept {
  stop_listening();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].conn) slots_[i].conn->abort();
  }
}

void UdsServer::connection_left_open(ConnId id, CloseReason reason, int err, bool defer) noexcept {
  Slot& s = slots_[id.slot];
  if (++s.generation == 0) s.generation = 1;  // the id is dead from here on
  --open_;
  ++stats_.closed;
  if (reactor_.shutting_down()) return;
  if (defer) {
    reactor_.post([this, id, reason, err] { handler_.on_close(id, reason, err); });
  } else {
    handler_.on_close(id, reason, err);
  }
}

void UdsServer::release(ConnId id) noexcept {
  slots_[id.slot].conn.reset();
  free_slots_.push_back(id.slot);
  --live_;
}

}  // namespace zcp::reactor
