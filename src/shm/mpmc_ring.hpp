// Bounded multi-producer multi-consumer queue in shared memory (the turn-based variant of
// Dmitry Vyukov's queue, as in rigtorp/MPMCQueue). Subscriber queues use it: several router
// workers may feed one subscriber, and under the drop_oldest policy a router evicts (pops)
// while the subscriber takes. Layout: ring.hpp; each cell is {turn, value} on its own line.
//
// Cell protocol, for position p, lap L = p / capacity and cell c = cells[p mod capacity]:
//   c.turn == 2L        the cell is free for the producer of position p
//   c.turn == 2L + 1    the cell holds the element of position p, for its consumer
//   c.turn == 2L + 2    consumed: free for the producer of p + capacity (lap L + 1)
// Producers claim p by CAS on tail, consumers by CAS on head; only the claim's winner
// touches the cell's value, then publishes by storing turn with release. Unlike the
// sequence-number variant, turns tell "full" from "free" even at capacity 1.
//
// The queue is shared with a client process, which may have written garbage. Loops are
// therefore bounded (kMaxSpins): a queue whose indices never settle reports failure instead
// of hanging the router. Every index is reduced mod capacity, so no access leaves the ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <zcp/expected.hpp>

#include "shm/ring.hpp"

namespace zcp::shm {

template <class T>
class MpmcRing {
 public:
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied bytewise across processes");
  static constexpr std::uint32_t kStride = slot_stride<T>(RingKind::kMpmc);
  // CAS attempts before giving up. Contention among the few router workers settles in a
  // handful; only a corrupted queue needs more. Too low fails honest pushes under heavy
  // contention; too high lets a corrupt queue stall a router worker longer.
  static constexpr int kMaxSpins = 4096;
  // Positions per high-water sample (a power of two; see note_fill). Too low keeps pulling
  // the consumer's head line away from it (16 still cost ~1.5x in transfer throughput); too
  // high coarsens the mark, which can under-report a peak by up to this many elements
  // (1/16 of a 1024 ring). Rings no larger than this are sampled on every push.
  static constexpr std::uint64_t kHighWaterSample = 64;
  static_assert(is_pow2(kHighWaterSample), "note_fill() masks with kHighWaterSample - 1");

  MpmcRing() = default;

  static Expected<MpmcRing, std::string> attach(std::byte* segment_base, std::uint64_t segment_size,
                                                const QueueDescriptor& d) {
    if (d.kind != static_cast<std::uint32_t>(RingKind::kMpmc) || d.element_size != sizeof(T)) {
      return Unexpected("descriptor is not an MPMC ring of " + std::to_string(sizeof(T)) +
                        "-byte elements");
    }
    if (auto p = ring_problem(segment_base, segment_size, d, kStride); !p.empty()) {
      return Unexpected(p);
    }
    MpmcRing r;
    r.h_ = reinterpret_cast<RingHeader*>(segment_base + d.offset);
    r.cells_ = segment_base + d.offset + sizeof(RingHeader);
    r.idx_ = RingIndex(d.capacity);
    return r;
  }

  bool try_push(const T& value) noexcept {
    // relaxed: the tail is only a claim counter; cell data is ordered by the cell's turn.
    std::uint64_t pos = atomic_load(h_->tail, std::memory_order_relaxed);
    for (int spin = 0; spin < kMaxSpins; ++spin) {
      Cell* c = cell(pos);
      const std::uint64_t lap = idx_.lap(pos);
      // acquire: pairs with the consumer's release of turn 2·lap (one lap ago), so its read
      // of the old value happens-before our overwrite.
      if (atomic_load(c->turn, std::memory_order_acquire) == 2 * lap) {
        // seq_cst on success: the claim publishes no data (the turn store below does), but it
        // is the producer's half of the sleep handshake (ring.hpp, form 2): a consumer that
        // announced a sleep and then loads the tail sees this claim, or our later needs_wake()
        // sees its announcement. On x86 a CAS is one locked instruction whatever the order.
        if (atomic_cas_weak(h_->tail, pos, pos + 1, std::memory_order_seq_cst,
                            std::memory_order_relaxed)) {
          std::memcpy(static_cast<void*>(&c->value), &value, sizeof(T));
          // release: publishes the value; pairs with the consumer's acquire of turn.
          atomic_store(c->turn, 2 * lap + 1, std::memory_order_release);
          note_fill(pos + 1);
          return true;
        }
        // The failed CAS reloaded pos; retry there.
      } else {
        const std::uint64_t prev = pos;
        pos = atomic_load(h_->tail, std::memory_order_relaxed);
        if (pos == prev) {  // our cell is not free and nobody moved on: full
          note_full();
          return false;
        }
      }
    }
    return false;
  }

