// The ControlPlane's request handlers: one method per request type. Each runs after the
// frame was decoded, verified and validated, and returns exactly one reply.
#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

#include "daemon/control_plane.hpp"
#include "protocol/frame.hpp"

namespace zcp::daemon {
namespace {

fb::QueueDescriptor to_wire(const shm::QueueDescriptor& q) {
  return fb::QueueDescriptor(q.offset, q.capacity, q.element_size, q.align, q.kind);
}

protocol::Topic topic_of(const auto& req) {
  return protocol::Topic{protocol::as_view(req.service()), protocol::as_view(req.instance()),
                         protocol::as_view(req.event())};
}

std::uint32_t ms(std::chrono::milliseconds d) {
  return static_cast<std::uint32_t>(d.count());
}

}  // namespace

Reply ControlPlane::on_hello(std::uint64_t id, const fb::Hello& req) {
  if (req.protocol_version() != protocol::kProtocolVersion) {
    counters_.add(DaemonCounter::kRejectedVersionMismatch);
    Reply reply = refuse(id, fb::ResultCode::VersionMismatch,
                         "protocol version mismatch: the client speaks version " +
                             std::to_string(req.protocol_version()) + ", diroute speaks version " +
                             std::to_string(protocol::kProtocolVersion));
    reply.close_after = true;
    return reply;
  }
  spdlog::debug("hello from a client of version '{}'", protocol::as_view(req.client_version()));
  return encoded(protocol::encode_hello_reply(id, config_.daemon_version), id);
}

Reply ControlPlane::on_register(reactor::ConnId conn, Connection& c, std::uint64_t id,
                                const fb::RegisterProcess& req, MonoTime now) {
  if (c.registered_once) {
    const ProcessRecord* p = c.process ? registry_.process(*c.process) : nullptr;
    return refuse(id, fb::ResultCode::AlreadyRegistered,
                  p != nullptr ? "this connection is already registered as '" + p->name +
                                     "' (slot " + std::to_string(p->handle.index) + ")"
                               : std::string("this connection registered once already; a "
                                             "connection registers at most once, open a new one"));
  }
  auto added = registry_.add_process(conn, c.peer, protocol::as_view(req.name()), req.monitored(),
                                     to_ns(now));
  if (!added) return registry_refusal(id, added.error());
  const ProcessHandle handle = (*added)->handle;
  const std::string name = (*added)->name;

  auto watch = host_.watch_process(c.peer.pid, handle);
  if (watch) {
    registry_.set_watch(handle, *watch);
  } else if (watch.error().err == ESRCH) {
    // SO_PEERCRED names the process that connected; it is gone, and whoever inherited the
    // socket is not it. Identity must come from the kernel, so refuse.
    (void)registry_.remove_process(handle);
    reclaim_retired();
    return refuse(id, fb::ResultCode::PermissionDenied,
                  "the process that opened this connection (pid " + std::to_string(c.peer.pid) +
                      ") has exited; connect from the process that registers");
  } else {
    spdlog::warn(
        "process '{}' (pid {}): no pidfd watch ({}); its exit will be noticed by "
        "socket hang-up{}",
        name, c.peer.pid, watch.error().message(), req.monitored() ? " or heartbeat timeout" : "");
  }
  c.process = handle;
  c.registered_once = true;
  counters_.add(DaemonCounter::kRegistrations);
  spdlog::info("process '{}' registered: pid {}, uid {}, slot {}, {}", name, c.peer.pid, c.peer.uid,
               handle.index, req.monitored() ? "heartbeat-monitored" : "not monitored");

  protocol::RegisterGrant grant;
  grant.slot = handle.index;
  grant.heartbeat_interval_ms = ms(config_.heartbeat_interval);
  grant.heartbeat_timeout_ms = ms(config_.heartbeat_timeout);
  grant.segment_name = segment_.name;
  grant.segment_size = segment_.size;
  grant.layout_version = segment_.layout_version;
  return encoded(protocol::encode_register_process_reply(id, grant), id, {segment_.fd});
}

Reply ControlPlane::on_unregister(Connection& c, std::uint64_t id) {
  remove_process(*c.process, DeathCause::kUnregistered);
  return encoded(protocol::encode_ack(id), id);
}

Reply ControlPlane::on_create_publisher(const ProcessRecord& p, std::uint64_t id,
                                        const fb::CreatePublisher& req) {
  protocol::PublisherOptions opts{req.history_depth(), req.max_loans(), req.max_payload()};
  const protocol::Topic topic = topic_of(req);
  if (!access_.allows(AccessRole::kPublish, topic.service, p.peer.uid, p.peer.gid)) {
    counters_.add(DaemonCounter::kAccessDenied);
    return refuse(id, fb::ResultCode::PermissionDenied,
                  access_.refusal(AccessRole::kPublish, topic.service, p.peer.uid, p.peer.gid));
  }
  auto pub = registry_.add_publisher(p.handle.index, topic, opts);
  if (!pub) return registry_refusal(id, pub.error());
  const PublisherRecord& rec = **pub;
  counters_.add(DaemonCounter::kPublishersCreated);
  protocol::PublisherGrant grant;
  grant.publisher_id = rec.id;
  grant.ring = to_wire(rec.port->publish_desc);
  grant.history_depth = rec.port->history_depth;
  grant.worker = rec.worker;
  grant.loan_ring = to_wire(rec.port->loan_desc);
  grant.pool_class = rec.port->pool_class;
  grant.chunk_size = rec.chunk_size;
  grant.max_loans = rec.port->max_loans;
  Reply reply =
      encoded(protocol::encode_publisher_reply(id, grant), id, {router_.doorbell(rec.worker)});
  // Sent once every worker applied the AddPublisher (handle() holds it): its loan ring is full.
  reply.settle = rec.added_seq;
  return reply;
}

Reply ControlPlane::on_create_subscriber(const ProcessRecord& p, std::uint64_t id,
                                         const fb::CreateSubscriber& req) {
  protocol::SubscriberOptions opts{req.queue_capacity(), req.policy(), req.history_request(),
                                   req.max_held()};
  const protocol::Topic topic = topic_of(req);
  if (!access_.allows(AccessRole::kSubscribe, topic.service, p.peer.uid, p.peer.gid)) {
    counters_.add(DaemonCounter::kAccessDenied);
    return refuse(id, fb::ResultCode::PermissionDenied,
                  access_.refusal(AccessRole::kSubscribe, topic.service, p.peer.uid, p.peer.gid));
  }
  auto sub = registry_.add_subscriber(p.handle.index, topic, opts);
  if (!sub) return registry_refusal(id, sub.error());
  const SubscriberRecord& rec = **sub;
  counters_.add(DaemonCounter::kSubscribersCreated);
  protocol::SubscriberGrant grant;
  grant.subscriber_id = rec.id;
  grant.queue = to_wire(rec.port->queue_desc);
  grant.release_ring = to_wire(rec.port->release_desc);
  grant.max_held = rec.max_held;
  Reply reply = encoded(protocol::encode_subscriber_reply(id, grant), id, {rec.eventfd.get()});
  reply.settle = rec.added_seq;  // sent once every worker delivers to it (handle() holds it)
  return reply;
}

Reply ControlPlane::on_destroy_publisher(const ProcessRecord& p, std::uint64_t id,
                                         const fb::DestroyPublisher& req) {
  if (!registry_.remove_publisher(p.handle.index, req.publisher_id())) {
    return refuse(id, fb::ResultCode::NotFound,
                  "no publisher " + std::to_string(req.publisher_id()) + " owned by this process");
  }
  counters_.add(DaemonCounter::kPublishersDestroyed);
  counters_.add(DaemonCounter::kQueuesRetired);
  reclaim_retired();
  return encoded(protocol::encode_ack(id), id);
}

Reply ControlPlane::on_destroy_subscriber(const ProcessRecord& p, std::uint64_t id,
                                          const fb::DestroySubscriber& req) {
  if (!registry_.remove_subscriber(p.handle.index, req.subscriber_id())) {
    return refuse(
        id, fb::ResultCode::NotFound,
        "no subscriber " + std::to_string(req.subscriber_id()) + " owned by this process");
  }
  counters_.add(DaemonCounter::kSubscribersDestroyed);
  counters_.add(DaemonCounter::kQueuesRetired);
  reclaim_retired();
  return encoded(protocol::encode_ack(id), id);
}

Reply ControlPlane::registry_refusal(std::uint64_t id, const RegistryError& error) {
  switch (error.limit) {
    case LimitKind::kProcesses:
      counters_.add(DaemonCounter::kLimitProcesses);
      break;
    case LimitKind::kPublishersPerProcess:
      counters_.add(DaemonCounter::kLimitPublishers);
      break;
    case LimitKind::kSubscribersPerProcess:
      counters_.add(DaemonCounter::kLimitSubscribers);
      break;
    case LimitKind::kTopics:
      counters_.add(DaemonCounter::kLimitTopics);
      break;
    case LimitKind::kPublishers:
      counters_.add(DaemonCounter::kLimitPublishersTotal);
      break;
    case LimitKind::kSubscribers:
      counters_.add(DaemonCounter::kLimitSubscribersTotal);
      break;
    case LimitKind::kNone:
      break;
  }
  if (error.code == fb::ResultCode::OutOfResources) counters_.add(DaemonCounter::kOutOfResources);
  return refuse(id, error.code, error.message);
}

// The listing is sorted (processes by slot, endpoints by id) and cut, subscribers first, to
// kMaxTopologyEntries and then further until it fits one frame. TopologyReply has no field to
// say it was cut (docs/architecture.md); the cut is counted and logged at debug.
Reply ControlPlane::on_list_topology(std::uint64_t id) {
  std::vector<protocol::TopologyProcess> procs;
  std::vector<protocol::TopologyPublisher> pubs;
  std::vector<protocol::TopologySubscriber> subs;
  procs.reserve(registry_.process_count());
  for (const std::optional<ProcessRecord>& p : registry_.processes()) {
    if (!p) continue;
    procs.push_back({p->handle.index, p->peer.pid, p->peer.uid, p->name, p->monitored});
  }
  for (const auto& [pid, r] : registry_.publishers()) {
    pubs.push_back({r.id, r.slot, r.topic.view()});
  }
  for (const auto& [sid, r] : registry_.subscribers()) {
    subs.push_back({r.id, r.slot, r.topic.view(), r.port->queue_desc.capacity, r.policy});
  }
  std::sort(pubs.begin(), pubs.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::sort(subs.begin(), subs.end(), [](const auto& a, const auto& b) { return a.id < b.id; });

  const std::size_t total = procs.size() + pubs.size() + subs.size();
  std::size_t keep = std::min(total, kMaxTopologyEntries);
  for (;;) {
    std::size_t np = std::min(procs.size(), keep);
    std::size_t nb = std::min(pubs.size(), keep - np);
    std::size_t ns = std::min(subs.size(), keep - np - nb);
    auto frame = protocol::encode_topology_reply(
        id, std::span(procs).first(np), std::span(pubs).first(nb), std::span(subs).first(ns));
    if (frame || frame.error() != protocol::EncodeError::TooLarge || keep == 0) {
      if (frame && keep < total) {
        counters_.add(DaemonCounter::kTopologyTruncated);
        spdlog::debug("topology listing cut to {} of {} entries to fit one frame", keep, total);
      }
      return encoded(std::move(frame), id);
    }
    keep = keep * 3 / 4;
  }
}

}  // namespace zcp::daemon
