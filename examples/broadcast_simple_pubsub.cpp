// broadcast_simple_pubsub: seed 004's simple example on zerocp. Two terminals:
//
//   build/bin/diroute &                                   # the daemon (once per host)
//   build/bin/broadcast_simple_pubsub subscriber          # terminal 1
//   build/bin/broadcast_simple_pubsub publisher           # terminal 2
//
// The publisher broadcasts --count ticks (one per block, as the seed did), then one batch
// of 100 ticks that broadcast_batch() packs into a single block. The subscriber prints every
// 50th tick read in place (receive_block: no copy), and its statistics at the end: sequence
// gaps and queue drops show whether anything was lost. Both stop on Ctrl-C.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include <zcp/ipc/broadcast_hub.hpp>

using namespace zcp::ipc;

namespace {

struct MarketTick {
  char symbol[16];
  double price;
  double volume;
  std::uint64_t id;
  std::uint64_t exchange_ts_ns;
};

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

MarketTick make_tick(std::uint64_t id) {
  MarketTick t{};
  std::snprintf(t.symbol, sizeof(t.symbol), "SH60%04llu", static_cast<unsigned long long>(id % 10));
  t.price = 10.0 + static_cast<double>(id % 100) * 0.01;
  t.volume = static_cast<double>(100 * (1 + id % 7));
  t.id = id;
  return t;
}

BroadcastConfig preset(const std::string& name) {
  if (name == "high_performance") return BroadcastConfig::high_performance();
  if (name == "massive_scale") return BroadcastConfig::massive_scale();
  return BroadcastConfig::low_latency();
}

int run_publisher(const BroadcastConfig& config, const std::string& stream, std::uint64_t count,
                  unsigned interval_ms, unsigned wait_s) {
  if (!DataBroadcaster::initialize_runtime("broadcast_publisher")) {
    std::fprintf(stderr, "%s\n", DataBroadcaster::last_runtime_error().message.c_str());
    return 1;
  }
  auto made = DataBroadcaster::create(config, stream);
  if (!made) return std::fprintf(stderr, "%s\n", made.error().message.c_str()), 1;
  DataBroadcaster& broadcaster = *made;

  std::printf("publisher: waiting up to %u s for a subscriber on %s\n", wait_s,
              config.topic(stream).c_str());
  for (unsigned i = 0; i < wait_s * 10 && !broadcaster.has_subscribers() && !g_stop; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("publisher: %u subscriber(s); sending %llu ticks, one every %u ms\n",
              broadcaster.get_stats().subscriber_count, static_cast<unsigned long long>(count),
              interval_ms);

  std::uint64_t id = 1;
  for (; id <= count && !g_stop; ++id) {
    MarketTick tick = make_tick(id);
    if (!broadcaster.broadcast(reinterpret_cast<const std::uint8_t*>(&tick), sizeof(tick), 1,
                               MarketDataType::Tick)) {
      std::fprintf(stderr, "publisher: tick %llu: %s\n", static_cast<unsigned long long>(id),
                   broadcaster.last_error().message.c_str());
    }
    if (id % 50 == 0)
      std::printf("publisher: sent %llu ticks\n", static_cast<unsigned long long>(id));
    if (interval_ms) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }

  // A batch: 100 ticks, 48 bytes each, packed into one block by broadcast_batch().
  std::vector<MarketTick> batch;
  for (int i = 0; i < 100 && !g_stop; ++i)
    batch.push_back(make_tick(id++));
  if (!batch.empty()) {
    std::size_t blocks = broadcaster.broadcast_batch(
        reinterpret_cast<const std::uint8_t*>(batch.data()), batch.size() * sizeof(MarketTick),
        batch.size(), MarketDataType::Tick);
    std::printf("publisher: a batch of %zu ticks went out in %zu block(s)\n", batch.size(), blocks);
  }
  (void)broadcaster.publisher().flush(std::chrono::seconds(1));

  BroadcastStats s = broadcaster.get_stats();
  std::printf(
      "publisher: %llu blocks, %llu records, %llu bytes; failed loans %llu, blocked publishes "
      "%llu, "
      "failed publishes %llu\n",
      static_cast<unsigned long long>(s.blocks_sent),
      static_cast<unsigned long long>(s.records_sent),
      static_cast<unsigned long long>(s.bytes_sent),
      static_cast<unsigned long long>(s.failed_loans),
      static_cast<unsigned long long>(s.blocked_publishes),
      static_cast<unsigned long long>(s.failed_publishes));
  return 0;
}

int run_subscriber(const BroadcastConfig& config, const std::string& stream, std::uint64_t count,
                   unsigned idle_s) {
  if (!DataSubscriber::initialize_runtime("broadcast_subscriber")) {
    std::fprintf(stderr, "%s\n", DataBroadcaster::last_runtime_error().message.c_str());
    return 1;
  }
  auto made = DataSubscriber::create(config, stream);
  if (!made) return std::fprintf(stderr, "%s\n", made.error().message.c_str()), 1;
  DataSubscriber& subscriber = *made;
  std::printf("subscriber: listening on %s (Ctrl-C to stop; stops after %u s of silence)\n",
              config.topic(stream).c_str(), idle_s);

  std::uint64_t ticks = 0;
  auto last_data = std::chrono::steady_clock::now();
  while (!g_stop && (count == 0 || ticks < count)) {
    while (auto block = subscriber.receive_block()) {  // in place: the handle holds the chunk
      const auto* records = reinterpret_cast<const MarketTick*>((*block)->data);
      for (std::uint64_t i = 0; i < (*block)->record_count; ++i) {
        const MarketTick& t = records[i];
        if (++ticks % 50 == 0 || ((*block)->record_count > 1 && i == 0)) {
          std::printf("subscriber: tick %-6llu %s %.2f x %.0f (block %llu, %llu record(s))\n",
                      static_cast<unsigned long long>(t.id), t.symbol, t.price, t.volume,
                      static_cast<unsigned long long>((*block)->sequence_number),
                      static_cast<unsigned long long>((*block)->record_count));
        }
      }
      last_data = std::chrono::steady_clock::now();
    }
    if (ticks > 0 && std::chrono::steady_clock::now() - last_data > std::chrono::seconds(idle_s))
      break;
    subscriber.wait(std::chrono::milliseconds(100));  // sleeps on the eventfd
  }

  ReceiveStats s = subscriber.get_receive_stats();
  std::printf("subscriber: %llu ticks in %llu blocks; sequence gaps %llu, queue drops %llu\n",
              static_cast<unsigned long long>(s.records_received),
              static_cast<unsigned long long>(s.blocks_received),
              static_cast<unsigned long long>(s.sequence_gaps),
              static_cast<unsigned long long>(s.queue_drops));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "seed 004's broadcast example on zerocp: run 'subscriber' in one terminal, 'publisher' in "
      "another"};
  std::string mode;
  std::string stream = "market_stream";
  std::string preset_name = "low_latency";
  std::uint64_t count = 0;
  unsigned interval_ms = 10;
  unsigned wait_s = 10;
  unsigned idle_s = 5;
  app.add_option("mode", mode, "publisher or subscriber")
      ->required()
      ->check(CLI::IsMember({"publisher", "subscriber"}));
  app.add_option("--stream", stream, "Stream name (the topic is md/broadcast/<stream>)")
      ->capture_default_str();
  app.add_option("--preset", preset_name, "BroadcastConfig preset")
      ->check(CLI::IsMember({"low_latency", "high_performance", "massive_scale"}))
      ->capture_default_str();
  app.add_option(
      "--count", count,
      "Ticks to send (publisher, default 500) or to receive (subscriber, 0: until idle)");
  app.add_option("--interval-ms", interval_ms, "Publisher: pause between ticks")
      ->capture_default_str();
  app.add_option("--wait-subscribers", wait_s, "Publisher: seconds to wait for a subscriber")
      ->capture_default_str();
  app.add_option("--idle", idle_s, "Subscriber: stop after this many seconds without data")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const BroadcastConfig config = preset(preset_name);
  if (mode == "publisher")
    return run_publisher(config, stream, count == 0 ? 500 : count, interval_ms, wait_s);
  return run_subscriber(config, stream, count, idle_s);
}
