#include "daemon/control_plane.hpp"

#include <algorithm>
#include <cstring>

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include "protocol/frame.hpp"
#include "protocol/validate.hpp"

namespace zcp::daemon {

const char* to_string(DeathCause cause) noexcept {
  switch (cause) {
    case DeathCause::kExited:
      return "exited (pidfd)";
    case DeathCause::kHangUp:
      return "hung up (socket closed)";
    case DeathCause::kHeartbeat:
      return "heartbeat timeout";
    case DeathCause::kDisconnected:
      return "disconnected by the daemon";
    case DeathCause::kUnregistered:
      return "unregistered";
    case DeathCause::kShutdown:
      return "daemon shutdown";
  }
  return "unknown";
}

namespace {

DaemonCounter death_counter(DeathCause cause) noexcept {
  switch (cause) {
    case DeathCause::kExited:
      return DaemonCounter::kDeathsExited;
    case DeathCause::kHangUp:
      return DaemonCounter::kDeathsHangUp;
    case DeathCause::kHeartbeat:
      return DaemonCounter::kDeathsHeartbeat;
    case DeathCause::kDisconnected:
      return DaemonCounter::kDeathsDisconnected;
    case DeathCause::kUnregistered:
      return DaemonCounter::kUnregistrations;
    case DeathCause::kShutdown:
      break;
  }
  return DaemonCounter::kCount;
}

DeathCause cause_of(reactor::CloseReason reason) noexcept {
  switch (reason) {
    case reactor::CloseReason::kPeerClosed:
    case reactor::CloseReason::kRecvError:
    case reactor::CloseReason::kSendError:
      return DeathCause::kHangUp;
    case reactor::CloseReason::kSendQueueFull:
    case reactor::CloseReason::kClosedByOwner:
      return DeathCause::kDisconnected;
  }
  return DeathCause::kHangUp;
}

}  // namespace

ControlPlane::ControlPlane(Registry& registry, router::Router& router, ControlPlaneHost& host,
                           const ControlPlaneConfig& config, SegmentGrant segment)
    : registry_(registry),
      host_(host),
      config_(config),
      access_(config.allow),
      segment_(std::move(segment)),
      router_(router) {
  // The counters live in the stats region from here on (tools read them there).
  if (shm::StatsRegion stats = registry_.stats().region(); stats.valid()) {
    counters_.attach(stats.daemon_counters());
    stats.set_daemon_counter_count(static_cast<std::uint32_t>(kDaemonCounterCount));
  }
}

// ---- Connections -----------------------------------------------------------------------------

ControlPlane::Connection& ControlPlane::connection(reactor::ConnId conn,
                                                   const reactor::PeerCred& peer, MonoTime now) {
  auto [it, inserted] = conns_.try_emplace(conn);
  if (inserted) {
    it->second.peer = peer;
    it->second.last_activity = now;
    counters_.add(DaemonCounter::kConnectionsOpened);
  }
  return it->second;
}

void ControlPlane::open(reactor::ConnId conn, const reactor::PeerCred& peer, MonoTime now) {
  connection(conn, peer, now);
}

void ControlPlane::closed(reactor::ConnId conn, reactor::CloseReason reason) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  std::optional<ProcessHandle> process = it->second.process;
  conns_.erase(it);
  std::erase_if(held_, [&](const HeldReply& h) { return h.conn == conn; });
  counters_.add(DaemonCounter::kConnectionsClosed);
  if (process) remove_process(*process, shutting_down_ ? DeathCause::kShutdown : cause_of(reason));
}

std::vector<reactor::ConnId> ControlPlane::connections() const {
  std::vector<reactor::ConnId> out;
  out.reserve(conns_.size());
  for (const auto& [id, c] : conns_) {
    if (!c.closing) out.push_back(id);
  }
  return out;
}

const ProcessRecord* ControlPlane::process_of(reactor::ConnId conn) const noexcept {
  auto it = conns_.find(conn);
  if (it == conns_.end() || !it->second.process) return nullptr;
  return registry_.process(*it->second.process);
}

// ---- Datagrams -------------------------------------------------------------------------------

Reply ControlPlane::handle(reactor::ConnId conn, const reactor::PeerCred& peer,
                           std::span<const std::byte> frame, std::size_t true_len, MonoTime now) {
  Reply reply = dispatch(conn, peer, frame, true_len, now);
  // A reply that waits for the router also waits for what follows its command (route tables,
  // peer counts): when the workers already applied it, that is done here, before it goes.
  if (reply.settle != 0 && router_.settled(reply.settle)) reclaim_retired();
  send_wake_notices();  // before the reply: a publisher's grant must find its fds in place
  if (reply.settle != 0 && !router_.settled(reply.settle)) return hold(conn, std::move(reply));
  return reply;
}

