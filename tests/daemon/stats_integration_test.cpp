// The real diroute's stats region, read the way tools read it (the segment mapped read-only
// by name, no request to the daemon): the header names the daemon, the worker slots are
// set up, and a client's descriptors appear with it and turn kFree when it is killed.
#include <atomic>
#include <new>

#include <signal.h>
#include <unistd.h>

#include "daemon/counters.hpp"
#include "diroute_process.hpp"
#include "raw_client.hpp"
#include "shm/segment.hpp"
#include "shm/stats.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon::test {
namespace {

using namespace std::chrono_literals;
using shm::get_text;
using shm::read_counter;
using StatsIntegration = DaemonTest;
constexpr auto kLive = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
constexpr auto kFree = static_cast<std::uint32_t>(shm::StatsSlotState::kFree);

template <class Slot>
Slot copy(const Slot* s) {
  Slot out{};
  if (s != nullptr) {
    EXPECT_TRUE(shm::seq_read(*s, out));
  }
  return out;
}

template <class Slot, class Get>
std::uint32_t live_with_pid(std::uint32_t slots, Get get, pid_t pid) {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < slots; ++i) {
    Slot s = copy(get(i));
    if (s.state == kLive && s.pid == pid) ++n;
  }
  return n;
}

TEST_F(StatsIntegration, ToolsSeeTheDaemonAndAKilledClientsSlotsTurnFree) {
  start_daemon({"--workers", "2"});
  const std::string path = daemon_->socket_path();
  zcp::test::SharedAnon mem(sizeof(std::atomic<int>));
  auto* ready = new (mem.get()) std::atomic<int>(0);
  zcp::test::Child victim([&] {
    RawClient c = RawClient::connect(path);
    if (!c.valid()) return 1;
    auto r = c.register_process("victim", false);
    if (!r || r->code() != fb::ResultCode::Ok) return 2;
    for (const char* e : {"a", "b"}) {
      auto p = c.create_publisher({"svc", "inst", e});
      auto s = c.create_subscriber({"svc", "inst", e});
      if (!p || p->code() != fb::ResultCode::Ok || !s || s->code() != fb::ResultCode::Ok) return 3;
    }
    ready->store(1);
    for (;;)
      ::pause();
  });
  ASSERT_TRUE(wait_until([&] { return ready->load() == 1; }, 10s));

  auto seg = shm::Segment::open("/zcp." + instance_ + ".seg", /*writable=*/false);
  ASSERT_TRUE(seg) << seg.error().message;
  const shm::StatsRegion& st = seg->stats();
  ASSERT_TRUE(st.valid());
  const shm::StatsHeader& h = st.header();
  EXPECT_EQ(h.daemon_pid, daemon_->pid());
  EXPECT_FALSE(get_text(h.daemon_version).empty());
  EXPECT_GT(h.started_monotonic_ns, 0u);
  EXPECT_EQ(st.daemon_counter_count(), kDaemonCounterCount);
  EXPECT_EQ(h.worker_slots, 2u);
  for (std::uint32_t w = 0; w < 2; ++w) {
    EXPECT_EQ(st.worker(w)->id, w);
    EXPECT_EQ(st.worker(w)->cpu, -1);
    EXPECT_TRUE(
        wait_until([&] { return read_counter(st.worker(w)->started_monotonic_ns) != 0; }, 5s));
    // The workers apply the commands on their own threads, after the replies went out.
    EXPECT_TRUE(wait_until([&] { return read_counter(st.worker(w)->commands) >= 4; }, 5s))
        << "every worker gets every command";
  }

  // The victim: one process, two topics, two publishers, two subscribers.
  std::uint32_t proc = ~0u;
  for (std::uint32_t i = 0; i < h.process_slots; ++i) {
    auto p = copy(st.process(i));
    if (p.state == kLive && p.pid == victim.pid()) proc = i;
  }
  ASSERT_NE(proc, ~0u);
  auto p = copy(st.process(proc));
  EXPECT_EQ(get_text(p.name), "victim");
  EXPECT_EQ(p.publishers, 2u);
  EXPECT_EQ(p.subscribers, 2u);
  auto pubs = [&](std::uint32_t i) { return st.publisher(i); };
  auto subs = [&](std::uint32_t i) { return st.subscriber(i); };
  EXPECT_EQ(live_with_pid<shm::PublisherStats>(h.publisher_slots, pubs, victim.pid()), 2u);
  EXPECT_EQ(live_with_pid<shm::SubscriberStats>(h.subscriber_slots, subs, victim.pid()), 2u);
  std::uint32_t topics = 0;
  for (std::uint32_t i = 0; i < h.topic_slots; ++i) {
    auto t = copy(st.topic(i));
    if (t.state != kLive) continue;
    ++topics;
    EXPECT_EQ(get_text(t.service), "svc");
    EXPECT_EQ(t.publishers, 1u);
    EXPECT_EQ(t.subscribers, 1u);
  }
  EXPECT_EQ(topics, 2u);
  auto counter = [&](DaemonCounter c) {
    return read_counter(st.daemon_counters()[static_cast<std::size_t>(c)]);
  };
  EXPECT_EQ(counter(DaemonCounter::kRegistrations), 1u);
  EXPECT_EQ(counter(DaemonCounter::kPublishersCreated), 2u);

  victim.kill(SIGKILL);
  // The process slot is freed last, after its endpoints and topics.
  EXPECT_TRUE(wait_until([&] { return copy(st.process(proc)).state == kFree; }, 5s));
  EXPECT_EQ(live_with_pid<shm::PublisherStats>(h.publisher_slots, pubs, victim.pid()), 0u);
  EXPECT_EQ(live_with_pid<shm::SubscriberStats>(h.subscriber_slots, subs, victim.pid()), 0u);
  for (std::uint32_t i = 0; i < h.topic_slots; ++i)
    EXPECT_EQ(copy(st.topic(i)).state, kFree);
  // The reactor counts the death right after it freed the descriptors: wait for it too.
  EXPECT_TRUE(wait_until([&] { return counter(DaemonCounter::kPublishersDestroyed) == 2; }, 5s));
  EXPECT_EQ(counter(DaemonCounter::kDeathsExited) + counter(DaemonCounter::kDeathsHangUp), 1u);
  EXPECT_EQ(victim.wait(5s), 128 + SIGKILL);
}

}  // namespace
}  // namespace zcp::daemon::test
