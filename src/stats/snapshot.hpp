// A consistent-enough copy of a daemon's stats region, taken without asking the daemon.
// zcp-top, `zcp ls`, `zcp info` and `zcp metrics` all read through this: they open the
// instance's segment read-only, copy the tables (descriptors under their sequence locks,
// counters with relaxed loads), and work on the copy. Rates come from two snapshots
// (rates.hpp); output formats are in format.hpp.
//
// Every offset read from the region is range-checked against the mapping: the stats are
// written by the daemon, but ring headers are also written by clients.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <zcp/expected.hpp>

#include "shm/segment.hpp"

namespace zcp::stats {

struct RegionRow {
  std::string kind;  // "heartbeat", "chunk_pool", "queue_arena", "stats"
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

struct DaemonRow {
  std::int32_t pid = 0;
  std::string version;
  std::string instance;
  std::string segment;  // shm name
  std::uint64_t segment_bytes = 0;
  std::uint32_t layout_version = 0;
  std::uint64_t started_realtime_ns = 0;
  std::uint64_t uptime_ns = 0;
  std::vector<RegionRow> regions;
  std::string config_text;  // effective configuration (TOML)
  // shm::DaemonCounter values in enum order, named by shm::to_string(DaemonCounter).
  std::vector<std::pair<std::string, std::uint64_t>> counters;
};

struct ProcessRow {
  std::uint32_t slot = 0;
  std::int32_t pid = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string name;
  bool monitored = false;
  std::optional<std::uint64_t> heartbeat_age_ms;  // nullopt: slot no longer held
  std::uint32_t publishers = 0;
  std::uint32_t subscribers = 0;
  std::uint64_t registered_realtime_ns = 0;
};

struct TopicRow {
  std::uint32_t slot = 0;
  std::uint32_t id = 0;
  std::string service, instance, event;
  std::uint32_t publishers = 0;
  std::uint32_t subscribers = 0;
  std::string name() const { return service + "/" + instance + "/" + event; }
};

struct PublisherRow {
  std::uint32_t slot = 0;
  std::uint32_t id = 0;
  std::string service, instance, event;
  std::int32_t pid = 0;
  std::uint32_t worker = 0;
  std::uint32_t pool_class = 0;
  std::uint32_t max_loans = 0;
  std::uint32_t history_depth = 0;
  std::uint32_t max_payload = 0;
  std::uint64_t published = 0;  // publish ring tail: publications the client made
  std::uint64_t routed = 0;     // worker: fully delivered (or returned)
  std::uint64_t blocked = 0;    // worker: back-pressure (block_publisher) events
  std::uint64_t returned = 0;
  std::uint64_t loan_failures = 0;         // worker: refills the pool could not serve
  std::uint64_t client_loan_failures = 0;  // loan ring consumer_empty: loan() found no chunk
  std::uint64_t would_block = 0;           // publish ring producer_full: publish() hit a full ring
  std::uint64_t wakeups = 0;  // publish ring wakeups: subscribers it woke itself (direct)
  std::uint64_t history_size = 0;
  bool rings_ok = true;  // false: a ring offset or magic failed its check
  std::string topic() const { return service + "/" + instance + "/" + event; }
};

struct SubscriberRow {
  std::uint32_t slot = 0;
  std::uint32_t id = 0;
  std::string service, instance, event;
  std::int32_t pid = 0;
  std::uint32_t home_worker = 0;
  std::string policy;  // "drop_oldest" | "drop_newest" | "block_publisher"
  std::uint32_t capacity = 0;
  std::uint32_t max_held = 0;
  std::uint64_t depth = 0;       // queue tail - head, clamped to capacity
  std::uint64_t high_water = 0;  // queue header
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t wakeups = 0;
  bool rings_ok = true;  // false: the queue offset or magic failed its check
  std::string topic() const { return service + "/" + instance + "/" + event; }
};

struct PoolRow {
  std::uint32_t class_index = 0;
  std::uint32_t chunk_size = 0;
  std::uint32_t total = 0;
  std::uint32_t free = 0;
  std::uint32_t min_free = 0;
  std::uint64_t loan_failures = 0;
};

struct WorkerRow {
  std::uint32_t id = 0;
  std::int32_t cpu = -1;
  std::string idle;  // "spin" | "hybrid" | "park"
  std::uint64_t routed = 0;
  std::uint64_t passes = 0;
  std::uint64_t busy_passes = 0;
  std::uint64_t busy_ns = 0;
  std::uint64_t parks = 0;
  std::uint64_t max_pass_ns = 0;
  std::uint64_t faults = 0;
  std::uint64_t commands = 0;
  std::uint64_t started_monotonic_ns = 0;
  std::uint64_t direct_settled = 0;  // direct-delivery records settled
  std::uint64_t early_releases = 0;  // releases that came before their record was settled
};

struct Snapshot {
  std::uint64_t taken_monotonic_ns = 0;
  std::uint64_t topology_generation = 0;
  DaemonRow daemon;
  std::vector<ProcessRow> processes;
  std::vector<TopicRow> topics;
  std::vector<PublisherRow> publishers;
  std::vector<SubscriberRow> subscribers;
  std::vector<PoolRow> pools;
  std::vector<WorkerRow> workers;
  std::uint32_t busy_slots = 0;  // descriptors skipped: a writer held their seqlock throughout
};

// Copies the stats of `segment` (mapped read-only is enough; the pool view is non-const only
// because its accessors are). `now_monotonic_ns` 0: read CLOCK_MONOTONIC.
Expected<Snapshot, std::string> take_snapshot(shm::Segment& segment,
                                              std::uint64_t now_monotonic_ns = 0);

// Opens the segment of `instance` read-only (empty: $ZCP_INSTANCE, else "default"). The
// error says plainly when no daemon runs there, or when the segment outlived its daemon.
Expected<shm::Segment, std::string> open_instance(const std::string& instance);

}  // namespace zcp::stats
