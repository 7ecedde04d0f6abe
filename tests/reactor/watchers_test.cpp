// Timer, signalfd and pidfd watches, each through the reactor's ring.
#include "reactor/watchers.hpp"

#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "reactor_test_util.hpp"
#include "support/test_support.hpp"

namespace zcp::reactor::test {
namespace {

TEST(Timer, TicksWithExpirationsAndMonotonicTime) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  std::vector<std::uint64_t> expirations;
  std::vector<MonoTime> times;
  auto id = reactor.add_timer(std::chrono::milliseconds(5), [&](std::uint64_t n, MonoTime now) {
    expirations.push_back(n);
    times.push_back(now);
  });
  ASSERT_TRUE(id) << id.error().message();
  ASSERT_TRUE(pump_until(reactor, [&] { return expirations.size() >= 3; }));
  for (std::uint64_t n : expirations)
    EXPECT_GE(n, 1u);
  for (std::size_t i = 1; i < times.size(); ++i)
    EXPECT_LE(times[i - 1], times[i]);
  EXPECT_LE(times.back(), monotonic_now());

  // After cancel() returns no tick is delivered, and the watch goes away.
  ASSERT_TRUE(reactor.cancel(*id));
  const std::size_t at_cancel = expirations.size();
  EXPECT_FALSE(reactor.cancel(*id));
  ASSERT_TRUE(pump_until(reactor, [&] { return reactor.watch_count() == 0; }));
  EXPECT_EQ(expirations.size(), at_cancel);
}

TEST(Timer, RejectsNonPositivePeriod) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  auto id = reactor.add_timer(std::chrono::nanoseconds(0), [](std::uint64_t, MonoTime) {});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().err, EINVAL);
}

TEST(Timer, CancelFromItsOwnCallback) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  int ticks = 0;
  WatchId self;
  auto id = reactor.add_timer(std::chrono::milliseconds(1), [&](std::uint64_t, MonoTime) {
    ++ticks;
    EXPECT_TRUE(reactor.cancel(self));
  });
  ASSERT_TRUE(id);
  self = *id;
  ASSERT_TRUE(pump_until(reactor, [&] { return reactor.watch_count() == 0; }));
  EXPECT_EQ(ticks, 1);
}

TEST(Signals, SignalfdDeliversBlockedSignal) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  // The watch blocks SIGUSR1 in this (the only test) thread before anything raises it, so
  // it can only be consumed through the signalfd.
  std::vector<int> seen;
  auto id = reactor.add_signals({SIGUSR1, SIGUSR2}, [&](int signo) { seen.push_back(signo); });
  ASSERT_TRUE(id) << id.error().message();
  sigset_t mask;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, nullptr, &mask), 0);
  ASSERT_EQ(sigismember(&mask, SIGUSR1), 1);

  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  ASSERT_TRUE(pump_until(reactor, [&] { return seen.size() == 1; }));
  EXPECT_EQ(seen[0], SIGUSR1);
  ASSERT_TRUE(reactor.cancel(*id));
  ASSERT_TRUE(pump_until(reactor, [&] { return reactor.watch_count() == 0; }));
}

TEST(Pidfd, FiresWhenChildExits) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  zcp::test::ProcessBarrier go(2);
  zcp::test::Child child([&] {
    go.wait();
    return 7;
  });
  std::vector<pid_t> exited;
  auto id = reactor.watch_process(child.pid(), [&](pid_t pid) { exited.push_back(pid); });
  if (!id && id.error().err == ENOSYS) GTEST_SKIP() << id.error().message();
  ASSERT_TRUE(id) << id.error().message();
  go.wait();
  ASSERT_TRUE(pump_until(reactor, [&] { return !exited.empty(); }));
  EXPECT_EQ(exited, std::vector<pid_t>{child.pid()});
  EXPECT_EQ(child.wait(), 7);
  // The watch ended by itself.
  EXPECT_EQ(reactor.watch_count(), 0u);
  EXPECT_FALSE(reactor.cancel(*id));
}

TEST(Pidfd, CancelledWatchStaysSilent) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  zcp::test::ProcessBarrier go(2);
  zcp::test::Child child([&] {
    go.wait();
    return 0;
  });
  int calls = 0;
  auto id = reactor.watch_process(child.pid(), [&](pid_t) { ++calls; });
  if (!id && id.error().err == ENOSYS) GTEST_SKIP() << id.error().message();
  ASSERT_TRUE(id) << id.error().message();
  ASSERT_TRUE(reactor.run_once(std::chrono::nanoseconds(0)));  // the poll is armed
  ASSERT_TRUE(reactor.cancel(*id));
  ASSERT_TRUE(pump_until(reactor, [&] { return reactor.watch_count() == 0; }));
  go.wait();
  EXPECT_EQ(child.wait(), 0);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(reactor.run_once(std::chrono::milliseconds(1)));
  EXPECT_EQ(calls, 0);
}

TEST(Pidfd, InvalidPidIsAnError) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  auto id = reactor.watch_process(0, [](pid_t) {});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().err, EINVAL);
}

}  // namespace
}  // namespace zcp::reactor::test
