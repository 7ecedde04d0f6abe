// The shared-memory layout: every struct that lives in a zerocp segment.
//
// Rules (docs/shm-layout.md draws the map):
//  - Structs here are trivially copyable, hold offsets and indices (never pointers), and are
//    pinned by static_assert on size and offsets. tests/shm/layout_test.cpp pins them again
//    together with kLayoutVersion, so a silent change fails the build's tests.
//  - Offsets are relative to the segment base, which differs in every process.
//  - Atomic words are plain integers accessed through atomic_ref (see atomic.hpp); a word
//    written by a different thread or process than its neighbours gets its own cache line.
//  - Changing any layout bumps kLayoutVersion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace zcp::shm {

// "ZCPSEG" + 0x0001: written last at creation (release), so a reader that sees it sees an
// initialised header.
inline constexpr std::uint64_t kSegmentMagic = 0x5a43'5053'4547'0001ULL;  // fixed across versions
// Version history: 1 first layout; 2 adds RingHeader::peers (20), ::routed (136), ::dropped (200);
// 3 adds the stats region (stats_layout.hpp), RingHeader::producer_full (80), ::consumer_empty
// (144); 4 adds direct delivery: RingHeader::route_table (24), ::direct_guard (88), RouteTable
// blocks in the queue arena (route_table.hpp), MessageHeader flag kMsgDirect on publish rings. 5: a
// direct publisher's publish-ring record is a DirectRecord (route_table.hpp: pushed and woken slot
// masks); the waiting-word handshake of subscriber queues pairs the producers' seq_cst tail CAS
// with the subscriber's seq_cst tail load (ring.hpp); an MPMC cell's turn word carries a state and
// a producer tag (busy, skipped: mpmc_ring.hpp); RingHeader::refill_at (96).
inline constexpr std::uint32_t kLayoutVersion = 5;

// ---------------------------------------------------------------------------
// Region table
// ---------------------------------------------------------------------------
enum class RegionKind : std::uint32_t {
  kNone = 0,
  kHeartbeat = 1,   // HeartbeatPool: one slot per registered process
  kChunkPool = 2,   // ChunkPool: the pool header, then every size class's chunks
  kQueueArena = 3,  // QueueAllocator carves rings and queues from here
  kStats = 4,       // counters and descriptors read by zcp-top (stats_layout.hpp)
  // Reserved for later layouts; the table has room for them without moving anything:
  kAccounting = 5,  // per-process chunk ownership records (crash reclaim)
  kRouteTable = 6,  // unused: direct delivery keeps its route tables in the queue arena
};

struct RegionEntry {
  std::uint32_t kind;    // RegionKind
  std::uint32_t flags;   // reserved, 0
  std::uint64_t offset;  // from the segment base; a multiple of 4096
  std::uint64_t size;    // bytes
  std::uint64_t reserved;
};
static_assert(sizeof(RegionEntry) == 32, "RegionEntry is part of the shm layout");
static_assert(std::is_trivially_copyable_v<RegionEntry>);

inline constexpr std::size_t kMaxRegions = 16;
inline constexpr std::size_t kInstanceNameBytes = 64;  // NUL-padded; instance names are ≤ 48
inline constexpr std::size_t kSegmentHeaderBytes = 4096;

enum class SegmentState : std::uint32_t { kInitializing = 0, kReady = 1, kShuttingDown = 2 };

struct SegmentHeader {
  std::uint64_t magic;               // kSegmentMagic, stored last (release) at creation
  std::uint32_t layout_version;      // kLayoutVersion of the creator
  std::uint32_t header_size;         // sizeof(SegmentHeader)
  std::uint64_t total_size;          // bytes mapped, equals the shm object's size
  std::int32_t creator_pid;          // the daemon that created the segment
  std::uint32_t state;               // SegmentState, atomic
  std::uint64_t creator_start_time;  // /proc/<pid>/stat starttime: tells pid reuse apart
  std::uint64_t created_realtime_ns;
  std::uint32_t region_count;
  std::uint32_t reserved0;
  char instance[kInstanceNameBytes];
  RegionEntry regions[kMaxRegions];
  std::uint8_t reserved[kSegmentHeaderBytes - 120 - kMaxRegions * sizeof(RegionEntry)];
};
static_assert(sizeof(SegmentHeader) == kSegmentHeaderBytes,
              "the header fills exactly one page so the first region starts page-aligned");
