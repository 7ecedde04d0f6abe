// ChunkLedger: who owns every chunk, kept in the daemon's private memory.
//
// Each chunk has a reference count and a generation here, and each port (publisher or
// subscriber) has an ownership bitmap with one bit per chunk. Clients never see this
// memory, so nothing a client writes into the segment can make the router free a chunk
// early, free it twice, or lose it: a port's chunks are exactly its set bits, and reclaiming
// a dead process is one walk over its ports' bitmaps.
//
// Reference counts: 1 while a publisher holds a loan (or the router carries it mid-route);
// +1 per subscriber port that owns it (in its queue, taken, or in its release ring); +1 while
// it is in a publisher's history. The last drop returns the chunk to the pool's free list.
//
// Several router workers may share the ledger: counts and bits are atomic. A bit is set and
// cleared only by the router (and the reactor when it reclaims a retired port, after every
// worker acknowledged it no longer touches that port). With a single worker (the default),
// each port's bits and count have one writer at a time, and an owner set made for that case
// (`shared` false) updates them with a relaxed load and store instead of a locked
// read-modify-write: two locked instructions fewer per give and per release. Reference counts
// stay read-modify-writes: the reactor's reclaim of a retired port drops references to chunks
// that live ports share, concurrently with the worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "shm/chunk_pool.hpp"

namespace zcp::router {

class ChunkLedger;

// One port's set of owned chunks.
class OwnerSet {
 public:
  OwnerSet() = default;
  // shared: several router workers may update this set concurrently (locked RMWs); false: one
  // writer at a time (see the file comment).
  OwnerSet(std::size_t chunks, bool shared);
  // Moves are for setting a port up, before any worker can see it.
  OwnerSet(OwnerSet&& o) noexcept
      : words_(std::move(o.words_)),
        nwords_(o.nwords_),
        count_(o.count_.load(std::memory_order_relaxed)),
        shared_(o.shared_) {}
  OwnerSet& operator=(OwnerSet&& o) noexcept {
    words_ = std::move(o.words_);
    nwords_ = o.nwords_;
    count_.store(o.count_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    shared_ = o.shared_;
    return *this;
  }
  std::uint32_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  friend class ChunkLedger;
  bool test_and_set(std::uint32_t gid) noexcept;    // false if it was already set
  bool test_and_clear(std::uint32_t gid) noexcept;  // false if it was not set
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
  std::size_t nwords_ = 0;
  std::atomic<std::uint32_t> count_{0};
  bool shared_ = true;
};

enum class LedgerError : std::uint8_t {
  kBadRef,     // class/index out of range
  kStale,      // generation does not match the chunk's current loan
  kNotOwned,   // the port does not own this chunk (a hostile or confused client)
  kExhausted,  // the pool class has no free chunk
};
const char* to_string(LedgerError e) noexcept;

class ChunkLedger {
 public:
  ChunkLedger() = default;
  // The pool must be attached to the segment; the ledger covers all its classes.
  // shared_ports: more than one router worker may update a port's owner set at once (several
  // workers deliver to one subscriber). False for a single-worker router.
  explicit ChunkLedger(shm::ChunkPool pool, bool shared_ports = true);

  std::size_t total_chunks() const noexcept { return total_; }
  OwnerSet make_owner_set() const { return OwnerSet(total_, shared_ports_); }

  // Takes a free chunk of `pool_class` from the pool for `owner` (a publisher's loan).
  Expected<shm::ChunkRef, LedgerError> lend(OwnerSet& owner, std::uint16_t pool_class) noexcept;
  // Moves a chunk out of `from` into the router's hands (a publication or a return):
  // checks the reference is current and owned by `from`. The reference count is unchanged.
  Expected<void, LedgerError> take(OwnerSet& from, const shm::ChunkRef& ref) noexcept;
  // One more reference for `to` (a subscriber queue push, history). The caller holds one.
  Expected<void, LedgerError> give(OwnerSet& to, const shm::ChunkRef& ref) noexcept;
  // `from` gives up its reference (a subscriber release, an eviction).
  Expected<void, LedgerError> release(OwnerSet& from, const shm::ChunkRef& ref) noexcept;
  // Drops a reference the router holds itself (mid-route, history).
  void drop(const shm::ChunkRef& ref) noexcept;
  // Drops every reference `owner` holds; returns how many. For retired ports only.
  std::uint32_t reclaim(OwnerSet& owner) noexcept;

