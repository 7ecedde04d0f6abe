#include "shm/queue_allocator.hpp"

#include <map>
#include <random>

#include <gtest/gtest.h>

#include "shm/layout.hpp"
#include "shm/spsc_ring.hpp"
#include "shm_test_util.hpp"

namespace zcp::shm {
namespace {

TEST(QueueAllocator, AllocatesAlignedBlocksWithinArena) {
  QueueAllocator a(1 << 20, 1 << 20);
  auto x = a.allocate(1);
  auto y = a.allocate(1025);
  auto z = a.allocate(5000);
  ASSERT_TRUE(x && y && z);
  EXPECT_EQ(a.block_size(*x), 1024U);
  EXPECT_EQ(a.block_size(*y), 2048U);
  EXPECT_EQ(a.block_size(*z), 8192U);
  for (auto off : {*x, *y, *z}) {
    EXPECT_GE(off, 1U << 20);
    EXPECT_EQ((off - (1 << 20)) % a.block_size(off), 0U) << "buddy blocks align to their size";
  }
  EXPECT_EQ(a.stats().allocations, 3U);
}

TEST(QueueAllocator, ErrorsAreValues) {
  QueueAllocator a(0, 8192);
  EXPECT_EQ(a.allocate(0).error(), AllocError::kBadRequest);
  EXPECT_EQ(a.allocate(8193).error(), AllocError::kTooLarge);
  ASSERT_TRUE(a.allocate(8192));
  EXPECT_EQ(a.allocate(1).error(), AllocError::kNoSpace);
  EXPECT_FALSE(a.free(12345)) << "a foreign offset is refused";
}

TEST(QueueAllocator, FreeMergesBuddiesSoNoFragmentationRemains) {
  QueueAllocator a(0, 64 * 1024);
  std::vector<std::uint64_t> small;
  for (int i = 0; i < 64; ++i)
    small.push_back(*a.allocate(1024));
  EXPECT_EQ(a.allocate(1).error(), AllocError::kNoSpace);
  // Free every other block: half the arena is free, but in 1 KiB pieces.
  for (int i = 0; i < 64; i += 2)
    ASSERT_TRUE(a.free(small[i]));
  EXPECT_EQ(a.stats().largest_free_block, 1024U);
  EXPECT_FALSE(a.allocate(2048));
  for (int i = 1; i < 64; i += 2)
    ASSERT_TRUE(a.free(small[i]));
  EXPECT_EQ(a.stats().free_bytes, 64U * 1024);
  EXPECT_EQ(a.stats().largest_free_block, 64U * 1024) << "buddies must merge back to one block";
  EXPECT_FALSE(a.free(small[0])) << "double free refused";
}

TEST(QueueAllocator, RandomChurnKeepsAccounting) {
  QueueAllocator a(4096, 3 * 1024 * 1024 + 5000);  // not a power of two on purpose
  const auto total = a.stats().free_bytes;
  std::mt19937 rng(7);
  std::map<std::uint64_t, std::uint64_t> live;  // offset → size
  for (int i = 0; i < 20000; ++i) {
    if (rng() % 2 == 0 || live.empty()) {
      std::uint64_t want = 1 + rng() % 70000;
      if (auto off = a.allocate(want)) {
        std::uint64_t sz = a.block_size(*off);
        ASSERT_GE(sz, want);
        // No overlap with any live block.
        auto next = live.lower_bound(*off);
        if (next != live.end()) {
          ASSERT_LE(*off + sz, next->first);
        }
        if (next != live.begin()) {
          auto prev = std::prev(next);
          ASSERT_LE(prev->first + prev->second, *off);
        }
        live[*off] = sz;
      }
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      ASSERT_TRUE(a.free(it->first));
      live.erase(it);
    }
  }
  for (auto& [off, sz] : live)
    ASSERT_TRUE(a.free(off));
  EXPECT_EQ(a.stats().free_bytes, total);
  EXPECT_EQ(a.stats().allocations, 0U);
}

TEST(QueueAllocator, AllocateRingFormatsUsableRing) {
  test::FakeSegment seg(1 << 20);
  QueueAllocator a(4096, (1 << 20) - 4096);
  auto d = a.allocate_ring<MessageHeader>(seg.base(), RingKind::kSpsc, 100);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->capacity, 100U);
  EXPECT_EQ(d->element_size, sizeof(MessageHeader));
  auto p = SpscProducer<MessageHeader>::attach(seg.base(), seg.size(), *d);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(a.allocate_ring<MessageHeader>(seg.base(), RingKind::kSpsc, 0).error(),
            AllocError::kBadRequest);
  EXPECT_TRUE(a.free_ring(*d));
}

}  // namespace
}  // namespace zcp::shm
