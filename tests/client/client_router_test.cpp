// libzcp's data path end to end in one process: the real client library against the real
// router, hosted by MiniDaemon (a test double of diroute speaking the real protocol).
// Threads play publisher and subscriber, so the TSan build checks the client's side of every
// ring. The multi-process tests against the real diroute are in pubsub_test.cpp.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zcp/zcp.hpp>
#if !defined(ZCP_TSAN)  // Asio's fences are invisible to TSan (gcc refuses them: -Wtsan)
#include <zcp/asio.hpp>
#endif

#include "client/control_channel.hpp"
#include "client/runtime_impl.hpp"
#include "mini_daemon.hpp"
#include "shm/atomic.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace zcp::client_test {
namespace {

using namespace std::chrono_literals;

class ClientRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/zcp-crt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    instance_ = zcp::test::unique_instance("cr");
    ::setenv("ZCP_RUNTIME_DIR", dir_.c_str(), 1);
    shm::ChunkPoolConfig pools{{{64, 256}, {1024, 64}, {8192, 16}}};
    daemon_ = std::make_unique<MiniDaemon>(dir_, instance_, pools);
    ASSERT_TRUE(daemon_->ok()) << daemon_->problem();
    // No reconnect: MiniDaemon simulates a daemon loss by hanging up while it still listens
    // (a reconnect would re-register at once), and its router reads through this runtime's
    // first mapping (set_data_mapping), which a reconnect would replace.
    auto rt = Runtime::connect({.name = "crt", .instance = instance_, .reconnect = false});
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
    daemon_->set_data_mapping(rt_->impl().session()->segment.base());
  }
  void TearDown() override {
    // Every port of the test is gone by now (destroyed at the end of the test body).
    if (daemon_ && daemon_->ok()) {
      std::string leaks;
      for (int i = 0; i < 500; ++i) {
        leaks = daemon_->pool_leaks();
        if (leaks.empty()) break;
        std::this_thread::sleep_for(2ms);
      }
      EXPECT_EQ(leaks, "") << "chunks leaked";
      daemon_->stop_router();  // it works through the runtime's mapping: stop it first
    }
    rt_.reset();
    daemon_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Publisher<> publisher(const std::string& topic,
                        PublisherOptions o = {.max_payload = 64, .loan_wait = 1s}) {
    auto p = Publisher<>::create(*rt_, topic, o);
    EXPECT_TRUE(p) << p.error().message;
    return std::move(*p);
  }
  Subscriber<> subscriber(const std::string& topic, SubscriberOptions o = {}) {
    auto s = Subscriber<>::create(*rt_, topic, o);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }

  std::string dir_;
  std::string instance_;
  std::unique_ptr<MiniDaemon> daemon_;
  std::unique_ptr<Runtime> rt_;
};

void put(Loan<>& l, std::uint64_t v) {
  std::memcpy(l.data().data(), &v, sizeof(v));
}
std::uint64_t get(const Sample<>& s) {
  std::uint64_t v = 0;
  std::memcpy(&v, s.data().data(), std::min(sizeof(v), s.size()));
  return v;
}

using zcp::test::wait_until;

// The subscriber announced that it sleeps on its eventfd (its queue's waiting word).
bool asleep(const shm::RingHeader& queue) {
  return shm::atomic_load(queue.waiting, std::memory_order_relaxed) != 0;
}

Result<void> publish_value(Publisher<>& p, std::uint64_t v, std::chrono::nanoseconds timeout = 5s) {
  auto l = p.loan(8);
  if (!l) return Unexpected(std::move(l).error());
  put(*l, v);
  return p.publish(std::move(*l), timeout);
}

// The runtime thread sleeps in poll() until its next heartbeat tick. A timeout truncated to
// whole milliseconds made it spin in poll(0) through the last millisecond of every period.
TEST(PollTimeout, RoundsUpSoAnIdleRuntimeSleepsUntilItsTick) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  const auto t = std::chrono::steady_clock::now();
  EXPECT_EQ(client::poll_timeout_ms(t + microseconds(400), t), 1)
      << "0.4 ms left: sleep 1 ms, not poll(0)";
  EXPECT_EQ(client::poll_timeout_ms(t + microseconds(1001), t), 2);
  EXPECT_EQ(client::poll_timeout_ms(t + milliseconds(100), t), 100);
  EXPECT_EQ(client::poll_timeout_ms(t, t), 0) << "due now";
  EXPECT_EQ(client::poll_timeout_ms(t - milliseconds(5), t), 0) << "overdue";
}

