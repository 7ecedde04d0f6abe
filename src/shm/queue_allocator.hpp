// QueueAllocator: carves ring and queue storage out of the segment's queue arena at run time.
//
// A buddy allocator. Rings are a 256-byte header plus a power-of-two number of slots, so
// their sizes are close to powers of two and buddy blocks waste little; freeing merges a
// block with its buddy, so the arena does not fragment into unusable pieces however queues
// come and go. The bookkeeping (free lists per order) is private to the daemon's reactor,
// which alone allocates: no client can corrupt it by writing to the segment.
//
// Not thread-safe by design: the reactor thread owns it.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <zcp/expected.hpp>

#include "shm/ring.hpp"

namespace zcp::shm {

enum class AllocError : std::uint8_t {
  kTooLarge,    // larger than the whole arena
  kNoSpace,     // no free block of the needed order (fragmented or full)
  kBadRequest,  // zero size, capacity 0 or too large
};
const char* to_string(AllocError e) noexcept;

struct QueueArenaStats {
  std::uint64_t arena_bytes;
  std::uint64_t free_bytes;
  std::uint64_t largest_free_block;
  std::uint64_t allocations;  // live blocks
};

class QueueAllocator {
 public:
  // Smallest block. Too small only lengthens the order lists; too large wastes memory on
  // small rings. 1 KiB holds a 16-slot SPSC ring of 32-byte headers.
  static constexpr std::uint64_t kDefaultMinBlock = 1024;

  QueueAllocator() = default;
  // Manages [arena_offset, arena_offset + arena_bytes) of the segment. arena_offset must be
  // aligned to min_block; the usable size is arena_bytes rounded down to a multiple of
  // min_block, split into maximal power-of-two blocks.
  QueueAllocator(std::uint64_t arena_offset, std::uint64_t arena_bytes,
                 std::uint64_t min_block = kDefaultMinBlock);

  // A block of at least `bytes`, aligned to its own size (≥ min_block); returns its offset.
  Expected<std::uint64_t, AllocError> allocate(std::uint64_t bytes);
  // Frees a block returned by allocate(). False if `offset` is not a live block (a double
  // free or a foreign offset), which changes nothing.
  bool free(std::uint64_t offset);

  // Allocates and formats a ring of `capacity` elements of T.
  template <class T>
  Expected<QueueDescriptor, AllocError> allocate_ring(std::byte* segment_base, RingKind kind,
                                                      std::uint32_t capacity) {
    if (capacity == 0 || capacity > kMaxRingCapacity) return Unexpected(AllocError::kBadRequest);
    auto off = allocate(ring_bytes(capacity, slot_stride<T>(kind)));
    if (!off) return Unexpected(off.error());
    return format_ring<T>(segment_base, *off, kind, capacity);
  }
  bool free_ring(const QueueDescriptor& d) { return free(d.offset); }

  QueueArenaStats stats() const;
  std::uint64_t block_size(std::uint64_t offset) const;  // 0 if not live

 private:
  int order_for(std::uint64_t bytes) const;
  std::uint64_t order_bytes(int order) const { return min_block_ << order; }

  std::uint64_t base_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t min_block_ = kDefaultMinBlock;
  int max_order_ = -1;
  std::vector<std::set<std::uint64_t>> free_;    // per order: free block offsets (relative)
  std::unordered_map<std::uint64_t, int> live_;  // relative offset → order
  std::uint64_t free_bytes_ = 0;
};

}  // namespace zcp::shm
