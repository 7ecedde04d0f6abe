// The stats region as the control plane writes it (fake clock, stepped router): descriptors
// appear with the objects and turn kFree when they go, whatever the cause; endpoint counts
// follow; a publisher's or subscriber's slot (with its counter line) is reused only after the
// router let go of the old port, and starts from zero; the daemon-wide endpoint limits refuse
// and count; the daemon counters live in the region; the health warnings are rate-limited.
#include <cstring>

#include "control_plane_fixture.hpp"
#include "shm/stats.hpp"

namespace zcp::daemon::test {
namespace {

using StatsWriterTest = ControlPlaneTest;
using shm::get_text;
using shm::StatsSlotState;

constexpr auto kLive = static_cast<std::uint32_t>(StatsSlotState::kLive);
constexpr auto kFree = static_cast<std::uint32_t>(StatsSlotState::kFree);

template <class Slot>
Slot read(const Slot* s) {
  Slot out{};
  EXPECT_NE(s, nullptr);
  if (s != nullptr) {
    EXPECT_TRUE(shm::seq_read(*s, out));
  }
  return out;
}

class StatsFixture : public StatsWriterTest {
 protected:
  const shm::StatsRegion& stats() const { return segment_.stats(); }
  std::uint32_t pub_slot(std::uint32_t id) const { return registry_->publisher(id)->stats_slot; }
  std::uint32_t sub_slot(std::uint32_t id) const { return registry_->subscriber(id)->stats_slot; }
  std::uint32_t topic_slot(const char* service) const {
    const TopicEntry* t = registry_->topic(TopicKey{service, "i", "e"});
    return t != nullptr ? t->stats_slot : kNoStatsSlot;
  }
};

TEST_F(StatsFixture, DescriptorsFollowTheRegistry) {
  const std::uint32_t slot = registered(1, "feed", true);
  shm::ProcessStats p = read(stats().process(slot));
  EXPECT_EQ(p.state, kLive);
  EXPECT_EQ(get_text(p.name), "feed");
  EXPECT_EQ(p.pid, peer(1).pid);
  EXPECT_EQ(p.uid, 1000u);
  EXPECT_EQ(p.heartbeat_slot, slot);
  EXPECT_EQ(p.monitored, 1u);
  EXPECT_GT(p.registered_realtime_ns, 0u);

  const std::uint32_t pub = publisher_id(create_publisher(1, topic("md")));
  const std::uint32_t sub = subscriber_id(create_subscriber(1, topic("md"), 16));
  p = read(stats().process(slot));
  EXPECT_EQ(p.publishers, 1u);
  EXPECT_EQ(p.subscribers, 1u);

  shm::TopicStats t = read(stats().topic(topic_slot("md")));
  EXPECT_EQ(t.state, kLive);
  EXPECT_EQ(get_text(t.service), "md");
  EXPECT_EQ(get_text(t.instance), "i");
  EXPECT_EQ(get_text(t.event), "e");
  EXPECT_EQ(t.id, registry_->topic(TopicKey{"md", "i", "e"})->id);
  EXPECT_EQ(t.publishers, 1u);
  EXPECT_EQ(t.subscribers, 1u);

  const PublisherRecord& pr = *registry_->publisher(pub);
  shm::PublisherStats ps = read(stats().publisher(pr.stats_slot));
  EXPECT_EQ(ps.state, kLive);
  EXPECT_EQ(ps.id, pub);
  EXPECT_EQ(ps.process_slot, slot);
  EXPECT_EQ(ps.topic_slot, topic_slot("md"));
  EXPECT_EQ(ps.pid, peer(1).pid);
  EXPECT_EQ(ps.worker, pr.worker);
  EXPECT_EQ(ps.max_loans, pr.port->max_loans);
  EXPECT_EQ(ps.max_payload, pr.chunk_size);
  EXPECT_EQ(ps.publish_ring_offset, pr.port->publish_desc.offset);
  EXPECT_EQ(ps.loan_ring_offset, pr.port->loan_desc.offset);
  EXPECT_EQ(pr.port->stats, stats().publisher(pr.stats_slot)) << "the port counts into its slot";

  const SubscriberRecord& sr = *registry_->subscriber(sub);
  shm::SubscriberStats ss = read(stats().subscriber(sr.stats_slot));
  EXPECT_EQ(ss.state, kLive);
  EXPECT_EQ(ss.id, sub);
  EXPECT_EQ(ss.process_slot, slot);
  EXPECT_EQ(ss.capacity, 16u);
  EXPECT_EQ(ss.policy, static_cast<std::uint32_t>(QueuePolicy::kDropOldest));
  EXPECT_EQ(ss.queue_offset, sr.port->queue_desc.offset);
  EXPECT_EQ(ss.release_offset, sr.port->release_desc.offset);
  EXPECT_EQ(sr.port->stats, stats().subscriber(sr.stats_slot));

  const std::uint32_t ps_slot = pr.stats_slot;
  const std::uint64_t gen = shm::read_counter(stats().header().topology_generation);
  EXPECT_EQ(destroy_publisher(1, pub).code(), fb::ResultCode::Ok);
  EXPECT_EQ(read(stats().publisher(ps_slot)).state, kFree);
  EXPECT_EQ(read(stats().process(slot)).publishers, 0u);
  EXPECT_EQ(read(stats().topic(topic_slot("md"))).publishers, 0u);
  EXPECT_GT(shm::read_counter(stats().header().topology_generation), gen);
  expect_consistent();
}

TEST_F(StatsFixture, EverySlotTurnsFreeWhenTheProcessDies) {
  const std::uint32_t slot = registered(1, "victim", true);
  const std::uint32_t pub = publisher_id(create_publisher(1, topic("a")));
  const std::uint32_t sub = subscriber_id(create_subscriber(1, topic("b")));
  const std::uint32_t ps = pub_slot(pub), ss = sub_slot(sub), ta = topic_slot("a"),
                      tb = topic_slot("b");
  advance(std::chrono::seconds(10));  // past the heartbeat timeout
  control_->tick(now_);
  settle();
  EXPECT_EQ(count(DaemonCounter::kDeathsHeartbeat), 1u);
  EXPECT_EQ(read(stats().process(slot)).state, kFree);
  EXPECT_EQ(read(stats().publisher(ps)).state, kFree);
  EXPECT_EQ(read(stats().subscriber(ss)).state, kFree);
  EXPECT_EQ(read(stats().topic(ta)).state, kFree);
  EXPECT_EQ(read(stats().topic(tb)).state, kFree);
  expect_consistent();
}

TEST_F(StatsFixture, ASlotIsReusedOnlyAfterTheRouterLetGoAndStartsAtZero) {
  registered(1, "p");
  const std::uint32_t first = publisher_id(create_publisher(1, topic("x")));
  const std::uint32_t slot = pub_slot(first);
  shm::PublisherStats* line = stats().publisher(slot);
  shm::bump(line->routed, 5);  // as if its worker had routed five
  // Destroy without letting the workers run: the old port may still count into the slot.
  auto frame = protocol::encode_destroy_publisher(next_id(), first);
  ASSERT_TRUE(frame);
  Reply r =
      control_->handle(conn(1), peer(1), std::as_bytes(std::span(*frame)), frame->size(), now_);
  (void)r;
  EXPECT_EQ(registry_->retired_pending(), 1u);
  const std::uint32_t second =
      publisher_id(ask(1, protocol::encode_create_publisher(next_id(), topic("x"), {})));
  EXPECT_NE(pub_slot(second), slot) << "taken while a worker could still write it";
  settle();
  EXPECT_EQ(registry_->retired_pending(), 0u);
  const std::uint32_t third = publisher_id(create_publisher(1, topic("y")));
  EXPECT_EQ(pub_slot(third), slot) << "the lowest free slot goes out first";
  EXPECT_EQ(shm::read_counter(line->routed), 0u) << "a reused slot's counters start from zero";
  expect_consistent();
}

TEST_F(StatsFixture, DaemonWidePublisherAndSubscriberLimits) {
  FixtureOptions opt;
  opt.registry.limits.max_publishers = 2;
  opt.registry.limits.max_subscribers = 1;
  build(opt);
  EXPECT_EQ(stats().header().publisher_slots, 2u);
  registered(1, "a");
  registered(2, "b");
  publisher_id(create_publisher(1, topic("t1")));
  publisher_id(create_publisher(2, topic("t2")));
  Answer a = create_publisher(2, topic("t3"));
  EXPECT_EQ(a.code(), fb::ResultCode::LimitReached);
  EXPECT_NE(a.message().find("publishers = 2 daemon-wide"), std::string::npos) << a.message();
  EXPECT_EQ(count(DaemonCounter::kLimitPublishersTotal), 1u);
  EXPECT_EQ(registry_->topic(TopicKey{"t3", "i", "e"}), nullptr) << "no topic left behind";
  subscriber_id(create_subscriber(1, topic("t1")));
  Answer b = create_subscriber(2, topic("t1"));
  EXPECT_EQ(b.code(), fb::ResultCode::LimitReached);
  EXPECT_NE(b.message().find("subscribers = 1 daemon-wide"), std::string::npos) << b.message();
  EXPECT_EQ(count(DaemonCounter::kLimitSubscribersTotal), 1u);
  // The counters a tool reads are the same words.
  EXPECT_EQ(stats().daemon_counter_count(), kDaemonCounterCount);
  EXPECT_EQ(shm::read_counter(stats().daemon_counters()[static_cast<std::size_t>(
                DaemonCounter::kLimitPublishersTotal)]),
            1u);
  EXPECT_EQ(shm::read_counter(
                stats().daemon_counters()[static_cast<std::size_t>(DaemonCounter::kRegistrations)]),
            2u);
  // Room again once one goes.
  unregister(1);
  EXPECT_EQ(create_publisher(2, topic("t3")).code(), fb::ResultCode::Ok);
  expect_consistent();
}

TEST_F(StatsFixture, DropWarningsAreRateLimited) {
  registered(1, "slow");
  const std::uint32_t sub = subscriber_id(create_subscriber(1, topic("d")));
  shm::SubscriberStats* line = stats().subscriber(sub_slot(sub));
  control_->tick(now_);
  EXPECT_EQ(count(DaemonCounter::kDropWarnings), 0u);
  shm::bump(line->dropped, 3);
  control_->tick(now_);
  EXPECT_EQ(count(DaemonCounter::kDropWarnings), 1u);
  for (int i = 0; i < 9; ++i) {  // 9 s more of drops: no new warning
    shm::bump(line->dropped);
    advance(std::chrono::seconds(1));
    control_->tick(now_);
  }
  EXPECT_EQ(count(DaemonCounter::kDropWarnings), 1u);
  advance(std::chrono::seconds(1));
  shm::bump(line->dropped);
  control_->tick(now_);
  EXPECT_EQ(count(DaemonCounter::kDropWarnings), 2u);
  advance(std::chrono::seconds(30));
  control_->tick(now_);  // no new drops: no warning
  EXPECT_EQ(count(DaemonCounter::kDropWarnings), 2u);
}

TEST_F(StatsFixture, PoolNearExhaustionWarnsOnceUntilItRecovers) {
  router::ChunkLedger& ledger = router_->ledger();
  router::OwnerSet held = ledger.make_owner_set();
  const std::uint32_t total = segment_.pool().stats(0).total;
  control_->tick(now_);
  EXPECT_EQ(count(DaemonCounter::kPoolLowWarnings), 0u);
  for (std::uint32_t i = 0; i < total - total / 20; ++i)
    ASSERT_TRUE(ledger.lend(held, 0));
  control_->tick(now_);
  control_->tick(now_);
  EXPECT_EQ(count(DaemonCounter::kPoolLowWarnings), 1u) << "once per episode";
  ledger.reclaim(held);
  control_->tick(now_);
  for (std::uint32_t i = 0; i < total - total / 20; ++i)
    ASSERT_TRUE(ledger.lend(held, 0));
  control_->tick(now_);
  EXPECT_EQ(count(DaemonCounter::kPoolLowWarnings), 2u) << "a new episode after the recovery";
  ledger.reclaim(held);
}

}  // namespace
}  // namespace zcp::daemon::test
