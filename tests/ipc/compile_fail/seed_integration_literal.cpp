// Seed 004's "集成到项目" (integration) example, verbatim but for two edits: `qaultra` became
// `zcp` (include path and namespace), and the seed's `{...}` placeholder got values.
// tests/ipc/CMakeLists.txt compiles it against include/ alone (no src/, no build tree): the
// port really is a namespace change. seed_integration_test.cpp runs the same lines.
// The seed's own formatting, kept verbatim:
// clang-format off
#include "zcp/ipc/broadcast_hub.hpp"

using namespace zcp::ipc;

struct MarketTick {
    char symbol[16];
    double price;
    double volume;
    uint64_t id;
    uint64_t exchange_ts_ns;
};

void seed_integration_example() {
    // 初始化
    DataBroadcaster::initialize_runtime("my_app");

    // 创建广播器
    BroadcastConfig config = BroadcastConfig::low_latency();
    DataBroadcaster broadcaster(config, "market_stream");

    // 发送数据
    struct MarketTick tick = {"SH600000", 10.5, 100, 1, 0};
    broadcaster.broadcast(
        reinterpret_cast<const uint8_t*>(&tick),
        sizeof(tick),
        1,
        MarketDataType::Tick
    );

    // 创建订阅器
    DataSubscriber subscriber(config, "market_stream");

    // 接收数据
    auto data = subscriber.receive();
    if (data) {
        const MarketTick* tick = reinterpret_cast<const MarketTick*>(data->data());
        // 处理 tick
        (void)tick;
    }
}

// The seed's zero-copy receive, ported the same way: `receive_block()` now returns a handle
// that reads like the seed's pointer.
void seed_zero_copy_receive(DataSubscriber& subscriber) {
    auto block = subscriber.receive_block();
    if (block) {
        const ZeroCopyMarketBlock* b = *block;
        uint64_t n = (*block)->record_count + b->record_count;
        (void)n;
    }
}
