#include "daemon/retire_list.hpp"

#include <cassert>

#include <spdlog/spdlog.h>

namespace zcp::daemon {

void RetireList::retire(const shm::QueueDescriptor& queue, sys::UniqueFd eventfd,
                        std::uint64_t epoch) {
  assert((entries_.empty() || entries_.back().epoch <= epoch) && "epochs only grow");
  entries_.push_back(RetiredQueue{queue, std::move(eventfd), epoch});
}

ReclaimResult RetireList::reclaim(std::uint64_t safe_epoch, shm::QueueAllocator& allocator,
                                  const BeforeFree& before_free) {
  ReclaimResult result;
  while (!entries_.empty() && entries_.front().epoch <= safe_epoch) {
    const RetiredQueue& e = entries_.front();
    if (before_free) before_free(e);
    if (allocator.free_ring(e.queue)) {
      ++result.freed;
    } else {
      // Only the registry retires, once per queue, so this is a daemon bug. Dropping the
      // entry leaks the block rather than freeing someone else's.
      ++result.bad;
      spdlog::error("retire list: queue at offset {} is not a live arena block; leaked",
                    e.queue.offset);
    }
    entries_.pop_front();  // closes the eventfd
  }
  return result;
}

bool RetireList::holds(std::uint64_t offset) const noexcept {
  for (const RetiredQueue& e : entries_) {
    if (e.queue.offset == offset) return true;
  }
  return false;
}

}  // namespace zcp::daemon