static_assert(offsetof(SegmentHeader, magic) == 0);
static_assert(offsetof(SegmentHeader, layout_version) == 8,
              "magic and version must stay where every past version had them");
static_assert(offsetof(SegmentHeader, total_size) == 16);
static_assert(offsetof(SegmentHeader, instance) == 56);
static_assert(offsetof(SegmentHeader, regions) == 120);
static_assert(std::is_trivially_copyable_v<SegmentHeader>);

// ---------------------------------------------------------------------------
// Chunks and messages
// ---------------------------------------------------------------------------

// Names one chunk: its pool class, its index in that class, and the generation it had when
// the reference was made. A reference whose generation differs from the chunk's is stale.
struct ChunkRef {
  std::uint32_t index;
  std::uint16_t pool_class;
  std::uint16_t reserved;
  std::uint32_t generation;
};
static_assert(sizeof(ChunkRef) == 12);
static_assert(std::is_trivially_copyable_v<ChunkRef>);

// What travels through rings and queues: a reference to a chunk, never the payload.
struct MessageHeader {
  std::uint32_t chunk_index;
  std::uint16_t pool_class;
  std::uint16_t flags;         // reserved, 0
  std::uint32_t generation;    // the chunk's generation when it was loaned
  std::uint32_t publisher_id;  // assigned by the daemon
  std::uint64_t sequence;      // per publisher, starts at 1
  std::uint64_t timestamp_ns;  // CLOCK_MONOTONIC at publish

  ChunkRef chunk() const noexcept { return {chunk_index, pool_class, 0, generation}; }
};
static_assert(sizeof(MessageHeader) == 32, "MessageHeader is a fixed 32-byte record");
static_assert(offsetof(MessageHeader, generation) == 8);
static_assert(offsetof(MessageHeader, sequence) == 16);
static_assert(offsetof(MessageHeader, timestamp_ns) == 24);
static_assert(std::is_trivially_copyable_v<MessageHeader>);

// Sits in the 64 bytes before every payload. `refcount`, `generation` and `next_free` are
// atomic words; the rest is written by the chunk's current owner before it publishes.
struct alignas(64) ChunkHeader {
  std::uint32_t refcount;      // 0 while free
  std::uint32_t generation;    // incremented at every loan
  std::uint32_t next_free;     // free-list link, meaningful only while free
  std::uint32_t payload_size;  // bytes written by the publisher, ≤ the class's chunk size
  std::uint64_t sequence;
  std::uint64_t timestamp_ns;
  std::uint32_t origin;      // publisher id
  std::uint16_t pool_class;  // own class, a self-check
  std::uint16_t flags;
  std::uint32_t index;    // own index, a self-check
  std::uint32_t owner;    // process slot holding the loan (accounting), or kNoOwner
  std::uint8_t user[16];  // reserved for user headers
};
static_assert(sizeof(ChunkHeader) == 64, "payloads start 64 bytes after their header");
static_assert(offsetof(ChunkHeader, sequence) == 16);
static_assert(offsetof(ChunkHeader, origin) == 32);
static_assert(offsetof(ChunkHeader, owner) == 44);
static_assert(std::is_trivially_copyable_v<ChunkHeader>);

inline constexpr std::uint32_t kNoOwner = 0xffff'ffffU;
inline constexpr std::uint32_t kNilIndex = 0xffff'ffffU;

}  // namespace zcp::shm
