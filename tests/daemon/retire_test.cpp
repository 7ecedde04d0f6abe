// The retire list: the seam that lets the router (issue 4) finish with a queue before its
// memory returns to the arena.
#include "control_plane_fixture.hpp"

namespace zcp::daemon::test {
namespace {

using Retirement = ControlPlaneTest;

TEST_F(Retirement, QueuesWaitForTheSafeEpochThenFreeInOrder) {
  auto added = registry_->add_process(conn(1), peer(1), "p", false, now_ns());
  ASSERT_TRUE(added);
  const std::uint32_t slot = (*added)->handle.index;
  auto pub = registry_->add_publisher(slot, topic("a"));
  auto sub = registry_->add_subscriber(slot, topic("a"), 4, fb::QueuePolicy::DropNewest);
  ASSERT_TRUE(pub && sub);
  const std::uint32_t pub_id = (*pub)->id;
  const std::uint32_t sub_id = (*sub)->id;
  const std::uint64_t e0 = registry_->epoch();

  ASSERT_TRUE(registry_->remove_publisher(slot, pub_id));
  const std::uint64_t e1 = registry_->epoch();
  ASSERT_TRUE(registry_->remove_subscriber(slot, sub_id));
  const std::uint64_t e2 = registry_->epoch();
  EXPECT_LT(e0, e1);
  EXPECT_LT(e1, e2);
  // Retired, not freed: a router worker may still hold them.
  EXPECT_EQ(registry_->retired_pending(), 2u);
  EXPECT_EQ(queues_->stats().allocations, 2u);
  expect_consistent();  // the arena's blocks are accounted for by the retire list

  EXPECT_EQ(registry_->reclaim(e0).freed, 0u);  // no worker has seen the removals yet
  EXPECT_EQ(registry_->reclaim(e1).freed, 1u);  // every worker has seen the first
  EXPECT_EQ(registry_->retired_pending(), 1u);
  EXPECT_EQ(registry_->reclaim(e2).freed, 1u);
  EXPECT_EQ(queues_->stats().allocations, 0u);
  expect_consistent();
}

TEST_F(Retirement, BeforeFreeRunsOncePerQueueAndABadEntryIsNotFreedTwice) {
  RetireList list;
  auto ring = queues_->allocate_ring<shm::MessageHeader>(segment_.base(), shm::RingKind::kMpmc, 8);
  ASSERT_TRUE(ring);
  list.retire(*ring, sys::UniqueFd{}, 1);
  list.retire(*ring, sys::UniqueFd{}, 2);  // a (buggy) second retirement of the same block
  int seen = 0;
  ReclaimResult r = list.reclaim(5, *queues_, [&](const RetiredQueue& q) {
    EXPECT_EQ(q.queue.offset, ring->offset);
    ++seen;
  });
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(r.freed, 1u);
  EXPECT_EQ(r.bad, 1u);
  EXPECT_EQ(list.pending(), 0u);
  EXPECT_EQ(queues_->stats().allocations, 0u);
}

}  // namespace
}  // namespace zcp::daemon::test
