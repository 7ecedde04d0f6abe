// RouteTable: where a direct-delivery publisher pushes (docs/router.md, "Direct delivery").
//
// A topic the daemon configures as `direct` gives each of its publishers a RouteTable block in
// the queue arena; the publish ring's RingHeader::route_table names it. The reactor (its only
// writer) lists in it the topic's subscriber queues, one per slot, and the publisher's library
// pushes each MessageHeader into those queues itself, without the router hop. The router still
// accounts for every delivery: the publisher also pushes a record (flags kMsgDirect) into its
// publish ring, saying which slots it delivered to, and the router settles it (ownership,
// history, wake-ups) and delivers to every other subscriber of the topic itself.
//
// Slot numbers are per topic, so every table of a topic agrees; `version` (even, +2 per change)
// numbers the topic's slot assignments. The reactor rewrites a table as a seqlock: odd while it
// writes, then the new even version.
//
// Reclamation (an epoch scheme): a publisher that pushes sets its ring's direct_guard to
// (version << 1) | 1 (seq_cst) before it loads `version` (seq_cst), and clears the busy bit
// after its last push. The reactor clears a removed subscriber's slot, stores the new version
// V (seq_cst), and frees that subscriber's queue only once each publisher's guard is idle or
// names a version ≥ V. Because both sides store then load with seq_cst, one of them sees the
// other: either the reactor sees the guard busy (and waits), or the publisher's load of
// `version` sees V and it reloads the table, which no longer lists the queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "shm/atomic.hpp"
#include "shm/layout.hpp"
#include "shm/ring.hpp"

namespace zcp::shm {

inline constexpr std::uint32_t kRouteTableMagic = 0x5a43'5254U;  // "ZCRT"
// Subscribers one direct topic lists. The delivered set travels as a 64-bit mask in the
// publish-ring record; subscribers beyond this get every message through the router.
inline constexpr std::uint32_t kRouteSlots = 64;
inline constexpr std::uint32_t kNoRouteSlot = 0xffff'ffffU;

// MessageHeader::flags on the publish ring: the record is a DirectRecord (below), not a
// MessageHeader: the publisher delivered the message itself to the slots in its mask.
inline constexpr std::uint16_t kMsgDirect = 1U << 1;

// What a direct publisher leaves in its publish ring for one publication: the chunk, the route
// version it used, the slots it pushed the MessageHeader to, and the slots whose wake-up it took
// care of (it holds the subscriber's eventfd and checked the subscriber's waiting word after the
// push). The publish ring's slots are MessageHeader-sized; a record with kMsgDirect in `flags`
// is read as this struct. The message's sequence and timestamp are in the chunk's header.
struct DirectRecord {
  std::uint32_t chunk_index;
  std::uint16_t pool_class;
  std::uint16_t flags;  // kMsgDirect
  std::uint32_t generation;
  std::uint32_t route_version;  // the route-table version the publisher pushed with
  std::uint64_t pushed;  // atomic: bit n set before the push into slot n (cleared if it failed)
  std::uint64_t woken;   // atomic: bit n set once the publisher handled slot n's wake-up

