#include "router/worker.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "common/sys.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/ports.hpp"
#include "shm/stats.hpp"

namespace zcp::router {

namespace {
// Route versions compare as serial numbers (they wrap after 2^32 changes of one topic).
bool version_after(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b) > 0;
}
void advance_version(std::uint32_t& v, std::uint32_t to) noexcept {
  if (version_after(to, v)) v = to;
}
}  // namespace

const char* to_string(PortFault f) noexcept {
  switch (f) {
    case PortFault::kNone:
      return "none";
    case PortFault::kCorruptRing:
      return "ring indices corrupted by the client";
    case PortFault::kForeignChunk:
      return "client handed back a chunk it does not own";
    case PortFault::kHoarding:
      return "subscriber kept more chunks than its queue and holds allow";
  }
  return "unknown";
}

Expected<IdleStrategy, std::string> parse_idle_strategy(std::string_view s) {
  if (s == "spin") return IdleStrategy::kSpin;
  if (s == "hybrid") return IdleStrategy::kHybrid;
  if (s == "park") return IdleStrategy::kPark;
  return Unexpected("unknown idle strategy '" + std::string(s) +
                    "' (expected spin, hybrid or park)");
}

Worker::Worker(WorkerOptions options, ChunkLedger& ledger, int doorbell, int notify)
    : opt_(options),
      ledger_(ledger),
      doorbell_(doorbell),
      notify_(notify),
      stats_(options.stats != nullptr ? options.stats : &own_stats_) {
  // The slot may be reused from a previous run of a worker with this id: start from zero.
  // Plain stores: the worker thread does not exist yet (std::thread's start orders them), and
  // tools reading meanwhile see statistics only.
  *stats_ = shm::WorkerStatsSlot{};
  stats_->id = opt_.id;
  stats_->cpu = opt_.cpu;
  stats_->idle_strategy = static_cast<std::uint32_t>(opt_.idle);
  // The command ring is process-local memory; the shm ring code works on any memory.
  const std::uint64_t bytes = shm::ring_bytes(kCommandRing, sizeof(Command));
  cmd_mem_.reset(static_cast<std::byte*>(std::aligned_alloc(64, shm::align_up(bytes, 64))));
  auto d = shm::format_ring<Command>(cmd_mem_.get(), 0, shm::RingKind::kSpsc, kCommandRing);
  cmd_out_ = *shm::SpscProducer<Command>::attach(cmd_mem_.get(), bytes, d);
  cmd_in_ = *shm::SpscConsumer<Command>::attach(cmd_mem_.get(), bytes, d);
}

Worker::~Worker() {
  stop();
}

bool Worker::submit(Command cmd) noexcept {
  if (!cmd_out_.try_push(cmd)) return false;
  // Always ring: commands are rare, and a parked worker must see them promptly.
  std::uint64_t one = 1;
  (void)sys::call(::write, doorbell_, &one, sizeof(one));
  return true;
}

void Worker::notify() noexcept {
  std::uint64_t one = 1;
  (void)sys::call(::write, notify_, &one, sizeof(one));
}

void Worker::fault(std::atomic<std::uint32_t>& word, PortFault f) noexcept {
  std::uint32_t none = 0;
  // release: pairs with the reactor's acquire load (Registry::faulted_slots), which follows
  // our notify; the eventfd write only wakes the reactor and orders nothing by itself.
  if (word.compare_exchange_strong(none, static_cast<std::uint32_t>(f), std::memory_order_release,
                                   std::memory_order_relaxed)) {
    shm::bump(stats_->faults);  // single writer: this worker
    notify();
  }
}

// ---------------------------------------------------------------------------------------
// Topology commands
// ---------------------------------------------------------------------------------------

