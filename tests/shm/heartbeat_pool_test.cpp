#include "shm/heartbeat_pool.hpp"

#include <gtest/gtest.h>

#include "shm_test_util.hpp"

namespace zcp::shm {
namespace {

TEST(HeartbeatPool, AcquireTouchAgeRelease) {
  test::FakeSegment mem(HeartbeatPool::region_bytes(4));
  auto pool = HeartbeatPool::format(mem.base(), 4);
  auto a = pool.acquire(100, 1'000);
  ASSERT_TRUE(a);
  EXPECT_EQ(pool.active_count(), 1U);
  EXPECT_EQ(pool.slot(a->index).pid, 100);
  EXPECT_EQ(*pool.age(a->index, 1'500), 500U);
  EXPECT_TRUE(pool.touch(*a, 2'000));
  EXPECT_EQ(*pool.age(a->index, 2'100), 100U);
  EXPECT_TRUE(pool.release(*a));
  EXPECT_EQ(pool.active_count(), 0U);
  EXPECT_FALSE(pool.age(a->index, 3'000).has_value());
}

TEST(HeartbeatPool, FullPoolRefuses) {
  test::FakeSegment mem(HeartbeatPool::region_bytes(2));
  auto pool = HeartbeatPool::format(mem.base(), 2);
  EXPECT_TRUE(pool.acquire(1, 0));
  EXPECT_TRUE(pool.acquire(2, 0));
  EXPECT_FALSE(pool.acquire(3, 0));
}

TEST(HeartbeatPool, StaleLeaseCannotTouchOrReleaseTheNextOwner) {
  test::FakeSegment mem(HeartbeatPool::region_bytes(1));
  auto pool = HeartbeatPool::format(mem.base(), 1);
  auto old = pool.acquire(1, 0);
  ASSERT_TRUE(old);
  ASSERT_TRUE(pool.release(*old));
  EXPECT_FALSE(pool.release(*old)) << "double release must be refused";
  auto fresh = pool.acquire(2, 50);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->index, old->index);
  EXPECT_NE(fresh->epoch, old->epoch);
  EXPECT_FALSE(pool.touch(*old, 999));
  EXPECT_EQ(*pool.age(fresh->index, 100), 50U) << "a stale touch changed the new owner's stamp";
  EXPECT_FALSE(pool.release(*old));
  EXPECT_EQ(pool.active_count(), 1U);
}

TEST(HeartbeatPool, AttachChecksBounds) {
  test::FakeSegment mem(HeartbeatPool::region_bytes(8));
  HeartbeatPool::format(mem.base(), 8);
  EXPECT_TRUE(HeartbeatPool::attach(mem.base(), HeartbeatPool::region_bytes(8)));
  EXPECT_FALSE(HeartbeatPool::attach(mem.base(), HeartbeatPool::region_bytes(7)));
}

}  // namespace
}  // namespace zcp::shm
