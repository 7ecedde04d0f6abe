// zcp::Publisher<void> and its port. Hot path: loan() pops a chunk reference lent by the
// router and resolves it; publish() stamps the chunk and pushes one 32-byte MessageHeader.
// Neither allocates, locks or makes a system call unless the router parks (doorbell).
#include <algorithm>
#include <cstring>

#include <unistd.h>

#include "client/access.hpp"
#include "client/backoff.hpp"
#include "client/cold_error.hpp"
#include "client/publisher_port.hpp"
#include "common/clock.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/ports.hpp"
#include "shm/stats.hpp"

namespace zcp {
namespace detail {

namespace {

std::string describe(const Topic& t) {
  return "publisher " + t.str();
}

shm::MessageHeader return_header(const shm::ChunkRef& r, std::uint32_t publisher_id) noexcept {
  return shm::MessageHeader{r.index, r.pool_class, shm::kMsgReturn, r.generation, publisher_id, 0,
                            0};
}

Result<void> check_topic(const Topic& t) {
  if (t.service.empty() || t.instance.empty() || t.event.empty()) {
    return Unexpected(
        Error{Errc::kInvalidArgument, 0,
              "topic '" + t.str() + "' has an empty part; expected SERVICE/INSTANCE/EVENT"});
  }
  return {};
}

}  // namespace

Result<PublisherPort*> PublisherPort::open(Runtime& runtime, const Topic& topic,
                                           const PublisherOptions& o) {
  if (auto ok = check_topic(topic); !ok) return Unexpected(ok.error());
  if (o.loan_wait.count() < 0 || o.publish_timeout.count() < 0) {
    return Unexpected(Error{Errc::kInvalidArgument, 0, describe(topic) + ": negative timeout"});
  }
  RuntimeImpl& rt = runtime.impl();
  if (rt.disconnected()) return Unexpected(rt.disconnected_error("create " + describe(topic)));
  auto* p = new PublisherPort();
  p->rt_ = &rt;
  p->topic_ = topic;
  p->options_ = o;
  p->loan_wait_ = o.loan_wait;
  p->publish_timeout_ = o.publish_timeout;
  if (auto b = p->bind(*rt.session()); !b) {
    delete p;  // never bound: its destructor has nothing to tell a daemon
    return Unexpected(b.error());
  }
  return p;
}

Result<void> PublisherPort::bind(Session& s) {
  const PublisherOptions& o = options_;
  auto grant = rt_->create_publisher(s, {topic_.service, topic_.instance, topic_.event},
                                     {o.history_depth, o.max_loans, o.max_payload});
  if (!grant) return Unexpected(grant.error());

  // From here on the daemon holds a publisher for us: undo it if we cannot use it.
  auto fail = [&](std::string why) -> Result<void> {
    (void)rt_->destroy_publisher(s, grant->id);
    return Unexpected(Error{Errc::kProtocol, 0, "create " + describe(topic_) + ": " + why});
  };
  shm::Segment& seg = s.segment;
  auto loans = shm::SpscConsumer<shm::ChunkRef>::attach(seg.base(), seg.size(), grant->loan_ring);
  if (!loans) {
    return fail("the loan ring the daemon granted is unusable (" + loans.error() +
                "); is this diroute without a data plane?");
  }
  auto ring = shm::SpscProducer<shm::MessageHeader>::attach(seg.base(), seg.size(), grant->ring);
  if (!ring) return fail("the publish ring the daemon granted is unusable (" + ring.error() + ")");
  const shm::ChunkPool& pool = seg.pool();
  if (grant->pool_class >= pool.class_count()) {
    return fail("granted pool class " + std::to_string(grant->pool_class) + " does not exist (" +
                std::to_string(pool.class_count()) + " classes)");
  }
  if (grant->max_loans == 0) return fail("the daemon granted max_loans 0");
  if (!grant->doorbell.valid()) return fail("no worker doorbell eventfd");
  // Direct delivery: the daemon put a route table's offset into the publish ring (before the
  // grant, which orders it for us). Checked like everything the segment says.
  const shm::RouteTable* table = nullptr;
  if (const std::uint64_t off = ring->header()->route_table; off != 0) {
    if (off % 64 != 0 || off > seg.size() || seg.size() - off < sizeof(shm::RouteTable)) {
      return fail("the route table offset " + std::to_string(off) + " lies outside the segment");
    }
    table = reinterpret_cast<const shm::RouteTable*>(seg.base() + off);
    if (table->magic != shm::kRouteTableMagic || table->slots != shm::kRouteSlots) {
      return fail("the route table at offset " + std::to_string(off) +
                  " has a bad magic or slot count");
    }
  }

  if (session_ != nullptr) {
    // A reconnect: what the old router had not routed is gone with it.
    lost_ += shm::atomic_load(ring_.header()->tail, std::memory_order_relaxed) -
             shm::atomic_load(ring_.header()->routed, std::memory_order_relaxed);
  }
  session_ = &s;
  id_ = grant->id;
  queue_tag_ = shm::MpmcRing<shm::MessageHeader>::publisher_tag(id_);
  // The class's real size bounds every write; the grant's is only what the daemon said.
  chunk_size_ = std::min(grant->chunk_size, pool.chunk_size(grant->pool_class));
  max_loans_ = grant->max_loans;
  history_depth_ = grant->history_depth;
  pool_class_ = static_cast<std::uint16_t>(grant->pool_class);
  pool_ = pool;
  loans_ = std::move(*loans);
  ring_ = std::move(*ring);
  // release: the new header's mapping is ours before a stats thread reads through it.
  counts_header_.store(ring_.header(), std::memory_order_release);
  doorbell_ = std::move(grant->doorbell);
  pending_returns_.clear();  // returns of old-session chunks: that router is gone
  pending_returns_.reserve(max_loans_);
  table_ = table;
  wake_limit_ = table != nullptr ? table->wake_limit : 0;  // written once, before the grant
  routes_ = {};
  route_live_ = 0;
  routed_cache_ = 0;
  wake_generation_ = ~std::uint64_t{0};
  refill_at_ = 0;
  nudged_at_ = 0;
  if (table_ != nullptr) refresh_routes();  // position 0: it pushes from its first record on
  return {};
}

Result<void> PublisherPort::ensure_bound(const char* what) noexcept {
  Session* cur = rt_->session();
  if (cur != session_ && !cur->channel->down()) {
    if (auto b = bind(*cur); !b) return Unexpected(b.error());
  }
  if (cur->channel->down()) return Unexpected(disconnected(what));
  return {};
}

Error PublisherPort::disconnected(const char* what) const noexcept {
  return cold_error(Errc::kDisconnected,
                    [&] { return rt_->disconnected_error(describe(topic_) + ": " + what); });
}

template <class What>
Error PublisherPort::error(Errc code, What&& what) const noexcept {
  return cold_error(code, [&] {
    if constexpr (std::is_invocable_v<What>) {
      return describe(topic_) + ": " + what();
    } else {
      return describe(topic_) + ": " + what;
    }
  });
}

void PublisherPort::kick_router() noexcept {
  // exchange (acq_rel) on the publish ring's waiting word, after our tail store: the StoreLoad
  // handshake of shm::WaitWord (form 1). A parking worker announces itself on every publish
  // ring it serves; exactly one publisher sees the announcement and rings.
  if (ring_.wait_word().wake_needed()) {
    std::uint64_t one = 1;
    (void)sys::call(::write, doorbell_.get(), &one, sizeof(one));  // EAGAIN: already rung
  }
}

void PublisherPort::nudge_router() noexcept {
  // relaxed load first: no locked instruction while the worker is awake (see the header).
  if (ring_.wait_word().waiting()) kick_router();
}

void PublisherPort::nudge_if_due() noexcept {
  // Loans: the router asks for a kick once we have taken its loan ring down to refill_at (a
  // relaxed hint it rewrites at every refill). Once per mark: later pops do not repeat it.
  if (loans_.position() >= refill_at_) {
    refill_at_ = shm::atomic_load(loans_.header()->refill_at, std::memory_order_relaxed);
    if (refill_at_ != 0 && loans_.position() >= refill_at_ && nudged_at_ != refill_at_) {
      nudged_at_ = refill_at_;
      nudge_router();
      return;
    }
  }
  // Records to settle: half a ring (the cached fill over-estimates; check the real one).
  if (ring_.fill_cached() * 2 >= ring_.capacity() && ring_.fill() * 2 >= ring_.capacity())
    nudge_router();
}

bool PublisherPort::flush_returns() noexcept {
  if (pending_returns_.empty()) return true;
  std::size_t done = 0;
  while (done < pending_returns_.size() &&
         ring_.try_push(return_header(pending_returns_[done], id_))) {
    ++done;
  }
  pending_returns_.erase(pending_returns_.begin(),
                         pending_returns_.begin() + static_cast<long>(done));
  if (done > 0) kick_router();
  return pending_returns_.empty();
}

// ---- Direct delivery (shm/route_table.hpp, docs/router.md) ------------------------------------

bool PublisherPort::refresh_routes() noexcept {
  shm::RouteEntry entries[shm::kRouteSlots];
  std::uint32_t version = 0;
  // The reactor rewrites one slot at a time, in well under a microsecond: a few retries.
  // Bounded, so a daemon that died mid-write cannot hang us: with no consistent copy, every
  // slot is left to the router (route_live_ 0), and the version stays the last good one.
  // (While the version is odd an attempt is one load, so a reactor merely preempted inside a
  // rewrite can exhaust them too.)
  bool ok = false;
  for (int attempt = 0; attempt < 100000 && !ok; ++attempt)
    ok = shm::read_routes(*table_, entries, version);
  route_live_ = 0;
  if (!ok) {
    // The router delivers the record being published to every subscriber. A slot we push to
    // again once the table reads consistently (unchanged, so not new below) must wait until
    // the router has routed this record, or our next push overtakes it (per-publisher order).
    for (Route& r : routes_) {
      if (r.subscriber_id != 0) r.defer_until = std::max(r.defer_until, ring_.position() + 1);
    }
    return false;
  }
  route_version_ = version;
  shm::Segment& seg = session_->segment;
  for (std::uint32_t slot = 0; slot < shm::kRouteSlots; ++slot) {
    const shm::RouteEntry& e = entries[slot];
    Route& r = routes_[slot];
    if (e.subscriber_id == 0) {
      r.subscriber_id = 0;
      r.wake = nullptr;
      continue;
    }
    if (e.subscriber_id != r.subscriber_id || e.queue.offset != r.queue_offset) {
      auto q = shm::MpmcRing<shm::MessageHeader>::attach(seg.base(), seg.size(), e.queue);
      if (!q) {  // not a queue we can use: the router delivers to it
        r.subscriber_id = 0;
        r.wake = nullptr;
        continue;
      }
      r.subscriber_id = e.subscriber_id;
      r.queue_offset = e.queue.offset;
      r.queue = *q;
      r.wake = nullptr;
      wake_generation_ = ~std::uint64_t{0};  // look its eventfd up (refresh_wake_fds)
      // A new subscriber: the reactor lists it once every worker applied its Add (history is
      // in its queue), and the router may still deliver to it what we published before. Push
      // once the router has routed all of that (per-publisher order).
      r.defer_until = ring_.position();
    }
    route_live_ |= std::uint64_t{1} << slot;
  }
  wake_direct_ = static_cast<std::uint32_t>(__builtin_popcountll(route_live_)) <= wake_limit_;
  return true;
}

void PublisherPort::refresh_wake_fds() noexcept {
  const client::WakeFdTable& table = session_->wake_fds;
  wake_generation_ = table.generation();  // before the lookups: a later change is seen next time
  for (std::uint64_t live = route_live_; live != 0; live &= live - 1) {
    Route& r = routes_[static_cast<std::uint32_t>(__builtin_ctzll(live))];
    r.wake = table.find(r.subscriber_id);
  }
}

bool PublisherPort::deliver_direct(shm::MessageHeader& slot, const shm::MessageHeader& m) noexcept {
  std::uint64_t& guard = ring_.header()->direct_guard;
  // seq_cst store, then seq_cst load of the version: the reclamation handshake. Either the
  // reactor sees us busy with an older version and keeps a removed queue, or we see its new
  // version here and reload the table, which no longer lists that queue.
  shm::atomic_store(guard, shm::guard_busy(route_version_), std::memory_order_seq_cst);
  while (shm::atomic_load(table_->version, std::memory_order_seq_cst) != route_version_) {
    if (!refresh_routes())
      break;  // no consistent table (a daemon gone mid-write): all to the router
    shm::atomic_store(guard, shm::guard_busy(route_version_),
                      std::memory_order_seq_cst);  // as above
  }
  // relaxed: a hint that the session's eventfd table changed; it is read under its mutex.
  if (session_->wake_fds.generation() != wake_generation_) refresh_wake_fds();
  // The record goes into the ring slot first: if we die during the pushes, the router finds
  // it there, with every push we may have made in its mask.
  shm::DirectRecord& rec = shm::as_direct(slot);
  rec = shm::DirectRecord{
      m.chunk_index, m.pool_class, shm::kMsgDirect, m.generation, route_version_, 0, 0};
  const std::uint64_t position = ring_.position();
  std::uint64_t pushed = 0;
  std::uint64_t woken = 0;
  for (std::uint64_t live = route_live_; live != 0; live &= live - 1) {
    const auto slot_no = static_cast<std::uint32_t>(__builtin_ctzll(live));
    const std::uint64_t bit = std::uint64_t{1} << slot_no;
    Route& r = routes_[slot_no];
    if (r.defer_until > routed_cache_) {
      // acquire: pairs with the router's release of `routed`, so its pushes of our earlier
      // messages into this queue happen-before ours.
      routed_cache_ = shm::atomic_load(ring_.header()->routed, std::memory_order_acquire);
      if (r.defer_until > routed_cache_) {
        r.defer_until = position + 1;  // this one is the router's too: wait for it as well
        continue;
      }
    }
    // The bit goes in before the push it stands for (relaxed: only a reader after our death
    // needs it; the commit's release store orders it for the router otherwise).
    pushed |= bit;
    shm::atomic_store(rec.pushed, pushed, std::memory_order_relaxed);
    if (!r.queue.try_push(m, queue_tag_)) {
      // Full: the router applies the subscriber's policy, and gets the next ones too until
      // it has routed this record (per-publisher order).
      pushed &= ~bit;
      shm::atomic_store(rec.pushed, pushed, std::memory_order_relaxed);
      r.defer_until = position + 1;
      continue;
    }
    // The push's seq_cst tail CAS, then this seq_cst load (ring.hpp, form 2): a subscriber
    // that announced a sleep is seen here, or it sees our push before it sleeps. An awake one
    // needs no wake-up; a sleeping one we wake if we hold its eventfd and the topic is narrow
    // enough (wake_limit); else the router does. The exchange makes exactly one waker (we,
    // another publisher, or the router) write the eventfd.
    shm::WaitWord w = r.queue.wait_word();
    if (!w.needs_wake()) {
      woken |= bit;
    } else if (r.wake && wake_direct_) {
      if (w.wake_needed()) {
        std::uint64_t one = 1;
        (void)sys::call(::write, r.wake->get(), &one, sizeof(one));  // EAGAIN: already signalled
        shm::bump(ring_.header()->wakeups);  // single writer (us): a statistic for tools
      }
      woken |= bit;
    }
  }
  // relaxed: as `pushed` (the record's slot is ours until the commit).
  shm::atomic_store(rec.woken, woken, std::memory_order_relaxed);
  // release: our pushes are done; nothing we do after this touches a subscriber queue.
  shm::atomic_store(guard, shm::guard_idle(route_version_), std::memory_order_release);
  // relaxed: the topic's subscriber count (has_subscribers()); more subscribers than live
  // slots means some are reached only through the router (past kRouteSlots, or unusable).
  const std::uint32_t peers = shm::atomic_load(ring_.header()->peers, std::memory_order_relaxed);
  return woken == route_live_ &&
         peers <= static_cast<std::uint32_t>(__builtin_popcountll(route_live_));
}

Result<Loan<>> PublisherPort::loan(std::size_t size) noexcept {
  if (size > chunk_size_) {
    return Unexpected(error(Errc::kTooLarge, [&] {
      return "loan of " + std::to_string(size) + " bytes exceeds the chunk size of " +
             std::to_string(chunk_size_) + " bytes; create the publisher with a larger max_payload";
    }));
  }
  if (auto b = ensure_bound("loan"); !b) return Unexpected(b.error());
  flush_returns();
  if (loaned_ + pending_returns_.size() >= max_loans_) {
    return Unexpected(error(Errc::kTooManyLoans, [&] {
      return std::to_string(loaned_) + " loans are outstanding" +
             (pending_returns_.empty() ? ""
                                       : " and " + std::to_string(pending_returns_.size()) +
                                             " returns wait for room in the publish ring") +
             " (max_loans " + std::to_string(max_loans_) + "); publish or drop a loan first";
    }));
  }
  // Each invalid reference is given back and skipped; at most max_loans of them can be
  // queued for us, so the loop ends.
  for (std::uint32_t attempt = 0; attempt <= max_loans_; ++attempt) {
    shm::ChunkRef ref;
    if (!loans_.try_pop(ref)) {
      if (loans_.corrupted()) {
        return Unexpected(error(Errc::kProtocol,
                                "the loan ring is corrupted (its tail moved more "
                                "than its capacity)"));
      }
      // Empty: the router refills the ring as it routes. Kick it (it may have parked while
      // subscribers still held every chunk), then give it loan_wait to catch up.
      // Counted for tools on the loan ring's consumer line, which only we write: a relaxed
      // load and store (a statistic; it publishes nothing).
      shm::bump(loans_.header()->consumer_empty);
      kick_router();
      const bool got = loan_wait_.count() > 0 &&
                       client::spin_then_yield(
                           loan_wait_, [&] { return loans_.try_pop(ref); }, [&] { kick_router(); });
      if (!got) {
        if (rt_->disconnected()) {
          return Unexpected(disconnected("loan"));
        }
        return Unexpected(error(Errc::kPoolExhausted, [&] {
          return "no free chunk of " + std::to_string(chunk_size_) + " bytes arrived within " +
                 std::to_string(loan_wait_.count() / 1000) + " us (" + std::to_string(loaned_) +
                 " of " + std::to_string(max_loans_) +
                 " loans outstanding): the router is not keeping up, or the pool class is too "
                 "small for what subscribers hold";
        }));
      }
    }
    auto chunk = pool_.resolve(ref);
    if (!chunk || chunk->capacity < size) {
      // Not a chunk we can use: hand it back (the router checks it) and try the next one.
      ++rejected_;
      if (!ring_.try_push(return_header(ref, id_))) pending_returns_.push_back(ref);
      continue;
    }
    ++loaned_;
    return LoanAccess::make(
        this, chunk->payload, static_cast<std::uint32_t>(size),
        std::min(chunk->capacity, chunk_size_),
        ChunkToken{ref.index, ref.generation, ref.pool_class, session_->number});
  }
  return Unexpected(error(Errc::kProtocol, "the router lent only invalid chunk references"));
}

Result<void> PublisherPort::publish(Loan<>& loan, std::chrono::nanoseconds timeout) noexcept {
  PublisherPort* owner = LoanAccess::port(loan);
  if (owner == nullptr) {
    return Unexpected(
        error(Errc::kInvalidArgument, "publish of an empty loan (already published or dropped)"));
  }
  if (owner != this) {
    return Unexpected(error(Errc::kInvalidArgument, [&] {
      return "publish of a loan made by publisher " + owner->topic_.str() + " (id " +
             std::to_string(owner->id_) + ")";
    }));
  }
  if (auto b = ensure_bound("publish"); !b) return Unexpected(b.error());
  const ChunkToken& t = LoanAccess::token(loan);
  if (t.session != session_->number) {
    // Loaned from a daemon that is gone: its chunk means nothing to the new one.
    --loaned_;
    ++lost_;
    LoanAccess::disarm(loan);
    return Unexpected(error(Errc::kDisconnected,
                            "the loan was made before diroute restarted and is lost; loan again"));
  }
  flush_returns();  // returns first: they free chunks the router can lend again

  const std::uint32_t size = LoanAccess::size(loan);
  const std::uint64_t seq = sequence_ + 1;
  const std::uint64_t now = monotonic_ns();
  // The chunk is ours until the push below; plain stores, published by the ring's release
  // store of its tail (SpscProducer::try_push), which the router acquires.
  auto* h = reinterpret_cast<shm::ChunkHeader*>(LoanAccess::data(loan) - sizeof(shm::ChunkHeader));
  h->payload_size = size;
  h->sequence = seq;
  h->timestamp_ns = now;
  h->origin = id_;
  const shm::MessageHeader m{t.index, t.pool_class, 0, t.generation, id_, seq, now};
  // Routed: push the message into the publish ring. Direct: claim the ring slot for its
  // record, push into the subscriber queues, then commit the record (the router settles it).
  shm::MessageHeader* rec = nullptr;
  auto room = [&] {
    return table_ != nullptr ? (rec = ring_.claim()) != nullptr : ring_.try_push(m);
  };
  if (!room()) {
    // Back-pressure, counted for tools on the publish ring's producer line, which only we
    // write: a relaxed load and store (a statistic; it publishes nothing).
    shm::bump(ring_.header()->producer_full);
    kick_router();
    const bool pushed =
        timeout.count() > 0 &&
        client::spin_then_yield(
            timeout, [&] { return rt_->disconnected() || room(); }, [&] { kick_router(); }) &&
        !rt_->disconnected();
    if (!pushed) {
      if (rt_->disconnected()) {
        return Unexpected(disconnected("publish"));
      }
      return Unexpected(error(Errc::kWouldBlock, [&] {
        return "the publish ring is full (" + std::to_string(ring_.capacity()) + " messages" +
               (timeout.count() > 0
                    ? ", still after " + std::to_string(timeout.count() / 1000) + " us"
                    : "") +
               "): the router is behind, or a block_publisher subscriber's queue is full";
      }));
    }
  }
  // The router is needed now for a routed topic, or for a subscriber this publish did not
  // reach by itself (full or deferred queue, no eventfd to wake it, beyond the route slots).
  bool router_needed = true;
  if (rec != nullptr) {
    router_needed = !deliver_direct(*rec, m);
    ring_.commit();
  }
  sequence_ = seq;
  --loaned_;
  LoanAccess::disarm(loan);
  if (router_needed) {
    kick_router();
  } else {
    nudge_if_due();
  }
  return {};
}

Result<void> PublisherPort::publish_copy(std::span<const std::byte> bytes,
                                         std::chrono::nanoseconds timeout) noexcept {
  auto l = loan(bytes.size());
  if (!l) return Unexpected(std::move(l).error());
  if (!bytes.empty()) std::memcpy(l->data().data(), bytes.data(), bytes.size());
  return publish(*l, timeout);  // on failure *l is dropped here: its chunk goes back
}

void PublisherPort::drop_loan(const ChunkToken& t) noexcept {
  --loaned_;
  if (t.session != session_->number) {  // a chunk of a daemon that is gone: nothing to return
    ++lost_;
    if (orphaned_ && loaned_ == 0) delete this;
    return;
  }
  const shm::ChunkRef ref{t.index, t.pool_class, 0, t.generation};
  if (flush_returns() && ring_.try_push(return_header(ref, id_))) {
    kick_router();
  } else {
    // The ring is full (back-pressure): keep the return; the next operation retries it.
    pending_returns_.push_back(ref);
  }
  if (orphaned_ && loaned_ == 0) delete this;
}

Result<void> PublisherPort::flush(std::chrono::nanoseconds timeout) noexcept {
  if (auto b = ensure_bound("flush"); !b) return Unexpected(b.error());
  // Drained once the router has fully routed everything we pushed: `routed` counts messages
  // it delivered (or returned), stash included, so a flush() before destroying a publisher
  // loses nothing even while a block_publisher subscriber holds the router back.
  // acquire: pairs with the router's release of routed; our tail is our own (relaxed).
  auto drained = [&] {
    return flush_returns() && shm::atomic_load(ring_.header()->routed, std::memory_order_acquire) >=
                                  shm::atomic_load(ring_.header()->tail, std::memory_order_relaxed);
  };
  if (drained()) return {};
  kick_router();
  const bool ok = client::spin_then_yield(
      timeout, [&] { return rt_->disconnected() || drained(); }, [&] { kick_router(); });
  if (rt_->disconnected()) return Unexpected(disconnected("flush"));
  if (!ok) {
    const std::uint64_t left = shm::atomic_load(ring_.header()->tail, std::memory_order_relaxed) -
                               shm::atomic_load(ring_.header()->routed, std::memory_order_acquire);
    return Unexpected(error(Errc::kTimeout, [&] {
      return std::to_string(left) + " messages not yet routed after " +
             std::to_string(timeout.count() / 1000) + " us";
    }));
  }
  return {};
}

std::uint32_t PublisherPort::subscriber_count() const noexcept {
  // acquire: pairs with bind()'s release (this may run on a monitoring thread). The count
  // itself is read relaxed: the daemon maintains it for information; it guards no data.
  const shm::RingHeader* h = counts_header_.load(std::memory_order_acquire);
  return shm::atomic_load(h->peers, std::memory_order_relaxed);
}

void PublisherPort::close() noexcept {
  orphaned_ = true;
  if (loaned_ == 0) delete this;
}

PublisherPort::~PublisherPort() {
  // Only the current daemon knows this publisher, and only if it is still there.
  if (session_ == nullptr || session_ != rt_->session() || rt_->disconnected()) return;
  // Best effort: let the router take what is still queued (and our pending returns), then
  // remove the publisher. The daemon reclaims whatever it still finds lent to us.
  (void)flush(kDrainOnDestroy);
  (void)rt_->destroy_publisher(*session_, id_);
}

void drop_loan(PublisherPort* port, const ChunkToken& token) noexcept {
  port->drop_loan(token);
}

}  // namespace detail

// ---- Publisher<void>: forwards to the port --------------------------------------------

Result<Publisher<void>> Publisher<void>::create(Runtime& runtime, const Topic& topic,
                                                const PublisherOptions& options) {
  auto port = detail::PublisherPort::open(runtime, topic, options);
  if (!port) return Unexpected(std::move(port).error());
  return Publisher(*port);
}

Result<Publisher<void>> Publisher<void>::create(Runtime& runtime, std::string_view topic,
                                                const PublisherOptions& options) {
  auto t = Topic::parse(topic);
  if (!t) return Unexpected(std::move(t).error());
  return create(runtime, *t, options);
}

void Publisher<void>::close() noexcept {
  if (port_ != nullptr) std::exchange(port_, nullptr)->close();
}

Result<Loan<>> Publisher<void>::loan(std::size_t size) noexcept {
  return port_->loan(size);
}
Result<void> Publisher<void>::publish(Loan<>&& loan) noexcept {
  return port_->publish(loan, port_->default_publish_timeout());
}
Result<void> Publisher<void>::publish(Loan<>&& loan, std::chrono::nanoseconds timeout) noexcept {
  return port_->publish(loan, timeout);
}
Result<void> Publisher<void>::publish_copy(std::span<const std::byte> bytes) noexcept {
  return port_->publish_copy(bytes, port_->default_publish_timeout());
}
Result<void> Publisher<void>::publish_copy(std::span<const std::byte> bytes,
                                           std::chrono::nanoseconds timeout) noexcept {
  return port_->publish_copy(bytes, timeout);
}
std::uint32_t Publisher<void>::subscriber_count() const noexcept {
  return port_->subscriber_count();
}
Result<void> Publisher<void>::flush(std::chrono::nanoseconds timeout) noexcept {
  return port_->flush(timeout);
}
std::uint32_t Publisher<void>::id() const noexcept {
  return port_->id();
}
const Topic& Publisher<void>::topic() const noexcept {
  return port_->topic();
}
std::size_t Publisher<void>::max_payload() const noexcept {
  return port_->chunk_size();
}
std::uint32_t Publisher<void>::max_loans() const noexcept {
  return port_->max_loans();
}
std::uint32_t Publisher<void>::history_depth() const noexcept {
  return port_->history_depth();
}
std::uint32_t Publisher<void>::loans_outstanding() const noexcept {
  return port_->loans_outstanding();
}
std::uint64_t Publisher<void>::published() const noexcept {
  return port_->published();
}
std::uint64_t Publisher<void>::lost() const noexcept {
  return port_->lost();
}
bool Publisher<void>::connected() const noexcept {
  return port_->connected();
}

}  // namespace zcp
