#include "shm/chunk_pool.hpp"

#include <cstring>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "shm/atomic.hpp"
#include "shm_test_util.hpp"

namespace zcp::shm {
namespace {

struct PoolFixture {
  explicit PoolFixture(ChunkPoolConfig c) : cfg(std::move(c)) {
    EXPECT_FALSE(cfg.normalize().has_value());
    mem = std::make_unique<test::FakeSegment>(4096 + cfg.region_bytes());
    pool = ChunkPool::format(mem->base(), 4096, cfg);
  }
  ChunkPoolConfig cfg;
  std::unique_ptr<test::FakeSegment> mem;
  ChunkPool pool;
};

// Walks a class's free list (quiescent pool only) and returns the distinct indices on it.
std::set<std::uint32_t> walk_free_list(const test::FakeSegment& mem, std::uint64_t pool_off,
                                       int cls) {
  auto* hdr = reinterpret_cast<PoolHeader*>(mem.base() + pool_off);
  const PoolClassHeader& c = hdr->classes[cls];
  std::set<std::uint32_t> seen;
  std::uint32_t idx = static_cast<std::uint32_t>(c.head);
  while (idx != kNilIndex && seen.size() <= c.chunk_count) {
    if (!seen.insert(idx).second) break;  // a cycle: the test compares sizes
    auto* h = reinterpret_cast<ChunkHeader*>(mem.base() + c.chunks_offset + c.stride * idx);
    idx = h->next_free;
  }
  return seen;
}

TEST(ChunkPoolConfig, NormalizeSortsAndRounds) {
  ChunkPoolConfig c{{{1000, 4}, {100, 8}}};
  ASSERT_FALSE(c.normalize().has_value());
  ASSERT_EQ(c.classes.size(), 2U);
  EXPECT_EQ(c.classes[0].chunk_size, 128U);
  EXPECT_EQ(c.classes[1].chunk_size, 1024U);
}

TEST(ChunkPoolConfig, RejectsBadClasses) {
  EXPECT_TRUE(ChunkPoolConfig{}.normalize().has_value());
  EXPECT_TRUE((ChunkPoolConfig{{{0, 4}}}.normalize().has_value()));
  EXPECT_TRUE((ChunkPoolConfig{{{64, 0}}}.normalize().has_value()));
  auto dup = ChunkPoolConfig{{{60, 4}, {64, 4}}}.normalize();
  ASSERT_TRUE(dup.has_value());
  EXPECT_NE(dup->find("same chunk size 64"), std::string::npos) << *dup;
  ChunkPoolConfig many;
  for (std::uint32_t i = 1; i <= 9; ++i)
    many.classes.push_back({i * 64, 1});
  EXPECT_TRUE(many.normalize().has_value());
}

TEST(ChunkPool, LoanPicksSmallestFittingClass) {
  PoolFixture f(ChunkPoolConfig::defaults());
  auto a = f.pool.loan(0);
  auto b = f.pool.loan(128);
  auto c = f.pool.loan(129);
  auto d = f.pool.loan(8192);
  ASSERT_TRUE(a && b && c && d);
  EXPECT_EQ(a->ref.pool_class, 0);
  EXPECT_EQ(b->ref.pool_class, 0);
  EXPECT_EQ(c->ref.pool_class, 1);
  EXPECT_EQ(d->ref.pool_class, 2);
  EXPECT_EQ(d->capacity, 8192U);
  auto e = f.pool.loan(8193);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error(), LoanError::kTooLarge);
  for (auto* ch : {&*a, &*b, &*c, &*d})
    ASSERT_TRUE(f.pool.release(ch->ref));
}

TEST(ChunkPool, PayloadsAre64ByteAlignedAndDisjoint) {
  PoolFixture f(ChunkPoolConfig{{{100, 16}}});
  std::vector<Chunk> held;
  for (int i = 0; i < 16; ++i) {
    auto c = f.pool.loan(100);
    ASSERT_TRUE(c);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(c->payload) % 64, 0U);
    std::memset(c->payload, i, c->capacity);
    held.push_back(*c);
  }
  for (int i = 0; i < 16; ++i) {
    for (std::uint32_t k = 0; k < held[i].capacity; ++k) {
      ASSERT_EQ(static_cast<int>(held[i].payload[k]), i) << "chunk payloads overlap";
    }
  }
  for (auto& c : held)
    ASSERT_TRUE(f.pool.release(c.ref));
}

