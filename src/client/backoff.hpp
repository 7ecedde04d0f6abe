// Bounded waiting on the data path: spin briefly, then yield, until a condition holds or a
// deadline passes. Used where the other side is the router, which usually answers within a
// microsecond or two but may be preempted (2-CPU hosts) — never a sleep, never unbounded.
#pragma once

#include <chrono>

#include <sched.h>

#include "shm/atomic.hpp"

namespace zcp::client {

// Polls before the first yield. Too low: we pay sched_yield (a system call, maybe a context
// switch) when the router would have answered within a microsecond; too high: we burn a
// CPU that the router itself may need (on 2 CPUs, the router and we may share one).
inline constexpr int kSpinsBeforeYield = 128;

// Calls ready() until it returns true or `timeout` passes; between polls calls idle() once
// per yield (a place to kick the router). Returns the last ready().
template <class Ready, class Idle>
bool spin_then_yield(std::chrono::nanoseconds timeout, Ready&& ready, Idle&& idle) noexcept {
  for (int i = 0; i < kSpinsBeforeYield; ++i) {
    if (ready()) return true;
    shm::cpu_relax();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return ready();
    idle();
    ::sched_yield();
  }
}

}  // namespace zcp::client
