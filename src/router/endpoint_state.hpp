// PublisherState and SubscriberState: the router's side of a publisher or subscriber port
// (the client's side is detail::PublisherPort / SubscriberPort in src/client/): its ring
// views, its ownership set in the ledger, and where its counters live (the counter line of its
// slot in the stats region, so that tools read them without asking the daemon). The reactor
// creates one, hands it to workers by command, and frees it only after every worker
// acknowledged that it no longer touches it (docs/router.md, "Retiring a port").
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include <zcp/queue_policy.hpp>

#include "router/chunk_ledger.hpp"
#include "shm/layout.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/route_table.hpp"
#include "shm/spsc_ring.hpp"
#include "shm/stats_layout.hpp"

namespace zcp::router {

// Most router workers. Each costs a CPU; more than the host's cores only adds contention.
inline constexpr std::uint32_t kMaxWorkers = 16;

// Why the router stopped serving a port: its client broke the ring protocol. The reactor
// disconnects the client and logs the fault.
enum class PortFault : std::uint32_t {
  kNone = 0,
  kCorruptRing,   // a ring's indices are impossible (tail far ahead of head)
  kForeignChunk,  // a reference to a chunk the port does not own, or a stale one
  kHoarding,      // a direct-delivery subscriber owns more chunks than its queue and holds allow
};
const char* to_string(PortFault f) noexcept;

// Counters. A port's counters are the counter line (line 2) of its PublisherStats or
// SubscriberStats slot in the segment's stats region; `stats` points there. The reactor zeroes
// that line when it (re)uses the slot, before its Add command, whose ring release publishes the
// zeroes to the workers. A port built without a region (router unit tests) counts into its
// own fallback slot. The descriptor lines of the slot belong to the reactor: workers write
// only the counter words.
//  - PublisherStats::routed, blocked, returned, loan_failures, history_size: one writer, the
//    worker that routes the publisher (shm::bump / relaxed stores).
//  - SubscriberStats::delivered, dropped, wakeups: every worker that serves a publisher of the
//    topic may write them (shm::bump_shared, relaxed fetch_add); with a single worker, that
//    worker is their only writer (shm::bump; Worker::bump_sub).

struct SubscriberState {
  std::uint32_t id = 0;
  std::uint32_t topic = 0;
  std::uint32_t home_worker = 0;  // the one worker that drains the release ring
  QueuePolicy policy = QueuePolicy::kDropOldest;
  std::uint32_t limit = 0;  // most chunks it may own: queue capacity + max held
  std::uint32_t history_request = 0;
  int eventfd = -1;  // owned by the reactor
  shm::QueueDescriptor queue_desc{};
  shm::QueueDescriptor release_desc{};
  shm::MpmcRing<shm::MessageHeader> queue;
  shm::SpscConsumer<shm::ChunkRef> releases;  // touched by the home worker only
  OwnerSet owned;
  shm::SubscriberStats own_stats{};          // fallback counter storage (no stats region)
  shm::SubscriberStats* stats = &own_stats;  // never null; the port is never copied or moved
  std::atomic<std::uint32_t> fault{0};       // PortFault; set once by a worker
  // Direct delivery (route_table.hpp). Written by the reactor before the Add (route_slot,
  // route_since) or Remove (route_gone) command, whose ring push publishes them.
  bool direct = false;                           // its topic is a direct-delivery topic
  std::uint32_t route_slot = shm::kNoRouteSlot;  // its slot in the topic's route tables
  std::uint32_t route_since = 0;                 // the route version that listed it
  std::uint32_t route_gone = 0;                  // the route version that delisted it
  // Per worker: the pass in which it last pushed here, so each worker wakes a subscriber at
  // most once per pass. Each worker writes only its own element.
  std::uint64_t touched_epoch[kMaxWorkers] = {};
  // Per worker: its early releases of this subscriber waiting to apply (Worker::early_).
  std::uint32_t early_count[kMaxWorkers] = {};
};

// Zeroes the counter line of a stats slot (reactor, before the port's Add command). Relaxed
// stores: the command ring's release push publishes them to the workers, and a tool that reads
// a counter of a reused slot mid-way sees a statistic, nothing it acts on.
void reset_counters(shm::PublisherStats& s) noexcept;
void reset_counters(shm::SubscriberStats& s) noexcept;

// A worker's view of a direct topic's route slots: which subscriber each slot names, as of
// the newest route version whose command the worker applied. Worker-private.
struct RouteMap {
  SubscriberState* slot[shm::kRouteSlots] = {};
  std::uint32_t version = 0;
};

struct PublisherState {
  std::uint32_t id = 0;
  std::uint32_t topic = 0;
  std::uint32_t worker = 0;
  std::uint16_t pool_class = 0;
  std::uint32_t max_loans = 0;
  std::uint32_t history_depth = 0;
  shm::QueueDescriptor publish_desc{};
  shm::QueueDescriptor loan_desc{};
  std::uint64_t route_table = 0;  // its RouteTable's arena block (direct delivery), or 0
  // The topic's route version when it was added (reactor-written before the Add command): a
  // worker that dropped its entry for the topic meanwhile starts its route map there.
  std::uint32_t route_since = 0;
  shm::SpscConsumer<shm::MessageHeader> in;  // the publish ring
  shm::SpscProducer<shm::ChunkRef> loans;    // the loan ring
  OwnerSet owned;    // loaned: in the loan ring, in the client's hands, or published unrouted
  OwnerSet history;  // references kept for late joiners
  shm::PublisherStats own_stats{};          // fallback counter storage (no stats region)
  shm::PublisherStats* stats = &own_stats;  // never null; the port is never copied or moved
  std::atomic<std::uint32_t> fault{0};