TEST(ChunkPool, ExhaustionIsAnErrorValueAndCounted) {
  PoolFixture f(ChunkPoolConfig{{{64, 3}}});
  std::vector<Chunk> held;
  for (int i = 0; i < 3; ++i)
    held.push_back(*f.pool.loan(10));
  auto r = f.pool.loan(10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), LoanError::kExhausted);
  auto st = f.pool.stats(0);
  EXPECT_EQ(st.free, 0U);
  EXPECT_EQ(st.min_free, 0U);
  EXPECT_EQ(st.loan_failures, 1U);
  ASSERT_TRUE(f.pool.release(held[1].ref));
  EXPECT_TRUE(f.pool.loan(10));
}

TEST(ChunkPool, RefcountAndStaleReferences) {
  PoolFixture f(ChunkPoolConfig{{{64, 2}}});
  auto c = f.pool.loan(1);
  ASSERT_TRUE(c);
  ChunkRef ref = c->ref;
  ASSERT_TRUE(f.pool.add_ref(ref));
  ASSERT_TRUE(f.pool.add_ref(ref));
  EXPECT_EQ(c->header->refcount, 3U);
  ASSERT_TRUE(f.pool.release(ref));
  ASSERT_TRUE(f.pool.release(ref));
  EXPECT_EQ(f.pool.stats(0).free, 1U);
  ASSERT_TRUE(f.pool.release(ref));
  EXPECT_EQ(f.pool.stats(0).free, 2U);

  // Released once too often: refused, nothing changes.
  auto again = f.pool.release(ref);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), RefError::kNotHeld);
  EXPECT_EQ(f.pool.stats(0).free, 2U);
  auto add = f.pool.add_ref(ref);
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error(), RefError::kNotHeld);

  // Loaned again (LIFO: same chunk): the old reference is now stale.
  auto c2 = f.pool.loan(1);
  ASSERT_TRUE(c2);
  ASSERT_EQ(c2->ref.index, ref.index);
  EXPECT_NE(c2->ref.generation, ref.generation);
  auto stale = f.pool.release(ref);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error(), RefError::kStale);
  EXPECT_TRUE(f.pool.resolve(c2->ref));
}

TEST(ChunkPool, RejectsOutOfRangeReferences) {
  PoolFixture f(ChunkPoolConfig{{{64, 2}}});
  EXPECT_EQ(f.pool.release(ChunkRef{0, 5, 0, 0}).error(), RefError::kBadClass);
  EXPECT_EQ(f.pool.release(ChunkRef{2, 0, 0, 0}).error(), RefError::kBadIndex);
  EXPECT_EQ(f.pool.resolve(ChunkRef{0xffffffff, 0, 0, 0}).error(), RefError::kBadIndex);
}

TEST(ChunkPool, AttachValidatesGeometry) {
  PoolFixture f(ChunkPoolConfig::defaults());
  const std::uint64_t region = f.cfg.region_bytes();
  EXPECT_TRUE(ChunkPool::attach(f.mem->base(), 4096, region));
  // A region too short for the chunks its header claims.
  auto shorter = ChunkPool::attach(f.mem->base(), 4096, region / 2);
  ASSERT_FALSE(shorter);
  EXPECT_NE(shorter.error().find("out of bounds"), std::string::npos) << shorter.error();
  // A corrupted class count.
  auto* hdr = reinterpret_cast<PoolHeader*>(f.mem->base() + 4096);
  hdr->class_count = 99;
  EXPECT_FALSE(ChunkPool::attach(f.mem->base(), 4096, region));
  hdr->class_count = 3;
  hdr->magic = 0;
  EXPECT_FALSE(ChunkPool::attach(f.mem->base(), 4096, region));
}

TEST(ChunkPool, CorruptFreeListIsReportedNotFollowed) {
  PoolFixture f(ChunkPoolConfig{{{64, 4}}});
  auto* hdr = reinterpret_cast<PoolHeader*>(f.mem->base() + 4096);
  hdr->classes[0].head = 1000;  // index beyond the class
  auto r = f.pool.loan(1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), LoanError::kCorrupt);
}

TEST(ChunkPool, FreeListIntactAfterChurn) {
  PoolFixture f(ChunkPoolConfig{{{64, 64}}});
  std::vector<ChunkRef> held;
  std::uint32_t rng = 12345;
  for (int i = 0; i < 20000; ++i) {
    rng = rng * 1103515245 + 12345;
    if ((rng >> 16) % 2 == 0 || held.empty()) {
      if (auto c = f.pool.loan(1)) held.push_back(c->ref);
    } else {
      std::size_t k = (rng >> 8) % held.size();
      ASSERT_TRUE(f.pool.release(held[k]));
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  for (auto& r : held)
    ASSERT_TRUE(f.pool.release(r));
  EXPECT_EQ(f.pool.stats(0).free, 64U);
  EXPECT_EQ(walk_free_list(*f.mem, 4096, 0).size(), 64U);
}

}  // namespace
}  // namespace zcp::shm