std::size_t Worker::apply_commands() noexcept {
  Command c;
  std::size_t n = 0;
  std::uint64_t last = 0;
  while (cmd_in_.try_pop(c)) {
    ++n;
    last = c.seq;
    switch (c.kind) {
      case Command::Kind::kAddPublisher: {
        if (c.pub->worker != opt_.id) break;  // another worker's publisher
        pubs_.push_back(c.pub);
        Topic& t = topics_[c.pub->topic];
        t.pubs.push_back(c.pub);
        c.pub->subs = &t.subs;
        c.pub->route = &t.route;
        advance_version(t.route.version, c.pub->route_since);
        c.pub->hist.resize(c.pub->history_depth);
        // Loans before the acknowledgement, which releases the publisher's CreatePublisher
        // reply: its first loan() finds chunks ready.
        refill(*c.pub, monotonic_ns());
        break;
      }
      case Command::Kind::kRemovePublisher: {
        if (c.pub->worker != opt_.id) break;
        std::erase(pubs_, c.pub);
        // Before the topic entry can go: settling needs its subscribers and route slots.
        if (c.pub->route_table != 0) settle_leaving(*c.pub);
        auto it = topics_.find(c.pub->topic);
        if (it != topics_.end()) {
          std::erase(it->second.pubs, c.pub);
          if (it->second.pubs.empty() && it->second.subs.empty()) topics_.erase(it);
        }
        // Messages popped but not delivered are the router's: drop the references it took.
        PublisherState& p = *c.pub;
        // Only the message being delivered was taken from p.owned; the rest are still owned
        // by the publisher port, and the reactor's reclaim drops them.
        if (p.stash_pos < p.stash_len && p.current_taken)
          ledger_.drop(p.stash[p.stash_pos].chunk());
        p.clear_stash();
        p.current_taken = false;
        break;
      }
      case Command::Kind::kAddSubscriber:
        add_subscriber(c.sub);
        break;
      case Command::Kind::kRemoveSubscriber:
        remove_subscriber(c.sub);
        break;
    }
  }
  if (n) {
    shm::bump(stats_->commands, n);  // single writer: this worker
    // release: everything we did to our tables (no longer touching a removed port)
    // happens-before the reactor's acquire load of acked(), after which it frees the port.
    acked_.store(last, std::memory_order_release);
    notify();
  }
  return n;
}

void Worker::add_subscriber(SubscriberState* s) {
  Topic& t = topics_[s->topic];
  t.subs.push_back(s);
  if (s->route_slot < shm::kRouteSlots) {
    t.route.slot[s->route_slot] = s;
    advance_version(t.route.version, s->route_since);
  }
  if (s->home_worker == opt_.id) home_subs_.push_back(s);
  if (s->history_request) replay_history(*s);
  wake_touched();
}

void Worker::remove_subscriber(SubscriberState* s) {
  auto it = topics_.find(s->topic);
  if (it != topics_.end()) {
    // A publisher of ours in the middle of delivering a message (held back by a
    // block_publisher queue) resumes at the index next_sub of this list: removing an entry
    // before that index shifts the rest down, so that index moves down with them (else the
    // subscriber after the removed one would miss the message).
    std::vector<SubscriberState*>& subs = it->second.subs;
    if (auto pos = std::find(subs.begin(), subs.end(), s); pos != subs.end()) {
      const auto index = static_cast<std::size_t>(pos - subs.begin());
      for (PublisherState* p : it->second.pubs) {
        if (p->current_taken && index < p->next_sub) --p->next_sub;
      }
      subs.erase(pos);
    }
    if (s->route_slot < shm::kRouteSlots && it->second.route.slot[s->route_slot] == s) {
      it->second.route.slot[s->route_slot] = nullptr;
      advance_version(it->second.route.version, s->route_gone);
    }
    if (it->second.pubs.empty() && it->second.subs.empty()) topics_.erase(it);
  }
  std::erase(home_subs_, s);
  std::erase(touched_, s);
  std::erase_if(early_, [s](const EarlyRelease& e) { return e.sub == s; });
  s->early_count[opt_.id] = 0;
}

// ---------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------