void ControlPlane::send_wake_notices() {
  for (const WakeNotice& n : registry_.take_wake_notices()) {
    const ProcessRecord* p = registry_.process(n.slot);
    if (p == nullptr) continue;
    if (auto c = conns_.find(p->conn); c == conns_.end() || c->second.closing) continue;
    std::vector<std::uint32_t> live;  // a grant names subscribers still there (always, in practice)
    for (std::uint32_t id : n.subscriber_ids) {
      if (n.revoke || registry_.subscriber(id) != nullptr) live.push_back(id);
    }
    std::span<const std::uint32_t> ids(live);
    // Revokes fit one frame (4 bytes an id); grants carry at most kMaxFdsPerFrame fds each.
    const std::size_t per_frame = n.revoke ? ids.size() : protocol::kMaxFdsPerFrame;
    for (std::size_t at = 0; at < ids.size(); at += per_frame) {
      std::span<const std::uint32_t> part = ids.subspan(at, std::min(per_frame, ids.size() - at));
      Reply r;
      auto frame =
          n.revoke ? protocol::encode_wake_fds_revoked(part) : protocol::encode_wake_fds(part);
      if (!frame) continue;  // cannot happen: sized above
      r.bytes = std::move(*frame);
      if (!n.revoke) {
        for (std::uint32_t id : part)
          r.fds.push_back(registry_.subscriber(id)->eventfd.get());
      }
      host_.send_reply(p->conn, r);
    }
  }
}

Reply ControlPlane::hold(reactor::ConnId conn, Reply reply) {
  HeldReply h{conn, reply.settle, std::move(reply.bytes), {}};
  for (int fd : reply.fds) {
    auto d = sys::call(::fcntl, fd, F_DUPFD_CLOEXEC, 0);
    if (!d.ok()) {
      // Out of fds: a reply without its fd would be malformed; the client's request times out.
      spdlog::warn("cannot hold a reply: dup of fd {} failed: {}", fd, std::strerror(d.err));
      return {};
    }
    h.fds.emplace_back(static_cast<int>(d.value));
  }
  held_.push_back(std::move(h));
  return {};
}

void ControlPlane::send_settled() {
  std::erase_if(held_, [&](HeldReply& h) {
    if (!router_.settled(h.settle)) return false;
    if (conns_.contains(h.conn)) {
      Reply r;
      r.bytes = std::move(h.bytes);
      for (const sys::UniqueFd& fd : h.fds)
        r.fds.push_back(fd.get());
      host_.send_reply(h.conn, r);
    }
    return true;  // its fds close here: the host dup'ed what it sends
  });
}

Reply ControlPlane::dispatch(reactor::ConnId conn, const reactor::PeerCred& peer,
                             std::span<const std::byte> frame, std::size_t true_len, MonoTime now) {
  Connection& c = connection(conn, peer, now);
  c.last_activity = now;
  std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(frame.data()),
                                      frame.size());
  auto decoded = protocol::decode_request(bytes, true_len);
  if (!decoded) return reject(c, decoded.error());

  const fb::Request& req = **decoded;
  const std::uint64_t id = req.request_id();
  counters_.add(DaemonCounter::kRequests);
  if (auto valid = protocol::validate_request(req); !valid) {
    counters_.add(DaemonCounter::kInvalidArguments);
    return refuse(id, fb::ResultCode::InvalidArgument, protocol::describe(valid.error()));
  }
  if (shutting_down_) {
    return refuse(id, fb::ResultCode::ShuttingDown, "diroute is shutting down; no new work");
  }

  switch (req.body_type()) {
    case fb::RequestBody::Hello:
      return on_hello(id, *req.body_as_Hello());
    case fb::RequestBody::ListTopology:
      return on_list_topology(id);
    case fb::RequestBody::RegisterProcess:
      return on_register(conn, c, id, *req.body_as_RegisterProcess(), now);
    default:
      break;
  }
  const ProcessRecord* p = c.process ? registry_.process(*c.process) : nullptr;
  if (p == nullptr) {
    return refuse(
        id, fb::ResultCode::NotRegistered,
        std::string("send RegisterProcess before ") + fb::EnumNameRequestBody(req.body_type()));
  }
  switch (req.body_type()) {
    case fb::RequestBody::UnregisterProcess:
      return on_unregister(c, id);
    case fb::RequestBody::CreatePublisher:
      return on_create_publisher(*p, id, *req.body_as_CreatePublisher());
    case fb::RequestBody::CreateSubscriber:
      return on_create_subscriber(*p, id, *req.body_as_CreateSubscriber());
    case fb::RequestBody::DestroyPublisher:
      return on_destroy_publisher(*p, id, *req.body_as_DestroyPublisher());
    case fb::RequestBody::DestroySubscriber:
      return on_destroy_subscriber(*p, id, *req.body_as_DestroySubscriber());
    default:
      break;
  }
  // verify_request admits only known body types, and every one is handled above.
  return refuse(id, fb::ResultCode::Internal, "request type without a handler");
}

