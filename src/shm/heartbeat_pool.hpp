// HeartbeatPool: one slot per registered process, in shared memory.
//
// The daemon's reactor acquires and releases slots (it alone); each client touches its own
// slot's timestamp periodically; the reactor's heartbeat tick reads every active slot's age.
// Each slot has its own cache line: clients touching neighbouring slots never share a line.
//
// A slot's `epoch` increments at every acquire, so a reference {slot, epoch} kept by a client
// of a process that was declared dead cannot touch the slot's next owner.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zcp/expected.hpp>

#include "shm/layout.hpp"

namespace zcp::shm {

inline constexpr std::uint32_t kHeartbeatMagic = 0x5a43'5048U;  // "ZCPH"
// Default number of process slots (and so of registered processes). Too low refuses
// registrations on a busy host (a fan-out to a thousand subscriber processes); each slot costs
// 64 bytes here and 256 in the stats region, and the heartbeat tick scans all of them.
inline constexpr std::uint32_t kDefaultHeartbeatSlots = 2048;
inline constexpr std::uint32_t kMaxHeartbeatSlots = 65536;

enum class SlotState : std::uint32_t { kFree = 0, kActive = 1 };

struct alignas(64) HeartbeatSlot {
  std::uint32_t state;              // SlotState, atomic; written by the reactor
  std::int32_t pid;                 // from SO_PEERCRED, written by the reactor before kActive
  std::uint64_t epoch;              // atomic; incremented at each acquire
  std::uint64_t last_heartbeat_ns;  // atomic; CLOCK_MONOTONIC, written by the client
  std::uint64_t acquired_ns;        // CLOCK_MONOTONIC at acquire
  std::uint8_t reserved[32];
};
static_assert(sizeof(HeartbeatSlot) == 64, "one slot per cache line");
static_assert(offsetof(HeartbeatSlot, last_heartbeat_ns) == 16);
static_assert(std::is_trivially_copyable_v<HeartbeatSlot>);

struct alignas(64) HeartbeatPoolHeader {
  std::uint32_t magic;
  std::uint32_t slot_count;
  std::uint32_t active;  // atomic: number of slots in kActive (statistic)
  std::uint8_t reserved[52];
};
static_assert(sizeof(HeartbeatPoolHeader) == 64);
static_assert(std::is_trivially_copyable_v<HeartbeatPoolHeader>);

// A claimed slot: index plus the epoch it was claimed at.
struct SlotLease {
  std::uint32_t index;
  std::uint64_t epoch;
};

class HeartbeatPool {
 public:
  HeartbeatPool() = default;

  static std::uint64_t region_bytes(std::uint32_t slots) noexcept {
    return sizeof(HeartbeatPoolHeader) + std::uint64_t{slots} * sizeof(HeartbeatSlot);
  }
  static HeartbeatPool format(std::byte* region, std::uint32_t slots) noexcept;
  static Expected<HeartbeatPool, std::string> attach(std::byte* region,
                                                     std::uint64_t region_size) noexcept;

  // Reactor side. acquire() claims a free slot for `pid` and stamps it with `now_ns`.
  std::optional<SlotLease> acquire(std::int32_t pid, std::uint64_t now_ns) noexcept;
  // Frees the slot if it is still held at `lease.epoch`; false if it was not (already
  // released, or released and re-acquired): the caller's record was stale.
  bool release(const SlotLease& lease) noexcept;
  // Nanoseconds since the slot's last touch, or nullopt if the slot is not active.
  std::optional<std::uint64_t> age(std::uint32_t index, std::uint64_t now_ns) const noexcept;
  std::optional<SlotLease> lease_of(std::uint32_t index) const noexcept;

  // Client side: stamp the slot, only if it is still ours (same epoch). False otherwise,
  // which tells the client the daemon has declared it dead.
  bool touch(const SlotLease& lease, std::uint64_t now_ns) noexcept;

  std::uint32_t slot_count() const noexcept { return header_ ? header_->slot_count : 0; }
  std::uint32_t active_count() const noexcept;
  const HeartbeatSlot& slot(std::uint32_t i) const noexcept { return slots_[i]; }
  bool valid() const noexcept { return header_ != nullptr; }

 private:
  HeartbeatPoolHeader* header_ = nullptr;
  HeartbeatSlot* slots_ = nullptr;
};

}  // namespace zcp::shm
