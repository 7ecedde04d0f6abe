// SubscriberPort: the process-local side of one subscriber (docs: src/shm/ports.hpp).
//
//   queue         MPMC<MessageHeader>  router → us   we pop (take); the router may also pop
//                                                    (drop_oldest evictions)
//   release ring  SPSC<ChunkRef>       us → router   we produce: chunks of destroyed Samples
//
// Its capacity is queue capacity + max_held, so an honest router never lets it fill; should
// it be full anyway, releases wait in a local list and every later take() retries them.
//
// Ownership: Subscriber<void> owns the port; every live Sample points at it. When the
// Subscriber goes first, the port is orphaned and destroys itself with its last Sample.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include <zcp/sample.hpp>
#include <zcp/subscriber.hpp>

#include "client/runtime_impl.hpp"
#include "shm/chunk_pool.hpp"
#include "shm/layout.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/spsc_ring.hpp"

namespace zcp::detail {

class SubscriberPort {
 public:
  // wait() behind a claimed but unpublished queue position naps this long at a time. Too
  // short burns CPU while a publisher is stopped mid-push; too long delays the message of a
  // publisher that was merely preempted there.
  static constexpr std::chrono::nanoseconds kPendingClaimNap = std::chrono::milliseconds(1);

  static Result<SubscriberPort*> open(Runtime& runtime, const Topic& topic,
                                      const SubscriberOptions& options);

  enum class TakeStatus : std::uint8_t { kTaken, kEmpty, kTooManyHeld };
  Sample<> take(TakeStatus& status) noexcept;
  // Errors of the noexcept calls, built out of line (cold_error.hpp).
  Error too_many_held() const noexcept;
  Error disconnected(const char* what) const noexcept;
  bool has_data() const noexcept { return !queue_.empty(); }
  bool wait(std::chrono::nanoseconds timeout) noexcept;
  bool prepare_wait() noexcept;
  void finish_wait(bool drain = true) noexcept;
  void drop_sample(const ChunkToken& token) noexcept;
  void close() noexcept;

  int native_handle() const noexcept { return eventfd_.get(); }
  std::uint64_t dropped() const noexcept;
  std::uint64_t rejected() const noexcept { return rejected_; }
  // Messages lost to daemon restarts (queued for us, not taken, when the daemon went away).
  std::uint64_t lost() const noexcept { return lost_; }
  std::uint64_t rebinds() const noexcept { return rebinds_; }
  std::uint32_t held() const noexcept { return held_; }
  std::uint32_t max_held() const noexcept { return max_held_; }
  std::uint32_t queue_capacity() const noexcept { return queue_.capacity(); }
  std::uint32_t id() const noexcept { return id_; }
  const Topic& topic() const noexcept { return topic_; }
  bool connected() const noexcept { return !rt_->disconnected(); }

 private:
  SubscriberPort() = default;
  ~SubscriberPort();  // sends DestroySubscriber (best effort)
  SubscriberPort(const SubscriberPort&) = delete;
  SubscriberPort& operator=(const SubscriberPort&) = delete;

  // Creates the daemon-side subscriber on `s` and attaches its queue (open, and after a
  // reconnect: the eventfd keeps its number, see bind()). On failure the port is unchanged.
  Result<void> bind(Session& s);
  // One acquire load; rebinds when the runtime reconnected. False while no daemon serves it.
  bool ensure_bound() noexcept;
  bool flush_releases() noexcept;
  void release(const shm::ChunkRef& ref) noexcept;

  RuntimeImpl* rt_ = nullptr;
  Session* session_ = nullptr;  // the daemon connection the queue below belongs to
  SubscriberOptions options_;   // as asked: a reconnect asks the new daemon the same
  Topic topic_;
  std::uint32_t id_ = 0;
  std::uint32_t max_held_ = 0;

  shm::ChunkPool pool_;
  shm::MpmcRing<shm::MessageHeader> queue_;
  // queue_'s header for dropped(), which may run on another thread (the seed 004 API's
  // get_receive_stats()) while bind() replaces queue_ after a reconnect.
  std::atomic<const shm::RingHeader*> counts_header_{nullptr};
  shm::SpscProducer<shm::ChunkRef> release_;
  sys::UniqueFd eventfd_;
  // The eventfd may hold the count of a wake-up that wait() left for the next prepare_wait()
  // (or finish_wait()) to clear.
  bool eventfd_dirty_ = false;

  std::uint32_t held_ = 0;      // live Sample objects
  std::uint64_t rejected_ = 0;  // queue entries naming no valid chunk
  std::uint64_t lost_ = 0;      // see lost()
  std::uint64_t rebinds_ = 0;   // see Subscriber::rebinds()
  // Releases that found the release ring full (see above). Reserved to max_held + a margin.
  std::vector<shm::ChunkRef> pending_releases_;
  bool orphaned_ = false;
};

}  // namespace zcp::detail
