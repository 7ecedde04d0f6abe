// Pins the shared-memory layout. If a test here fails, a layout changed: bump
// shm::kLayoutVersion, update the expected values below and docs/shm-layout.md together.
#include "shm/layout.hpp"

#include <cstddef>

#include <gtest/gtest.h>

#include "shm/chunk_pool.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/ring.hpp"
#include "shm/route_table.hpp"
#include "shm/stats_layout.hpp"

namespace zcp::shm {
namespace {

TEST(Layout, VersionMatchesPinnedLayout) {
  // The values below are layout version 4. Change them only together with the version.
  EXPECT_EQ(kLayoutVersion, 5U) << "layout version changed: update the pinned sizes below";
  EXPECT_EQ(kSegmentMagic, 0x5a43'5053'4547'0001ULL);
}

TEST(Layout, SegmentHeader) {
  EXPECT_EQ(sizeof(SegmentHeader), 4096U);
  EXPECT_EQ(offsetof(SegmentHeader, magic), 0U);
  EXPECT_EQ(offsetof(SegmentHeader, layout_version), 8U);
  EXPECT_EQ(offsetof(SegmentHeader, header_size), 12U);
  EXPECT_EQ(offsetof(SegmentHeader, total_size), 16U);
  EXPECT_EQ(offsetof(SegmentHeader, creator_pid), 24U);
  EXPECT_EQ(offsetof(SegmentHeader, state), 28U);
  EXPECT_EQ(offsetof(SegmentHeader, creator_start_time), 32U);
  EXPECT_EQ(offsetof(SegmentHeader, created_realtime_ns), 40U);
  EXPECT_EQ(offsetof(SegmentHeader, region_count), 48U);
  EXPECT_EQ(offsetof(SegmentHeader, instance), 56U);
  EXPECT_EQ(offsetof(SegmentHeader, regions), 120U);
  EXPECT_EQ(sizeof(RegionEntry), 32U);
  EXPECT_EQ(kMaxRegions, 16U);
}

TEST(Layout, MessageAndChunkHeaders) {
  EXPECT_EQ(sizeof(MessageHeader), 32U);
  EXPECT_EQ(offsetof(MessageHeader, chunk_index), 0U);
  EXPECT_EQ(offsetof(MessageHeader, pool_class), 4U);
  EXPECT_EQ(offsetof(MessageHeader, flags), 6U);
  EXPECT_EQ(offsetof(MessageHeader, generation), 8U);
  EXPECT_EQ(offsetof(MessageHeader, publisher_id), 12U);
  EXPECT_EQ(offsetof(MessageHeader, sequence), 16U);
  EXPECT_EQ(offsetof(MessageHeader, timestamp_ns), 24U);

  EXPECT_EQ(sizeof(ChunkHeader), 64U);
  EXPECT_EQ(alignof(ChunkHeader), 64U);
  EXPECT_EQ(offsetof(ChunkHeader, refcount), 0U);
  EXPECT_EQ(offsetof(ChunkHeader, generation), 4U);
  EXPECT_EQ(offsetof(ChunkHeader, next_free), 8U);
  EXPECT_EQ(offsetof(ChunkHeader, payload_size), 12U);
  EXPECT_EQ(offsetof(ChunkHeader, sequence), 16U);
  EXPECT_EQ(offsetof(ChunkHeader, timestamp_ns), 24U);
  EXPECT_EQ(offsetof(ChunkHeader, origin), 32U);
  EXPECT_EQ(offsetof(ChunkHeader, pool_class), 36U);
  EXPECT_EQ(offsetof(ChunkHeader, index), 40U);
  EXPECT_EQ(offsetof(ChunkHeader, owner), 44U);
  EXPECT_EQ(offsetof(ChunkHeader, user), 48U);
}

TEST(Layout, PoolHeaders) {
  EXPECT_EQ(sizeof(PoolHeader), 64U + 8U * 192U);
  EXPECT_EQ(sizeof(PoolClassHeader), 192U);
  EXPECT_EQ(offsetof(PoolClassHeader, chunks_offset), 16U);
  EXPECT_EQ(offsetof(PoolClassHeader, head), 64U);
  EXPECT_EQ(offsetof(PoolClassHeader, free_count), 72U);
  EXPECT_EQ(offsetof(PoolClassHeader, min_free), 128U);
  EXPECT_EQ(offsetof(PoolClassHeader, loan_failures), 136U);
  EXPECT_EQ(kMaxPoolClasses, 8U);
}

TEST(Layout, HeartbeatSlots) {
  EXPECT_EQ(sizeof(HeartbeatPoolHeader), 64U);
  EXPECT_EQ(sizeof(HeartbeatSlot), 64U);
  EXPECT_EQ(offsetof(HeartbeatSlot, state), 0U);
  EXPECT_EQ(offsetof(HeartbeatSlot, pid), 4U);
  EXPECT_EQ(offsetof(HeartbeatSlot, epoch), 8U);
  EXPECT_EQ(offsetof(HeartbeatSlot, last_heartbeat_ns), 16U);
  EXPECT_EQ(offsetof(HeartbeatSlot, acquired_ns), 24U);
}

TEST(Layout, Rings) {
  EXPECT_EQ(sizeof(RingHeader), 256U);
  EXPECT_EQ(offsetof(RingHeader, capacity), 8U);
  EXPECT_EQ(offsetof(RingHeader, slot_stride), 16U);
  EXPECT_EQ(offsetof(RingHeader, peers), 20U);
  EXPECT_EQ(offsetof(RingHeader, tail), 64U);
  EXPECT_EQ(offsetof(RingHeader, high_water), 72U);
  EXPECT_EQ(offsetof(RingHeader, head), 128U);
  EXPECT_EQ(offsetof(RingHeader, producer_full), 80U);
  EXPECT_EQ(offsetof(RingHeader, routed), 136U);
  EXPECT_EQ(offsetof(RingHeader, consumer_empty), 144U);
  EXPECT_EQ(offsetof(RingHeader, waiting), 192U);
  EXPECT_EQ(offsetof(RingHeader, dropped), 200U);
  EXPECT_EQ(offsetof(RingHeader, route_table), 24U);
  EXPECT_EQ(offsetof(RingHeader, direct_guard), 88U);
  EXPECT_EQ(sizeof(QueueDescriptor), 24U);
  EXPECT_EQ(slot_stride<MessageHeader>(RingKind::kSpsc), 32U);
  EXPECT_EQ(slot_stride<MessageHeader>(RingKind::kMpmc), 64U);
}

TEST(Layout, StatsRegion) {
  // Stats layout version 1: tools built from another release refuse a different version.
  EXPECT_EQ(kStatsVersion, 1U);
  EXPECT_EQ(kStatsMagic, 0x5a43'5053U);
  EXPECT_EQ(sizeof(StatsHeader), 4096U);
  EXPECT_EQ(offsetof(StatsHeader, daemon_counter_count), 8U);
  EXPECT_EQ(offsetof(StatsHeader, process_slots), 12U);
  EXPECT_EQ(offsetof(StatsHeader, daemon_counters_offset), 32U);
  EXPECT_EQ(offsetof(StatsHeader, config_offset), 80U);
  EXPECT_EQ(offsetof(StatsHeader, daemon_pid), 88U);
  EXPECT_EQ(offsetof(StatsHeader, config_len), 92U);
  EXPECT_EQ(offsetof(StatsHeader, started_monotonic_ns), 104U);
  EXPECT_EQ(offsetof(StatsHeader, topology_generation), 112U);
  EXPECT_EQ(offsetof(StatsHeader, daemon_version), 120U);

  EXPECT_EQ(sizeof(ProcessStats), 256U);
  EXPECT_EQ(offsetof(ProcessStats, pid), 12U);
  EXPECT_EQ(offsetof(ProcessStats, heartbeat_slot), 24U);
  EXPECT_EQ(offsetof(ProcessStats, heartbeat_epoch), 32U);
  EXPECT_EQ(offsetof(ProcessStats, name), 56U);
  EXPECT_EQ(sizeof(TopicStats), 384U);
  EXPECT_EQ(offsetof(TopicStats, service), 24U);
  EXPECT_EQ(offsetof(TopicStats, instance), 128U);
  EXPECT_EQ(offsetof(TopicStats, event), 232U);

  EXPECT_EQ(sizeof(PublisherStats), 256U);
  EXPECT_EQ(offsetof(PublisherStats, topic_slot), 16U);
  EXPECT_EQ(offsetof(PublisherStats, publish_ring_offset), 48U);
  EXPECT_EQ(offsetof(PublisherStats, loan_ring_offset), 56U);
  EXPECT_EQ(offsetof(PublisherStats, routed), 128U);
  EXPECT_EQ(offsetof(PublisherStats, history_size), 160U);
  EXPECT_EQ(sizeof(SubscriberStats), 256U);
  EXPECT_EQ(offsetof(SubscriberStats, capacity), 36U);
  EXPECT_EQ(offsetof(SubscriberStats, queue_offset), 48U);
  EXPECT_EQ(offsetof(SubscriberStats, delivered), 128U);
  EXPECT_EQ(offsetof(SubscriberStats, wakeups), 144U);
  EXPECT_EQ(sizeof(WorkerStatsSlot), 128U);
  EXPECT_EQ(offsetof(WorkerStatsSlot, routed), 16U);
  EXPECT_EQ(offsetof(WorkerStatsSlot, max_pass_ns), 56U);
  EXPECT_EQ(offsetof(WorkerStatsSlot, faults), 64U);
  EXPECT_EQ(offsetof(WorkerStatsSlot, direct_settled), 88U);
  EXPECT_EQ(offsetof(WorkerStatsSlot, early_releases), 96U);
}

TEST(Layout, RouteTable) {
  EXPECT_EQ(kRouteSlots, 64U);
  EXPECT_EQ(sizeof(RouteEntry), 32U);
  EXPECT_EQ(offsetof(RouteEntry, queue), 8U);
  EXPECT_EQ(sizeof(RouteTable), 2176U);
  EXPECT_EQ(offsetof(RouteTable, version), 64U);
  EXPECT_EQ(offsetof(RouteTable, entries), 128U);
  EXPECT_EQ(kMsgDirect, 2U);
  EXPECT_EQ(kRouteTableMagic, 0x5a435254U);
  EXPECT_EQ(offsetof(RouteTable, wake_limit), 8U);
  EXPECT_EQ(offsetof(RingHeader, refill_at), 96U);
  EXPECT_EQ(offsetof(RingHeader, wakeups), 104U);
  EXPECT_EQ(sizeof(DirectRecord), 32U);
  EXPECT_EQ(offsetof(DirectRecord, flags), 6U);
  EXPECT_EQ(offsetof(DirectRecord, route_version), 12U);
  EXPECT_EQ(offsetof(DirectRecord, pushed), 16U);
  EXPECT_EQ(offsetof(DirectRecord, woken), 24U);
}

TEST(Layout, MpmcTurnWord) {
  using Q = MpmcRing<MessageHeader>;
  EXPECT_EQ(Q::turn(3, 1), 7U) << "2 x lap + k, modulo 2^32";
  EXPECT_EQ(Q::turn(0x8000'0000ULL, 0), 0U);
  EXPECT_EQ(Q::busy(1, 5), (1ULL << 62) | (5ULL << 32) | 2U);
  EXPECT_EQ(Q::skipped(1), (2ULL << 62) | 2U);
  EXPECT_EQ(Q::publisher_tag(0), 1U) << "a publisher's tag is never the router's (0)";
}

TEST(Layout, RouteGuardComparesVersionsAsSerialNumbers) {
  EXPECT_TRUE(guard_passed(guard_idle(2), 100));    // idle: whatever version it saw
  EXPECT_FALSE(guard_passed(guard_busy(98), 100));  // busy with an older table
  EXPECT_TRUE(guard_passed(guard_busy(100), 100));
  EXPECT_TRUE(guard_passed(guard_busy(4), 0xffff'fffeU));  // past the wrap
  EXPECT_FALSE(guard_passed(guard_busy(0xffff'fffcU), 2));
}

}  // namespace
}  // namespace zcp::shm
