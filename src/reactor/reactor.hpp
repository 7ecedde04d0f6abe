// Reactor: the diroute control plane's event loop. One thread, one io_uring (see the
// contract in uring.hpp), and everything it watches:
//   - Unix SOCK_SEQPACKET servers (listen(): accept, recv, send, close; uds_server.hpp),
//   - a periodic timerfd (add_timer), a signalfd (add_signals), an eventfd other threads
//     write to wake it (add_wakeup), and pidfds of client processes (watch_process).
//
// Registrations are owned by the reactor: the owner keeps a WatchId (or a UdsServer&) and
// cancels through it. An object leaves only after its last completion, so the kernel never
// writes into freed memory. Callbacks run inside run_once(), on the reactor thread; the
// destructor cancels everything, waits (bounded) for the kernel to let go, and calls no
// callback.
//
// Steppable: run_once(0) processes what is ready and returns the number of completions and
// posted tasks handled, so tests and the daemon drive it without threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/types.h>

#include "common/sys.hpp"
#include "reactor/uds_types.hpp"
#include "reactor/uring.hpp"

namespace zcp::reactor {

class UdsServer;
class Watch;

// A registration's handle. Ids are never reused, so a stale one is simply unknown.
struct WatchId {
  std::uint64_t value = 0;
  bool valid() const noexcept { return value != 0; }
  friend bool operator==(WatchId, WatchId) = default;
};

using MonoTime = std::chrono::steady_clock::time_point;  // CLOCK_MONOTONIC
using TimerCallback = std::function<void(std::uint64_t expirations, MonoTime now)>;
using SignalCallback = std::function<void(int signo)>;
using WakeCallback = std::function<void(std::uint64_t count)>;
using ExitCallback = std::function<void(pid_t pid)>;

// The thread-safe side of add_wakeup: any thread may call wake(). Each copy keeps the
// eventfd open, so a late wake() after the watch is cancelled is harmless.
class Waker {
 public:
  Waker() = default;
  // Adds 1 to the eventfd counter. Returns false only if the write failed (never expected).
  // The eventfd is in blocking mode (io_uring reads it); the write could block only if the
  // counter reached 2^64-2, which the reactor's reads prevent.
  bool wake() const noexcept;
  // The eventfd itself, for code that writes it without this object (router workers).
  int fd() const noexcept { return fd_ ? fd_->get() : -1; }

