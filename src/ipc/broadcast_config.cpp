// BroadcastConfig presets and helpers. The numbers are explained, with the trade-offs, in
// docs/broadcast.md ("Presets"); keep the two in step.
#include <zcp/ipc/broadcast_config.hpp>
#include <zcp/ipc/market_data_block.hpp>

namespace zcp::ipc {

const char* to_string(MarketDataType type) noexcept {
  switch (type) {
    case MarketDataType::Tick:
      return "Tick";
    case MarketDataType::Bar:
      return "Bar";
    case MarketDataType::OrderBook:
      return "OrderBook";
    case MarketDataType::Trade:
      return "Trade";
    case MarketDataType::Quote:
      return "Quote";
    case MarketDataType::Snapshot:
      return "Snapshot";
    case MarketDataType::Custom:
      return "Custom";
  }
  return "Unknown";
}

const char* to_string(RouterIdle idle) noexcept {
  switch (idle) {
    case RouterIdle::kSpin:
      return "spin";
    case RouterIdle::kHybrid:
      return "hybrid";
    case RouterIdle::kPark:
      return "park";
  }
  return "unknown";
}

BroadcastConfig BroadcastConfig::high_performance() {
  BroadcastConfig c;
  // 512 blocks = 4 MiB of buffering per subscriber: a consumer may pause ~2.5 ms at 200K
  // blocks/s before it drops. A quarter of the default 8 KiB pool, so the rest covers held
  // blocks, loans and the publish ring (pool_blocks_needed() = 1216 with 8 subscribers).
  c.queue_capacity = 512;
  c.queue_policy =
      zcp::QueuePolicy::kDropOldest;  // a slow consumer drops (counted), never stalls the feed
  c.max_held = 16;
  c.wait_spin = std::chrono::nanoseconds(0);
  c.history_size = 0;
  c.max_loans = 64;
  c.loan_wait = std::chrono::milliseconds(5);
  c.publish_timeout = std::chrono::milliseconds(10);  // ride out a descheduled router
  c.router_idle = RouterIdle::kHybrid;
  c.router_spin_us = 50;
  c.expected_subscribers = 8;
  return c;
}

BroadcastConfig BroadcastConfig::low_latency() {
  BroadcastConfig c;
  // Short queues: a block older than 128 others is stale market data; dropping it is better
  // than delivering it late.
  c.queue_capacity = 128;
  c.queue_policy = zcp::QueuePolicy::kDropOldest;
  c.max_held = 8;
  c.wait_spin = std::chrono::microseconds(20);  // skip the eventfd wake-up for bursts < 20 us apart
  c.history_size = 0;
  c.max_loans = 32;
  // These waits cost nothing while the router keeps up: they are reached only when the block
  // would otherwise be lost (no free chunk yet, publish ring full). With --idle spin on a
  // pinned CPU they never are; on a busy host a runnable router can wait milliseconds for a
  // CPU, so shorter waits would turn scheduling noise into lost blocks (libzcp measured
  // 200 us to be too short under load).
  c.loan_wait = std::chrono::milliseconds(5);
  c.publish_timeout = std::chrono::milliseconds(5);
  c.router_idle = RouterIdle::kSpin;
  c.router_spin_us = 50;
  c.expected_subscribers = 8;
  return c;
}

BroadcastConfig BroadcastConfig::massive_scale() {
  BroadcastConfig c;
  // Lossless: every subscriber gets every block, and the broadcaster runs at the pace of the
  // slowest one. 256 blocks per queue; 4 held per subscriber so 128 subscribers fit the
  // default pool (pool_blocks_needed() = 1344).
  c.queue_capacity = 256;
  c.queue_policy = zcp::QueuePolicy::kBlockPublisher;
  c.max_held = 4;
  c.wait_spin = std::chrono::nanoseconds(0);  // hundreds of waiting subscribers must not spin
  c.history_size = 0;
  c.max_loans = 64;
  // One slow subscriber among hundreds of processes on a few CPUs can take a whole
  // scheduling round to make room, or to release the blocks the router recycles into loans
  // (after it woke them, hundreds of runnable subscribers stand before the router worker); a
  // dead one is removed by the daemon within its heartbeat timeout (3 s by default), after
  // which publishing resumes. Lossless: a loan waits as long as a publish does.
  c.loan_wait = std::chrono::seconds(1);
  c.publish_timeout = std::chrono::seconds(1);
  c.router_idle = RouterIdle::kHybrid;
  c.router_spin_us = 50;
  c.expected_subscribers = 128;
  return c;
}

std::uint32_t BroadcastConfig::pool_blocks_needed() const noexcept {
  return queue_capacity + expected_subscribers * max_held + max_loans + kPublishRingBlocks +
         history_size;
}

std::string BroadcastConfig::diroute_flags() const {
  std::string flags = std::string("--idle ") + to_string(router_idle);
  if (router_idle == RouterIdle::kHybrid) flags += " --spin-us " + std::to_string(router_spin_us);
  return flags;
}

std::string BroadcastConfig::topic(const std::string& stream_name) const {
  return service_name + "/" + instance_name + "/" + stream_name;
}

}  // namespace zcp::ipc
