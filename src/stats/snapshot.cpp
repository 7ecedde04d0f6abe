#include "stats/snapshot.hpp"

#include <cerrno>
#include <ctime>

#include <zcp/queue_policy.hpp>

#include "common/clock.hpp"
#include "common/instance.hpp"
#include "shm/ring.hpp"
#include "shm/stats_names.hpp"

namespace zcp::stats {
namespace {

using shm::read_counter;

const char* region_kind_name(std::uint32_t kind) noexcept {
  switch (static_cast<shm::RegionKind>(kind)) {
    case shm::RegionKind::kHeartbeat:
      return "heartbeat";
    case shm::RegionKind::kChunkPool:
      return "chunk_pool";
    case shm::RegionKind::kQueueArena:
      return "queue_arena";
    case shm::RegionKind::kStats:
      return "stats";
    case shm::RegionKind::kAccounting:
      return "accounting";
    case shm::RegionKind::kRouteTable:
      return "route_table";
    case shm::RegionKind::kNone:
      break;
  }
  return "unknown";
}

std::string policy_name(std::uint32_t p) {
  const auto policy = queue_policy_from_value(p);
  return policy ? to_string(*policy) : "unknown";
}

std::string idle_name(std::uint32_t s) {
  if (s > static_cast<std::uint32_t>(shm::IdleStrategy::kPark)) return "unknown";
  return shm::to_string(static_cast<shm::IdleStrategy>(s));
}

// The ring header a descriptor points at, or nullptr when the offset is not a plausible
// ring: ring headers are written by clients too, so the offset must lie in the queue arena
// (the whole header inside the mapping), be cache-line aligned, and find the ring magic.
class RingLookup {
 public:
  explicit RingLookup(const shm::Segment& seg) : base_(seg.base()) {
    if (auto arena = seg.region(shm::RegionKind::kQueueArena)) {
      lo_ = arena->offset;
      hi_ = arena->offset + arena->size;
    }
  }
  const shm::RingHeader* find(std::uint64_t offset) const noexcept {
    if (offset < lo_ || offset >= hi_ || hi_ - offset < sizeof(shm::RingHeader) ||
        offset % 64 != 0) {
      return nullptr;
    }
    const auto* h = reinterpret_cast<const shm::RingHeader*>(base_ + offset);
    // relaxed: the magic is written once at format; a reader only checks it.
    if (shm::atomic_load(h->magic, std::memory_order_relaxed) != shm::kRingMagic) return nullptr;
    return h;
  }

