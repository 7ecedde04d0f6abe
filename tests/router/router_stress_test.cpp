// The router on its own thread (hybrid idle, parking included) with publisher and subscriber
// threads in this process, so ThreadSanitizer sees every access. Lossless block_publisher
// delivery in order, then exact accounting.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <poll.h>

#include "router_harness.hpp"
#include "shm/stats.hpp"

namespace zcp::router {
namespace {

#if defined(ZCP_TSAN)
constexpr std::uint64_t kMessages = 20'000;
#else
constexpr std::uint64_t kMessages = 300'000;
#endif

TEST(RouterStress, ThreadedLosslessFanOutWithSleepingSubscribers) {
  test::Harness h(shm::ChunkPoolConfig{{{64, 256}}});
  constexpr int kSubs = 3;
  std::vector<test::SubClient> subs;
  for (int i = 0; i < kSubs; ++i)
    subs.push_back(h.add_sub(i, 1, QueuePolicy::kBlockPublisher, 8, 4));
  auto pub = h.add_pub(1, 1, 0, 32, 0, 16);
  ASSERT_TRUE(h.router().start());

  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < kSubs; ++i) {
    readers.emplace_back([&, i] {
      auto& s = subs[i];
      std::uint64_t expect = 1;
      while (expect <= kMessages && !failed.load()) {
        if (auto v = h.take(s)) {
          if (*v != expect++) failed.store(true);
          continue;
        }
        // Sleep on the eventfd like a wait()ing subscriber.
        s.queue.wait_word().prepare_wait();
        if (!s.queue.empty()) {
          s.queue.wait_word().cancel_wait();
          continue;
        }
        pollfd p{s.efd, POLLIN, 0};
        if (::poll(&p, 1, 5000) == 0) failed.store(true);  // a lost wake-up
        std::uint64_t n;
        (void)!::read(s.efd, &n, sizeof(n));
        s.queue.wait_word().cancel_wait();
      }
    });
  }
  std::thread writer([&] {
    std::uint64_t sent = 0;
    while (sent < kMessages && !failed.load()) {
      if (h.publish(pub, sent + 1)) {
        ++sent;
        if (pub.out.wait_word().wake_needed()) {  // the worker parked: ring its doorbell
          std::uint64_t one = 1;
          (void)!::write(h.router().doorbell(0), &one, sizeof(one));
        }
      } else {
        std::this_thread::yield();
      }
    }
  });
  writer.join();
  for (auto& t : readers)
    t.join();
  EXPECT_FALSE(failed.load()) << "out of order, lost, or a lost wake-up";
  h.router().stop();
  h.step(3);  // drain the last releases
  for (auto& s : subs)
    EXPECT_EQ(shm::read_counter(s.port->stats->dropped), 0U);
  EXPECT_EQ(shm::read_counter(h.router().worker(0).stats().routed), kMessages);
  h.remove(pub);
  for (auto& s : subs)
    h.remove(s);
  EXPECT_TRUE(h.pool_full());
}

}  // namespace
}  // namespace zcp::router
