// libzcp end to end, failures: processes killed with samples held or loans outstanding
// (nothing leaks: the fixture's pool check), loans and samples outliving their endpoint, and
// the daemon's death reported as kDisconnected. Real diroute, real processes.
#include <vector>

#include <signal.h>

#include "pubsub_helpers.hpp"

namespace zcp::client_test {
namespace {

using namespace std::chrono_literals;
using zcp::test::Child;
using zcp::test::ProcessBarrier;
using zcp::test::SharedAnon;

TEST_F(PubSubTest, SubscriberKilledMidStreamLeaksNothing) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  ProcessBarrier ready(2);
  Child sub([&] {
    auto rt = connect("sub");
    auto s = rt ? Subscriber<>::create(*rt, "t/kill/sub", {.queue_capacity = 16, .max_held = 4})
                : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    std::vector<Sample<>> held;
    while (held.size() < 4) {
      if (auto x = s->take())
        held.push_back(std::move(*x));
      else
        s->wait(100ms);
    }
    auto refused = s->try_take();  // a fifth is refused while four are held
    CHILD_CHECK(!refused && refused.error().code == Errc::kTooManyHeld, "fifth take not refused");
    RouterView router;
    const shm::RingHeader* queue = router.queue_of(s->id());
    CHILD_CHECK(queue != nullptr, "no stats slot for subscriber %u", s->id());
    CHILD_CHECK(wait_until([&] { return RouterView::depth(*queue) == s->queue_capacity(); }, 20s),
                "the queue never filled behind the held samples");
    flags->step = 1;
    ::pause();  // killed here, holding 4 samples with a full queue behind them
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "t/kill/sub", {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    wait_subscribers(*p, 1);
    while (flags->step.load() < 2) {  // until the subscriber is dead, and some more
      CHILD_CHECK(publish_n(*p, 10, 64, 2) >= 0, "publishing failed");
      std::this_thread::sleep_for(1ms);  // polls step: a batch of 10 per check
    }
    CHILD_CHECK(publish_n(*p, 200, 64, 2) >= 0, "publishing after the kill failed");
    return 0;
  });
  ASSERT_TRUE(await_step(*flags, 1));
  sub.kill(SIGKILL);
  EXPECT_EQ(sub.wait(kChildTimeout), 128 + SIGKILL);
  flags->step = 2;
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, PublisherKilledWithLoansOutstandingLeaksNothing) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  Child pub([&] {
    auto rt = connect("pub");
    CHILD_CHECK(rt, "connect");
    auto p = Publisher<>::create(*rt, "t/kill/pub", {.max_payload = 64, .loan_wait = 1s});
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    CHILD_CHECK(publish_n(*p, 5, 64, 1) >= 0, "publish");
    std::vector<Loan<>> loans;
    for (;;) {
      auto l = p->loan(64);
      if (!l) {
        CHILD_CHECK(l.error().code == Errc::kTooManyLoans, "stopped at %zu loans by: %s",
                    loans.size(), l.error().message.c_str());
        break;
      }
      loans.push_back(std::move(*l));
    }
    CHILD_CHECK(loans.size() == p->max_loans(), "%zu loans of max %u", loans.size(),
                p->max_loans());
    loans.pop_back();  // one dropped unpublished: it goes back through the publish ring
    auto again = p->loan(64);
    CHILD_CHECK(again, "a dropped loan did not make room: %s", again.error().message.c_str());
    loans.push_back(std::move(*again));
    flags->count = static_cast<int>(loans.size());
    flags->step = 1;
    ::pause();  // killed here with max_loans loans outstanding
    return 0;
  });
  ASSERT_TRUE(await_step(*flags, 1));
  auto stats = pools();
  std::uint32_t out = 0;
  for (const auto& p : stats)
    out += p.total - p.free;
  EXPECT_GE(out, static_cast<std::uint32_t>(flags->count.load()))
      << "loaned chunks are not out of the pool";
  pub.kill(SIGKILL);
  EXPECT_EQ(pub.wait(kChildTimeout), 128 + SIGKILL);
}

TEST_F(PubSubTest, DroppedLoansAndOrphanedSamplesGoBack) {
  ProcessBarrier ready(2);
  Child sub([&] {
    auto rt = connect("sub");
    auto s = rt ? Subscriber<>::create(*rt, "t/drop/x", {.queue_capacity = 64})
                : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    std::vector<Sample<>> keep;
    CHILD_CHECK(
        receive_n(*s, 10, [&](Sample<>& x) { return keep.emplace_back(std::move(x)), true; }),
        "receive");
    // The subscriber goes first; its samples keep its port open until the last is dropped.
    { Subscriber<> gone = std::move(*s); }
    CHILD_CHECK(keep.back().sequence() == 10 && intact(keep.back().data(), 4, 10),
                "a sample outlived its subscriber badly");
    keep.clear();
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "t/drop/x", {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    for (int round = 0; round < 5; ++round) {  // far more than max_loans: every drop went back
      std::vector<Loan<>> drop;
      for (int i = 0; i < 16; ++i) {
        auto l = p->loan(64);
        CHILD_CHECK(l, "loan: %s", l.error().message.c_str());
        drop.push_back(std::move(*l));
      }
      drop.front().reset();
    }
    for (int i = 0; i < 200; ++i) {
      auto l = p->loan(8);
      CHILD_CHECK(l, "loan %d after drops: %s", i, l.error().message.c_str());
    }
    wait_subscribers(*p, 1);
    CHILD_CHECK(publish_n(*p, 10, 64, 4) >= 0, "publish");
    // The publisher goes first while a loan is alive: the loan still returns its chunk.
    auto last = p->loan(64);
    CHILD_CHECK(last, "loan");
    { Publisher<> gone = std::move(*p); }
    last->reset();
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, DaemonLossIsReportedAsDisconnected) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  ProcessBarrier ready(3);
  Child sub([&] {
    auto rt = connect("sub");
    auto s = rt ? Subscriber<>::create(*rt, "t/loss/x") : Result<Subscriber<>>(Unexpected(Error{}));
    if (s) flags->value = s->id();
    ready.wait();
    CHILD_CHECK(s, "create");
    // Asleep when the daemon dies (the test waits for that): only the loss can end this wait
    // before the test gives up on the child.
    while (s->connected())
      s->wait(2 * kChildTimeout);
    CHILD_CHECK(!s->wait(1s), "wait after the loss");
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "t/loss/x") : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create");
    CHILD_CHECK(wait_until([&] { return !p->connected(); }, 10s), "never noticed");
    auto l = p->loan(8);
    CHILD_CHECK(!l && l.error().code == Errc::kDisconnected, "loan after the loss");
    auto r = p->publish_copy(std::as_bytes(std::span("x")));
    CHILD_CHECK(!r && r.error().code == Errc::kDisconnected, "publish after the loss");
    return 0;
  });
  ready.wait();
  ASSERT_NE(flags->value.load(), 0U) << "the subscriber was not created";
  RouterView router;
  ASSERT_TRUE(wait_until(
      [&] {
        const shm::RingHeader* q = router.queue_of(static_cast<std::uint32_t>(flags->value.load()));
        return q != nullptr && RouterView::asleep(*q);
      },
      20s))
      << "the subscriber never went to sleep on its eventfd";
  skip_leak_check_ = true;
  daemon_->stop(SIGKILL);
  EXPECT_EQ(sub.wait(kChildTimeout), 0) << "wait() slept through the daemon's death";
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
}

}  // namespace
}  // namespace zcp::client_test
