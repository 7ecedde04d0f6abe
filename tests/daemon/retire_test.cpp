// Retirement: a removed port stays allocated until every router worker acknowledged the
// removal; then its chunks go back to the pool and its rings to the arena.
#include "control_plane_fixture.hpp"

namespace zcp::daemon::test {
namespace {

using Retirement = ControlPlaneTest;

TEST_F(Retirement, PortsWaitForEveryWorkerThenFreeInOrder) {
  auto added = registry_->add_process(conn(1), peer(1), "p", false, now_ns());
  ASSERT_TRUE(added);
  const std::uint32_t slot = (*added)->handle.index;
  auto pub = registry_->add_publisher(slot, topic("a"));
  protocol::SubscriberOptions so;
  so.queue_capacity = 4;
  so.policy = fb::QueuePolicy::DropNewest;
  auto sub = registry_->add_subscriber(slot, topic("a"), so);
  ASSERT_TRUE(pub && sub);
  const std::uint32_t pub_id = (*pub)->id;
  const std::uint32_t sub_id = (*sub)->id;
  for (std::size_t i = 0; i < router_->worker_count(); ++i) router_->worker(i).do_work(0);
  const std::size_t free_before = segment_.pool().stats(0).free;
  EXPECT_LT(free_before, segment_.pool().stats(0).total) << "the publisher's loan ring holds chunks";

  ASSERT_TRUE(registry_->remove_publisher(slot, pub_id));
  const std::uint64_t e1 = registry_->epoch();
  ASSERT_TRUE(registry_->remove_subscriber(slot, sub_id));
  const std::uint64_t e2 = registry_->epoch();
  EXPECT_LT(e1, e2);
  // Retired, not freed: a router worker may still hold them.
  EXPECT_EQ(registry_->retired_pending(), 2u);
  EXPECT_EQ(queues_->stats().allocations, 4u) << "two rings per port";
  expect_consistent();  // the arena's blocks are accounted for by the retire list
  EXPECT_EQ(registry_->reclaim().freed, 0u) << "no worker has seen the removals yet";

  // Worker 0 applies both removals; worker 1 has not: still nothing may be freed.
  router_->worker(0).do_work(0);
  EXPECT_EQ(registry_->reclaim().freed, 0u);
  router_->worker(1).do_work(0);
  ReclaimResult r = registry_->reclaim();
  EXPECT_EQ(r.freed, 2u);
  EXPECT_GT(r.chunks, 0u) << "the loan ring's chunks came back through the ledger";
  EXPECT_EQ(queues_->stats().allocations, 0u);
  EXPECT_EQ(segment_.pool().stats(0).free, segment_.pool().stats(0).total);
  expect_consistent();
}

}  // namespace
}  // namespace zcp::daemon::test
