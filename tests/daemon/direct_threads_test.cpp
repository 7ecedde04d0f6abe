// Direct delivery with real threads against the real daemon, all in this process: diroute's
// Daemon (its reactor and router worker) runs on a thread of its own, and real Runtimes,
// Publishers and Subscribers run on others. Built for ThreadSanitizer (label concurrency): the
// publishers push into subscriber queues and wake sleepers on their own threads, the worker
// settles behind them, the reactor rewrites route tables as subscribers come and go, and the
// subscribers take and release. Under TSan, one_mapping.cpp gives every mapping of the segment
// one address, so TSan sees the daemon's and the clients' accesses to shared memory as
// accesses to the same bytes, and socket_clock.cpp gives it the order of the control socket's
// messages. The fixture (in_process_daemon.hpp) runs the daemon.
//
// Every message carries (publisher index, sequence, checksum). The checks: per-publisher
// order without duplicates at every subscriber; completeness where the policy is lossless;
// sequence gaps within the drop count where it is not; exact wake-up counts where the sleep
// handshake is driven one message at a time. After each test: no port faulted, every chunk is
// back in its pool, the daemon stops cleanly on SIGTERM and says so, and its socket and
// segment are gone.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <zcp/zcp.hpp>

#include "client/runtime_impl.hpp"
#include "in_process_daemon.hpp"

namespace zcp::daemon_test {
namespace {

using Clock = std::chrono::steady_clock;
using daemon::DaemonConfig;

// ---- The message and what a subscriber checks ---------------------------------------------

struct Msg {
  std::uint32_t publisher;  // the test's index of the publisher
  std::uint32_t check;      // checksum(publisher, sequence)
  std::uint64_t sequence;   // 1, 2, 3... as the publisher counts its messages
};

std::uint32_t checksum(std::uint32_t publisher, std::uint64_t sequence) {
  return static_cast<std::uint32_t>((sequence * 0x9E3779B97F4A7C15ULL) >> 32) ^
         (publisher * 0x85EBCA6BU + 1);
}

Msg make_msg(std::uint32_t publisher, std::uint64_t sequence) {
  return Msg{publisher, checksum(publisher, sequence), sequence};
}

// Failures seen on the test's threads. The first one also tells every other thread to stop.
class Failures {
 public:
  void add(std::string what) {
    {
      std::lock_guard lk(mu_);
      if (list_.size() < 32) list_.push_back(std::move(what));
    }
    // relaxed: a stop hint; the messages are read under the mutex after the threads joined.
    failed_.store(true, std::memory_order_relaxed);
  }
  bool any() const noexcept { return failed_.load(std::memory_order_relaxed); }
  void report() {
    std::lock_guard lk(mu_);
    for (const std::string& s : list_)
      ADD_FAILURE() << s;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
  std::atomic<bool> failed_{false};
};

// What one subscriber instance received from each publisher.
class OrderCheck {
 public:
  enum class Loss {
    kNone,       // every message of every publisher, from its first
    kFromFirst,  // a contiguous run from the first message received (joined mid-stream)
    kCounted,    // rising sequences; the gaps are drops (checked against dropped())
  };
  struct PerPublisher {
    std::uint32_t id = 0;  // the daemon's id of the publisher (Sample::publisher_id)
    std::uint64_t last = 0;
    std::uint64_t received = 0;
    std::uint64_t gaps = 0;
  };

  OrderCheck(std::size_t publishers, Loss loss) : per_(publishers), loss_(loss) {}