  bool try_pop(T& out) noexcept {
    std::uint64_t pos = atomic_load(h_->head, std::memory_order_relaxed);  // as in try_push
    for (int spin = 0; spin < kMaxSpins; ++spin) {
      Cell* c = cell(pos);
      const std::uint64_t lap = idx_.lap(pos);
      // acquire: pairs with the producer's release of turn 2·lap+1, making value visible.
      if (atomic_load(c->turn, std::memory_order_acquire) == 2 * lap + 1) {
        if (atomic_cas_weak(h_->head, pos, pos + 1, std::memory_order_relaxed,
                            std::memory_order_relaxed)) {
          std::memcpy(static_cast<void*>(&out), &c->value, sizeof(T));
          // release: our read of value happens-before the next lap's producer overwrites it.
          atomic_store(c->turn, 2 * lap + 2, std::memory_order_release);
          return true;
        }
      } else {
        const std::uint64_t prev = pos;
        pos = atomic_load(h_->head, std::memory_order_relaxed);
        if (pos == prev) return false;  // not yet produced and nobody moved on: empty
      }
    }
    return false;
  }

  std::uint32_t capacity() const noexcept { return idx_.capacity(); }
  std::uint64_t size_approx() const noexcept {
    // relaxed: an estimate; clamped because the two loads are not a snapshot.
    std::uint64_t t = atomic_load(h_->tail, std::memory_order_relaxed);
    std::uint64_t hd = atomic_load(h_->head, std::memory_order_relaxed);
    return t >= hd ? std::min<std::uint64_t>(t - hd, capacity()) : 0;
  }
  // True if the next element to pop is not yet published. acquire: as in try_pop.
  bool empty() const noexcept {
    std::uint64_t pos = atomic_load(h_->head, std::memory_order_relaxed);
    return atomic_load(cell(pos)->turn, std::memory_order_acquire) != 2 * idx_.lap(pos) + 1;
  }
  // The consumer's re-check after WaitWord::prepare_wait(): true if no producer has claimed a
  // position past our head. seq_cst: the consumer's half of the handshake (ring.hpp, form 2).
  // A claim whose element is not published yet counts as data: the caller does not sleep, and
  // its next take finds the element once the producer stores it.
  bool idle() const noexcept {
    const std::uint64_t hd = atomic_load(h_->head, std::memory_order_relaxed);
    return atomic_load(h_->tail, std::memory_order_seq_cst) == hd;
  }
  std::uint64_t high_water() const noexcept {
    return atomic_load(h_->high_water, std::memory_order_relaxed);
  }
  WaitWord wait_word() const noexcept { return WaitWord(h_); }
  RingHeader* header() const noexcept { return h_; }
  bool valid() const noexcept { return h_ != nullptr; }

 private:
  using Cell = MpmcCell<T>;
  Cell* cell(std::uint64_t pos) const noexcept {
    return reinterpret_cast<Cell*>(cells_ + idx_(pos) * kStride);
  }
  // The high-water mark. Reading head on every push pulls the consumer's head line into the
  // producer's cache, and the consumer's next head CAS, a locked instruction, then waits
  // for the line to come back (the SPSC consumer's plain store does not wait, so SpscRing
  // can afford its read). It made 1-producer/1-consumer transfer 2-3x slower
  // (bench/mpmc_bench.cpp, mpmc/transfer_1p1c). So the fill is sampled only at every
  // kHighWaterSample-th position, and a push that finds the ring full records capacity
  // (also when a consumer stalled mid-pop holds the cell: producers cannot tell the two
  // apart, and for them the ring is full). Between two samples tail moves by
  // kHighWaterSample, so the mark can miss a peak by up to about that many elements.
  void note_fill(std::uint64_t tail) noexcept {
    if ((tail & (kHighWaterSample - 1)) != 0 && capacity() > kHighWaterSample) return;
    std::uint64_t hd = atomic_load(h_->head, std::memory_order_relaxed);  // estimate only
    std::uint64_t fill = tail > hd ? std::min<std::uint64_t>(tail - hd, capacity()) : 0;
    if (fill > cached_high_water()) {
      set_cached_high_water(fill);
      atomic_fetch_max(h_->high_water, fill);  // several producers: atomic maximum
    }
  }

  void note_full() noexcept {
    if (cached_high_water() < capacity()) {
      set_cached_high_water(capacity());
      atomic_fetch_max(h_->high_water, std::uint64_t{capacity()});
    }
  }

  RingHeader* h_ = nullptr;
  std::byte* cells_ = nullptr;
  RingIndex idx_;
  // This view's last raise, to skip the shared line mostly. The router's view of a subscriber
  // queue is shared by every worker that pushes into it, so the cache is read and written
  // relaxed (a hint: the shm fetch_max keeps the true maximum).
  std::uint64_t cached_high_water() const noexcept { return atomic_load(hw_cache_, std::memory_order_relaxed); }
  void set_cached_high_water(std::uint64_t v) noexcept { atomic_store(hw_cache_, v, std::memory_order_relaxed); }
  alignas(8) std::uint64_t hw_cache_ = 0;
};

}  // namespace zcp::shm
