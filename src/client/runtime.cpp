#include <zcp/runtime.hpp>

#include <errno.h>
#include <unistd.h>

#include "client/runtime_impl.hpp"
#include "common/instance.hpp"
#include "protocol/frame.hpp"
#include "shm/heartbeat_pool.hpp"

namespace zcp {

const char* to_string(Errc e) noexcept {
  switch (e) {
    case Errc::kInvalidArgument: return "invalid argument";
    case Errc::kDaemonUnavailable: return "daemon unavailable";
    case Errc::kVersionMismatch: return "version mismatch";
    case Errc::kRejected: return "rejected by the daemon";
    case Errc::kDisconnected: return "disconnected";
    case Errc::kTimeout: return "timeout";
    case Errc::kProtocol: return "protocol error";
    case Errc::kSystem: return "system error";
    case Errc::kPoolExhausted: return "pool exhausted";
    case Errc::kWouldBlock: return "would block";
    case Errc::kTooLarge: return "too large";
    case Errc::kTooManyLoans: return "too many loans";
    case Errc::kTooManyHeld: return "too many samples held";
  }
  return "unknown";
}

namespace {
class ZcpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "zcp"; }
  std::string message(int v) const override { return to_string(static_cast<Errc>(v)); }
};
}  // namespace

const std::error_category& error_category() noexcept {
  static const ZcpCategory category;
  return category;
}

