// Process plumbing for zcp-perf: signals, CPU pins, shared memory that survives fork(),
// forked children that never return into main(), and waiting for them with a deadline.
//
// Every scenario forks its processes after setup and before any Runtime exists in the parent
// (a Runtime owns a thread, and fork() copies only the calling one), so each child connects
// its own Runtime.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include <sys/types.h>

#include <zcp/expected.hpp>

namespace zcp::perf {

template <class T>
using Status = zcp::Expected<T, std::string>;
using Failure = zcp::Unexpected<std::string>;

// ---- signals ----------------------------------------------------------------------------
// SIGINT/SIGTERM/SIGHUP set a flag (no SA_RESTART, so blocking calls return EINTR); every
// loop of every process checks it. Children inherit the handlers.
void install_signal_handlers();
bool stop_requested() noexcept;

// ---- time and load ----------------------------------------------------------------------
inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}
// The three load averages of /proc/loadavg, "1.59 1.71 1.85" (what `uptime` prints).
std::string load_average();

// ---- CPUs -------------------------------------------------------------------------------
// The CPUs this process may run on, e.g. "0-1" style as a list "0,1".
std::string allowed_cpus();
// Checks that `cpu` (-1: no pin) is one this process may use; the message names the option.
Status<void> check_cpu(const char* option, int cpu);
// Pins the calling thread (and the threads it creates later) to `cpu`; -1 does nothing.
Status<void> pin_to_cpu(int cpu);

// ---- shared memory ----------------------------------------------------------------------
// Anonymous MAP_SHARED memory holding one T, constructed in place; parent and forked
// children see the same object. T's atomics must be lock-free (they are, for the 32/64-bit
// ones used here), so they work across processes.
template <class T>
class Shared {
 public:
  static Status<Shared> create();
  Shared(Shared&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Shared& operator=(Shared&&) = delete;
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  ~Shared();
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }

 private:
  explicit Shared(T* p) noexcept : p_(p) {}
  T* p_ = nullptr;
};

void* map_shared(std::size_t bytes);  // nullptr on failure
void unmap_shared(void* p, std::size_t bytes) noexcept;

template <class T>
Status<Shared<T>> Shared<T>::create() {
  void* p = map_shared(sizeof(T));
  if (p == nullptr) return Failure("mmap of " + std::to_string(sizeof(T)) + " shared bytes failed");
  return Shared(new (p) T());
}
template <class T>
Shared<T>::~Shared() {
  if (p_ != nullptr) {
    p_->~T();
    unmap_shared(p_, sizeof(T));
  }
}

// A short error text a child leaves for the parent (fixed size: it lives in shared memory).
struct ErrorSlot {
  std::atomic<std::uint32_t> set{0};
  char text[480] = {};
  // The first error wins; later ones (usually consequences) are dropped.
  void put(const std::string& what) noexcept;
};

// ---- children ---------------------------------------------------------------------------
// Forks a child that runs fn() and _exits with its result: it never returns into main(), so
// the parent's destructors (the private daemon's guard above all) never run twice. The child
// dies with the parent (PR_SET_PDEATHSIG SIGKILL). An exception in fn is reported on stderr
// and exits 1.
Status<pid_t> spawn_child(const std::string& role, std::function<int()> fn);

struct ChildExit {
  pid_t pid;
  int code;  // exit status, 128+signal if killed by one, -1 if it had to be killed
};
// Waits until every child exited. At `deadline`, or when a stop is requested, the remaining
// children get SIGTERM and, 2 s later, SIGKILL. Returns each child's exit, in `pids` order.
// Waits on pidfds: no periodic wake-ups disturb the measurement.
std::vector<ChildExit> wait_children(const std::vector<pid_t>& pids,
                                     std::chrono::steady_clock::time_point deadline);
// Describes the children that failed ("pong (pid 123) exited with 1"), or "" if none did.
std::string describe_failures(const std::vector<ChildExit>& exits,
                              const std::vector<std::string>& roles);

// Polls `ready()` every 100 us until it is true, a stop is requested, `abort()` is true, or
// the deadline passes. Used during setup only (never inside a measurement).
bool wait_until(
    const std::function<bool()>& ready, std::chrono::steady_clock::time_point deadline,
    const std::function<bool()>& abort = [] { return false; });

}  // namespace zcp::perf