TEST_F(ClientRouterTest, OrderedCompleteThroughTheWaitHandshake) {
  constexpr std::uint64_t kN = 20000;
  auto sub = subscriber("a/b/c", {.queue_capacity = 16, .policy = QueuePolicy::kBlockPublisher});
  auto pub = publisher("a/b/c");
  EXPECT_TRUE(pub.has_subscribers());
  const shm::RingHeader* queue = daemon_->subscriber_queue(sub.id());
  ASSERT_NE(queue, nullptr);
  std::atomic<std::uint64_t> taken{0};
  std::thread consumer([&] {
    std::uint64_t next = 1;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      while (auto s = sub.take()) {
        ASSERT_EQ(s->sequence(), next);
        ASSERT_EQ(get(*s), next * 3);
        ASSERT_EQ(s->publisher_id(), pub.id());
        taken.store(next++);
      }
      const auto now = std::chrono::steady_clock::now();
      if (next > kN || now >= deadline) break;
      // Only a wake-up from the router ends this early: one lost leaves us here to the end.
      sub.wait(deadline - now);
    }
    EXPECT_EQ(next, kN + 1);
  });
  for (std::uint64_t i = 1; i <= kN; ++i) {
    if (!publish_value(pub, i * 3)) {
      ADD_FAILURE() << "publish " << i << " failed";
      break;
    }
    // Every 1000 messages, wait until the consumer took them all and sleeps on its eventfd:
    // the next publication must wake it.
    if (i % 1000 == 0 && i < kN) {
      EXPECT_TRUE(wait_until([&] { return taken.load() == i && asleep(*queue); }, 20s))
          << "the consumer did not go to sleep after " << i;
    }
  }
  consumer.join();
  EXPECT_EQ(sub.dropped(), 0u);
  EXPECT_EQ(sub.held(), 0u);
}

TEST_F(ClientRouterTest, DropPoliciesCountExactly) {
  for (QueuePolicy policy : {QueuePolicy::kDropOldest, QueuePolicy::kDropNewest}) {
    auto sub = subscriber("p/o/l", {.queue_capacity = 5, .policy = policy});
    auto pub = publisher("p/o/l");
    for (std::uint64_t i = 1; i <= 50; ++i)
      ASSERT_TRUE(publish_value(pub, i));
    ASSERT_TRUE(pub.flush(5s));
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (sub.dropped() != 45 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    EXPECT_EQ(sub.dropped(), 45u);
    std::vector<std::uint64_t> seqs;
    while (auto s = sub.take())
      seqs.push_back(s->sequence());
    std::vector<std::uint64_t> want;
    for (std::uint64_t i = 0; i < 5; ++i)
      want.push_back(policy == QueuePolicy::kDropOldest ? 46 + i : 1 + i);
    EXPECT_EQ(seqs, want);
  }
}

TEST_F(ClientRouterTest, BlockPublisherSurfacesAsWouldBlockAndKeepsTheLoan) {
  auto sub = subscriber("b/l/k", {.queue_capacity = 2, .policy = QueuePolicy::kBlockPublisher});
  auto pub = publisher("b/l/k");
  std::uint64_t sent = 0;
  Result<void> r;
  Loan<> held;
  for (;;) {  // nobody takes: the queue, the router's stash and the publish ring fill up
    auto l = pub.loan(8);
    ASSERT_TRUE(l) << l.error().message;
    put(*l, sent + 1);
    // Waits 20 ms for room: a refusal then means the router is stalled, not just behind.
    r = pub.publish(std::move(*l), 20ms);
    if (!r) {
      held = std::move(*l);
      break;
    }
    ++sent;
    ASSERT_LT(sent, 1000u) << "back-pressure never reached publish()";
  }
  EXPECT_EQ(r.error().code, Errc::kWouldBlock) << r.error().message;
  EXPECT_TRUE(held.valid()) << "a refused publish must leave the loan with the caller";
  auto again = pub.publish(std::move(held));  // no timeout: refused at once, loan kept
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kWouldBlock);
  EXPECT_TRUE(held.valid());
  std::thread drain([&] {
    std::uint64_t next = 1;
    while (next <= sent + 1) {
      if (auto s = sub.take()) {
        EXPECT_EQ(s->sequence(), next);
        ++next;
      } else {
        sub.wait(10ms);
      }
    }
  });
  EXPECT_TRUE(pub.publish(std::move(held), 5s));  // room appears as the subscriber drains
  EXPECT_FALSE(held.valid());
  drain.join();
  EXPECT_EQ(sub.dropped(), 0u);
}

