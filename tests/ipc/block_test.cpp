// zcp::ipc without a daemon: the block layout every process shares, the presets' concrete
// settings (docs/broadcast.md has the same table), the handles' empty states, and set-up
// errors reported cleanly when no daemon answers.
#include <cstddef>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <zcp/ipc/broadcast_hub.hpp>

#include "support/test_support.hpp"

namespace zcp::ipc {
namespace {

using Block = ZeroCopyMarketBlock;

TEST(MarketBlock, LayoutIsPinned) {
  // Changing any of these breaks every process that maps the same stream: a layout change
  // needs a new stream name (docs/broadcast.md).
  EXPECT_EQ(sizeof(Block), 8192U);
  EXPECT_EQ(alignof(Block), 64U);
  EXPECT_EQ(Block::BLOCK_SIZE, 8192U);
  EXPECT_EQ(Block::DATA_SIZE, 8160U);
  EXPECT_EQ(offsetof(Block, sequence_number), 0U);
  EXPECT_EQ(offsetof(Block, timestamp_ns), 8U);
  EXPECT_EQ(offsetof(Block, record_count), 16U);
  EXPECT_EQ(offsetof(Block, data_type), 24U);
  EXPECT_EQ(offsetof(Block, flags), 25U);
  EXPECT_EQ(offsetof(Block, reserved), 26U);
  EXPECT_EQ(offsetof(Block, data_size), 28U);
  EXPECT_EQ(offsetof(Block, data), 32U);
  EXPECT_EQ(sizeof(MarketDataType), 1U);
  EXPECT_EQ(static_cast<int>(MarketDataType::Tick), 0);
  EXPECT_EQ(static_cast<int>(MarketDataType::Bar), 1);
  EXPECT_EQ(static_cast<int>(MarketDataType::OrderBook), 2);
  EXPECT_EQ(static_cast<int>(MarketDataType::Trade), 3);
  EXPECT_EQ(static_cast<int>(MarketDataType::Custom), 255);
}

TEST(MarketBlock, DefaultHeaderIsZeroAndPayloadIsClamped) {
  auto block = std::make_unique<Block>();
  EXPECT_EQ(block->sequence_number, 0U);
  EXPECT_EQ(block->data_size, 0U);
  EXPECT_EQ(block->flags, 0U);
  EXPECT_TRUE(block->payload().empty());
  block->data_size = 100;
  EXPECT_EQ(block->payload().size(), 100U);
  EXPECT_EQ(block->payload().data(), block->data);
  block->data_size = 0xffffffffU;  // a hostile or broken writer
  EXPECT_FALSE(block->well_formed());
  EXPECT_EQ(block->payload().size(), Block::DATA_SIZE);
}

TEST(MarketBlock, TypeNames) {
  EXPECT_STREQ(to_string(MarketDataType::Tick), "Tick");
  EXPECT_STREQ(to_string(MarketDataType::OrderBook), "OrderBook");
  EXPECT_STREQ(to_string(static_cast<MarketDataType>(77)), "Unknown");
}

TEST(BroadcastConfig, PresetsMapToConcreteSettings) {
  const BroadcastConfig hp = BroadcastConfig::high_performance();
  EXPECT_EQ(hp.queue_capacity, 512U);
  EXPECT_EQ(hp.queue_policy, zcp::QueuePolicy::kDropOldest);
  EXPECT_EQ(hp.max_held, 16U);
  EXPECT_EQ(hp.max_loans, 64U);
  EXPECT_EQ(hp.history_size, 0U);
  EXPECT_EQ(hp.publish_timeout, std::chrono::milliseconds(10));
  EXPECT_EQ(hp.router_idle, RouterIdle::kHybrid);
  EXPECT_EQ(hp.diroute_flags(), "--idle hybrid --spin-us 50");

  const BroadcastConfig ll = BroadcastConfig::low_latency();
  EXPECT_EQ(ll.queue_capacity, 128U);
  EXPECT_EQ(ll.queue_policy, zcp::QueuePolicy::kDropOldest);
  EXPECT_EQ(ll.max_held, 8U);
  EXPECT_EQ(ll.wait_spin, std::chrono::microseconds(20));
  EXPECT_EQ(ll.router_idle, RouterIdle::kSpin);
  EXPECT_EQ(ll.diroute_flags(), "--idle spin");

  const BroadcastConfig ms = BroadcastConfig::massive_scale();
  EXPECT_EQ(ms.queue_capacity, 256U);
  EXPECT_EQ(ms.queue_policy, zcp::QueuePolicy::kBlockPublisher);
  EXPECT_EQ(ms.max_held, 4U);
  EXPECT_EQ(ms.publish_timeout, std::chrono::seconds(1));
  EXPECT_EQ(ms.expected_subscribers, 128U);

  // Each preset fits the pool of a diroute started with default settings.
  for (const BroadcastConfig& c : {hp, ll, ms}) {
    EXPECT_LE(c.pool_blocks_needed(), kDefaultDaemonBlockPool) << c.diroute_flags();
  }
  EXPECT_EQ(ms.pool_blocks_needed(), 256U + 128U * 4U + 64U + 512U);
  EXPECT_EQ(hp.topic("ticks"), "md/broadcast/ticks");
}

TEST(Handles, EmptyStates) {
  BlockHandle h;
  EXPECT_FALSE(h.valid());
  EXPECT_FALSE(h);
  EXPECT_EQ(h.get(), nullptr);
  EXPECT_TRUE(h.data().empty());
  const ZeroCopyMarketBlock* p = h;  // the seed's pointer form
  EXPECT_EQ(p, nullptr);
  BlockLoan l;
  EXPECT_FALSE(l.valid());
  EXPECT_EQ(l.get(), nullptr);
  EXPECT_TRUE(l.data().empty());
  EXPECT_FALSE(l.set_payload(1, 1, MarketDataType::Tick));
}

// No daemon: set-up fails with a message, never a hang or a crash; the seed constructors throw.
TEST(SetUp, NoDaemonIsReportedNotThrownOnTheNonThrowingPath) {
  std::string dir = "/tmp/zcp-ipc-none-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  ::setenv("ZCP_RUNTIME_DIR", dir.c_str(), 1);
  ::setenv("ZCP_INSTANCE", zcp::test::unique_instance("none").c_str(), 1);

  EXPECT_FALSE(DataBroadcaster::initialize_runtime("nobody-home"));
  EXPECT_EQ(DataBroadcaster::last_runtime_error().code, zcp::Errc::kDaemonUnavailable);
  EXPECT_NE(DataBroadcaster::last_runtime_error().message.find("initialize_runtime"),
            std::string::npos);
  EXPECT_EQ(DataBroadcaster::runtime(), nullptr);

  auto b = DataBroadcaster::create(BroadcastConfig::low_latency(), "ticks");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("md/broadcast/ticks"), std::string::npos) << b.error().message;
  auto s = DataSubscriber::create(BroadcastConfig::low_latency(), "ticks");
  ASSERT_FALSE(s);
  EXPECT_THROW(DataBroadcaster(BroadcastConfig::low_latency(), "ticks"), BroadcastSetupError);
  EXPECT_THROW(DataSubscriber(BroadcastConfig::low_latency(), "ticks"), BroadcastSetupError);

  auto bad = DataBroadcaster::create(BroadcastConfig::low_latency(), "a/b");  // not one topic part
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, zcp::Errc::kInvalidArgument);

  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace zcp::ipc
