// The one cross-thread entry point: Waker::wake() from other threads (run under TSan).
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reactor_test_util.hpp"

namespace zcp::reactor::test {
namespace {

TEST(Wakeup, CountsFromSeveralThreadsAddUp) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  std::uint64_t total = 0;
  int callbacks = 0;
  auto wake = reactor.add_wakeup([&](std::uint64_t n) {
    total += n;
    ++callbacks;
  });
  ASSERT_TRUE(wake) << wake.error().message();

  constexpr int kThreads = 4;
  constexpr int kWakesEach = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([waker = wake->waker, &failures] {
      for (int i = 0; i < kWakesEach; ++i) {
        // relaxed: a plain failure counter, read after join()
        if (!waker.wake()) failures.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  ASSERT_TRUE(pump_until(reactor, [&] { return total == kThreads * kWakesEach; }));
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(failures.load(std::memory_order_relaxed), 0);
  EXPECT_EQ(total, static_cast<std::uint64_t>(kThreads * kWakesEach));
  EXPECT_GE(callbacks, 1);
  EXPECT_LE(callbacks, kThreads * kWakesEach);
}

TEST(Wakeup, AnotherThreadStopsRun) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  bool woken = false;
  auto wake = reactor.add_wakeup([&](std::uint64_t) {
    woken = true;
    reactor.stop();
  });
  ASSERT_TRUE(wake) << wake.error().message();
  bool timed_out = false;
  // Only turns a hang into a failure.
  ASSERT_TRUE(reactor.add_timer(std::chrono::seconds(20), [&](std::uint64_t, MonoTime) {
    timed_out = true;
    reactor.stop();
  }));
  std::thread waker([w = wake->waker] { EXPECT_TRUE(w.wake()); });
  auto ran = reactor.run();
  waker.join();
  ASSERT_TRUE(ran) << ran.error().message();
  EXPECT_TRUE(woken);
  EXPECT_FALSE(timed_out);
}

TEST(Wakeup, WakeAfterCancelIsHarmless) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  int calls = 0;
  auto wake = reactor.add_wakeup([&](std::uint64_t) { ++calls; });
  ASSERT_TRUE(wake);
  ASSERT_TRUE(reactor.cancel(wake->id));
  ASSERT_TRUE(pump_until(reactor, [&] { return reactor.watch_count() == 0; }));
  std::thread t([w = wake->waker] { EXPECT_TRUE(w.wake()); });
  t.join();
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(reactor.run_once(std::chrono::milliseconds(1)));
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace zcp::reactor::test
