// PublisherPort: the process-local side of one publisher (docs: src/shm/ports.hpp).
//
//   loan ring    SPSC<ChunkRef>       router → us   we consume: free chunks lent to us
//   publish ring SPSC<MessageHeader>  us → router   we produce: publications, and returns
//                                                   (flags kMsgReturn) of unpublished loans
//
// We never loan or release on the pool ourselves (the router owns allocation and reference
// counts); we only resolve references to pointers and write the chunks lent to us.
//
// Ownership: Publisher<void> owns the port; every live Loan points at it. When the Publisher
// goes first, the port is orphaned and destroys itself when its last Loan is dropped, so a
// Loan never points at freed memory and its chunk still goes back through the ring.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include <zcp/loan.hpp>
#include <zcp/publisher.hpp>

#include "client/runtime_impl.hpp"
#include "shm/chunk_pool.hpp"
#include "shm/layout.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/route_table.hpp"
#include "shm/spsc_ring.hpp"

namespace zcp::detail {

class PublisherPort {
 public:
  static Result<PublisherPort*> open(Runtime& runtime, const Topic& topic,
                                     const PublisherOptions& options);

  Result<Loan<>> loan(std::size_t size) noexcept;
  // On success the loan is disarmed (the chunk is the router's); on failure untouched.
  Result<void> publish(Loan<>& loan, std::chrono::nanoseconds timeout) noexcept;
  Result<void> publish_copy(std::span<const std::byte> bytes,
                            std::chrono::nanoseconds timeout) noexcept;
  void drop_loan(const ChunkToken& token) noexcept;
  Result<void> flush(std::chrono::nanoseconds timeout) noexcept;
  std::uint32_t subscriber_count() const noexcept;
  // The Publisher lets go: destroy now, or when the last Loan is dropped.
  void close() noexcept;

  std::uint32_t id() const noexcept { return id_; }
  const Topic& topic() const noexcept { return topic_; }
  std::uint32_t chunk_size() const noexcept { return chunk_size_; }
  std::uint32_t max_loans() const noexcept { return max_loans_; }
  std::uint32_t history_depth() const noexcept { return history_depth_; }
  std::uint32_t loans_outstanding() const noexcept { return loaned_; }
  std::uint64_t published() const noexcept { return sequence_; }
  // Publications and loans lost to daemon restarts (not yet routed, or loaned, when the
  // daemon went away).
  std::uint64_t lost() const noexcept { return lost_; }
  bool connected() const noexcept { return !rt_->disconnected(); }
  std::chrono::nanoseconds default_publish_timeout() const noexcept { return publish_timeout_; }

 private:
  PublisherPort() = default;
  ~PublisherPort();  // drains, sends DestroyPublisher (best effort)
  PublisherPort(const PublisherPort&) = delete;
  PublisherPort& operator=(const PublisherPort&) = delete;

  // Creates the daemon-side publisher on `s` and attaches its rings (open, and after a
  // reconnect). On failure the port is unchanged.
  Result<void> bind(Session& s);
  // The data path's check: one acquire load; rebinds when the runtime reconnected. An error
  // when no daemon serves the runtime (yet).
  Result<void> ensure_bound(const char* what) noexcept;
  // Pushes pending returns into the publish ring; true when none is left.
  bool flush_returns() noexcept;
  // Writes the worker's doorbell if it announced that it parks: the StoreLoad handshake of
  // the publish ring (an exchange; ring.hpp, form 1). For what needs the router now.
  void kick_router() noexcept;
  // The same, for work the router may do a little later (settling, refilling loans): looks at
  // the announcement with a plain load first, so it costs nothing while the worker is awake. A
  // kick missed this way (a park announced just now) costs at most the worker's park timeout;
  // a loan ring that runs dry meanwhile kicks with kick_router().
  void nudge_router() noexcept;
  // After a publish that the router does not need at once: nudges it when the loan ring is
  // down to the router's refill mark or the publish ring is half full.
  void nudge_if_due() noexcept;
  // "publisher <topic>: <what>", built only here (cold_error.hpp). `what`: a string literal,
  // or a callable returning the text when it needs formatting.
  template <class What>
  Error error(Errc code, What&& what) const noexcept;
  // Errc::kDisconnected for the call `what`, with the runtime's reason.
  Error disconnected(const char* what) const noexcept;
  // Direct delivery (shm/route_table.hpp). Reloads the route table into routes_; false (and
  // no slot left live) if no consistent copy could be read.
  bool refresh_routes() noexcept;
  // Pushes `m` into the listed subscriber queues and wakes those that sleep and whose eventfd
  // this process holds, filling the claimed publish-ring record `rec` (a DirectRecord: version,
  // slots pushed to, slots woken) before and during the pushes. True if that reached every
  // subscriber of the topic: the router need not hurry.
  bool deliver_direct(shm::MessageHeader& rec, const shm::MessageHeader& m) noexcept;
  // Takes the subscriber eventfds of the live route slots from the session's WakeFdTable.
  void refresh_wake_fds() noexcept;

