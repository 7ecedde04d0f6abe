// The two clocks the shared-memory layouts store, in nanoseconds. Both read the vDSO: no
// system call.
#pragma once

#include <cstdint>

#include <time.h>

namespace zcp {

// CLOCK_MONOTONIC: heartbeats, uptimes, latency timestamps. Comparable across processes on
// one host.
inline std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // cannot fail with a valid clock id and pointer
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// CLOCK_REALTIME: wall-clock instants shown to people (start and registration times).
inline std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace zcp
