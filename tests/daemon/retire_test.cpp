// Retirement: a removed port stays allocated until every router worker acknowledged the
// removal; then its chunks go back to the pool and its rings to the arena.
#include "control_plane_fixture.hpp"

namespace zcp::daemon::test {
namespace {

// On routed topics (two rings a port, no route table).
class Retirement : public ControlPlaneTest {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    FixtureOptions o;
    o.registry.routed_topics = {"*"};
    build(o);
  }
};

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
  for (std::size_t i = 0; i < router_->worker_count(); ++i)
    router_->worker(i).do_work(0);
  const std::size_t free_before = segment_.pool().stats(0).free;
  EXPECT_LT(free_before, segment_.pool().stats(0).total)
      << "the publisher's loan ring holds chunks";

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

TEST(DirectTopics, PatternsMatchWholeTopicsOrPrefixes) {
  const std::vector<std::string> p{"md/*", "robot/arm/joints"};
  EXPECT_TRUE(topic_matches(p, "md/feed/ticks"));
  EXPECT_TRUE(topic_matches(p, "robot/arm/joints"));
  EXPECT_FALSE(topic_matches(p, "robot/arm/joints2"));
  EXPECT_FALSE(topic_matches(p, "mdx/feed/ticks")) << "the prefix includes the slash";
  EXPECT_TRUE(topic_matches({"*"}, "any/topic/x"));
  EXPECT_FALSE(topic_matches({}, "md/feed/ticks"));
  EXPECT_EQ(topic_pattern_problem("md/*"), "");
  EXPECT_NE(topic_pattern_problem(""), "");
  EXPECT_NE(topic_pattern_problem("a*b"), "");
  EXPECT_NE(topic_pattern_problem("a/b"), "");
}

// Direct topics: each publisher gets a route table naming the subscribers' queues by slot; a
// leaving subscriber's queue is kept while a publisher's guard says it may still push into it
// with an older table (shm/route_table.hpp).
class DirectRetirement : public ControlPlaneTest {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    FixtureOptions o;
    o.registry.routed_topics = {"a/*"};
    build(o);
  }
  const shm::RouteTable& table(std::uint32_t pub_id) {
    return *reinterpret_cast<const shm::RouteTable*>(
        segment_.base() + registry_->publisher(pub_id)->port->route_table);
  }
  std::uint64_t& guard(std::uint32_t pub_id) {
    return registry_->publisher(pub_id)->port->in.header()->direct_guard;
  }
};

