// The read side of the stats region against a hand-filled segment: what take_snapshot copies,
// how it resolves names and ring counters, that it survives corrupt client-written offsets,
// rates from two snapshots, the JSON contract fields, and the plain tables.
#include "stats/snapshot.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/queue_allocator.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "stats/format.hpp"
#include "stats/rates.hpp"
#include "stats_fixture.hpp"
#include "support/test_support.hpp"

namespace zcp::stats_test {
namespace {

TEST_F(HandFilledSegment, CopiesLiveSlotsOnly) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s) << s.error();
  ASSERT_EQ(s->topics.size(), 1U);
  EXPECT_EQ(s->topics[0].name(), "svc/inst/ev");
  EXPECT_EQ(s->topics[0].publishers, 2U);
  EXPECT_EQ(s->topics[0].subscribers, 2U);
  EXPECT_EQ(s->publishers.size(), 2U);
  EXPECT_EQ(s->subscribers.size(), 2U);
  ASSERT_EQ(s->processes.size(), 2U);
  EXPECT_EQ(s->workers.size(), 2U);
  EXPECT_EQ(s->busy_slots, 0U);
  EXPECT_EQ(s->daemon.pid, 4242);
  EXPECT_EQ(s->daemon.version, "9.8.7");
  EXPECT_EQ(s->daemon.instance, instance_);
  EXPECT_EQ(s->daemon.segment, name_);
  EXPECT_EQ(s->daemon.config_text, "[router]\nworkers = 2\n");
  EXPECT_EQ(s->daemon.uptime_ns, kNow - kStarted);
  EXPECT_EQ(s->daemon.regions.size(), 4U);
}

TEST_F(HandFilledSegment, ResolvesPublisherCountersAndTopicNames) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s) << s.error();
  const stats::PublisherRow& p = s->publishers[0];
  EXPECT_EQ(p.slot, 1U);
  EXPECT_EQ(p.id, 11U);
  EXPECT_EQ(p.topic(), "svc/inst/ev");
  EXPECT_EQ(p.pid, 1001);
  EXPECT_TRUE(p.rings_ok);
  EXPECT_EQ(p.published, 10U - 2U) << "publish ring tail minus the loans returned through it";
  EXPECT_EQ(p.returned, 2U);
  EXPECT_EQ(p.routed, 7U);
  EXPECT_EQ(p.blocked, 4U);
  EXPECT_EQ(p.would_block, 3U) << "publish ring producer_full";
  EXPECT_EQ(p.client_loan_failures, 5U) << "loan ring consumer_empty";
  EXPECT_EQ(p.history_size, 1U);
}

TEST_F(HandFilledSegment, ResolvesSubscriberQueueDepthAndHighWater) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s) << s.error();
  const stats::SubscriberRow& q = s->subscribers[0];
  EXPECT_EQ(q.slot, 3U);
  EXPECT_TRUE(q.rings_ok);
  EXPECT_EQ(q.capacity, 8U);
  EXPECT_EQ(q.depth, 5U) << "tail 7 - head 2";
  EXPECT_EQ(q.high_water, 6U);
  EXPECT_EQ(q.delivered, 7U);
  EXPECT_EQ(q.dropped, 1U);
  EXPECT_EQ(q.wakeups, 2U);
  EXPECT_EQ(q.policy, "drop_newest");
}

TEST_F(HandFilledSegment, CorruptClientWrittenOffsetsAreReportedNotFollowed) {
  // Offsets past the mapping, inside it but not in the arena, misaligned, and at a place
  // without the ring magic: each row is kept with rings_ok false and no ring counters.
  const std::uint64_t bad[] = {seg_->size() - 16,        (1ULL << 62), arena_offset_ + 8, 64,
                               arena_offset_ + 4096 * 8, ~0ULL};
  for (std::uint64_t off : bad) {
    SCOPED_TRACE(off);
    set_subscriber(4, 22, off, 8);
    set_publisher(5, 12, off, off);
    auto s = stats::take_snapshot(*seg_, kNow);
    ASSERT_TRUE(s) << s.error();
    ASSERT_EQ(s->subscribers.size(), 2U);
    EXPECT_FALSE(s->subscribers[1].rings_ok);
    EXPECT_EQ(s->subscribers[1].depth, 0U);
    ASSERT_EQ(s->publishers.size(), 2U);
    EXPECT_FALSE(s->publishers[1].rings_ok);
    EXPECT_EQ(s->publishers[1].published, 0U);
  }
}

