// ChunkPool: fixed-size chunks in shared memory, in several size classes chosen at run time.
//
// Data (in shm):  PoolHeader { magic, class_count, PoolClassHeader[kMaxPoolClasses] }, then
//                 each class's chunks: [ChunkHeader 64 B][payload chunk_size B] × chunk_count.
// View (process): ChunkPool, made by format() (the daemon) or attach() (anyone mapping the
//                 segment), which validates the class table against the region bounds once,
//                 so later accesses need only an index check.
//
// Free list: a Treiber stack per class, safe across processes and against ABA. The head is
// one 64-bit word {tag:32, index:32}; every successful CAS increments the tag, so a pop that
// read head H and was preempted cannot succeed after H's index was popped and pushed again
// (the tag moved on; wrap-around needs 2^32 operations inside one preemption).
// docs/shm-layout.md has the case analysis.
//
// Reference counts: loan() returns a chunk with refcount 1. add_ref()/release() move it; the
// release that drops it to 0 pushes the chunk back. Nothing here blocks or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <zcp/expected.hpp>

#include "shm/layout.hpp"

namespace zcp::shm {

inline constexpr std::uint32_t kPoolMagic = 0x5a43'504cU;  // "ZCPL"
// Size classes per pool. Too few forces payloads into oversized chunks (memory); more would
// only lengthen the class search of loan(), which is linear.
inline constexpr std::size_t kMaxPoolClasses = 8;
// Largest chunk payload. A larger one would still work, but payloads this big should be
// split by the application: one chunk is one cache-cold copy for every subscriber that reads it.
inline constexpr std::uint32_t kMaxChunkSize = 64U << 20;
// Most chunks in one class: indices are 32-bit, with kNilIndex reserved.
inline constexpr std::uint32_t kMaxChunksPerClass = 1U << 24;

struct PoolClassHeader {
  // Line 0: geometry, written once by format(), read-only afterwards.
  std::uint32_t chunk_size;  // payload bytes, a multiple of 64
  std::uint32_t chunk_count;
  std::uint64_t stride;         // sizeof(ChunkHeader) + chunk_size
  std::uint64_t chunks_offset;  // segment offset of chunk 0's header, 64-aligned
  std::uint32_t class_index;
  std::uint32_t reserved0[9];
  // Line 1: the free list, written by every loan and release.
  std::uint64_t head;        // {tag:32 | index:32}, atomic
  std::uint32_t free_count;  // atomic; exact whenever no loan/release is mid-flight
  std::uint32_t reserved1[13];
  // Line 2: statistics written rarely (a new low, an exhaustion).
  std::uint32_t min_free;  // atomic low-water mark of free_count
  std::uint32_t reserved2;
  std::uint64_t loan_failures;  // atomic: loans refused because the class was empty
  std::uint64_t reserved3[6];
};
static_assert(sizeof(PoolClassHeader) == 192, "three cache lines: geometry, free list, stats");
static_assert(offsetof(PoolClassHeader, head) == 64,
              "the free-list head must not share a line with read-mostly geometry");
static_assert(offsetof(PoolClassHeader, min_free) == 128);
static_assert(std::is_trivially_copyable_v<PoolClassHeader>);

struct PoolHeader {
  std::uint32_t magic;
  std::uint32_t class_count;
  std::uint64_t reserved[7];
  PoolClassHeader classes[kMaxPoolClasses];
};
static_assert(sizeof(PoolHeader) == 64 + kMaxPoolClasses * 192);
static_assert(offsetof(PoolHeader, classes) == 64);
static_assert(std::is_trivially_copyable_v<PoolHeader>);

struct PoolClassConfig {
  std::uint32_t chunk_size;  // payload bytes; rounded up to 64
  std::uint32_t count;
};

// The size classes of a pool. Configured at run time (the daemon's config), not compile time.
struct ChunkPoolConfig {
  std::vector<PoolClassConfig> classes;

