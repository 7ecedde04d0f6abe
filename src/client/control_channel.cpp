#include "client/control_channel.hpp"

#include <cstring>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocol/frame.hpp"

namespace zcp::client {

namespace {

Error sys_error(std::string what, int err) {
  return Error{Errc::kSystem, 0, what + ": " + std::strerror(err)};
}

}  // namespace

Result<std::unique_ptr<ControlChannel>> ControlChannel::connect(const std::string& socket_path,
                                                                const std::string& instance) {
  auto s = sys::call(::socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (!s.ok()) return Unexpected(sys_error("socket(AF_UNIX, SOCK_SEQPACKET)", s.err));
  sys::UniqueFd sock(static_cast<int>(s.value));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return Unexpected(Error{Errc::kInvalidArgument, 0, "socket path too long: " + socket_path});
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  auto c = sys::call(::connect, sock.get(), reinterpret_cast<const sockaddr*>(&addr),
                     static_cast<socklen_t>(sizeof(addr)));
  if (!c.ok()) {
    if (c.err == ENOENT || c.err == ECONNREFUSED) {
      return Unexpected(Error{Errc::kDaemonUnavailable, 0,
                              "no diroute daemon on instance '" + instance + "' (" + socket_path +
                                  ": " + std::strerror(c.err) +
                                  "); start it with `diroute --instance " + instance + "`"});
    }
    if (c.err == EACCES) {
      return Unexpected(Error{Errc::kDaemonUnavailable, 0,
                              "permission denied on " + socket_path +
                                  ": this user is not in the daemon's socket group"});
    }
    return Unexpected(sys_error("connect " + socket_path, c.err));
  }
  auto w = sys::call(::eventfd, 0U, EFD_CLOEXEC | EFD_NONBLOCK);
  if (!w.ok()) return Unexpected(sys_error("eventfd", w.err));
  return std::unique_ptr<ControlChannel>(
      new ControlChannel(std::move(sock), sys::UniqueFd(static_cast<int>(w.value)), instance));
}

ControlChannel::ControlChannel(sys::UniqueFd sock, sys::UniqueFd wake, std::string instance)
    : sock_(std::move(sock)), wake_(std::move(wake)), instance_(std::move(instance)) {}

ControlChannel::~ControlChannel() {
  stop();
}

void ControlChannel::stop() {
  if (reader_.joinable()) {
    std::uint64_t one = 1;
    (void)sys::call(::write, wake_.get(), &one, sizeof(one));
    reader_.join();
  }
}

void ControlChannel::start(std::function<void()> tick, std::chrono::milliseconds period) {
  reader_ = std::thread([this, tick = std::move(tick), period] { reader_loop(tick, period); });
}

std::uint64_t ControlChannel::next_request_id() noexcept {
  std::lock_guard lk(mu_);
  return next_id_++;
}

std::optional<Error> ControlChannel::disconnect_reason() const {
  std::lock_guard lk(mu_);
  return disconnected_;
}

void ControlChannel::mark_disconnected(Error why) {
  {
    std::lock_guard lk(mu_);
    if (disconnected_) return;
    disconnected_ = why;
    // release: the reason above is visible to whoever reads true in down().
    down_.store(true, std::memory_order_release);
    for (auto& [id, p] : pending_) {
      if (!p.done) {
        p.done = true;
        p.reply = Unexpected(why);
      }
    }
    // release: pairs with the spinning caller's acquire; it then locks mu_ to read its entry.
    completions_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  if (on_disconnect_) on_disconnect_();
}

Result<Reply> ControlChannel::call(std::uint64_t request_id, const std::vector<std::uint8_t>& frame,
                                   std::chrono::milliseconds timeout) {
  {
    std::lock_guard lk(mu_);
    if (disconnected_) return Unexpected(*disconnected_);
    pending_[request_id] = Pending{};
  }
  // Read before sending: a reply that arrives after the send changes it.
  std::uint64_t seen = completions_.load(std::memory_order_acquire);
  {
    std::lock_guard lk(send_mu_);
    auto r = sys::call(::send, sock_.get(), frame.data(), frame.size(), MSG_NOSIGNAL);
    if (!r.ok()) {
      Error e = (r.err == EPIPE || r.err == ECONNRESET)
                    ? Error{Errc::kDisconnected, 0,
                            "daemon of instance '" + instance_ + "' closed the connection"}
                    : sys_error("send to daemon", r.err);
      if (e.code == Errc::kDisconnected) mark_disconnected(e);
      std::lock_guard lk2(mu_);
      pending_.erase(request_id);
      return Unexpected(e);
    }
  }
  // Spin briefly for a quick reply (see completions_), yielding so that on a small host the
  // runtime's reader thread, which receives the reply, can run. Then sleep.
  const auto spin_end = std::chrono::steady_clock::now() + kReplySpin;
  while (std::chrono::steady_clock::now() < spin_end) {
    if (completions_.load(std::memory_order_acquire) != seen) {
      std::lock_guard lk(mu_);
      if (pending_[request_id].done) break;
      seen = completions_.load(std::memory_order_relaxed);  // another call's reply
    }
    std::this_thread::yield();
  }
  std::unique_lock lk(mu_);
  bool done = cv_.wait_for(lk, timeout, [&] { return pending_[request_id].done; });
  Pending p = std::move(pending_[request_id]);
  pending_.erase(request_id);
  if (!done) {
    return Unexpected(Error{Errc::kTimeout, 0,
                            "no reply from diroute (instance '" + instance_ + "') within " +
                                std::to_string(timeout.count()) + " ms"});
  }
  return std::move(p.reply);
}

void ControlChannel::reader_loop(std::function<void()> tick, std::chrono::milliseconds period) {
  auto next_tick = std::chrono::steady_clock::now() + period;
  std::vector<std::uint8_t> buf(protocol::kMaxFrameSize);
  alignas(cmsghdr) char cbuf[CMSG_SPACE(protocol::kMaxFdsPerFrame * sizeof(int))];
  for (;;) {
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, poll_timeout_ms(next_tick, std::chrono::steady_clock::now()));
    if (n < 0 && errno != EINTR) {
      mark_disconnected(sys_error("poll on the daemon socket", errno));
      return;
    }
    if (fds[1].revents & POLLIN) return;  // destructor asked us to stop
    if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      iovec iov{buf.data(), buf.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof(cbuf);
      // MSG_TRUNC: report the datagram's true length, so an oversized reply is detected.
      auto r = sys::call(::recvmsg, sock_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_TRUNC);
      if (!r.ok() || r.value == 0) {
        mark_disconnected(Error{Errc::kDisconnected, 0,
                                r.ok() ? "diroute (instance '" + instance_ +
                                             "') closed the connection: "
                                             "the daemon stopped or crashed"
                                       : "lost the connection to diroute (instance '" + instance_ +
                                             "'): " + std::strerror(r.err)});
        // Keep ticking would be pointless: the heartbeat slot is gone with the daemon.
        return;
      }
      std::vector<sys::UniqueFd> got;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (std::size_t i = 0; i < k; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            got.emplace_back(fd);
          }
        }
      }
      auto len = static_cast<std::size_t>(r.value);
      std::vector<std::uint8_t> bytes(buf.begin(),
                                      buf.begin() + static_cast<long>(std::min(len, buf.size())));
      on_datagram(std::move(bytes), len, std::move(got), (msg.msg_flags & MSG_CTRUNC) != 0);
      if (!connected()) return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      tick();
      next_tick += period;
      if (next_tick <= now) next_tick = now + period;  // suspended for a while: no burst of ticks
      if (!connected()) return;
    }
  }
}