  // Worker-private state (the owning worker only).
  // The topic's subscribers in the worker's table, set when the worker adds the publisher. The
  // table's entry outlives the publisher in it (unordered_map nodes are stable), so deliver()
  // needs no lookup per message.
  const std::vector<SubscriberState*>* subs = nullptr;
  const RouteMap* route = nullptr;       // the topic's route slots (direct delivery), same lifetime
  std::vector<shm::MessageHeader> hist;  // ring of the last history_depth publications
  std::size_t hist_head = 0;
  std::size_t hist_size = 0;
  // Popped from the publish ring, not yet fully delivered: stash[stash_pos, stash_len).
  // A fixed array: refilling it each pass costs no allocation and no zeroing.
  static constexpr std::size_t kStash = 64;
  std::array<shm::MessageHeader, kStash> stash;
  std::size_t stash_len = 0;
  std::size_t stash_pos = 0;
  void clear_stash() noexcept { stash_len = stash_pos = 0; }
  bool current_taken = false;  // stash[stash_pos] already taken from `owned`
  std::size_t next_sub = 0;    // where delivery of stash[stash_pos] resumes
  // stash[stash_pos] is a direct record (kMsgDirect): the slots the publisher pushed it to,
  // those whose wake-up it handled, and the route version it used.
  bool cur_direct = false;
  std::uint64_t cur_mask = 0;
  std::uint64_t cur_woken = 0;
  std::uint32_t cur_version = 0;
  // Loans: how many free chunks the worker keeps in the loan ring. It grows while the publisher
  // takes them faster than the worker comes back, and shrinks again when it stops
  // (Worker::refill), so an idle publisher pins few chunks and a busy one never waits.
  std::uint32_t loan_target = 0;      // 0: not set yet (the worker starts it at kLoanPrefill)
  std::uint32_t loan_cap = 0;         // its largest value
  std::uint64_t loan_seen = 0;        // the consumer's position at the last refill
  std::uint64_t loan_idle_since = 0;  // monotonic ns since which the publisher took no loan
};

// Reactor → worker. Trivially copyable: it travels through an SPSC ring. The ring's release
// store publishes the port object the pointer names, fully built, to the worker.
struct Command {
  enum class Kind : std::uint8_t {
    kAddPublisher,
    kRemovePublisher,
    kAddSubscriber,
    kRemoveSubscriber
  };
  Kind kind;
  std::uint64_t seq;  // acknowledged by the worker once applied
  PublisherState* pub = nullptr;
  SubscriberState* sub = nullptr;
};

}  // namespace zcp::router
