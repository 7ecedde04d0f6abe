// Ring geometry shared by the SPSC and MPMC rings, the queue descriptor, and the "waiting"
// word used for the eventfd sleep handshake.
//
// A ring at segment offset `off` is:  [RingHeader, 256 B][slot 0][slot 1]…[slot capacity-1]
// Slots start 256 bytes after the header, so a descriptor's offset is all a view needs.
// Capacity is any value from 1 to kMaxRingCapacity: a power of two maps a position to its
// slot with a mask, any other capacity with a modulo (a user who asks for a queue of 3 gets
// exactly 3). RingIndex hides the difference; the branch is perfectly predicted per ring.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include <zcp/expected.hpp>

#include "shm/atomic.hpp"

namespace zcp::shm {

inline constexpr std::uint32_t kRingMagic = 0x5a43'5052U;  // "ZCPR"
// Largest ring. Past this a queue is a latency buffer of seconds, not a queue.
inline constexpr std::uint32_t kMaxRingCapacity = 1U << 24;

enum class RingKind : std::uint32_t {
  kSpsc = 1,  // one producer, one consumer: T[capacity]
  kMpmc = 2,  // Vyukov bounded queue: {seq, T} cells, one per cache line
};

struct RingHeader {
  // Line 0: geometry, written once by format().
  std::uint32_t magic;
  std::uint32_t kind;          // RingKind
  std::uint32_t capacity;      // any value ≥ 1; powers of two index by mask, others by modulo
  std::uint32_t element_size;  // sizeof(T), checked by every view
  std::uint32_t slot_stride;   // bytes per slot
  std::uint32_t peers;         // atomic, router-written: publish ring: the topic's subscribers;
                               // subscriber queue: the topic's publishers (has_subscribers())
  std::uint64_t route_table;   // publish ring of a direct-delivery publisher: segment offset of
                               // its RouteTable (route_table.hpp), written once before the grant;
                               // 0: routed delivery. Other rings: 0.
  std::uint32_t reserved0[8];
  // Line 1: producer side. SPSC: written by the one producer. MPMC: CAS by producers.
  std::uint64_t tail;
  std::uint64_t high_water;     // atomic maximum of the fill level seen by producers
  std::uint64_t producer_full;  // SPSC rings written by a client only: times the producer found
                                // the ring full (publish ring: each publish() that found it full,
                                // whether it then reported WouldBlock or waited for room).
                                // Single writer (the producer): a relaxed load+store.
  std::uint64_t direct_guard;   // publish ring of a direct publisher: (route version << 1) | busy,
                                // set seq_cst while it pushes into subscriber queues; the reactor
                                // frees a removed subscriber's queue only once no guard is busy
                                // with an older version (route_table.hpp). On the producer's line:
                                // written with the tail, read rarely by the reactor.
  std::uint64_t refill_at;      // loan ring: the consumer position at which the router wants a
                                // kick to refill (written by the router, the producer, relaxed:
                                // a hint); 0: none. Other rings: 0.
  std::uint64_t wakeups;        // publish ring of a direct publisher: eventfd writes it made to
                                // wake subscribers. Single writer (the publisher): relaxed.
  std::uint64_t reserved1[2];
  // Line 2: consumer side.
  std::uint64_t head;
  std::uint64_t routed;          // atomic, router-written on a publish ring: messages fully
                                 // delivered (or returned); flush() waits for it to reach tail
  std::uint64_t consumer_empty;  // SPSC rings read by a client only: times the consumer found
                                 // the ring empty when it needed an element (loan ring: loan()
                                 // found no chunk). Single writer (the consumer).
  std::uint64_t reserved2[5];
  // Line 3: the sleep handshake, written by the consumer when it sleeps and by the producer
  // that wakes it; on its own line so that neither index line bounces when it changes.
  std::uint32_t waiting;
  std::uint32_t reserved3;
  std::uint64_t dropped;  // atomic, router-written: subscriber queue: messages its policy
                          // dropped (drop_oldest evictions, drop_newest refusals)
  std::uint64_t reserved4[6];
};
static_assert(sizeof(RingHeader) == 256, "four cache lines: geometry, tail, head, waiting");
static_assert(offsetof(RingHeader, peers) == 20);
static_assert(offsetof(RingHeader, tail) == 64, "producer index on its own cache line");
static_assert(offsetof(RingHeader, head) == 128, "consumer index on its own cache line");
static_assert(offsetof(RingHeader, producer_full) == 80);
static_assert(offsetof(RingHeader, route_table) == 24);
static_assert(offsetof(RingHeader, direct_guard) == 88);
static_assert(offsetof(RingHeader, refill_at) == 96);
static_assert(offsetof(RingHeader, wakeups) == 104);
static_assert(offsetof(RingHeader, routed) == 136);
static_assert(offsetof(RingHeader, consumer_empty) == 144);
static_assert(offsetof(RingHeader, waiting) == 192, "waiting word on its own cache line");
static_assert(offsetof(RingHeader, dropped) == 200);
static_assert(std::is_trivially_copyable_v<RingHeader>);

// Where a ring or queue lives and its shape. Handed to clients in protocol replies; replaces
// the old daemon's `slotIndex * 1024` placeholder.
struct QueueDescriptor {
  std::uint64_t offset;  // segment offset of the RingHeader
  std::uint32_t capacity;
  std::uint32_t element_size;
  std::uint32_t align;  // alignment of the block holding it
  std::uint32_t kind;   // RingKind
};
static_assert(sizeof(QueueDescriptor) == 24);
static_assert(std::is_trivially_copyable_v<QueueDescriptor>);

// Maps a 64-bit position to a slot.
class RingIndex {
 public:
  RingIndex() = default;
  explicit RingIndex(std::uint32_t capacity) noexcept
      : capacity_(capacity),
        mask_(is_pow2(capacity) ? capacity - 1 : 0),
        shift_(static_cast<std::uint32_t>(__builtin_ctz(capacity))),
        pow2_(is_pow2(capacity)) {}
  // The slot of position pos.
  std::uint64_t operator()(std::uint64_t pos) const noexcept {
    return pow2_ ? (pos & mask_) : (pos % capacity_);
  }
  // How many times the ring has wrapped at position pos (pos / capacity).
  std::uint64_t lap(std::uint64_t pos) const noexcept {
    return pow2_ ? (pos >> shift_) : (pos / capacity_);
  }
  std::uint32_t capacity() const noexcept { return capacity_; }