  // Empty if `s` keeps every rule, else what it broke.
  std::string accept(const Sample<Msg>& s) {
    const Msg& m = *s;
    if (m.publisher >= per_.size())
      return "a message from unknown publisher index " + std::to_string(m.publisher);
    const std::string who = "publisher " + std::to_string(m.publisher) + ": ";
    if (m.check != checksum(m.publisher, m.sequence)) {
      return who + "corrupt payload at sequence " + std::to_string(m.sequence);
    }
    if (s.sequence() != m.sequence) {
      return who + "header sequence " + std::to_string(s.sequence()) +
             " carries payload sequence " + std::to_string(m.sequence);
    }
    PerPublisher& p = per_[m.publisher];
    if (p.id == 0) p.id = s.publisher_id();
    if (p.id != s.publisher_id()) {
      return who + "publisher id " + std::to_string(s.publisher_id()) + " after " +
             std::to_string(p.id);
    }
    if (m.sequence <= p.last) {
      return who + "sequence " + std::to_string(m.sequence) + " after " + std::to_string(p.last) +
             (m.sequence == p.last ? " (duplicate)" : " (out of order)");
    }
    const std::uint64_t expected = p.last + 1;
    const bool contiguous = m.sequence == expected;
    if (!contiguous && (loss_ == Loss::kNone || (loss_ == Loss::kFromFirst && p.last != 0))) {
      return who + "sequence " + std::to_string(m.sequence) + ", expected " +
             std::to_string(expected) + " (a message lost or out of order)";
    }
    if (p.last != 0) p.gaps += m.sequence - expected;
    p.last = m.sequence;
    ++p.received;
    return {};
  }

  const PerPublisher& of(std::size_t publisher) const { return per_[publisher]; }
  std::uint64_t received() const {
    std::uint64_t n = 0;
    for (const PerPublisher& p : per_)
      n += p.received;
    return n;
  }
  std::uint64_t gaps() const {
    std::uint64_t n = 0;
    for (const PerPublisher& p : per_)
      n += p.gaps;
    return n;
  }

 private:
  std::vector<PerPublisher> per_;
  Loss loss_;
};

// Publishes m, retrying while the router holds the publisher back (a full block_publisher
// queue fills the publish ring; loans run dry while subscribers hold chunks). False, with the
// reason in `failures`, on any other error, on the deadline, or when another thread failed.
bool publish_retrying(Publisher<Msg>& pub, const Msg& m, Clock::time_point deadline,
                      Failures& failures) {
  for (;;) {
    auto r = pub.publish(m, 20ms);
    if (r) return true;
    if (r.error().code != Errc::kWouldBlock && r.error().code != Errc::kPoolExhausted) {
      failures.add("publish of sequence " + std::to_string(m.sequence) + ": " + r.error().message);
      return false;
    }
    if (failures.any()) return false;
    if (Clock::now() > deadline) {
      failures.add("publish of sequence " + std::to_string(m.sequence) +
                   " still held back at the deadline: " + r.error().message);
      return false;
    }
  }
}

// Waits until the router has delivered everything `pub` published (flush), in short steps so
// that a failure elsewhere (a subscriber that stopped taking from a block_publisher queue)
// ends the wait. False, with the reason in `failures`, if it does not get there.
bool flush_all(Publisher<Msg>& pub, Failures& failures) {
  const auto deadline = Clock::now() + kDeadline;
  for (;;) {
    auto f = pub.flush(100ms);
    if (f) return true;
    if (f.error().code != Errc::kTimeout) {
      failures.add("flush: " + f.error().message);
      return false;
    }
    if (failures.any()) return false;
    if (Clock::now() > deadline) {
      failures.add("flush: not flushed by the deadline: " + f.error().message);
      return false;
    }
  }
}

class DirectThreadsTest : public InProcessDaemonTest {
 protected:
  // Waits until `done` holds; false if it does not by the deadline, or if a thread failed.
  bool await(const std::function<bool()>& done) {
    return wait_until([&] { return failures_.any() || done(); }, kDeadline) && !failures_.any();
  }