  // Checks a reference read from a ring (untrusted) without changing anything.
  Expected<std::uint32_t, LedgerError> check(const shm::ChunkRef& ref) const noexcept;
  std::uint32_t refcount(const shm::ChunkRef& ref) const noexcept;
  shm::ChunkPool& pool() noexcept { return pool_; }

 private:
  void drop_gid(std::uint32_t gid, std::uint16_t cls, std::uint32_t index) noexcept;

  shm::ChunkPool pool_;
  bool shared_ports_ = true;
  std::size_t total_ = 0;
  std::uint32_t class_base_[shm::kMaxPoolClasses] = {};
  std::uint32_t class_count_[shm::kMaxPoolClasses] = {};
  std::unique_ptr<std::atomic<std::uint32_t>[]> refs_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> gens_;
};

// Inline: called several times per delivery by the router.
inline Expected<std::uint32_t, LedgerError> ChunkLedger::check(
    const shm::ChunkRef& ref) const noexcept {
  if (ref.pool_class >= pool_.class_count() || ref.index >= class_count_[ref.pool_class]) {
    return Unexpected(LedgerError::kBadRef);
  }
  const std::uint32_t gid = class_base_[ref.pool_class] + ref.index;
  // relaxed: generations change only while the chunk is free (at lend), and a reference
  // that races with that is stale whichever value we read.
  if (gens_[gid].load(std::memory_order_relaxed) != ref.generation)
    return Unexpected(LedgerError::kStale);
  return gid;
}

inline Expected<void, LedgerError> ChunkLedger::take(OwnerSet& from,
                                                     const shm::ChunkRef& ref) noexcept {
  auto gid = check(ref);
  if (!gid) return Unexpected(gid.error());
  if (!from.test_and_clear(*gid)) return Unexpected(LedgerError::kNotOwned);
  return {};
}

inline Expected<void, LedgerError> ChunkLedger::give(OwnerSet& to,
                                                     const shm::ChunkRef& ref) noexcept {
  auto gid = check(ref);
  if (!gid) return Unexpected(gid.error());
  if (!to.test_and_set(*gid)) return Unexpected(LedgerError::kNotOwned);  // already owned: a bug
  // relaxed: the caller holds a reference, so the count cannot reach 0 concurrently.
  refs_[*gid].fetch_add(1, std::memory_order_relaxed);
  return {};
}

inline Expected<void, LedgerError> ChunkLedger::release(OwnerSet& from,
                                                        const shm::ChunkRef& ref) noexcept {
  auto gid = check(ref);
  if (!gid) return Unexpected(gid.error());
  if (!from.test_and_clear(*gid)) return Unexpected(LedgerError::kNotOwned);
  drop_gid(*gid, ref.pool_class, ref.index);
  return {};
}

inline void ChunkLedger::drop(const shm::ChunkRef& ref) noexcept {
  if (auto gid = check(ref)) drop_gid(*gid, ref.pool_class, ref.index);
}

inline bool OwnerSet::test_and_set(std::uint32_t gid) noexcept {
  const std::uint64_t bit = 1ULL << (gid % 64);
  std::atomic<std::uint64_t>& word = words_[gid / 64];
  // relaxed everywhere: the bit records ownership for the router's own later decisions; data
  // in the chunk is published through the rings, not through this word.
  if (!shared_) {
    // One writer at a time: a plain read-modify-write of relaxed atomics is exact.
    const std::uint64_t v = word.load(std::memory_order_relaxed);
    if (v & bit) return false;
    word.store(v | bit, std::memory_order_relaxed);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return true;
  }
  if (word.fetch_or(bit, std::memory_order_relaxed) & bit) return false;
  count_.fetch_add(1, std::memory_order_relaxed);  // statistic and limit, read relaxed
  return true;
}

inline bool OwnerSet::test_and_clear(std::uint32_t gid) noexcept {
  const std::uint64_t bit = 1ULL << (gid % 64);
  std::atomic<std::uint64_t>& word = words_[gid / 64];
  if (!shared_) {  // one writer at a time, relaxed: as in test_and_set
    const std::uint64_t v = word.load(std::memory_order_relaxed);
    if (!(v & bit)) return false;
    word.store(v & ~bit, std::memory_order_relaxed);
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return true;
  }
  // relaxed: as above. The RMW makes a double release by two workers impossible: exactly
  // one of them sees the bit set.
  if (!(word.fetch_and(~bit, std::memory_order_relaxed) & bit)) return false;
  count_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

}  // namespace zcp::router