TEST_F(HandFilledSegment, ImpossibleQueueIndicesAreClampedToCapacity) {
  auto* q = ring(sub_queue_);
  q->tail = 1'000'000;  // a client wrote nonsense: depth is at most the capacity
  q->high_water = 99;
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->subscribers[0].depth, 8U);
  EXPECT_EQ(s->subscribers[0].high_water, 8U);
  q->tail = 1;  // head ahead of tail
  s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->subscribers[0].depth, 0U);
}

TEST_F(HandFilledSegment, TopicSlotThatIsNotLiveNamesTheRowUnknown) {
  set_publisher(5, 12, pub_ring_, loan_ring_, /*topic_slot=*/6);  // a free topic slot
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->publishers.size(), 2U);
  EXPECT_EQ(s->publishers[1].topic(), "?/?/?");
  set_publisher(5, 12, pub_ring_, loan_ring_, /*topic_slot=*/1U << 30);  // out of range
  s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->publishers[1].topic(), "?/?/?");
}

TEST_F(HandFilledSegment, HeartbeatAgeOnlyWhileTheSlotIsStillTheProcesss) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->processes.size(), 2U);
  EXPECT_EQ(s->processes[0].name, "proc-a");
  ASSERT_TRUE(s->processes[0].heartbeat_age_ms.has_value());
  EXPECT_EQ(*s->processes[0].heartbeat_age_ms, 1500U);
  EXPECT_FALSE(s->processes[1].heartbeat_age_ms.has_value())
      << "epoch differs: the slot has a new owner";
}

TEST_F(HandFilledSegment, SlotHeldOddBySeqlockWriterIsSkippedAndCounted) {
  region().topic(0)->seq |= 1;  // a writer "in the middle" of an update, forever
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->topics.empty());
  EXPECT_EQ(s->busy_slots, 1U);
  EXPECT_EQ(s->publishers[0].topic(), "?/?/?");
}

TEST_F(HandFilledSegment, DaemonCountersAreNamedByTheDaemonsEnum) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->daemon.counters.size(), 3U);
  EXPECT_EQ(s->daemon.counters[0].first, "connections_opened");
  EXPECT_EQ(s->daemon.counters[0].second, 5U);
  EXPECT_EQ(s->daemon.counters[2].first, "requests");
  EXPECT_EQ(s->daemon.counters[2].second, 9U);
}

TEST_F(HandFilledSegment, PoolsAndWorkers) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->pools.size(), 1U);
  EXPECT_EQ(s->pools[0].chunk_size, 128U);
  EXPECT_EQ(s->pools[0].total, 8U);
  EXPECT_EQ(s->pools[0].free, 5U);
  EXPECT_EQ(s->pools[0].min_free, 5U);
  EXPECT_EQ(s->workers[1].id, 1U);
  EXPECT_EQ(s->workers[1].cpu, 3);
  EXPECT_EQ(s->workers[1].routed, 70U);
  EXPECT_EQ(s->workers[1].idle, "park");
  EXPECT_EQ(s->workers[0].cpu, -1);
}

