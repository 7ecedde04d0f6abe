// Router workers driven step by step (no threads): routing, policies, history, loans,
// hostile clients, and exact chunk accounting.
#include <vector>

#include <gtest/gtest.h>

#include "router_harness.hpp"
#include "shm/atomic.hpp"
#include "shm/stats.hpp"

namespace zcp::router {
namespace {

using test::Harness;

TEST(Router, LoanRingIsFilledFromThePublishersClass) {
  Harness h;
  auto pub = h.add_pub(1, 7, /*cls=*/1, /*max_loans=*/8);
  EXPECT_EQ(pub.loans.size_approx(), 8U) << "max_loans 8 < prefill 16: filled up to max_loans";
  EXPECT_EQ(pub.port->owned.count(), 8U);
  shm::ChunkRef r;
  ASSERT_TRUE(pub.loans.try_pop(r));
  EXPECT_EQ(r.pool_class, 1);
  EXPECT_EQ(h.seg().pool().stats(1).free, 16U - 8U);
  h.remove(pub);  // the popped loan was never returned: reclaim must still find it
  EXPECT_TRUE(h.pool_full());
}

// The counters tools read: publisher routed and history fill, subscriber delivered, and the
// worker's slot (passes, busy passes and time, commands, routed). Here they live in the
// ports' and worker's own fallback slots, written exactly as into the stats region.
TEST(Router, CountersTrackRoutingHistoryAndPasses) {
  Harness h;
  auto sub = h.add_sub(1, 7, QueuePolicy::kDropOldest, 16, 2);
  auto pub = h.add_pub(1, 7, 0, 8, /*history=*/3);
  const shm::WorkerStatsSlot& w = h.router().worker(0).stats();
  EXPECT_EQ(shm::read_counter(w.commands), 2U) << "two Add commands applied";
  for (std::uint64_t v = 1; v <= 5; ++v) {
    ASSERT_TRUE(h.publish(pub, v));
    h.step();
    ASSERT_EQ(h.take(sub), v);
    h.step();
  }
  EXPECT_EQ(shm::read_counter(pub.port->stats->routed), 5U);
  EXPECT_EQ(shm::read_counter(pub.port->stats->history_size), 3U) << "the history holds its depth";
  EXPECT_EQ(shm::read_counter(sub.port->stats->delivered), 5U);
  EXPECT_EQ(shm::read_counter(w.routed), 5U);
  EXPECT_GE(shm::read_counter(w.passes), shm::read_counter(w.busy_passes));
  EXPECT_GE(shm::read_counter(w.busy_passes), 5U);
  EXPECT_GE(shm::read_counter(w.busy_ns), shm::read_counter(w.max_pass_ns));
  EXPECT_GT(shm::read_counter(w.max_pass_ns), 0U);
  EXPECT_EQ(w.id, 0U);
  EXPECT_EQ(w.cpu, -1);
  h.remove(pub);
  h.remove(sub);
  EXPECT_TRUE(h.pool_full());
}

// A worker given a slot of the stats region writes there, from zero, with its identity.
TEST(Router, WorkerWritesTheSlotItIsGiven) {
  shm::WorkerStatsSlot slot{};
  slot.routed = 99;  // left over from an earlier daemon using this slot
  WorkerOptions o;
  o.id = 3;
  o.cpu = -1;
  o.idle = IdleStrategy::kPark;
  o.stats = &slot;
  ChunkLedger ledger;  // no ports: the ledger is never asked
  Worker w(o, ledger, -1, -1);
  EXPECT_EQ(&w.stats(), &slot);
  EXPECT_EQ(slot.routed, 0U);
  EXPECT_EQ(slot.id, 3U);
  EXPECT_EQ(slot.idle_strategy, static_cast<std::uint32_t>(IdleStrategy::kPark));
  w.do_work(0);
  EXPECT_EQ(shm::read_counter(slot.passes), 1U);
}

TEST(Router, OnePublisherOneSubscriberOrderedAndComplete) {
  Harness h;
  auto sub = h.add_sub(1, 7, QueuePolicy::kBlockPublisher, 4);
  auto pub = h.add_pub(1, 7);
  std::uint64_t sent = 0, got = 0;
  while (got < 1000) {
    while (sent < 1000 && h.publish(pub, sent + 1))
      ++sent;
    h.step();
    while (auto v = h.take(sub))
      ASSERT_EQ(*v, ++got) << "in order, none lost";
    h.step();
  }
  EXPECT_EQ(shm::read_counter(sub.port->stats->delivered), 1000U);
  EXPECT_EQ(shm::read_counter(sub.port->stats->dropped), 0U);
  h.remove(pub);
  h.remove(sub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, FanOutSharesOneChunkAcrossSixteenSubscribers) {
  Harness h;
  std::vector<test::SubClient> subs;
  for (std::uint32_t i = 0; i < 16; ++i)
    subs.push_back(h.add_sub(i, 3, QueuePolicy::kDropOldest, 8));
  auto pub = h.add_pub(1, 3);
  ASSERT_TRUE(h.publish(pub, 42));
  h.step();
  shm::MessageHeader first{};
  for (auto& s : subs) {
    shm::MessageHeader m;
    auto v = h.take(s, &m, /*hold=*/true);
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 42U);
    if (&s == &subs.front()) first = m;
    EXPECT_EQ(m.chunk_index, first.chunk_index)
        << "zero copy: every subscriber gets the same chunk";
    EXPECT_EQ(m.publisher_id, 1U)
        << "the router stamps the publisher id, whatever the client wrote";
  }
  EXPECT_EQ(h.router().ledger().refcount(first.chunk()), 16U) << "one reference per subscriber";
  for (auto& s : subs)
    h.release(s, first.chunk());
  h.step();
  EXPECT_EQ(h.router().ledger().refcount(first.chunk()), 0U);
  h.remove(pub);
  for (auto& s : subs)
    h.remove(s);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, FourPublishersKeepTheirOwnOrder) {
  Harness h;
  auto sub = h.add_sub(1, 5, QueuePolicy::kBlockPublisher, 16, 2);
  std::vector<test::PubClient> pubs;
  for (std::uint32_t i = 0; i < 4; ++i)
    pubs.push_back(h.add_pub(10 + i, 5));
  std::uint64_t next[4] = {1, 1, 1, 1}, seen[4] = {0, 0, 0, 0};
  std::size_t total = 0;
  while (total < 4 * 500) {
    for (std::uint32_t i = 0; i < 4; ++i) {
      if (next[i] <= 500 && h.publish(pubs[i], i * 1'000'000 + next[i])) ++next[i];
    }
    h.step();
    shm::MessageHeader m;
    while (auto v = h.take(sub, &m)) {
      std::uint32_t p = m.publisher_id - 10;
      ASSERT_LT(p, 4U);
      ASSERT_EQ(*v, p * 1'000'000 + seen[p] + 1) << "publisher " << p << " out of order";
      ++seen[p];
      ++total;
    }
    h.step();
  }
  for (auto& p : pubs)
    h.remove(p);
  h.remove(sub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, DropOldestKeepsTheNewestAndCountsExactly) {
  Harness h;
  auto sub = h.add_sub(1, 1, QueuePolicy::kDropOldest, /*capacity=*/3);
  auto pub = h.add_pub(1, 1, 0, 8, 0, /*publish_capacity=*/4);
  for (std::uint64_t v = 1; v <= 10; ++v) {
    ASSERT_TRUE(h.publish(pub, v));
    h.step();
  }
  EXPECT_EQ(shm::read_counter(sub.port->stats->dropped), 7U);
  EXPECT_EQ(shm::atomic_load(sub.queue.header()->dropped, std::memory_order_relaxed), 7U)
      << "the client sees the same drop count in shared memory";
  for (std::uint64_t v = 8; v <= 10; ++v)
    EXPECT_EQ(h.take(sub).value_or(0), v);
  EXPECT_FALSE(h.take(sub));
  h.step();
  h.remove(pub);
  h.remove(sub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, DropNewestKeepsTheOldestAndCountsExactly) {
  Harness h;
  auto sub = h.add_sub(1, 1, QueuePolicy::kDropNewest, 3);
  auto pub = h.add_pub(1, 1);
  for (std::uint64_t v = 1; v <= 10; ++v) {
    ASSERT_TRUE(h.publish(pub, v));
    h.step();
  }
  EXPECT_EQ(shm::read_counter(sub.port->stats->dropped), 7U);
  for (std::uint64_t v = 1; v <= 3; ++v)
    EXPECT_EQ(h.take(sub).value_or(0), v);
  h.step();
  h.remove(pub);
  h.remove(sub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, BlockPublisherIsLosslessAndBacksUpIntoThePublishRing) {
  Harness h;
  auto slow = h.add_sub(1, 1, QueuePolicy::kBlockPublisher, 2);
  auto fast = h.add_sub(2, 1, QueuePolicy::kDropOldest, 2);
  auto pub = h.add_pub(1, 1, 0, 8, 0, 4);
  std::uint64_t sent = 0;
  for (int i = 0; i < 20; ++i) {
    if (h.publish(pub, sent + 1)) ++sent;
    h.step();
  }
  // The blocked subscriber holds 2, the router holds one mid-delivery, the ring backs up.
  EXPECT_LT(sent, 20U) << "back-pressure must reach the publisher";
  EXPECT_GT(shm::read_counter(pub.port->stats->blocked), 0U);
  EXPECT_EQ(pub.out.size_approx(), 4U) << "publish ring full: publish() reports WouldBlock";
  std::uint64_t got = 0;
  while (got < 200) {
    while (sent < 200 && h.publish(pub, sent + 1))
      ++sent;
    h.step();
    while (auto v = h.take(slow))
      ASSERT_EQ(*v, ++got);
    while (h.take(fast)) {
    }
    h.step();
  }
  EXPECT_EQ(shm::read_counter(slow.port->stats->dropped), 0U);
  h.step();
  h.remove(pub);
  h.remove(slow);
  h.remove(fast);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, HeldSamplesCountAgainstTheLimit) {
  Harness h;
  auto sub = h.add_sub(1, 1, QueuePolicy::kDropOldest, /*capacity=*/2, /*max_held=*/2);
  auto pub = h.add_pub(1, 1);
  std::vector<shm::ChunkRef> held;
  for (std::uint64_t v = 1; v <= 6; ++v) {
    ASSERT_TRUE(h.publish(pub, v));
    h.step();
    shm::MessageHeader m;
    if (held.size() < 2 && h.take(sub, &m, true)) held.push_back(m.chunk());
  }
  // 2 held + 2 queued = the limit of 4: the subscriber never owns more.
  EXPECT_EQ(sub.port->owned.count(), 4U);
  for (auto& r : held)
    h.release(sub, r);
  h.step();
  EXPECT_EQ(sub.port->owned.count(), 2U);
  h.remove(pub);
  h.remove(sub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, LateJoinerReceivesHistoryFirst) {
  Harness h;
  auto pub = h.add_pub(1, 9, 0, 8, /*history=*/4);
  for (std::uint64_t v = 1; v <= 10; ++v) {
    ASSERT_TRUE(h.publish(pub, v));
    h.step();
  }
  auto late = h.add_sub(1, 9, QueuePolicy::kDropOldest, 8, 2, /*history=*/3);
  ASSERT_TRUE(h.publish(pub, 11));
  h.step();
  for (std::uint64_t v : {8, 9, 10, 11})
    EXPECT_EQ(h.take(late).value_or(0), v);
  h.step();
  h.remove(pub);
  h.remove(late);
  EXPECT_TRUE(h.pool_full()) << "history references must be reclaimed with the publisher";
}

TEST(Router, UnpublishedLoanComesBack) {
  Harness h;
  auto pub = h.add_pub(1, 1);
  shm::ChunkRef r;
  ASSERT_TRUE(pub.loans.try_pop(r));
  shm::MessageHeader ret{r.index, r.pool_class, shm::kMsgReturn, r.generation, 0, 0, 0};
  ASSERT_TRUE(pub.out.try_push(ret));
  h.step();
  EXPECT_EQ(shm::read_counter(pub.port->stats->returned), 1U);
  EXPECT_EQ(pub.port->owned.count(), 8U) << "returned, then the loan ring refilled";
  h.remove(pub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, PublisherPublishingAForeignChunkIsFaultedOthersContinue) {
  Harness h;
  auto sub = h.add_sub(1, 1);
  auto good = h.add_pub(1, 1);
  auto evil = h.add_pub(2, 1);
  shm::ChunkRef mine;
  ASSERT_TRUE(good.loans.try_pop(mine));
  // evil publishes good's chunk, then garbage.
  ASSERT_TRUE(evil.out.try_push({mine.index, mine.pool_class, 0, mine.generation, 0, 1, 0}));
  h.step();
  EXPECT_EQ(evil.port->fault.load(), static_cast<std::uint32_t>(PortFault::kForeignChunk));
  EXPECT_FALSE(h.take(sub)) << "nothing from the faulted publisher is delivered";
  // good's own publication of the same chunk still works.
  ASSERT_TRUE(good.out.try_push({mine.index, mine.pool_class, 0, mine.generation, 0, 1, 0}));
  h.step();
  EXPECT_TRUE(h.take(sub));
  h.step();
  h.remove(evil);
  h.remove(good);
  h.remove(sub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, CorruptPublishRingIsFaulted) {
  Harness h;
  auto pub = h.add_pub(1, 1);
  shm::atomic_store(pub.port->in.header()->tail, std::uint64_t{1} << 40, std::memory_order_relaxed);
  h.step();
  EXPECT_EQ(pub.port->fault.load(), static_cast<std::uint32_t>(PortFault::kCorruptRing));
  h.remove(pub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, SubscriberDoubleReleaseIsFaultedNotDoubleFreed) {
  Harness h;
  auto sub = h.add_sub(1, 1);
  auto other = h.add_sub(2, 1);
  auto pub = h.add_pub(1, 1);
  ASSERT_TRUE(h.publish(pub, 5));
  h.step();
  shm::MessageHeader m;
  ASSERT_TRUE(h.take(sub, &m));  // released once by take()
  h.release(sub, m.chunk());     // and again
  h.step();
  EXPECT_EQ(sub.port->fault.load(), static_cast<std::uint32_t>(PortFault::kForeignChunk));
  EXPECT_EQ(h.router().ledger().refcount(m.chunk()), 1U)
      << "the other subscriber's reference survives";
  EXPECT_EQ(h.take(other).value_or(0), 5U);
  h.step();
  h.remove(pub);
  h.remove(sub);
  h.remove(other);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, DeadProcessesChunksAreAllReclaimed) {
  Harness h;
  auto sub = h.add_sub(1, 1, QueuePolicy::kDropOldest, 4, 4);
  auto pub = h.add_pub(1, 1);
  for (std::uint64_t v = 1; v <= 6; ++v) {
    ASSERT_TRUE(h.publish(pub, v));
    h.step();
  }
  shm::MessageHeader m;
  ASSERT_TRUE(h.take(sub, &m, /*hold=*/true));  // one taken, never released: then "killed"
  shm::ChunkRef loaned;
  ASSERT_TRUE(pub.loans.try_pop(loaned));  // one loan in hand, never published
  ASSERT_TRUE(h.publish(pub, 7));          // one published, never routed
  h.remove(sub);
  h.remove(pub);
  EXPECT_TRUE(h.pool_full());
}

TEST(Router, SubscriberSleepingIsWokenOncePerPass) {
  Harness h;
  auto sub = h.add_sub(1, 1, QueuePolicy::kDropOldest, 8);
  auto pub = h.add_pub(1, 1);
  sub.queue.wait_word().prepare_wait();  // the subscriber announces it sleeps
  ASSERT_TRUE(h.publish(pub, 1));
  ASSERT_TRUE(h.publish(pub, 2));
  h.step();
  std::uint64_t n = 0;
  ASSERT_EQ(::read(sub.efd, &n, sizeof(n)), static_cast<ssize_t>(sizeof(n)));
  EXPECT_EQ(n, 1U) << "one eventfd write for the whole pass";
  ASSERT_TRUE(h.publish(pub, 3));
  h.step();
  EXPECT_EQ(::read(sub.efd, &n, sizeof(n)), -1) << "a polling subscriber costs no system call";
  EXPECT_EQ(shm::read_counter(sub.port->stats->wakeups), 1U);
}

}  // namespace
}  // namespace zcp::router

namespace zcp::router::test {
namespace {

// A subscriber removed while the router is held back delivering a message (a full
// block_publisher queue further down the topic's list) must not make the ones after it miss
// that message: the resume index moves down with the list.
TEST(RouterRemoval, ASubscriberLeavingMidDeliveryDoesNotSkipTheNextOne) {
  Harness h;
  PubClient p = h.add_pub(1, 7);
  SubClient a = h.add_sub(10, 7, QueuePolicy::kBlockPublisher, 1, 2);
  SubClient b = h.add_sub(11, 7, QueuePolicy::kBlockPublisher, 1, 2);
  SubClient c = h.add_sub(12, 7, QueuePolicy::kBlockPublisher, 1, 2);
  ASSERT_TRUE(h.publish(p, 1));
  h.step();
  EXPECT_EQ(h.take(a), 1U);
  EXPECT_EQ(h.take(b), 1U);  // c keeps message 1 queued: its queue (capacity 1) is full
  ASSERT_TRUE(h.publish(p, 2));
  h.step(2);  // a and b get message 2; the router waits at c
  EXPECT_EQ(h.take(a), 2U);
  h.remove(a);  // a was before c in the topic's list
  EXPECT_EQ(h.take(c), 1U);
  h.step(2);
  EXPECT_EQ(h.take(c), 2U) << "c must still get the message the router was delivering";
  EXPECT_EQ(h.take(b), 2U);
  h.step();
  h.remove(b);
  h.remove(c);
  h.remove(p);
  EXPECT_TRUE(h.pool_full());
}

}  // namespace
}  // namespace zcp::router::test
