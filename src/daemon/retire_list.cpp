#include "daemon/retire_list.hpp"

#include <cassert>

namespace zcp::daemon {

void RetireList::retire(std::unique_ptr<router::PublisherState> port, std::uint32_t stats_slot,
                        std::uint64_t epoch) {
  assert((entries_.empty() || entries_.back().epoch <= epoch) && "epochs only grow");
  entries_.push_back(
      RetiredPort{std::move(port), nullptr, sys::UniqueFd{}, epoch, stats_slot, {}, 0, {}});
}

void RetireList::retire(std::unique_ptr<router::SubscriberState> port, sys::UniqueFd eventfd,
                        std::uint32_t stats_slot, std::uint64_t epoch) {
  assert((entries_.empty() || entries_.back().epoch <= epoch) && "epochs only grow");
  entries_.push_back(
      RetiredPort{nullptr, std::move(port), std::move(eventfd), epoch, stats_slot, {}, 0, {}});
}

ReclaimResult RetireList::reclaim(std::uint64_t safe_epoch, shm::QueueAllocator& allocator,
                                  router::ChunkLedger& ledger, StatsWriter& stats,
                                  const std::function<bool(const RetiredPort&)>& quiescent) {
  ReclaimResult result;
  // Entries are in epoch order; one held back by `quiescent` does not hold back the others.
  std::size_t keep = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    RetiredPort& e = entries_[i];
    if (e.epoch > safe_epoch || e.quarantined || (quiescent && !quiescent(e))) {
      if (keep != i) entries_[keep] = std::move(e);
      ++keep;
      continue;
    }
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
    e = RetiredPort{};  // frees the port, closes the eventfd
  }
  entries_.resize(keep);
  return result;
}

std::size_t RetireList::blocks() const noexcept {
  std::size_t n = 0;
  for (const RetiredPort& e : entries_)
    n += (e.pub && e.pub->route_table != 0) ? 3 : 2;
  return n;
}

ReclaimResult RetireList::reclaim_all(shm::QueueAllocator& allocator, router::ChunkLedger& ledger,
                                      StatsWriter& stats) {
  for (RetiredPort& e : entries_)
    e.quarantined.reset();  // the daemon is going: nothing is reused
  return reclaim(~std::uint64_t{0}, allocator, ledger, stats);
}

std::size_t RetireList::release(const shm::SlotLease& owner) noexcept {
  std::size_t n = 0;
  for (RetiredPort& e : entries_) {
    if (e.quarantined && e.quarantined->index == owner.index &&
        e.quarantined->epoch == owner.epoch) {
      e.quarantined.reset();
      ++n;
    }
  }
  return n;
}

const router::PublisherState* RetireList::quarantined_publisher(std::uint32_t id) const noexcept {
  for (const RetiredPort& e : entries_) {
    if (e.quarantined && e.pub && e.pub->id == id) return e.pub.get();
  }
  return nullptr;
}

}  // namespace zcp::daemon