Reply ControlPlane::reject(Connection& c, const protocol::DecodeError& error) {
  counters_.add(rejected_counter(error.code));
  ++c.malformed;
  spdlog::debug("rejected a frame from pid {}: {}", c.peer.pid, protocol::describe(error));
  Reply reply = encoded(protocol::encode_rejection(error), error.request_id);
  // A peer of another version can do nothing else here; tell it, then hang up.
  if (error.code == protocol::DecodeErrc::VersionMismatch) reply.close_after = true;
  if (c.malformed >= config_.malformed_frame_limit && !reply.close_after) {
    reply.close_after = true;
    counters_.add(DaemonCounter::kClosedMalformed);
    spdlog::debug("closing the connection of pid {} after {} malformed frames", c.peer.pid,
                  c.malformed);
  }
  if (reply.close_after) c.closing = true;
  return reply;
}

Reply ControlPlane::refuse(std::uint64_t request_id, fb::ResultCode code,
                           std::string_view message) {
  counters_.add(DaemonCounter::kRequestsRefused);
  return encoded(protocol::encode_error_response(request_id, code, message), request_id);
}

Reply ControlPlane::encoded(protocol::EncodeResult frame, std::uint64_t request_id,
                            std::vector<int> fds) {
  Reply reply;
  if (frame) {
    reply.bytes = std::move(*frame);
    reply.fds = std::move(fds);
    return reply;
  }
  // Only a reply that grew past the frame size can fail; the error reply always fits.
  auto fallback =
      protocol::encode_error_response(request_id, fb::ResultCode::Internal,
                                      std::string("diroute could not encode its reply: ") +
                                          std::string(protocol::to_string(frame.error())));
  if (fallback) reply.bytes = std::move(*fallback);
  return reply;
}

// ---- Deaths ----------------------------------------------------------------------------------

void ControlPlane::process_exited(ProcessHandle handle) {
  auto q = std::find_if(quarantine_.begin(), quarantine_.end(), [&](const Quarantined& e) {
    return e.handle.index == handle.index && e.handle.epoch == handle.epoch;
  });
  if (q == quarantine_.end()) {
    remove_process(handle, shutting_down_ ? DeathCause::kShutdown : DeathCause::kExited);
    return;
  }
  // A process removed earlier while it could still run has exited: nothing writes its memory
  // any more. Step over what it left in subscriber queues, then let its ports go.
  const std::size_t cells = registry_.repair_abandoned(q->direct_publishers);
  const std::size_t ports = registry_.release_quarantine(handle);
  counters_.add(DaemonCounter::kAbandonedClaims, cells);
  spdlog::info("process '{}' (pid {}) exited: its {} quarantined port(s) are freed{}", q->name,
               q->pid, ports,
               cells ? ", " + std::to_string(cells) + " abandoned queue cell(s) stepped over"
                     : std::string());
  quarantine_.erase(q);
  reclaim_retired();
}