 private:
  const std::byte* base_;
  std::uint64_t lo_ = 0;
  std::uint64_t hi_ = 0;
};

struct TopicName {
  bool live = false;
  std::string service, instance, event;
};

void copy_daemon(const shm::Segment& seg, const shm::StatsRegion& region, std::uint64_t now,
                 DaemonRow& d) {
  const shm::SegmentHeader& sh = seg.header();
  const shm::StatsHeader& h = region.header();
  d.pid = h.daemon_pid;
  d.version = std::string(shm::get_text(h.daemon_version));
  d.instance = std::string(shm::get_text(sh.instance));
  d.segment = seg.name();
  d.segment_bytes = seg.size();
  d.layout_version = sh.layout_version;
  d.started_realtime_ns = h.started_realtime_ns;
  d.uptime_ns = now > h.started_monotonic_ns ? now - h.started_monotonic_ns : 0;
  for (std::uint32_t i = 0; i < sh.region_count && i < shm::kMaxRegions; ++i) {
    d.regions.push_back(
        {region_kind_name(sh.regions[i].kind), sh.regions[i].offset, sh.regions[i].size});
  }
  d.config_text = std::string(region.config_text());
  // relaxed: written once before the daemon accepts connections; attach() bounded it.
  std::uint32_t n = shm::atomic_load(h.daemon_counter_count, std::memory_order_relaxed);
  if (n > shm::kMaxDaemonCounters) n = shm::kMaxDaemonCounters;
  const std::uint64_t* words = region.daemon_counters();
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string name = i < shm::kDaemonCounterCount
                           ? std::string(shm::to_string(static_cast<shm::DaemonCounter>(i)))
                           : "counter_" + std::to_string(i);
    d.counters.emplace_back(std::move(name), read_counter(words[i]));
  }
}

void copy_processes(shm::Segment& seg, const shm::StatsRegion& region, std::uint64_t now,
                    Snapshot& s) {
  const shm::HeartbeatPool& hb = seg.heartbeats();
  for (std::uint32_t i = 0; i < region.header().process_slots; ++i) {
    shm::ProcessStats p{};
    if (!shm::seq_read(*region.process(i), p)) {
      ++s.busy_slots;
      continue;
    }
    if (p.state != static_cast<std::uint32_t>(shm::StatsSlotState::kLive)) continue;
    ProcessRow r;
    r.slot = i;
    r.pid = p.pid;
    r.uid = p.uid;
    r.gid = p.gid;
    r.name = std::string(shm::get_text(p.name));
    r.monitored = p.monitored != 0;
    r.publishers = p.publishers;
    r.subscribers = p.subscribers;
    r.registered_realtime_ns = p.registered_realtime_ns;
    if (hb.valid() && p.heartbeat_slot < hb.slot_count()) {
      const shm::HeartbeatSlot& slot = hb.slot(p.heartbeat_slot);
      // relaxed: statistics; the epoch check only tells whether the slot still belongs to
      // this process (a later owner's age would be wrong, not unsafe).
      bool held = shm::atomic_load(slot.state, std::memory_order_relaxed) ==
                      static_cast<std::uint32_t>(shm::SlotState::kActive) &&
                  shm::atomic_load(slot.epoch, std::memory_order_relaxed) == p.heartbeat_epoch;
      if (held) {
        std::uint64_t last = shm::atomic_load(slot.last_heartbeat_ns, std::memory_order_relaxed);
        r.heartbeat_age_ms = now > last ? (now - last) / 1'000'000ULL : 0;
      }
    }
    s.processes.push_back(std::move(r));
  }
}

std::vector<TopicName> copy_topics(const shm::StatsRegion& region, Snapshot& s) {
  std::vector<TopicName> names(region.header().topic_slots);
  for (std::uint32_t i = 0; i < region.header().topic_slots; ++i) {
    shm::TopicStats t{};
    if (!shm::seq_read(*region.topic(i), t)) {
      ++s.busy_slots;
      continue;
    }
    if (t.state != static_cast<std::uint32_t>(shm::StatsSlotState::kLive)) continue;
    TopicRow r;
    r.slot = i;
    r.id = t.id;
    r.service = std::string(shm::get_text(t.service));
    r.instance = std::string(shm::get_text(t.instance));
    r.event = std::string(shm::get_text(t.event));
    r.publishers = t.publishers;
    r.subscribers = t.subscribers;
    names[i] = {true, r.service, r.instance, r.event};
    s.topics.push_back(std::move(r));
  }
  return names;
}

template <class Row>
void name_row(Row& r, std::uint32_t topic_slot, const std::vector<TopicName>& topics) {
  if (topic_slot < topics.size() && topics[topic_slot].live) {
    r.service = topics[topic_slot].service;
    r.instance = topics[topic_slot].instance;
    r.event = topics[topic_slot].event;
  } else {  // the topic slot changed between the two table reads: next refresh has it
    r.service = r.instance = r.event = "?";
  }
}

void copy_publishers(const shm::StatsRegion& region, const RingLookup& rings,
                     const std::vector<TopicName>& topics, Snapshot& s) {
  for (std::uint32_t i = 0; i < region.header().publisher_slots; ++i) {
    const shm::PublisherStats& live = *region.publisher(i);
    shm::PublisherStats p{};
    if (!shm::seq_read(live, p)) {
      ++s.busy_slots;
      continue;
    }
    if (p.state != static_cast<std::uint32_t>(shm::StatsSlotState::kLive)) continue;
    PublisherRow r;
    r.slot = i;
    r.id = p.id;
    name_row(r, p.topic_slot, topics);
    r.pid = p.pid;
    r.worker = p.worker;
    r.pool_class = p.pool_class;
    r.max_loans = p.max_loans;
    r.history_depth = p.history_depth;
    r.max_payload = p.max_payload;
    r.routed = read_counter(live.routed);
    r.blocked = read_counter(live.blocked);
    r.returned = read_counter(live.returned);
    r.loan_failures = read_counter(live.loan_failures);
    r.history_size = read_counter(live.history_size);
    if (const shm::RingHeader* pub = rings.find(p.publish_ring_offset)) {
      // The tail counts every push: publications and loans given back unpublished.
      std::uint64_t tail = read_counter(pub->tail);
      r.published = tail > r.returned ? tail - r.returned : 0;
      r.would_block = read_counter(pub->producer_full);
      r.wakeups = read_counter(pub->wakeups);
    } else {
      r.rings_ok = false;
    }
    if (const shm::RingHeader* loan = rings.find(p.loan_ring_offset)) {
      r.client_loan_failures = read_counter(loan->consumer_empty);
    } else {
      r.rings_ok = false;
    }
    s.publishers.push_back(std::move(r));
  }
}

void copy_subscribers(const shm::StatsRegion& region, const RingLookup& rings,
                      const std::vector<TopicName>& topics, Snapshot& s) {
  for (std::uint32_t i = 0; i < region.header().subscriber_slots; ++i) {
    const shm::SubscriberStats& live = *region.subscriber(i);
    shm::SubscriberStats d{};
    if (!shm::seq_read(live, d)) {
      ++s.busy_slots;
      continue;
    }
    if (d.state != static_cast<std::uint32_t>(shm::StatsSlotState::kLive)) continue;
    SubscriberRow r;
    r.slot = i;
    r.id = d.id;
    name_row(r, d.topic_slot, topics);
    r.pid = d.pid;
    r.home_worker = d.home_worker;
    r.policy = policy_name(d.policy);
    r.capacity = d.capacity;
    r.max_held = d.max_held;
    r.delivered = read_counter(live.delivered);
    r.dropped = read_counter(live.dropped);
    r.wakeups = read_counter(live.wakeups);
    if (const shm::RingHeader* q = rings.find(d.queue_offset)) {
      // head before tail: both only grow, so tail read later is ≥ the head read here, unless
      // the client wrote nonsense; clamp either way.
      std::uint64_t head = read_counter(q->head);
      std::uint64_t tail = read_counter(q->tail);
      std::uint64_t depth = tail > head ? tail - head : 0;
      r.depth = depth < r.capacity ? depth : r.capacity;
      std::uint64_t hw = read_counter(q->high_water);
      r.high_water = hw < r.capacity ? hw : r.capacity;
    } else {
      r.rings_ok = false;
    }
    s.subscribers.push_back(std::move(r));
  }
}

void copy_workers(const shm::StatsRegion& region, Snapshot& s) {
  for (std::uint32_t i = 0; i < region.header().worker_slots; ++i) {
    const shm::WorkerStatsSlot& w = *region.worker(i);
    WorkerRow r;
    // relaxed: id, cpu and idle are written by the reactor before the worker starts.
    r.id = shm::atomic_load(w.id, std::memory_order_relaxed);
    r.cpu = static_cast<std::int32_t>(
        shm::atomic_load(reinterpret_cast<const std::uint32_t&>(w.cpu), std::memory_order_relaxed));
    r.idle = idle_name(shm::atomic_load(w.idle_strategy, std::memory_order_relaxed));
    r.routed = read_counter(w.routed);
    r.passes = read_counter(w.passes);
    r.busy_passes = read_counter(w.busy_passes);
    r.busy_ns = read_counter(w.busy_ns);
    r.parks = read_counter(w.parks);
    r.max_pass_ns = read_counter(w.max_pass_ns);
    r.faults = read_counter(w.faults);
    r.commands = read_counter(w.commands);
    r.started_monotonic_ns = read_counter(w.started_monotonic_ns);
    r.direct_settled = read_counter(w.direct_settled);
    r.early_releases = read_counter(w.early_releases);
    s.workers.push_back(std::move(r));
  }
}

}  // namespace

