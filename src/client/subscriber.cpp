// zcp::Subscriber<void> and its port. Hot path: take() pops one MessageHeader and resolves
// its chunk; destroying the Sample pushes one ChunkRef into the release ring. No lock, no
// allocation, no system call; wait() makes system calls only when the queue is empty.
#include <algorithm>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "client/access.hpp"
#include "client/cold_error.hpp"
#include "client/subscriber_port.hpp"
#include "shm/ports.hpp"

namespace zcp {
namespace detail {

namespace {

std::string describe(const Topic& t) {
  return "subscriber " + t.str();
}

}  // namespace

Result<SubscriberPort*> SubscriberPort::open(Runtime& runtime, const Topic& topic,
                                             const SubscriberOptions& o) {
  if (topic.service.empty() || topic.instance.empty() || topic.event.empty()) {
    return Unexpected(
        Error{Errc::kInvalidArgument, 0,
              "topic '" + topic.str() + "' has an empty part; expected SERVICE/INSTANCE/EVENT"});
  }
  if (o.policy != QueuePolicy::kDropOldest && o.policy != QueuePolicy::kDropNewest &&
      o.policy != QueuePolicy::kBlockPublisher) {
    return Unexpected(Error{Errc::kInvalidArgument, 0, describe(topic) + ": unknown queue policy"});
  }
  RuntimeImpl& rt = runtime.impl();
  if (rt.disconnected()) return Unexpected(rt.disconnected_error("create " + describe(topic)));
  auto* p = new SubscriberPort();
  p->rt_ = &rt;
  p->topic_ = topic;
  p->options_ = o;
  if (auto b = p->bind(*rt.session()); !b) {
    delete p;  // never bound: its destructor has nothing to tell a daemon
    return Unexpected(b.error());
  }
  rt.watch_eventfd(p->eventfd_.get());
  // The runtime may have lost the daemon between the request and the watch: wake now.
  if (rt.disconnected()) rt.wake_watched();
  return p;
}

Result<void> SubscriberPort::bind(Session& s) {
  const SubscriberOptions& o = options_;
  auto grant = rt_->create_subscriber(
      s, {topic_.service, topic_.instance, topic_.event},
      {o.queue_capacity, protocol::to_wire(o.policy), o.history_request, o.max_held});
  if (!grant) return Unexpected(grant.error());

  auto fail = [&](std::string why) -> Result<void> {
    (void)rt_->destroy_subscriber(s, grant->id);
    return Unexpected(Error{Errc::kProtocol, 0, "create " + describe(topic_) + ": " + why});
  };
  shm::Segment& seg = s.segment;
  auto queue = shm::MpmcRing<shm::MessageHeader>::attach(seg.base(), seg.size(), grant->queue);
  if (!queue) return fail("the queue the daemon granted is unusable (" + queue.error() + ")");
  auto rel = shm::SpscProducer<shm::ChunkRef>::attach(seg.base(), seg.size(), grant->release_ring);
  if (!rel) {
    return fail("the release ring the daemon granted is unusable (" + rel.error() +
                "); is this diroute without a data plane?");
  }
  if (grant->max_held == 0) return fail("the daemon granted max_held 0");
  if (!grant->eventfd.valid()) return fail("no subscriber eventfd");
  // Non-blocking, so that finish_wait() can clear the counter without knowing whether it is
  // set. The flag is on the open file the daemon shares; it only ever writes (never blocks).
  int flags = ::fcntl(grant->eventfd.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(grant->eventfd.get(), F_SETFL, flags | O_NONBLOCK);

  const bool rebind = session_ != nullptr;
  if (rebind) {
    // A reconnect. What the old router queued for us and we never took is lost with it.
    lost_ += queue_.size_approx();
    // The new eventfd takes the old one's number, so a wait() or a user's poll() on
    // native_handle() keeps working. (An epoll or Asio registration holds the old open file
    // and must be renewed: docs/client.md, "Daemon restarts".)
    if (auto d = sys::call(::dup3, grant->eventfd.get(), eventfd_.get(), O_CLOEXEC); !d.ok()) {
      return fail(std::string("dup3 of the new eventfd failed: ") + std::strerror(d.err));
    }
  } else {
    eventfd_ = std::move(grant->eventfd);
  }
  session_ = &s;
  id_ = grant->id;
  max_held_ = grant->max_held;
  pool_ = seg.pool();
  queue_ = std::move(*queue);
  // release: the new header's mapping is ours before a stats thread reads through it.
  counts_header_.store(queue_.header(), std::memory_order_release);
  release_ = std::move(*rel);
  pending_releases_.clear();  // releases of old-session chunks: that router is gone
  pending_releases_.reserve(max_held_ + 16);
  if (rebind) ++rebinds_;  // the eventfd behind our number is a new open file
  return {};
}

bool SubscriberPort::ensure_bound() noexcept {
  Session* cur = rt_->session();
  if (cur != session_ && !cur->channel->down()) (void)bind(*cur);  // failed: retried next call
  return cur == session_ && !cur->channel->down();
}

Sample<> SubscriberPort::take(TakeStatus& status) noexcept {
  if (rt_->session() != session_) (void)ensure_bound();  // a reconnect: rebind first
  if (!pending_releases_.empty()) flush_releases();
  if (held_ >= max_held_) {
    status = TakeStatus::kTooManyHeld;
    return {};
  }
  shm::MessageHeader m;
  while (queue_.try_pop(m)) {
    const shm::ChunkRef ref = m.chunk();
    auto chunk = pool_.resolve(ref);
    if (!chunk) {
      // The router counts us as a holder of whatever it queued: give the reference back
      // (the router validates it) and move on.
      ++rejected_;
      release(ref);
      continue;
    }
    // payload_size was written by the publisher, which we do not trust: clamp it to the
    // chunk. Plain load: the publisher wrote it before its ring push, which the router
    // acquired before its release push into our queue, which try_pop acquired.
    const std::uint32_t size = std::min(chunk->header->payload_size, chunk->capacity);
    ++held_;
    status = TakeStatus::kTaken;
    return SampleAccess::make(
        this, chunk->payload, size, m.publisher_id, m.sequence, m.timestamp_ns,
        ChunkToken{ref.index, ref.generation, ref.pool_class, session_->number});
  }
  status = TakeStatus::kEmpty;
  return {};
}

Error SubscriberPort::too_many_held() const noexcept {
  return cold_error(Errc::kTooManyHeld, [&] {
    return describe(topic_) + ": take refused, " + std::to_string(held_) +
           " samples are held (max_held " + std::to_string(max_held_) +
           "); destroy a sample before taking more";
  });
}

Error SubscriberPort::disconnected(const char* what) const noexcept {
  return cold_error(Errc::kDisconnected,
                    [&] { return rt_->disconnected_error(describe(topic_) + ": " + what); });
}

bool SubscriberPort::prepare_wait() noexcept {
  if (rt_->session() != session_) (void)ensure_bound();
  if (eventfd_dirty_) {
    // The count a past wake-up left (wait() does not clear it on its way out). Nobody writes
    // the eventfd while we are not announced, so this clears only that count.
    std::uint64_t count;
    (void)sys::call(::read, eventfd_.get(), &count, sizeof(count));  // EAGAIN: nothing to clear
    eventfd_dirty_ = false;
  }
  shm::WaitWord w = queue_.wait_word();
  // exchange(1) seq_cst, then the seq_cst re-check of the tail: our half of the handshake
  // (ring.hpp, form 2) with every producer of the queue (publishers and router workers).
  w.prepare_wait();
  if (!queue_.idle() || rt_->disconnected()) {
    w.cancel_wait();
    return false;
  }
  return true;
}

void SubscriberPort::finish_wait(bool drain) noexcept {
  queue_.wait_word().cancel_wait();  // relaxed store 0: publishes nothing
  if (drain) {
    std::uint64_t count;
    (void)sys::call(::read, eventfd_.get(), &count, sizeof(count));  // EAGAIN: nothing to clear
    eventfd_dirty_ = false;
  }
}

bool SubscriberPort::wait(std::chrono::nanoseconds timeout) noexcept {
  if (rt_->session() != session_) (void)ensure_bound();
  if (!queue_.empty()) return true;
  if (rt_->disconnected() || timeout.count() <= 0) return false;
  if (!prepare_wait()) {
    if (!queue_.empty() || rt_->disconnected()) return !queue_.empty();
    // A producer claimed a position and has not published it yet: it is in the middle of its
    // push (or stopped or died there; the daemon steps over the claim once its process
    // exited). Nobody will wake us for it, so nap instead of returning at once: a caller that
    // loops on wait() does not spin meanwhile.
    timeout = std::min<std::chrono::nanoseconds>(timeout, kPendingClaimNap);
    timespec ts{0, static_cast<long>(timeout.count())};
    pollfd p{eventfd_.get(), POLLIN, 0};
    (void)::ppoll(&p, 1, &ts, nullptr);
    return !queue_.empty();
  }
  const auto ns = timeout.count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  pollfd p{eventfd_.get(), POLLIN, 0};
  // One ppoll, EINTR included: a signal ends the wait early (the caller's loop decides).
  (void)::ppoll(&p, 1, &ts, nullptr);
  // Withdraw the announcement, but leave the eventfd's count (a wake-up's, or one a producer
  // wrote as a signal or the timeout ended the wait) for the next prepare_wait() to clear:
  // the read() would otherwise stand between the wake-up and the take(), about 1 us of a
  // wait-mode hop on this VM (docs/performance.md).
  finish_wait(false);
  eventfd_dirty_ = true;
  return !queue_.empty();
}

void SubscriberPort::release(const shm::ChunkRef& ref) noexcept {
  if (!flush_releases() || !release_.try_push(ref)) pending_releases_.push_back(ref);
}

bool SubscriberPort::flush_releases() noexcept {
  if (pending_releases_.empty()) return true;
  const std::size_t done =
      release_.try_push_batch(pending_releases_.data(), pending_releases_.size());
  pending_releases_.erase(pending_releases_.begin(),
                          pending_releases_.begin() + static_cast<long>(done));
  return pending_releases_.empty();
}

void SubscriberPort::drop_sample(const ChunkToken& t) noexcept {
  --held_;
  // A sample of a daemon that is gone has nobody to go back to.
  if (t.session == session_->number) release(shm::ChunkRef{t.index, t.pool_class, 0, t.generation});
  if (orphaned_ && held_ == 0) delete this;
}

std::uint64_t SubscriberPort::dropped() const noexcept {
  // acquire: pairs with bind()'s release (this may run on a monitoring thread). The counter is
  // read relaxed: the router maintains it; it guards no data.
  const shm::RingHeader* h = counts_header_.load(std::memory_order_acquire);
  return shm::atomic_load(h->dropped, std::memory_order_relaxed);
}

void SubscriberPort::close() noexcept {
  orphaned_ = true;
  if (held_ == 0) delete this;
}

SubscriberPort::~SubscriberPort() {
  if (session_ == nullptr) return;  // never bound (open failed)
  rt_->unwatch_eventfd(eventfd_.get());
  // Only the current daemon knows this subscriber, and only if it is still there.
  if (session_ != rt_->session() || rt_->disconnected()) return;
  flush_releases();
  // Best effort; the daemon reclaims what is still queued for us (and what we released).
  (void)rt_->destroy_subscriber(*session_, id_);
}

void drop_sample(SubscriberPort* port, const ChunkToken& token) noexcept {
  port->drop_sample(token);
}

}  // namespace detail

// ---- Subscriber<void>: forwards to the port -------------------------------------------

Result<Subscriber<void>> Subscriber<void>::create(Runtime& runtime, const Topic& topic,
                                                  const SubscriberOptions& options) {
  auto port = detail::SubscriberPort::open(runtime, topic, options);
  if (!port) return Unexpected(std::move(port).error());
  return Subscriber(*port);
}

Result<Subscriber<void>> Subscriber<void>::create(Runtime& runtime, std::string_view topic,
                                                  const SubscriberOptions& options) {
  auto t = Topic::parse(topic);
  if (!t) return Unexpected(std::move(t).error());
  return create(runtime, *t, options);
}

void Subscriber<void>::close() noexcept {
  if (port_ != nullptr) std::exchange(port_, nullptr)->close();
}

std::optional<Sample<>> Subscriber<void>::take() noexcept {
  detail::SubscriberPort::TakeStatus st;
  Sample<> s = port_->take(st);
  if (st != detail::SubscriberPort::TakeStatus::kTaken) return std::nullopt;
  return std::optional<Sample<>>(std::move(s));
}

Result<std::optional<Sample<>>> Subscriber<void>::try_take() noexcept {
  detail::SubscriberPort::TakeStatus st;
  Sample<> s = port_->take(st);
  switch (st) {
    case detail::SubscriberPort::TakeStatus::kTaken:
      return std::optional<Sample<>>(std::move(s));
    case detail::SubscriberPort::TakeStatus::kEmpty:
      // Empty for good once the daemon is gone (what was queued has been taken).
      if (!port_->connected()) return Unexpected(port_->disconnected("take"));
      return std::optional<Sample<>>();
    case detail::SubscriberPort::TakeStatus::kTooManyHeld:
      break;
  }
  return Unexpected(port_->too_many_held());
}

bool Subscriber<void>::has_data() const noexcept {
  return port_->has_data();
}
bool Subscriber<void>::wait(std::chrono::nanoseconds timeout) noexcept {
  return port_->wait(timeout);
}
int Subscriber<void>::native_handle() const noexcept {
  return port_->native_handle();
}
bool Subscriber<void>::prepare_wait() noexcept {
  return port_->prepare_wait();
}
void Subscriber<void>::finish_wait() noexcept {
  port_->finish_wait();
}
std::uint64_t Subscriber<void>::dropped() const noexcept {
  return port_->dropped();
}
std::uint64_t Subscriber<void>::rejected() const noexcept {
  return port_->rejected();
}
std::uint64_t Subscriber<void>::lost() const noexcept {
  return port_->lost();
}
std::uint64_t Subscriber<void>::rebinds() const noexcept {
  return port_->rebinds();
}
std::uint32_t Subscriber<void>::held() const noexcept {
  return port_->held();
}
std::uint32_t Subscriber<void>::max_held() const noexcept {
  return port_->max_held();
}
std::uint32_t Subscriber<void>::queue_capacity() const noexcept {
  return port_->queue_capacity();
}
std::uint32_t Subscriber<void>::id() const noexcept {
  return port_->id();
}
const Topic& Subscriber<void>::topic() const noexcept {
  return port_->topic();
}
bool Subscriber<void>::connected() const noexcept {
  return port_->connected();
}

}  // namespace zcp
