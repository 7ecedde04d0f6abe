#include <errno.h>
#include <unistd.h>

#include <zcp/runtime.hpp>

#include "client/runtime_impl.hpp"
#include "common/clock.hpp"
#include "common/instance.hpp"
#include "protocol/frame.hpp"
#include "shm/heartbeat_pool.hpp"

namespace zcp {

const char* to_string(Errc e) noexcept {
  switch (e) {
    case Errc::kInvalidArgument:
      return "invalid argument";
    case Errc::kDaemonUnavailable:
      return "daemon unavailable";
    case Errc::kVersionMismatch:
      return "version mismatch";
    case Errc::kRejected:
      return "rejected by the daemon";
    case Errc::kDisconnected:
      return "disconnected";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kProtocol:
      return "protocol error";
    case Errc::kSystem:
      return "system error";
    case Errc::kPoolExhausted:
      return "pool exhausted";
    case Errc::kWouldBlock:
      return "would block";
    case Errc::kTooLarge:
      return "too large";
    case Errc::kTooManyLoans:
      return "too many loans";
    case Errc::kTooManyHeld:
      return "too many samples held";
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
Result<client::Reply> RuntimeImpl::request(Session& s, const std::string& what, Encode&& encode) {
  client::ControlChannel* channel = s.channel.get();
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
    Errc code =
        r->code() == fb::ResultCode::VersionMismatch ? Errc::kVersionMismatch : Errc::kRejected;
    return Unexpected(
        Error{code, static_cast<std::uint16_t>(r->code()),
              what + ": diroute refused (" + fb::EnumNameResultCode(r->code()) + "): " + msg});
  }
  return reply;
}

Result<PublisherGrant> RuntimeImpl::create_publisher(Session& s, const protocol::Topic& topic,
                                                     const protocol::PublisherOptions& o) {
  std::string what = "create publisher " + std::string(topic.service) + "/" +
                     std::string(topic.instance) + "/" + std::string(topic.event);
  auto reply = request(
      s, what, [&](std::uint64_t id) { return protocol::encode_create_publisher(id, topic, o); });
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

Result<SubscriberGrant> RuntimeImpl::create_subscriber(Session& s, const protocol::Topic& topic,
                                                       const protocol::SubscriberOptions& o) {
  std::string what = "create subscriber " + std::string(topic.service) + "/" +
                     std::string(topic.instance) + "/" + std::string(topic.event);
  auto reply = request(
      s, what, [&](std::uint64_t id) { return protocol::encode_create_subscriber(id, topic, o); });
  if (!reply) return Unexpected(reply.error());
  auto* body = reply->response->body_as_SubscriberReply();
  if (!body || !body->queue() || reply->fds.size() != 1) {
    return Unexpected(Error{Errc::kProtocol, 0, what + ": malformed SubscriberReply"});
  }
  return SubscriberGrant{
      body->subscriber_id(), to_shm(*body->queue()),
      body->release_ring() ? to_shm(*body->release_ring()) : shm::QueueDescriptor{},
      body->max_held(), std::move(reply->fds[0])};
}

Result<void> RuntimeImpl::destroy_publisher(Session& s, std::uint32_t id) {
  auto r = request(s, "destroy publisher " + std::to_string(id),
                   [&](std::uint64_t rid) { return protocol::encode_destroy_publisher(rid, id); });
  if (!r) return Unexpected(r.error());
  return {};
}

Result<void> RuntimeImpl::destroy_subscriber(Session& s, std::uint32_t id) {
  auto r = request(s, "destroy subscriber " + std::to_string(id),
                   [&](std::uint64_t rid) { return protocol::encode_destroy_subscriber(rid, id); });
  if (!r) return Unexpected(r.error());
  return {};
}

Result<void> RuntimeImpl::unregister() {
  Session& s = *session();
  // Before the request: the daemon frees the heartbeat slot before it answers, and a tick that
  // found it gone would report this process declared dead and start a reconnect.
  // relaxed: only stops the heartbeat tick; it publishes nothing (the segment and lease stay
  // valid until the session goes).
  s.registered.store(false, std::memory_order_relaxed);
  auto r = request(s, "unregister",
                   [&](std::uint64_t rid) { return protocol::encode_unregister_process(rid); });
  if (!r) return Unexpected(r.error());
  return {};
}

Result<Topology> RuntimeImpl::list_topology() {
  auto reply = request(*session(), "list topology",
                       [&](std::uint64_t id) { return protocol::encode_list_topology(id); });
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
      t.publishers.push_back(
          {p->id(), p->slot(), str(p->service()), str(p->instance()), str(p->event())});
    }
  }
  if (body->subscribers()) {
    for (const auto* s : *body->subscribers()) {
      t.subscribers.push_back(
          {s->id(), s->slot(), str(s->service()), str(s->instance()), str(s->event())});
    }
  }
  return t;
}

Error RuntimeImpl::disconnected_error(std::string_view what) const {
  const Session* s = session();
  std::optional<Error> why = s ? s->channel->disconnect_reason() : std::nullopt;
  Error e{Errc::kDisconnected, 0, std::string(what) + ": "};
  e.message +=
      why ? why->message : "the runtime is not connected to diroute (instance '" + instance + "')";
  if (options.reconnect) e.message += "; waiting for a new diroute on this instance";
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

void RuntimeImpl::heartbeat_tick(Session& s) {
  // acquire: pairs with open_session's release store of `registered`; the lease and the
  // mapped segment written before it are visible here (this runs on the channel's reader
  // thread, started before the session was complete).
  if (!options.monitored || !s.registered.load(std::memory_order_acquire)) return;
  if (!s.segment.heartbeats().touch(s.lease, monotonic_ns())) {
    s.channel->mark_disconnected(
        Error{Errc::kDisconnected, 0,
              "diroute (instance '" + instance +
                  "') declared this process dead (its heartbeat slot was reclaimed)"});
  }
}

Result<std::unique_ptr<Session>> RuntimeImpl::open_session(std::uint16_t number) {
  auto s = std::make_unique<Session>();
  s->number = number;
  auto channel = client::ControlChannel::connect(socket_path, instance);
  if (!channel) return Unexpected(channel.error());
  s->channel = std::move(*channel);
  Session* raw = s.get();
  s->channel->set_disconnect_hook([this, raw] { on_session_lost(raw); });
  s->channel->set_notice_hook([raw](const fb::Response& notice, std::vector<sys::UniqueFd>& fds) {
    auto ids = [](const flatbuffers::Vector<std::uint32_t>* v) {
      return v ? std::span<const std::uint32_t>(v->data(), v->size())
               : std::span<const std::uint32_t>();
    };
    if (const fb::WakeFds* g = notice.body_as_WakeFds()) {
      if (ids(g->subscriber_ids()).size() == fds.size())
        raw->wake_fds.grant(ids(g->subscriber_ids()), fds);
    } else if (const fb::WakeFdsRevoked* r = notice.body_as_WakeFdsRevoked()) {
      raw->wake_fds.revoke(ids(r->subscriber_ids()));
    }
  });
  // The heartbeat period is known only after registration; tick at 100 ms until then, a
  // bound on how late the first touch can be. The tick does nothing before registration.
  s->channel->start([this, raw] { heartbeat_tick(*raw); }, std::chrono::milliseconds(100));

  auto hello = request(
      *s, "hello", [&](std::uint64_t id) { return protocol::encode_hello(id, kLibraryVersion); });
  if (!hello) return Unexpected(hello.error());
  if (auto* h = hello->response->body_as_HelloReply(); h && h->daemon_version()) {
    s->daemon_version = h->daemon_version()->str();
  }
  auto reg = request(*s, "register process '" + options.name + "'", [&](std::uint64_t id) {
    return protocol::encode_register_process(id, options.name, options.monitored);
  });
  if (!reg) return Unexpected(reg.error());
  auto* body = reg->response->body_as_RegisterProcessReply();
  if (!body || reg->fds.size() != 1) {
    return Unexpected(Error{Errc::kProtocol, 0, "register: malformed RegisterProcessReply"});
  }
  std::string seg_name = body->segment() && body->segment()->name() ? body->segment()->name()->str()
                                                                    : "/zcp." + instance + ".seg";
  auto seg = shm::Segment::attach_fd(reg->fds[0].release(), seg_name);
  if (!seg) {
    Errc code = seg.error().code == shm::SegmentErrc::kVersionMismatch ? Errc::kVersionMismatch
                                                                       : Errc::kSystem;
    return Unexpected(Error{code, 0, "map the daemon's segment: " + seg.error().message});
  }
  s->segment = std::move(*seg);
  auto lease = s->segment.heartbeats().lease_of(body->slot());
  if (!lease) {
    return Unexpected(
        Error{Errc::kProtocol, 0,
              "register: heartbeat slot " + std::to_string(body->slot()) + " is not active"});
  }
  s->lease = *lease;
  s->heartbeat_interval_ms = body->heartbeat_interval_ms();
  // release: publishes the segment and the lease written above to the reader thread's
  // heartbeat_tick, which loads `registered` with acquire before it touches them.
  s->registered.store(true, std::memory_order_release);
  heartbeat_tick(*s);
  return s;
}

void RuntimeImpl::publish_session(std::unique_ptr<Session> s) {
  Session* raw = s.get();
  {
    std::lock_guard lk(sessions_mu_);
    sessions_.push_back(std::move(s));
    lost_ = false;
  }
  // release: the session, fully built above, is visible to every thread that loads current_
  // with acquire (RuntimeImpl::session()).
  current_.store(raw, std::memory_order_release);
  // A daemon that died before the store above had its loss ignored (not current yet); a
  // death after it is seen by on_session_lost. down() is set before the hook runs, so one of
  // the two always starts the next reconnect.
  if (raw->channel->down()) on_session_lost(raw);
}

void RuntimeImpl::on_session_lost(Session* s) {
  // Only the current session's loss starts a reconnect. A session that never became current
  // (a failed attempt) or an old one ending late must not: a second registration while the
  // current one lives would be refused, and retried, forever.
  if (s != session()) return;
  wake_watched();  // sleepers in wait() see the loss now, not at their timeout
  std::lock_guard lk(sessions_mu_);
  lost_ = true;
  sessions_cv_.notify_all();
}

void RuntimeImpl::start_reconnector() {
  reconnector_ = std::thread([this] { reconnect_loop(); });
}

void RuntimeImpl::reconnect_loop() {
  std::unique_lock lk(sessions_mu_);
  for (;;) {
    sessions_cv_.wait(lk, [&] { return stopping_ || lost_; });
    if (stopping_) return;
    // Poll the socket until a daemon registers us again (or the runtime goes).
    const std::uint16_t number = static_cast<std::uint16_t>(sessions_.back()->number + 1);
    lk.unlock();
    auto s = open_session(number);
    lk.lock();
    if (stopping_) return;
    if (!s) {
      sessions_cv_.wait_for(lk, options.reconnect_interval, [&] { return stopping_; });
      continue;
    }
    lk.unlock();
    publish_session(std::move(*s));
    reconnects_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    wake_watched();  // waiters re-check: their ports rebind on the new session
    lk.lock();
  }
}

RuntimeImpl::~RuntimeImpl() {
  {
    std::lock_guard lk(sessions_mu_);
    stopping_ = true;
    sessions_cv_.notify_all();
  }
  if (reconnector_.joinable()) reconnector_.join();
  // Every reader thread stops before any channel or segment goes: a tick reads the session's
  // channel (to report a lost slot) and touches its segment. Then channels, then segments.
  for (auto& s : sessions_)
    s->channel->stop();
  for (auto& s : sessions_)
    s->channel.reset();
}

}  // namespace detail

Runtime::Runtime(std::unique_ptr<detail::RuntimeImpl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() {
  detail::Session* s = impl_->session();
  // acquire: as in heartbeat_tick.
  if (s && s->channel->connected() && s->registered.load(std::memory_order_acquire)) {
    (void)impl_->unregister();  // best effort: the daemon also notices the hang-up
  }
}

Result<std::unique_ptr<Runtime>> Runtime::connect(RuntimeOptions options) {
  auto paths =
      resolve_instance(options.instance.empty() ? std::nullopt : std::optional(options.instance));
  if (!paths) return Unexpected(Error{Errc::kInvalidArgument, 0, paths.error()});
  if (options.name.empty()) {
    options.name = std::string(program_invocation_short_name) + "-" + std::to_string(::getpid());
  }
  if (options.reconnect_interval.count() <= 0) {
    return Unexpected(Error{Errc::kInvalidArgument, 0, "reconnect_interval must be positive"});
  }
  auto impl = std::make_unique<detail::RuntimeImpl>();
  impl->options = options;
  impl->instance = paths->instance;
  impl->socket_path = paths->socket_path;
  auto first = impl->open_session(1);
  if (!first) return Unexpected(first.error());
  impl->publish_session(std::move(*first));
  if (options.reconnect) impl->start_reconnector();
  return std::unique_ptr<Runtime>(new Runtime(std::move(impl)));
}

const std::string& Runtime::name() const noexcept {
  return impl_->options.name;
}
const std::string& Runtime::instance() const noexcept {
  return impl_->instance;
}
std::uint32_t Runtime::slot() const noexcept {
  return impl_->session()->lease.index;
}
std::string Runtime::daemon_version() const {
  return impl_->session()->daemon_version;
}
bool Runtime::connected() const noexcept {
  return !impl_->disconnected();
}
std::uint64_t Runtime::reconnects() const noexcept {
  return impl_->reconnects();
}
std::optional<Error> Runtime::disconnect_reason() const {
  return impl_->session()->channel->disconnect_reason();
}
Result<Topology> Runtime::list_topology() {
  return impl_->list_topology();
}

}  // namespace zcp
