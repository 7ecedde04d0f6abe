// ChunkPool benchmarks: loan(64)+release uncontended, a fan-out of two (loan, add_ref,
// release twice), and loan+release while a second pinned thread does the same on the same
// size class.
#include <string>

#include "bench_support.hpp"
#include "shm/atomic.hpp"
#include "shm/chunk_pool.hpp"

namespace zcp::bench {
namespace {

// Payload size asked for: lands in the smallest default class (128 B).
constexpr std::uint32_t kLoanSize = 64;
// Where the pool region starts in the stand-in segment: after a page, as after the segment
// header in a real one.
constexpr std::uint64_t kPoolOffset = 4096;

struct PoolMemory {
  PoolMemory() : cfg(normalized_defaults()), seg(kPoolOffset + cfg.region_bytes()) {
    if (!seg.ok()) {
      error = seg.error();
      return;
    }
    pool = shm::ChunkPool::format(seg.base(), kPoolOffset, cfg);
    if (!pool.valid()) error = "ChunkPool::format failed";
  }
  static shm::ChunkPoolConfig normalized_defaults() {
    shm::ChunkPoolConfig c = shm::ChunkPoolConfig::defaults();
    (void)c.normalize();  // the defaults are valid
    return c;
  }
  shm::ChunkPoolConfig cfg;
  BenchSegment seg;
  shm::ChunkPool pool;
  std::string error;
};

// One loan(kLoanSize) and its release; on failure marks the benchmark skipped.
bool loan_release(benchmark::State& state, shm::ChunkPool& pool) {
  auto ch = pool.loan(kLoanSize);
  if (!ch) {
    state.SkipWithError(shm::to_string(ch.error()));
    return false;
  }
  benchmark::DoNotOptimize(ch->payload);  // the loaned chunk is used, not just counted
  if (auto r = pool.release(ch->ref); !r) {
    state.SkipWithError(shm::to_string(r.error()));
    return false;
  }
  return true;
}

void pool_loan_release(benchmark::State& state) {
  PoolMemory m;
  if (!m.error.empty()) return state.SkipWithError(m.error.c_str());
  for (auto _ : state) {
    if (!loan_release(state, m.pool)) break;
  }
}

// A message delivered to two subscribers: the publisher loans, the router adds one reference
// (the loan's own reference goes to the first subscriber), each subscriber releases.
void pool_loan_fanout2(benchmark::State& state) {
  PoolMemory m;
  if (!m.error.empty()) return state.SkipWithError(m.error.c_str());
  for (auto _ : state) {
    auto ch = m.pool.loan(kLoanSize);
    if (!ch) {
      state.SkipWithError(shm::to_string(ch.error()));
      break;
    }
    benchmark::DoNotOptimize(ch->payload);
    auto r1 = m.pool.add_ref(ch->ref);
    auto r2 = m.pool.release(ch->ref);
    auto r3 = m.pool.release(ch->ref);
    if (!r1 || !r2 || !r3) {
      state.SkipWithError("add_ref or release failed");
      break;
    }
  }
}

// This thread on cpu(0) and a contender on cpu(1) loan and release from the same class, so
// every operation's CAS on the free-list head and the free_count add bounce one cache line.
void pool_loan_release_contended(benchmark::State& state) {
  PoolMemory m;
  if (!m.error.empty()) return state.SkipWithError(m.error.c_str());
  ScopedPin pin(cpu(0));
  if (!pin.error().empty()) return state.SkipWithError(pin.error().c_str());
  bool other_failed = false;  // written by the contender, read after join()
  PinnedThread other(cpu(1), [&](std::atomic<bool>& stop, std::atomic<std::uint64_t>& ops) {
    std::uint64_t n = 0;
    // relaxed: stop only ends the loop.
    while (!stop.load(std::memory_order_relaxed)) {
      auto ch = m.pool.loan(kLoanSize);
      if (!ch || !m.pool.release(ch->ref)) {
        other_failed = true;
        break;
      }
      if (++n % kOpsPublishEvery == 0) ops.store(n, std::memory_order_relaxed);  // progress
    }
    ops.store(n < kWarmupOps ? kWarmupOps : n, std::memory_order_relaxed);  // never hang warm-up
  });
  if (auto err = other.wait_running(kWarmupOps); !err.empty()) {
    return state.SkipWithError(err.c_str());
  }
  const std::uint64_t other_before = other.ops();
  for (auto _ : state) {
    if (!loan_release(state, m.pool)) break;
  }
  const std::uint64_t other_ops = other.ops() - other_before;
  other.join();
  if (state.error_occurred()) return;
  if (other_failed) return state.SkipWithError("the contending thread's loan or release failed");
  const auto st = m.pool.stats(0);
  if (st.free != st.total) return state.SkipWithError("chunks leaked: free != total after the run");
  state.counters["other_cpu_ops/s"] =
      benchmark::Counter(static_cast<double>(other_ops), benchmark::Counter::kIsRate);
  state.SetLabel(cpu_label(2) + ", same class");
}

}  // namespace

void register_pool_benchmarks() {
  using benchmark::RegisterBenchmark;
  single_thread(RegisterBenchmark("pool/loan_release/uncontended", pool_loan_release));
  single_thread(RegisterBenchmark("pool/loan_addref_release2/uncontended", pool_loan_fanout2));
  two_threads(
      RegisterBenchmark("pool/loan_release/contended_2threads", pool_loan_release_contended));
}

}  // namespace zcp::bench