TEST_F(ClientRouterTest, LoansAreBoundedAndDroppedLoansComeBack) {
  auto pub = publisher("l/o/n", {.max_loans = 8, .max_payload = 64, .loan_wait = 1s});
  ASSERT_EQ(pub.max_loans(), 8u);
  std::vector<Loan<>> loans;
  for (int i = 0; i < 8; ++i) {
    auto l = pub.loan(64);
    ASSERT_TRUE(l) << i << ": " << l.error().message;
    loans.push_back(std::move(*l));
  }
  auto ninth = pub.loan(64);
  ASSERT_FALSE(ninth);
  EXPECT_EQ(ninth.error().code, Errc::kTooManyLoans);
  EXPECT_EQ(pub.loans_outstanding(), 8u);
  loans.clear();  // all eight go back through the publish ring
  EXPECT_EQ(pub.loans_outstanding(), 0u);
  for (int round = 0; round < 20; ++round) {  // many more than max_loans: the returns recycle
    auto l = pub.loan(64);
    ASSERT_TRUE(l) << round << ": " << l.error().message;
  }
  auto big = pub.loan(pub.max_payload() + 1);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::kTooLarge);
}

TEST_F(ClientRouterTest, ReturnsWaitWhenThePublishRingIsFull) {
  // A block_publisher subscriber that does not take stalls the router, so the publish ring
  // fills; returns of dropped loans then wait in the publisher and go out later.
  auto sub = subscriber("r/e/t", {.queue_capacity = 1, .policy = QueuePolicy::kBlockPublisher});
  auto pub = publisher("r/e/t", {.max_loans = 64, .max_payload = 64, .loan_wait = 1s});
  std::uint64_t sent = 0;
  while (publish_value(pub, sent + 1, 0ns))
    ++sent;
  std::vector<Loan<>> extra;
  for (int i = 0; i < 4; ++i) {
    auto l = pub.loan(8);
    if (l) extra.push_back(std::move(*l));
  }
  extra.clear();  // cannot go back now: the ring is full
  std::uint64_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (got < sent && std::chrono::steady_clock::now() < deadline) {
    if (auto s = sub.take()) {
      EXPECT_EQ(s->sequence(), got + 1);
      ++got;
    } else {
      sub.wait(10ms);
    }
  }
  EXPECT_EQ(got, sent);
  EXPECT_TRUE(pub.flush(5s));  // pushes the pending returns
}

TEST_F(ClientRouterTest, MaxHeldAndSamplesOutlivingTheirSubscriber) {
  auto sub =
      std::make_unique<Subscriber<>>(subscriber("h/e/l", {.queue_capacity = 32, .max_held = 3}));
  auto pub = publisher("h/e/l");
  for (std::uint64_t i = 1; i <= 10; ++i)
    ASSERT_TRUE(publish_value(pub, i * 7));
  ASSERT_TRUE(pub.flush(5s));
  ASSERT_TRUE(sub->wait(1s));
  std::vector<Sample<>> held;
  while (held.size() < 3) {
    auto s = sub->take();
    if (s)
      held.push_back(std::move(*s));
    else
      sub->wait(10ms);
  }
  EXPECT_EQ(sub->held(), 3u);
  EXPECT_FALSE(sub->take());
  auto refused = sub->try_take();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kTooManyHeld);
  held.pop_back();
  EXPECT_TRUE(sub->take());  // room for one again (and it is released at once)
  sub.reset();               // the subscriber goes; its two samples stay readable
  EXPECT_EQ(get(held[0]), 7u);
  EXPECT_EQ(get(held[1]), 14u);
  held.clear();  // the last one closes the port
}