void ControlChannel::on_datagram(std::vector<std::uint8_t> bytes, std::size_t true_len,
                                 std::vector<sys::UniqueFd> fds, bool ctrunc) {
  auto resp = protocol::decode_response(bytes, true_len);
  if (!resp) {
    // A reply we cannot read is not attributable to a request; the waiting call times out.
    return;
  }
  const fb::Response* r = *resp;
  if (r->request_id() == 0) {
    if (r->body_type() == fb::ResponseBody::DaemonShutdown) {
      auto* n = r->body_as_DaemonShutdown();
      std::string why = n && n->reason() ? n->reason()->str() : "no reason given";
      mark_disconnected(Error{Errc::kDisconnected, static_cast<std::uint16_t>(r->code()),
                              "diroute (instance '" + instance_ + "') is shutting down: " + why});
    } else if (on_notice_ && !ctrunc && fds.size() == (r->fds() ? r->fds()->size() : 0)) {
      on_notice_(*r, fds);  // a notice whose descriptors were cut is dropped (they close)
    }
    return;
  }
  Result<Reply> out = Unexpected(Error{});
  std::size_t want_fds = r->fds() ? r->fds()->size() : 0;
  if (ctrunc || fds.size() != want_fds) {
    out = Unexpected(Error{
        Errc::kProtocol, 0,
        "reply " + std::to_string(r->request_id()) + " announced " + std::to_string(want_fds) +
            " file descriptors but carried " + std::to_string(fds.size()) +
            (ctrunc ? " (truncated: is the process out of file descriptors?)" : "")});
  } else {
    Reply reply;
    reply.frame = std::move(bytes);
    reply.fds = std::move(fds);
    // Re-derive the view from the moved buffer (moving a vector keeps its storage).
    reply.response = r;
    out = std::move(reply);
  }
  {
    std::lock_guard lk(mu_);
    auto it = pending_.find(r->request_id());
    if (it == pending_.end()) return;  // a late reply to a timed-out call: drop it (fds close)
    it->second.done = true;
    it->second.reply = std::move(out);
    completions_.fetch_add(1, std::memory_order_release);  // as in mark_disconnected
  }
  cv_.notify_all();
}

}  // namespace zcp::client
