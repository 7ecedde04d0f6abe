// zcp-oneway: one-way latency from a publisher's publish() to a subscriber's take(), measured
// by the subscriber as CLOCK_MONOTONIC now minus the sample's publish timestamp (both
// processes on one host read the same clock). The C++ half of scripts/bench-bindings.sh, which
// runs the same paced publisher against this C++ subscriber, the Python one
// (python/bench/zcp_py_bench.py) and the Rust one (bindings/rust/examples/oneway.rs), in one
// run.
//
//   zcp-oneway pub TOPIC --count N --interval-us U --payload B   # waits for a subscriber
//   zcp-oneway sub TOPIC --count N [--poll]                      # prints JSON
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <time.h>

#include <zcp/zcp.hpp>

#include "histogram.hpp"

namespace {

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

int publish(zcp::Runtime& rt, const std::string& topic, std::uint64_t count,
            std::uint32_t interval_us, std::uint32_t payload) {
  auto pub = zcp::Publisher<>::create(rt, topic, {.max_payload = payload});
  if (!pub) return std::fprintf(stderr, "zcp-oneway: %s\n", pub.error().message.c_str()), 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pub->has_subscribers()) {
    if (std::chrono::steady_clock::now() > deadline)
      return std::fprintf(stderr, "zcp-oneway: no subscriber within 30 s\n"), 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto next = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    next += std::chrono::microseconds(interval_us);
    std::this_thread::sleep_until(next);  // the subscriber is asleep when each one arrives
    auto loan = pub->loan(payload);
    if (!loan) return std::fprintf(stderr, "zcp-oneway: %s\n", loan.error().message.c_str()), 1;
    if (auto r = pub->publish(std::move(*loan)); !r)
      return std::fprintf(stderr, "zcp-oneway: %s\n", r.error().message.c_str()), 1;
  }
  (void)pub->flush(std::chrono::seconds(5));
  return 0;
}

int subscribe(zcp::Runtime& rt, const std::string& topic, std::uint64_t count, bool poll) {
  auto sub = zcp::Subscriber<>::create(rt, topic, {.queue_capacity = 1024});
  if (!sub) return std::fprintf(stderr, "zcp-oneway: %s\n", sub.error().message.c_str()), 1;
  std::printf("ready\n");
  std::fflush(stdout);
  zcp::perf::Histogram hist;
  std::uint64_t got = 0;
  while (got < count) {
    if (auto s = sub->take()) {
      hist.record(now_ns() - s->timestamp_ns());
      ++got;
      continue;
    }
    if (!sub->connected()) return std::fprintf(stderr, "zcp-oneway: daemon lost\n"), 1;
    if (!poll) (void)sub->wait(std::chrono::seconds(1));
  }
  std::printf("{\"p50_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64 ", \"samples\": %" PRIu64 "}\n",
              hist.percentile(50), hist.percentile(99), hist.count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zcp-oneway: one-way publish-to-take latency (scripts/bench-bindings.sh)"};
  std::string mode, topic;
  std::uint64_t count = 10000;
  std::uint32_t interval_us = 200, payload = 64;
  app.add_option("mode", mode, "pub or sub")->required()->check(CLI::IsMember({"pub", "sub"}));
  app.add_option("topic", topic, "SERVICE/INSTANCE/EVENT")->required();
  app.add_option("--count", count, "Messages")->capture_default_str();
  app.add_option("--interval-us", interval_us, "pub: microseconds between messages")
      ->capture_default_str();
  app.add_option("--payload", payload, "pub: payload bytes")->capture_default_str();
  bool poll = false;
  app.add_flag("--poll", poll, "sub: spin on take() instead of sleeping in wait()");
  CLI11_PARSE(app, argc, argv);
  auto rt =
      zcp::Runtime::connect({.name = "zcp-oneway-" + mode + "-" + std::to_string(::getpid())});
  if (!rt) return std::fprintf(stderr, "zcp-oneway: %s\n", rt.error().message.c_str()), 1;
  return mode == "pub" ? publish(**rt, topic, count, interval_us, payload)
                       : subscribe(**rt, topic, count, poll);
}
