// The compatibility promise of the broadcast API: seed 004's "集成到项目" example, ported by
// changing `qaultra` to `zcp`, delivers every tick in order through the real diroute. The seed's
// lines are marked "seed:"; the harness adds only a loop over the ticks, the start-up
// synchronisation (the seed's broadcaster would otherwise publish before anyone listens), and the
// checks. Both processes call initialize_runtime("my_app"), as the seed's two terminals would: the
// daemon wants unique process names, and the runtime makes the second one unique.
// (compile_fail/seed_integration_literal.cpp is the same example verbatim, compiled
// against include/ alone.)
#include <cinttypes>

#include "client/daemon_fixture.hpp"
#include "ipc_test_util.hpp"
#include "support/test_support.hpp"
#include "zcp/ipc/broadcast_hub.hpp"

using namespace zcp::ipc;  // seed: using namespace qaultra::ipc;

namespace {

using zcp::ipc::test::make_tick;
using zcp::ipc::test::MarketTick;
using zcp::ipc::test::tick_ok;

class SeedIntegrationTest : public zcp::client_test::PubSubTest {};

// Fewer than low_latency()'s queue of 128, so that even a subscriber descheduled for the
// whole burst cannot lose one to the drop_oldest policy: the test is about delivery and
// order, not about the policy.
constexpr std::uint64_t kTicks = 100;

TEST_F(SeedIntegrationTest, EveryTickArrivesInOrder) {
  zcp::test::ProcessBarrier ready(2);
  zcp::test::Child sub([&] {
    return zcp::ipc::test::child_main([&] {
      // seed: 初始化
      DataBroadcaster::initialize_runtime("my_app");
      BroadcastConfig config = BroadcastConfig::low_latency();
      // seed: 创建订阅器
      DataSubscriber subscriber(config, "market_stream");
      ready.wait();
      std::uint64_t next = 1;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (next <= kTicks && std::chrono::steady_clock::now() < deadline) {
        // seed: 接收数据
        auto data = subscriber.receive();
        if (data) {
          const MarketTick* tick = reinterpret_cast<const MarketTick*>(data->data());
          // seed: 处理 tick
          IPC_CHECK(data->size() == sizeof(MarketTick) && tick_ok(*tick, next),
                    "tick %" PRIu64 " wrong (id %" PRIu64 ")", next, tick->id);
          ++next;
        } else {
          subscriber.wait(std::chrono::milliseconds(100));
        }
      }
      IPC_CHECK(next == kTicks + 1, "received %" PRIu64 " of %" PRIu64 " ticks", next - 1, kTicks);
      IPC_CHECK(subscriber.get_receive_stats().sequence_gaps == 0, "gaps");
      return 0;
    });
  });
  zcp::test::Child pub([&] {
    return zcp::ipc::test::child_main([&] {
      // seed: 初始化
      DataBroadcaster::initialize_runtime("my_app");
      // seed: 创建广播器
      BroadcastConfig config = BroadcastConfig::low_latency();
      DataBroadcaster broadcaster(config, "market_stream");
      ready.wait();
      IPC_CHECK(zcp::ipc::test::wait_subscribers(broadcaster, 1), "no subscriber");
      for (std::uint64_t id = 1; id <= kTicks; ++id) {
        // clang-format off
        // seed: 发送数据
        struct MarketTick tick = make_tick(id);
        bool sent = broadcaster.broadcast(
            reinterpret_cast<const uint8_t*>(&tick),
            sizeof(tick),
            1,
            MarketDataType::Tick
        );
        // clang-format on
        IPC_CHECK(sent, "tick %" PRIu64 ": %s", id, broadcaster.last_error().message.c_str());
      }
      IPC_CHECK(broadcaster.publisher().flush(std::chrono::seconds(10)), "flush");
      return 0;
    });
  });
  EXPECT_EQ(pub.wait(std::chrono::seconds(60)), 0);
  EXPECT_EQ(sub.wait(std::chrono::seconds(60)), 0);
}

// The same lines in one process, in the seed's order (broadcast first, subscribe second):
// with history_size > 0 the late subscriber receives what was broadcast before it joined.
TEST_F(SeedIntegrationTest, OneProcessInTheSeedsOrderWithHistory) {
  zcp::test::Child both([&] {
    return zcp::ipc::test::child_main([&] {
      DataBroadcaster::initialize_runtime("my_app");
      BroadcastConfig config = BroadcastConfig::low_latency();
      config.history_size = 16;  // the one change: keep the last 16 blocks for late subscribers
      DataBroadcaster broadcaster(config, "market_stream");
      for (std::uint64_t id = 1; id <= 16; ++id) {
        struct MarketTick tick = make_tick(id);
        broadcaster.broadcast(reinterpret_cast<const uint8_t*>(&tick), sizeof(tick), 1,
                              MarketDataType::Tick);
      }
      IPC_CHECK(broadcaster.publisher().flush(std::chrono::seconds(10)), "flush");
      DataSubscriber subscriber(config, "market_stream");
      std::uint64_t next = 1;
      for (int idle = 0; next <= 16 && idle < 50;) {
        auto data = subscriber.receive();
        if (data) {
          const MarketTick* tick = reinterpret_cast<const MarketTick*>(data->data());
          IPC_CHECK(tick_ok(*tick, next), "history tick %" PRIu64 " wrong", next);
          ++next;
        } else if (!subscriber.wait(std::chrono::milliseconds(100))) {
          ++idle;
        }
      }
      IPC_CHECK(next == 17, "received %" PRIu64 " of 16 history ticks", next - 1);
      return 0;
    });
  });
  EXPECT_EQ(both.wait(std::chrono::seconds(60)), 0);
}

}  // namespace