TEST_F(ClientRouterTest, HasSubscribersAndHistory) {
  auto pub = publisher("h/i/s", {.history_depth = 4, .max_payload = 64, .loan_wait = 1s});
  EXPECT_FALSE(pub.has_subscribers());
  EXPECT_EQ(pub.history_depth(), 4u);
  for (std::uint64_t i = 1; i <= 10; ++i)
    ASSERT_TRUE(publish_value(pub, i));
  ASSERT_TRUE(pub.flush(5s));
  auto late = subscriber("h/i/s", {.queue_capacity = 16, .history_request = 3});
  EXPECT_EQ(pub.subscriber_count(), 1u);
  ASSERT_TRUE(publish_value(pub, 11));
  std::vector<std::uint64_t> seqs;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (seqs.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    if (auto s = late.take())
      seqs.push_back(s->sequence());
    else
      late.wait(10ms);
  }
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{8, 9, 10, 11}));
}

TEST_F(ClientRouterTest, DaemonLossWakesWaitersAndFailsTheDataPath) {
  auto sub = subscriber("d/i/e");
  auto pub = publisher("d/i/e");
  const shm::RingHeader* queue = daemon_->subscriber_queue(sub.id());
  ASSERT_NE(queue, nullptr);
  std::atomic<bool> woken{false};
  std::thread waiter([&] {
    // Only the loss can end this wait before the test stops waiting for it below.
    while (sub.connected())
      sub.wait(60s);
    woken = true;
  });
  EXPECT_TRUE(wait_until([&] { return asleep(*queue); }, 20s)) << "the waiter never went to sleep";
  daemon_->drop_clients();
  EXPECT_TRUE(wait_until([&] { return woken.load(); }, 20s)) << "wait() slept through the loss";
  waiter.join();
  EXPECT_FALSE(sub.connected());
  auto t = sub.try_take();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, Errc::kDisconnected);
  auto l = pub.loan(8);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, Errc::kDisconnected);
  EXPECT_NE(l.error().message.find("d/i/e"), std::string::npos) << l.error().message;
}

struct Quote {
  std::uint64_t n;
  double bid, ask;
};

TEST_F(ClientRouterTest, TypedSubscriberSkipsOtherSizes) {
  auto sub = Subscriber<Quote>::create(
      *rt_, "q/u/o", {.queue_capacity = 8, .policy = QueuePolicy::kBlockPublisher});
  ASSERT_TRUE(sub) << sub.error().message;
  auto pub = Publisher<Quote>::create(*rt_, "q/u/o", {.loan_wait = 1s});
  ASSERT_TRUE(pub) << pub.error().message;
  auto raw = publisher("q/u/o");  // another type on the topic: skipped and counted
  ASSERT_TRUE(publish_value(raw, 1));
  ASSERT_TRUE(raw.flush(5s));  // routed before any Quote (no order across publishers otherwise)
  constexpr std::uint64_t kN = 2000;
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= kN; ++i) {
      auto r = i % 2 ? pub->publish(Quote{i, 1.0 * i, 1.0 * i + 0.5}, 5s) : [&] {
        auto l = i % 4 ? pub->loan(Quote{i, 1.0 * i, 1.0 * i + 0.5})  // constructed in the chunk
                       : pub->loan_uninitialized();
        if (!l) return Result<void>(Unexpected(l.error()));
        **l = Quote{i, 1.0 * i, 1.0 * i + 0.5};
        return pub->publish(std::move(*l), 5s);
      }();
      ASSERT_TRUE(r) << r.error().message;
    }
  });
  std::uint64_t next = 1;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (next <= kN && std::chrono::steady_clock::now() < deadline) {
    while (auto q = sub->take()) {
      ASSERT_EQ((*q)->n, next);
      ASSERT_EQ((*q)->ask, (*q)->bid + 0.5);
      ++next;
    }
    sub->wait(10ms);
  }
  producer.join();
  EXPECT_EQ(next, kN + 1);
  EXPECT_EQ(sub->size_mismatches(), 1u);
}

