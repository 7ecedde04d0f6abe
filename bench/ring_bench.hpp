// Ring benchmark plumbing shared by the SPSC and MPMC benchmarks: a formatted ring in a
// stand-in segment, and the two-thread transfer driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "shm/atomic.hpp"
#include "shm/layout.hpp"
#include "shm/ring.hpp"

namespace zcp::bench {

// What the rings carry in production: 32-byte message headers.
using Msg = shm::MessageHeader;

// One ring of Msg formatted at offset 0 of its own segment.
struct RingMemory {
  RingMemory(shm::RingKind kind, std::uint32_t capacity)
      : seg(shm::align_up(shm::ring_bytes(capacity, shm::slot_stride<Msg>(kind)), 4096)),
        desc(seg.ok() ? shm::format_ring<Msg>(seg.base(), 0, kind, capacity)
                      : shm::QueueDescriptor{}) {}
  BenchSegment seg;
  shm::QueueDescriptor desc;
};

// Elements the producer pushes before timing starts, with the consumer already popping on
// its CPU. Too few leaves the first timed pushes paying for cold lines and a consumer that is
// not yet scheduled; too many only lengthens the run (each GB trial repeats the warm-up).
inline constexpr std::uint64_t kTransferWarmupElements = 1U << 18;

// Runs state's timed loop as the producer on cpu(0), kBatch elements per iteration, while a
// consumer thread on cpu(1) pops until the producer stops and the ring is drained. The
// consumer checks that sequences arrive complete and in order (1, 2, 3, ...).
//   push(const Msg* src, n) -> elements pushed (0..n), never blocks;
//   pop(Msg* dst, max)      -> elements popped (0..max), never blocks.
// Throughput is reported as items/s of the producer's wall time; the final drain (at most
// one ring's worth) is outside the timed loop. Two counters tell which regime the run was
// in: full_spins/elem (producer found the ring full; timed loop) and empty_polls/elem
// (consumer found it empty; whole run). A ring that runs empty moves cache lines between
// the CPUs for every element and is several times slower than one that runs full, where
// each index refresh covers many elements; which one a run falls into can change between
// runs, so read the throughput together with these.
template <std::size_t kBatch, class Push, class Pop>
void run_transfer(benchmark::State& state, Push push, Pop pop, const std::string& label) {
  ScopedPin pin(cpu(0));
  if (!pin.error().empty()) {
    state.SkipWithError(pin.error().c_str());
    return;
  }
  bool out_of_order = false;      // written by the consumer, read after join()
  std::uint64_t empty_polls = 0;  // likewise
  PinnedThread consumer(cpu(1), [&](std::atomic<bool>& stop, std::atomic<std::uint64_t>& ops) {
    Msg buf[kBatch];
    std::uint64_t expect = 1, popped = 0, published = 0;
    bool stopping = false;
    for (;;) {
      const std::size_t k = pop(buf, kBatch);
      if (k != 0) {
        for (std::size_t i = 0; i < k; ++i)
          out_of_order |= buf[i].sequence != expect + i;
        expect += k;
        popped += k;
        if (popped - published >= kOpsPublishEvery) {
          ops.store(popped, std::memory_order_relaxed);  // progress only
          published = popped;
        }
        continue;
      }
      if (stopping) break;  // saw stop, then found the ring empty: drained
      ++empty_polls;
      // acquire: pairs with join()'s release, so the pop after this sees every push.
      stopping = stop.load(std::memory_order_acquire);
      if (!stopping) shm::cpu_relax();
    }
    ops.store(popped, std::memory_order_relaxed);
  });
  if (auto err = consumer.wait_running(0); !err.empty()) {
    state.SkipWithError(err.c_str());
    return;
  }

  Msg batch[kBatch] = {};
  std::uint64_t seq = 0;
  std::uint64_t full_spins = 0;
  auto push_all = [&] {
    for (std::size_t i = 0; i < kBatch; ++i)
      batch[i].sequence = seq + 1 + i;
    std::size_t done = 0;
    while (done < kBatch) {
      const std::size_t k = push(batch + done, kBatch - done);
      if (k == 0) {  // full: the consumer is behind
        ++full_spins;
        shm::cpu_relax();
      }
      done += k;
    }
    seq += kBatch;
  };
  while (seq < kTransferWarmupElements)
    push_all();
  full_spins = 0;
  for (auto _ : state)
    push_all();
  consumer.join();

  if (consumer.ops() != seq || out_of_order) {
    state.SkipWithError(("consumer got " + std::to_string(consumer.ops()) + " of " +
                         std::to_string(seq) + " elements" + (out_of_order ? ", out of order" : ""))
                            .c_str());
    return;
  }
  const auto timed = static_cast<double>(state.iterations() * kBatch);
  state.SetItemsProcessed(static_cast<std::int64_t>(timed));
  state.counters["full_spins/elem"] = static_cast<double>(full_spins) / timed;
  state.counters["empty_polls/elem"] = static_cast<double>(empty_polls) / static_cast<double>(seq);
  state.SetLabel(cpu_label(2) + (label.empty() ? "" : ", " + label));
}

}  // namespace zcp::bench
