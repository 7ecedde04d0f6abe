// RetireList: rings and queues that left the topology but may still be touched by a router
// worker, waiting until it is safe to give their memory back to the QueueAllocator.
//
// The registry numbers every topology change with an epoch. A queue removed at epoch E is
// retired here with E. A router worker that has acknowledged epoch E' >= E has reloaded its
// view of the topology and holds no reference to that queue any more; once every worker has
// acknowledged E, the queue (and its eventfd) are freed, so nothing is ever freed under a
// worker's feet.
//
// Reactor thread only; no mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "common/sys.hpp"
#include "daemon/stats_writer.hpp"
#include "router/router.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/ring.hpp"

namespace zcp::daemon {

struct RetiredPort {
  std::unique_ptr<router::PublisherState> pub;  // one of the two is set
  std::unique_ptr<router::SubscriberState> sub;
  sys::UniqueFd eventfd;                    // a subscriber's eventfd (the router writes it)
  std::uint64_t epoch = 0;                  // the router's sequence number of the removal
  std::uint32_t stats_slot = kNoStatsSlot;  // its stats slot: free again once the port is reclaimed
  // A subscriber of a direct topic: the topic's publishers when it left, and the route version
  // that delisted it. Its queue is freed only once none of them may still push into it
  // (shm/route_table.hpp, reclamation).
  std::vector<std::uint32_t> direct_publishers;
  std::uint32_t route_version = 0;
  // Its process was removed while it may still run (heartbeat timeout, fault, hang-up): it
  // may still write this port's rings and the chunks it held, so nothing is freed until its
  // exit is seen (RetireList::release).
  std::optional<shm::SlotLease> quarantined;
};

struct ReclaimResult {
  std::size_t freed = 0;   // ports freed
  std::size_t chunks = 0;  // chunk references they still held, returned to the pool
};

class RetireList {
 public:
  // Epochs must not decrease from one call to the next (router sequence numbers only grow).
  void retire(std::unique_ptr<router::PublisherState> port, std::uint32_t stats_slot,
              std::uint64_t epoch);
  void retire(std::unique_ptr<router::SubscriberState> port, sys::UniqueFd eventfd,
              std::uint32_t stats_slot, std::uint64_t epoch);
  // Frees, in retirement order, every port retired at or before `safe_epoch`: its chunks go
  // back through the ledger, its rings to the allocator, its stats slot (whose counter line no
  // worker writes any more) to its free list, its eventfd is closed.
  // `quiescent` (if set) may hold back a port that no worker touches but a direct publisher
  // still might; it is asked again on a later call.
  ReclaimResult reclaim(std::uint64_t safe_epoch, shm::QueueAllocator& allocator,
                        router::ChunkLedger& ledger, StatsWriter& stats,
                        const std::function<bool(const RetiredPort&)>& quiescent = {});
  // Frees everything regardless of epoch: only once the router's threads have stopped.
  ReclaimResult reclaim_all(shm::QueueAllocator& allocator, router::ChunkLedger& ledger,
                            StatsWriter& stats);
  std::size_t pending() const noexcept { return entries_.size(); }
  // The pending port at index i (oldest first), for the registry's direct-delivery checks.
  RetiredPort& at(std::size_t i) noexcept { return entries_[i]; }
  // Lets the ports quarantined for `owner` go (their process exited); the next reclaim frees
  // them. Returns how many.
  std::size_t release(const shm::SlotLease& owner) noexcept;
  // The quarantined publisher port with this id, if any (its guard still counts).
  const router::PublisherState* quarantined_publisher(std::uint32_t id) const noexcept;
  // Arena blocks the pending ports still hold (two rings each).
  std::size_t blocks() const noexcept;

 private:
  std::deque<RetiredPort> entries_;  // ordered by epoch
};

}  // namespace zcp::daemon