  Failures failures_;
};

// A subscriber thread of the lossless tests: takes until it has `total` messages, polling or
// sleeping in wait(), and checks each one.
void take_all(Subscriber<Msg>& sub, bool waits, std::uint64_t total, OrderCheck& check,
              Failures& failures, const std::string& who) {
  const auto deadline = Clock::now() + kDeadline;
  std::uint64_t got = 0;
  while (got < total && !failures.any()) {
    bool took = false;
    while (auto s = sub.take()) {
      took = true;
      if (std::string why = check.accept(*s); !why.empty()) {
        failures.add(who + ": " + why);
        return;
      }
      ++got;
    }
    if (Clock::now() > deadline) {
      failures.add(who + ": received " + std::to_string(got) + " of " + std::to_string(total) +
                   " messages by the deadline (dropped " + std::to_string(sub.dropped()) + ")");
      return;
    }
    if (took) continue;
    if (waits) {
      (void)sub.wait(50ms);
    } else {
      std::this_thread::yield();
    }
  }
  if (sub.dropped() != 0 || sub.rejected() != 0) {
    failures.add(who + ": dropped " + std::to_string(sub.dropped()) + ", rejected " +
                 std::to_string(sub.rejected()) + " on a lossless queue");
  }
}

// ---- 1. Several publishers, polling and sleeping subscribers, lossless -----------------------

enum class Runtimes { kPerThread, kShared };
void PrintTo(Runtimes r, std::ostream* os) {
  *os << (r == Runtimes::kShared ? "one Runtime" : "a Runtime per thread");
}

class DirectFanIn : public DirectThreadsTest, public ::testing::WithParamInterface<Runtimes> {};

// Three publishers and four block_publisher subscribers (two poll, two sleep in wait()) on one
// direct topic, with tiny and odd queue capacities so that pushes find full queues and the
// router takes over and hands back. Every subscriber gets every message of every publisher,
// once, in each publisher's order; the router settled exactly the messages published.
TEST_P(DirectFanIn, EverySubscriberGetsEveryMessageOnceInPublisherOrder) {
  constexpr std::uint32_t kPublishers = 3;
  constexpr std::uint64_t kPerPublisher = 4000;
  struct SubSpec {
    bool waits;
    std::uint32_t capacity;
  };
  constexpr SubSpec kSubs[] = {{false, 7}, {true, 64}, {false, 256}, {true, 13}};
  constexpr std::uint64_t kTotal = kPublishers * kPerPublisher;
  const bool shared = GetParam() == Runtimes::kShared;
  start(config());
  if (HasFatalFailure()) return;

  std::vector<std::unique_ptr<Runtime>> runtimes;
  auto runtime = [&](const std::string& name) -> Runtime* {
    if (!shared || runtimes.empty()) runtimes.push_back(connect(shared ? "all" : name));
    return runtimes.back().get();
  };
  // Subscribers first: Subscriber::create returns once the worker delivers to it, so the
  // publishers' first messages reach every one (through the router until the tables list it).
  std::vector<Subscriber<Msg>> subs;
  for (std::size_t i = 0; i < std::size(kSubs); ++i) {
    Runtime* rt = runtime("sub" + std::to_string(i));
    ASSERT_NE(rt, nullptr);
    auto s = Subscriber<Msg>::create(
        *rt, "dt/fan/in",
        {.queue_capacity = kSubs[i].capacity, .policy = QueuePolicy::kBlockPublisher});
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_EQ(s->queue_capacity(), kSubs[i].capacity);
    subs.push_back(std::move(*s));
  }
  std::vector<Publisher<Msg>> pubs;
  for (std::uint32_t p = 0; p < kPublishers; ++p) {
    Runtime* rt = runtime("pub" + std::to_string(p));
    ASSERT_NE(rt, nullptr);
    auto pub = Publisher<Msg>::create(*rt, "dt/fan/in", {.loan_wait = 50ms});
    ASSERT_TRUE(pub) << pub.error().message;
    ASSERT_TRUE(wait_until([&] { return pub->subscriber_count() == std::size(kSubs); }, kDeadline));
    pubs.push_back(std::move(*pub));
  }

  std::vector<OrderCheck> checks(std::size(kSubs),
                                 OrderCheck(kPublishers, OrderCheck::Loss::kNone));
  {
    std::vector<std::jthread> threads;  // joined before the ports and runtimes go
    for (std::size_t i = 0; i < subs.size(); ++i) {
      threads.emplace_back([&, i] {
        take_all(subs[i], kSubs[i].waits, kTotal, checks[i], failures_,
                 "subscriber " + std::to_string(i));
      });
    }
    for (std::uint32_t p = 0; p < kPublishers; ++p) {
      threads.emplace_back([&, p] {
        const auto deadline = Clock::now() + kDeadline;
        for (std::uint64_t seq = 1; seq <= kPerPublisher; ++seq) {
          if (!publish_retrying(pubs[p], make_msg(p, seq), deadline, failures_)) return;
        }
        (void)flush_all(pubs[p], failures_);
      });
    }
  }
  failures_.report();
  if (HasFailure()) return;

  for (std::size_t i = 0; i < checks.size(); ++i) {
    for (std::uint32_t p = 0; p < kPublishers; ++p) {
      EXPECT_EQ(checks[i].of(p).received, kPerPublisher)
          << "subscriber " << i << ", publisher " << p;
      EXPECT_EQ(checks[i].of(p).id, pubs[p].id()) << "subscriber " << i << ", publisher " << p;
    }
  }
  DaemonView view(segment_name());
  ASSERT_TRUE(view.ok());
  // Every record of a direct topic is settled once by the router (flush() waited for it).
  EXPECT_EQ(view.direct_settled(), kTotal);
  // The router counted each subscriber's deliveries, direct pushes included, when it settled.
  for (std::size_t i = 0; i < subs.size(); ++i) {
    const shm::SubscriberStats* st = view.subscriber(subs[i].id());
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(shm::read_counter(st->delivered), kTotal) << "subscriber " << i;
    EXPECT_EQ(shm::read_counter(st->dropped), 0U) << "subscriber " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Runtimes, DirectFanIn,
                         ::testing::Values(Runtimes::kPerThread, Runtimes::kShared),
                         [](const auto& case_info) {
                           return case_info.param == Runtimes::kShared
                                      ? std::string("OneRuntime")
                                      : std::string("RuntimePerThread");
                         });

// ---- 2. Subscribers come and go while the publishers push -----------------------------------

// Two publishers publish without pause while three threads (sharing one Runtime, so their
// control requests interleave) create and destroy subscribers on the topic: the reactor
// lists and unlists route slots under the publishers' pushes, and frees a leaving queue only
// once no publisher can still push into it. Policies and tiny capacities vary per instance;
// some instances keep a sample past their subscriber's destruction. Each instance checks
// per-publisher order (block_publisher: nothing lost after its first message; the drop
// policies: gaps within dropped()). A steady block_publisher subscriber gets everything.
TEST_F(DirectThreadsTest, SubscribersComeAndGoWhilePublishersPush) {
  constexpr std::uint32_t kPublishers = 2;
  constexpr int kChurners = 3;
  constexpr int kRounds = 50;           // subscribers each churner creates and destroys
  constexpr std::uint64_t kWanted = 4;  // messages each instance takes before it leaves
  constexpr std::uint32_t kCapacities[] = {1, 3, 5, 8, 13};
  constexpr QueuePolicy kPolicies[] = {QueuePolicy::kBlockPublisher, QueuePolicy::kDropOldest,
                                       QueuePolicy::kDropNewest};
  start(config());
  if (HasFatalFailure()) return;

  auto steady_rt = connect("steady");
  auto churn_rt = connect("churn");
  ASSERT_TRUE(steady_rt && churn_rt);
  auto steady = Subscriber<Msg>::create(
      *steady_rt, "dt/churn/x", {.queue_capacity = 32, .policy = QueuePolicy::kBlockPublisher});
  ASSERT_TRUE(steady) << steady.error().message;
  std::vector<std::unique_ptr<Runtime>> pub_rts;
  std::vector<Publisher<Msg>> pubs;
  for (std::uint32_t p = 0; p < kPublishers; ++p) {
    pub_rts.push_back(connect("pub" + std::to_string(p)));
    ASSERT_NE(pub_rts.back(), nullptr);
    auto pub = Publisher<Msg>::create(*pub_rts.back(), "dt/churn/x", {.loan_wait = 50ms});
    ASSERT_TRUE(pub) << pub.error().message;
    pubs.push_back(std::move(*pub));
  }

  std::atomic<int> churners_left{kChurners};
  // Each publisher's final count, once it stopped (0 until then). release/acquire: the steady
  // subscriber reads it to know when it has everything; nothing else is published through it.
  std::atomic<std::uint64_t> published[kPublishers] = {};
  std::atomic<std::uint64_t> churn_taken{0};  // relaxed: a total, read after the joins
  OrderCheck steady_check(kPublishers, OrderCheck::Loss::kNone);
  {
    std::vector<std::jthread> threads;
    for (std::uint32_t p = 0; p < kPublishers; ++p) {
      threads.emplace_back([&, p] {
        const auto deadline = Clock::now() + kDeadline;
        std::uint64_t seq = 0;
        // relaxed: the churners' progress only decides when to stop publishing.
        while (churners_left.load(std::memory_order_relaxed) > 0 && !failures_.any()) {
          if (!publish_retrying(pubs[p], make_msg(p, seq + 1), deadline, failures_)) return;
          ++seq;
        }
        if (!flush_all(pubs[p], failures_)) return;
        published[p].store(seq, std::memory_order_release);
      });
    }
    threads.emplace_back([&] {
      const auto deadline = Clock::now() + kDeadline;
      for (;;) {
        while (auto s = steady->take()) {
          if (std::string why = steady_check.accept(*s); !why.empty()) {
            failures_.add("steady subscriber: " + why);
            return;
          }
        }
        bool all = true;
        for (std::uint32_t p = 0; p < kPublishers; ++p) {
          const std::uint64_t n = published[p].load(std::memory_order_acquire);
          all = all && n != 0 && steady_check.of(p).received == n;
        }
        if (all || failures_.any()) return;
        if (Clock::now() > deadline) {
          failures_.add("steady subscriber: " + std::to_string(steady_check.received()) +
                        " messages by the deadline");
          return;
        }
        (void)steady->wait(50ms);
      }
    });
    for (int c = 0; c < kChurners; ++c) {
      threads.emplace_back([&, c] {
        const auto deadline = Clock::now() + kDeadline;
        for (int round = 0; round < kRounds && !failures_.any(); ++round) {
          const int k = c * kRounds + round;
          const QueuePolicy policy = kPolicies[k % std::size(kPolicies)];
          const std::string who =
              "churner " + std::to_string(c) + " round " + std::to_string(round);
          auto created = Subscriber<Msg>::create(
              *churn_rt, "dt/churn/x",
              {.queue_capacity = kCapacities[k % std::size(kCapacities)], .policy = policy});
          if (!created) {
            failures_.add(who + ": create: " + created.error().message);
            break;
          }
          Sample<Msg> kept;  // in every fourth round, outlives its subscriber
          std::optional<Subscriber<Msg>> s(std::move(*created));
          OrderCheck check(kPublishers, policy == QueuePolicy::kBlockPublisher
                                            ? OrderCheck::Loss::kFromFirst
                                            : OrderCheck::Loss::kCounted);
          while (check.received() < kWanted && !failures_.any()) {
            auto x = s->take();
            if (!x) {
              if (Clock::now() > deadline) {
                failures_.add(who + ": " + std::to_string(check.received()) +
                              " messages by the deadline");
                break;
              }
              (void)s->wait(20ms);
              continue;
            }
            if (std::string why = check.accept(*x); !why.empty()) {
              failures_.add(who + ": " + why);
              break;
            }
            if (round % 4 == 0) kept = std::move(*x);
          }
          // Every gap is a drop, counted by the router. A drop_oldest eviction pops the message
          // and counts it just after, and we may take the next one in between: wait for the
          // count (a drop never counted fails here).
          if (!wait_until([&] { return check.gaps() <= s->dropped(); }, 30s)) {
            failures_.add(who + ": " + std::to_string(check.gaps()) + " messages missing but " +
                          std::to_string(s->dropped()) + " dropped");
          }
          if (s->rejected() != 0)
            failures_.add(who + ": rejected " + std::to_string(s->rejected()));
          churn_taken.fetch_add(check.received(), std::memory_order_relaxed);
          const Msg before = kept ? *kept : Msg{};
          s.reset();  // leaves the topic; a kept sample keeps its chunk until it goes
          if (kept && (kept->check != before.check || kept->sequence != before.sequence ||
                       kept->check != checksum(kept->publisher, kept->sequence))) {
            failures_.add(who + ": a kept sample changed after its subscriber left");
          }
        }
        churners_left.fetch_sub(1, std::memory_order_relaxed);
      });
    }
  }
  failures_.report();
  if (HasFailure()) return;
  EXPECT_EQ(churn_taken.load(), static_cast<std::uint64_t>(kChurners * kRounds) * kWanted);
  for (std::uint32_t p = 0; p < kPublishers; ++p) {
    EXPECT_GT(published[p].load(), 0U);
    EXPECT_EQ(steady_check.of(p).received, published[p].load()) << "publisher " << p;
  }
  EXPECT_EQ(steady->dropped(), 0U);
}

// ---- 3. Who wakes a sleeping subscriber -------------------------------------------------------

struct WakeCase {
  const char* name;
  std::uint32_t subscribers;
  std::uint32_t wake_fds_per_process;  // eventfds the publishing process may hold
  std::uint32_t publisher_wakes;       // per message: the sleepers the publisher wakes itself
};

void PrintTo(const WakeCase& c, std::ostream* os) {
  *os << c.name;
}

class DirectWakeUps : public DirectThreadsTest, public ::testing::WithParamInterface<WakeCase> {};

// Subscribers that sleep in wait(), all in one Runtime, and two publishers in two others.
// Lock-step first: each message is published only once every subscriber has taken the last
// one and announced its sleep, so each message wakes each subscriber exactly once, and who
// wrote the eventfd is decided by the rules, not by timing: the publisher wakes the sleepers
// it holds eventfds for on a topic of at most direct_wake_max listed subscribers, the router
// every other one. Then both publishers run free, their wake-ups and the router's mixing,
// and every subscriber still gets everything in order. A wake-up lost anywhere shows as a
// wait() that times out with the message already queued.
TEST_P(DirectWakeUps, EachSleepingSubscriberIsWokenOncePerMessageByPublisherOrRouter) {
  const WakeCase& wc = GetParam();
  constexpr std::uint32_t kPublishers = 2;
  constexpr std::uint64_t kRounds = 40;
  constexpr std::uint64_t kFree = 1500;  // per publisher, after the lock-step rounds
  DaemonConfig c = config();
  c.registry.max_wake_fds_per_process = wc.wake_fds_per_process;
  ASSERT_EQ(c.registry.direct_wake_max, 4U) << "the cases are sized for the default";
  start(c);
  if (HasFatalFailure()) return;

  auto sub_rt = connect("subs");
  ASSERT_NE(sub_rt, nullptr);
  std::vector<Subscriber<Msg>> subs;
  for (std::uint32_t i = 0; i < wc.subscribers; ++i) {
    auto s = Subscriber<Msg>::create(
        *sub_rt, "dt/wake/x", {.queue_capacity = 16, .policy = QueuePolicy::kBlockPublisher});
    ASSERT_TRUE(s) << s.error().message;
    subs.push_back(std::move(*s));
  }
  std::vector<std::unique_ptr<Runtime>> pub_rts;
  std::vector<Publisher<Msg>> pubs;
  for (std::uint32_t p = 0; p < kPublishers; ++p) {
    pub_rts.push_back(connect("pub" + std::to_string(p)));
    ASSERT_NE(pub_rts.back(), nullptr);
    auto pub = Publisher<Msg>::create(*pub_rts.back(), "dt/wake/x", {.loan_wait = 50ms});
    ASSERT_TRUE(pub) << pub.error().message;
    pubs.push_back(std::move(*pub));
  }
  DaemonView view(segment_name());
  ASSERT_TRUE(view.ok());
  // Publisher 0's table lists every subscriber, and its process holds the eventfds it may.
  const std::size_t fds = std::min(wc.subscribers, wc.wake_fds_per_process);
  ASSERT_TRUE(wait_until(
      [&] { return view.listed(pubs[0].id()) == static_cast<int>(wc.subscribers); }, kDeadline))
      << "the route table lists " << view.listed(pubs[0].id());
  ASSERT_TRUE(
      wait_until([&] { return pub_rts[0]->impl().session()->wake_fds.size() == fds; }, kDeadline))
      << "the publisher holds " << pub_rts[0]->impl().session()->wake_fds.size() << " eventfds";
  std::vector<const shm::RingHeader*> queues;
  for (const auto& s : subs) {
    queues.push_back(view.queue_of(s.id()));
    ASSERT_NE(queues.back(), nullptr);
  }

  const std::uint64_t total = kRounds + kPublishers * kFree;
  // Messages each subscriber took. release: pairs with the lock-step's acquire, so the
  // subscriber's withdrawal of its previous sleep (finish_wait) is behind it, and a waiting
  // word seen set after that is its next sleep.
  std::vector<std::atomic<std::uint64_t>> taken(wc.subscribers);
  std::vector<OrderCheck> checks(wc.subscribers, OrderCheck(kPublishers, OrderCheck::Loss::kNone));
  std::vector<std::uint32_t> sub_ids;  // read here while the subscribers' threads use them
  for (const auto& s : subs)
    sub_ids.push_back(s.id());
  auto router_wakes = [&] {
    std::uint64_t n = 0;
    for (std::uint32_t id : sub_ids) {
      if (const shm::SubscriberStats* st = view.subscriber(id)) n += shm::read_counter(st->wakeups);
    }
    return n;
  };
  std::uint64_t lockstep_publisher_wakes = 0;
  std::uint64_t lockstep_router_wakes = 0;
  {
    std::vector<std::jthread> threads;
    for (std::uint32_t i = 0; i < wc.subscribers; ++i) {
      threads.emplace_back([&, i] {
        const std::string who = "subscriber " + std::to_string(i);
        const auto deadline = Clock::now() + kDeadline;
        std::uint64_t got = 0;
        while (got < total && !failures_.any()) {
          while (auto x = subs[i].take()) {
            if (std::string why = checks[i].accept(*x); !why.empty()) {
              failures_.add(who + ": " + why);
              return;
            }
            taken[i].store(++got, std::memory_order_release);
          }
          if (got == total) break;
          if (Clock::now() > deadline) {
            failures_.add(who + ": received " + std::to_string(got) + " of " +
                          std::to_string(total));
            return;
          }
          // Long enough that only a lost wake-up makes it sleep out: one that does, with a
          // message queued meanwhile, was never woken for it.
          const auto slept_from = Clock::now();
          if (subs[i].wait(10s) && Clock::now() - slept_from >= 10s) {
            failures_.add(who + ": slept through a queued message (a lost wake-up) after taking " +
                          std::to_string(got));
            return;
          }
        }
      });
    }
    // Lock-step: one message at a time, each into a set of sleeping subscribers.
    const auto deadline = Clock::now() + kDeadline;
    for (std::uint64_t round = 1; round <= kRounds + 1 && !failures_.any(); ++round) {
      const bool all_asleep = await([&] {
        for (std::uint32_t i = 0; i < wc.subscribers; ++i) {
          if (taken[i].load(std::memory_order_acquire) != round - 1 ||
              !DaemonView::asleep(*queues[i])) {
            return false;
          }
        }
        return true;
      });
      if (!all_asleep) {
        if (!failures_.any())
          failures_.add("round " + std::to_string(round) +
                        ": the subscribers did not all take the last message and sleep");
        break;
      }
      if (round > kRounds) break;  // every subscriber took the last round's message
      if (!publish_retrying(pubs[0], make_msg(0, round), deadline, failures_)) break;
    }
    // The lock-step's wake-ups, before the free run adds to them: the publisher's own, counted
    // on its publish ring by this thread; the router's, counted per subscriber after its
    // eventfd write (so read once it got there: the subscribers may be awake before).
    if (const shm::RingHeader* ring = view.publish_ring_of(pubs[0].id())) {
      lockstep_publisher_wakes = shm::read_counter(ring->wakeups);
    }
    const std::uint64_t router_expected = kRounds * (wc.subscribers - wc.publisher_wakes);
    (void)await([&] { return router_wakes() >= router_expected; });
    lockstep_router_wakes = router_wakes();
    // Free run: both publishers at once, from their own threads.
    for (std::uint32_t p = 0; p < kPublishers && !failures_.any(); ++p) {
      threads.emplace_back([&, p] {
        const auto until = Clock::now() + kDeadline;
        const std::uint64_t first = p == 0 ? kRounds + 1 : 1;
        for (std::uint64_t seq = first; seq < first + kFree; ++seq) {
          if (!publish_retrying(pubs[p], make_msg(p, seq), until, failures_)) return;
        }
        (void)flush_all(pubs[p], failures_);
      });
    }
  }
  if (failures_.any()) {
    std::vector<std::uint32_t> pub_ids;
    for (const auto& p : pubs)
      pub_ids.push_back(p.id());
    ADD_FAILURE() << "state when it stopped:\n" << view.describe(sub_ids, pub_ids);
  }
  failures_.report();
  if (HasFailure()) return;

  for (std::uint32_t i = 0; i < wc.subscribers; ++i) {
    EXPECT_EQ(checks[i].of(0).received, kRounds + kFree) << "subscriber " << i;
    EXPECT_EQ(checks[i].of(1).received, kFree) << "subscriber " << i;
  }
  EXPECT_EQ(lockstep_publisher_wakes, kRounds * wc.publisher_wakes)
      << "eventfd writes by publisher 0 in the lock-step";
  EXPECT_EQ(lockstep_router_wakes, kRounds * (wc.subscribers - wc.publisher_wakes))
      << "eventfd writes by the router in the lock-step";
  if (wc.publisher_wakes == 0) {
    // A topic wider than direct_wake_max: no publisher writes an eventfd, free run included.
    for (const auto& p : pubs)
      EXPECT_EQ(shm::read_counter(view.publish_ring_of(p.id())->wakeups), 0U);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DirectWakeUps,
    ::testing::Values(
        // Three subscribers, every eventfd held: the publisher wakes them all.
        WakeCase{"NarrowTopicPublisherWakesAll", 3, daemon::kDefaultMaxWakeFdsPerProcess, 3},
        // Four subscribers, two eventfds per process: the publisher wakes two, the router two.
        WakeCase{"NarrowTopicFewEventfdsSplitsWakes", 4, 2, 2},
        // Six subscribers, more than direct_wake_max: the router wakes them all.
        WakeCase{"WideTopicRouterWakesAll", 6, daemon::kDefaultMaxWakeFdsPerProcess, 0}),
    [](const auto& case_info) { return std::string(case_info.param.name); });

}  // namespace
}  // namespace zcp::daemon_test