  ChunkRef chunk() const noexcept { return {chunk_index, pool_class, 0, generation}; }
};
static_assert(sizeof(DirectRecord) == sizeof(MessageHeader),
              "a DirectRecord fills one publish-ring slot");
static_assert(offsetof(DirectRecord, flags) == offsetof(MessageHeader, flags),
              "the router tells the two apart by flags");
static_assert(offsetof(DirectRecord, generation) == offsetof(MessageHeader, generation));
static_assert(offsetof(DirectRecord, pushed) == 16);
static_assert(offsetof(DirectRecord, woken) == 24);
static_assert(std::is_trivially_copyable_v<DirectRecord>);

inline const DirectRecord& as_direct(const MessageHeader& m) noexcept {
  return *reinterpret_cast<const DirectRecord*>(&m);
}
inline DirectRecord& as_direct(MessageHeader& m) noexcept {
  return *reinterpret_cast<DirectRecord*>(&m);
}

struct RouteEntry {
  std::uint32_t subscriber_id;  // 0: the slot is empty
  std::uint32_t reserved;
  QueueDescriptor queue;  // the subscriber's MPMC queue
};
static_assert(sizeof(RouteEntry) == 32);
static_assert(std::is_trivially_copyable_v<RouteEntry>);

struct RouteTable {
  // Line 0: written once by format.
  std::uint32_t magic;
  std::uint32_t slots;       // kRouteSlots
  std::uint32_t wake_limit;  // the publisher wakes sleeping subscribers itself while it pushes
                             // to at most this many; beyond, it leaves every wake-up to the router
  std::uint32_t reserved0[13];
  // Line 1: the seqlock word (atomic), reactor-written.
  std::uint32_t version;
  std::uint32_t reserved1[15];
  RouteEntry entries[kRouteSlots];  // atomic words (read relaxed by publishers)
};
static_assert(sizeof(RouteTable) == 128 + kRouteSlots * sizeof(RouteEntry));
static_assert(offsetof(RouteTable, version) == 64, "the version word on its own cache line");
static_assert(offsetof(RouteTable, entries) == 128);
static_assert(std::is_trivially_copyable_v<RouteTable>);

// The reactor's side: format once, then rewrite a slot as a seqlock.
inline void format_route_table(RouteTable& t, std::uint32_t version,
                               std::uint32_t wake_limit) noexcept {
  t = RouteTable{};
  t.magic = kRouteTableMagic;
  t.slots = kRouteSlots;
  t.wake_limit = wake_limit;
  t.version = version;
}

// Writes one slot (subscriber 0: empty) and the new (even) version. Only the reactor writes.
inline void write_route(RouteTable& t, std::uint32_t slot, std::uint32_t subscriber_id,
                        const QueueDescriptor& queue, std::uint32_t version) noexcept {
  // The odd version first (relaxed), then each entry word with release: a reader whose
  // acquire load sees one of these words also sees the odd version (or a later one) on its
  // re-check. No standalone fence: ThreadSanitizer (and gcc's -Wtsan) cannot model those,
  // and on x86 release stores and acquire loads are plain moves anyway.
  atomic_store(t.version, version - 1, std::memory_order_relaxed);
  auto* words = reinterpret_cast<std::uint64_t*>(&t.entries[slot]);
  RouteEntry e{subscriber_id, 0, queue};
  const auto* src = reinterpret_cast<const std::uint64_t*>(&e);
  for (int i = 0; i < 4; ++i)
    atomic_store(words[i], src[i], std::memory_order_release);
  // seq_cst: the reclamation argument above (the reactor's store of V, then its load of each
  // guard); it also releases the entry stores to a reader that acquires this version.
  atomic_store(t.version, version, std::memory_order_seq_cst);
}

// The publisher's side: a consistent copy of all slots, or false if the reactor is mid-write
// (retry). `version` is what the copy corresponds to.
inline bool read_routes(const RouteTable& t, RouteEntry (&out)[kRouteSlots],
                        std::uint32_t& version) noexcept {
  // acquire: pairs with the writer's final store; the entries it wrote are visible below.
  const std::uint32_t v1 = atomic_load(t.version, std::memory_order_acquire);
  if (v1 & 1U) return false;
  for (std::uint32_t s = 0; s < kRouteSlots; ++s) {
    const auto* words = reinterpret_cast<const std::uint64_t*>(&t.entries[s]);
    std::uint64_t w[4];
    // acquire: pairs with the writer's release of each word (see write_route), and keeps the
    // re-check below after these loads; if the writer started meanwhile, the re-check sees
    // its odd version (or later) and we retry.
    for (int i = 0; i < 4; ++i)
      w[i] = atomic_load(words[i], std::memory_order_acquire);
    std::memcpy(&out[s], w, sizeof(RouteEntry));
  }
  const std::uint32_t v2 = atomic_load(t.version, std::memory_order_relaxed);
  version = v1;
  return v1 == v2;
}

inline constexpr std::uint64_t guard_busy(std::uint32_t version) noexcept {
  return (std::uint64_t{version} << 1) | 1U;
}
inline constexpr std::uint64_t guard_idle(std::uint32_t version) noexcept {
  return std::uint64_t{version} << 1;
}
// True if a guard value lets the reactor free a queue removed at `removed_version`.
inline constexpr bool guard_passed(std::uint64_t guard, std::uint32_t removed_version) noexcept {
  if ((guard & 1U) == 0) return true;
  const auto v = static_cast<std::uint32_t>(guard >> 1);
  return static_cast<std::int32_t>(v - removed_version) >= 0;  // serial-number compare
}

}  // namespace zcp::shm
