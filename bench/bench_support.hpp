// Shared pieces of the shm micro-benchmarks: a stand-in segment, CPU pinning, and a pinned
// helper thread that runs beside a benchmark's timed loop.
//
// CPUs come from ZCP_BENCH_CPUS ("0,1" by default). cpu(0) runs the benchmark's own thread
// (the producer, or the measured side), cpu(1) the helper (consumer, echo, or contender),
// cpu(2) a third thread where a benchmark needs one. main() validates the list once.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/mman.h>

namespace zcp::bench {

// ---------------------------------------------------------------------------------------
// CPU list
// ---------------------------------------------------------------------------------------

// Parses a comma-separated CPU list ("0,1") and checks each CPU is one this process may run
// on. Returns an empty string on success, else a message naming the bad entry.
std::string parse_cpu_list(const std::string& text, std::vector<int>& out);

// The validated list; set once by main() before any benchmark runs.
void set_bench_cpus(std::vector<int> cpus);
const std::vector<int>& bench_cpus();
// The n-th CPU of the list (n < bench_cpus().size()).
int cpu(std::size_t n);
// "0->1": the CPUs of the first n roles, for labels.
std::string cpu_label(std::size_t n);

// Pins the calling thread to one CPU. Returns "" or a message with the errno text.
std::string pin_this_thread(int cpu_id);

// Pins the calling thread for a scope and restores its previous CPU mask afterwards, so one
// benchmark's pin does not leak into the next.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu_id);
  ~ScopedPin();
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  const std::string& error() const { return error_; }

 private:
  cpu_set_t saved_;
  bool restore_ = false;
  std::string error_;
};

// ---------------------------------------------------------------------------------------
// Segment stand-in
// ---------------------------------------------------------------------------------------

// An anonymous MAP_SHARED mapping, page-aligned (mmap returns whole pages) and prefaulted
// (MAP_POPULATE) so that no page fault lands in a timed loop. Rings and pools format into
// it exactly as into a real segment.
class BenchSegment {
 public:
  explicit BenchSegment(std::size_t bytes);
  ~BenchSegment();
  BenchSegment(const BenchSegment&) = delete;
  BenchSegment& operator=(const BenchSegment&) = delete;
  bool ok() const { return base_ != nullptr; }
  const std::string& error() const { return error_; }
  std::byte* base() const { return base_; }
  std::uint64_t size() const { return size_; }

 private:
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  std::string error_;
};

// ---------------------------------------------------------------------------------------
// Helper thread
// ---------------------------------------------------------------------------------------

// Runs body(stop) on a thread pinned to one CPU. body must poll stop (acquire) and return
// once it is set; it reports progress through ops() so the benchmark can wait for it to be
// running (the warm-up) before timing starts. join() stops and joins it; the destructor
// does too, so no thread outlives its benchmark.
class PinnedThread {
 public:
  template <class Body>
  PinnedThread(int cpu_id, Body body) {
    thread_ = std::thread([this, cpu_id, b = std::move(body)]() mutable {
      pin_error_ = pin_this_thread(cpu_id);
      // release: pin_error_ above is read by the benchmark thread after its acquire of started_.
      started_.store(true, std::memory_order_release);
      if (pin_error_.empty()) b(stop_, ops_);
    });
  }
  ~PinnedThread() { join(); }
  PinnedThread(const PinnedThread&) = delete;
  PinnedThread& operator=(const PinnedThread&) = delete;

  // Waits until the thread has pinned itself and counted at least min_ops operations (or
  // failed to pin). Returns the pin error, "" if it is running.
  std::string wait_running(std::uint64_t min_ops) {
    // acquire: pairs with the release in the thread, making pin_error_ readable.
    while (!started_.load(std::memory_order_acquire))
      std::this_thread::yield();
    if (!pin_error_.empty()) return pin_error_;
    // relaxed: ops_ is a progress counter; it publishes no data.
    while (ops_.load(std::memory_order_relaxed) < min_ops)
      std::this_thread::yield();
    return {};
  }
  void join() {
    if (!thread_.joinable()) return;
    // release: everything the benchmark thread did (its last push) happens-before the
    // helper's acquire of stop_, so a consumer that sees stop_ can drain all of it.
    stop_.store(true, std::memory_order_release);
    thread_.join();
  }
  // Operations the body counted (read after join() for a final count).
  std::uint64_t ops() const { return ops_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::atomic<std::uint64_t> ops_{0};
  std::string pin_error_;
  std::thread thread_;
};

// How often a helper thread publishes its operation count. Too low makes the helper write a
// shared line the benchmark thread polls during warm-up (and slows the helper); too high
// delays the warm-up's "running" signal by that many operations.
inline constexpr std::uint64_t kOpsPublishEvery = 1024;

// Helper operations to wait for before timing starts: enough that the helper is pinned,
// scheduled and in its steady loop (caches warm, pages touched), not just created.
inline constexpr std::uint64_t kWarmupOps = 1U << 16;

// Settings every benchmark here shares: nanoseconds and a warm-up run before measuring.
// Single-thread benchmarks are timed in CPU time of their thread: on a shared VM another
// process preempting us would otherwise add its time slices to ours. Benchmarks with a
// helper thread are timed in wall time (the pair's throughput is what they measure; CPU time
// of one spinning thread would mean nothing), so they show preemption: compare the two
// columns.
benchmark::internal::Benchmark* single_thread(benchmark::internal::Benchmark* b);
benchmark::internal::Benchmark* two_threads(benchmark::internal::Benchmark* b);

// Seconds of warm-up before each benchmark's measured runs. Too short leaves the CPU's
// frequency and the caches cold for the first samples; too long only slows `make bench`.
inline constexpr double kMinWarmUpSeconds = 0.1;

// Percentile p (0..1) of samples (nearest rank); reorders samples.
std::uint64_t percentile(std::vector<std::uint64_t>& samples, double p);

}  // namespace zcp::bench
