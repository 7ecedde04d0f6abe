// Massive scale: 64 subscriber processes in wait mode (asleep on their eventfds between
// bursts) with the lossless massive_scale() preset; every one receives every block, in
// order, intact. Bounded to 2000 blocks so that it finishes in seconds on 2 CPUs. The rate is
// printed and recorded (ctest --output-on-failure -V shows it); nothing about it is asserted.
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <vector>

#include <unistd.h>

#include <zcp/ipc/broadcast_hub.hpp>

#include "client/daemon_fixture.hpp"
#include "ipc_test_util.hpp"
#include "support/test_support.hpp"

namespace zcp::ipc::test {
namespace {

using namespace std::chrono_literals;

constexpr int kSubscribers = 64;
constexpr std::uint64_t kBlocks = 2000;
constexpr std::uint64_t kTicksPerBlock = 10;  // 480 bytes of each 8 KiB block in use

struct Timings {
  std::atomic<std::uint64_t> start_ns{0};
  std::atomic<std::uint64_t> sent_ns{0};
  std::atomic<std::uint64_t> blocked{0};
  std::atomic<std::uint64_t> last_ns[kSubscribers]{};
};

class MassiveScaleTest : public zcp::client_test::PubSubTest {};

TEST_F(MassiveScaleTest, SixtyFourWaitingSubscribersEachGetEveryBlockInOrder) {
  zcp::test::SharedAnon mem(sizeof(Timings));
  auto* timings = new (mem.get()) Timings;
  zcp::test::ProcessBarrier ready(kSubscribers + 1);
  const BroadcastConfig config = BroadcastConfig::massive_scale();
  ASSERT_EQ(config.queue_policy, zcp::QueuePolicy::kBlockPublisher)
      << "the preset must promise no loss";

  std::vector<zcp::test::Child> subs;
  for (int i = 0; i < kSubscribers; ++i) {
    subs.emplace_back([&, i] {
      return child_main([&] {
        IPC_CHECK(DataSubscriber::initialize_runtime("massive-sub-" + std::to_string(i)), "%s",
                  DataBroadcaster::last_runtime_error().message.c_str());
        auto in = DataSubscriber::create(config, "massive");
        ready.wait();
        IPC_CHECK(in, "create: %s", in.error().message.c_str());
        std::uint64_t next = 1, tick = 1;
        const auto deadline = std::chrono::steady_clock::now() + 50s;
        while (next <= kBlocks) {
          while (auto handle = in->receive_block()) {
            const BlockHandle& b = *handle;
            IPC_CHECK(b->sequence_number == next && b->record_count == kTicksPerBlock,
                      "subscriber %d: block %" PRIu64 " (records %" PRIu64 "), expected %" PRIu64,
                      i, b->sequence_number, b->record_count, next);
            const auto* t = reinterpret_cast<const MarketTick*>(b->data);
            for (std::uint64_t k = 0; k < kTicksPerBlock; ++k) {
              IPC_CHECK(tick_ok(t[k], tick), "subscriber %d: tick %" PRIu64 " corrupt", i, tick);
              ++tick;
            }
            ++next;
          }
          IPC_CHECK(std::chrono::steady_clock::now() < deadline,
                    "subscriber %d: %" PRIu64 " of %" PRIu64 " blocks", i, next - 1, kBlocks);
          in->wait(100ms);  // wait mode: asleep on the eventfd
        }
        timings->last_ns[i] = monotonic_ns();
        ReceiveStats s = in->get_receive_stats();
        IPC_CHECK(s.blocks_received == kBlocks && s.sequence_gaps == 0 && s.queue_drops == 0,
                  "subscriber %d: gaps %" PRIu64 ", drops %" PRIu64, i, s.sequence_gaps,
                  s.queue_drops);
        return 0;
      });
    });
  }
  zcp::test::Child pub([&] {
    return child_main([&] {
      auto out = DataBroadcaster::create(config, "massive");
      ready.wait();
      IPC_CHECK(out, "create: %s", out.error().message.c_str());
      IPC_CHECK(wait_subscribers(*out, kSubscribers, 20s), "subscribers: %u",
                out->get_stats().subscriber_count);
      std::vector<MarketTick> ticks(kTicksPerBlock);
      timings->start_ns = monotonic_ns();
      for (std::uint64_t b = 0; b < kBlocks; ++b) {
        for (std::uint64_t k = 0; k < kTicksPerBlock; ++k)
          ticks[k] = make_tick(b * kTicksPerBlock + k + 1);
        IPC_CHECK(out->broadcast(reinterpret_cast<const std::uint8_t*>(ticks.data()),
                                 sizeof(MarketTick) * kTicksPerBlock, kTicksPerBlock,
                                 MarketDataType::Tick),
                  "block %" PRIu64 ": %s", b + 1, out->last_error().message.c_str());
      }
      IPC_CHECK(out->publisher().flush(20s), "flush");
      timings->sent_ns = monotonic_ns();
      BroadcastStats s = out->get_stats();
      timings->blocked = s.blocked_publishes;
      IPC_CHECK(s.blocks_sent == kBlocks && s.failed_publishes == 0 && s.failed_loans == 0,
                "stats");
      return 0;
    });
  });
  EXPECT_EQ(pub.wait(60s), 0);
  int failed = 0;
  for (auto& s : subs)
    failed += s.wait(60s) != 0;
  EXPECT_EQ(failed, 0);

  std::uint64_t last = 0;
  for (const auto& t : timings->last_ns)
    last = std::max(last, t.load());
  const double secs = static_cast<double>(last - timings->start_ns.load()) / 1e9;
  if (failed == 0 && secs > 0) {
    const double blocks_per_s = static_cast<double>(kBlocks) / secs;
    std::printf(
        "[ rate     ] %d waiting subscribers x %" PRIu64 " blocks (%" PRIu64
        " ticks each): %.3f s, "
        "%.0f blocks/s, %.0f deliveries/s, %.0f ticks/s per subscriber; publisher blocked %" PRIu64
        " times\n",
        kSubscribers, kBlocks, kTicksPerBlock, secs, blocks_per_s, blocks_per_s * kSubscribers,
        blocks_per_s * kTicksPerBlock, timings->blocked.load());
    RecordProperty("blocks_per_s", static_cast<int>(blocks_per_s));
    RecordProperty("deliveries_per_s", static_cast<int>(blocks_per_s * kSubscribers));
  }
}

}  // namespace
}  // namespace zcp::ipc::test
