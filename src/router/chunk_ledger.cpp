#include "router/chunk_ledger.hpp"

#include "shm/atomic.hpp"

namespace zcp::router {

const char* to_string(LedgerError e) noexcept {
  switch (e) {
    case LedgerError::kBadRef:
      return "chunk reference out of range";
    case LedgerError::kStale:
      return "stale chunk reference";
    case LedgerError::kNotOwned:
      return "chunk not owned by this port";
    case LedgerError::kExhausted:
      return "pool class exhausted";
  }
  return "unknown ledger error";
}

OwnerSet::OwnerSet(std::size_t chunks, bool shared)
    : words_(new std::atomic<std::uint64_t>[(chunks + 63) / 64]),
      nwords_((chunks + 63) / 64),
      shared_(shared) {
  for (std::size_t i = 0; i < nwords_; ++i)
    words_[i].store(0, std::memory_order_relaxed);
}

ChunkLedger::ChunkLedger(shm::ChunkPool pool, bool shared_ports)
    : pool_(pool), shared_ports_(shared_ports) {
  std::uint32_t base = 0;
  for (std::size_t c = 0; c < pool_.class_count(); ++c) {
    class_base_[c] = base;
    class_count_[c] = pool_.stats(c).total;
    base += class_count_[c];
  }
  total_ = base;
  refs_.reset(new std::atomic<std::uint32_t>[total_]);
  gens_.reset(new std::atomic<std::uint32_t>[total_]);
  for (std::size_t i = 0; i < total_; ++i) {
    refs_[i].store(0, std::memory_order_relaxed);
    gens_[i].store(0, std::memory_order_relaxed);
  }
}

std::uint32_t ChunkLedger::refcount(const shm::ChunkRef& ref) const noexcept {
  auto gid = check(ref);
  return gid ? refs_[*gid].load(std::memory_order_relaxed) : 0;
}

Expected<shm::ChunkRef, LedgerError> ChunkLedger::lend(OwnerSet& owner,
                                                       std::uint16_t cls) noexcept {
  auto chunk = pool_.loan_from(cls);
  if (!chunk) return Unexpected(LedgerError::kExhausted);
  const shm::ChunkRef ref = chunk->ref;
  const std::uint32_t gid = class_base_[cls] + ref.index;
  gens_[gid].store(ref.generation, std::memory_order_relaxed);  // see check()
  // relaxed: a fresh chunk from the pool; the pool's acquire pop ordered its previous use.
  refs_[gid].store(1, std::memory_order_relaxed);
  owner.test_and_set(gid);
  return ref;
}

void ChunkLedger::drop_gid(std::uint32_t gid, std::uint16_t cls, std::uint32_t index) noexcept {
  // acq_rel: release orders this holder's use before the chunk's reuse; the acquire half on
  // the last drop makes every other holder's drop happen-before we recycle it.
  if (refs_[gid].fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Recycle through the pool. The chunk header lives in the client-writable segment, so its
  // generation may have been scribbled on; restore it from our own record (we are the chunk's
  // only holder now) before handing it back. Our count is the real one: recycle() skips the
  // header's reference count.
  const std::uint32_t gen = gens_[gid].load(std::memory_order_relaxed);
  shm::ChunkHeader* hdr = pool_.header_of(cls, index);  // index range-checked by check()
  // relaxed: published to the next loaner by the free list's release CAS.
  shm::atomic_store(hdr->generation, gen, std::memory_order_relaxed);
  pool_.recycle({index, cls, 0, gen});
}

std::uint32_t ChunkLedger::reclaim(OwnerSet& owner) noexcept {
  std::uint32_t n = 0;
  for (std::size_t w = 0; w < owner.nwords_; ++w) {
    // relaxed: the port is retired; no worker touches it any more (they acknowledged).
    std::uint64_t bits = owner.words_[w].exchange(0, std::memory_order_relaxed);
    while (bits) {
      const auto b = static_cast<std::uint32_t>(__builtin_ctzll(bits));
      bits &= bits - 1;
      const auto gid = static_cast<std::uint32_t>(w * 64 + b);
      std::uint16_t cls = 0;
      while (std::size_t{cls} + 1 < pool_.class_count() && gid >= class_base_[cls + 1])
        ++cls;
      drop_gid(gid, cls, gid - class_base_[cls]);
      ++n;
    }
  }
  owner.count_.store(0, std::memory_order_relaxed);
  return n;
}

}  // namespace zcp::router
