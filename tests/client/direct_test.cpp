// Direct delivery end to end (docs/router.md, "Direct delivery"), diroute's default: publishers
// of "d/..." push into subscriber queues themselves and the router settles their records. Real
// diroute, real processes; the fixture checks after each test that every chunk went back to its
// pool.
#include <algorithm>
#include <vector>

#include <poll.h>
#include <signal.h>

#include "client/runtime_impl.hpp"
#include "pubsub_helpers.hpp"

namespace zcp::client_test {
namespace {

using namespace std::chrono_literals;
using zcp::test::Child;
using zcp::test::ProcessBarrier;
using zcp::test::SharedAnon;

class DirectTest : public PubSubTest {};

// Takes sequences first..last (receive_n), checking that they rise by one and that payloads
// are intact. Every `pause_every` messages (0: never) it stops taking until its queue is full
// (as far as the messages still to come can fill it), so the publisher finds it full.
int take_all(Subscriber<>& s, std::uint64_t first, std::uint64_t last, std::uint32_t tag,
             std::uint64_t pause_every = 0) {
  RouterView router;
  const shm::RingHeader* queue = pause_every != 0 ? router.queue_of(s.id()) : nullptr;
  CHILD_CHECK(pause_every == 0 || queue != nullptr, "no stats slot for subscriber %u", s.id());
  std::uint64_t expect = first;
  const bool ok = receive_n(s, last - first + 1, [&](const Sample<>& x) {
    if (x.sequence() != expect || !intact(x.data(), tag, expect)) {
      std::fprintf(stderr, "[pid %d] sequence %llu (expected %llu), payload %s\n", ::getpid(),
                   static_cast<unsigned long long>(x.sequence()),
                   static_cast<unsigned long long>(expect),
                   intact(x.data(), tag, x.sequence()) ? "intact" : "corrupt");
      return false;
    }
    if (pause_every != 0 && expect % pause_every == 0) {
      const std::uint64_t full = std::min<std::uint64_t>(s.queue_capacity(), last - expect);
      if (!wait_until([&] { return RouterView::depth(*queue) >= full; }, 20s)) {
        std::fprintf(stderr, "[pid %d] the queue never filled after sequence %llu\n", ::getpid(),
                     static_cast<unsigned long long>(expect));
        return false;
      }
    }
    ++expect;
    return true;
  });
  CHILD_CHECK(ok, "stopped before sequence %llu", static_cast<unsigned long long>(expect));
  return 0;
}

TEST_F(DirectTest, FanOutIsLosslessAndOrderedWithASlowSubscriber) {
  constexpr std::uint64_t kN = 20000;
  constexpr int kSubs = 3;
  SharedAnon mem(sizeof(Flags));
  Flags* done = new (mem.get()) Flags;
  ProcessBarrier ready(kSubs + 1);
  std::vector<std::unique_ptr<Child>> subs;
  for (int i = 0; i < kSubs; ++i) {
    subs.push_back(std::make_unique<Child>([&, i] {
      Done bump(done);
      auto rt = connect("sub");
      auto s =
          rt ? Subscriber<>::create(*rt, "d/fan/out",
                                    {.queue_capacity = 16, .policy = QueuePolicy::kBlockPublisher})
             : Result<Subscriber<>>(Unexpected(Error{}));
      ready.wait();
      CHILD_CHECK(s, "create: %s", s.error().message.c_str());
      // Subscriber 0 stops every 500 messages until its queue is full: the publisher leaves it
      // to the router, and the router must keep its order while the others go on directly.
      return take_all(*s, 1, kN, 3, i == 0 ? 500 : 0);
    }));
  }
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "d/fan/out", {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    CHILD_CHECK(wait_subscribers(*p, kSubs), "subscribers did not arrive");
    CHILD_CHECK(publish_n(*p, kN, 48, 3) >= 0, "publishing failed");
    CHILD_CHECK(await_done(*done, kSubs), "subscribers did not finish");
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  for (auto& s : subs)
    EXPECT_EQ(s->wait(kChildTimeout), 0);
  // The publisher pushed directly: the workers settled its records.
  EXPECT_GT(direct_settled(), 0U);
}

// The publisher leaves a full queue to the router, which applies the policy: the counts and
// the sequence gaps agree as on a routed topic (policy_test.cpp).
TEST_F(DirectTest, DropOldestKeepsTheNewestAndCountsEveryDrop) {
  run_drop_policy(QueuePolicy::kDropOldest, "d/policy/drop");
}
TEST_F(DirectTest, DropNewestKeepsTheOldestAndCountsEveryDrop) {
  run_drop_policy(QueuePolicy::kDropNewest, "d/policy/drop");
}

// A late joiner with a history request: the router replays history into its queue when it
// applies the Add command, and the publisher pushes to it directly only after the router has
// settled a record made with the route version that lists it, so history comes first.
TEST_F(DirectTest, ALateJoinerGetsItsHistoryBeforeDirectPushes) {
  constexpr std::uint64_t kBefore = 10;
  constexpr std::uint64_t kAfter = 2000;
  constexpr std::uint32_t kHistory = 5;
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  ProcessBarrier ready(2);
  Child sub([&] {
    auto rt = connect("sub");
    ready.wait();
    CHILD_CHECK(rt, "connect");
    CHILD_CHECK(await_step(*flags, 1), "publisher did not publish its first batch");
    auto s = Subscriber<>::create(*rt, "d/hist/x",
                                  {.queue_capacity = 64,
                                   .policy = QueuePolicy::kBlockPublisher,
                                   .history_request = kHistory});
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    flags->step = 2;
    const int rc = take_all(*s, kBefore - kHistory + 1, kBefore + kAfter, 9);
    flags->step = 3;
    return rc;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p =
        rt ? Publisher<>::create(*rt, "d/hist/x",
                                 {.history_depth = kHistory, .max_payload = 64, .loan_wait = 1s})
           : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    CHILD_CHECK(publish_n(*p, kBefore, 48, 9) >= 0, "publishing failed");
    flags->step = 1;
    CHILD_CHECK(await_step(*flags, 2), "subscriber did not join");
    // No wait for the worker: the first direct pushes race with the history replay.
    CHILD_CHECK(publish_n(*p, kAfter, 48, 9) >= 0, "publishing failed");
    CHILD_CHECK(await_step(*flags, 3), "subscriber did not finish");
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

// The publisher wakes a sleeping subscriber itself: with diroute stopped (SIGSTOP, so neither
// its reactor nor its router worker runs), each message still reaches a subscriber asleep on
// its eventfd. The publisher holds the subscriber's eventfd (a WakeFds notice) and its loans
// (taken before the stop); the router settles everything after SIGCONT.
TEST_F(DirectTest, APublisherWakesASleepingSubscriberWithoutTheRouter) {
  constexpr int kN = 8;  // within the loans the publisher takes before the daemon stops
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;  // step: the subscriber is asleep for message `step`
  SharedAnon ready_mem(sizeof(Flags));
  Flags* ready = new (ready_mem.get()) Flags;  // count: processes ready; value: daemon stopped
  Child sub([&] {
    auto rt = connect("sub");
    auto s = rt ? Subscriber<>::create(*rt, "d/wake/x") : Result<Subscriber<>>(Unexpected(Error{}));
    CHILD_CHECK(s, "create: %s", s ? "" : s.error().message.c_str());
    ready->count.fetch_add(1);
    CHILD_CHECK(wait_until([&] { return ready->value.load() != 0; }, 20s),
                "the daemon was not stopped");
    for (int i = 1; i <= kN; ++i) {
      CHILD_CHECK(s->prepare_wait(), "message %d arrived before the subscriber slept", i);
      flags->step = i;
      pollfd p{s->native_handle(), POLLIN, 0};
      const int n = ::poll(&p, 1, 20000);
      s->finish_wait();
      CHILD_CHECK(n == 1, "message %d: no wake-up within 20 s with the router stopped", i);
      auto x = s->take();
      CHILD_CHECK(x && x->sequence() == static_cast<std::uint64_t>(i), "message %d: took %llu", i,
                  x ? static_cast<unsigned long long>(x->sequence()) : 0ULL);
    }
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "d/wake/x", {.max_payload = 64, .loan_wait = 5s})
                : Result<Publisher<>>(Unexpected(Error{}));
    CHILD_CHECK(p, "create: %s", p ? "" : p.error().message.c_str());
    CHILD_CHECK(wait_subscribers(*p, 1), "no subscriber");
    std::vector<Loan<>> loans;
    for (int i = 0; i < kN; ++i) {
      auto l = p->loan(8);
      CHILD_CHECK(l, "loan: %s", l ? "" : l.error().message.c_str());
      loans.push_back(std::move(*l));
    }
    // The WakeFds notice follows the subscriber's listing (the router wakes it until then).
    CHILD_CHECK(wait_until([&] { return rt->impl().session()->wake_fds.size() == 1; }, 20s),
                "the publisher holds %zu subscriber eventfds",
                rt->impl().session()->wake_fds.size());
    ready->count.fetch_add(1);
    CHILD_CHECK(wait_until([&] { return ready->value.load() != 0; }, 20s),
                "the daemon was not stopped");
    for (int i = 1; i <= kN; ++i) {
      CHILD_CHECK(wait_until([&] { return flags->step.load() >= i; }, 20s),
                  "the subscriber did not sleep");
      CHILD_CHECK(p->publish(std::move(loans[static_cast<std::size_t>(i - 1)])), "publish %d", i);
    }
    // It counted each wake-up it made on its publish ring, where tools read it.
    RouterView view;
    const shm::RingHeader* ring = view.publish_ring_of(p->id());
    CHILD_CHECK(
        ring != nullptr && shm::read_counter(ring->wakeups) == static_cast<std::uint64_t>(kN),
        "the publisher counted %llu wake-ups",
        ring ? static_cast<unsigned long long>(shm::read_counter(ring->wakeups)) : 0ULL);
    CHILD_CHECK(wait_until([&] { return ready->value.load() == 2; }, 40s),
                "the daemon was not continued");
    return 0;  // the publisher's Runtime goes after the daemon runs again
  });
  ASSERT_TRUE(wait_until([&] { return ready->count.load() == 2; }, 20s));
  ASSERT_EQ(::kill(daemon_->pid(), SIGSTOP), 0);
  ready->value = 1;
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
  EXPECT_EQ(::kill(daemon_->pid(), SIGCONT), 0);
  ready->value = 2;
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
}

// Subscribers come and go while the publisher pushes into their queues: the reactor frees a
// leaving subscriber's queue only once the publisher's guard says it cannot still push there
// (the queue may be reused for the next subscriber at once). Every subscriber must see
// intact payloads in rising order, and nothing may leak.
TEST_F(DirectTest, SubscriberChurnWhilePublishingCorruptsNothing) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  ProcessBarrier ready(2);
  Child churn([&] {
    struct Stop {  // on every exit: the publisher loops until told
      Flags* f;
      ~Stop() { f->step = 1; }
    } stop{flags};
    auto rt = connect("churn");
    ready.wait();
    CHILD_CHECK(rt, "connect");
    std::uint64_t taken = 0;
    for (int round = 0; round < 150; ++round) {
      auto s = Subscriber<>::create(*rt, "d/churn/x",
                                    {.queue_capacity = static_cast<std::uint32_t>(4 + round % 5)});
      CHILD_CHECK(s, "create %d: %s", round, s.error().message.c_str());
      std::uint64_t last = 0;
      for (int i = 0; i < 20; ++i) {
        auto x = s->take();
        if (!x) {
          s->wait(1ms);
          continue;
        }
        CHILD_CHECK(x->sequence() > last, "round %d: sequence %llu after %llu", round,
                    static_cast<unsigned long long>(x->sequence()),
                    static_cast<unsigned long long>(last));
        CHILD_CHECK(intact(x->data(), 5, x->sequence()), "round %d: payload of %llu", round,
                    static_cast<unsigned long long>(x->sequence()));
        last = x->sequence();
        ++taken;
      }
    }
    CHILD_CHECK(taken > 0, "no message taken in any round");
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "d/churn/x", {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    while (flags->step.load() == 0) {
      auto loan = p->loan(48);
      CHILD_CHECK(loan, "loan: %s", loan.error().message.c_str());
      fill(loan->data(), 5, p->published() + 1);
      auto r = p->publish(std::move(*loan), 1s);
      CHILD_CHECK(r, "publish: %s", r.error().message.c_str());
    }
    return 0;
  });
  EXPECT_EQ(churn.wait(kChildTimeout), 0);
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_GT(direct_settled(), 0U);
}

// A publisher killed in the middle of a stream: the router settles what it left (its ring
// and the record at the ring's tail), the subscriber keeps every chunk it got valid until it
// releases it, and once both are gone every chunk is back in its pool.
TEST_F(DirectTest, PublisherKilledMidStreamLeaksNothing) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  ProcessBarrier ready(2);
  Child sub([&] {
    auto rt = connect("sub");
    auto s = rt ? Subscriber<>::create(*rt, "d/kill/x", {.queue_capacity = 64})
                : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    std::vector<Sample<>> held;  // keeps a few samples across the kill, then checks them
    std::uint64_t last = 0;
    for (;;) {
      auto x = s->take();
      if (!x) {
        if (flags->step.load() >= 1 && !s->wait(300ms) && !s->has_data()) break;  // drained
        if (flags->step.load() == 0) s->wait(10ms);
        continue;
      }
      CHILD_CHECK(x->sequence() > last, "sequence %llu after %llu",
                  static_cast<unsigned long long>(x->sequence()),
                  static_cast<unsigned long long>(last));
      CHILD_CHECK(intact(x->data(), 7, x->sequence()), "payload of %llu",
                  static_cast<unsigned long long>(x->sequence()));
      last = x->sequence();
      flags->value.store(last);
      if (held.size() < 4) held.push_back(std::move(*x));
    }
    for (const Sample<>& h : held) {
      CHILD_CHECK(intact(h.data(), 7, h.sequence()),
                  "held sample %llu changed after the publisher died",
                  static_cast<unsigned long long>(h.sequence()));
    }
    CHILD_CHECK(last > 0, "nothing received");
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "d/kill/x", {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    for (;;) {  // until killed
      auto loan = p->loan(48);
      if (!loan) continue;
      fill(loan->data(), 7, p->published() + 1);
      (void)p->publish(std::move(*loan), 100ms);
    }
  });
  ASSERT_TRUE(wait_until([&] { return flags->value.load() > 2000; }, 20s))
      << "the subscriber got too little";
  ::kill(pub.pid(), SIGKILL);
  EXPECT_EQ(pub.wait(kChildTimeout), 128 + SIGKILL);
  flags->step = 1;
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

}  // namespace
}  // namespace zcp::client_test
