// libzcp end to end, queue policies and history: exact drop counts that agree with the
// sequence gaps, lossless back-pressure that surfaces as WouldBlock, and a late joiner's
// history. Real diroute, real processes (pubsub_helpers.hpp).
#include <vector>

#include "pubsub_helpers.hpp"

namespace zcp::client_test {
namespace {

using namespace std::chrono_literals;
using zcp::test::Child;
using zcp::test::ProcessBarrier;
using zcp::test::SharedAnon;

// Publish rings of 32: back-pressure reaches publish() within a few dozen messages.
class SmallRingTest : public PubSubTest {
 protected:
  std::vector<std::string> daemon_args() const override { return {"--publish-ring=32"}; }
};
// Routed delivery (the router makes every delivery), with small publish rings too.
class RoutedTest : public PubSubTest {
 protected:
  std::vector<std::string> daemon_args() const override {
    return {"--routed-topic=*", "--publish-ring=32"};
  }
};

TEST_F(PubSubTest, DropOldestKeepsTheNewestAndCountsEveryDrop) {
  run_drop_policy(QueuePolicy::kDropOldest);
}
TEST_F(PubSubTest, DropNewestKeepsTheOldestAndCountsEveryDrop) {
  run_drop_policy(QueuePolicy::kDropNewest);
}
TEST_F(RoutedTest, DropOldestKeepsTheNewestAndCountsEveryDrop) {
  run_drop_policy(QueuePolicy::kDropOldest);
}
TEST_F(RoutedTest, DropNewestKeepsTheOldestAndCountsEveryDrop) {
  run_drop_policy(QueuePolicy::kDropNewest);
}

// A slow block_publisher subscriber holds the publisher back (WouldBlock at publish()), and
// loses nothing.
void run_block_publisher() {
  constexpr std::uint64_t kN = 500;
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  SharedAnon done_mem(sizeof(Flags));
  Flags* done = new (done_mem.get()) Flags;
  ProcessBarrier ready(2);
  Child sub([&] {
    Done bump(done);
    auto rt = connect("sub");
    auto s =
        rt ? Subscriber<>::create(*rt, "t/policy/block",
                                  {.queue_capacity = 4, .policy = QueuePolicy::kBlockPublisher})
           : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    // Takes nothing until publish() found the publish ring full (its producer_full count):
    // the queue of 4 and the router behind it are full, and the publisher must wait.
    CHILD_CHECK(wait_until([&] { return flags->value.load() != 0; }, 20s), "no publisher id");
    RouterView router;
    const shm::RingHeader* ring =
        router.publish_ring_of(static_cast<std::uint32_t>(flags->value.load()));
    CHILD_CHECK(ring != nullptr, "no stats slot for the publisher");
    CHILD_CHECK(wait_until([&] { return shm::read_counter(ring->producer_full) > 0; }, 20s),
                "the publish ring never filled");
    CHILD_CHECK(receive_n(*s, kN, InOrder{5, 1, 100}), "stream broken");
    CHILD_CHECK(s->dropped() == 0, "dropped %llu", static_cast<unsigned long long>(s->dropped()));
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "t/policy/block", {.max_payload = 100, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    flags->value = p->id();
    wait_subscribers(*p, 1);
    long wb = publish_n(*p, kN, 100, 5);
    CHILD_CHECK(wb >= 0, "publishing failed");
    flags->count = static_cast<int>(wb);
    CHILD_CHECK(wb > 0, "back-pressure never reached publish() as WouldBlock");
    CHILD_CHECK(await_done(*done, 1), "the subscriber did not finish");
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
  ::testing::Test::RecordProperty("would_block", flags->count.load());
}

TEST_F(SmallRingTest, BlockPublisherIsLosslessAndSurfacesAsWouldBlock) {
  run_block_publisher();
}
TEST_F(RoutedTest, BlockPublisherIsLosslessAndSurfacesAsWouldBlock) {
  run_block_publisher();
}

// Publish, flush, destroy at once: is everything delivered? The subscriber's queue holds 1
// and it takes nothing at first: message 1 fills the queue, and the router pops message 2 from
// the publish ring and holds it back (the publisher's `blocked` counter says so). The publish
// ring is empty then, but flush() waits for the router's `routed` mark, which counts only
// delivered messages: it must not succeed while message 2 is held back, and once the
// subscriber takes, a publisher destroyed right after its flush() has lost nothing.
TEST_F(PubSubTest, PublisherDestroyedRightAfterPublishingLosesNothing) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  ProcessBarrier ready(2);
  Child sub([&] {
    auto rt = connect("sub");
    auto s =
        rt ? Subscriber<>::create(*rt, "t/linger/x",
                                  {.queue_capacity = 1, .policy = QueuePolicy::kBlockPublisher})
           : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    CHILD_CHECK(s->queue_capacity() == 1, "queue capacity %u", s->queue_capacity());
    CHILD_CHECK(await_step(*flags, 1), "the publisher never saw message 2 held back");
    CHILD_CHECK(receive_n(*s, 2, InOrder{6, 1, 8}, 3s),
                "a message of a destroyed publisher was lost");
    CHILD_CHECK(await_step(*flags, 2), "the publisher's destruction did not finish");
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "t/linger/x", {.max_payload = 8, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    wait_subscribers(*p, 1);
    for (int i = 0; i < 2; ++i) {
      auto loan = p->loan(8);
      CHILD_CHECK(loan, "loan: %s", loan.error().message.c_str());
      fill(loan->data(), 6, p->published() + 1);
      CHILD_CHECK(p->publish(std::move(*loan)), "publish failed");
    }
    RouterView router;
    const shm::PublisherStats* stats = router.publisher(p->id());
    CHILD_CHECK(stats != nullptr, "no stats slot for publisher %u", p->id());
    CHILD_CHECK(wait_until([&] { return shm::read_counter(stats->blocked) > 0; }, 10s),
                "the router never held message 2 back");
    auto early = p->flush(0ns);
    CHILD_CHECK(!early && early.error().code == Errc::kTimeout,
                "flush() succeeded while the router held message 2 back");
    flags->step = 1;  // the subscriber takes now
    // flush() returns only once the router routed both, the held-back one included.
    CHILD_CHECK(p->flush(5s), "flush did not see both messages routed");
    { Publisher<> gone = std::move(*p); }
    flags->step = 2;
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, LateJoinerReceivesHistoryFirst) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  Child pub([&] {
    auto rt = connect("pub");
    CHILD_CHECK(rt, "connect");
    auto p = Publisher<>::create(*rt, "t/history/x",
                                 {.history_depth = 5, .max_payload = 16, .loan_wait = 1s});
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    CHILD_CHECK(p->history_depth() == 5, "history depth granted %u", p->history_depth());
    for (std::uint64_t i = 1; i <= 20; ++i) {
      auto loan = p->loan(16);
      CHILD_CHECK(loan, "loan: %s", loan.error().message.c_str());
      fill(loan->data(), 9, i);
      CHILD_CHECK(p->publish(std::move(*loan), 5s), "publish");
    }
    CHILD_CHECK(p->flush(5s), "flush");
    flags->step = 1;
    CHILD_CHECK(await_step(*flags, 2), "subscriber did not join");
    wait_subscribers(*p, 1);
    for (std::uint64_t i = 21; i <= 25; ++i) {
      auto loan = p->loan(16);
      CHILD_CHECK(loan, "loan: %s", loan.error().message.c_str());
      fill(loan->data(), 9, i);
      CHILD_CHECK(p->publish(std::move(*loan), 5s), "publish");
    }
    CHILD_CHECK(p->flush(5s), "flush");
    CHILD_CHECK(await_step(*flags, 3), "subscriber did not finish");
    return 0;
  });
  Child sub([&] {
    auto rt = connect("sub");
    CHILD_CHECK(rt && await_step(*flags, 1), "setup");
    auto s = Subscriber<>::create(*rt, "t/history/x", {.queue_capacity = 64, .history_request = 5});
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    flags->step = 2;
    CHILD_CHECK(receive_n(*s, 10, InOrder{9, 16, 16}, 10s), "history then live");
    flags->step = 3;
    return 0;
  });
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
}

}  // namespace
}  // namespace zcp::client_test
