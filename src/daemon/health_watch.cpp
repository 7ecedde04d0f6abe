#include "daemon/health_watch.hpp"

#include <spdlog/spdlog.h>

#include "shm/stats.hpp"

namespace zcp::daemon {

void HealthWatch::check(const Registry& registry, const shm::ChunkPool& pool,
                        std::chrono::steady_clock::time_point now, Counters& counters) {
  ++tick_;
  check_pools(pool, counters);
  check_drops(registry, now, counters);
}

void HealthWatch::check_pools(const shm::ChunkPool& pool, Counters& counters) {
  low_.resize(pool.class_count(), false);
  for (std::size_t c = 0; c < pool.class_count(); ++c) {
    const shm::PoolClassStats s = pool.stats(c);
    if (s.total == 0) continue;
    const bool low = static_cast<double>(s.free) < kPoolLowFraction * static_cast<double>(s.total);
    if (low && !low_[c]) {
      counters.add(DaemonCounter::kPoolLowWarnings);
      spdlog::warn(
          "pool class {} B is near exhaustion: {} of {} chunks free (lowest {}); loans of this "
          "size will fail soon: subscribers hold too many samples, or add chunks (diroute --pool)",
          s.chunk_size, s.free, s.total, s.min_free);
    } else if (!low && low_[c]) {
      spdlog::info("pool class {} B recovered: {} of {} chunks free", s.chunk_size, s.free,
                   s.total);
    }
    low_[c] = low;
  }
}

void HealthWatch::check_drops(const Registry& registry, std::chrono::steady_clock::time_point now,
                              Counters& counters) {
  for (const auto& [id, rec] : registry.subscribers()) {
    // relaxed: a statistic the router workers bump; we only compare it with an older value.
    const std::uint64_t dropped = shm::read_counter(rec.port->stats->dropped);
    auto [it, fresh] = drops_.try_emplace(id);
    DropState& d = it->second;
    d.tick = tick_;
    if (fresh) {
      // A new subscriber (its counters start at zero): a drop before this first look counts.
      d.seen = 0;
      d.warned = 0;
    }
    const bool grew = dropped > d.seen;
    d.seen = dropped;
    if (!grew) continue;
    if (d.ever_warned && now - d.last_warn < kDropWarnEvery) continue;
    const ProcessRecord* owner = registry.process(rec.slot);
    counters.add(DaemonCounter::kDropWarnings);
    spdlog::warn(
        "subscriber {} of '{}' (pid {}) on {} dropped {} message(s){} ({} in all; policy {}, "
        "queue {}): it does not keep up; raise its queue_capacity or take faster",
        id, owner != nullptr ? owner->name : std::string("?"),
        owner != nullptr ? owner->peer.pid : 0, rec.topic.str(), dropped - d.warned,
        d.ever_warned
            ? fmt::format(
                  " in the last {} s",
                  std::chrono::duration_cast<std::chrono::seconds>(now - d.last_warn).count())
            : std::string(),
        dropped, to_string(rec.port->policy), rec.port->queue_desc.capacity);
    d.warned = dropped;
    d.last_warn = now;
    d.ever_warned = true;
  }
  // Forget subscribers that are gone.
  std::erase_if(drops_, [this](const auto& e) { return e.second.tick != tick_; });
}

}  // namespace zcp::daemon
