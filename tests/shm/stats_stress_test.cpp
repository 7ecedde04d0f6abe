// The stats descriptor sequence lock under contention: a writer thread republishes a slot
// whose words all carry the same value; reader threads must never copy a torn mix. Runs under
// TSan (label concurrency), which also checks that every access is atomic.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "shm/stats.hpp"

namespace zcp::shm {
namespace {

TopicStats stamped(std::uint32_t v) {
  TopicStats t{};
  t.state = v;
  t.id = v;
  t.publishers = v;
  t.subscribers = v;
  for (auto& c : t.service)
    c = static_cast<char>('a' + v % 26);
  for (auto& c : t.event)
    c = static_cast<char>('a' + v % 26);
  return t;
}

bool consistent(const TopicStats& t) {
  if (t.id != t.state || t.publishers != t.state || t.subscribers != t.state) return false;
  char c = static_cast<char>('a' + t.state % 26);
  for (char x : t.service)
    if (x != c) return false;
  for (char x : t.event)
    if (x != c) return false;
  return true;
}

TEST(StatsSeqlockStress, ReadersNeverSeeATornDescriptor) {
  TopicStats slot{};
  seq_publish(slot, stamped(0));
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> torn{0}, reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      TopicStats out{};
      std::uint64_t last_seq = 0;
      while (!done.load(std::memory_order_relaxed)) {
        if (!seq_read(slot, out)) continue;
        if (!consistent(out)) torn.fetch_add(1, std::memory_order_relaxed);
        if (out.seq < last_seq) torn.fetch_add(1, std::memory_order_relaxed);  // went backwards
        last_seq = out.seq;
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::uint32_t v = 1; v <= 200'000; ++v)
    seq_publish(slot, stamped(v));
  done.store(true, std::memory_order_relaxed);
  for (auto& t : readers)
    t.join();
  EXPECT_EQ(torn.load(), 0U);
  EXPECT_GT(reads.load(), 0U);
  TopicStats last{};
  ASSERT_TRUE(seq_read(slot, last));
  EXPECT_EQ(last.id, 200'000U);
}

}  // namespace
}  // namespace zcp::shm