namespace detail {

namespace {
constexpr std::string_view kLibraryVersion = "0.1.0";

shm::QueueDescriptor to_shm(const fb::QueueDescriptor& d) {
  return shm::QueueDescriptor{d.offset(), d.capacity(), d.element_size(), d.align(), d.kind()};
}
}  // namespace

template <class Encode>
Result<client::Reply> RuntimeImpl::request(const std::string& what, Encode&& encode) {
  std::uint64_t id = channel->next_request_id();
  auto frame = encode(id);
  if (!frame) {
    return Unexpected(Error{Errc::kInvalidArgument, 0,
                            what + ": cannot encode the request (" +
                                std::string(protocol::to_string(frame.error())) + ")"});
  }
  auto reply = channel->call(id, *frame, options.request_timeout);
  if (!reply) {
    Error e = reply.error();
    e.message = what + ": " + e.message;
    return Unexpected(e);
  }
  const fb::Response* r = reply->response;
  if (r->code() != fb::ResultCode::Ok) {
    std::string msg = r->message() ? r->message()->str() : "";
    Errc code = r->code() == fb::ResultCode::VersionMismatch ? Errc::kVersionMismatch : Errc::kRejected;
    return Unexpected(Error{code, static_cast<std::uint16_t>(r->code()),
                            what + ": diroute refused (" + fb::EnumNameResultCode(r->code()) + "): " + msg});
  }
  return reply;
}

Result<PublisherGrant> RuntimeImpl::create_publisher(const protocol::Topic& topic,
                                                     const protocol::PublisherOptions& o) {
  std::string what = "create publisher " + std::string(topic.service) + "/" + std::string(topic.instance) +
                     "/" + std::string(topic.event);
  auto reply = request(what, [&](std::uint64_t id) { return protocol::encode_create_publisher(id, topic, o); });
  if (!reply) return Unexpected(reply.error());
  auto* body = reply->response->body_as_PublisherReply();
  if (!body || !body->ring() || reply->fds.size() != 1) {
    return Unexpected(Error{Errc::kProtocol, 0, what + ": malformed PublisherReply"});
  }
  // loan_ring is absent in replies of a daemon without a data plane; a zeroed descriptor
  // then fails the Publisher's attach with a message that says so.
  return PublisherGrant{body->publisher_id(),
                        to_shm(*body->ring()),
                        body->history_depth(),
                        body->worker(),
                        body->loan_ring() ? to_shm(*body->loan_ring()) : shm::QueueDescriptor{},
                        body->pool_class(),
                        body->chunk_size(),
                        body->max_loans(),
                        std::move(reply->fds[0])};
}

Result<SubscriberGrant> RuntimeImpl::create_subscriber(const protocol::Topic& topic,
                                                       const protocol::SubscriberOptions& o) {
  std::string what = "create subscriber " + std::string(topic.service) + "/" + std::string(topic.instance) +
                     "/" + std::string(topic.event);
  auto reply = request(what, [&](std::uint64_t id) { return protocol::encode_create_subscriber(id, topic, o); });
  if (!reply) return Unexpected(reply.error());
  auto* body = reply->response->body_as_SubscriberReply();
  if (!body || !body->queue() || reply->fds.size() != 1) {
    return Unexpected(Error{Errc::kProtocol, 0, what + ": malformed SubscriberReply"});
  }
  return SubscriberGrant{body->subscriber_id(), to_shm(*body->queue()),
                         body->release_ring() ? to_shm(*body->release_ring()) : shm::QueueDescriptor{},
                         body->max_held(), std::move(reply->fds[0])};
}

Result<void> RuntimeImpl::destroy_publisher(std::uint32_t id) {
  auto r = request("destroy publisher " + std::to_string(id),
                   [&](std::uint64_t rid) { return protocol::encode_destroy_publisher(rid, id); });
  if (!r) return Unexpected(r.error());
  return {};
}

Result<void> RuntimeImpl::destroy_subscriber(std::uint32_t id) {
  auto r = request("destroy subscriber " + std::to_string(id),
                   [&](std::uint64_t rid) { return protocol::encode_destroy_subscriber(rid, id); });
  if (!r) return Unexpected(r.error());
  return {};
}

Result<void> RuntimeImpl::unregister() {
  auto r = request("unregister", [&](std::uint64_t rid) { return protocol::encode_unregister_process(rid); });
  registered.store(false, std::memory_order_relaxed);  // only gates the heartbeat tick
  if (!r) return Unexpected(r.error());
  return {};
}

Result<Topology> RuntimeImpl::list_topology() {
  auto reply = request("list topology", [&](std::uint64_t id) { return protocol::encode_list_topology(id); });
  if (!reply) return Unexpected(reply.error());
  auto* body = reply->response->body_as_TopologyReply();
  if (!body) return Unexpected(Error{Errc::kProtocol, 0, "list topology: malformed TopologyReply"});
  Topology t;
  auto str = [](const flatbuffers::String* s) { return s ? s->str() : std::string(); };
  if (body->processes()) {
    for (const auto* p : *body->processes()) {
      t.processes.push_back({p->slot(), p->pid(), p->uid(), str(p->name()), p->monitored()});
    }
  }
  if (body->publishers()) {
    for (const auto* p : *body->publishers()) {
      t.publishers.push_back({p->id(), p->slot(), str(p->service()), str(p->instance()), str(p->event())});
    }
  }
  if (body->subscribers()) {
    for (const auto* s : *body->subscribers()) {
      t.subscribers.push_back({s->id(), s->slot(), str(s->service()), str(s->instance()), str(s->event())});
    }
  }
  return t;
}

Error RuntimeImpl::disconnected_error(std::string_view what) const {
  std::optional<Error> why = channel ? channel->disconnect_reason() : std::nullopt;
  Error e{Errc::kDisconnected, 0, std::string(what) + ": "};
  e.message += why ? why->message : "the runtime is not connected to diroute (instance '" + instance + "')";
  return e;
}

void RuntimeImpl::watch_eventfd(int fd) {
  std::lock_guard lk(wake_mu_);
  wake_fds_.push_back(fd);
}

void RuntimeImpl::unwatch_eventfd(int fd) {
  std::lock_guard lk(wake_mu_);
  std::erase(wake_fds_, fd);
}

void RuntimeImpl::wake_watched() noexcept {
  std::lock_guard lk(wake_mu_);
  for (int fd : wake_fds_) {
    std::uint64_t one = 1;
    (void)sys::call(::write, fd, &one, sizeof(one));  // best effort: a spurious wake is harmless
  }
}

void RuntimeImpl::heartbeat_tick() {
  if (!options.monitored || !registered.load(std::memory_order_relaxed)) return;
  if (!segment.heartbeats().touch(lease, shm::monotonic_ns())) {
    channel->mark_disconnected(Error{Errc::kDisconnected, 0,
                                     "diroute (instance '" + instance +
                                         "') declared this process dead (its heartbeat slot was reclaimed)"});
  }
}

}  // namespace detail

