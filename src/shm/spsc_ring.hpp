// Single-producer single-consumer ring in shared memory (Lamport queue with cached indices,
// after rigtorp/SPSCQueue). Layout: ring.hpp. Two views, one per side, each exposing only
// what its side may do and keeping a private cached copy of the other side's index, so the
// shared index lines are read only when the cache says full (producer) or empty (consumer).
//
// Indices are 64-bit and never wrap in practice; slot = RingIndex(position).
// A consumer must treat the producer as untrusted (a client process): it checks that the
// published tail is within `capacity` of its head and reports corruption otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <zcp/expected.hpp>

#include "shm/ring.hpp"

namespace zcp::shm {

template <class T>
class SpscRingBase {
 public:
  static_assert(std::is_trivially_copyable_v<T>,
                "ring elements are copied bytewise across processes");
  static constexpr std::uint32_t kStride = slot_stride<T>(RingKind::kSpsc);

  std::uint32_t capacity() const noexcept { return idx_.capacity(); }
  // Fill level estimate: exact when neither side is mid-operation.
  std::uint64_t size_approx() const noexcept {
    // relaxed: an estimate for statistics and policies; it publishes nothing.
    std::uint64_t t = atomic_load(h_->tail, std::memory_order_relaxed);
    std::uint64_t hd = atomic_load(h_->head, std::memory_order_relaxed);
    return t >= hd ? std::min<std::uint64_t>(t - hd, capacity()) : 0;
  }
  std::uint64_t high_water() const noexcept {
    return atomic_load(h_->high_water, std::memory_order_relaxed);
  }
  WaitWord wait_word() const noexcept { return WaitWord(h_); }
  RingHeader* header() const noexcept { return h_; }
  bool valid() const noexcept { return h_ != nullptr; }

 protected:
  SpscRingBase() = default;
  void bind(std::byte* segment_base, std::uint64_t offset) noexcept {
    h_ = reinterpret_cast<RingHeader*>(segment_base + offset);
    slots_ = reinterpret_cast<T*>(segment_base + offset + sizeof(RingHeader));
    idx_ = RingIndex(h_->capacity);
  }
  T* slot(std::uint64_t pos) const noexcept { return &slots_[idx_(pos)]; }
  static std::string check(std::byte* segment_base, std::uint64_t segment_size,
                           const QueueDescriptor& d) {
    if (d.kind != static_cast<std::uint32_t>(RingKind::kSpsc) || d.element_size != sizeof(T)) {
      return "descriptor is not an SPSC ring of " + std::to_string(sizeof(T)) + "-byte elements";
    }
    return ring_problem(segment_base, segment_size, d, kStride);
  }

  RingHeader* h_ = nullptr;
  T* slots_ = nullptr;
  RingIndex idx_;
};

template <class T>
class SpscProducer : public SpscRingBase<T> {
  using Base = SpscRingBase<T>;

 public:
  SpscProducer() = default;

  static Expected<SpscProducer, std::string> attach(std::byte* segment_base,
                                                    std::uint64_t segment_size,
                                                    const QueueDescriptor& d) {
    if (auto p = Base::check(segment_base, segment_size, d); !p.empty()) return Unexpected(p);
    SpscProducer v;
    v.bind(segment_base, d.offset);
    // Resume where the ring is: we are its only producer, so tail is ours.
    v.tail_ = atomic_load(v.h_->tail, std::memory_order_relaxed);
    v.head_cache_ = atomic_load(v.h_->head, std::memory_order_acquire);
    return v;
  }

  bool try_push(const T& value) noexcept {
    T* s = claim();
    if (s == nullptr) return false;
    std::memcpy(static_cast<void*>(s), &value, sizeof(T));
    commit();
    return true;
  }

  // A push in two steps, for a producer that must write the element into the ring before it
  // publishes it (a direct publisher's record: the router reads an unpublished one if the
  // producer dies mid-way). claim() returns the slot at the tail, or nullptr if the ring is
  // full; commit() publishes it. Nothing else may run on this view in between.
  T* claim() noexcept {
    if (tail_ - head_cache_ >= this->capacity()) {
      // acquire: pairs with the consumer's release store of head, so its reads of the slots
      // it freed happen-before we overwrite them.
      head_cache_ = atomic_load(this->h_->head, std::memory_order_acquire);
      if (tail_ - head_cache_ >= this->capacity()) return nullptr;
    }
    return this->slot(tail_);
  }
  void commit() noexcept {
    ++tail_;
    // release: publishes the slot written since claim(); pairs with the consumer's acquire
    // of tail.
    atomic_store(this->h_->tail, tail_, std::memory_order_release);
    note_fill();
  }
  // The position the next push takes (elements pushed so far).
  std::uint64_t position() const noexcept { return tail_; }
  // Elements pushed and not yet consumed, as last seen (an over-estimate: the consumer may have
  // moved on), and exactly (one load of the consumer's line).
  std::uint64_t fill_cached() const noexcept { return tail_ - head_cache_; }
  std::uint64_t fill() noexcept {
    head_cache_ = atomic_load(this->h_->head, std::memory_order_acquire);  // as in claim()
    return tail_ - head_cache_;
  }