std::size_t Worker::do_work(std::uint64_t now_ns) noexcept {
  const std::uint64_t start = monotonic_ns();
  (void)now_ns;
  ++epoch_;
  urgent_ = 0;
  std::size_t work = apply_commands();
  urgent_ += work;
  for (PublisherState* p : pubs_) {
    work += route(*p);
    work += refill(*p, start);
  }
  for (SubscriberState* s : home_subs_)
    work += drain_releases(*s);
  work += retry_early_releases();
  wake_touched();
  // Statistics with one writer (this worker): relaxed load+store (shm::bump), no locked
  // instruction; tools read them relaxed and act on nothing they say.
  shm::bump(stats_->passes);
  if (work) {
    shm::bump(stats_->busy_passes);
    const std::uint64_t took = monotonic_ns() - start;
    shm::bump(stats_->busy_ns, took);
    if (took > shm::read_counter(stats_->max_pass_ns)) {
      shm::atomic_store(stats_->max_pass_ns, took, std::memory_order_relaxed);  // single writer
    }
  }
  return work;
}

std::size_t Worker::route(PublisherState& p) noexcept {
  if (p.fault.load(std::memory_order_relaxed)) return 0;
  std::size_t work = 0;
  for (;;) {
    if (p.stash_pos == p.stash_len) {
      std::size_t n = p.in.try_pop_batch(p.stash.data(), kBatch);
      p.stash_len = n;
      p.stash_pos = 0;
      if (p.in.corrupted()) {
        fault(p.fault, PortFault::kCorruptRing);
        return work;
      }
      if (n == 0) return work;
    }
    while (p.stash_pos < p.stash_len) {
      shm::MessageHeader& m = p.stash[p.stash_pos];
      if (!p.current_taken) {
        switch (accept(p, m)) {
          case Accept::kDeliver:
            break;
          case Accept::kReturned:
            ++p.stash_pos;
            ++work;
            note_routed(p);
            continue;
          case Accept::kLater:
          case Accept::kFault:
            return work;
        }
      }
      if (!deliver(p, m)) {
        shm::bump(p.stats->blocked);  // single writer: the publisher's worker
        ++urgent_;                    // the publisher waits for room
        return work;                  // block_publisher: resume here on a later pass
      }
      remember(p, m);
      ledger_.drop(m.chunk());  // the reference the router carried since take()
      p.current_taken = false;
      ++p.stash_pos;
      ++work;
      shm::bump(p.stats->routed);  // single writer: the publisher's worker
      shm::bump(stats_->routed);   // single writer: this worker
      note_routed(p);
    }
  }
}

Worker::Accept Worker::accept(PublisherState& p, shm::MessageHeader& m) noexcept {
  const bool direct = (m.flags & shm::kMsgDirect) != 0;
  if (direct) {
    if (p.route_table == 0) {  // only a publisher of a direct topic may claim this
      fault_stash(p, PortFault::kCorruptRing);
      return Accept::kFault;
    }
    // Made with a route version whose command we have not applied yet (the reactor pushes
    // the command before it rewrites the tables): the next pass applies it first.
    if (version_after(shm::as_direct(m).route_version, p.route->version)) {
      ++urgent_;  // its command is on the way: stay awake for it
      return Accept::kLater;
    }
  }
  // The reference is untrusted: it must name a chunk this publisher was lent.
  if (!ledger_.take(p.owned, m.chunk())) {
    fault_stash(p, PortFault::kForeignChunk);
    return Accept::kFault;
  }
  if (!direct && (m.flags & shm::kMsgReturn)) {  // an unpublished loan comes back
    ledger_.drop(m.chunk());
    shm::bump(p.stats->returned);  // single writer: the publisher's worker
    return Accept::kReturned;
  }
  p.current_taken = true;
  p.next_sub = 0;
  p.cur_direct = direct;
  if (direct) {
    load_direct(p, shm::as_direct(m));
    // From here on the stash entry is the message itself, for history and for the
    // subscribers we deliver to ourselves: its sequence and timestamp are in the chunk's
    // header. relaxed: the ring's acquire ordered the publisher's writes of them.
    const shm::ChunkHeader* h = ledger_.pool().header_of(m.pool_class, m.chunk_index);
    m.sequence = shm::atomic_load(h->sequence, std::memory_order_relaxed);
    m.timestamp_ns = shm::atomic_load(h->timestamp_ns, std::memory_order_relaxed);
    shm::bump(stats_->direct_settled);  // single writer: this worker
  } else {
    ++urgent_;  // routed: its subscribers wait for us
  }
  m.publisher_id = p.id;  // never trust the client's claim
  m.flags = 0;
  return Accept::kDeliver;
}