TEST_F(DirectRetirement, RouteTablesFollowSubscribersAndGuardsHoldRemovedQueues) {
  auto added = registry_->add_process(conn(1), peer(1), "p", false, now_ns());
  ASSERT_TRUE(added);
  const std::uint32_t slot = (*added)->handle.index;
  const protocol::Topic t{"svc", "direct", "x"};
  auto routed_pub = registry_->add_publisher(slot, topic("a"));
  ASSERT_TRUE(routed_pub);
  EXPECT_EQ((*routed_pub)->port->route_table, 0U) << "a topic listed in routed_topics is routed";

  auto s1 = registry_->add_subscriber(slot, t);
  auto pub = registry_->add_publisher(slot, t);
  auto s2 = registry_->add_subscriber(slot, t);
  ASSERT_TRUE(s1 && pub && s2);
  const std::uint32_t pub_id = (*pub)->id;
  const std::uint32_t s1_id = (*s1)->id;
  const std::uint32_t s2_id = (*s2)->id;
  ASSERT_NE((*pub)->port->route_table, 0U);
  EXPECT_EQ((*pub)->port->in.header()->route_table, (*pub)->port->route_table)
      << "the client finds it there";
  // Subscribers are listed once every worker applied their Add: not yet.
  const std::uint32_t slot1 = registry_->subscriber(s1_id)->port->route_slot;
  const std::uint32_t slot2 = registry_->subscriber(s2_id)->port->route_slot;
  ASSERT_LT(slot1, shm::kRouteSlots);
  ASSERT_LT(slot2, shm::kRouteSlots);
  EXPECT_NE(slot1, slot2);
  EXPECT_EQ(table(pub_id).entries[slot1].subscriber_id, 0U);
  EXPECT_EQ(table(pub_id).entries[slot2].subscriber_id, 0U);
  settle();
  // Now both: s1 before the table was made, s2 after (written into it).
  EXPECT_EQ(table(pub_id).entries[slot1].subscriber_id, s1_id);
  EXPECT_EQ(table(pub_id).entries[slot2].subscriber_id, s2_id);
  EXPECT_EQ(table(pub_id).entries[slot2].queue.offset,
            registry_->subscriber(s2_id)->port->queue_desc.offset);
  const std::uint32_t v_before = table(pub_id).version;
  EXPECT_EQ(v_before % 2, 0U) << "even: not mid-write";
  expect_consistent();
  settle();

  // The publisher is busy pushing with the table it had before s2 leaves.
  guard(pub_id) = shm::guard_busy(v_before);
  ASSERT_TRUE(registry_->remove_subscriber(slot, s2_id));
  EXPECT_EQ(table(pub_id).entries[slot2].subscriber_id, 0U);
  EXPECT_EQ(table(pub_id).version, v_before + 2);
  settle();  // every worker applied the removal (and the reactor tried to reclaim)...
  EXPECT_EQ(registry_->reclaim().freed, 0U) << "...but the publisher may still push into the queue";
  EXPECT_EQ(registry_->retired_pending(), 1U);
  expect_consistent();

  guard(pub_id) = shm::guard_busy(v_before + 2);  // it reloaded the table: s2 is not in it
  EXPECT_EQ(registry_->reclaim().freed, 1U);
  EXPECT_EQ(registry_->retired_pending(), 0U);

  // The free slot goes to the next subscriber, under a newer version.
  auto s3 = registry_->add_subscriber(slot, t);
  ASSERT_TRUE(s3);
  EXPECT_EQ((*s3)->port->route_slot, slot2);
  EXPECT_EQ((*s3)->port->route_since, v_before + 4);
  settle();
  EXPECT_EQ(table(pub_id).entries[slot2].subscriber_id, (*s3)->id);

  // An idle guard holds nothing back, whatever version it names.
  guard(pub_id) = shm::guard_idle(0);
  ASSERT_TRUE(registry_->remove_subscriber(slot, s1_id));
  settle();  // the reactor reclaims as it handles the workers' acknowledgements
  EXPECT_EQ(registry_->retired_pending(), 0U);
  expect_consistent();

  // A publisher that is gone holds nothing back either (a crash mid-publish leaves it busy).
  guard(pub_id) = shm::guard_busy(0);
  ASSERT_TRUE(registry_->remove_subscriber(slot, (*s3)->id));
  ASSERT_TRUE(registry_->remove_publisher(slot, pub_id));
  settle();
  EXPECT_EQ(registry_->retired_pending(), 0U);
  ASSERT_TRUE(registry_->remove_publisher(slot, (*routed_pub)->id));
  settle();
  registry_->reclaim();
  EXPECT_EQ(queues_->stats().allocations, 0U) << "route tables go back with their publishers";
  expect_consistent();
}

// Route tables are seqlocks: every rewrite must carry a newer version. A removal that comes
// while an added subscriber still waits for the workers is written after it, in order.
TEST_F(DirectRetirement, RouteWritesReachTheTablesInVersionOrder) {
  auto added = registry_->add_process(conn(1), peer(1), "p", false, now_ns());
  ASSERT_TRUE(added);
  const std::uint32_t slot = (*added)->handle.index;
  const protocol::Topic t{"svc", "direct", "y"};
  auto b = registry_->add_subscriber(slot, t);
  auto pub = registry_->add_publisher(slot, t);
  ASSERT_TRUE(b && pub);
  const std::uint32_t b_id = (*b)->id;
  const std::uint32_t b_slot = (*b)->port->route_slot;
  settle();
  const std::uint32_t pub_id = (*pub)->id;
  const std::uint32_t v0 = table(pub_id).version;
  EXPECT_EQ(table(pub_id).entries[b_slot].subscriber_id, b_id);

  auto a = registry_->add_subscriber(slot, t);  // its Add not applied yet
  ASSERT_TRUE(a);
  const std::uint32_t a_id = (*a)->id;
  const std::uint32_t a_slot = (*a)->port->route_slot;
  ASSERT_TRUE(registry_->remove_subscriber(slot, b_id));
  EXPECT_EQ(table(pub_id).version, v0) << "the removal waits behind the pending listing";
  EXPECT_EQ(table(pub_id).entries[b_slot].subscriber_id, b_id);
  guard(pub_id) = shm::guard_idle(v0);
  settle();
  EXPECT_EQ(table(pub_id).entries[a_slot].subscriber_id, a_id);
  EXPECT_EQ(table(pub_id).entries[b_slot].subscriber_id, 0U);
  EXPECT_EQ(table(pub_id).version, v0 + 4) << "one newer version per write, in order";
  EXPECT_EQ(registry_->retired_pending(), 0U);
  expect_consistent();
}

}  // namespace
}  // namespace zcp::daemon::test