#if !defined(ZCP_TSAN)
TEST_F(ClientRouterTest, AsioAsyncTake) {
  auto sub = Subscriber<Quote>::create(
      *rt_, "q/u/o", {.queue_capacity = 8, .policy = QueuePolicy::kBlockPublisher});
  ASSERT_TRUE(sub) << sub.error().message;
  auto pub = Publisher<Quote>::create(*rt_, "q/u/o", {.loan_wait = 1s});
  ASSERT_TRUE(pub) << pub.error().message;
  constexpr std::uint64_t kN = 500;
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= kN; ++i) {
      auto l = pub->loan(Quote{i, 1.0 * i, 1.0 * i + 0.5});
      ASSERT_TRUE(l) << l.error().message;
      ASSERT_TRUE(pub->publish(std::move(*l), 5s));
    }
  });
  asio::io_context io;
  AsioSubscriber in(io.get_executor(), *sub);
  std::uint64_t next = 1;
  std::function<void(std::error_code, Sample<Quote>)> on_quote = [&](std::error_code ec,
                                                                     Sample<Quote> q) {
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(q->n, next);
    if (++next <= kN) in.async_take(on_quote);
  };
  in.async_take(on_quote);
  io.run();
  producer.join();
  EXPECT_EQ(next, kN + 1);

  // A pending wait ends with operation_aborted when cancelled, and withdraws its announcement.
  std::error_code got;
  in.async_wait([&](std::error_code ec) { got = ec; });
  io.restart();
  io.poll();
  in.cancel();
  io.run();
  EXPECT_EQ(got, asio::error::operation_aborted);
}
#endif

// ---- the zcp CLI, as separate processes against the in-process daemon ---------------------

pid_t spawn(std::vector<std::string> args, int in_fd, int out_fd) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int reap(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(1ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_all(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  char buf[256];
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  return got;
}

TEST_F(ClientRouterTest, CliPubToEcho) {
  const std::string topic = "cli/pub/echo";
  int out[2], in[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  pid_t echo =
      spawn({ZCP_CLI_PATH, "echo", topic, "--count", "4", "--instance", instance_}, -1, out[1]);
  ::close(out[1]);
  ASSERT_GT(echo, 0);
  // zcp pub waits for the subscriber itself (has_subscribers).
  pid_t pub = spawn(
      {ZCP_CLI_PATH, "pub", topic, "--instance", instance_, "--wait-subscribers", "1"}, in[0], -1);
  ::close(in[0]);
  ASSERT_GT(pub, 0);
  const std::string lines = "hello\n\nworld with  spaces\nlast line without newline";
  ASSERT_EQ(::write(in[1], lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  ::close(in[1]);
  std::string got = read_all(out[0], 20s);
  ::close(out[0]);
  EXPECT_EQ(reap(pub, 10s), 0);
  EXPECT_EQ(reap(echo, 10s), 0);
  EXPECT_EQ(got, "hello\n\nworld with  spaces\nlast line without newline\n");
}

TEST_F(ClientRouterTest, CliErrorsGoToStderrWithExitCode1) {
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  pid_t bad = spawn({ZCP_CLI_PATH, "echo", "not-a-topic", "--instance", instance_}, -1, out[1]);
  ::close(out[1]);
  ASSERT_GT(bad, 0);
  EXPECT_EQ(read_all(out[0], 5s), "");  // nothing on stdout
  ::close(out[0]);
  EXPECT_EQ(reap(bad, 5s), 1);
  pid_t nodaemon = spawn({ZCP_CLI_PATH, "pub", "a/b/c", "--instance", "no-daemon-here"}, -1, -1);
  EXPECT_EQ(reap(nodaemon, 5s), 1);
}

}  // namespace
}  // namespace zcp::client_test
