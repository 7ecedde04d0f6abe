// A real segment (Segment::create, a small config) whose stats region, rings, heartbeat
// slots and pool the test fills by hand, the way the daemon, the workers and the clients
// would. Everything is in this process; the segment is unlinked at the end.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "shm/queue_allocator.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "support/test_support.hpp"

namespace zcp::stats_test {

inline shm::SegmentConfig small_segment_config() {
  shm::SegmentConfig cfg;
  cfg.pools.classes = {{128, 8}};
  cfg.heartbeat_slots = 8;
  cfg.queue_arena_bytes = 256 * 1024;
  cfg.stats.process_slots = 4;
  cfg.stats.topic_slots = 8;
  cfg.stats.publisher_slots = 8;
  cfg.stats.subscriber_slots = 8;
  cfg.stats.worker_slots = 2;
  cfg.daemon_version = "9.8.7";
  return cfg;
}

class HandFilledSegment : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kStarted = 40'000'000'000ULL;
  static constexpr std::uint64_t kNow = 100'000'000'000ULL;

  void SetUp() override {
    instance_ = test::unique_instance("st");
    name_ = "/zcp." + instance_ + ".seg";
    auto seg = shm::Segment::create(name_, instance_, small_segment_config());
    ASSERT_TRUE(seg) << seg.error().message;
    seg_.emplace(std::move(*seg));
    shm::StatsRegion& r = const_cast<shm::StatsRegion&>(seg_->stats());
    ASSERT_TRUE(r.valid());
    r.header().daemon_pid = 4242;
    r.header().started_monotonic_ns = kStarted;
    r.set_config_text("[router]\nworkers = 2\n");
    r.set_daemon_counter_count(3);
    r.daemon_counters()[0] = 5;
    r.daemon_counters()[2] = 9;

    auto arena = seg_->region(shm::RegionKind::kQueueArena);
    ASSERT_TRUE(arena);
    arena_offset_ = arena->offset;
    shm::QueueAllocator alloc(arena->offset, arena->size);
    auto pub = alloc.allocate_ring<shm::MessageHeader>(seg_->base(), shm::RingKind::kSpsc, 16);
    auto loan = alloc.allocate_ring<shm::ChunkRef>(seg_->base(), shm::RingKind::kSpsc, 16);
    auto queue = alloc.allocate_ring<shm::MessageHeader>(seg_->base(), shm::RingKind::kMpmc, 8);
    auto pub2 = alloc.allocate_ring<shm::MessageHeader>(seg_->base(), shm::RingKind::kSpsc, 16);
    ASSERT_TRUE(pub && loan && queue && pub2);
    pub_ring2_ = pub2->offset;
    pub_ring_ = pub->offset;
    loan_ring_ = loan->offset;
    sub_queue_ = queue->offset;
    ring(pub_ring_)->tail = 10;
    ring(pub_ring_)->producer_full = 3;
    ring(loan_ring_)->consumer_empty = 5;
    ring(sub_queue_)->tail = 7;
    ring(sub_queue_)->head = 2;
    ring(sub_queue_)->high_water = 6;

    shm::TopicStats t{};
    t.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
    t.id = 1;
    t.publishers = 2;
    t.subscribers = 2;
    shm::set_text(t.service, "svc");
    shm::set_text(t.instance, "inst");
    shm::set_text(t.event, "ev");
    shm::seq_publish(*r.topic(0), t);

    set_publisher(1, 11, pub_ring_, loan_ring_);
    shm::PublisherStats& p = *r.publisher(1);
    p.routed = 7;
    p.blocked = 4;
    p.returned = 2;
    p.history_size = 1;
    set_publisher(5, 12, pub_ring2_, loan_ring_);  // its own publish ring, still empty

    set_subscriber(3, 21, sub_queue_, 8);
    shm::SubscriberStats& s = *r.subscriber(3);
    s.delivered = 7;
    s.dropped = 1;
    s.wakeups = 2;
    set_subscriber(4, 22, sub_queue_, 8);

    auto lease_a = seg_->heartbeats().acquire(1001, kNow - 5'000'000'000ULL);
    auto lease_b = seg_->heartbeats().acquire(1002, kNow - 5'000'000'000ULL);
    ASSERT_TRUE(lease_a && lease_b);
    ASSERT_TRUE(seg_->heartbeats().touch(*lease_a, kNow - 1'500'000'000ULL));
    set_process(0, 1001, "proc-a", lease_a->index, lease_a->epoch);
    set_process(2, 1002, "proc-b", lease_b->index, lease_b->epoch + 7);  // the slot moved on

    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(seg_->pool().loan(100));

    shm::WorkerStatsSlot& w0 = *r.worker(0);
    w0.id = 0;
    w0.cpu = -1;
    w0.idle_strategy = 1;
    shm::WorkerStatsSlot& w1 = *r.worker(1);
    w1.id = 1;
    w1.cpu = 3;
    w1.idle_strategy = 2;
    w1.routed = 70;
  }

  void TearDown() override { seg_.reset(); }  // the creator unlinks the name

  const shm::StatsRegion& region() const { return seg_->stats(); }
  shm::RingHeader* ring(std::uint64_t offset) const {
    return reinterpret_cast<shm::RingHeader*>(seg_->base() + offset);
  }

  void set_publisher(std::uint32_t slot, std::uint32_t id, std::uint64_t pub_off,
                     std::uint64_t loan_off, std::uint32_t topic_slot = 0) {
    shm::PublisherStats p{};
    p.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
    p.id = id;
    p.topic_slot = topic_slot;
    p.pid = static_cast<std::int32_t>(1000 + id - 10);
    p.publish_ring_offset = pub_off;
    p.loan_ring_offset = loan_off;
    p.max_loans = 64;
    shm::seq_publish(*region().publisher(slot), p);
  }
  void set_subscriber(std::uint32_t slot, std::uint32_t id, std::uint64_t queue_off,
                      std::uint32_t capacity) {
    shm::SubscriberStats s{};
    s.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
    s.id = id;
    s.topic_slot = 0;
    s.pid = 2000;
    s.policy = 1;  // drop_newest
    s.capacity = capacity;
    s.queue_offset = queue_off;
    shm::seq_publish(*region().subscriber(slot), s);
  }
  void set_process(std::uint32_t slot, std::int32_t pid, const char* name, std::uint32_t hb_slot,
                   std::uint64_t epoch) {
    shm::ProcessStats p{};
    p.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
    p.pid = pid;
    p.heartbeat_slot = hb_slot;
    p.heartbeat_epoch = epoch;
    p.monitored = 1;
    shm::set_text(p.name, name);
    shm::seq_publish(*region().process(slot), p);
  }

  std::string instance_;
  std::string name_;
  std::optional<shm::Segment> seg_;
  std::uint64_t arena_offset_ = 0;
  std::uint64_t pub_ring_ = 0, pub_ring2_ = 0, loan_ring_ = 0, sub_queue_ = 0;
};

}  // namespace zcp::stats_test