void Worker::fault_stash(PublisherState& p, PortFault f) noexcept {
  fault(p.fault, f);
  p.clear_stash();
}

void Worker::note_routed(PublisherState& p) noexcept {
  // release: the deliveries above (queue pushes) happen-before a flush() that reads this
  // count with acquire and returns. Single writer: this worker.
  const std::uint64_t n = shm::atomic_load(p.in.header()->routed, std::memory_order_relaxed) + 1;
  shm::atomic_store(p.in.header()->routed, n, std::memory_order_release);
}

bool Worker::deliver(PublisherState& p, const shm::MessageHeader& m) noexcept {
  const std::vector<SubscriberState*>& subs = *p.subs;  // set when the publisher was added
  for (; p.next_sub < subs.size(); ++p.next_sub) {
    SubscriberState& s = *subs[p.next_sub];
    if (p.cur_direct && covered(p, s)) {
      settle_direct(s, m.chunk(), woken_by_publisher(p, s));
      continue;
    }
    if (offer(s, m) == Offer::kBlocked) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Direct delivery (docs/router.md, "Direct delivery")
// ---------------------------------------------------------------------------------------

void Worker::load_direct(PublisherState& p, const shm::DirectRecord& record) noexcept {
  p.cur_mask = record.pushed;
  p.cur_woken = record.woken;
  p.cur_version = record.route_version;
}

bool Worker::woken_by_publisher(const PublisherState& p, const SubscriberState& s) const noexcept {
  return ((p.cur_woken >> s.route_slot) & 1U) != 0;  // s is covered: its slot is < kRouteSlots
}

bool Worker::covered(const PublisherState& p, const SubscriberState& s) const noexcept {
  const std::uint32_t slot = s.route_slot;
  // The bit names whoever held the slot at the record's version: `s` only if `s` holds it now
  // and was listed at or before that version (else the bit meant an earlier occupant).
  return slot < shm::kRouteSlots && ((p.cur_mask >> slot) & 1U) != 0 && p.route->slot[slot] == &s &&
         !version_after(s.route_since, p.cur_version);
}

void Worker::settle_direct(SubscriberState& s, const shm::ChunkRef& chunk, bool woken) noexcept {
  if (s.fault.load(std::memory_order_relaxed)) return;  // leaving; its queue dies with it
  if (!ledger_.give(s.owned, chunk)) return;            // owned already: nothing to add
  // No limit check could stop the push (the publisher made it). An honest subscriber owns at
  // most its limit (queue + holds), as many again in its release ring, and the chunks whose
  // early releases wait; past that it takes chunks it never gives back.
  if (s.owned.count() > 2 * s.limit + kMaxEarlyPerSubscriber) {
    // Settled late (behind publishers the worker sleeps): much of what it took since may
    // wait in its release ring. Count those first.
    if (s.home_worker == opt_.id) (void)drain_releases(s);
    if (s.owned.count() > 2 * s.limit + kMaxEarlyPerSubscriber)
      fault(s.fault, PortFault::kHoarding);
  }
  bump_sub(s.stats->delivered);  // a statistic; see bump_sub
  // The publisher woke it if it slept (it holds the eventfd); else we do, at the end of the
  // pass. Waking it again would only be a spurious wake-up for a later sleep.
  if (!woken) touch(s);
}

bool Worker::defer_release(SubscriberState& s, const shm::ChunkRef& ref, LedgerError why) noexcept {
  // Only a live chunk the subscriber does not own yet can be a direct delivery that we have
  // not settled; anything else is a broken or hostile client.
  if (!s.direct || why != LedgerError::kNotOwned || ledger_.refcount(ref) == 0) return false;
  if (s.early_count[opt_.id] >= kMaxEarlyPerSubscriber) return false;
  ++s.early_count[opt_.id];
  early_.push_back({&s, ref});
  shm::bump(stats_->early_releases);  // single writer: this worker
  return true;
}

std::size_t Worker::retry_early_releases() noexcept {
  std::size_t done = 0;
  std::erase_if(early_, [&](const EarlyRelease& e) {
    bool gone = true;
    if (!e.sub->fault.load(std::memory_order_relaxed)) {
      auto r = ledger_.release(e.sub->owned, e.ref);
      if (r) {
        ++done;
      } else if (r.error() == LedgerError::kNotOwned && ledger_.refcount(e.ref) != 0) {
        gone = false;  // its record is still to come
      } else {
        fault(e.sub->fault, PortFault::kForeignChunk);  // recycled meanwhile: never delivered to it
      }
    }
    if (gone) --e.sub->early_count[opt_.id];
    return gone;
  });
  return done;
}

void Worker::settle_record(PublisherState& p, const shm::MessageHeader& raw) noexcept {
  if (!(raw.flags & shm::kMsgDirect)) return;  // routed records and returns: reclaim drops them
  if (!ledger_.take(p.owned, raw.chunk())) return;  // an old slot, or not its chunk
  p.cur_direct = true;
  load_direct(p, shm::as_direct(raw));
  for (SubscriberState* s : *p.subs) {
    if (covered(p, *s)) settle_direct(*s, raw.chunk(), woken_by_publisher(p, *s));
  }
  ledger_.drop(raw.chunk());
  shm::bump(stats_->direct_settled);  // single writer: this worker
}

void Worker::settle_leaving(PublisherState& p) noexcept {
  // The message in delivery: its covered subscribers from next_sub on are not settled yet.
  if (p.stash_pos < p.stash_len && p.current_taken) {
    const shm::MessageHeader& m = p.stash[p.stash_pos];
    if (p.cur_direct) {
      const std::vector<SubscriberState*>& subs = *p.subs;
      for (std::size_t i = p.next_sub; i < subs.size(); ++i) {
        if (covered(p, *subs[i]))
          settle_direct(*subs[i], m.chunk(), woken_by_publisher(p, *subs[i]));
      }
    }
    ledger_.drop(m.chunk());
    ++p.stash_pos;
  }
  p.current_taken = false;
  for (; p.stash_pos < p.stash_len; ++p.stash_pos)
    settle_record(p, p.stash[p.stash_pos]);
  p.clear_stash();
  // What is still in the ring, then the slot at its tail: a publisher that died between its
  // queue pushes and its commit left the record there, mask included (it sets each bit before
  // the push it stands for, so at most one bit names a push that did not happen).
  for (;;) {
    const std::size_t n = p.in.try_pop_batch(p.stash.data(), kBatch);
    for (std::size_t i = 0; i < n; ++i)
      settle_record(p, p.stash[i]);
    if (n < kBatch) break;
  }
  if (!p.in.corrupted()) settle_record(p, p.in.unpublished());
}

// Gives `s` a reference and pushes the message; undoes the reference if the queue is full.
bool Worker::push_owned(SubscriberState& s, const shm::MessageHeader& m) noexcept {
  if (s.owned.count() >= s.limit) return false;  // it owns all it may (queue + held)
  if (!ledger_.give(s.owned, m.chunk())) return false;
  if (s.queue.try_push(m)) {
    bump_sub(s.stats->delivered);  // a statistic; see bump_sub for who else writes it
    touch(s);
    return true;
  }
  (void)ledger_.release(s.owned, m.chunk());
  return false;
}

Worker::Offer Worker::offer(SubscriberState& s, const shm::MessageHeader& m) noexcept {
  if (s.fault.load(std::memory_order_relaxed)) return Offer::kSkipped;
  ++urgent_;  // a delivery only we make (routed topic, or a subscriber the publisher missed)
  if (s.owned.count() >= s.limit && s.home_worker == opt_.id) drain_releases(s);
  if (push_owned(s, m)) return Offer::kDelivered;

  switch (s.policy) {
    case QueuePolicy::kDropNewest:
      note_dropped(s);
      return Offer::kDropped;
    case QueuePolicy::kBlockPublisher:
      // Held back: wake it at the end of the pass if it sleeps on what its queue holds.
      // Messages that direct publishers pushed there and left us to wake it for (a wide topic,
      // an eventfd they do not hold) are woken for when we settle their records, in each
      // publisher's order, and those records may wait behind another publisher held back at
      // another sleeping subscriber's full queue: two such stalls would wait for each other
      // for ever. idle(): a seq_cst load of the tail (ring.hpp, form 2); a queue found empty
      // needs no wake-up, and its subscriber is awake or finds the next push itself.
      if (!s.queue.idle()) touch(s);
      return Offer::kBlocked;
    case QueuePolicy::kDropOldest:
      // Evict the oldest queued message (releasing its chunk), then retry. A few attempts:
      // the subscriber takes concurrently, and another worker may push concurrently.
      for (int attempt = 0; attempt < 4; ++attempt) {
        shm::MessageHeader old;
        if (!s.queue.try_pop(old)) break;  // nothing queued: everything it owns is held
        if (auto r = ledger_.release(s.owned, old.chunk());
            !r && !defer_release(s, old.chunk(), r.error())) {
          fault(s.fault, PortFault::kForeignChunk);  // the client rewrote its queue
          return Offer::kSkipped;
        }
        note_dropped(s);
        if (push_owned(s, m)) return Offer::kDelivered;
      }
      note_dropped(s);  // could not make room (it holds its maximum): the new one is dropped
      return Offer::kDropped;
  }
  return Offer::kSkipped;
}

void Worker::note_dropped(SubscriberState& s) noexcept {
  bump_sub(s.stats->dropped);  // a statistic; see bump_sub
  // The client reads this to reconcile sequence gaps (relaxed: a counter, no data).
  shm::atomic_fetch_add(s.queue.header()->dropped, std::uint64_t{1}, std::memory_order_relaxed);
}

void Worker::remember(PublisherState& p, const shm::MessageHeader& m) noexcept {
  if (p.history_depth == 0) return;
  if (p.hist_size == p.history_depth) {  // full: the oldest leaves
    (void)ledger_.release(p.history, p.hist[p.hist_head].chunk());
    p.hist_head = (p.hist_head + 1) % p.history_depth;
    --p.hist_size;
  }
  if (ledger_.give(p.history, m.chunk())) {
    p.hist[(p.hist_head + p.hist_size) % p.history_depth] = m;
    ++p.hist_size;
  }
  // relaxed: the current fill, for tools; single writer (the publisher's worker).
  shm::atomic_store(p.stats->history_size, static_cast<std::uint64_t>(p.hist_size),
                    std::memory_order_relaxed);
}

void Worker::replay_history(SubscriberState& s) noexcept {
  auto it = topics_.find(s.topic);
  if (it == topics_.end()) return;
  for (PublisherState* p : it->second.pubs) {
    std::size_t n = std::min<std::size_t>(p->hist_size, s.history_request);
    for (std::size_t i = p->hist_size - n; i < p->hist_size; ++i) {
      if (!push_owned(s, p->hist[(p->hist_head + i) % p->history_depth])) break;
    }
  }
}

std::size_t Worker::refill(PublisherState& p, std::uint64_t now_ns) noexcept {
  if (p.fault.load(std::memory_order_relaxed)) return 0;
  if (p.loan_target == 0) {
    // At most an eighth of the class for one publisher's ready loans, and what its ring holds.
    const std::uint32_t share =
        std::max<std::uint32_t>(shm::kLoanPrefill, ledger_.pool().stats(p.pool_class).total / 8);
    p.loan_cap = std::min({p.max_loans, p.loans.capacity(), share});
    p.loan_target = std::min(shm::kLoanPrefill, p.loan_cap);
    p.loan_seen = p.loans.position() - p.loans.fill();
  }
  std::uint64_t ready = p.loans.fill();  // exact: one load of the publisher's head
  const std::uint64_t head = p.loans.position() - ready;
  const bool dry = ready == 0;  // the publisher may be waiting for a loan
  if (head != p.loan_seen) {
    // Taken down to a quarter (or dry) since the last refill: at this rate we come back too
    // late. Double the target, so that the publisher never waits for us.
    if (ready * 4 <= p.loan_target && p.loan_target < p.loan_cap) {
      p.loan_target = std::min(p.loan_cap, p.loan_target * 2);
    }
    p.loan_seen = head;
    p.loan_idle_since = now_ns;
  } else if (p.loan_target > shm::kLoanPrefill && now_ns - p.loan_idle_since > kLoanShrinkNs) {
    p.loan_target /= 2;  // idle for a while: refill less (the ring keeps what it holds)
    p.loan_idle_since = now_ns;
  }
  // What it may own: max_loans in its loan ring and its hands, and what it published that we
  // have not routed or settled yet, which its publish ring bounds. Unsettled records do not
  // take loans from it: behind a busy publisher the router runs in batches.
  const std::uint64_t may_own = std::uint64_t{p.max_loans} + p.in.capacity();
  std::size_t n = 0;
  while (ready < p.loan_target && p.owned.count() < may_own) {
    auto ref = ledger_.lend(p.owned, p.pool_class);
    if (!ref) {
      shm::bump(p.stats->loan_failures);  // single writer: the publisher's worker
      break;
    }
    if (!p.loans.try_push(*ref)) {  // cannot happen while owned ≤ capacity; stay safe
      (void)ledger_.release(p.owned, *ref);
      break;
    }
    ++ready;
    ++n;
  }
  // Ask for a kick once half the target is taken (PublisherState::nudge_if_due). relaxed: a
  // hint; a publisher that misses it finds the ring dry later and kicks then.
  const std::uint64_t mark = p.loans.position() - std::min<std::uint64_t>(ready, p.loan_target / 2);
  shm::atomic_store(p.loans.header()->refill_at, mark, std::memory_order_relaxed);
  if (dry && n != 0) ++urgent_;
  return n;
}

std::size_t Worker::drain_releases(SubscriberState& s) noexcept {
  if (s.fault.load(std::memory_order_relaxed)) return 0;
  shm::ChunkRef refs[kBatch];
  std::size_t total = 0;
  for (;;) {
    std::size_t n = s.releases.try_pop_batch(refs, kBatch);
    if (s.releases.corrupted()) {
      fault(s.fault, PortFault::kCorruptRing);
      return total;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (auto r = ledger_.release(s.owned, refs[i]); !r && !defer_release(s, refs[i], r.error())) {
        fault(s.fault, PortFault::kForeignChunk);
        return total;
      }
    }
    total += n;
    if (n < kBatch) return total;
  }
}

void Worker::touch(SubscriberState& s) noexcept {
  if (s.touched_epoch[opt_.id] == epoch_) return;
  s.touched_epoch[opt_.id] = epoch_;
  touched_.push_back(&s);
}

void Worker::wake_touched() noexcept {
  for (SubscriberState* s : touched_) {
    // A seq_cst load after our seq_cst pushes (ring.hpp, form 2), and the exchange only for a
    // subscriber that announced a sleep: no locked instruction for one that polls or is awake.
    shm::WaitWord w = s->queue.wait_word();
    if (w.needs_wake() && w.wake_needed()) {
      std::uint64_t one = 1;
      (void)sys::call(::write, s->eventfd, &one, sizeof(one));
      bump_sub(s->stats->wakeups);  // a statistic; see bump_sub
      ++urgent_;                    // more may follow for a subscriber that sleeps
    }
  }
  touched_.clear();
}

// ---------------------------------------------------------------------------------------
// Thread and idle strategy
// ---------------------------------------------------------------------------------------

Expected<void, std::string> Worker::start() {
  if (opt_.cpu >= 0) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || opt_.cpu >= CPU_SETSIZE ||
        !CPU_ISSET(opt_.cpu, &allowed)) {
      return Unexpected(
          "router worker " + std::to_string(opt_.id) + ": CPU " + std::to_string(opt_.cpu) +
          " does not exist or is not allowed for this process (see `nproc`, taskset)");
    }
  }
  stop_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
  if (opt_.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt_.cpu, &set);
    int rc = ::pthread_setaffinity_np(thread_.native_handle(), sizeof(set), &set);
    if (rc != 0) {
      stop();
      return Unexpected("router worker " + std::to_string(opt_.id) + ": pinning to CPU " +
                        std::to_string(opt_.cpu) + " failed: " + std::strerror(rc));
    }
  }
  std::string name = "zcp-router-" + std::to_string(opt_.id);
  ::pthread_setname_np(thread_.native_handle(), name.c_str());
  return {};
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_relaxed);  // polled each pass; the doorbell wakes a park
  std::uint64_t one = 1;
  (void)sys::call(::write, doorbell_, &one, sizeof(one));
  thread_.join();
}