TEST_F(HandFilledSegment, RatesAreCounterDeltasOverTheInterval) {
  auto a = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(a);
  ring(pub_ring_)->tail += 100;  // 100 publications
  region().subscriber(3)->delivered += 50;
  region().subscriber(3)->dropped += 10;
  region().worker(1)->routed += 200;
  region().worker(1)->busy_ns += 250'000'000;  // a quarter of the second
  auto b = stats::take_snapshot(*seg_, kNow + 1'000'000'000);
  ASSERT_TRUE(b);
  stats::Rates r = stats::compute_rates(*a, *b);
  EXPECT_DOUBLE_EQ(r.interval_s, 1.0);
  EXPECT_DOUBLE_EQ(r.msgs_per_s, 100.0);
  EXPECT_DOUBLE_EQ(r.topics.at("svc/inst/ev").msgs_per_s, 100.0);
  EXPECT_DOUBLE_EQ(r.topics.at("svc/inst/ev").delivered_per_s, 50.0);
  EXPECT_DOUBLE_EQ(r.topics.at("svc/inst/ev").dropped_per_s, 10.0);
  EXPECT_EQ(r.topics.at("svc/inst/ev").dropped, 11U);
  EXPECT_DOUBLE_EQ(r.workers.at(1).routed_per_s, 200.0);
  EXPECT_DOUBLE_EQ(r.workers.at(1).busy_pct, 25.0);
  // A counter that went backwards (another daemon) is a delta of 0, never a huge rate.
  stats::Rates back = stats::compute_rates(*b, *a);
  EXPECT_DOUBLE_EQ(back.msgs_per_s, 0.0);
}

TEST_F(HandFilledSegment, JsonHasTheBriefsContractFields) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  nlohmann::json j = nlohmann::json::parse(stats::to_json(*s).dump());
  auto has = [&](const char* array, std::initializer_list<const char*> fields) {
    ASSERT_TRUE(j.contains(array) && j[array].is_array()) << array;
    ASSERT_FALSE(j[array].empty()) << array;
    for (const auto& row : j[array]) {
      for (const char* f : fields)
        EXPECT_TRUE(row.contains(f)) << array << "[]." << f;
    }
  };
  has("processes", {"pid", "name", "heartbeat_age_ms"});
  has("publishers", {"service", "instance", "event", "pid", "published"});
  has("subscribers",
      {"service", "instance", "event", "pid", "depth", "capacity", "delivered", "dropped"});
  has("pools", {"chunk_size", "total", "free", "min_free"});
  has("workers", {"id", "cpu", "routed"});
  EXPECT_EQ(j["publishers"][0]["published"], 8);
  EXPECT_EQ(j["subscribers"][0]["depth"], 5);
  EXPECT_EQ(j["processes"][0]["heartbeat_age_ms"], 1500);
  EXPECT_TRUE(j["processes"][1]["heartbeat_age_ms"].is_null());
  EXPECT_EQ(j["daemon"]["counters"]["requests"], 9);
  EXPECT_FALSE(j.contains("rates")) << "one snapshot: no rates";
  stats::Rates r = stats::compute_rates(*s, *s);
  EXPECT_TRUE(stats::to_json(*s, &r).contains("rates"));
}

TEST_F(HandFilledSegment, PlainTablesNameEveryPanel) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  std::string t = stats::text_tables(*s, stats::totals_only(*s));
  for (const char* section :
       {"PROCESSES", "TOPICS", "PUBLISHERS", "SUBSCRIBERS", "POOLS", "WORKERS"}) {
    EXPECT_NE(t.find(section), std::string::npos) << section;
  }
  EXPECT_NE(t.find("svc/inst/ev"), std::string::npos);
  std::string info = stats::info_text(*s, "/run/x.sock");
  EXPECT_NE(info.find("/run/x.sock"), std::string::npos);
  EXPECT_NE(info.find("workers = 2"), std::string::npos) << "the config text";
  EXPECT_NE(info.find("queue_arena"), std::string::npos);
}

TEST(OpenInstance, NoDaemonSaysSoAndNamesTheSegment) {
  const std::string inst = test::unique_instance("nod");
  auto seg = stats::open_instance(inst);
  ASSERT_FALSE(seg);
  EXPECT_EQ(seg.error(),
            "no diroute is running on instance " + inst + " (no segment /zcp." + inst + ".seg)");
}

TEST(OpenInstance, SegmentWhoseDaemonIsGoneIsRefused) {
  const std::string inst = test::unique_instance("gone");
  const std::string name = "/zcp." + inst + ".seg";
  // A child creates the segment and dies without unlinking it (a crashed daemon).
  test::Child child([&] {
    shm::SegmentConfig cfg = small_segment_config();
    auto seg = shm::Segment::create(name, inst, cfg);
    if (!seg) return 1;
    ::_exit(0);  // no destructor: the name stays
  });
  ASSERT_EQ(child.wait(), 0);
  auto seg = stats::open_instance(inst);
  ::shm_unlink(name.c_str());
  ASSERT_FALSE(seg);
  EXPECT_NE(seg.error().find("which is gone"), std::string::npos) << seg.error();
}

}  // namespace
}  // namespace zcp::stats_test
