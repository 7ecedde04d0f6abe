// Memory sizing for operators: the segment by region and pool class (shm::plan_segment, the
// function the daemon sizes it with), and the worst case one topic can pin, so pools can be
// sized before production. `diroute --check-config` prints it; diroute logs it at start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <zcp/expected.hpp>

#include "daemon/daemon.hpp"
#include "shm/segment.hpp"

namespace zcp::config {

// The SegmentConfig the daemon creates for `cfg` (pools, heartbeat slots, arena, stats tables
// sized by the limits): the daemon's own function, so the estimate cannot drift from it.
using daemon::segment_config;

struct ClassEstimate {
  std::uint32_t chunk_size = 0;  // payload bytes, after rounding
  std::uint32_t count = 0;
  std::uint64_t chunk_bytes = 0;  // payload + the 64-byte chunk header
  // Chunks one port can pin at worst: a publisher its loans (its history comes on top); a
  // subscriber that stopped reading its full queue plus the samples it holds.
  std::uint64_t publisher_chunks = 0;
  std::uint64_t subscriber_chunks = 0;      // with the defaults (queue_capacity + max_held)
  std::uint64_t subscriber_chunks_cap = 0;  // at the caps (max_queue_capacity + limits.max_held)
  // Stalled default subscribers of one topic (with one publisher) the class survives before
  // its publishers' loans fail.
  std::uint64_t stalled_subscribers = 0;
};

struct MemoryEstimate {
  shm::SegmentPlan plan{};
  std::uint32_t heartbeat_slots = 0;
  std::vector<ClassEstimate> classes;
  // Queue-arena bytes (buddy blocks) of one publisher (publish + loan ring) and one subscriber
  // (queue + release ring), with the defaults and at the caps.
  std::uint64_t publisher_arena_bytes = 0;
  std::uint64_t route_table_bytes = 0;  // more per publisher of a direct topic
  std::uint64_t subscriber_arena_bytes = 0;
  std::uint64_t subscriber_arena_bytes_cap = 0;
};

Expected<MemoryEstimate, std::string> estimate_memory(const daemon::DaemonConfig& cfg);

// Human-readable lines (no trailing newline): the segment by region and class, then the
// per-topic worst case with the formula.
std::string describe(const MemoryEstimate& e, const daemon::DaemonConfig& cfg);

}  // namespace zcp::config