  // Pushes up to n elements with one tail store; returns how many fit.
  std::size_t try_push_batch(const T* values, std::size_t n) noexcept {
    std::uint64_t room = this->capacity() - (tail_ - head_cache_);
    if (room < n) {
      head_cache_ = atomic_load(this->h_->head, std::memory_order_acquire);  // as in claim()
      room = this->capacity() - (tail_ - head_cache_);
    }
    std::size_t k = n < room ? n : static_cast<std::size_t>(room);
    for (std::size_t i = 0; i < k; ++i) {
      std::memcpy(static_cast<void*>(this->slot(tail_ + i)), &values[i], sizeof(T));
    }
    if (k == 0) return 0;
    tail_ += k;
    atomic_store(this->h_->tail, tail_, std::memory_order_release);  // as in commit()
    note_fill();
    return k;
  }

 private:
  void note_fill() noexcept {
    // head_cache_ may be stale (too small), so tail_ - head_cache_ over-estimates; refresh
    // it before raising the mark, which happens rarely (only on a new maximum).
    std::uint64_t fill = tail_ - head_cache_;
    if (fill > hw_cache_) {
      std::uint64_t exact = tail_ - atomic_load(this->h_->head, std::memory_order_relaxed);
      if (exact > hw_cache_) {
        hw_cache_ = exact;
        atomic_store(this->h_->high_water, exact, std::memory_order_relaxed);  // statistic
      }
    }
  }

  std::uint64_t tail_ = 0;
  std::uint64_t head_cache_ = 0;
  std::uint64_t hw_cache_ = 0;
};

template <class T>
class SpscConsumer : public SpscRingBase<T> {
  using Base = SpscRingBase<T>;

 public:
  SpscConsumer() = default;

  static Expected<SpscConsumer, std::string> attach(std::byte* segment_base,
                                                    std::uint64_t segment_size,
                                                    const QueueDescriptor& d) {
    if (auto p = Base::check(segment_base, segment_size, d); !p.empty()) return Unexpected(p);
    SpscConsumer v;
    v.bind(segment_base, d.offset);
    v.head_ = atomic_load(v.h_->head, std::memory_order_relaxed);  // we are the only consumer
    v.tail_cache_ = v.head_;
    return v;
  }

  bool try_pop(T& out) noexcept {
    if (head_ == tail_cache_ && !refresh()) return false;
    std::memcpy(static_cast<void*>(&out), this->slot(head_), sizeof(T));
    ++head_;
    // release: our read of the slot happens-before the producer's reuse of it; pairs with the
    // producer's acquire load of head.
    atomic_store(this->h_->head, head_, std::memory_order_release);
    return true;
  }

  // Pops up to max elements with one head store; returns how many.
  std::size_t try_pop_batch(T* out, std::size_t max) noexcept {
    std::uint64_t avail = tail_cache_ - head_;
    if (avail < max) {
      refresh();  // the cache may be behind: look at the shared tail once
      avail = tail_cache_ - head_;
      if (avail == 0) return 0;
    }
    std::size_t k = max < avail ? max : static_cast<std::size_t>(avail);
    for (std::size_t i = 0; i < k; ++i) {
      std::memcpy(static_cast<void*>(&out[i]), this->slot(head_ + i), sizeof(T));
    }
    head_ += k;
    atomic_store(this->h_->head, head_, std::memory_order_release);  // as in try_pop
    return k;
  }

  bool empty() noexcept { return head_ == tail_cache_ && !refresh(); }
  // The position the next pop takes (elements popped so far).
  std::uint64_t position() const noexcept { return head_; }

  // The slot at the published tail: what a producer that claim()ed but never commit()ted left
  // there (or an old element). Only for a ring whose producer is gone; untrusted like all.
  T unpublished() const noexcept {
    // acquire: as in refresh(); the producer's stores before its last commit are visible.
    const std::uint64_t t = atomic_load(this->h_->tail, std::memory_order_acquire);
    T out;
    std::memcpy(static_cast<void*>(&out), this->slot(t), sizeof(T));
    return out;
  }

  // True once the producer published a tail that no honest producer could (more than
  // capacity ahead of our head, or behind it). The ring is then unusable.
  bool corrupted() const noexcept { return corrupt_; }

 private:
  bool refresh() noexcept {
    // acquire: pairs with the producer's release store of tail, making the slots up to it
    // visible to our reads.
    std::uint64_t t = atomic_load(this->h_->tail, std::memory_order_acquire);
    if (t - head_ > this->capacity()) {  // also catches t < head_ (wraps huge)
      corrupt_ = true;
      return false;
    }
    tail_cache_ = t;
    return t != head_;
  }

  std::uint64_t head_ = 0;
  std::uint64_t tail_cache_ = 0;
  bool corrupt_ = false;
};

}  // namespace zcp::shm
