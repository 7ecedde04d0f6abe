// One test per known defect of the Diroute daemon zerocp replaces, each showing the defect
// cannot happen here. Names follow the defect.
#include <filesystem>
#include <future>
#include <thread>

#include "control_plane_fixture.hpp"
#include "shm/mpmc_ring.hpp"

namespace zcp::daemon::test {
namespace {

using SeedDefect = ControlPlaneTest;
using namespace std::chrono_literals;

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

// Old: checkHeartbeatTimeouts() held m_processesMutex and called
// cleanupDeadProcessRegistrations(), which held m_pubSubMutex and took m_processesMutex again:
// self-deadlock and lock-order inversion. Here one thread owns the registry and there is no
// mutex at all; a heartbeat cleanup runs in the same loop as registrations and endpoint
// requests. The rounds below interleave them; a watchdog turns a hang into a failure.
TEST_F(SeedDefect, NoDeadlockOnHeartbeatCleanup) {
  std::promise<void> finished;
  std::future<void> done = finished.get_future();
  std::uint32_t next_conn = 1;
  std::thread owner([&] {
    std::vector<std::uint32_t> previous;
    for (int round = 0; round < 20; ++round) {
      std::vector<std::uint32_t> stale;
      for (int i = 0; i < 8; ++i) {
        std::uint32_t c = next_conn++;
        registered(c, "r" + std::to_string(c), true);
        create_publisher(c, topic("hb"));
        create_subscriber(c, topic("hb"));
        stale.push_back(c);
      }
      advance(3500ms);
      // Registrations arriving in the same loop iteration as the tick that cleans up.
      std::vector<std::uint32_t> fresh;
      for (int i = 0; i < 8; ++i) {
        std::uint32_t c = next_conn++;
        registered(c, "r" + std::to_string(c), true);
        create_subscriber(c, topic("hb"));
        fresh.push_back(c);
      }
      control_->tick(now_);
      for (std::uint32_t c : stale)
        EXPECT_EQ(control_->process_of(conn(c)), nullptr);
      for (std::uint32_t c : fresh)
        EXPECT_NE(control_->process_of(conn(c)), nullptr);
      expect_consistent();
      // Hang up this round's fresh ones before the next (they would age out anyway).
      for (std::uint32_t c : fresh)
        control_->closed(conn(c), reactor::CloseReason::kPeerClosed);
      for (std::uint32_t c : stale)
        control_->closed(conn(c), reactor::CloseReason::kClosedByOwner);
    }
    finished.set_value();
  });
  if (done.wait_for(60s) != std::future_status::ready) {
    std::fprintf(stderr, "SeedDefect.NoDeadlockOnHeartbeatCleanup: the control plane hung\n");
    std::_Exit(3);
  }
  owner.join();
  EXPECT_EQ(count(DaemonCounter::kDeathsHeartbeat), 20u * 8u);
  EXPECT_EQ(count(DaemonCounter::kDeathsHangUp), 20u * 8u);
  EXPECT_EQ(registry_->process_count(), 0u);
  EXPECT_EQ(registry_->topic_count(), 0u);
  // Timed out and hung up, they may still run: their memory waits for their exits.
  for (const auto& w : host_.watches)
    control_->process_exited(w.handle);
  EXPECT_EQ(control_->quarantined(), 0u);
  settle();  // let the router acknowledge the removals, then reclaim
  EXPECT_EQ(queues_->stats().allocations, 0u);
}

// Old: publishers and subscribers lived in vectors, deleted by processName string match, with
// no cascade by slot: a death left orphan records. Here a death removes every endpoint of the
// slot, its topics if they empty, its queues, eventfds, name and heartbeat slot.
TEST_F(SeedDefect, NoOrphanRecordsAfterDeath) {
  registered(1, "survivor-a");
  registered(2, "survivor-b");
  publisher_id(create_publisher(1, topic("shared")));
  subscriber_id(create_subscriber(2, topic("shared")));
  const auto arena_before = queues_->stats();
  const std::size_t fds_before = open_fds();

  std::uint32_t victim = registered(3, "victim");
  for (const char* t : {"shared", "own1", "own2"})
    publisher_id(create_publisher(3, topic(t)));
  for (const char* t : {"shared", "shared", "own1", "own3"})
    subscriber_id(create_subscriber(3, topic(t)));
  EXPECT_EQ(registry_->topic_count(), 4u);
  ASSERT_EQ(host_.watches.size(), 3u);

  control_->process_exited(host_.watches[2].handle);

  for (const auto& [id, p] : registry_->publishers())
    EXPECT_NE(p.slot, victim) << "orphan publisher " << id;
  for (const auto& [id, s] : registry_->subscribers())
    EXPECT_NE(s.slot, victim) << "orphan subscriber " << id;
  EXPECT_EQ(registry_->topic_count(), 1u);  // only "shared", still used by the survivors
  const TopicEntry* shared = registry_->topic(TopicKey{"shared", "i", "e"});
  ASSERT_NE(shared, nullptr);
  EXPECT_EQ(shared->publishers.size(), 1u);
  EXPECT_EQ(shared->subscribers.size(), 1u);
  settle();  // let the router acknowledge the removals, then reclaim
  EXPECT_EQ(queues_->stats().allocations, arena_before.allocations);
  EXPECT_EQ(queues_->stats().free_bytes, arena_before.free_bytes);
  EXPECT_EQ(open_fds(), fds_before);  // the victim's subscriber eventfds are closed
  EXPECT_EQ(segment_.heartbeats().active_count(), 2u);
  EXPECT_EQ(registry_->process(victim), nullptr);
  Answer t = list(9);
  for (const auto* p : *t.r->body_as_TopologyReply()->processes())
    EXPECT_NE(p->slot(), victim);
  EXPECT_EQ(register_process(4, "victim").code(), fb::ResultCode::Ok);  // the name is free
  expect_consistent();
}

// Old: cleanupDeadProcessRegistrations() looked the process name up and returned early when
// the record was already erased, so pub/sub garbage stayed forever. Here cleanup never
// depends on a lookup that can fail: it walks the slot's own endpoint lists first, and a
// part already gone (the heartbeat slot freed behind its back, endpoints destroyed one by
// one) is noted and skipped, never a reason to stop.
TEST_F(SeedDefect, CleanupDoesNotReturnEarly) {
  std::uint32_t slot = registered(1, "p");
  create_publisher(1, topic("a"));
  create_subscriber(1, topic("a"));
  create_subscriber(1, topic("b"));
  // The heartbeat slot is already gone (released behind the registry's back).
  ASSERT_TRUE(segment_.heartbeats().release(registry_->process(slot)->handle));
  control_->closed(conn(1), reactor::CloseReason::kPeerClosed);
  EXPECT_EQ(registry_->process_count(), 0u);
  EXPECT_EQ(registry_->publisher_count(), 0u);
  EXPECT_EQ(registry_->subscriber_count(), 0u);
  EXPECT_EQ(registry_->topic_count(), 0u);
  control_->process_exited(host_.watches[0].handle);  // its memory waited for the exit
  settle();  // let the router acknowledge the removals, then reclaim
  EXPECT_EQ(queues_->stats().allocations, 0u);
  expect_consistent();

  // Endpoints destroyed one by one first, then the death: the rest still goes, once.
  registered(2, "q");
  std::uint32_t pub = publisher_id(create_publisher(2, topic("a")));
  std::uint32_t sub = subscriber_id(create_subscriber(2, topic("a")));
  create_subscriber(2, topic("c"));
  EXPECT_EQ(destroy_publisher(2, pub).code(), fb::ResultCode::Ok);
  EXPECT_EQ(destroy_subscriber(2, sub).code(), fb::ResultCode::Ok);
  control_->process_exited(host_.watches.back().handle);
  EXPECT_EQ(registry_->subscriber_count(), 0u);
  EXPECT_EQ(registry_->topic_count(), 0u);
  settle();  // let the router acknowledge the removals, then reclaim
  EXPECT_EQ(queues_->stats().allocations, 0u);
  EXPECT_EQ(control_->counters().get(DaemonCounter::kQueuesReclaimed),
            control_->counters().get(DaemonCounter::kQueuesRetired));
  expect_consistent();
}

// Old: heartbeatPool.release(slotIt) used an iterator nobody checked. Here a release names a
// (slot, epoch) handle and is refused, changing nothing, when the slot is out of range, free,
// or now held by a later process.
TEST_F(SeedDefect, ReleaseValidatesSlot) {
  EXPECT_FALSE(registry_->remove_process(ProcessHandle{99999, 1}));
  EXPECT_FALSE(registry_->remove_process(ProcessHandle{0, 1}));  // free slot
  std::uint32_t slot = registered(1, "first");
  const ProcessHandle old = registry_->process(slot)->handle;
  unregister(1);
  std::uint32_t again = registered(2, "second");
  ASSERT_EQ(again, slot) << "the freed slot is reused";
  subscriber_id(create_subscriber(2, topic("x")));
  EXPECT_FALSE(registry_->remove_process(old));  // stale epoch: someone else's slot now
  control_->process_exited(old);                 // a late pidfd notice for the old process
  EXPECT_FALSE(segment_.heartbeats().release(old));
  ASSERT_NE(registry_->process(slot), nullptr);
  EXPECT_EQ(registry_->process(slot)->name, "second");
  EXPECT_EQ(registry_->subscriber_count(), 1u);
  EXPECT_FALSE(host_.was_closed(conn(2)));
  expect_consistent();
}

// Old: colon-separated text commands ("REGISTER:name:pid") with no length, encoding, version
// or checksum. Here every datagram is a framed, CRC-checked, verified FlatBuffers message;
// text is rejected as BadMagic (showing the bytes seen) and counted, and it registers nothing.
TEST_F(SeedDefect, NoUnvalidatedTextProtocol) {
  const std::string text = "REGISTER:foo:123";
  std::vector<std::uint8_t> bytes(text.begin(), text.end());
  Answer a = raw(1, bytes);
  EXPECT_EQ(a.code(), fb::ResultCode::BadMagic);
  EXPECT_NE(a.message().find("REGI"), std::string::npos) << a.message();
  const std::string route = "ROUTE:svc:inst:evt:payload";
  Answer b = raw(1, std::vector<std::uint8_t>(route.begin(), route.end()));
  EXPECT_EQ(b.code(), fb::ResultCode::BadMagic);
  EXPECT_EQ(count(DaemonCounter::kRejectedBadMagic), 2u);
  EXPECT_EQ(registry_->process_count(), 0u);
  EXPECT_EQ(registry_->topic_count(), 0u);
  // A framed request whose payload was altered is caught by its CRC.
  auto frame = *protocol::encode_register_process(1, "foo", false);
  frame[frame.size() - 1] ^= 0x01;
  EXPECT_EQ(raw(1, frame).code(), fb::ResultCode::BadCrc);
  EXPECT_EQ(registry_->process_count(), 0u);
}

// Old: receiveQueueOffset = slotIndex * 1024, a placeholder pointing at nothing. Here each
// subscriber's descriptor points at a real MPMC ring formatted in the segment's queue arena,
// distinct from every other, usable at once.
TEST_F(SeedDefect, RouteQueueIsRealNotSlotTimes1024) {
  registered(1, "a");
  std::uint32_t slot = registered(2, "b");
  Answer a = create_subscriber(2, topic("md"), 4);
  Answer b = create_subscriber(1, topic("md"), 4);
  const fb::QueueDescriptor* qa = a.r->body_as_SubscriberReply()->queue();
  const fb::QueueDescriptor* qb = b.r->body_as_SubscriberReply()->queue();
  auto arena = segment_.region(shm::RegionKind::kQueueArena);
  ASSERT_TRUE(arena);
  for (const fb::QueueDescriptor* q : {qa, qb}) {
    EXPECT_GE(q->offset(), arena->offset);
    EXPECT_LE(q->offset() + shm::ring_bytes(q->capacity(), 64), arena->offset + arena->size);
  }
  EXPECT_NE(qa->offset(), std::uint64_t{slot} * 1024);
  EXPECT_NE(qa->offset(), qb->offset());
  EXPECT_GE(qa->offset() > qb->offset() ? qa->offset() - qb->offset() : qb->offset() - qa->offset(),
            shm::ring_bytes(4, 64));

  shm::QueueDescriptor d{qa->offset(), qa->capacity(), qa->element_size(), qa->align(), qa->kind()};
  auto ring = shm::MpmcRing<shm::MessageHeader>::attach(segment_.base(), segment_.size(), d);
  ASSERT_TRUE(ring) << ring.error();
  shm::MessageHeader in{};
  in.chunk_index = 7;
  in.sequence = 42;
  ASSERT_TRUE(ring->try_push(in));
  shm::MessageHeader out{};
  ASSERT_TRUE(ring->try_pop(out));
  EXPECT_EQ(out.chunk_index, 7u);
  EXPECT_EQ(out.sequence, 42u);
}

// Old: removal by processName string match; a second process of the same name (or a record
// found by name after a restart) could be torn down by the first one's cleanup. Here removal
// is by slot handle, and a late notice about a dead process never touches its successor.
TEST_F(SeedDefect, RemovalIsBySlotNotByName) {
  registered(1, "feed");
  subscriber_id(create_subscriber(1, topic("t")));
  const ProcessHandle first = host_.watches.back().handle;
  control_->closed(conn(1), reactor::CloseReason::kPeerClosed);
  registered(2, "feed");  // same name, new process
  subscriber_id(create_subscriber(2, topic("t")));
  control_->process_exited(first);
  EXPECT_EQ(registry_->process_count(), 1u);
  EXPECT_EQ(registry_->subscriber_count(), 1u);
  expect_consistent();
}

// Old: no handling of several instances of a service or several subscribers of a topic.
// Here the topic key is the whole (service, instance, event) triple, each entry lists every
// publisher and subscriber, and removing one leaves the others.
TEST_F(SeedDefect, SeveralPublishersAndSubscribersPerTopic) {
  for (std::uint32_t c = 1; c <= 3; ++c)
    registered(c, "p" + std::to_string(c));
  const protocol::Topic trades{"md", "venue1", "trades"};
  const protocol::Topic other_instance{"md", "venue2", "trades"};
  std::uint32_t pub1 = publisher_id(create_publisher(1, trades));
  publisher_id(create_publisher(2, trades));
  std::vector<std::uint32_t> subs;
  for (std::uint32_t c = 1; c <= 3; ++c)
    subs.push_back(subscriber_id(create_subscriber(c, trades)));
  subscriber_id(create_subscriber(3, other_instance));
  const TopicEntry* t = registry_->topic(TopicKey::from(trades));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->publishers.size(), 2u);
  EXPECT_EQ(t->subscribers.size(), 3u);
  EXPECT_EQ(registry_->topic(TopicKey::from(other_instance))->subscribers.size(), 1u);
  EXPECT_EQ(destroy_subscriber(2, subs[1]).code(), fb::ResultCode::Ok);
  EXPECT_EQ(destroy_publisher(1, pub1).code(), fb::ResultCode::Ok);
  EXPECT_EQ(t->publishers.size(), 1u);
  EXPECT_EQ(t->subscribers.size(), 2u);
  expect_consistent();
}

}  // namespace
}  // namespace zcp::daemon::test
