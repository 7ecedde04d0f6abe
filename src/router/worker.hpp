// A router worker: the data plane's agent. It owns the publisher ports the reactor assigned to
// it, moves each publication's chunk reference into every matching subscriber queue (applying
// that subscriber's policy), keeps loan rings filled, drains the release rings of its home
// subscribers, and wakes only subscribers that announced they sleep.
//
// do_work(now) is one pass and returns how much it did; a test drives it directly, without a
// thread. run() wraps it with the idle strategy on a pinned thread. Nothing here takes a lock
// or allocates on the routing path; the only system calls are eventfd writes for sleepers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zcp/expected.hpp>

#include "router/chunk_ledger.hpp"
#include "router/endpoint_state.hpp"
#include "shm/spsc_ring.hpp"
#include "shm/stats.hpp"
#include "shm/stats_layout.hpp"
#include "shm/stats_names.hpp"

namespace zcp::router {

using shm::IdleStrategy;  // the worker stats slot stores it (shm/stats_names.hpp)
Expected<IdleStrategy, std::string> parse_idle_strategy(std::string_view s);

struct WorkerOptions {
  std::uint32_t id = 0;
  int cpu = -1;  // pin to this CPU; -1: no pinning
  IdleStrategy idle = IdleStrategy::kHybrid;
  // hybrid: spinning after the last urgent work (docs/router.md, "Idle strategies"). Too
  // short and every routed burst after a pause pays a wake-up hop (tens of µs on a VM); too
  // long burns a CPU for nothing between bursts. Work that is not urgent (settling direct
  // records, taking back releases, topping up loan rings) does not extend it: the clients
  // ask for that when they need it, and the worker does it in batches, behind them.
  std::chrono::microseconds spin{50};
  // hybrid: within the spin window, sched_yield() once every this long, so that a client
  // sharing the worker's CPU runs within the window, not after it. 0: never (the default).
  // Under EEVDF (Linux 6.6 on) every yield moves the worker's deadline a slice later, so that
  // a worker which yields often loses its CPU for seconds to clients that spin.
  std::chrono::microseconds spin_yield{0};
  // Other workers may deliver to the same subscribers (set by Router::create when it starts
  // more than one). False: this worker is the only writer of their counters (no locked add).
  bool shared_subscribers = true;
  // A parked worker wakes at least this often to drain release rings and refill loan rings.
  // Too short costs idle CPU; too long delays recycling chunks released while it slept.
  std::chrono::milliseconds park_timeout{50};
  // The worker's slot in the segment's stats region, written by this worker only (id, cpu and
  // idle strategy by the constructor, on the reactor thread, before the worker starts).
  // nullptr: the worker counts into a slot of its own (router unit tests).
  shm::WorkerStatsSlot* stats = nullptr;
};

class Worker {
 public:
  // How many publications one pass takes from a publisher. Too small pays the per-batch
  // costs (index stores, wake checks) more often; too large lets one busy publisher delay
  // others within a pass.
  static constexpr std::size_t kBatch = PublisherState::kStash;
  // Capacity of the command ring. Commands are rare (topology changes); a full ring makes
  // the reactor retry on its next turn.
  static constexpr std::uint32_t kCommandRing = 1024;

  // doorbell: eventfd this worker parks on (publishers and the reactor write it).
  // notify: eventfd the worker writes after acknowledging a command or faulting a port.
  Worker(WorkerOptions options, ChunkLedger& ledger, int doorbell, int notify);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Reactor thread. False if the command ring is full (retry later).
  bool submit(Command cmd) noexcept;
  std::uint64_t acked() const noexcept { return acked_.load(std::memory_order_acquire); }

  // One pass. Returns the amount of work done (0: idle).
  std::size_t do_work(std::uint64_t now_ns) noexcept;
  // Of the last pass's work, how much a client waits for (see urgent_).
  std::size_t urgent() const noexcept { return urgent_; }

  // Starts the pinned thread; fails if the CPU cannot be used.
  Expected<void, std::string> start();
  void stop();

  const WorkerOptions& options() const noexcept { return opt_; }
  // Its counters (tools read them from the stats region; tests through this).
  const shm::WorkerStatsSlot& stats() const noexcept { return *stats_; }

 private:
  enum class Offer : std::uint8_t { kDelivered, kDropped, kBlocked, kSkipped };

  struct Topic {
    std::vector<SubscriberState*> subs;
    std::vector<PublisherState*> pubs;  // this worker's publishers on the topic
    RouteMap route;                     // direct topics: who each route slot names
  };
  // A release (or an eviction) of a chunk whose direct record this worker has not settled
  // yet: the subscriber took it from its queue before the router saw the publisher's record.
  // Retried every pass (docs/router.md, "Direct delivery").
  struct EarlyRelease {
    SubscriberState* sub;
    shm::ChunkRef ref;
  };
  // Early releases one subscriber may have waiting with one worker. An honest subscriber has
  // at most as many as there are unsettled records that reached it: a few per pass, but up to
  // every publish ring's capacity (plus the stash) while a block_publisher subscriber holds
  // the router back. Too low faults an honest subscriber of several stalled direct publishers
  // with large rings; too high lets a hostile one make every pass retry that many.
  static constexpr std::uint32_t kMaxEarlyPerSubscriber = 4096;