 private:
  std::uint32_t capacity_ = 1;
  std::uint32_t mask_ = 0;
  std::uint32_t shift_ = 0;
  bool pow2_ = true;
};

template <class T>
struct MpmcCell {
  std::uint64_t turn;  // the cell's turn word (mpmc_ring.hpp: a turn, a producer tag, a state)
  T value;
};

template <class T>
constexpr std::uint32_t slot_stride(RingKind kind) noexcept {
  // MPMC cells get a whole cache line each: producers writing cell i must not invalidate the
  // line a consumer is reading cell i-1 from. SPSC slots pack tightly: the producer and
  // consumer are apart by the fill level, and packing halves the lines streamed.
  return kind == RingKind::kMpmc
             ? static_cast<std::uint32_t>(align_up(sizeof(MpmcCell<T>), kCacheLine))
             : static_cast<std::uint32_t>(sizeof(T));
}

inline std::uint64_t ring_bytes(std::uint32_t capacity, std::uint32_t stride) noexcept {
  return sizeof(RingHeader) + std::uint64_t{capacity} * stride;
}

// Checks a ring header found at `off` in a segment of `segment_size` bytes (untrusted: a
// client may have written anything there). Returns a message naming what is wrong.
std::string ring_problem(const std::byte* segment_base, std::uint64_t segment_size,
                         const QueueDescriptor& d, std::uint32_t expect_stride);

// ---------------------------------------------------------------------------------------
// The sleep handshake (eventfd). Consumer: prepare_wait(), re-check for data, sleep only if
// still empty. Producer: after publishing, tell whether to write the consumer's eventfd.
//
// Each side stores one word and then loads the other's (consumer: waiting, then the ring;
// producer: the ring, then waiting): the StoreLoad pattern that plain acquire/release cannot
// order. Two forms, both checked by ThreadSanitizer (no standalone fence, which it cannot
// model):
//
// 1. Both sides read-modify-write `waiting` (the consumer exchange(1), the producer
//    wake_needed()'s exchange(0)). RMWs on one word are totally ordered, each reading the
//    latest value:
//    (a) the consumer's exchange comes first: the producer's exchange reads 1 and wakes.
//    (b) the producer's exchange comes first: the consumer's exchange reads the value it
//        wrote; producer release + consumer acquire synchronize, so the producer's element
//        stores (sequenced before) are visible to the consumer's re-check, which finds data.
//    Costs the producer one locked instruction per check. Used for SPSC publish rings (the
//    router worker parks on them; publishers kick it).
// 2. The publication is a seq_cst RMW on the ring's tail (an MPMC push's CAS: a locked
//    instruction anyway), the producer then loads `waiting` seq_cst (needs_wake(), a plain
//    load on x86), and the consumer's exchange(1) is followed by a seq_cst load of the tail
//    (MpmcRing::idle()). All four are in the single seq_cst order S:
//    (a) the producer's load precedes the consumer's exchange in S: then its tail CAS does
//        too, and the consumer's tail load, later in S, sees the new tail: it does not sleep.
//    (b) the consumer's exchange precedes the producer's load: the load reads 1.
//    So the producer pays no locked instruction unless the consumer sleeps, and then calls
//    wake_needed() (an exchange), which makes exactly one of several producers (publishers,
//    router workers) write the eventfd. Used for subscriber queues.
// ---------------------------------------------------------------------------------------
class WaitWord {
 public:
  explicit WaitWord(RingHeader* h) noexcept : h_(h) {}

