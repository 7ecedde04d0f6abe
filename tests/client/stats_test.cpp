// The stats region end to end: real diroute, real client processes, and the test reading the
// segment read-only by name, as zcp-top does. After a scripted scenario the descriptors name
// the right processes and topics, and the counters equal what was sent, delivered and
// dropped; when a client dies its slots turn kFree and the counts drop. The client-written
// ring counters (producer_full, consumer_empty) equal what the clients saw.
#include "shm/stats.hpp"

#include <optional>
#include <vector>

#include "pubsub_helpers.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "shm/stats_names.hpp"

namespace zcp::client_test {
namespace {

using shm::get_text;
using shm::read_counter;
constexpr auto kLive = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
constexpr auto kFree = static_cast<std::uint32_t>(shm::StatsSlotState::kFree);

struct Script {
  std::atomic<int> pub_exit{0};
  std::atomic<int> subs_exit{0};
  std::atomic<int> published{0};
  std::atomic<int> taken{0};
  std::atomic<long> loan_failures{0};
  std::atomic<long> would_blocks{0};
};

// The segment, read-only, and what a tool looks up in it.
class StatsView {
 public:
  explicit StatsView(const std::string& instance) {
    auto s = shm::Segment::open("/zcp." + instance + ".seg", /*writable=*/false);
    EXPECT_TRUE(s) << s.error().message;
    if (s) seg_ = std::move(*s);
  }
  const shm::StatsRegion& stats() const { return seg_.stats(); }
  bool valid() const { return seg_.stats().valid(); }

  template <class Slot>
  static Slot copy(const Slot* s) {
    Slot out{};
    if (s != nullptr) {
      EXPECT_TRUE(shm::seq_read(*s, out));
    }
    return out;
  }
  // The live slot whose pid is `pid`, or nullopt.
  std::optional<std::uint32_t> process_of(pid_t pid) const {
    for (std::uint32_t i = 0; i < stats().header().process_slots; ++i) {
      auto p = copy(stats().process(i));
      if (p.state == kLive && p.pid == pid) return i;
    }
    return std::nullopt;
  }
  std::optional<std::uint32_t> publisher_of(pid_t pid) const {
    for (std::uint32_t i = 0; i < stats().header().publisher_slots; ++i) {
      auto p = copy(stats().publisher(i));
      if (p.state == kLive && p.pid == pid) return i;
    }
    return std::nullopt;
  }
  std::optional<std::uint32_t> subscriber_of(pid_t pid) const {
    for (std::uint32_t i = 0; i < stats().header().subscriber_slots; ++i) {
      auto s = copy(stats().subscriber(i));
      if (s.state == kLive && s.pid == pid) return i;
    }
    return std::nullopt;
  }
  std::optional<std::uint32_t> topic_named(std::string_view service, std::string_view instance,
                                           std::string_view event) const {
    for (std::uint32_t i = 0; i < stats().header().topic_slots; ++i) {
      auto t = copy(stats().topic(i));
      if (t.state == kLive && get_text(t.service) == service && get_text(t.instance) == instance &&
          get_text(t.event) == event) {
        return i;
      }
    }
    return std::nullopt;
  }
  const shm::RingHeader& ring(std::uint64_t offset) const {
    return *reinterpret_cast<const shm::RingHeader*>(seg_.base() + offset);
  }
  std::uint64_t daemon_counter(shm::DaemonCounter c) const {
    return read_counter(stats().daemon_counters()[static_cast<std::size_t>(c)]);
  }