Runtime::Runtime(std::unique_ptr<detail::RuntimeImpl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() {
  if (impl_->channel && impl_->channel->connected() && impl_->registered.load()) {
    (void)impl_->unregister();  // best effort: the daemon also notices the hang-up
  }
  impl_->channel.reset();  // joins the background thread before the segment unmaps
}

Result<std::unique_ptr<Runtime>> Runtime::connect(RuntimeOptions options) {
  auto paths = resolve_instance(options.instance.empty() ? std::nullopt : std::optional(options.instance));
  if (!paths) return Unexpected(Error{Errc::kInvalidArgument, 0, paths.error()});
  if (options.name.empty()) {
    options.name = std::string(program_invocation_short_name) + "-" + std::to_string(::getpid());
  }
  auto impl = std::make_unique<detail::RuntimeImpl>();
  impl->options = options;
  impl->instance = paths->instance;

  auto channel = client::ControlChannel::connect(paths->socket_path, paths->instance);
  if (!channel) return Unexpected(channel.error());
  impl->channel = std::move(*channel);
  detail::RuntimeImpl* raw = impl.get();
  impl->channel->set_disconnect_hook([raw] { raw->wake_watched(); });
  // The heartbeat period is known only after registration; tick at 100 ms until then, a
  // bound on how late the first touch can be. The tick does nothing before registration.
  impl->channel->start([raw] { raw->heartbeat_tick(); }, std::chrono::milliseconds(100));

  auto hello = impl->request("hello", [&](std::uint64_t id) {
    return protocol::encode_hello(id, detail::kLibraryVersion);
  });
  if (!hello) return Unexpected(hello.error());
  if (auto* h = hello->response->body_as_HelloReply(); h && h->daemon_version()) {
    impl->daemon_version = h->daemon_version()->str();
  }

  auto reg = impl->request("register process '" + options.name + "'", [&](std::uint64_t id) {
    return protocol::encode_register_process(id, options.name, options.monitored);
  });
  if (!reg) return Unexpected(reg.error());
  auto* body = reg->response->body_as_RegisterProcessReply();
  if (!body || reg->fds.size() != 1) {
    return Unexpected(Error{Errc::kProtocol, 0, "register: malformed RegisterProcessReply"});
  }
  std::string seg_name = body->segment() && body->segment()->name() ? body->segment()->name()->str()
                                                                    : paths->shm_name("seg");
  auto seg = shm::Segment::attach_fd(reg->fds[0].release(), seg_name);
  if (!seg) {
    Errc code = seg.error().code == shm::SegmentErrc::kVersionMismatch ? Errc::kVersionMismatch : Errc::kSystem;
    return Unexpected(Error{code, 0, "map the daemon's segment: " + seg.error().message});
  }
  impl->segment = std::move(*seg);
  auto lease = impl->segment.heartbeats().lease_of(body->slot());
  if (!lease) {
    return Unexpected(Error{Errc::kProtocol, 0,
                            "register: heartbeat slot " + std::to_string(body->slot()) + " is not active"});
  }
  impl->lease = *lease;
  impl->heartbeat_interval_ms = body->heartbeat_interval_ms();
  impl->registered.store(true, std::memory_order_relaxed);  // the tick may now touch the slot
  impl->heartbeat_tick();
  return std::unique_ptr<Runtime>(new Runtime(std::move(impl)));
}

const std::string& Runtime::name() const noexcept { return impl_->options.name; }
const std::string& Runtime::instance() const noexcept { return impl_->instance; }
std::uint32_t Runtime::slot() const noexcept { return impl_->lease.index; }
std::string Runtime::daemon_version() const { return impl_->daemon_version; }
bool Runtime::connected() const noexcept { return impl_->channel && impl_->channel->connected(); }
std::optional<Error> Runtime::disconnect_reason() const { return impl_->channel->disconnect_reason(); }
Result<Topology> Runtime::list_topology() { return impl_->list_topology(); }

}  // namespace zcp
