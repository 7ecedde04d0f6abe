// RetireList: rings and queues that left the topology but may still be touched by a router
// worker, waiting until it is safe to give their memory back to the QueueAllocator.
//
// The seam for the router (issue 4). The registry numbers every topology change with an
// epoch. A queue removed at epoch E is retired here with E. A router worker that has
// acknowledged epoch E' >= E has reloaded its view of the topology and holds no reference to
// that queue any more; once every worker has acknowledged E, the queue (and its eventfd) are
// freed. Until the router exists the control plane passes the current epoch as the safe one,
// so retirement completes at once, but nothing is ever freed under a worker's feet later.
//
// Reactor thread only; no mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "common/sys.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/ring.hpp"

namespace zcp::daemon {

struct RetiredQueue {
  shm::QueueDescriptor queue;
  sys::UniqueFd eventfd;    // a subscriber's eventfd (the router writes it); may be empty
  std::uint64_t epoch = 0;  // the topology epoch of the removal
};

struct ReclaimResult {
  std::size_t freed = 0;
  std::size_t bad = 0;  // entries the allocator did not know (a bug): dropped, and logged
};

class RetireList {
 public:
  // Epochs must not decrease from one call to the next (the registry's epoch only grows).
  void retire(const shm::QueueDescriptor& queue, sys::UniqueFd eventfd, std::uint64_t epoch);
  // Runs for each entry just before its block is freed, once no worker can touch it. The
  // seam for crash-proof chunk accounting (issue 7): messages still sitting in a dead
  // endpoint's ring or queue hold chunk references, which must be released here.
  using BeforeFree = std::function<void(const RetiredQueue&)>;
  // Frees, in retirement order, every entry retired at or before `safe_epoch`.
  ReclaimResult reclaim(std::uint64_t safe_epoch, shm::QueueAllocator& allocator,
                        const BeforeFree& before_free = {});
  std::size_t pending() const noexcept { return entries_.size(); }
  bool holds(std::uint64_t offset) const noexcept;

 private:
  std::deque<RetiredQueue> entries_;  // ordered by epoch
};

}  // namespace zcp::daemon