Expected<Snapshot, std::string> take_snapshot(shm::Segment& segment,
                                              std::uint64_t now_monotonic_ns) {
  const shm::StatsRegion& region = segment.stats();
  if (!region.valid()) {
    return Unexpected("segment " + segment.name() +
                      " has no stats region (a diroute older than layout 3?)");
  }
  Snapshot s;
  s.taken_monotonic_ns = now_monotonic_ns != 0 ? now_monotonic_ns : monotonic_ns();
  // acquire: pairs with bump_generation's release; descriptors changed before it are seen.
  s.topology_generation =
      shm::atomic_load(region.header().topology_generation, std::memory_order_acquire);
  copy_daemon(segment, region, s.taken_monotonic_ns, s.daemon);
  copy_processes(segment, region, s.taken_monotonic_ns, s);
  std::vector<TopicName> topics = copy_topics(region, s);
  RingLookup rings(segment);
  copy_publishers(region, rings, topics, s);
  copy_subscribers(region, rings, topics, s);
  shm::ChunkPool& pool = segment.pool();
  if (pool.valid()) {
    for (std::size_t c = 0; c < pool.class_count(); ++c) {
      shm::PoolClassStats p = pool.stats(c);
      s.pools.push_back({static_cast<std::uint32_t>(c), p.chunk_size, p.total, p.free, p.min_free,
                         p.loan_failures});
    }
  }
  copy_workers(region, s);
  return s;
}

Expected<shm::Segment, std::string> open_instance(const std::string& instance) {
  auto paths =
      resolve_instance(instance.empty() ? std::nullopt : std::optional<std::string>(instance));
  if (!paths) return Unexpected("bad instance: " + paths.error());
  const std::string name = paths->shm_name("seg");
  auto seg = shm::Segment::open(name, /*writable=*/false);
  if (!seg) {
    if (seg.error().code == shm::SegmentErrc::kOpen && seg.error().err == ENOENT) {
      return Unexpected("no diroute is running on instance " + paths->instance + " (no segment " +
                        name + ")");
    }
    return Unexpected("cannot read the stats of instance " + paths->instance + ": " +
                      seg.error().message);
  }
  const shm::SegmentHeader& h = seg->header();
  if (!shm::process_alive(h.creator_pid, h.creator_start_time)) {
    return Unexpected("no diroute is running on instance " + paths->instance + ": segment " + name +
                      " was left by diroute pid " + std::to_string(h.creator_pid) +
                      ", which is gone (the next diroute on this instance removes it)");
  }
  return std::move(*seg);
}

}  // namespace zcp::stats
