#include "shm/stats.hpp"

#include <algorithm>

namespace zcp::shm {
namespace {

constexpr std::uint64_t kPage = 4096;

struct Tables {
  std::uint64_t counters, processes, topics, publishers, subscribers, workers, config, end;
};

Tables tables_for(const StatsConfig& c) noexcept {
  Tables t{};
  std::uint64_t at = sizeof(StatsHeader);
  t.counters = at;
  at = align_up(at + kMaxDaemonCounters * sizeof(std::uint64_t), kCacheLine);
  t.processes = at;
  at += std::uint64_t{c.process_slots} * sizeof(ProcessStats);
  t.topics = at;
  at += std::uint64_t{c.topic_slots} * sizeof(TopicStats);
  t.publishers = at;
  at += std::uint64_t{c.publisher_slots} * sizeof(PublisherStats);
  t.subscribers = at;
  at += std::uint64_t{c.subscriber_slots} * sizeof(SubscriberStats);
  t.workers = at;
  at += std::uint64_t{c.worker_slots} * sizeof(WorkerStatsSlot);
  t.config = at;
  at += kStatsConfigBytes;
  t.end = align_up(at, kPage);
  return t;
}

bool table_fits(std::uint64_t offset, std::uint64_t count, std::uint64_t stride,
                std::uint64_t size) {
  return offset >= sizeof(StatsHeader) && offset <= size && count <= (size - offset) / stride &&
         offset % kCacheLine == 0;
}

}  // namespace

std::uint64_t StatsRegion::region_bytes(const StatsConfig& cfg) noexcept {
  return tables_for(cfg).end;
}

StatsRegion StatsRegion::format(std::byte* region, std::uint64_t size, const StatsConfig& cfg,
                                std::int32_t daemon_pid, std::string_view daemon_version,
                                std::uint64_t realtime_ns, std::uint64_t monotonic_ns) noexcept {
  Tables t = tables_for(cfg);
  auto* h = reinterpret_cast<StatsHeader*>(region);
  h->magic = kStatsMagic;
  h->version = kStatsVersion;
  h->daemon_counter_count = 0;
  h->process_slots = cfg.process_slots;
  h->topic_slots = cfg.topic_slots;
  h->publisher_slots = cfg.publisher_slots;
  h->subscriber_slots = cfg.subscriber_slots;
  h->worker_slots = cfg.worker_slots;
  h->daemon_counters_offset = t.counters;
  h->processes_offset = t.processes;
  h->topics_offset = t.topics;
  h->publishers_offset = t.publishers;
  h->subscribers_offset = t.subscribers;
  h->workers_offset = t.workers;
  h->config_offset = t.config;
  h->daemon_pid = daemon_pid;
  h->config_len = 0;
  h->started_realtime_ns = realtime_ns;
  h->started_monotonic_ns = monotonic_ns;
  h->topology_generation = 0;
  set_text(h->daemon_version, daemon_version);
  StatsRegion r;
  r.base_ = region;
  r.size_ = size;
  return r;
}

Expected<StatsRegion, std::string> StatsRegion::attach(std::byte* region, std::uint64_t size) {
  if (size < sizeof(StatsHeader))
    return Unexpected(std::string("stats region smaller than its header"));
  const auto& h = *reinterpret_cast<const StatsHeader*>(region);
  if (h.magic != kStatsMagic) return Unexpected(std::string("stats region has a bad magic"));
  if (h.version != kStatsVersion) {
    return Unexpected("stats region has version " + std::to_string(h.version) +
                      ", this build reads " + std::to_string(kStatsVersion));
  }
  if (h.daemon_counter_count > kMaxDaemonCounters ||
      !table_fits(h.daemon_counters_offset, kMaxDaemonCounters, 8, size) ||
      !table_fits(h.processes_offset, h.process_slots, sizeof(ProcessStats), size) ||
      !table_fits(h.topics_offset, h.topic_slots, sizeof(TopicStats), size) ||
      !table_fits(h.publishers_offset, h.publisher_slots, sizeof(PublisherStats), size) ||
      !table_fits(h.subscribers_offset, h.subscriber_slots, sizeof(SubscriberStats), size) ||
      !table_fits(h.workers_offset, h.worker_slots, sizeof(WorkerStatsSlot), size) ||
      !table_fits(h.config_offset, kStatsConfigBytes, 1, size)) {
    return Unexpected(std::string("stats region tables lie outside its ") + std::to_string(size) +
                      " bytes");
  }
  StatsRegion r;
  r.base_ = region;
  r.size_ = size;
  return r;
}

std::uint64_t* StatsRegion::daemon_counters() const noexcept {
  return reinterpret_cast<std::uint64_t*>(base_ + header().daemon_counters_offset);
}
ProcessStats* StatsRegion::process(std::uint32_t i) const noexcept {
  return table<ProcessStats>(header().processes_offset, header().process_slots, i);
}
TopicStats* StatsRegion::topic(std::uint32_t i) const noexcept {
  return table<TopicStats>(header().topics_offset, header().topic_slots, i);
}
PublisherStats* StatsRegion::publisher(std::uint32_t i) const noexcept {
  return table<PublisherStats>(header().publishers_offset, header().publisher_slots, i);
}
SubscriberStats* StatsRegion::subscriber(std::uint32_t i) const noexcept {
  return table<SubscriberStats>(header().subscribers_offset, header().subscriber_slots, i);
}
WorkerStatsSlot* StatsRegion::worker(std::uint32_t i) const noexcept {
  return table<WorkerStatsSlot>(header().workers_offset, header().worker_slots, i);
}

std::string_view StatsRegion::config_text() const noexcept {
  // acquire: pairs with set_config_text's release; the text before it is complete.
  std::uint32_t n = atomic_load(header().config_len, std::memory_order_acquire);
  n = std::min(n, kStatsConfigBytes);
  return {reinterpret_cast<const char*>(base_ + header().config_offset), n};
}

void StatsRegion::set_daemon_counter_count(std::uint32_t n) noexcept {
  // relaxed: written once before the daemon accepts its first connection.
  atomic_store(header().daemon_counter_count, std::min(n, kMaxDaemonCounters),
               std::memory_order_relaxed);
}

void StatsRegion::set_config_text(std::string_view toml) noexcept {
  std::size_t n = std::min<std::size_t>(toml.size(), kStatsConfigBytes);
  std::memcpy(base_ + header().config_offset, toml.data(), n);
  // release: publishes the text bytes above to a reader that loads config_len with acquire.
  atomic_store(header().config_len, static_cast<std::uint32_t>(n), std::memory_order_release);
}

void StatsRegion::bump_generation() noexcept {
  // release: tools that see the new generation (acquire) see the descriptors changed before it.
  atomic_fetch_add(header().topology_generation, std::uint64_t{1}, std::memory_order_release);
}

}  // namespace zcp::shm
