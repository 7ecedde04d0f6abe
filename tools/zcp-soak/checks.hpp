// What zcp-soak checks once every client is gone: exact chunk accounting (every pool class
// back to free == total) and a daemon that still serves a new client end to end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "system.hpp"

namespace zcp::soak {

struct PoolFinal {
  std::uint32_t chunk_size = 0;
  std::uint32_t total = 0;
  std::uint32_t free = 0;
  std::uint32_t min_free = 0;
};

// Waits (up to `timeout_ms`) until every pool class of the instance's segment is full again,
// reading the segment read-only. Returns the final state of every class; the caller compares.
perf::Status<std::vector<PoolFinal>> await_pools_full(const std::string& instance, int timeout_ms);

// A fresh client registers, publishes `n` messages and a fresh subscriber takes all of them.
perf::Status<void> probe_daemon(const std::string& instance, std::uint32_t n);

}  // namespace zcp::soak