  std::size_t apply_commands() noexcept;
  void add_subscriber(SubscriberState* s);
  void remove_subscriber(SubscriberState* s);
  std::size_t route(PublisherState& p) noexcept;
  // What accept() made of the next stashed record of a publisher.
  enum class Accept : std::uint8_t {
    kDeliver,   // taken from the publisher's ledger entry, stamped: deliver it
    kReturned,  // an unpublished loan came back and went to the pool
    kLater,     // made under a route version whose command is not applied yet: next pass
    kFault,     // the publisher broke the protocol: its port is faulted, its stash cleared
  };
  // Checks and takes the record at p.stash_pos (untrusted: it must name a chunk the publisher
  // was lent); on kDeliver it is the message to deliver, p.current_taken set.
  Accept accept(PublisherState& p, shm::MessageHeader& m) noexcept;
  // Faults the publisher's port and forgets what is stashed (the reactor's reclaim drops it).
  void fault_stash(PublisherState& p, PortFault f) noexcept;
  bool deliver(PublisherState& p, const shm::MessageHeader& m) noexcept;
  Offer offer(SubscriberState& s, const shm::MessageHeader& m) noexcept;
  bool push_owned(SubscriberState& s, const shm::MessageHeader& m) noexcept;
  void remember(PublisherState& p, const shm::MessageHeader& m) noexcept;
  void replay_history(SubscriberState& s) noexcept;
  // Keeps the publisher's loan ring at its adaptive target (PublisherState::loan_target).
  std::size_t refill(PublisherState& p, std::uint64_t now_ns) noexcept;
  // A publisher that took no loan for this long gets its loan target halved (down to
  // kLoanPrefill). Too short: a publisher with pauses keeps re-growing it (and waits once per
  // growth); too long: an idle publisher holds a busy one's share of ready chunks longer.
  static constexpr std::uint64_t kLoanShrinkNs = 1'000'000'000;
  std::size_t drain_releases(SubscriberState& s) noexcept;
  // Direct delivery: takes a record's masks and route version into p.cur_mask/cur_woken/
  // cur_version.
  void load_direct(PublisherState& p, const shm::DirectRecord& record) noexcept;
  // Direct delivery: whether the publisher handled the wake-up of covered subscriber `s`.
  bool woken_by_publisher(const PublisherState& p, const SubscriberState& s) const noexcept;
  // Direct delivery: whether the message in delivery was pushed to `s` by its publisher.
  bool covered(const PublisherState& p, const SubscriberState& s) const noexcept;
  // Records that `s` owns the chunk its publisher pushed to it (no queue push); wakes it at
  // the end of the pass unless the publisher did (`woken`).
  void settle_direct(SubscriberState& s, const shm::ChunkRef& chunk, bool woken) noexcept;
  // A release `s` made that the ledger cannot apply yet; false if it must fault instead.
  bool defer_release(SubscriberState& s, const shm::ChunkRef& ref, LedgerError why) noexcept;
  std::size_t retry_early_releases() noexcept;
  // A direct publisher leaves: settle every direct record it left, published or not.
  void settle_leaving(PublisherState& p) noexcept;
  void settle_record(PublisherState& p, const shm::MessageHeader& raw) noexcept;
  // A subscriber counter: a relaxed fetch_add when other workers may write it too, else a
  // relaxed load and store (shm::bump), since this worker is then its only writer.
  void bump_sub(std::uint64_t& word) noexcept {
    if (opt_.shared_subscribers) {
      shm::bump_shared(word);
    } else {
      shm::bump(word);
    }
  }
  void note_dropped(SubscriberState& s) noexcept;
  void note_routed(PublisherState& p) noexcept;
  void touch(SubscriberState& s) noexcept;
  void wake_touched() noexcept;
  void fault(std::atomic<std::uint32_t>& word, PortFault f) noexcept;
  void notify() noexcept;
  void run() noexcept;
  // Sleeps on the doorbell unless a pass after announcing the park finds urgent work
  // (returns true then).
  bool park() noexcept;

  WorkerOptions opt_;
  ChunkLedger& ledger_;
  int doorbell_;
  int notify_;
  struct FreeDeleter {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<std::byte, FreeDeleter> cmd_mem_;  // aligned_alloc'd: freed with free()
  shm::SpscProducer<Command> cmd_out_;               // reactor side
  shm::SpscConsumer<Command> cmd_in_;                // worker side
  std::atomic<std::uint64_t> acked_{0};

  std::vector<PublisherState*> pubs_;
  std::vector<SubscriberState*> home_subs_;
  std::unordered_map<std::uint32_t, Topic> topics_;
  std::vector<SubscriberState*> touched_;
  std::vector<EarlyRelease> early_;
  std::uint64_t epoch_ = 1;
  // Work in the current pass that a client waits for: commands, routed deliveries, wake-ups
  // we make, a publisher out of loans or held back. Reset by run() before each pass; only
  // this kind of work keeps a hybrid or park worker awake (publishers kick for it).
  std::size_t urgent_ = 0;

  shm::WorkerStatsSlot own_stats_{};  // fallback when options.stats is null
  shm::WorkerStatsSlot* stats_;       // one writer: this worker's thread (or do_work's caller)
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace zcp::router
