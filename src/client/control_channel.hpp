// The client's end of the control socket: request/response with file descriptors, and one
// background thread that reads every datagram from the daemon, runs a periodic tick (the
// heartbeat), and notices the daemon's departure at once (hang-up is a poll event, so a
// dead daemon is seen in well under 100 ms).
//
// This is the control path: a mutex and a condition variable are fine here. Nothing on
// the data path goes through this class.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zcp/error.hpp>

#include "common/sys.hpp"
#include "protocol/control_generated.h"

namespace zcp::client {

// One reply: its frame bytes (kept so the FlatBuffers view stays valid) and its fds.
struct Reply {
  std::vector<std::uint8_t> frame;
  std::vector<sys::UniqueFd> fds;
  const fb::Response* response = nullptr;  // points into frame
};

// poll()'s timeout until `deadline`, in whole milliseconds rounded up. Truncating instead
// turns the last millisecond before every heartbeat tick into a poll(0) busy loop (about 1% of
// a CPU in every idle client). 0 once the deadline has passed.
inline int poll_timeout_ms(std::chrono::steady_clock::time_point deadline,
                           std::chrono::steady_clock::time_point now) noexcept {
  if (deadline <= now) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count());
}

// How long a request spins for its reply before sleeping. A registration round trip takes
// tens of µs here; longer only burns CPU when the daemon is slow.
inline constexpr std::chrono::microseconds kReplySpin{50};

class ControlChannel {
 public:
  // Connects to the daemon's socket; the message of a failure names the instance and what
  // to do about it.
  static Result<std::unique_ptr<ControlChannel>> connect(const std::string& socket_path,
                                                         const std::string& instance);
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  // Starts the reader thread; `tick` runs on it every `period` (and may call
  // mark_disconnected). Call once.
  void start(std::function<void()> tick, std::chrono::milliseconds period);
  // Stops and joins the reader thread (its tick no longer runs once this returns). Idempotent;
  // the destructor calls it too.
  void stop();

  std::uint64_t next_request_id() noexcept;
  // Sends one request frame and waits for the reply with the same request_id. A reply whose
  // code is not Ok is still a Reply: the caller maps it to an Error with context.
  Result<Reply> call(std::uint64_t request_id, const std::vector<std::uint8_t>& frame,
                     std::chrono::milliseconds timeout);

  bool connected() const noexcept { return !down(); }
  // True once the connection ended. One acquire load, no lock: the data path (loan, publish,
  // wait) checks it on every call.
  bool down() const noexcept {
    // acquire: pairs with the release store in mark_disconnected(); a caller that sees true
    // and then locks mu_ finds the reason set (it is written before the flag).
    return down_.load(std::memory_order_acquire);
  }
  std::optional<Error> disconnect_reason() const;
  // Ends the connection with a reason; pending and future calls fail with it, then runs the
  // disconnect hook (outside the lock).
  void mark_disconnected(Error why);
  // Runs once, on whichever thread notices the end of the connection. Set before start().
  void set_disconnect_hook(std::function<void()> hook) { on_disconnect_ = std::move(hook); }
  // Runs on the reader thread for each unsolicited notice (request_id 0) other than
  // DaemonShutdown, with the descriptors it carried. Set before start().
  using NoticeHook =
      std::function<void(const fb::Response& notice, std::vector<sys::UniqueFd>& fds)>;
  void set_notice_hook(NoticeHook hook) { on_notice_ = std::move(hook); }

 private:
  ControlChannel(sys::UniqueFd sock, sys::UniqueFd wake, std::string instance);
  void reader_loop(std::function<void()> tick, std::chrono::milliseconds period);
  void on_datagram(std::vector<std::uint8_t> bytes, std::size_t true_len,
                   std::vector<sys::UniqueFd> fds, bool ctrunc);

  sys::UniqueFd sock_;
  sys::UniqueFd wake_;  // eventfd: tells the reader thread to stop
  std::string instance_;
  std::thread reader_;

  struct Pending {
    bool done = false;
    Result<Reply> reply = Unexpected(Error{});
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::uint64_t, Pending> pending_;
  std::optional<Error> disconnected_;
  // Replies (and disconnects) recorded so far. A caller spins on it briefly before sleeping
  // on cv_, which saves the reader thread's wake-up of the caller, one sleep/wake hop of tens
  // of µs on a VM, when the daemon answers quickly.
  std::atomic<std::uint64_t> completions_{0};
  std::atomic<bool> down_{false};
  std::function<void()> on_disconnect_;
  NoticeHook on_notice_;
  std::uint64_t next_id_ = 1;
  std::mutex send_mu_;
};

}  // namespace zcp::client
