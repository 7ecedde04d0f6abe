// HealthWatch: the warnings a person must act on, found on the reactor's heartbeat tick and
// rate-limited. Nothing here runs per message: it reads the counters the
// router already keeps (a subscriber's `dropped` word, a pool class's free count) once a tick.
//  - A pool class that falls below kPoolLowFraction free is warned about once; its recovery
//    above the mark is logged at info, and a later fall warns again.
//  - A subscriber whose dropped count grew is warned about at most once per kDropWarnEvery;
//    the warning says how many it dropped since the last one.
// Reactor thread only; steppable with a fake clock like the ControlPlane.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "daemon/counters.hpp"
#include "daemon/registry.hpp"
#include "shm/chunk_pool.hpp"

namespace zcp::daemon {

// Below this fraction of free chunks a pool class is "near exhaustion". Too low: the warning
// comes when loans already fail; too high: a busy but healthy system warns all day.
inline constexpr double kPoolLowFraction = 0.10;
// Least time between two drop warnings about one subscriber. Too low floods the log of a
// subscriber that is slow for good; too high hides that a fixed one started dropping again.
inline constexpr std::chrono::seconds kDropWarnEvery{10};

class HealthWatch {
 public:
  // One check: `now` is the tick's time. Counts each warning in `counters`.
  void check(const Registry& registry, const shm::ChunkPool& pool,
             std::chrono::steady_clock::time_point now, Counters& counters);

  bool pool_low(std::size_t cls) const noexcept { return cls < low_.size() && low_[cls]; }

 private:
  struct DropState {
    std::uint64_t seen = 0;    // dropped count at the last check
    std::uint64_t warned = 0;  // dropped count at the last warning
    std::chrono::steady_clock::time_point last_warn{};
    bool ever_warned = false;
    std::uint64_t tick = 0;  // last check that saw the subscriber (stale entries go)
  };

  void check_pools(const shm::ChunkPool& pool, Counters& counters);
  void check_drops(const Registry& registry, std::chrono::steady_clock::time_point now,
                   Counters& counters);

  std::vector<bool> low_;  // per pool class: below the mark at the last check
  std::unordered_map<std::uint32_t, DropState> drops_;  // by subscriber id
  std::uint64_t tick_ = 0;
};

}  // namespace zcp::daemon
