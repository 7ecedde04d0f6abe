// Death detection with a fake clock: heartbeat timeouts, pidfd exits, hang-ups, idle
// connections, and each death acted on and counted once whatever order its notices arrive in.
#include "control_plane_fixture.hpp"

namespace zcp::daemon::test {
namespace {

using Deaths = ControlPlaneTest;
using namespace std::chrono_literals;

TEST_F(Deaths, HeartbeatTouchedInTimeSurvivesAndStaleOneIsRemoved) {
  std::uint32_t fresh = registered(1, "fresh", true);
  std::uint32_t stale = registered(2, "stale", true);
  std::uint32_t quiet = registered(3, "unmonitored", false);
  create_subscriber(2, topic("t"));

  // 2.5 s later, "fresh" touches its slot (as libzcp's heartbeat does); "stale" does not.
  advance(2500ms);
  ASSERT_TRUE(segment_.heartbeats().touch(registry_->process(fresh)->handle, now_ns()));
  advance(300ms);
  control_->tick(now_);  // 2.8 s: nobody is past 3 s yet
  EXPECT_EQ(registry_->process_count(), 3u);

  advance(300ms);
  control_->tick(now_);  // 3.1 s: "stale" is past the timeout, "fresh" was touched 0.6 s ago
  EXPECT_NE(registry_->process(fresh), nullptr);
  EXPECT_EQ(registry_->process(stale), nullptr);
  EXPECT_NE(registry_->process(quiet), nullptr);  // unmonitored: never timed out
  EXPECT_TRUE(host_.was_closed(conn(2)));
  EXPECT_FALSE(host_.was_closed(conn(1)));
  EXPECT_EQ(count(DaemonCounter::kDeathsHeartbeat), 1u);
  EXPECT_EQ(registry_->topic_count(), 0u);
  expect_consistent();

  // Much later: the unmonitored process is still there, the untouched "fresh" is not.
  advance(10s);
  control_->tick(now_);
  EXPECT_EQ(registry_->process(fresh), nullptr);
  EXPECT_NE(registry_->process(quiet), nullptr);
  EXPECT_EQ(count(DaemonCounter::kDeathsHeartbeat), 2u);
}

TEST_F(Deaths, PidfdExitRemovesAtOnceAndDropsTheConnection) {
  registered(1, "p");
  create_publisher(1, topic("t"));
  ASSERT_EQ(host_.watches.size(), 1u);
  control_->process_exited(host_.watches[0].handle);
  EXPECT_EQ(registry_->process_count(), 0u);
  EXPECT_EQ(registry_->publisher_count(), 0u);
  EXPECT_TRUE(host_.was_closed(conn(1)));
  EXPECT_EQ(count(DaemonCounter::kDeathsExited), 1u);
  // The hang-up that follows is the same death: no second removal, no second count.
  control_->closed(conn(1), reactor::CloseReason::kPeerClosed);
  EXPECT_EQ(count(DaemonCounter::kDeathsHangUp), 0u);
  EXPECT_EQ(control_->connection_count(), 0u);
  expect_consistent();
}

TEST_F(Deaths, HangUpRemovesAtOnceAndQuarantinesItsMemoryUntilTheExit) {
  registered(1, "p");
  create_subscriber(1, topic("t"));
  const auto arena_before = queues_->stats().allocations;
  control_->closed(conn(1), reactor::CloseReason::kPeerClosed);
  EXPECT_EQ(registry_->process_count(), 0u);
  EXPECT_EQ(registry_->subscriber_count(), 0u);
  EXPECT_EQ(count(DaemonCounter::kDeathsHangUp), 1u);
  // It closed its socket, but it may still run: its queue stays, and so does the pidfd watch.
  EXPECT_TRUE(host_.cancelled.empty());
  EXPECT_EQ(control_->quarantined(), 1u);
  EXPECT_EQ(count(DaemonCounter::kQuarantined), 1u);
  settle();
  EXPECT_EQ(queues_->stats().allocations, arena_before)
      << "freed while the process may still write it";
  expect_consistent();
  // Its exit: the same death (no second count), and its memory goes.
  control_->process_exited(host_.watches[0].handle);
  EXPECT_EQ(count(DaemonCounter::kDeathsExited), 0u);
  EXPECT_EQ(control_->quarantined(), 0u);
  settle();
  EXPECT_EQ(queues_->stats().allocations, 0u);
  expect_consistent();
}

// A direct publisher removed for a heartbeat timeout may still be in the middle of a push:
// it keeps holding a removed subscriber's queue (its guard), and once it exits the claims it
// left in live subscribers' queues are stepped over.
TEST_F(Deaths, AHungDirectPublisherKeepsGuardingUntilItExitsAndItsClaimsAreRepaired) {
  const std::uint32_t pub_slot = registered(1, "pub", true);
  registered(2, "sub");
  const std::uint32_t s_keep = subscriber_id(create_subscriber(2, topic("d")));
  const std::uint32_t s_gone = subscriber_id(create_subscriber(2, topic("d")));
  const std::uint32_t pub_id = publisher_id(create_publisher(1, topic("d")));
  const PublisherRecord* pub = registry_->publisher(pub_id);
  ASSERT_NE(pub, nullptr);
  ASSERT_NE(pub->port->route_table, 0u) << "topics are direct by default";
  // The publisher is in the middle of a push with its table's version: its guard is busy, and
  // it has claimed a position in s_keep's queue (tail) without publishing it.
  const auto* table =
      reinterpret_cast<const shm::RouteTable*>(segment_.base() + pub->port->route_table);
  shm::atomic_store(pub->port->in.header()->direct_guard, shm::guard_busy(table->version),
                    std::memory_order_seq_cst);
  shm::RingHeader* keep_q = registry_->subscriber(s_keep)->port->queue.header();
  keep_q->tail += 1;
  (void)pub_slot;

  EXPECT_EQ(destroy_subscriber(2, s_gone).code(), fb::ResultCode::Ok);
  advance(3500ms);
  control_->tick(now_);  // the publisher's process misses its heartbeat: removed, quarantined
  EXPECT_EQ(registry_->publisher(pub_id), nullptr);
  EXPECT_EQ(control_->quarantined(), 1u);
  settle();
  const auto held = queues_->stats().allocations;
  EXPECT_GT(held, 0u);
  expect_consistent();

  control_->process_exited(host_.watches[0].handle);
  EXPECT_EQ(count(DaemonCounter::kAbandonedClaims), 1u)
      << "its claim in the live subscriber's queue";
  auto q = shm::MpmcRing<shm::MessageHeader>::attach(
      segment_.base(), segment_.size(), registry_->subscriber(s_keep)->port->queue_desc);
  ASSERT_TRUE(q);
  shm::MessageHeader m{};
  EXPECT_FALSE(q->try_pop(m)) << "nothing was published there";
  EXPECT_TRUE(q->idle()) << "the subscriber is past the abandoned claim";
  settle();
  EXPECT_LT(queues_->stats().allocations, held) << "its rings and the removed queue are freed";
  expect_consistent();
}

TEST_F(Deaths, DaemonSideHangUpIsCountedAsDisconnected) {
  registered(1, "p");
  control_->closed(conn(1), reactor::CloseReason::kSendQueueFull);
  EXPECT_EQ(count(DaemonCounter::kDeathsDisconnected), 1u);
  EXPECT_EQ(registry_->process_count(), 0u);
}

TEST_F(Deaths, IdleUnregisteredConnectionsAreClosedRegisteredOnesAreNot) {
  control_->open(conn(1), peer(1), now_);
  registered(2, "p");
  control_->open(conn(3), peer(3), now_);
  advance(5s);
  list(3);  // activity keeps conn 3 alive
  advance(6s);
  control_->tick(now_);
  EXPECT_TRUE(host_.was_closed(conn(1)));
  EXPECT_FALSE(host_.was_closed(conn(2)));
  EXPECT_FALSE(host_.was_closed(conn(3)));
  EXPECT_EQ(count(DaemonCounter::kClosedIdle), 1u);
  control_->tick(now_);
  EXPECT_EQ(count(DaemonCounter::kClosedIdle), 1u);  // asked once, until the close is reported
}

TEST_F(Deaths, EveryOrderOfNoticesRemovesOnceAndLogsOnce) {
  // unregister, then hang-up; heartbeat, then exit, then hang-up.
  registered(1, "a", true);
  unregister(1);
  control_->closed(conn(1), reactor::CloseReason::kPeerClosed);
  registered(2, "b", true);
  ProcessHandle b = registry_->processes()[host_.watches.back().handle.index]->handle;
  advance(4s);
  control_->tick(now_);
  control_->process_exited(b);
  control_->closed(conn(2), reactor::CloseReason::kPeerClosed);
  EXPECT_EQ(count(DaemonCounter::kUnregistrations), 1u);
  EXPECT_EQ(count(DaemonCounter::kDeathsHeartbeat), 1u);
  EXPECT_EQ(count(DaemonCounter::kDeathsExited) + count(DaemonCounter::kDeathsHangUp), 0u);
  EXPECT_EQ(registry_->process_count(), 0u);
  expect_consistent();
}

}  // namespace
}  // namespace zcp::daemon::test
