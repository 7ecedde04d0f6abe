// Bounded multi-producer multi-consumer queue in shared memory (the turn-based variant of
// Dmitry Vyukov's queue, as in rigtorp/MPMCQueue). Subscriber queues use it: several router
// workers may feed one subscriber, and under the drop_oldest policy a router evicts (pops)
// while the subscriber takes. Layout: ring.hpp; each cell is {turn, value} on its own line.
//
// Cell protocol, for position p, lap L = p / capacity and cell c = cells[p mod capacity]. A
// cell's turn word holds a turn (modulo 2^32, in its low half) and a state (top bits):
//   turn 2L             the cell is free for the producer of position p
//   busy(L, tag)        a producer (identified by `tag`) claimed p and writes the value
//   turn 2L + 1         the cell holds the element of position p, for its consumer
//   turn 2L + 2         consumed: free for the producer of p + capacity (lap L + 1)
//   skipped(L)          the producer of p died before it published: consumers step over it
// A producer claims p by CAS on tail, then the cell by CAS 2L -> busy (acquire: its value
// writes stay after the claim), writes the value and publishes by storing 2L + 1 (release).
// Consumers claim p by CAS on head, read, and store 2L + 2. Unlike the sequence-number
// variant, turns tell "full" from "free" even at capacity 1.
//
// Abandoned claims. Subscriber queues are also written by client processes (direct
// publishers), which may die at any instruction. One that dies between its claim of p and its
// publication would stop every consumer at p for good. skip_abandoned() repairs that, once the
// producer is known to be gone: it turns p's cell into skipped(L) if it is still 2L (claimed on
// tail, no value written yet: a live producer that is merely slow fails its busy CAS and
// claims another position) or busy with the dead producer's tag (it will never write again).
// A busy cell of a live producer is never touched, so no value write can race with a reuse.
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
  static_assert(std::is_trivially_copyable_v<T>,
                "ring elements are copied bytewise across processes");
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

  // Producer tags (busy cells): the router's workers push with kRouterTag; a direct
  // publisher with publisher_tag(its id), never 0.
  static constexpr std::uint32_t kRouterTag = 0;
  static constexpr std::uint32_t publisher_tag(std::uint32_t publisher_id) noexcept {
    return 1 + publisher_id % (kTagMask - 1);
  }

  // The turn word (see the top of the file): a turn modulo 2^32, a tag, a state. Public for
  // tests that play a producer dying at each step.
  static constexpr std::uint64_t kTurnMask = 0xffff'ffffULL;
  static constexpr std::uint32_t kTagMask = (1U << 30) - 1;
  static constexpr std::uint64_t kBusy = 1ULL << 62;
  static constexpr std::uint64_t kSkipped = 2ULL << 62;
  static constexpr std::uint64_t turn(std::uint64_t lap, std::uint64_t k) noexcept {
    return (2 * lap + k) & kTurnMask;
  }
  static constexpr std::uint64_t busy(std::uint64_t lap, std::uint32_t tag) noexcept {
    return kBusy | (std::uint64_t{tag & kTagMask} << 32) | turn(lap, 0);
  }
  static constexpr std::uint64_t skipped(std::uint64_t lap) noexcept {
    return kSkipped | turn(lap, 0);
  }

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

  // Pushes as producer `tag` (kRouterTag or publisher_tag()). False if the queue is full.
  bool try_push(const T& value, std::uint32_t tag = kRouterTag) noexcept {
    // relaxed: the tail is only a claim counter; cell data is ordered by the cell's turn.
    std::uint64_t pos = atomic_load(h_->tail, std::memory_order_relaxed);
    for (int spin = 0; spin < kMaxSpins; ++spin) {
      Cell* c = cell(pos);
      const std::uint64_t lap = idx_.lap(pos);
      // acquire: pairs with the consumer's release of turn 2·lap (one lap ago), so its read
      // of the old value happens-before our overwrite.
      std::uint64_t t = atomic_load(c->turn, std::memory_order_acquire);
      if (t == turn(lap, 0)) {
        // seq_cst on success: the claim publishes no data (the turn store below does), but it
        // is the producer's half of the sleep handshake (ring.hpp, form 2): a consumer that
        // announced a sleep and then loads the tail sees this claim, or our later needs_wake()
        // sees its announcement. On x86 a CAS is one locked instruction whatever the order.
        if (atomic_cas_weak(h_->tail, pos, pos + 1, std::memory_order_seq_cst,
                            std::memory_order_relaxed)) {
          // The cell: acquire on success keeps our value writes after the claim (a claim that
          // skip_abandoned() took from us is never written to). Failure: the cell was skipped
          // under us (we were taken for dead): that position is lost, claim another.
          if (!atomic_cas_strong(c->turn, t, busy(lap, tag), std::memory_order_acquire,
                                 std::memory_order_relaxed)) {
            pos = atomic_load(h_->tail, std::memory_order_relaxed);
            continue;
          }
          std::memcpy(static_cast<void*>(&c->value), &value, sizeof(T));
          // release: publishes the value; pairs with the consumer's acquire of turn.
          atomic_store(c->turn, turn(lap, 1), std::memory_order_release);
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
      const std::uint64_t t = atomic_load(c->turn, std::memory_order_acquire);
      if (t == turn(lap, 1) || t == skipped(lap)) {
        if (atomic_cas_weak(h_->head, pos, pos + 1, std::memory_order_relaxed,
                            std::memory_order_relaxed)) {
          const bool full = t == turn(lap, 1);
          if (full) std::memcpy(static_cast<void*>(&out), &c->value, sizeof(T));
          // release: our read of value happens-before the next lap's producer overwrites it.
          atomic_store(c->turn, turn(lap, 2), std::memory_order_release);
          if (full) return true;
          pos = pos + 1;  // stepped over an abandoned claim
          continue;
        }
      } else {
        const std::uint64_t prev = pos;
        pos = atomic_load(h_->head, std::memory_order_relaxed);
        if (pos == prev) return false;  // not yet produced and nobody moved on: empty
      }
    }
    return false;
  }

  // Repairs claims that producer `tag` left unpublished when it died (see the top of the
  // file): only once that producer can no longer run (its process exited). Returns how many
  // cells it turned into skipped ones. Never tag kRouterTag.
  std::size_t skip_abandoned(std::uint32_t tag) noexcept {
    const std::uint64_t hd = atomic_load(h_->head, std::memory_order_acquire);
    const std::uint64_t tl = atomic_load(h_->tail, std::memory_order_acquire);
    if (tl - hd > capacity()) return 0;  // indices a client scribbled on: nothing to trust
    std::size_t n = 0;
    for (std::uint64_t pos = hd; pos != tl; ++pos) {
      Cell* c = cell(pos);
      const std::uint64_t lap = idx_.lap(pos);
      std::uint64_t t = atomic_load(c->turn, std::memory_order_acquire);
      if (t != turn(lap, 0) && t != busy(lap, tag)) continue;
      // acq_rel: whoever CASes the cell next (a consumer stepping over it) sees our state.
      if (atomic_cas_strong(c->turn, t, skipped(lap), std::memory_order_acq_rel,
                            std::memory_order_relaxed))
        ++n;
    }
    return n;
  }

  std::uint32_t capacity() const noexcept { return idx_.capacity(); }
  std::uint64_t size_approx() const noexcept {
    // relaxed: an estimate; clamped because the two loads are not a snapshot.
    std::uint64_t t = atomic_load(h_->tail, std::memory_order_relaxed);
    std::uint64_t hd = atomic_load(h_->head, std::memory_order_relaxed);
    return t >= hd ? std::min<std::uint64_t>(t - hd, capacity()) : 0;
  }
  // True if the next element to pop is not yet published. acquire: as in try_pop. (A skipped
  // cell counts as data: the next pop steps over it.)
  bool empty() const noexcept {
    const std::uint64_t pos = atomic_load(h_->head, std::memory_order_relaxed);
    const std::uint64_t lap = idx_.lap(pos);
    const std::uint64_t t = atomic_load(cell(pos)->turn, std::memory_order_acquire);
    return t != turn(lap, 1) && t != skipped(lap);
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
  std::uint64_t cached_high_water() const noexcept {
    return atomic_load(hw_cache_, std::memory_order_relaxed);
  }
  void set_cached_high_water(std::uint64_t v) noexcept {
    atomic_store(hw_cache_, v, std::memory_order_relaxed);
  }
  alignas(8) std::uint64_t hw_cache_ = 0;
};

}  // namespace zcp::shm
