#include "shm/queue_allocator.hpp"

#include <bit>

namespace zcp::shm {

const char* to_string(AllocError e) noexcept {
  switch (e) {
    case AllocError::kTooLarge:
      return "request larger than the queue arena";
    case AllocError::kNoSpace:
      return "queue arena has no free block large enough";
    case AllocError::kBadRequest:
      return "invalid queue request";
  }
  return "unknown allocation error";
}

QueueAllocator::QueueAllocator(std::uint64_t arena_offset, std::uint64_t arena_bytes,
                               std::uint64_t min_block)
    : base_(arena_offset), min_block_(min_block) {
  bytes_ = arena_bytes / min_block_ * min_block_;
  if (bytes_ == 0) return;
  max_order_ = std::bit_width(bytes_ / min_block_) - 1;
  free_.resize(static_cast<std::size_t>(max_order_) + 1);
  // Cover the arena with maximal aligned power-of-two blocks, largest first.
  std::uint64_t at = 0;
  for (int order = max_order_; order >= 0; --order) {
    while (bytes_ - at >= order_bytes(order) && at % order_bytes(order) == 0) {
      free_[order].insert(at);
      at += order_bytes(order);
    }
  }
  free_bytes_ = at;
}

int QueueAllocator::order_for(std::uint64_t bytes) const {
  std::uint64_t blocks = (bytes + min_block_ - 1) / min_block_;
  return std::bit_width(blocks - 1);  // ceil(log2(blocks)); 1 block → order 0
}

Expected<std::uint64_t, AllocError> QueueAllocator::allocate(std::uint64_t bytes) {
  if (bytes == 0) return Unexpected(AllocError::kBadRequest);
  if (max_order_ < 0 || bytes > order_bytes(max_order_)) return Unexpected(AllocError::kTooLarge);
  const int want = order_for(bytes);
  int have = want;
  while (have <= max_order_ && free_[have].empty())
    ++have;
  if (have > max_order_) return Unexpected(AllocError::kNoSpace);
  // Lowest address first keeps the arena compact and its use predictable.
  std::uint64_t at = *free_[have].begin();
  free_[have].erase(free_[have].begin());
  while (have > want) {  // split, keeping the lower half
    --have;
    free_[have].insert(at + order_bytes(have));
  }
  live_.emplace(at, want);
  free_bytes_ -= order_bytes(want);
  return base_ + at;
}

bool QueueAllocator::free(std::uint64_t offset) {
  if (offset < base_) return false;
  std::uint64_t at = offset - base_;
  auto it = live_.find(at);
  if (it == live_.end()) return false;
  int order = it->second;
  live_.erase(it);
  free_bytes_ += order_bytes(order);
  // Merge with the buddy while it is free.
  while (order < max_order_) {
    std::uint64_t buddy = at ^ order_bytes(order);
    auto b = free_[order].find(buddy);
    if (b == free_[order].end()) break;
    free_[order].erase(b);
    at = at < buddy ? at : buddy;
    ++order;
  }
  free_[order].insert(at);
  return true;
}

std::uint64_t QueueAllocator::block_size(std::uint64_t offset) const {
  if (offset < base_) return 0;
  auto it = live_.find(offset - base_);
  return it == live_.end() ? 0 : order_bytes(it->second);
}

QueueArenaStats QueueAllocator::stats() const {
  QueueArenaStats s{bytes_, free_bytes_, 0, live_.size()};
  for (int o = max_order_; o >= 0; --o) {
    if (!free_[o].empty()) {
      s.largest_free_block = order_bytes(o);
      break;
    }
  }
  return s;
}

}  // namespace zcp::shm