 private:
  shm::Segment seg_;
};

TEST_F(PubSubTest, StatsRegionAccountsForEveryMessageAndEveryDeath) {
  constexpr std::uint64_t kN = 200;
  constexpr std::uint32_t kTiny = 4;
  SharedAnon mem(sizeof(Script));
  Script* s = new (mem.get()) Script;
  ProcessBarrier ready(3);

  Child all([&] {  // takes everything
    auto rt = connect("stats-all");
    auto sub = rt ? Subscriber<>::create(*rt, "t/stats/flow", {.queue_capacity = 256})
                  : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(sub, "create: %s", sub.error().message.c_str());
    CHILD_CHECK(receive_n(*sub, kN, [](const Sample<>&) { return true; }), "did not receive %llu",
                static_cast<unsigned long long>(kN));
    s->taken = 1;
    CHILD_CHECK(wait_until([&] { return s->subs_exit.load() != 0; }, 40s), "never told to exit");
    return 0;
  });
  Child tiny([&] {  // drop_newest, a queue of 4, never takes
    auto rt = connect("stats-tiny");
    auto sub =
        rt ? Subscriber<>::create(*rt, "t/stats/flow",
                                  {.queue_capacity = kTiny, .policy = QueuePolicy::kDropNewest})
           : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(sub, "create: %s", sub.error().message.c_str());
    CHILD_CHECK(wait_until([&] { return s->subs_exit.load() != 0; }, 40s), "never told to exit");
    return 0;
  });
  Child pub([&] {
    auto rt = connect("stats-pub");
    auto p = rt ? Publisher<>::create(*rt, "t/stats/flow", {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    CHILD_CHECK(wait_subscribers(*p, 2), "subscribers not seen");
    CHILD_CHECK(publish_n(*p, kN, 48, 3) >= 0, "publishing failed");
    s->published = 1;
    CHILD_CHECK(wait_until([&] { return s->pub_exit.load() != 0; }, 40s), "never told to exit");
    return 0;
  });

  ASSERT_TRUE(wait_until([&] { return s->published.load() && s->taken.load(); }, 40s));
  StatsView v(instance_);
  ASSERT_TRUE(v.valid());
  auto pub_proc = v.process_of(pub.pid());
  auto all_proc = v.process_of(all.pid());
  auto tiny_proc = v.process_of(tiny.pid());
  ASSERT_TRUE(pub_proc && all_proc && tiny_proc);
  auto pp = StatsView::copy(v.stats().process(*pub_proc));
  EXPECT_EQ(get_text(pp.name), "stats-pub-" + std::to_string(pub.pid()));
  EXPECT_EQ(pp.uid, ::getuid());
  EXPECT_EQ(pp.publishers, 1u);
  EXPECT_EQ(pp.subscribers, 0u);
  EXPECT_EQ(StatsView::copy(v.stats().process(*all_proc)).subscribers, 1u);

  auto topic = v.topic_named("t", "stats", "flow");
  ASSERT_TRUE(topic);
  auto t = StatsView::copy(v.stats().topic(*topic));
  EXPECT_EQ(t.publishers, 1u);
  EXPECT_EQ(t.subscribers, 2u);

  // The publisher: routed == N (flush() returned, so every message was routed).
  auto pslot = v.publisher_of(pub.pid());
  ASSERT_TRUE(pslot);
  const shm::PublisherStats* ps = v.stats().publisher(*pslot);
  auto pd = StatsView::copy(ps);
  EXPECT_EQ(pd.topic_slot, *topic);
  EXPECT_EQ(pd.process_slot, *pub_proc);
  EXPECT_EQ(read_counter(ps->routed), kN);
  EXPECT_EQ(read_counter(v.ring(pd.publish_ring_offset).tail), kN) << "the client published N";

  // The subscribers: delivered + dropped == N each; the tiny one kept its queue's worth.
  auto aslot = v.subscriber_of(all.pid());
  auto tslot = v.subscriber_of(tiny.pid());
  ASSERT_TRUE(aslot && tslot);
  const shm::SubscriberStats* as = v.stats().subscriber(*aslot);
  const shm::SubscriberStats* ts = v.stats().subscriber(*tslot);
  EXPECT_EQ(read_counter(as->delivered), kN);
  EXPECT_EQ(read_counter(as->dropped), 0u);
  auto td = StatsView::copy(ts);
  EXPECT_EQ(td.capacity, kTiny);
  EXPECT_EQ(td.policy, static_cast<std::uint32_t>(QueuePolicy::kDropNewest));
  EXPECT_EQ(read_counter(ts->delivered), kTiny);
  EXPECT_EQ(read_counter(ts->dropped), kN - kTiny);
  EXPECT_EQ(read_counter(ts->delivered) + read_counter(ts->dropped), kN);
  EXPECT_EQ(read_counter(v.ring(td.queue_offset).dropped), kN - kTiny)
      << "the queue's own count agrees";

  // The worker and the daemon counters.
  EXPECT_EQ(read_counter(v.stats().worker(0)->routed), kN);
  EXPECT_EQ(v.daemon_counter(shm::DaemonCounter::kRegistrations), 3u);
  EXPECT_EQ(v.daemon_counter(shm::DaemonCounter::kPublishersCreated), 1u);
  EXPECT_EQ(v.daemon_counter(shm::DaemonCounter::kSubscribersCreated), 2u);
  EXPECT_EQ(v.stats().daemon_counter_count(), shm::kDaemonCounterCount);

  // The publisher dies: its slots turn kFree, the topic's count drops.
  const std::uint64_t gen = read_counter(v.stats().header().topology_generation);
  s->pub_exit = 1;
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  // The reactor frees the endpoints first and the process last, then bumps the generation:
  // wait for the generation, and everything before it is visible (its release/acquire).
  EXPECT_TRUE(
      wait_until([&] { return StatsView::copy(v.stats().process(*pub_proc)).state == kFree; }, 5s));
  EXPECT_TRUE(
      wait_until([&] { return read_counter(v.stats().header().topology_generation) > gen; }, 5s));
  EXPECT_EQ(StatsView::copy(v.stats().publisher(*pslot)).state, kFree);
  EXPECT_EQ(StatsView::copy(v.stats().topic(*topic)).publishers, 0u);
  EXPECT_EQ(StatsView::copy(v.stats().topic(*topic)).subscribers, 2u);

  // The subscribers die: every slot of the scenario is free, the topic too.
  s->subs_exit = 1;
  EXPECT_EQ(all.wait(kChildTimeout), 0);
  EXPECT_EQ(tiny.wait(kChildTimeout), 0);
  EXPECT_TRUE(wait_until(
      [&] {
        return StatsView::copy(v.stats().process(*all_proc)).state == kFree &&
               StatsView::copy(v.stats().process(*tiny_proc)).state == kFree;
      },
      5s));
  EXPECT_EQ(StatsView::copy(v.stats().topic(*topic)).state, kFree);
  EXPECT_EQ(StatsView::copy(v.stats().subscriber(*aslot)).state, kFree);
  EXPECT_EQ(StatsView::copy(v.stats().subscriber(*tslot)).state, kFree);
}

// loan() that finds the loan ring empty counts on its consumer line; publish() that finds the
// publish ring full counts on its producer line. A block_publisher subscriber that never takes
// stalls the router, so the publisher runs out of both.
TEST_F(PubSubTest, ClientRingCountersCountEmptyLoansAndFullRings) {
  SharedAnon mem(sizeof(Script));
  Script* s = new (mem.get()) Script;
  ProcessBarrier ready(2);
  Child stuck([&] {
    auto rt = connect("stats-stuck");
    auto sub =
        rt ? Subscriber<>::create(*rt, "t/stats/stuck",
                                  {.queue_capacity = 1, .policy = QueuePolicy::kBlockPublisher})
           : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(sub, "create: %s", sub.error().message.c_str());
    CHILD_CHECK(wait_until([&] { return s->subs_exit.load() != 0; }, 40s), "never told to exit");
    return 0;
  });
  Child pub([&] {
    auto rt = connect("stats-blocked");
    auto p = rt ? Publisher<>::create(
                      *rt, "t/stats/stuck",
                      {.max_loans = 4, .max_payload = 64, .loan_wait = std::chrono::nanoseconds(0)})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    CHILD_CHECK(wait_subscribers(*p, 1), "subscriber not seen");
    // The router fills the loan ring once it routes for the publisher, which may be after the
    // subscriber is counted (a publisher created after it): with no loan_wait, the loop below
    // runs the loans dry only if it starts with them.
    RouterView router;
    const shm::RingHeader* loans = router.loan_ring_of(p->id());
    CHILD_CHECK(loans != nullptr, "no stats slot for publisher %u", p->id());
    CHILD_CHECK(wait_until(
                    [&] {
                      return shm::atomic_load(loans->tail, std::memory_order_relaxed) >=
                             p->max_loans();
                    },
                    10s),
                "the router never lent the publisher its %u chunks", p->max_loans());
    for (int i = 0; i < 64; ++i) {
      auto loan = p->loan(16);
      if (!loan) {
        CHILD_CHECK(loan.error().code == Errc::kPoolExhausted, "loan: %s",
                    loan.error().message.c_str());
        ++s->loan_failures;
        continue;
      }
      auto r = p->publish(std::move(*loan));  // publish_timeout 0: WouldBlock at once
      if (!r) {
        CHILD_CHECK(r.error().code == Errc::kWouldBlock, "publish: %s", r.error().message.c_str());
        ++s->would_blocks;
      }
    }
    s->published = 1;
    CHILD_CHECK(wait_until([&] { return s->pub_exit.load() != 0; }, 40s), "never told to exit");
    return 0;
  });
  ASSERT_TRUE(wait_until([&] { return s->published.load() != 0; }, 40s));
  StatsView v(instance_);
  ASSERT_TRUE(v.valid());
  auto pslot = v.publisher_of(pub.pid());
  ASSERT_TRUE(pslot);
  auto pd = StatsView::copy(v.stats().publisher(*pslot));
  EXPECT_GT(s->loan_failures.load(), 0) << "the scenario must run the loans dry";
  EXPECT_EQ(read_counter(v.ring(pd.loan_ring_offset).consumer_empty),
            static_cast<std::uint64_t>(s->loan_failures.load()));
  EXPECT_EQ(read_counter(v.ring(pd.publish_ring_offset).producer_full),
            static_cast<std::uint64_t>(s->would_blocks.load()));
  // The router counts the stall when it gets to the publish ring: under load, after the
  // publisher finished its attempts.
  EXPECT_TRUE(
      wait_until([&] { return read_counter(v.stats().publisher(*pslot)->blocked) > 0; }, 10s))
      << "the router never saw the full queue";
  s->pub_exit = 1;
  s->subs_exit = 1;
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(stuck.wait(kChildTimeout), 0);
}

}  // namespace
}  // namespace zcp::client_test