  RuntimeImpl* rt_ = nullptr;
  Session* session_ = nullptr;  // the daemon connection the rings below belong to
  PublisherOptions options_;    // as asked: a reconnect asks the new daemon the same
  Topic topic_;
  std::uint32_t id_ = 0;
  std::uint32_t chunk_size_ = 0;
  std::uint32_t max_loans_ = 0;
  std::uint32_t history_depth_ = 0;
  std::uint16_t pool_class_ = 0;
  std::chrono::nanoseconds loan_wait_{0};
  std::chrono::nanoseconds publish_timeout_{0};

  shm::ChunkPool pool_;                         // a view: resolves references
  shm::SpscConsumer<shm::ChunkRef> loans_;      // router → us
  shm::SpscProducer<shm::MessageHeader> ring_;  // us → router
  // ring_'s header for subscriber_count(), which may run on another thread (the seed 004 API's
  // get_stats()) while bind() replaces ring_ after a reconnect. Old segments stay mapped, so an
  // older header is still safe to read.
  std::atomic<const shm::RingHeader*> counts_header_{nullptr};
  sys::UniqueFd doorbell_;

  std::uint64_t sequence_ = 0;  // last published
  std::uint32_t loaned_ = 0;    // live Loan objects
  std::uint64_t rejected_ = 0;  // invalid references found in the loan ring
  std::uint64_t lost_ = 0;      // see lost()
  // Returns that found the publish ring full; retried by every later operation. Capacity
  // max_loans, reserved at open: loaned_ + pending_returns_.size() ≤ max_loans always, so
  // push_back never allocates.
  std::vector<shm::ChunkRef> pending_returns_;
  bool orphaned_ = false;

  // Direct delivery: null for a routed topic.
  struct Route {
    std::uint32_t subscriber_id = 0;  // 0: the slot is empty (or its queue was unusable)
    std::uint64_t queue_offset = 0;
    shm::MpmcRing<shm::MessageHeader> queue;
    // Push directly only once the router has routed every record before this position: it
    // owes this subscriber earlier messages (a queue that was full, or a slot that is new).
    std::uint64_t defer_until = 0;
    client::WakeFdTable::Fd wake;  // its eventfd, if the daemon sent it to this process
  };
  const shm::RouteTable* table_ = nullptr;
  std::uint32_t route_version_ = 0;
  std::uint64_t route_live_ = 0;                       // slots with a usable queue
  std::uint64_t routed_cache_ = 0;                     // the router's `routed` as last read
  std::uint64_t wake_generation_ = ~std::uint64_t{0};  // of the WakeFdTable routes_ took fds from
  std::uint32_t wake_limit_ = 0;                       // RouteTable::wake_limit
  std::uint32_t queue_tag_ = 0;  // our producer tag in subscriber queues (MpmcRing::publisher_tag)
  bool wake_direct_ = false;     // live slots ≤ wake_limit_: we wake sleeping subscribers
  std::uint64_t refill_at_ = 0;  // the loan ring's refill mark as last read
  std::uint64_t nudged_at_ = 0;  // the refill mark we last nudged the router for
  std::array<Route, shm::kRouteSlots> routes_{};
};

}  // namespace zcp::detail
