// The stats region: formatting, attach checks, and the descriptor sequence lock.
#include "shm/stats.hpp"

#include <cstdlib>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "shm/segment.hpp"
#include "shm_test_util.hpp"

namespace zcp::shm {
namespace {

struct Region {
  explicit Region(const StatsConfig& cfg) : size(StatsRegion::region_bytes(cfg)) {
    mem.reset(static_cast<std::byte*>(std::aligned_alloc(4096, size)));
    std::memset(mem.get(), 0, size);
  }
  struct Free {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  std::uint64_t size;
  std::unique_ptr<std::byte, Free> mem;
};

StatsConfig small() {
  StatsConfig c;
  c.process_slots = 4;
  c.topic_slots = 3;
  c.publisher_slots = 5;
  c.subscriber_slots = 7;
  c.worker_slots = 2;
  return c;
}

TEST(StatsRegion, FormatThenAttachSeesTheSameTables) {
  Region r(small());
  auto w = StatsRegion::format(r.mem.get(), r.size, small(), 1234, "1.2.3", 10, 20);
  w.set_daemon_counter_count(40);
  w.set_config_text("[daemon]\ninstance = \"x\"\n");
  auto a = StatsRegion::attach(r.mem.get(), r.size);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->header().daemon_pid, 1234);
  EXPECT_EQ(get_text(a->header().daemon_version), "1.2.3");
  EXPECT_EQ(a->daemon_counter_count(), 40U);
  EXPECT_EQ(a->config_text(), "[daemon]\ninstance = \"x\"\n");
  EXPECT_NE(a->subscriber(6), nullptr);
  EXPECT_EQ(a->subscriber(7), nullptr) << "slot 7 of 7 is out of range";
  EXPECT_EQ(a->worker(2), nullptr);
  EXPECT_EQ(reinterpret_cast<std::byte*>(a->worker(1)) + sizeof(WorkerStatsSlot),
            r.mem.get() + a->header().config_offset);
}

TEST(StatsRegion, AttachRejectsTablesOutsideTheRegion) {
  Region r(small());
  StatsRegion::format(r.mem.get(), r.size, small(), 1, "v", 0, 0);
  auto* h = reinterpret_cast<StatsHeader*>(r.mem.get());
  h->subscriber_slots = 1U << 30;  // a corrupt header must not make readers index past the map
  auto a = StatsRegion::attach(r.mem.get(), r.size);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("outside"), std::string::npos) << a.error();
  h->subscriber_slots = 7;
  h->version = 99;
  a = StatsRegion::attach(r.mem.get(), r.size);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("version 99"), std::string::npos) << a.error();
}

TEST(StatsRegion, SeqPublishCopiesTheDescriptorButNotTheCounters) {
  Region r(small());
  auto w = StatsRegion::format(r.mem.get(), r.size, small(), 1, "v", 0, 0);
  PublisherStats* slot = w.publisher(2);
  slot->routed = 77;  // the worker's line
  PublisherStats d{};
  d.state = static_cast<std::uint32_t>(StatsSlotState::kLive);
  d.id = 9;
  d.max_loans = 64;
  d.routed = 5;  // not part of the descriptor: must not overwrite the worker's counter
  seq_publish(*slot, d);
  PublisherStats out{};
  ASSERT_TRUE(seq_read(*slot, out));
  EXPECT_EQ(out.id, 9U);
  EXPECT_EQ(out.max_loans, 64U);
  EXPECT_EQ(out.seq % 2, 0U);
  EXPECT_EQ(slot->routed, 77U);
  seq_publish(*slot, d);
  ASSERT_TRUE(seq_read(*slot, out));
  EXPECT_EQ(out.seq, 4U) << "two publications, two seq increments each";
}

TEST(StatsRegion, SeqReadGivesUpOnAnOddSequence) {
  TopicStats t{};
  t.seq = 3;  // a writer died mid-publication (or is still writing)
  TopicStats out{};
  EXPECT_FALSE(seq_read(t, out, 4));
}

TEST(StatsRegion, SegmentCarriesAStatsRegion) {
  std::string name = "/zcp.test-stats-" + std::to_string(::getpid()) + ".seg";
  SegmentConfig cfg;
  cfg.pools = ChunkPoolConfig{{{128, 16}}};
  cfg.heartbeat_slots = 8;
  cfg.queue_arena_bytes = 1 << 20;
  cfg.daemon_version = "9.9.9";
  auto seg = Segment::create(name, "test-stats", cfg);
  ASSERT_TRUE(seg) << seg.error().message;
  ASSERT_TRUE(seg->stats().valid());
  EXPECT_EQ(seg->stats().header().process_slots, 8U) << "one process slot per heartbeat slot";
  auto ro = Segment::open(name, /*writable=*/false);
  ASSERT_TRUE(ro) << ro.error().message;
  ASSERT_TRUE(ro->stats().valid());
  EXPECT_EQ(get_text(ro->stats().header().daemon_version), "9.9.9");
  EXPECT_EQ(ro->stats().header().daemon_pid, ::getpid());
}

}  // namespace
}  // namespace zcp::shm
