// The stats region: every counter and descriptor that zcp-top, `zcp ls/info/metrics` read
// without asking the daemon (the Aeron "CnC file" habit, one region of the segment).
//
// Writers, one per word group (docs/observability.md lists every field):
//  - the reactor thread: the header, the daemon counters, and the descriptors of processes,
//    topics, publishers and subscribers (seqlocked, see below);
//  - each router worker: its WorkerStats slot, and the counter lines of the publishers it
//    routes and the subscribers it delivers to;
//  - clients write nothing here. Their own counters sit on the ring lines they already write
//    (RingHeader::producer_full, ::consumer_empty), so counting costs them no extra line.
// Readers (tools) map the segment read-only, never write, never block the daemon: a reader
// that crashes harms nothing, and the daemon never waits for a reader.
//
// Descriptor slots use a sequence lock: the reactor makes `seq` odd, writes the fields, makes
// it even (release). A reader copies the fields between two reads of `seq` and retries if
// they differ or are odd. A slot whose state is kFree is unused; slots are reused after free.
// Counter words are read with relaxed loads: each is a statistic that publishes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace zcp::shm {

inline constexpr std::uint32_t kStatsMagic = 0x5a43'5053U;  // "ZCPS"
// Version history: 1 first stats layout.
inline constexpr std::uint32_t kStatsVersion = 1;

// Room for the daemon's counters (DaemonCounter, shm/stats_names.hpp). A writer with more counters
// than this fails to build; tools read `daemon_counter_count` words and name them from their own
// enum, which the layout version ties to the writer's.
inline constexpr std::uint32_t kMaxDaemonCounters = 128;
// Bytes for the daemon's effective configuration, as TOML text (zcp info prints it).
inline constexpr std::uint32_t kStatsConfigBytes = 16384;
inline constexpr std::uint32_t kStatsNameBytes = 104;  // protocol names are ≤ 100 bytes
inline constexpr std::uint32_t kStatsVersionBytes = 64;

enum class StatsSlotState : std::uint32_t { kFree = 0, kLive = 1 };

struct StatsHeader {
  std::uint32_t magic;                 // kStatsMagic
  std::uint32_t version;               // kStatsVersion
  std::uint32_t daemon_counter_count;  // DaemonCounter::kCount of the writer
  std::uint32_t process_slots;
  std::uint32_t topic_slots;
  std::uint32_t publisher_slots;
  std::uint32_t subscriber_slots;
  std::uint32_t worker_slots;  // workers the daemon runs (≤ router::kMaxWorkers)
  // Offsets of the tables, from the start of the stats region.
  std::uint64_t daemon_counters_offset;
  std::uint64_t processes_offset;
  std::uint64_t topics_offset;
  std::uint64_t publishers_offset;
  std::uint64_t subscribers_offset;
  std::uint64_t workers_offset;
  std::uint64_t config_offset;
  std::int32_t daemon_pid;
  std::uint32_t config_len;                 // bytes of TOML text at config_offset, set before ready
  std::uint64_t started_realtime_ns;        // CLOCK_REALTIME at start
  std::uint64_t started_monotonic_ns;       // CLOCK_MONOTONIC at start (uptime = now - this)
  std::uint64_t topology_generation;        // atomic, reactor: bumped after any descriptor change
  char daemon_version[kStatsVersionBytes];  // NUL-padded
  std::uint8_t reserved[4096 - 184];
};
static_assert(sizeof(StatsHeader) == 4096, "the stats header fills one page");
static_assert(offsetof(StatsHeader, daemon_counters_offset) == 32);
static_assert(offsetof(StatsHeader, daemon_pid) == 88);
static_assert(offsetof(StatsHeader, topology_generation) == 112);
static_assert(offsetof(StatsHeader, daemon_version) == 120);
static_assert(offsetof(StatsHeader, reserved) == 184);
static_assert(std::is_trivially_copyable_v<StatsHeader>);

// One registered process. Reactor-written, seqlocked.
struct alignas(64) ProcessStats {
  std::uint64_t seq;
  std::uint32_t state;  // StatsSlotState
  std::int32_t pid;     // from SO_PEERCRED
  std::uint32_t uid;
  std::uint32_t gid;
  std::uint32_t heartbeat_slot;   // index in the heartbeat pool (age = now - last_heartbeat_ns)
  std::uint32_t monitored;        // 1: the heartbeat timeout applies to it
  std::uint64_t heartbeat_epoch;  // the slot's epoch when this process claimed it
  std::uint64_t registered_realtime_ns;
  std::uint32_t publishers;  // live publishers of this process
  std::uint32_t subscribers;
  char name[kStatsNameBytes];
  std::uint8_t reserved[256 - 160];
};
static_assert(sizeof(ProcessStats) == 256);
static_assert(offsetof(ProcessStats, name) == 56);

// One topic (service, instance, event) with at least one endpoint. Reactor-written, seqlocked.
struct alignas(64) TopicStats {
  std::uint64_t seq;
  std::uint32_t state;       // StatsSlotState
  std::uint32_t id;          // the registry's topic id
  std::uint32_t publishers;  // live endpoints on the topic
  std::uint32_t subscribers;
  char service[kStatsNameBytes];
  char instance[kStatsNameBytes];
  char event[kStatsNameBytes];
  std::uint8_t reserved[384 - 336];
};
static_assert(sizeof(TopicStats) == 384);
static_assert(offsetof(TopicStats, service) == 24);

