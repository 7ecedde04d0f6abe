#include "shm/chunk_pool.hpp"

#include <algorithm>
#include <cstring>

#include "shm/atomic.hpp"

namespace zcp::shm {

namespace {

constexpr std::uint64_t pack_head(std::uint32_t tag, std::uint32_t index) noexcept {
  return (static_cast<std::uint64_t>(tag) << 32) | index;
}
constexpr std::uint32_t head_index(std::uint64_t head) noexcept {
  return static_cast<std::uint32_t>(head);
}
constexpr std::uint32_t head_tag(std::uint64_t head) noexcept {
  return static_cast<std::uint32_t>(head >> 32);
}

// Chunks of a class start on a page so that each class can be prefaulted or locked alone.
constexpr std::uint64_t kClassAlign = 4096;

// The header a reference names, after the checks of ChunkPool::resolve() (class, index,
// generation, in that order, with the same errors), or nullptr with `error` set. add_ref()
// and release() use this: they need only the header, and going through resolve(), which
// builds a whole Chunk in an Expected and copies it out, cost ~7 ns of a ~46 ns
// loan+release and ~24 ns of a loan+add_ref+release×2 (bench/pool_bench.cpp).
ChunkHeader* checked_header(std::byte* base, PoolClassHeader* const* classes,
                            std::size_t class_count, const ChunkRef& ref,
                            RefError& error) noexcept {
  if (ref.pool_class >= class_count) {
    error = RefError::kBadClass;
    return nullptr;
  }
  const PoolClassHeader& c = *classes[ref.pool_class];
  if (ref.index >= c.chunk_count) {
    error = RefError::kBadIndex;
    return nullptr;
  }
  auto* h = reinterpret_cast<ChunkHeader*>(base + c.chunks_offset + c.stride * ref.index);
  // generation is atomic: the chunk's current loaner may be storing it concurrently.
  if (atomic_load(h->generation, std::memory_order_relaxed) != ref.generation) {
    error = RefError::kStale;
    return nullptr;
  }
  return h;
}

}  // namespace

const char* to_string(LoanError e) noexcept {
  switch (e) {
    case LoanError::kExhausted:
      return "pool exhausted";
    case LoanError::kTooLarge:
      return "payload larger than every pool class";
    case LoanError::kCorrupt:
      return "pool free list corrupt";
  }
  return "unknown loan error";
}

const char* to_string(RefError e) noexcept {
  switch (e) {
    case RefError::kBadClass:
      return "chunk reference names a pool class that does not exist";
    case RefError::kBadIndex:
      return "chunk reference index out of range";
    case RefError::kStale:
      return "stale chunk reference (generation mismatch)";
    case RefError::kNotHeld:
      return "chunk is not held (refcount 0)";
  }
  return "unknown reference error";
}

ChunkPoolConfig ChunkPoolConfig::defaults() {
  return ChunkPoolConfig{{{128, 16384}, {1024, 4096}, {8192, 2048}}};
}

std::optional<std::string> ChunkPoolConfig::normalize() {
  if (classes.empty()) return "pool config has no size classes";
  if (classes.size() > kMaxPoolClasses) {
    return "pool config has " + std::to_string(classes.size()) + " size classes; at most " +
           std::to_string(kMaxPoolClasses) + " are supported";
  }
  for (auto& c : classes) {
    if (c.chunk_size == 0 || c.chunk_size > kMaxChunkSize) {
      return "pool class size " + std::to_string(c.chunk_size) + " is out of range 1.." +
             std::to_string(kMaxChunkSize);
    }
    if (c.count == 0 || c.count > kMaxChunksPerClass) {
      return "pool class of size " + std::to_string(c.chunk_size) + " has count " +
             std::to_string(c.count) + "; the range is 1.." + std::to_string(kMaxChunksPerClass);
    }
    c.chunk_size = static_cast<std::uint32_t>(align_up(c.chunk_size, kCacheLine));
  }
  std::sort(classes.begin(), classes.end(),
            [](const auto& a, const auto& b) { return a.chunk_size < b.chunk_size; });
  for (std::size_t i = 1; i < classes.size(); ++i) {
    if (classes[i].chunk_size == classes[i - 1].chunk_size) {
      return "two pool classes have the same chunk size " + std::to_string(classes[i].chunk_size) +
             " (after rounding up to 64 bytes)";
    }
  }
  return std::nullopt;
}

std::uint64_t ChunkPoolConfig::region_bytes() const {
  std::uint64_t bytes = align_up(sizeof(PoolHeader), kClassAlign);
  for (const auto& c : classes) {
    std::uint64_t stride = sizeof(ChunkHeader) + align_up(c.chunk_size, kCacheLine);
    bytes = align_up(bytes + stride * c.count, kClassAlign);
  }
  return bytes;
}

ChunkPool ChunkPool::format(std::byte* segment_base, std::uint64_t region_offset,
                            const ChunkPoolConfig& cfg) noexcept {
  auto* hdr = reinterpret_cast<PoolHeader*>(segment_base + region_offset);
  std::memset(static_cast<void*>(hdr), 0, sizeof(PoolHeader));
  hdr->class_count = static_cast<std::uint32_t>(cfg.classes.size());

  std::uint64_t rel = align_up(sizeof(PoolHeader), kClassAlign);
  for (std::size_t i = 0; i < cfg.classes.size(); ++i) {
    PoolClassHeader& c = hdr->classes[i];
    c.chunk_size = cfg.classes[i].chunk_size;
    c.chunk_count = cfg.classes[i].count;
    c.stride = sizeof(ChunkHeader) + c.chunk_size;
    c.chunks_offset = region_offset + rel;
    c.class_index = static_cast<std::uint32_t>(i);
    // Thread the free list through the chunks: 0 → 1 → … → n-1 → nil.
    for (std::uint32_t k = 0; k < c.chunk_count; ++k) {
      auto* ch = reinterpret_cast<ChunkHeader*>(segment_base + c.chunks_offset + c.stride * k);
      std::memset(static_cast<void*>(ch), 0, sizeof(ChunkHeader));
      ch->next_free = (k + 1 < c.chunk_count) ? k + 1 : kNilIndex;
      ch->pool_class = static_cast<std::uint16_t>(i);
      ch->index = k;
      ch->owner = kNoOwner;
    }
    c.head = pack_head(0, 0);
    c.free_count = c.chunk_count;
    c.min_free = c.chunk_count;
    rel = align_up(rel + c.stride * c.chunk_count, kClassAlign);
  }
  // Plain stores suffice: the segment becomes visible to others only when its header's magic
  // is stored with release, after this returns.
  hdr->magic = kPoolMagic;

  auto attached = attach(segment_base, region_offset, rel);
  return attached ? *attached : ChunkPool{};
}

Expected<ChunkPool, std::string> ChunkPool::attach(std::byte* segment_base,
                                                   std::uint64_t region_offset,
                                                   std::uint64_t region_size) {
  if (region_size < sizeof(PoolHeader)) {
    return Unexpected("pool region is " + std::to_string(region_size) +
                      " bytes, smaller than its " + std::to_string(sizeof(PoolHeader)) +
                      "-byte header");
  }
  auto* hdr = reinterpret_cast<PoolHeader*>(segment_base + region_offset);
  if (hdr->magic != kPoolMagic) return Unexpected(std::string("pool region has a bad magic"));
  if (hdr->class_count == 0 || hdr->class_count > kMaxPoolClasses) {
    return Unexpected("pool region has " + std::to_string(hdr->class_count) +
                      " classes; expected 1.." + std::to_string(kMaxPoolClasses));
  }
  ChunkPool pool;
  pool.base_ = segment_base;
  pool.class_count_ = hdr->class_count;
  const std::uint64_t end = region_offset + region_size;
  for (std::size_t i = 0; i < pool.class_count_; ++i) {
    PoolClassHeader& c = hdr->classes[i];
    bool ok = c.chunk_size > 0 && c.chunk_size % kCacheLine == 0 && c.chunk_size <= kMaxChunkSize &&
              c.chunk_count > 0 && c.chunk_count <= kMaxChunksPerClass &&
              c.stride == sizeof(ChunkHeader) + c.chunk_size && c.chunks_offset % kCacheLine == 0 &&
              c.chunks_offset >= region_offset + sizeof(PoolHeader) &&
              c.chunks_offset + c.stride * c.chunk_count <= end;
    if (!ok) return Unexpected("pool class " + std::to_string(i) + " geometry is out of bounds");
    pool.classes_[i] = &c;
  }
  return pool;
}

std::optional<std::uint16_t> ChunkPool::class_for(std::uint32_t size) const noexcept {
  for (std::size_t i = 0; i < class_count_; ++i) {
    if (classes_[i]->chunk_size >= size) return static_cast<std::uint16_t>(i);
  }
  return std::nullopt;
}

Chunk ChunkPool::chunk_at(std::size_t cls, std::uint32_t index) const noexcept {
  ChunkHeader* h = header_at(cls, index);
  // generation is atomic: a stale holder in another process may read it concurrently.
  std::uint32_t gen = atomic_load(h->generation, std::memory_order_relaxed);
  return Chunk{{index, static_cast<std::uint16_t>(cls), 0, gen},
               h,
               reinterpret_cast<std::byte*>(h) + sizeof(ChunkHeader),
               classes_[cls]->chunk_size};
}

Expected<Chunk, LoanError> ChunkPool::loan(std::uint32_t size, std::uint32_t owner) noexcept {
  auto cls = class_for(size);
  if (!cls) return Unexpected(LoanError::kTooLarge);
  return loan_from(*cls, owner);
}

Expected<Chunk, LoanError> ChunkPool::loan_from(std::uint16_t cls, std::uint32_t owner) noexcept {
  if (cls >= class_count_) return Unexpected(LoanError::kTooLarge);
  PoolClassHeader& c = *classes_[cls];
  // acquire: pairs with the release CAS in push_free(), so the next_free link written before
  // that push is visible when we read it below.
  std::uint64_t old = atomic_load(c.head, std::memory_order_acquire);
  std::uint32_t index;
  for (;;) {
    index = head_index(old);
    if (index == kNilIndex) {
      atomic_fetch_add(c.loan_failures, std::uint64_t{1}, std::memory_order_relaxed);  // statistic
      return Unexpected(LoanError::kExhausted);
    }
    if (index >= c.chunk_count) return Unexpected(LoanError::kCorrupt);
    // relaxed: if another process pops this chunk and rewrites next_free meanwhile, our CAS
    // fails on the tag, so a torn-in-time value is never used.
    std::uint32_t next = atomic_load(header_at(cls, index)->next_free, std::memory_order_relaxed);
    std::uint64_t desired = pack_head(head_tag(old) + 1, next);
    // acquire on success: the chunk's previous holders' accesses (released before its push)
    // happen-before our use. acquire on failure: we re-read next_free of the new head.
    if (atomic_cas_weak(c.head, old, desired, std::memory_order_acquire,
                        std::memory_order_acquire)) {
      break;
    }
  }
  // relaxed: free_count and min_free are statistics; they publish no data.
  std::uint32_t now_free = atomic_fetch_sub(c.free_count, 1U, std::memory_order_relaxed) - 1;
  if (now_free < atomic_load(c.min_free, std::memory_order_relaxed)) {
    atomic_fetch_min(c.min_free, now_free);
  }

  ChunkHeader* h = header_at(cls, index);
  // The chunk is ours alone until we publish its reference; these stores reach other
  // processes through the release that publishes the reference (a ring's tail store).
  // generation: a load and a store, not fetch_add. Winning the pop CAS makes this loaner the
  // word's only writer until the chunk is pushed again (stale holders elsewhere only load
  // it), so a locked read-modify-write (~5 ns on x86) would buy nothing.
  const std::uint32_t gen = atomic_load(h->generation, std::memory_order_relaxed);
  atomic_store(h->generation, gen + 1, std::memory_order_relaxed);
  atomic_store(h->refcount, 1U, std::memory_order_relaxed);
  h->owner = owner;
  h->payload_size = 0;
  h->flags = 0;
  // Built here rather than by chunk_at(), which would reload the generation we just stored
  // (~9 ns of a ~55 ns loan+release, bench/pool_bench.cpp).
  return Chunk{{index, cls, 0, gen + 1},
               h,
               reinterpret_cast<std::byte*>(h) + sizeof(ChunkHeader),
               c.chunk_size};
}

Expected<Chunk, RefError> ChunkPool::resolve(const ChunkRef& ref) const noexcept {
  if (ref.pool_class >= class_count_) return Unexpected(RefError::kBadClass);
  if (ref.index >= classes_[ref.pool_class]->chunk_count) return Unexpected(RefError::kBadIndex);
  Chunk ch = chunk_at(ref.pool_class, ref.index);
  if (ch.ref.generation != ref.generation) return Unexpected(RefError::kStale);
  return ch;
}

Expected<void, RefError> ChunkPool::add_ref(const ChunkRef& ref) noexcept {
  RefError err{};
  ChunkHeader* h = checked_header(base_, classes_, class_count_, ref, err);
  if (h == nullptr) return Unexpected(err);
  // relaxed: the caller already holds a reference, so the chunk cannot be freed or reused
  // while we increment; no data is published by the increment itself (as shared_ptr).
  std::uint32_t prev = atomic_fetch_add(h->refcount, 1U, std::memory_order_relaxed);
  if (prev == 0) {
    // The caller did not hold it after all. Undo, and report.
    atomic_fetch_sub(h->refcount, 1U, std::memory_order_relaxed);
    return Unexpected(RefError::kNotHeld);
  }
  return {};
}

Expected<void, RefError> ChunkPool::release(const ChunkRef& ref) noexcept {
  RefError err{};
  ChunkHeader* h = checked_header(base_, classes_, class_count_, ref, err);
  if (h == nullptr) return Unexpected(err);
  std::uint32_t& rc = h->refcount;
  // CAS loop instead of fetch_sub so that releasing a free chunk (refcount 0) is refused
  // rather than wrapping to 2^32-1. acq_rel: release orders this holder's reads of the
  // payload before the chunk's reuse; acquire (on the last release) makes every other
  // holder's accesses happen-before our push back to the free list.
  std::uint32_t cur = atomic_load(rc, std::memory_order_relaxed);
  do {
    if (cur == 0) return Unexpected(RefError::kNotHeld);
  } while (
      !atomic_cas_weak(rc, cur, cur - 1, std::memory_order_acq_rel, std::memory_order_relaxed));
  if (cur == 1) {
    h->owner = kNoOwner;
    push_free(ref.pool_class, ref.index);
  }
  return {};
}

void ChunkPool::recycle(const ChunkRef& ref) noexcept {
  ChunkHeader* h = header_at(ref.pool_class, ref.index);
  // relaxed: published to the next loaner by push_free()'s release CAS.
  atomic_store(h->refcount, 0U, std::memory_order_relaxed);
  h->owner = kNoOwner;
  push_free(ref.pool_class, ref.index);
}

void ChunkPool::push_free(std::size_t cls, std::uint32_t index) noexcept {
  PoolClassHeader& c = *classes_[cls];
  ChunkHeader* h = header_at(cls, index);
  std::uint64_t old = atomic_load(c.head, std::memory_order_relaxed);
  for (;;) {
    // relaxed: published by the release CAS below; pairs with the acquire load in loan_from().
    atomic_store(h->next_free, head_index(old), std::memory_order_relaxed);
    std::uint64_t desired = pack_head(head_tag(old) + 1, index);
    if (atomic_cas_weak(c.head, old, desired, std::memory_order_release,
                        std::memory_order_relaxed)) {
      break;
    }
  }
  atomic_fetch_add(c.free_count, 1U, std::memory_order_relaxed);  // statistic
}

PoolClassStats ChunkPool::stats(std::size_t cls) const noexcept {
  const PoolClassHeader& c = *classes_[cls];
  // free_count is updated just after each free-list CAS, so while a push and a pop overlap it
  // can momentarily lag by one in either direction (even wrap below 0): clamp for readers.
  std::uint32_t free = atomic_load(c.free_count, std::memory_order_relaxed);
  if (free > c.chunk_count) free = free > (1U << 31) ? 0 : c.chunk_count;
  return PoolClassStats{c.chunk_size, c.chunk_count, free,
                        atomic_load(c.min_free, std::memory_order_relaxed),
                        atomic_load(c.loan_failures, std::memory_order_relaxed)};
}

}  // namespace zcp::shm
