// Concurrency stress for the shm core. Every scenario runs twice: as threads of this process
// (so ThreadSanitizer sees every access) and as forked processes over a MAP_SHARED mapping
// (the real deployment). Tiny and odd capacities force constant wrap-around and full/empty
// transitions. Checks: per-producer order, completeness, no duplicates, checksums, and exact
// pool accounting at the end.
#include <atomic>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "shm/chunk_pool.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/spsc_ring.hpp"
#include "shm_test_util.hpp"
#include "support/test_support.hpp"

namespace zcp::shm {
namespace {

using test::kStressScale;

struct Item {
  std::uint32_t producer;
  std::uint32_t check;
  std::uint64_t seq;
};

std::uint32_t checksum(std::uint32_t producer, std::uint64_t seq) {
  std::uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ULL ^ (std::uint64_t{producer} << 32);
  x ^= x >> 29;
  return static_cast<std::uint32_t>(x * 0xBF58476D1CE4E5B9ULL >> 32);
}

enum class Mode { kThreads, kProcesses };
const char* mode_name(Mode m) {
  return m == Mode::kThreads ? "threads" : "processes";
}

// Runs every function concurrently (threads or processes) after a common start line; returns
// their results (0 = success). A process that dies or hangs reports non-zero.
std::vector<int> run_all(Mode mode, const std::vector<std::function<int()>>& fns) {
  std::vector<int> rc(fns.size(), -1);
  if (mode == Mode::kThreads) {
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (std::size_t i = 0; i < fns.size(); ++i) {
      ts.emplace_back([&, i] {
        while (!go.load(std::memory_order_acquire))
          std::this_thread::yield();  // start line
        rc[i] = fns[i]();
      });
    }
    go.store(true, std::memory_order_release);
    for (auto& t : ts)
      t.join();
  } else {
    test::ProcessBarrier start(static_cast<unsigned>(fns.size()));
    std::vector<test::Child> kids;
    for (const auto& fn : fns) {
      kids.emplace_back([&start, &fn] {
        start.wait();
        return fn();
      });
    }
    for (std::size_t i = 0; i < kids.size(); ++i)
      rc[i] = kids[i].wait(std::chrono::seconds(120));
  }
  return rc;
}

// -------------------------------------------------------------------------------------------
struct StressParam {
  Mode mode;
  std::uint32_t capacity;
};
std::string param_name(const ::testing::TestParamInfo<StressParam>& p) {
  return std::string(mode_name(p.param.mode)) + "_cap" + std::to_string(p.param.capacity);
}
std::vector<StressParam> all_params() {
  std::vector<StressParam> v;
  for (Mode m : {Mode::kThreads, Mode::kProcesses}) {
    for (std::uint32_t c : {1U, 2U, 3U, 1024U})
      v.push_back({m, c});
  }
  return v;
}

class SpscStress : public ::testing::TestWithParam<StressParam> {};

TEST_P(SpscStress, OrderedCompleteChecksummed) {
  const auto [mode, cap] = GetParam();
  // Capacities 1 to 3 wrap on nearly every element, so fewer elements test as much. Each one
  // is a handoff between the two sides: between two processes on 2 CPUs shared with two CPU
  // hogs, 100k of them at capacity 1 took over the children's 120 s, and 20k about 60 s.
  const std::uint64_t n = (cap <= 3 ? 5'000 : 400'000) / kStressScale;
  test::FakeSegment seg(ring_bytes(cap, sizeof(Item)) + 4096);
  const QueueDescriptor d = format_ring<Item>(seg.base(), 0, RingKind::kSpsc, cap);

  auto producer = [&]() -> int {
    auto p = SpscProducer<Item>::attach(seg.base(), seg.size(), d);
    if (!p) return 2;
    for (std::uint64_t s = 0; s < n;) {
      // Alternate single and batch pushes so both paths run under contention.
      if (s % 7 == 0) {
        Item batch[5];
        std::size_t k = 0;
        for (; k < 5 && s + k < n; ++k)
          batch[k] = {0, checksum(0, s + k), s + k};
        s += p->try_push_batch(batch, k);
      } else if (p->try_push({0, checksum(0, s), s})) {
        ++s;
      } else {
        std::this_thread::yield();  // 2 vCPUs: let the consumer run instead of burning the slice
      }
    }
    return 0;
  };
  auto consumer = [&]() -> int {
    auto c = SpscConsumer<Item>::attach(seg.base(), seg.size(), d);
    if (!c) return 2;
    std::uint64_t expect = 0;
    Item buf[8];
    while (expect < n) {
      std::size_t k = (expect % 3 == 0) ? c->try_pop_batch(buf, 8) : (c->try_pop(buf[0]) ? 1 : 0);
      for (std::size_t i = 0; i < k; ++i, ++expect) {
        if (buf[i].seq != expect) return 10;                     // order or loss
        if (buf[i].check != checksum(0, buf[i].seq)) return 11;  // torn element
      }
      if (c->corrupted()) return 12;
      if (k == 0) std::this_thread::yield();
    }
    Item extra;
    return c->try_pop(extra) ? 13 : 0;  // nothing beyond n: no duplicates
  };
  auto rc = run_all(mode, {producer, consumer});
  EXPECT_EQ(rc[0], 0) << "producer";
  EXPECT_EQ(rc[1], 0) << "consumer (10 order/loss, 11 checksum, 12 corrupt, 13 duplicate)";
}

INSTANTIATE_TEST_SUITE_P(Stress, SpscStress, ::testing::ValuesIn(all_params()), param_name);

// -------------------------------------------------------------------------------------------
class MpmcStress : public ::testing::TestWithParam<StressParam> {};

TEST_P(MpmcStress, ThreeProducersTwoConsumersExactlyOnceInOrder) {
  const auto [mode, cap] = GetParam();
  constexpr std::uint32_t kProducers = 3;
  constexpr std::uint32_t kConsumers = 2;
  // Small capacities: a handoff per element or two (see SpscStress).
  const std::uint64_t per = (cap <= 3 ? 5'000 : 150'000) / kStressScale;
  test::FakeSegment seg(ring_bytes(cap, MpmcRing<Item>::kStride) + 4096);
  const QueueDescriptor d = format_ring<Item>(seg.base(), 0, RingKind::kMpmc, cap);
  // One byte per item, counting deliveries; plus a shared count of consumed items.
  test::SharedAnon tally(kProducers * per + 64);
  auto* seen = tally.as<std::atomic<std::uint8_t>>();
  auto* consumed =
      reinterpret_cast<std::atomic<std::uint64_t>*>(tally.as<std::byte>() + kProducers * per);
  consumed = reinterpret_cast<std::atomic<std::uint64_t>*>(
      (reinterpret_cast<std::uintptr_t>(consumed) + 7) & ~std::uintptr_t{7});

  std::vector<std::function<int()>> fns;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    fns.emplace_back([&, p]() -> int {
      auto q = MpmcRing<Item>::attach(seg.base(), seg.size(), d);
      if (!q) return 2;
      for (std::uint64_t s = 0; s < per;) {
        if (q->try_push({p, checksum(p, s), s})) {
          ++s;
        } else {
          std::this_thread::yield();
        }
      }
      return 0;
    });
  }
  for (std::uint32_t c = 0; c < kConsumers; ++c) {
    fns.emplace_back([&]() -> int {
      auto q = MpmcRing<Item>::attach(seg.base(), seg.size(), d);
      if (!q) return 2;
      std::uint64_t last[kProducers];
      bool any[kProducers] = {};
      const std::uint64_t total = kProducers * per;
      // relaxed: a termination counter; each item's own tally byte is the real check.
      while (consumed->load(std::memory_order_relaxed) < total) {
        Item it;
        if (!q->try_pop(it)) {
          std::this_thread::yield();
          continue;
        }
        if (it.producer >= kProducers || it.seq >= per) return 10;
        if (it.check != checksum(it.producer, it.seq)) return 11;
        if (any[it.producer] && it.seq <= last[it.producer]) return 12;  // per-producer order
        any[it.producer] = true;
        last[it.producer] = it.seq;
        seen[it.producer * per + it.seq].fetch_add(1, std::memory_order_relaxed);
        consumed->fetch_add(1, std::memory_order_relaxed);
      }
      return 0;
    });
  }
  auto rc = run_all(mode, fns);
  for (std::size_t i = 0; i < rc.size(); ++i) {
    EXPECT_EQ(rc[i], 0) << (i < kProducers ? "producer " : "consumer ") << i
                        << " (10 range, 11 checksum, 12 order)";
  }
  std::uint64_t missing = 0, dup = 0;
  for (std::uint64_t i = 0; i < kProducers * per; ++i) {
    auto v = seen[i].load(std::memory_order_relaxed);
    missing += v == 0;
    dup += v > 1;
  }
  EXPECT_EQ(missing, 0U);
  EXPECT_EQ(dup, 0U);
}

INSTANTIATE_TEST_SUITE_P(Stress, MpmcStress, ::testing::ValuesIn(all_params()), param_name);

// Producers killed with SIGKILL at random instants while they push (possibly between a claim
// and its publication): once each is reaped, skip_abandoned() of its tag lets the consumer
// past whatever it left, so the queue never stops. Every item popped is intact and in order,
// and exactly what the producer pushed (plus at most the one in flight) comes out.
// Large items: copying one takes long enough that many kills land inside a push.
struct BigItem {
  Item item;
  std::uint8_t payload[4096];
};

TEST(MpmcKill, ProducersKilledMidPushNeverStopTheConsumer) {
  using Q = MpmcRing<BigItem>;
  constexpr std::uint32_t kCap = 8;
  const std::uint32_t rounds = 400 / static_cast<std::uint32_t>(kStressScale);
  test::FakeSegment seg(ring_bytes(kCap, Q::kStride) + 4096);
  const QueueDescriptor d = format_ring<BigItem>(seg.base(), 0, RingKind::kMpmc, kCap);
  auto q = *Q::attach(seg.base(), seg.size(), d);
  test::SharedAnon counter_mem(64);
  auto* pushed = counter_mem.as<std::atomic<std::uint64_t>>();
  std::uint64_t rng = 0x2545F4914F6CDD1DULL;
  std::uint64_t repaired = 0;
  for (std::uint32_t round = 0; round < rounds; ++round) {
    pushed->store(0);
    const std::uint32_t tag = Q::publisher_tag(round + 1);
    test::Child producer([&]() -> int {
      for (std::uint64_t s = 0;;) {
        BigItem big{{round, checksum(round, s), s}, {}};
        std::memset(big.payload, static_cast<int>(s & 0xff), sizeof(big.payload));
        if (q.try_push(big, tag)) {
          pushed->store(++s);
        } else {
          std::this_thread::yield();
        }
      }
    });
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    const std::uint64_t kill_after = 1 + rng % 40;
    std::uint64_t next = 0;
    auto drain = [&]() -> bool {  // false on a bad item
      BigItem big;
      while (q.try_pop(big)) {
        const Item& it = big.item;
        const bool intact = big.payload[0] == (it.seq & 0xff) &&
                            big.payload[sizeof(big.payload) - 1] == (it.seq & 0xff);
        if (it.producer != round || it.seq != next || it.check != checksum(round, it.seq) ||
            !intact) {
          ADD_FAILURE() << "round " << round << ": got producer " << it.producer << " seq "
                        << it.seq << ", expected seq " << next;
          return false;
        }
        ++next;
      }
      return true;
    };
    while (pushed->load() < kill_after) {
      if (!drain()) return;
    }
    // Then a random while longer, draining so that it keeps pushing: the kill lands anywhere.
    for (std::uint64_t spin = rng % 4096; spin != 0; --spin) {
      if (!drain()) return;
    }
    producer.kill(SIGKILL);  // at whatever instruction it is: maybe between claim and publish
    ASSERT_EQ(producer.wait(std::chrono::seconds(10)), 128 + SIGKILL);
    repaired += q.skip_abandoned(tag);
    if (!drain()) return;
    const std::uint64_t done = pushed->load();
    EXPECT_TRUE(next == done || next == done + 1)
        << "round " << round << ": popped " << next << ", pushed " << done;
    ASSERT_TRUE(q.idle()) << "round " << round << ": the consumer is stuck behind a claim";
  }
  RecordProperty("abandoned_claims_repaired", static_cast<int>(repaired));
}

// -------------------------------------------------------------------------------------------
class PoolStress : public ::testing::TestWithParam<Mode> {};

TEST_P(PoolStress, ConcurrentLoanReleaseEndsWithFreeEqualTotal) {
  const Mode mode = GetParam();
  constexpr int kWorkers = 4;
  const int rounds = static_cast<int>(1'000'000 / kStressScale);
  ChunkPoolConfig cfg{{{64, 48}, {256, 16}, {1024, 5}}};  // small: exhaustion is frequent
  ASSERT_FALSE(cfg.normalize());
  test::FakeSegment seg(4096 + cfg.region_bytes());
  ChunkPool::format(seg.base(), 4096, cfg);

  std::vector<std::function<int()>> fns;
  for (int w = 0; w < kWorkers; ++w) {
    fns.emplace_back([&, w]() -> int {
      auto pool = ChunkPool::attach(seg.base(), 4096, cfg.region_bytes());
      if (!pool) return 2;
      std::vector<Chunk> held;
      std::uint32_t rng = 1234u + static_cast<std::uint32_t>(w);
      const std::uint32_t sizes[] = {1, 64, 200, 1000};
      for (int r = 0; r < rounds; ++r) {
        rng = rng * 1664525u + 1013904223u;
        if (held.size() < 8 && (rng >> 24) % 3 != 0) {
          auto c = pool->loan(sizes[(rng >> 8) % 4], static_cast<std::uint32_t>(w));
          if (!c) {
            if (c.error() != LoanError::kExhausted) return 3;
            continue;
          }
          // Stamp the payload: if another worker got the same chunk, its stamp overwrites ours.
          std::uint64_t stamp =
              (std::uint64_t{static_cast<std::uint32_t>(w)} << 32) | static_cast<std::uint32_t>(r);
          std::memcpy(c->payload, &stamp, sizeof(stamp));
          std::memcpy(c->payload + c->capacity - sizeof(stamp), &stamp, sizeof(stamp));
          held.push_back(*c);
        } else if (!held.empty()) {
          std::size_t k = (rng >> 4) % held.size();
          Chunk c = held[k];
          std::uint64_t a, b;
          std::memcpy(&a, c.payload, sizeof(a));
          std::memcpy(&b, c.payload + c.capacity - sizeof(b), sizeof(b));
          if (a != b || (a >> 32) != static_cast<std::uint64_t>(w)) return 10;  // shared chunk!
          // Exercise add_ref/release pairs as a router fanning out to two queues would.
          if ((rng & 1) && !pool->add_ref(c.ref)) return 11;
          if ((rng & 1) && !pool->release(c.ref)) return 12;
          if (!pool->release(c.ref)) return 13;
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
        }
      }
      for (auto& c : held) {
        if (!pool->release(c.ref)) return 14;
      }
      return 0;
    });
  }
  auto rc = run_all(mode, fns);
  for (int w = 0; w < kWorkers; ++w)
    EXPECT_EQ(rc[w], 0) << "worker " << w << " (10 = double loan)";

  auto pool = ChunkPool::attach(seg.base(), 4096, cfg.region_bytes());
  ASSERT_TRUE(pool);
  for (std::size_t c = 0; c < pool->class_count(); ++c) {
    auto st = pool->stats(c);
    EXPECT_EQ(st.free, st.total) << "class " << c << " leaked or double-freed chunks";
    EXPECT_LT(st.min_free, st.total) << "the stress never loaned from class " << c;
    // Every chunk is on the free list exactly once: loan them all, distinct indices.
    std::vector<bool> got(st.total, false);
    for (std::uint32_t i = 0; i < st.total; ++i) {
      auto ch = pool->loan_from(static_cast<std::uint16_t>(c));
      ASSERT_TRUE(ch) << "free list shorter than its count";
      ASSERT_FALSE(got[ch->ref.index]) << "chunk twice on the free list";
      got[ch->ref.index] = true;
    }
    EXPECT_FALSE(pool->loan_from(static_cast<std::uint16_t>(c)))
        << "free list longer than its count";
  }
}

INSTANTIATE_TEST_SUITE_P(Stress, PoolStress, ::testing::Values(Mode::kThreads, Mode::kProcesses),
                         [](const auto& p) { return std::string(mode_name(p.param)); });

// -------------------------------------------------------------------------------------------
// The sleep handshake: a consumer that sleeps on an eventfd whenever the ring is empty must
// never miss a wake-up. A lost one shows as a poll timeout with items still to come.
class WaitStress : public ::testing::TestWithParam<Mode> {};

TEST_P(WaitStress, NoLostWakeups) {
  const Mode mode = GetParam();
  const std::uint64_t n = 100'000 / kStressScale;
  const std::uint32_t cap = 4;
  test::FakeSegment seg(ring_bytes(cap, MpmcRing<Item>::kStride) + 4096);
  const QueueDescriptor d = format_ring<Item>(seg.base(), 0, RingKind::kMpmc, cap);
  int efd = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  test::SharedAnon counters(64);
  auto* sleeps = counters.as<std::atomic<std::uint64_t>>();

  auto producer = [&]() -> int {
    auto q = MpmcRing<Item>::attach(seg.base(), seg.size(), d);
    if (!q) return 2;
    std::uint32_t rng = 99;
    for (std::uint64_t s = 0; s < n;) {
      if (!q->try_push({0, checksum(0, s), s})) {
        std::this_thread::yield();
        continue;
      }
      ++s;
      if (q->wait_word().wake_needed()) {
        std::uint64_t one = 1;
        if (::write(efd, &one, sizeof(one)) != sizeof(one)) return 3;
      }
      rng = rng * 1664525u + 1013904223u;
      // A random pause for the consumer to fall asleep in: the test checks that it did sleep
      // (sleeps > 0) and that every such sleep ended with a wake-up (no 10 s poll timeout).
      if ((rng >> 28) == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    return 0;
  };
  auto consumer = [&]() -> int {
    auto q = MpmcRing<Item>::attach(seg.base(), seg.size(), d);
    if (!q) return 2;
    std::uint64_t expect = 0;
    while (expect < n) {
      Item it;
      if (q->try_pop(it)) {
        if (it.seq != expect++ || it.check != checksum(0, it.seq)) return 10;
        continue;
      }
      WaitWord w = q->wait_word();
      w.prepare_wait();
      if (!q->empty()) {  // the re-check after announcing: never sleep on a published element
        w.cancel_wait();
        continue;
      }
      sleeps->fetch_add(1, std::memory_order_relaxed);
      pollfd pfd{efd, POLLIN, 0};
      int r = ::poll(&pfd, 1, 10'000);
      if (r == 0) return 20;  // lost wake-up: nothing came for 10 s with items outstanding
      std::uint64_t v;
      if (::read(efd, &v, sizeof(v)) != sizeof(v)) return 3;
      w.cancel_wait();
    }
    return 0;
  };
  auto rc = run_all(mode, {producer, consumer});
  ::close(efd);
  EXPECT_EQ(rc[0], 0) << "producer";
  EXPECT_EQ(rc[1], 0) << "consumer (10 order, 20 lost wake-up)";
  EXPECT_GT(sleeps->load(), 0U) << "the consumer never slept, so the handshake was not exercised";
}

INSTANTIATE_TEST_SUITE_P(Stress, WaitStress, ::testing::Values(Mode::kThreads, Mode::kProcesses),
                         [](const auto& p) { return std::string(mode_name(p.param)); });

}  // namespace
}  // namespace zcp::shm
