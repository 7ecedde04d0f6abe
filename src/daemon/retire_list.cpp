#include "daemon/retire_list.hpp"

#include <cassert>

namespace zcp::daemon {

void RetireList::retire(std::unique_ptr<router::PublisherPort> port, std::uint32_t stats_slot,
                        std::uint64_t epoch) {
  assert((entries_.empty() || entries_.back().epoch <= epoch) && "epochs only grow");
  entries_.push_back(RetiredPort{std::move(port), nullptr, sys::UniqueFd{}, epoch, stats_slot});
}

void RetireList::retire(std::unique_ptr<router::SubscriberPort> port, sys::UniqueFd eventfd,
                        std::uint32_t stats_slot, std::uint64_t epoch) {
  assert((entries_.empty() || entries_.back().epoch <= epoch) && "epochs only grow");
  entries_.push_back(RetiredPort{nullptr, std::move(port), std::move(eventfd), epoch, stats_slot});
}

ReclaimResult RetireList::reclaim(std::uint64_t safe_epoch, shm::QueueAllocator& allocator,
                                  router::ChunkLedger& ledger, StatsWriter& stats) {
  ReclaimResult result;
  while (!entries_.empty() && entries_.front().epoch <= safe_epoch) {
    RetiredPort& e = entries_.front();
    // Every worker acknowledged the removal: none touches the port any more, so its
    // ownership sets are ours to walk.
    if (e.pub) {
      result.chunks += router::free_publisher_port(allocator, ledger, *e.pub);
      if (e.stats_slot != kNoStatsSlot) stats.publisher_slots().give(e.stats_slot);
    }
    if (e.sub) {
      result.chunks += router::free_subscriber_port(allocator, ledger, *e.sub);
      if (e.stats_slot != kNoStatsSlot) stats.subscriber_slots().give(e.stats_slot);
    }
    ++result.freed;
    entries_.pop_front();  // frees the port, closes the eventfd
  }
  return result;
}

ReclaimResult RetireList::reclaim_all(shm::QueueAllocator& allocator, router::ChunkLedger& ledger,
                                      StatsWriter& stats) {
  return reclaim(~std::uint64_t{0}, allocator, ledger, stats);
}

}  // namespace zcp::daemon