 private:
  friend class Reactor;
  explicit Waker(std::shared_ptr<const sys::UniqueFd> fd) : fd_(std::move(fd)) {}
  std::shared_ptr<const sys::UniqueFd> fd_;
};

struct Wakeup {
  WatchId id;
  Waker waker;
};

// How long the destructor waits for in-flight operations to finish after cancelling them.
// Too low: with a slow kernel cancel, memory is leaked on purpose rather than freed under
// the kernel's feet; too high: shutdown can hang that long on a wedged request.
inline constexpr std::chrono::milliseconds kDefaultDrainTimeout{2000};

struct ReactorOptions {
  unsigned sq_entries = kDefaultSqEntries;
  unsigned cq_entries = kDefaultCqEntries;
  std::chrono::milliseconds drain_timeout = kDefaultDrainTimeout;
  // The best ring mode to try; setup falls back from there (see Ring::create).
  RingMode best_mode = RingMode::kSingleIssuerDeferTaskrun;
  // run(): after a turn that handled something, keep polling the ring without sleeping for
  // this long before blocking in io_uring_enter. A request that follows within the window
  // (a client registering its endpoints one after the other) skips the reactor's wake-up,
  // tens of µs on a VM. Too low: each such request pays that wake-up; too high: the thread
  // spins (one io_uring_enter per poll) that long after every event. 0: always block.
  std::chrono::microseconds busy_poll{0};
};

class Reactor {
 public:
  // Creates the ring on the calling thread, which becomes the reactor thread. Fails with a
  // message naming cause and fix when io_uring is blocked (seccomp) or lacks a feature.
  static sys::Expected<std::unique_ptr<Reactor>> create(const ReactorOptions& options = {});
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Submits what is queued, waits up to `timeout` (nullopt: until something happens; 0: not
  // at all) and runs the completions and posted tasks. Returns how many it handled.
  sys::Expected<unsigned> run_once(std::optional<std::chrono::nanoseconds> timeout);
  // run_once until stop(). stop() before run() makes run() return at once.
  sys::Expected<void> run();
  // Makes run() return after the current iteration. Reactor thread only (from a
  // callback: a signal, or a Waker whose callback calls stop()).
  void stop() noexcept { stop_ = true; }

  // Runs `task` on the reactor thread after the completions of the current run_once.
  void post(std::function<void()> task);

  // Binds a SOCK_SEQPACKET listener at `path` (creating its directory with mode 0770; the
  // socket gets 0660) and accepts connections, reporting them to `handler`, which must
  // outlive every later run_once. The path must be free: check with probe_socket() first.
  // The server lives as long as the reactor; its stop_listening() unlinks the socket.
  sys::Expected<UdsServer*> listen(const std::string& path, ConnectionHandler& handler,
                                   const ServerOptions& options = {});

  // A timerfd (CLOCK_MONOTONIC) with a fixed period, read through io_uring. `on_tick` gets
  // the expirations since the last read (> 1 if ticks were missed) and the time now.
  sys::Expected<WatchId> add_timer(std::chrono::nanoseconds period, TimerCallback on_tick);
  // A signalfd for `signals`. Blocks them in the calling thread first: block them in main()
  // before starting any thread (block_signals()), or another thread may take them.
  sys::Expected<WatchId> add_signals(std::span<const int> signals, SignalCallback on_signal);
  sys::Expected<WatchId> add_signals(std::initializer_list<int> signals, SignalCallback on_signal) {
    return add_signals(std::span<const int>(signals.begin(), signals.size()), std::move(on_signal));
  }
  // An eventfd that other threads write through the returned Waker.
  sys::Expected<Wakeup> add_wakeup(WakeCallback on_wake);
  // pidfd_open(pid) + POLL_ADD: `on_exit` runs once when the process exits; the watch then
  // ends by itself. ESRCH: the process is already gone.
  sys::Expected<WatchId> watch_process(pid_t pid, ExitCallback on_exit);
  // Stops a watch: no callback runs for it after this returns. False if unknown (already
  // cancelled or finished).
  bool cancel(WatchId id) noexcept;

  std::size_t watch_count() const noexcept { return watches_.size(); }
  RingMode ring_mode() const noexcept { return ring_->mode(); }

  // For the objects in this folder.
  Ring& ring() noexcept { return *ring_; }
  bool shutting_down() const noexcept { return shutting_down_; }
  bool on_reactor_thread() const noexcept { return std::this_thread::get_id() == thread_; }
  void retire(Watch* watch) noexcept;

 private:
  explicit Reactor(std::unique_ptr<Ring> ring, const ReactorOptions& options);
  sys::Expected<WatchId> adopt(sys::Expected<std::unique_ptr<Watch>> watch);
  unsigned run_posted();

  std::unique_ptr<Ring> ring_;
  ReactorOptions options_;
  std::thread::id thread_;  // the creating thread: the only one allowed to drive the ring
  bool stop_ = false;
  bool shutting_down_ = false;
  std::uint64_t next_watch_id_ = 1;
  std::uint16_t next_buffer_group_ = 0;
  std::vector<std::function<void()>> posted_;
  std::vector<std::unique_ptr<UdsServer>> servers_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Watch>> watches_;
};

// Blocks `signals` in the calling thread (threads created later inherit the mask). Call it
// first thing in main() for SIGINT and SIGTERM so only the signalfd sees them.
sys::Expected<void> block_signals(std::span<const int> signals);
inline sys::Expected<void> block_signals(std::initializer_list<int> signals) {
  return block_signals(std::span<const int>(signals.begin(), signals.size()));
}

}  // namespace zcp::reactor
