#include "router/router.hpp"

#include <algorithm>

#include <sys/eventfd.h>

#include "shm/ports.hpp"
#include "shm/stats.hpp"

namespace zcp::router {

namespace {
// The counter line of a stats slot: from its first counter word to the end of the slot.
template <class Slot, std::size_t First>
void zero_counter_line(Slot& s) noexcept {
  static_assert(First % 8 == 0 && sizeof(Slot) % 8 == 0);
  auto* words = reinterpret_cast<std::uint64_t*>(&s);
  for (std::size_t i = First / 8; i < sizeof(Slot) / 8; ++i) {
    // relaxed: the Add command's ring push (release) publishes these to the workers; tools
    // reading a reused slot meanwhile see a statistic.
    shm::atomic_store(words[i], std::uint64_t{0}, std::memory_order_relaxed);
  }
}
}  // namespace

void reset_counters(shm::PublisherStats& s) noexcept {
  zero_counter_line<shm::PublisherStats, offsetof(shm::PublisherStats, routed)>(s);
}
void reset_counters(shm::SubscriberStats& s) noexcept {
  zero_counter_line<shm::SubscriberStats, offsetof(shm::SubscriberStats, delivered)>(s);
}

Expected<std::unique_ptr<PublisherState>, std::string> make_publisher_port(
    std::byte* base, std::uint64_t size, shm::QueueAllocator& alloc, ChunkLedger& ledger,
    const PublisherSpec& spec) {
  auto pub_ring =
      alloc.allocate_ring<shm::MessageHeader>(base, shm::RingKind::kSpsc, spec.publish_capacity);
  if (!pub_ring)
    return Unexpected(std::string("publish ring: ") + shm::to_string(pub_ring.error()));
  auto loan_ring = alloc.allocate_ring<shm::ChunkRef>(base, shm::RingKind::kSpsc, spec.max_loans);
  if (!loan_ring) {
    alloc.free_ring(*pub_ring);
    return Unexpected(std::string("loan ring: ") + shm::to_string(loan_ring.error()));
  }
  auto p = std::make_unique<PublisherState>();
  p->id = spec.id;
  p->topic = spec.topic;
  p->worker = spec.worker;
  p->pool_class = spec.pool_class;
  p->max_loans = spec.max_loans;
  p->history_depth = spec.history_depth;
  p->publish_desc = *pub_ring;
  p->loan_desc = *loan_ring;
  p->in = *shm::SpscConsumer<shm::MessageHeader>::attach(base, size, *pub_ring);
  p->loans = *shm::SpscProducer<shm::ChunkRef>::attach(base, size, *loan_ring);
  p->owned = ledger.make_owner_set();
  p->history = ledger.make_owner_set();
  return p;
}

Expected<std::unique_ptr<SubscriberState>, std::string> make_subscriber_port(
    std::byte* base, std::uint64_t size, shm::QueueAllocator& alloc, ChunkLedger& ledger,
    const SubscriberSpec& spec) {
  auto queue =
      alloc.allocate_ring<shm::MessageHeader>(base, shm::RingKind::kMpmc, spec.queue_capacity);
  if (!queue) return Unexpected(std::string("subscriber queue: ") + shm::to_string(queue.error()));
  // The release ring holds everything the subscriber may own, and what it may take and release
  // from direct publishers between two passes of its worker, so a release does not wait.
  const std::uint32_t limit = spec.queue_capacity + spec.max_held;
  auto rel =
      alloc.allocate_ring<shm::ChunkRef>(base, shm::RingKind::kSpsc, limit + shm::kReleaseSlack);
  if (!rel) {
    alloc.free_ring(*queue);
    return Unexpected(std::string("release ring: ") + shm::to_string(rel.error()));
  }
  auto s = std::make_unique<SubscriberState>();
  s->id = spec.id;
  s->topic = spec.topic;
  s->home_worker = spec.home_worker;
  s->policy = spec.policy;
  s->limit = limit;
  s->history_request = spec.history_request;
  s->eventfd = spec.eventfd;
  s->queue_desc = *queue;
  s->release_desc = *rel;
  s->queue = *shm::MpmcRing<shm::MessageHeader>::attach(base, size, *queue);
  s->releases = *shm::SpscConsumer<shm::ChunkRef>::attach(base, size, *rel);
  s->owned = ledger.make_owner_set();
  return s;
}

std::uint32_t free_publisher_port(shm::QueueAllocator& alloc, ChunkLedger& ledger,
                                  PublisherState& p) {
  std::uint32_t n = ledger.reclaim(p.owned) + ledger.reclaim(p.history);
  alloc.free_ring(p.publish_desc);
  alloc.free_ring(p.loan_desc);
  if (p.route_table != 0) alloc.free(p.route_table);
  return n;
}

std::uint32_t free_subscriber_port(shm::QueueAllocator& alloc, ChunkLedger& ledger,
                                   SubscriberState& s) {
  std::uint32_t n = ledger.reclaim(s.owned);
  alloc.free_ring(s.queue_desc);
  alloc.free_ring(s.release_desc);
  return n;
}

Expected<std::unique_ptr<Router>, std::string> Router::create(shm::ChunkPool pool,
                                                              std::vector<WorkerOptions> workers,
                                                              int notify) {
  if (workers.empty() || workers.size() > kMaxWorkers) {
    return Unexpected("router workers: " + std::to_string(workers.size()) + " requested; 1.." +
                      std::to_string(kMaxWorkers) + " supported");
  }
  std::unique_ptr<Router> r(new Router());
  // One worker: each port's owner set has one writer at a time (chunk_ledger.hpp).
  const bool shared = workers.size() > 1;
  r->ledger_ = std::make_unique<ChunkLedger>(pool, shared);
  for (std::size_t i = 0; i < workers.size(); ++i) {
    auto fd = sys::call(::eventfd, 0U, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!fd.ok())
      return Unexpected(std::string("eventfd for a router doorbell: ") + std::strerror(fd.err));
    r->doorbells_.emplace_back(static_cast<int>(fd.value));
    workers[i].id = static_cast<std::uint32_t>(i);
    workers[i].shared_subscribers = shared;
    r->workers_.push_back(
        std::make_unique<Worker>(workers[i], *r->ledger_, r->doorbells_.back().get(), notify));
  }
  r->backlog_.resize(workers.size());
  return r;
}

Router::~Router() {
  stop();
}

Expected<void, std::string> Router::start() {
  for (auto& w : workers_) {
    if (auto ok = w->start(); !ok) {
      stop();
      return ok;
    }
  }
  return {};
}

void Router::stop() {
  for (auto& w : workers_)
    w->stop();
}

std::uint64_t Router::broadcast(Command c) {
  c.seq = next_seq_++;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (!backlog_[i].empty() || !workers_[i]->submit(c)) backlog_[i].push_back(c);
  }
  return c.seq;
}

void Router::flush() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    while (!backlog_[i].empty() && workers_[i]->submit(backlog_[i].front()))
      backlog_[i].pop_front();
  }
}

std::uint64_t Router::add_publisher(PublisherState* p) {
  return broadcast({Command::Kind::kAddPublisher, 0, p, nullptr});
}
std::uint64_t Router::remove_publisher(PublisherState* p) {
  return broadcast({Command::Kind::kRemovePublisher, 0, p, nullptr});
}
std::uint64_t Router::add_subscriber(SubscriberState* s) {
  return broadcast({Command::Kind::kAddSubscriber, 0, nullptr, s});
}
std::uint64_t Router::remove_subscriber(SubscriberState* s) {
  return broadcast({Command::Kind::kRemoveSubscriber, 0, nullptr, s});
}

std::uint64_t Router::safe_seq() const noexcept {
  std::uint64_t low = ~std::uint64_t{0};
  for (const auto& w : workers_)
    low = std::min(low, w->acked());
  return low;
}

bool Router::settled(std::uint64_t seq) const noexcept {
  return std::all_of(workers_.begin(), workers_.end(),
                     [&](const auto& w) { return w->acked() >= seq; });
}

}  // namespace zcp::router