void ControlPlane::remove_process(ProcessHandle handle, DeathCause cause) {
  // A process removed while it may still run (hung, faulted, or it closed its socket) keeps its
  // memory until its pidfd reports the exit: it may still write its rings, its chunks, and the
  // subscriber queues it pushes to. Without a pidfd watch there is nothing to wait for.
  const ProcessRecord* live = registry_.process(handle);
  const bool may_run = cause == DeathCause::kHeartbeat || cause == DeathCause::kDisconnected ||
                       cause == DeathCause::kHangUp;
  const bool quarantine = live != nullptr && may_run && live->watch.valid();
  std::optional<RemovedProcess> removed = registry_.remove_process(handle, quarantine);
  if (!removed) return;  // already removed: a second notice of the same death
  const ProcessRecord& rec = removed->record;
  if (quarantine) {
    quarantine_.push_back({handle, rec.watch, rec.peer.pid, rec.name, removed->direct_publishers});
    counters_.add(DaemonCounter::kQuarantined);
  } else if (cause == DeathCause::kExited) {
    counters_.add(DaemonCounter::kAbandonedClaims,
                  registry_.repair_abandoned(removed->direct_publishers));
  }

  auto it = conns_.find(rec.conn);
  if (it != conns_.end() && it->second.process && it->second.process->index == handle.index &&
      it->second.process->epoch == handle.epoch) {
    it->second.process.reset();
  }
  // The watch goes, a no-op once it fired; a quarantined process keeps it until its exit.
  if (rec.watch.valid() && !quarantine) host_.cancel_watch(rec.watch);
  // A dead or hung process gets no goodbye; its connection is dropped if it is still open.
  if ((cause == DeathCause::kExited || cause == DeathCause::kHeartbeat) && it != conns_.end() &&
      !it->second.closing) {
    it->second.closing = true;
    host_.close_connection(rec.conn, reactor::CloseMode::kNow);
  }
  if (!removed->heartbeat_released) {
    spdlog::warn("process '{}' (slot {}): its heartbeat slot was already free; cleanup went on",
                 rec.name, handle.index);
  }
  if (cause != DeathCause::kShutdown) {
    counters_.add(death_counter(cause));
    spdlog::info(
        "process '{}' (pid {}, slot {}) removed: {}; released {} publisher(s), {} subscriber(s)",
        rec.name, rec.peer.pid, handle.index, to_string(cause), rec.publishers.size(),
        rec.subscribers.size());
  }
  counters_.add(DaemonCounter::kPublishersDestroyed, rec.publishers.size());
  counters_.add(DaemonCounter::kSubscribersDestroyed, rec.subscribers.size());
  counters_.add(DaemonCounter::kQueuesRetired, rec.publishers.size() + rec.subscribers.size());
  send_wake_notices();  // revokes of its subscribers' eventfds
  reclaim_retired();
}

void ControlPlane::reclaim_retired() {
  ReclaimResult r = registry_.reclaim();
  counters_.add(DaemonCounter::kQueuesReclaimed, r.freed);
}

void ControlPlane::router_notified() {
  disconnect_faulted();
  reclaim_retired();  // also lists settled subscribers in route tables and counts them
  send_wake_notices();
  send_settled();  // so that a held reply goes out after what it waited for
}

void ControlPlane::disconnect_faulted() {
  for (std::uint32_t slot : registry_.faulted_slots()) {
    const ProcessRecord* p = registry_.process(slot);
    if (p == nullptr) continue;
    spdlog::warn("process '{}' (pid {}) broke the shared-memory ring protocol; disconnecting it",
                 p->name, p->peer.pid);
    counters_.add(DaemonCounter::kPortFaults);
    ProcessHandle h = p->handle;
    reactor::ConnId conn = p->conn;
    remove_process(h, DeathCause::kDisconnected);
    if (auto it = conns_.find(conn); it != conns_.end() && !it->second.closing) {
      it->second.closing = true;
      host_.close_connection(conn, reactor::CloseMode::kNow);
    }
  }
}

void ControlPlane::tick(MonoTime now) {
  const auto timeout_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(config_.heartbeat_timeout).count());
  for (const ProcessHandle& h : registry_.expired(to_ns(now), timeout_ns)) {
    remove_process(h, shutting_down_ ? DeathCause::kShutdown : DeathCause::kHeartbeat);
  }
  for (auto& [id, c] : conns_) {
    if (c.process || c.closing || now - c.last_activity <= config_.idle_connection_timeout) {
      continue;
    }
    c.closing = true;
    counters_.add(DaemonCounter::kClosedIdle);
    spdlog::debug("closing an idle unregistered connection of pid {}", c.peer.pid);
    host_.close_connection(id, reactor::CloseMode::kNow);
  }
  disconnect_faulted();  // also catches a fault whose notification came before its store
  reclaim_retired();
  send_wake_notices();
  send_settled();
  health_.check(registry_, router_.ledger().pool(), now, counters_);
}

void ControlPlane::remove_all() {
  for (const std::optional<ProcessRecord>& rec : registry_.processes()) {
    if (rec) remove_process(rec->handle, DeathCause::kShutdown);
  }
}

}  // namespace zcp::daemon
