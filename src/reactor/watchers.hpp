// The concrete watches behind Reactor::add_timer / add_signals / add_wakeup / watch_process.
// Each owns its fd; the fds are opened in blocking mode on purpose: io_uring turns a read on
// an O_NONBLOCK file into an immediate -EAGAIN instead of waiting for readiness.
#pragma once

#include <chrono>
#include <memory>
#include <span>

#include <sys/types.h>

#include "reactor/reactor.hpp"
#include "reactor/watch.hpp"

namespace zcp::reactor {

using WatchPtr = std::unique_ptr<Watch>;

sys::Expected<WatchPtr> make_timer_watch(Reactor& reactor, WatchId id,
                                         std::chrono::nanoseconds period, TimerCallback cb);
sys::Expected<WatchPtr> make_signal_watch(Reactor& reactor, WatchId id,
                                          std::span<const int> signals, SignalCallback cb);
// `fd` is the eventfd shared with the Wakers (make_eventfd).
sys::Expected<WatchPtr> make_wakeup_watch(Reactor& reactor, WatchId id,
                                          std::shared_ptr<const sys::UniqueFd> fd, WakeCallback cb);
sys::Expected<WatchPtr> make_process_watch(Reactor& reactor, WatchId id, pid_t pid,
                                           ExitCallback cb);

sys::Expected<std::shared_ptr<const sys::UniqueFd>> make_eventfd();

// CLOCK_MONOTONIC now, as the steady_clock time point (libstdc++'s steady_clock is
// CLOCK_MONOTONIC), so tests can hand the same handlers a fake time.
MonoTime monotonic_now() noexcept;

}  // namespace zcp::reactor
