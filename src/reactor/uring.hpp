// The io_uring backend of the diroute control plane: one ring, one thread.
//
// CONTRACT (read this before adding a caller)
//  - One thread drives the ring: the thread that created it. Every method of Ring, and of
//    everything built on it (Reactor, UdsServer, the watchers), is called on that thread
//    only. With IORING_SETUP_SINGLE_ISSUER the kernel enforces this (-EEXIST otherwise).
//    The one exception is Waker::wake(), which other threads call (see watchers.hpp).
//  - No call on the ring thread blocks, except the single wait point in
//    Ring::submit_and_wait(), which sleeps until a completion arrives or the timeout ends.
//    Sockets, timerfds, signalfds, eventfds and pidfds are read and written only through
//    io_uring; the synchronous calls the reactor makes on them (getsockopt, shutdown,
//    close, fcntl(F_DUPFD_CLOEXEC)) never wait.
//  - Each submission carries a Completion* as user_data. When its CQE arrives,
//    complete(res, flags) runs on the ring thread. A multishot submission completes many
//    times; its last CQE is the one without IORING_CQE_F_MORE. The object must stay alive
//    until that last CQE: objects are retired from inside their own complete(), never
//    from outside while a submission is in flight.
//  - user_data 0 means "nobody cares" (cancel requests): its CQE is dropped.
//  - Every system call and liburing call is wrapped once, here or in its owner, into a
//    {value, err} result; errno is read only in sys::call.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <liburing.h>

#include "common/sys.hpp"

namespace zcp::reactor {

// One io_uring completion target. user_data of the SQE points at it.
class Completion {
 public:
  // res: the CQE result (>= 0 or -errno). flags: IORING_CQE_F_* (MORE, BUFFER...).
  virtual void complete(int res, unsigned flags) noexcept = 0;

 protected:
  Completion() = default;
  Completion(const Completion&) = default;
  Completion& operator=(const Completion&) = default;
  ~Completion() = default;
};

// A Completion that forwards to a member function: lets one object own several distinct
// in-flight operations (a connection has a recv and a send), each with its own user_data.
template <class Owner, void (Owner::*Fn)(int, unsigned) noexcept>
class MemberCompletion final : public Completion {
 public:
  explicit MemberCompletion(Owner* owner) noexcept : owner_(owner) {}
  void complete(int res, unsigned flags) noexcept override { (owner_->*Fn)(res, flags); }

 private:
  Owner* owner_;
};

// Which task-running mode the ring got (see Ring::create).
enum class RingMode { kSingleIssuerDeferTaskrun, kCoopTaskrun, kPlain };
const char* to_string(RingMode mode) noexcept;

// Submission queue size. Too low: a busy tick fills the SQ and forces extra io_uring_enter
// calls mid-dispatch; too high: more locked ring memory for nothing on a control plane.
inline constexpr unsigned kDefaultSqEntries = 256;
// Completion queue size. Too low: bursts (thousands of clients connecting or sending at once)
// overflow the CQ into the kernel's slower overflow list; too high: ring memory.
inline constexpr unsigned kDefaultCqEntries = 4096;

// The message for io_uring_queue_init failing with EPERM/ENOSYS: names the likely cause
// (a seccomp filter such as Docker's default profile, or kernel.io_uring_disabled) and the fix.
std::string unavailable_message(int err);

class Ring {
 public:
  // Creates the ring, trying SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN|TASKRUN_FLAG,
  // then no flags. Then checks that every opcode the reactor uses is supported.
  // `best` skips the better modes (tests use it to cover the fallbacks).
  static sys::Expected<std::unique_ptr<Ring>> create(
      unsigned sq_entries = kDefaultSqEntries, unsigned cq_entries = kDefaultCqEntries,
      RingMode best = RingMode::kSingleIssuerDeferTaskrun);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  RingMode mode() const noexcept { return mode_; }
  io_uring* raw() noexcept { return &ring_; }

  // A fresh SQE whose user_data is `c` (nullptr: the CQE is dropped). Submits the queued
  // SQEs first when the SQ is full. nullptr only if even that fails. An SQE obtained with a
  // non-null completion counts as in flight until its final CQE (no F_MORE).
  io_uring_sqe* get_sqe(Completion* c) noexcept;
  // Queues an IORING_OP_ASYNC_CANCEL for the request whose user_data is `target`.
  // Its own CQE is dropped; the target's final CQE (-ECANCELED or its real result) follows.
  bool cancel(const Completion* target) noexcept;

  // Submits queued SQEs and waits until at least one CQE is ready or `timeout` passed
  // (nullopt: no limit; zero: do not wait). Timeouts and EINTR are not errors.
  sys::Expected<void> submit_and_wait(std::optional<std::chrono::nanoseconds> timeout) noexcept;
  // Submits queued SQEs without waiting.
  sys::Expected<void> submit() noexcept;
  // Runs complete() for every ready CQE, at most `max`. Returns how many were handled.
  unsigned dispatch(unsigned max = ~0U) noexcept;

  // The CQ's size: run_once handles at most this many CQEs per call, so a handler that keeps
  // producing immediate completions cannot keep it from returning.
  unsigned cq_entries() const noexcept { return ring_.cq.ring_entries; }
  // Submissions whose final CQE has not arrived yet.
  std::uint64_t in_flight() const noexcept { return in_flight_; }

 private:
  Ring() = default;

  io_uring ring_{};
  bool initialized_ = false;
  RingMode mode_ = RingMode::kPlain;
  std::uint64_t in_flight_ = 0;
};

}  // namespace zcp::reactor
