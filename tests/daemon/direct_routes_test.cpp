// A direct publisher's route table read, against the real daemon in this process, stepped
// by hand: what the publisher does when it finds the table in the middle of a rewrite.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include <zcp/zcp.hpp>

#include "in_process_daemon.hpp"
#include "shm/route_table.hpp"

namespace zcp::daemon_test {
namespace {

using Clock = std::chrono::steady_clock;

class DirectRoutesTest : public InProcessDaemonTest {};

// A publisher that finds no consistent copy of its route table (the reactor stopped inside a
// rewrite: its version stays odd) leaves that message to the router for every subscriber.
// When the table is readable again, a subscriber it lists as before must still wait for the
// router to deliver that message before the publisher pushes the next one itself; else the
// next one overtakes it. Here the router is held back (a full block_publisher queue ahead of
// the subscriber), so an overtaking push shows at once.
TEST_F(DirectRoutesTest, AfterAnUnreadableTableThePublisherPushesOnlyBehindTheRouter) {
  start(config());
  if (HasFatalFailure()) return;
  auto rt = connect("routes");
  ASSERT_NE(rt, nullptr);
  // The router offers to a topic's subscribers in the order they came: the full one first.
  auto full = Subscriber<std::uint64_t>::create(
      *rt, "dr/x/y", {.queue_capacity = 1, .policy = QueuePolicy::kBlockPublisher});
  ASSERT_TRUE(full) << full.error().message;
  auto sub = Subscriber<std::uint64_t>::create(
      *rt, "dr/x/y", {.queue_capacity = 16, .policy = QueuePolicy::kBlockPublisher});
  ASSERT_TRUE(sub) << sub.error().message;
  auto pub = Publisher<std::uint64_t>::create(*rt, "dr/x/y", {.loan_wait = 1s});
  ASSERT_TRUE(pub) << pub.error().message;
  DaemonView view(segment_name());
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(wait_until([&] { return view.listed(pub->id()) == 2; }, kDeadline));

  std::vector<std::uint64_t> at_sub;
  auto take_sub = [&](std::size_t n) {
    return wait_until(
        [&] {
          while (auto x = sub->take())
            at_sub.push_back(**x);
          return at_sub.size() >= n;
        },
        kDeadline);
  };
  ASSERT_TRUE(pub->publish(1, 1s));
  ASSERT_TRUE(take_sub(1));  // `full` holds 1 and takes nothing until the end

  // The reactor "stops" inside a rewrite of the publisher's table: the version is odd.
  auto seg = shm::Segment::open(segment_name(), /*writable=*/true);
  ASSERT_TRUE(seg);
  const shm::RingHeader* ring = view.publish_ring_of(pub->id());
  ASSERT_NE(ring, nullptr);
  auto* table = reinterpret_cast<shm::RouteTable*>(seg->base() + ring->route_table);
  const std::uint32_t version = shm::atomic_load(table->version, std::memory_order_seq_cst);
  // seq_cst: as the reactor's own stores of the version (write_route).
  shm::atomic_store(table->version, version - 1, std::memory_order_seq_cst);
  ASSERT_TRUE(pub->publish(2, 1s));  // left to the router, which is held back at `full`
  shm::atomic_store(table->version, version, std::memory_order_seq_cst);  // the rewrite ends

  // A real change of the tables (a third subscriber), so the publisher reads them again.
  auto third =
      Subscriber<std::uint64_t>::create(*rt, "dr/x/y", {.policy = QueuePolicy::kBlockPublisher});
  ASSERT_TRUE(third) << third.error().message;
  ASSERT_TRUE(wait_until([&] { return view.listed(pub->id()) == 3; }, kDeadline));
  ASSERT_TRUE(pub->publish(3, 1s));

  // `full` makes room; everyone gets 1, 2, 3 in order.
  std::vector<std::uint64_t> at_full;
  ASSERT_TRUE(wait_until(
      [&] {
        while (auto x = full->take())
          at_full.push_back(**x);
        while (auto x = sub->take())
          at_sub.push_back(**x);
        return at_sub.size() >= 3 && at_full.size() >= 3;
      },
      kDeadline))
      << "sub got " << at_sub.size() << ", full got " << at_full.size();
  EXPECT_EQ(at_sub, (std::vector<std::uint64_t>{1, 2, 3}))
      << "3 was pushed before the router delivered 2";
  EXPECT_EQ(at_full, (std::vector<std::uint64_t>{1, 2, 3}));
  // It came while 2 was still the router's, so the router gives it 2 as well.
  std::vector<std::uint64_t> at_third;
  ASSERT_TRUE(wait_until(
      [&] {
        while (auto x = third->take())
          at_third.push_back(**x);
        return !at_third.empty() && at_third.back() == 3;
      },
      kDeadline));
  EXPECT_TRUE(std::is_sorted(at_third.begin(), at_third.end()));
  EXPECT_TRUE(pub->flush(kDeadline));
}

}  // namespace
}  // namespace zcp::daemon_test
