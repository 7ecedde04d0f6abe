// The router's side of direct delivery, stepped: settling kMsgDirect records, delivering to
// the subscribers the publisher did not reach, releases that arrive before their record,
// a publisher that leaves with a record it never committed, and what is refused.
#include "router_harness.hpp"

namespace zcp::router::test {
namespace {

std::uint64_t routed(const PubClient& c) {
  return shm::atomic_load(c.port->in.header()->routed, std::memory_order_acquire);
}

TEST(Direct, SettlesTheRecordAndDeliversToWhoeverThePublisherDidNotReach) {
  Harness h;
  PubClient p = h.add_pub(1, 7, 0, 8, /*history=*/1);
  h.make_direct(p);
  SubClient listed = h.add_sub(10, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{0, 2});
  SubClient unlisted = h.add_sub(11, 7);  // no route slot: only the router serves it
  ASSERT_TRUE(h.publish_direct(p, 42, {&listed}, 2));
  h.step();
  EXPECT_EQ(routed(p), 1U);
  EXPECT_EQ(h.router().worker(0).stats().direct_settled, 1U);
  shm::MessageHeader m{};
  EXPECT_EQ(h.take(listed, &m), 42U);
  EXPECT_FALSE(h.take(listed)) << "settling must not push a second copy";
  EXPECT_EQ(h.take(unlisted, &m), 42U);
  EXPECT_EQ(m.publisher_id, 1U) << "the router's copy carries the daemon's publisher id";
  EXPECT_EQ(m.timestamp_ns, 1234U)
      << "and the chunk's timestamp and sequence, not the record's masks";
  EXPECT_EQ(m.sequence, 1U);
  EXPECT_EQ(m.flags, 0U);
  h.step();  // releases
  EXPECT_EQ(listed.port->owned.count(), 0U);
  EXPECT_EQ(listed.port->fault.load(), 0U);
  h.remove(listed);
  h.remove(unlisted);
  h.remove(p);  // its history reference goes with it
  EXPECT_TRUE(h.pool_full());
}

TEST(Direct, AReleaseBeforeItsRecordWaitsAndThenApplies) {
  Harness h;
  PubClient p = h.add_pub(1, 7);
  h.make_direct(p);
  SubClient s = h.add_sub(10, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{3, 2});
  // Pushed and taken and released before the publisher committed its record.
  ASSERT_TRUE(h.publish_direct(p, 5, {&s}, 2, /*commit=*/false));
  EXPECT_EQ(h.take(s), 5U);
  h.step();
  EXPECT_EQ(h.router().worker(0).stats().early_releases, 1U);
  EXPECT_EQ(s.port->fault.load(), 0U) << "a release of a live chunk not yet settled is not a fault";
  p.out.commit();
  h.step();
  EXPECT_EQ(s.port->owned.count(), 0U) << "settled, then the waiting release applied";
  EXPECT_EQ(s.port->fault.load(), 0U);
  h.remove(s);
  h.remove(p);
  EXPECT_TRUE(h.pool_full());
}

// A covered subscriber that sleeps is woken by the router only if the publisher did not take
// care of it (it holds the subscriber's eventfd): no second, spurious wake-up.
TEST(Direct, TheRouterWakesOnlyWhomThePublisherDidNot) {
  Harness h;
  PubClient p = h.add_pub(1, 7);
  h.make_direct(p);
  SubClient a = h.add_sub(10, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{0, 2});
  SubClient b = h.add_sub(11, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{1, 2});
  a.queue.wait_word().prepare_wait();  // both announce a sleep
  b.queue.wait_word().prepare_wait();
  ASSERT_TRUE(h.publish_direct(p, 5, {&a, &b}, 2, /*commit=*/true, /*woken=*/0b01));  // a's handled
  h.step();
  EXPECT_TRUE(a.queue.wait_word().waiting()) << "the publisher woke a: the router leaves it";
  EXPECT_EQ(a.port->stats->wakeups, 0U);
  EXPECT_FALSE(b.queue.wait_word().waiting()) << "nobody woke b: the router does";
  EXPECT_EQ(b.port->stats->wakeups, 1U);
  EXPECT_EQ(h.take(a), 5U);
  EXPECT_EQ(h.take(b), 5U);
  h.step();
  h.remove(a);
  h.remove(b);
  h.remove(p);
  EXPECT_TRUE(h.pool_full());
}

// Only work a client waits for keeps a hybrid worker spinning (Worker::urgent): settling a
// direct record that reached every subscriber waits for a batch (the publisher nudges); a
// routed record, and a wake-up the publisher left to the router, do not wait.
TEST(Direct, OnlyWorkAClientWaitsForIsUrgent) {
  Harness h;
  PubClient d = h.add_pub(1, 7);
  h.make_direct(d);
  PubClient r = h.add_pub(2, 7);  // routed
  SubClient s = h.add_sub(10, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{0, 2});
  h.step(2);
  Worker& w = h.router().worker(0);
  EXPECT_EQ(w.do_work(0), 0U);
  EXPECT_EQ(w.urgent(), 0U) << "an idle pass";

  ASSERT_TRUE(h.publish_direct(d, 5, {&s}, 2, /*commit=*/true, /*woken=*/0b1));
  EXPECT_GT(w.do_work(0), 0U);
  EXPECT_EQ(w.urgent(), 0U) << "settling a record that reached everyone can wait for a batch";

  ASSERT_TRUE(h.publish(r, 6));
  EXPECT_GT(w.do_work(0), 0U);
  EXPECT_GT(w.urgent(), 0U) << "a routed record: its subscriber waits for the router";

  s.queue.wait_word().prepare_wait();  // s sleeps, and the publisher leaves its wake-up to us
  ASSERT_TRUE(h.publish_direct(d, 7, {&s}, 2, /*commit=*/true, /*woken=*/0));
  EXPECT_GT(w.do_work(0), 0U);
  EXPECT_GT(w.urgent(), 0U) << "a wake-up only the router makes";
  EXPECT_EQ(s.port->stats->wakeups, 1U);

  EXPECT_EQ(h.take(s), 5U);
  EXPECT_EQ(h.take(s), 6U);
  EXPECT_EQ(h.take(s), 7U);
  h.step();
  h.remove(s);
  h.remove(r);
  h.remove(d);
  EXPECT_TRUE(h.pool_full());
}

TEST(Direct, ALeavingPublishersUncommittedRecordIsSettled) {
  Harness h;
  PubClient p = h.add_pub(1, 7);
  h.make_direct(p);
  SubClient s = h.add_sub(10, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{0, 2});
  ASSERT_TRUE(h.publish_direct(p, 1, {&s}, 2));
  ASSERT_TRUE(h.publish_direct(p, 2, {&s}, 2));
  // Died between its push and its commit: the subscriber has the message, the ring does not.
  ASSERT_TRUE(h.publish_direct(p, 3, {&s}, 2, /*commit=*/false));
  h.remove(p);  // the worker settles the ring and the record at its tail; then reclaim
  for (std::uint64_t want = 1; want <= 3; ++want) {
    shm::MessageHeader m{};
    auto v = h.take(s, &m, /*hold=*/true);
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, want) << "the chunk must still hold the publisher's payload";
    h.release(s, m.chunk());
  }
  h.step();
  EXPECT_EQ(s.port->fault.load(), 0U) << "its releases are of chunks it owns";
  EXPECT_EQ(s.port->owned.count(), 0U);
  h.remove(s);
  EXPECT_TRUE(h.pool_full());
}

TEST(Direct, ARecordNewerThanTheWorkersRouteMapWaitsForTheCommand) {
  Harness h;
  PubClient p = h.add_pub(1, 7);
  h.make_direct(p);
  SubClient a = h.add_sub(10, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{0, 2});
  ASSERT_TRUE(h.publish_direct(p, 9, {&a}, 4));  // the table already says version 4
  h.step();
  EXPECT_EQ(routed(p), 0U) << "version 4's command is not applied: wait";
  SubClient b = h.add_sub(11, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{1, 4});  // steps
  EXPECT_EQ(routed(p), 1U);
  EXPECT_EQ(h.take(a), 9U);
  EXPECT_EQ(h.take(b), 9U) << "not in the record's mask: the router delivered it";
  h.step();
  h.remove(a);
  h.remove(b);
  h.remove(p);
  EXPECT_TRUE(h.pool_full());
}

TEST(Direct, ABitOfAnEarlierOccupantOfTheSlotDoesNotCoverTheNewOne) {
  Harness h;
  PubClient p = h.add_pub(1, 7);
  h.make_direct(p);
  // Slot 0 was listed at version 6; a record made with version 4 meant whoever had it then.
  SubClient s = h.add_sub(10, 7, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{0, 6});
  shm::MessageHeader* rec = p.out.claim();
  ASSERT_NE(rec, nullptr);
  shm::ChunkRef ref;
  ASSERT_TRUE(p.loans.try_pop(ref));
  shm::as_direct(*rec) =
      shm::DirectRecord{ref.index, ref.pool_class, shm::kMsgDirect, ref.generation, 4, 1, 0};
  p.out.commit();
  h.step();
  EXPECT_TRUE(h.take(s)) << "delivered by the router, since the publisher could not have";
  h.step();
  h.remove(s);
  h.remove(p);
  EXPECT_TRUE(h.pool_full());
}

TEST(Direct, RefusedRecordsAndReleasesFaultTheirPort) {
  Harness h;
  // A publisher of a routed topic may not claim direct delivery.
  PubClient routed_pub = h.add_pub(1, 7);
  shm::ChunkRef ref;
  ASSERT_TRUE(routed_pub.loans.try_pop(ref));
  shm::MessageHeader forged{};
  shm::as_direct(forged) =
      shm::DirectRecord{ref.index, ref.pool_class, shm::kMsgDirect, ref.generation, 2, 1, 0};
  ASSERT_TRUE(routed_pub.out.try_push(forged));
  h.step();
  EXPECT_EQ(routed_pub.port->fault.load(), static_cast<std::uint32_t>(PortFault::kCorruptRing));

  // A direct subscriber releasing a free chunk (refcount 0) cannot be waiting for a record.
  PubClient p = h.add_pub(2, 8);
  h.make_direct(p);
  SubClient s = h.add_sub(10, 8, QueuePolicy::kDropOldest, 4, 2, 0, Harness::Route{0, 2});
  auto sent = h.publish_direct(p, 1, {&s}, 2);
  ASSERT_TRUE(sent);
  h.step();
  EXPECT_EQ(h.take(s), 1U);
  h.step();  // freed: its refcount is 0 now
  h.release(s, *sent);
  h.step();
  EXPECT_EQ(s.port->fault.load(), static_cast<std::uint32_t>(PortFault::kForeignChunk));
  h.remove(s);
  h.remove(p);
  h.remove(routed_pub);
  EXPECT_TRUE(h.pool_full());
}

// Two direct publishers and two block_publisher subscribers that sleep, on a topic where the
// publishers leave every wake-up to the router (wider than direct_wake_max): the router wakes
// a subscriber for a pushed message when it settles the message's record, in publish order.
// Here each publisher is held back at a subscriber's full queue, and each of those
// subscribers sleeps on messages that the *other* publisher pushed, whose records wait behind
// that other stall. A held-back worker must wake the sleeping owner of the full queue itself,
// or both publishers wait for ever.
TEST(Direct, AWorkerHeldBackByAFullQueueWakesItsSleepingSubscriber) {
  Harness h;
  PubClient a = h.add_pub(1, 7);
  PubClient b = h.add_pub(2, 7);
  h.make_direct(a);
  h.make_direct(b);
  // y first: the router offers to the topic's subscribers in this order.
  SubClient y = h.add_sub(10, 7, QueuePolicy::kBlockPublisher, 2, 2, 0, Harness::Route{0, 2});
  SubClient x = h.add_sub(11, 7, QueuePolicy::kBlockPublisher, 1, 2, 0, Harness::Route{1, 2});
  ASSERT_TRUE(h.publish_direct(b, 1, {&y, &x}, 2));  // x is full now
  ASSERT_TRUE(h.publish_direct(a, 2, {&y}, 2));      // y is full now; x left to the router
  h.step();                                          // a's record waits for room at x
  EXPECT_EQ(h.take(y), 1U);
  EXPECT_EQ(h.take(y), 2U);
  EXPECT_EQ(h.take(x), 1U);
  // Both sleep. a pushes to y only (x is the router's for a until its record is routed), b to
  // x only (y is full): nobody wakes them but the router.
  y.queue.wait_word().prepare_wait();
  x.queue.wait_word().prepare_wait();
  ASSERT_TRUE(h.publish_direct(a, 3, {&y}, 2));
  ASSERT_TRUE(h.publish_direct(a, 4, {&y}, 2));  // y is full
  ASSERT_TRUE(h.publish_direct(b, 5, {&x}, 2));  // x is full; y left to the router
  h.step(3);                                     // a waits for room at x, b for room at y
  EXPECT_FALSE(x.queue.wait_word().waiting())
      << "x sleeps on a full queue that holds a publisher back";
  EXPECT_FALSE(y.queue.wait_word().waiting())
      << "y sleeps on a full queue that holds a publisher back";
  // Woken, they take what they have, and everything flows again, in each publisher's order.
  std::vector<std::uint64_t> at_x, at_y;
  for (int i = 0; i < 20 && (at_x.size() < 5 || at_y.size() < 5); ++i) {
    while (auto v = h.take(x))
      at_x.push_back(*v);
    while (auto v = h.take(y))
      at_y.push_back(*v);
    h.step();
  }
  EXPECT_EQ(at_x, (std::vector<std::uint64_t>{5, 2, 3, 4}))
      << "x: b's 5 was pushed; a's come through the router";
  EXPECT_EQ(at_y, (std::vector<std::uint64_t>{3, 4, 5}))
      << "y: a's 3 and 4 were pushed; b's 5 comes through the router";
  h.step();
  h.remove(x);
  h.remove(y);
  h.remove(a);
  h.remove(b);
  EXPECT_TRUE(h.pool_full());
}

}  // namespace
}  // namespace zcp::router::test