// One publisher. Lines 0-1: descriptor (reactor, seqlocked). Line 2: counters written only by
// the worker that routes this publisher (relaxed stores of single-writer words).
struct alignas(64) PublisherStats {
  // --- descriptor (reactor) ---
  std::uint64_t seq;
  std::uint32_t state;         // StatsSlotState
  std::uint32_t id;            // publisher id (MessageHeader::publisher_id)
  std::uint32_t topic_slot;    // index in the topic table
  std::uint32_t process_slot;  // index in the process table
  std::int32_t pid;
  std::uint32_t worker;  // the worker routing it
  std::uint32_t pool_class;
  std::uint32_t max_loans;
  std::uint32_t history_depth;  // configured history (late joiners)
  std::uint32_t max_payload;
  std::uint64_t publish_ring_offset;  // segment offset of its publish ring's RingHeader:
                                      // tail = published by the client, routed, producer_full
  std::uint64_t loan_ring_offset;     // consumer_empty = loans the client found none for
  std::uint8_t reserved0[128 - 64];
  // --- counters (its worker) ---
  std::uint64_t routed;         // publications taken and fully delivered (or returned)
  std::uint64_t blocked;        // passes held back by a full block_publisher queue
  std::uint64_t returned;       // unpublished loans given back
  std::uint64_t loan_failures;  // loan-ring refills the pool could not serve
  std::uint64_t history_size;   // publications currently kept for late joiners
  std::uint64_t reserved1[3];
  std::uint64_t reserved2[8];
};
static_assert(sizeof(PublisherStats) == 256);
static_assert(offsetof(PublisherStats, publish_ring_offset) == 48);
static_assert(offsetof(PublisherStats, routed) == 128, "worker counters on their own line");

// One subscriber. Lines 0-1: descriptor (reactor, seqlocked). Line 2: counters written by
// router workers. A topic whose publishers are spread over several workers has several
// writers here, so these are relaxed fetch_adds (the one multi-writer group in the region).
struct alignas(64) SubscriberStats {
  // --- descriptor (reactor) ---
  std::uint64_t seq;
  std::uint32_t state;  // StatsSlotState
  std::uint32_t id;
  std::uint32_t topic_slot;
  std::uint32_t process_slot;
  std::int32_t pid;
  std::uint32_t home_worker;  // drains its release ring
  std::uint32_t policy;       // zcp::QueuePolicy
  std::uint32_t capacity;     // queue capacity granted
  std::uint32_t max_held;     // samples it may hold taken at once
  std::uint32_t history_request;
  std::uint64_t queue_offset;  // segment offset of its queue's RingHeader: depth = tail -
                               // head, high_water, dropped
  std::uint64_t release_offset;
  std::uint8_t reserved0[128 - 64];
  // --- counters (router workers, relaxed fetch_add) ---
  std::uint64_t delivered;  // messages pushed into its queue
  std::uint64_t dropped;    // messages its policy dropped
  std::uint64_t wakeups;    // eventfd writes to wake it
  std::uint64_t reserved1[5];
  std::uint64_t reserved2[8];
};
static_assert(sizeof(SubscriberStats) == 256);
static_assert(offsetof(SubscriberStats, queue_offset) == 48);
static_assert(offsetof(SubscriberStats, delivered) == 128, "worker counters on their own line");

// One router worker: written by that worker's thread only (id and cpu by the reactor before
// the worker starts).
struct alignas(64) WorkerStatsSlot {
  std::uint32_t id;
  std::int32_t cpu;             // pinned CPU, or -1
  std::uint32_t idle_strategy;  // IdleStrategy (shm/stats_names.hpp)
  std::uint32_t reserved0;
  std::uint64_t routed;       // publications fully delivered
  std::uint64_t passes;       // do_work passes
  std::uint64_t busy_passes;  // passes that did work
  std::uint64_t busy_ns;      // time spent in passes that did work
  std::uint64_t parks;        // times it slept on its doorbell
  std::uint64_t max_pass_ns;  // longest single pass
  // line 1
  std::uint64_t faults;    // ports faulted for breaking the ring protocol
  std::uint64_t commands;  // topology commands applied
  std::uint64_t started_monotonic_ns;
  std::uint64_t direct_settled;  // direct-delivery records settled (docs/router.md)
  std::uint64_t early_releases;  // releases that arrived before their direct record was settled
  std::uint64_t reserved1[3];
};
static_assert(sizeof(WorkerStatsSlot) == 128);

// Sizing of the region. Publisher and subscriber slots are also the daemon-wide limits on
// live publishers and subscribers (a port always has its slot).
struct StatsConfig {
  std::uint32_t process_slots = 0;  // 0: one per heartbeat slot
  std::uint32_t topic_slots = 4096;
  std::uint32_t publisher_slots = 4096;
  std::uint32_t subscriber_slots = 8192;
  std::uint32_t worker_slots = 16;
};

}  // namespace zcp::shm