  // Consumer, before its final emptiness check. seq_cst: acquire pairs with the producer's
  // release in wake_needed() (form 1, case b); seq_cst places it in the order S of form 2. On
  // x86 every exchange is the same locked instruction.
  void prepare_wait() noexcept { atomic_exchange(h_->waiting, 1U, std::memory_order_seq_cst); }
  // Consumer, after waking or after the re-check found data. relaxed: it publishes nothing;
  // a producer that still reads 1 merely writes one spurious eventfd count.
  void cancel_wait() noexcept { atomic_store(h_->waiting, 0U, std::memory_order_relaxed); }

  // Producer, after publishing elements. True exactly once per sleep. acq_rel: release makes
  // the published elements visible to a consumer whose exchange reads ours (form 1, case b).
  bool wake_needed() noexcept {
    return atomic_exchange(h_->waiting, 0U, std::memory_order_acq_rel) != 0;
  }
  // Producer of form 2, after its seq_cst publication: whether the consumer announced a sleep
  // (then call wake_needed()). seq_cst: the load of form 2 above.
  bool needs_wake() const noexcept {
    return atomic_load(h_->waiting, std::memory_order_seq_cst) != 0;
  }
  bool waiting() const noexcept { return atomic_load(h_->waiting, std::memory_order_relaxed) != 0; }

 private:
  RingHeader* h_;
};

// Writes a fresh ring header at `offset` and zeroes its slots. T decides the slot stride.
template <class T>
QueueDescriptor format_ring(std::byte* segment_base, std::uint64_t offset, RingKind kind,
                            std::uint32_t capacity) noexcept {
  static_assert(std::is_trivially_copyable_v<T>,
                "ring elements are copied bytewise across processes");
  auto* h = reinterpret_cast<RingHeader*>(segment_base + offset);
  const std::uint32_t stride = slot_stride<T>(kind);
  // Zero is the initial state of both kinds: SPSC indices at 0, MPMC cells at turn 0.
  std::memset(static_cast<void*>(h), 0, ring_bytes(capacity, stride));
  h->magic = kRingMagic;
  h->kind = static_cast<std::uint32_t>(kind);
  h->capacity = capacity;
  h->element_size = sizeof(T);
  h->slot_stride = stride;
  return QueueDescriptor{offset, capacity, sizeof(T), kCacheLine, static_cast<std::uint32_t>(kind)};
}

}  // namespace zcp::shm