void Worker::run() noexcept {
  // relaxed: a statistic for tools (uptime of the worker); single writer.
  shm::atomic_store(stats_->started_monotonic_ns, monotonic_ns(), std::memory_order_relaxed);
  const auto spin_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(opt_.spin).count());
  const auto spin_yield_ns =
      static_cast<std::uint64_t>(std::chrono::nanoseconds(opt_.spin_yield).count());
  // hybrid: the spin window runs from the last pass with urgent work. Other work (settling
  // direct records, releases, refills above the publisher's refill mark) does not extend it:
  // behind publishers that deliver by themselves the worker sleeps, and wakes when one of
  // them nudges it (half its publish ring, or its refill mark) or after park_timeout.
  std::uint64_t spin_until = 0;
  std::uint64_t next_yield = 0;  // hybrid spin: when to yield next
  while (!stop_.load(std::memory_order_relaxed)) {
    const std::uint64_t now = monotonic_ns();
    const std::size_t work = do_work(now);
    if (urgent_ != 0) {
      spin_until = now + spin_ns;
      next_yield = now + spin_yield_ns;
      continue;
    }
    switch (opt_.idle) {
      case IdleStrategy::kSpin:
        if (work == 0) shm::cpu_relax();
        break;
      case IdleStrategy::kPark:
        (void)park();
        break;
      case IdleStrategy::kHybrid:
        if (now >= spin_until) {
          if (park()) {  // found urgent work instead of sleeping
            spin_until = monotonic_ns() + spin_ns;
            next_yield = spin_until - spin_ns + spin_yield_ns;
          }
        } else if (spin_yield_ns != 0 && now >= next_yield) {
          std::this_thread::yield();  // let a client sharing this vCPU run (see spin_yield)
          next_yield = now + spin_yield_ns;
        } else if (work == 0) {
          shm::cpu_relax();
        }
        break;
    }
  }
}

// Announces the park on every publish ring we serve, takes in what was published before the
// announcement could be seen, and sleeps on the doorbell unless that was urgent. From the
// announcement on, a publisher that needs us kicks the doorbell (PublisherState::kick_router);
// one that does not (a direct publish that reached every subscriber) nudges us only at its
// refill mark or half its publish ring (PublisherState::nudge_if_due).
bool Worker::park() noexcept {
  for (PublisherState* p : pubs_)
    p->in.wait_word().prepare_wait();
  (void)do_work(monotonic_ns());
  bool work = urgent_ != 0 || !cmd_in_.empty();
  for (PublisherState* p : pubs_) {
    if (p->stash_pos < p->stash_len) work = true;  // held back (block_publisher, or a command)
  }
  if (!work) {
    shm::bump(stats_->parks);  // single writer: this worker
    pollfd pfd{doorbell_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(opt_.park_timeout.count())) > 0) {
      std::uint64_t v;
      (void)sys::call(::read, doorbell_, &v, sizeof(v));
    }
  }
  for (PublisherState* p : pubs_)
    p->in.wait_word().cancel_wait();
  return work;
}

}  // namespace zcp::router