  // 128 B × 4096, 1 KiB × 2048, 8 KiB × 1024 (about 12 MiB).
  static ChunkPoolConfig defaults();
  // Sorts classes by size and checks them; returns a message naming the first problem.
  std::optional<std::string> normalize();
  // Bytes the pool region needs, headers and chunks included. Call after normalize().
  std::uint64_t region_bytes() const;
};

enum class LoanError : std::uint8_t {
  kExhausted,  // the class that fits has no free chunk
  kTooLarge,   // no class is large enough
  kCorrupt,    // the free list holds an out-of-range index
};
const char* to_string(LoanError e) noexcept;

enum class RefError : std::uint8_t {
  kBadClass,  // pool class out of range
  kBadIndex,  // chunk index out of range
  kStale,     // generation differs: the chunk was released and loaned again
  kNotHeld,   // refcount is 0: releasing or referencing a free chunk
};
const char* to_string(RefError e) noexcept;

// A loaned chunk: where its header and payload are in this process, and its reference.
struct Chunk {
  ChunkRef ref;
  ChunkHeader* header;
  std::byte* payload;
  std::uint32_t capacity;  // the class's chunk size
};

struct PoolClassStats {
  std::uint32_t chunk_size;
  std::uint32_t total;
  std::uint32_t free;
  std::uint32_t min_free;
  std::uint64_t loan_failures;
};

class ChunkPool {
 public:
  ChunkPool() = default;

  // Initialises a pool region at `region` (segment offset `region_offset`). Call once,
  // before anyone else maps the segment. `cfg` must be normalized.
  static ChunkPool format(std::byte* segment_base, std::uint64_t region_offset,
                          const ChunkPoolConfig& cfg) noexcept;
  // Validates a pool region made by format() in another process: magic, class count, and
  // every class's chunks inside [region_offset, region_offset + region_size).
  static Expected<ChunkPool, std::string> attach(std::byte* segment_base,
                                                 std::uint64_t region_offset,
                                                 std::uint64_t region_size);

  // A chunk from the smallest class whose chunk size is ≥ size, refcount 1.
  Expected<Chunk, LoanError> loan(std::uint32_t size, std::uint32_t owner = kNoOwner) noexcept;
  // A chunk from one class, refcount 1.
  Expected<Chunk, LoanError> loan_from(std::uint16_t pool_class,
                                       std::uint32_t owner = kNoOwner) noexcept;

  // One more holder. The caller must already hold a reference (so the chunk cannot be
  // freed concurrently); this is checked as far as it can be.
  Expected<void, RefError> add_ref(const ChunkRef& ref) noexcept;
  // One holder fewer; the last one returns the chunk to its free list.
  Expected<void, RefError> release(const ChunkRef& ref) noexcept;
  // Puts a chunk whose last holder is gone back on its free list, without release()'s
  // reference-count CAS: for an owner that keeps the count itself (the router's ledger). The
  // reference must be in range (checked by the caller).
  void recycle(const ChunkRef& ref) noexcept;

  // Range- and generation-checked access for a reference read from a ring (untrusted).
  Expected<Chunk, RefError> resolve(const ChunkRef& ref) const noexcept;

  std::size_t class_count() const noexcept { return class_count_; }
  std::uint32_t chunk_size(std::size_t cls) const noexcept { return classes_[cls]->chunk_size; }
  // The class loan(size) would use, or nullopt if size exceeds every class.
  std::optional<std::uint16_t> class_for(std::uint32_t size) const noexcept;
  PoolClassStats stats(std::size_t cls) const noexcept;
  bool valid() const noexcept { return base_ != nullptr; }
  // The header of chunk `index` of class `cls`, unchecked: for owners that range-checked the
  // reference already (the router's ledger).
  ChunkHeader* header_of(std::size_t cls, std::uint32_t index) const noexcept {
    return header_at(cls, index);
  }

 private:
  ChunkHeader* header_at(std::size_t cls, std::uint32_t index) const noexcept {
    return reinterpret_cast<ChunkHeader*>(base_ + classes_[cls]->chunks_offset +
                                          classes_[cls]->stride * index);
  }
  Chunk chunk_at(std::size_t cls, std::uint32_t index) const noexcept;
  void push_free(std::size_t cls, std::uint32_t index) noexcept;

  std::byte* base_ = nullptr;
  std::size_t class_count_ = 0;
  PoolClassHeader* classes_[kMaxPoolClasses] = {};
};

}  // namespace zcp::shm
