// MPMC ring benchmarks: push+pop in one thread, 1 producer -> 1 consumer across two pinned
// threads, two threads both pushing and popping (contention on both indices), and 2
// producers -> 1 consumer when ZCP_BENCH_CPUS names a third CPU.
#include "ring_bench.hpp"
#include "shm/mpmc_ring.hpp"

namespace zcp::bench {
namespace {

using Ring = shm::MpmcRing<Msg>;

constexpr std::uint32_t kSameThreadCapacity = 1024;  // as in spsc_bench.cpp

// Each thread attaches its own view, as each process would (a view keeps per-process state).
Expected<Ring, std::string> attach(const RingMemory& mem) {
  if (!mem.seg.ok()) return Unexpected(mem.seg.error());
  return Ring::attach(mem.seg.base(), mem.seg.size(), mem.desc);
}

void mpmc_push_pop(benchmark::State& state) {
  RingMemory mem(shm::RingKind::kMpmc, kSameThreadCapacity);
  auto q = attach(mem);
  if (!q) return state.SkipWithError(q.error().c_str());
  Msg in{}, out{};
  for (auto _ : state) {
    ++in.sequence;
    const bool pushed = q->try_push(in);
    const bool popped = q->try_pop(out);
    benchmark::DoNotOptimize(pushed);
    benchmark::DoNotOptimize(popped);
    benchmark::DoNotOptimize(out);
  }
  if (out.sequence != in.sequence) state.SkipWithError("popped element does not match pushed");
}

void mpmc_transfer_1p1c(benchmark::State& state) {
  RingMemory mem(shm::RingKind::kMpmc, static_cast<std::uint32_t>(state.range(0)));
  auto prod = attach(mem);
  auto cons = attach(mem);
  if (!prod || !cons) return state.SkipWithError("attach failed");
  auto push = [&](const Msg* src, std::size_t) -> std::size_t { return prod->try_push(*src); };
  auto pop = [&](Msg* dst, std::size_t) -> std::size_t { return cons->try_pop(*dst); };
  run_transfer<1>(state, push, pop, "1 producer, 1 consumer");
}

// This thread on cpu(0) and a contender on cpu(1) each pop one element and push it back, on
// a ring kept half full: both threads CAS on head and on tail, as several router workers
// feeding and evicting one queue would. Half full keeps head and tail cells far apart.
// Reports ns per pop+push of this thread under contention.
//
// Each pop and push is retried until it succeeds, so the fill stays constant. A retry
// ("stalls") happens when the other thread is preempted between claiming a cell and
// publishing it, and the ring laps to that cell: the Vyukov queue is not lock-free in that
// window, and try_push reports "full" on a half-full ring (or try_pop "empty") until the
// preempted thread runs again. On a loaded VM this is seen; stalls counts it.
void mpmc_pop_push_2threads(benchmark::State& state) {
  const auto capacity = static_cast<std::uint32_t>(state.range(0));
  RingMemory mem(shm::RingKind::kMpmc, capacity);
  auto mine = attach(mem);
  auto theirs = attach(mem);
  if (!mine || !theirs) return state.SkipWithError("attach failed");
  Msg m{};
  for (std::uint32_t i = 0; i < capacity / 2; ++i)
    (void)mine->try_push(m);
  ScopedPin pin(cpu(0));
  if (!pin.error().empty()) return state.SkipWithError(pin.error().c_str());
  PinnedThread other(cpu(1), [&](std::atomic<bool>& stop, std::atomic<std::uint64_t>& ops) {
    Msg x{};
    std::uint64_t n = 0;
    // relaxed: stop only ends the loop; nothing is handed over at the end.
    while (!stop.load(std::memory_order_relaxed)) {
      if (!theirs->try_pop(x)) continue;
      while (!theirs->try_push(x))
        shm::cpu_relax();  // see "stalls" above
      if (++n % kOpsPublishEvery == 0) ops.store(n, std::memory_order_relaxed);  // progress
    }
  });
  if (auto err = other.wait_running(kWarmupOps); !err.empty()) {
    return state.SkipWithError(err.c_str());
  }
  std::uint64_t stalls = 0;
  const std::uint64_t other_before = other.ops();
  for (auto _ : state) {
    while (!mine->try_pop(m))
      ++stalls;
    while (!mine->try_push(m))
      ++stalls;
    benchmark::DoNotOptimize(m);
  }
  const std::uint64_t other_ops = other.ops() - other_before;
  other.join();
  if (mine->size_approx() != capacity / 2) return state.SkipWithError("fill level drifted");
  state.counters["other_cpu_ops/s"] =
      benchmark::Counter(static_cast<double>(other_ops), benchmark::Counter::kIsRate);
  state.counters["stalls"] = static_cast<double>(stalls);
  state.SetLabel(cpu_label(2) + ", both threads pop+push, half full");
}

// Producers on cpu(0) and cpu(2), consumer on cpu(1). Registered only with 3+ CPUs: with
// three spinning threads on two CPUs it would measure time-slicing, not contention.
void mpmc_transfer_2p1c(benchmark::State& state) {
  RingMemory mem(shm::RingKind::kMpmc, static_cast<std::uint32_t>(state.range(0)));
  auto prod = attach(mem);
  auto prod2 = attach(mem);
  auto cons = attach(mem);
  if (!prod || !prod2 || !cons) return state.SkipWithError("attach failed");
  ScopedPin pin(cpu(0));
  if (!pin.error().empty()) return state.SkipWithError(pin.error().c_str());
  bool out_of_order = false;  // written by the consumer, read after its join()
  PinnedThread consumer(cpu(1), [&](std::atomic<bool>& stop, std::atomic<std::uint64_t>& ops) {
    std::uint64_t expect[2] = {1, 1}, popped = 0;
    Msg m{};
    // relaxed: stop only ends the loop; the totals are not checked (two producers stop
    // independently), only per-producer order.
    while (!stop.load(std::memory_order_relaxed)) {
      if (!cons->try_pop(m)) {
        shm::cpu_relax();
        continue;
      }
      std::uint64_t& e = expect[m.publisher_id & 1];
      out_of_order |= m.sequence != e;
      e = m.sequence + 1;
      if (++popped % kOpsPublishEvery == 0) ops.store(popped, std::memory_order_relaxed);
    }
  });
  PinnedThread producer2(cpu(2), [&](std::atomic<bool>& stop, std::atomic<std::uint64_t>&) {
    Msg m{};
    m.publisher_id = 1;
    while (!stop.load(std::memory_order_relaxed)) {  // relaxed: as above
      ++m.sequence;
      while (!prod2->try_push(m) && !stop.load(std::memory_order_relaxed))
        shm::cpu_relax();
    }
  });
  if (auto err = producer2.wait_running(0); !err.empty()) return state.SkipWithError(err.c_str());
  if (auto err = consumer.wait_running(kWarmupOps); !err.empty()) {
    return state.SkipWithError(err.c_str());
  }
  Msg m{};
  const std::uint64_t popped_before = consumer.ops();
  for (auto _ : state) {
    ++m.sequence;
    while (!prod->try_push(m))
      shm::cpu_relax();
  }
  const std::uint64_t popped = consumer.ops() - popped_before;
  producer2.join();
  consumer.join();
  if (out_of_order) return state.SkipWithError("a producer's elements arrived out of order");
  // Items: everything the consumer took while this producer was timed (both producers).
  state.SetItemsProcessed(static_cast<std::int64_t>(popped));
  state.SetLabel("2 producers on cpus " + std::to_string(cpu(0)) + "," + std::to_string(cpu(2)) +
                 ", 1 consumer on cpu " + std::to_string(cpu(1)));
}

}  // namespace

void register_mpmc_benchmarks() {
  using benchmark::RegisterBenchmark;
  single_thread(RegisterBenchmark("mpmc/push_pop/same_thread", mpmc_push_pop));
  two_threads(RegisterBenchmark("mpmc/transfer_1p1c", mpmc_transfer_1p1c))
      ->ArgName("cap")
      ->Arg(1024);
  two_threads(RegisterBenchmark("mpmc/pop_push_2threads", mpmc_pop_push_2threads))
      ->ArgName("cap")
      ->Arg(1024);
  if (bench_cpus().size() >= 3) {
    two_threads(RegisterBenchmark("mpmc/transfer_2p1c", mpmc_transfer_2p1c))
        ->ArgName("cap")
        ->Arg(1024);
  }
}

}  // namespace zcp::bench
