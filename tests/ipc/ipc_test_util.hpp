// Helpers of the zcp::ipc tests: failure reporting from forked children, a tick record, and
// child bodies that leave the daemon cleanly (the runtime unregisters before _exit).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include <time.h>
#include <unistd.h>

#include <zcp/ipc/broadcast_hub.hpp>

namespace zcp::ipc::test {

// A failed check in a child: say where and why on stderr, and exit non-zero.
#define IPC_CHECK(cond, ...)                                                               \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "[pid %d] %s:%d: IPC_CHECK(%s) failed: ", ::getpid(), __FILE__, \
                   __LINE__, #cond);                                                       \
      std::fprintf(stderr, __VA_ARGS__);                                                   \
      std::fputc('\n', stderr);                                                            \
      return 1;                                                                            \
    }                                                                                      \
  } while (0)

// 48 bytes, like a typical tick record: 170 fit one block.
struct MarketTick {
  char symbol[16];
  double price;
  double volume;
  std::uint64_t id;
  std::uint64_t exchange_ts_ns;
};

inline MarketTick make_tick(std::uint64_t id) {
  MarketTick t{};
  std::snprintf(t.symbol, sizeof(t.symbol), "SYM%llu", static_cast<unsigned long long>(id % 97));
  t.price = 100.0 + static_cast<double>(id) * 0.25;
  t.volume = static_cast<double>(id % 13);
  t.id = id;
  t.exchange_ts_ns = id * 1000;
  return t;
}

inline bool tick_ok(const MarketTick& t, std::uint64_t id) {
  MarketTick want = make_tick(id);
  return std::memcmp(&t, &want, sizeof(t)) == 0;
}

// Runs a child body, then drops the process's runtime so that it unregisters from the daemon
// before the child's _exit (which skips static destructors).
inline int child_main(const std::function<int()>& body) {
  int rc = body();
  DataBroadcaster::shutdown_runtime();
  return rc;
}

// A lossless config for tests that must see every block: block_publisher back-pressure and a
// publish timeout long enough for a loaded 2-CPU host.
inline BroadcastConfig lossless(std::uint32_t queue = 256) {
  BroadcastConfig c = BroadcastConfig::massive_scale();
  c.queue_capacity = queue;
  c.max_held = 16;
  c.publish_timeout = std::chrono::seconds(10);
  c.loan_wait = std::chrono::seconds(1);
  return c;
}

// Waits until the broadcaster counts n subscribers; false after `timeout`. The daemon counts
// a subscriber only once every router worker applied its AddSubscriber command, so a block
// broadcast after this returned true reaches all n.
inline bool wait_subscribers(const DataBroadcaster& b, std::uint32_t n,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (b.get_stats().subscriber_count < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline std::uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace zcp::ipc::test
