#include "config/estimate.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>

#include "shm/layout.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/ring.hpp"
#include "shm/route_table.hpp"

namespace zcp::config {
namespace {

std::string size_text(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ULL << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(bytes) / (1ULL << 30));
  } else if (bytes >= (1ULL << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1ULL << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  }
  return buf;
}

// The queue allocator is a buddy allocator: a ring takes the power-of-two block that holds it.
std::uint64_t block(std::uint64_t bytes) {
  return std::bit_ceil(std::max<std::uint64_t>(bytes, shm::QueueAllocator::kDefaultMinBlock));
}

template <class T>
std::uint64_t ring_block(shm::RingKind kind, std::uint64_t capacity) {
  return block(shm::ring_bytes(static_cast<std::uint32_t>(capacity), shm::slot_stride<T>(kind)));
}

}  // namespace

Expected<MemoryEstimate, std::string> estimate_memory(const daemon::DaemonConfig& cfg) {
  shm::SegmentConfig seg = segment_config(cfg);
  auto plan = shm::plan_segment(seg);  // normalizes seg.pools
  if (!plan) return Unexpected(plan.error());
  const daemon::RegistryConfig& g = cfg.registry;
  MemoryEstimate e;
  e.plan = *plan;
  e.heartbeat_slots = cfg.heartbeat_slots;
  const std::uint64_t sub_chunks =
      std::uint64_t{g.default_subscriber_capacity} + g.default_max_held;
  const std::uint64_t sub_chunks_cap = std::uint64_t{g.max_subscriber_capacity} + g.max_held_cap;
  for (const shm::PoolClassConfig& c : seg.pools.classes) {
    ClassEstimate ce;
    ce.chunk_size = c.chunk_size;
    ce.count = c.count;
    ce.chunk_bytes = std::uint64_t{c.chunk_size} + sizeof(shm::ChunkHeader);
    ce.publisher_chunks =
        g.default_max_loans + g.publisher_ring_capacity;  // loans + unsettled records
    ce.subscriber_chunks = sub_chunks;
    ce.subscriber_chunks_cap = sub_chunks_cap;
    ce.stalled_subscribers =
        c.count > ce.publisher_chunks ? (c.count - ce.publisher_chunks) / sub_chunks : 0;
    e.classes.push_back(ce);
  }
  e.publisher_arena_bytes =
      ring_block<shm::MessageHeader>(shm::RingKind::kSpsc, g.publisher_ring_capacity) +
      ring_block<shm::ChunkRef>(shm::RingKind::kSpsc, g.default_max_loans);
  e.route_table_bytes = block(sizeof(shm::RouteTable));
  e.subscriber_arena_bytes =
      ring_block<shm::MessageHeader>(shm::RingKind::kMpmc, g.default_subscriber_capacity) +
      ring_block<shm::ChunkRef>(shm::RingKind::kSpsc, sub_chunks + shm::kReleaseSlack);
  e.subscriber_arena_bytes_cap =
      ring_block<shm::MessageHeader>(shm::RingKind::kMpmc, g.max_subscriber_capacity) +
      ring_block<shm::ChunkRef>(shm::RingKind::kSpsc, sub_chunks_cap + shm::kReleaseSlack);
  return e;
}

std::string describe(const MemoryEstimate& e, const daemon::DaemonConfig& cfg) {
  const daemon::RegistryConfig& g = cfg.registry;
  std::string out;
  char line[256];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof(line), fmt, args...);
    out += line;
    out += '\n';
  };
  add("shared memory: %s in all (/dev/shm must allow it; pages are backed as they are touched%s)",
      size_text(e.plan.total_size).c_str(), cfg.prefault ? ", here all at start: prefault" : "");
  add("  header       %10s", size_text(shm::kSegmentHeaderBytes).c_str());
  add("  heartbeat    %10s  %u slots (limits.max_processes)",
      size_text(e.plan.heartbeat.size).c_str(), e.heartbeat_slots);
  add("  chunk pool   %10s", size_text(e.plan.pool.size).c_str());
  for (const ClassEstimate& c : e.classes) {
    add("    class %8u B x %-8u %10s", c.chunk_size, c.count,
        size_text(c.chunk_bytes * c.count).c_str());
  }
  add("  queue arena  %10s  a publisher's rings take %s, a subscriber's %s (%s at the caps)",
      size_text(e.plan.queue_arena.size).c_str(), size_text(e.publisher_arena_bytes).c_str(),
      size_text(e.subscriber_arena_bytes).c_str(), size_text(e.subscriber_arena_bytes_cap).c_str());
  add("               a publisher of a direct topic (every topic not in router.routed_topics) "
      "takes %s more (route table)",
      size_text(e.route_table_bytes).c_str());
  add("               room for about %llu default publishers, or %llu default subscribers",
      static_cast<unsigned long long>(e.plan.queue_arena.size / e.publisher_arena_bytes),
      static_cast<unsigned long long>(e.plan.queue_arena.size / e.subscriber_arena_bytes));
  add("  stats        %10s", size_text(e.plan.stats.size).c_str());
  add("worst case per topic: P publishers and S subscribers of one pool class pin at most");
  add("  P x (max_loans %u + publish ring %u + history depth) + S x (queue_capacity %u + max_held "
      "%u) chunks;",
      g.default_max_loans, g.publisher_ring_capacity, g.default_subscriber_capacity,
      g.default_max_held);
  add("  a subscriber that asks for the caps pins up to %u + %u chunks", g.max_subscriber_capacity,
      g.max_held_cap);
  add("  %10s  %14s  %15s  %17s  %s", "class", "per publisher", "per subscriber",
      "subscriber at caps", "stalled subscribers the class survives (1 publisher)");
  for (const ClassEstimate& c : e.classes) {
    char cls[32];
    std::snprintf(cls, sizeof(cls), "%u B", c.chunk_size);
    add("  %10s  %14s  %15s  %17s  %llu", cls,
        size_text(c.publisher_chunks * c.chunk_bytes).c_str(),
        size_text(c.subscriber_chunks * c.chunk_bytes).c_str(),
        size_text(c.subscriber_chunks_cap * c.chunk_bytes).c_str(),
        static_cast<unsigned long long>(c.stalled_subscribers));
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace zcp::config
