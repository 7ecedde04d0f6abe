// SPSC ring benchmarks: push+pop in one thread, transfer across two pinned threads, a
// ping-pong round trip with latency percentiles, and the cost of the eventfd wake check.
#include <chrono>
#include <vector>

#include "ring_bench.hpp"
#include "shm/spsc_ring.hpp"

namespace zcp::bench {
namespace {

using Producer = shm::SpscProducer<Msg>;
using Consumer = shm::SpscConsumer<Msg>;

// Capacity of the single-thread rings. Push+pop keeps the fill at 0-1, so any capacity
// behaves the same; 1024 matches the default subscriber queue.
constexpr std::uint32_t kSameThreadCapacity = 1024;
// Elements per batch in the batch variants, a plausible poll batch for a router worker.
// Larger amortises the index stores and the wake check further, but a consumer then waits
// for more elements at a time (latency).
constexpr std::size_t kBatch = 16;

// Adds "per_elem": time per element when one iteration moves n elements, in the time the
// benchmark is timed by (seconds, printed with an SI prefix: "1.2ns").
void set_time_per_element(benchmark::State& state, std::size_t n) {
  state.counters["per_elem"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate |
                                                     benchmark::Counter::kInvert);
}

struct SpscPair {
  explicit SpscPair(std::uint32_t capacity) : mem(shm::RingKind::kSpsc, capacity) {
    if (!mem.seg.ok()) {
      error = mem.seg.error();
      return;
    }
    auto p = Producer::attach(mem.seg.base(), mem.seg.size(), mem.desc);
    auto c = Consumer::attach(mem.seg.base(), mem.seg.size(), mem.desc);
    if (!p || !c) {
      error = "attach failed: " + (p ? c.error() : p.error());
      return;
    }
    prod = *p;
    cons = *c;
  }
  RingMemory mem;
  Producer prod;
  Consumer cons;
  std::string error;
};

// One push and one pop per iteration, both in this thread: the pure instruction cost of the
// ring (all lines stay in this core's L1).
void spsc_push_pop(benchmark::State& state) {
  SpscPair r(kSameThreadCapacity);
  if (!r.error.empty()) return state.SkipWithError(r.error.c_str());
  Msg in{}, out{};
  for (auto _ : state) {
    ++in.sequence;
    const bool pushed = r.prod.try_push(in);
    const bool popped = r.cons.try_pop(out);
    benchmark::DoNotOptimize(pushed);
    benchmark::DoNotOptimize(popped);
    benchmark::DoNotOptimize(out);  // the popped element must be materialised
  }
  if (out.sequence != in.sequence) state.SkipWithError("popped element does not match pushed");
}

// kBatch pushes with one tail store, then kBatch pops with one head store, per iteration.
void spsc_push_pop_batch(benchmark::State& state) {
  SpscPair r(kSameThreadCapacity);
  if (!r.error.empty()) return state.SkipWithError(r.error.c_str());
  Msg in[kBatch] = {}, out[kBatch] = {};
  for (auto _ : state) {
    in[0].sequence++;
    const std::size_t pushed = r.prod.try_push_batch(in, kBatch);
    const std::size_t popped = r.cons.try_pop_batch(out, kBatch);
    benchmark::DoNotOptimize(pushed);
    benchmark::DoNotOptimize(popped);
    benchmark::DoNotOptimize(out);
  }
  if (out[0].sequence != in[0].sequence) state.SkipWithError("batch mismatch");
  set_time_per_element(state, kBatch);
}

// push+wake_needed()+pop: what a producer pays per element for the eventfd handshake when
// the subscriber polls and never sleeps (waiting == 0): the StoreLoad barrier inside
// wake_needed() (on x86 one locked exchange on the waiting word), paid even though nobody
// sleeps. Compare with spsc/push_pop/same_thread.
void spsc_push_check_pop(benchmark::State& state) {
  SpscPair r(kSameThreadCapacity);
  if (!r.error.empty()) return state.SkipWithError(r.error.c_str());
  shm::WaitWord wait = r.prod.wait_word();
  Msg in{}, out{};
  for (auto _ : state) {
    ++in.sequence;
    const bool pushed = r.prod.try_push(in);
    const bool wake = wait.wake_needed();
    const bool popped = r.cons.try_pop(out);
    benchmark::DoNotOptimize(pushed);
    benchmark::DoNotOptimize(wake);
    benchmark::DoNotOptimize(popped);
    benchmark::DoNotOptimize(out);
  }
  if (out.sequence != in.sequence) state.SkipWithError("popped element does not match pushed");
}

// The same with one wake check per batch of kBatch: how batching amortises the barrier.
void spsc_push_check_pop_batch(benchmark::State& state) {
  SpscPair r(kSameThreadCapacity);
  if (!r.error.empty()) return state.SkipWithError(r.error.c_str());
  shm::WaitWord wait = r.prod.wait_word();
  Msg in[kBatch] = {}, out[kBatch] = {};
  for (auto _ : state) {
    in[0].sequence++;
    const std::size_t pushed = r.prod.try_push_batch(in, kBatch);
    const bool wake = wait.wake_needed();
    const std::size_t popped = r.cons.try_pop_batch(out, kBatch);
    benchmark::DoNotOptimize(pushed);
    benchmark::DoNotOptimize(wake);
    benchmark::DoNotOptimize(popped);
    benchmark::DoNotOptimize(out);
  }
  if (out[0].sequence != in[0].sequence) state.SkipWithError("batch mismatch");
  set_time_per_element(state, kBatch);
}

// Producer on cpu(0), consumer on cpu(1); kN elements per push/pop call (1 or kBatch).
// kWakeCheck adds wake_needed() after every push call, as a producer serving a subscriber
// that may sleep must.
template <std::size_t kN, bool kWakeCheck>
void spsc_transfer(benchmark::State& state) {
  SpscPair r(static_cast<std::uint32_t>(state.range(0)));
  if (!r.error.empty()) return state.SkipWithError(r.error.c_str());
  shm::WaitWord wait = r.prod.wait_word();
  auto push = [&](const Msg* src, std::size_t n) -> std::size_t {
    const std::size_t k =
        kN == 1 ? static_cast<std::size_t>(r.prod.try_push(*src)) : r.prod.try_push_batch(src, n);
    if constexpr (kWakeCheck) {
      if (k != 0) benchmark::DoNotOptimize(wait.wake_needed());
    }
    return k;
  };
  auto pop = [&](Msg* dst, std::size_t max) -> std::size_t {
    return kN == 1 ? static_cast<std::size_t>(r.cons.try_pop(*dst))
                   : r.cons.try_pop_batch(dst, max);
  };
  run_transfer<kN>(state, push, pop, kWakeCheck ? "wake check per push" : "");
}

// Round trips between cpu(0) and an echo thread on cpu(1) through two rings. Each iteration
// is one message there and back; the samples give the latency distribution.
constexpr std::uint32_t kPingPongCapacity = 64;
// Samples kept for the percentiles (8 MiB). Too few makes p99.9 noise; more only costs memory.
constexpr std::size_t kMaxSamples = 1U << 20;
constexpr std::uint64_t kPingPongWarmup = 1U << 14;  // round trips before timing starts

void spsc_ping_pong(benchmark::State& state) {
  SpscPair there(kPingPongCapacity), back(kPingPongCapacity);
  if (!there.error.empty() || !back.error.empty()) return state.SkipWithError("ring setup failed");
  ScopedPin pin(cpu(0));
  if (!pin.error().empty()) return state.SkipWithError(pin.error().c_str());
  PinnedThread echo(cpu(1), [&](std::atomic<bool>& stop, std::atomic<std::uint64_t>&) {
    Msg m{};
    // relaxed: stop only ends the loop; every ping was answered before the benchmark stops.
    while (!stop.load(std::memory_order_relaxed)) {
      if (!there.cons.try_pop(m)) {
        shm::cpu_relax();
        continue;
      }
      while (!back.prod.try_push(m))
        shm::cpu_relax();
    }
  });
  if (auto err = echo.wait_running(0); !err.empty()) return state.SkipWithError(err.c_str());

  Msg ping{}, pong{};
  auto round_trip = [&] {
    ++ping.sequence;
    while (!there.prod.try_push(ping))
      shm::cpu_relax();
    while (!back.cons.try_pop(pong))
      shm::cpu_relax();
  };
  for (std::uint64_t i = 0; i < kPingPongWarmup; ++i)
    round_trip();
  std::vector<std::uint64_t> samples;
  samples.reserve(kMaxSamples);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    round_trip();
    const auto t1 = std::chrono::steady_clock::now();
    if (samples.size() < kMaxSamples) {
      samples.push_back(static_cast<std::uint64_t>((t1 - t0).count()));
    }
  }
  echo.join();
  if (pong.sequence != ping.sequence) return state.SkipWithError("echo lost a message");
  state.counters["p50_ns"] = static_cast<double>(percentile(samples, 0.50));
  state.counters["p99_ns"] = static_cast<double>(percentile(samples, 0.99));
  state.counters["p999_ns"] = static_cast<double>(percentile(samples, 0.999));
  state.SetLabel(cpu_label(2) + ", round trip incl. 2 clock reads");
}

}  // namespace

void register_spsc_benchmarks() {
  using benchmark::RegisterBenchmark;
  single_thread(RegisterBenchmark("spsc/push_pop/same_thread", spsc_push_pop));
  single_thread(RegisterBenchmark("spsc/push_pop_batch16/same_thread", spsc_push_pop_batch));
  two_threads(RegisterBenchmark("spsc/transfer", spsc_transfer<1, false>))
      ->ArgName("cap")
      ->Arg(1024)
      ->Arg(64);
  two_threads(RegisterBenchmark("spsc/transfer_batch16", spsc_transfer<kBatch, false>))
      ->ArgName("cap")
      ->Arg(1024);
  two_threads(RegisterBenchmark("spsc/ping_pong/cap:64", spsc_ping_pong));
  single_thread(RegisterBenchmark("wake/push_check_pop/same_thread", spsc_push_check_pop));
  single_thread(
      RegisterBenchmark("wake/push_check_pop_batch16/same_thread", spsc_push_check_pop_batch));
  two_threads(RegisterBenchmark("wake/spsc_transfer_check", spsc_transfer<1, true>))
      ->ArgName("cap")
      ->Arg(1024);
}

}  // namespace zcp::bench
