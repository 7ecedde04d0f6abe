#include "shm/heartbeat_pool.hpp"

#include <cstring>

#include "shm/atomic.hpp"

namespace zcp::shm {

HeartbeatPool HeartbeatPool::format(std::byte* region, std::uint32_t slots) noexcept {
  std::memset(static_cast<void*>(region), 0, region_bytes(slots));
  auto* hdr = reinterpret_cast<HeartbeatPoolHeader*>(region);
  hdr->magic = kHeartbeatMagic;
  hdr->slot_count = slots;
  HeartbeatPool pool;
  pool.header_ = hdr;
  pool.slots_ = reinterpret_cast<HeartbeatSlot*>(region + sizeof(HeartbeatPoolHeader));
  return pool;
}

Expected<HeartbeatPool, std::string> HeartbeatPool::attach(std::byte* region,
                                                           std::uint64_t region_size) noexcept {
  if (region_size < sizeof(HeartbeatPoolHeader)) {
    return Unexpected(std::string("heartbeat region smaller than its header"));
  }
  auto* hdr = reinterpret_cast<HeartbeatPoolHeader*>(region);
  if (hdr->magic != kHeartbeatMagic)
    return Unexpected(std::string("heartbeat region has a bad magic"));
  if (hdr->slot_count == 0 || hdr->slot_count > kMaxHeartbeatSlots ||
      region_bytes(hdr->slot_count) > region_size) {
    return Unexpected("heartbeat region claims " + std::to_string(hdr->slot_count) +
                      " slots, which do not fit its " + std::to_string(region_size) + " bytes");
  }
  HeartbeatPool pool;
  pool.header_ = hdr;
  pool.slots_ = reinterpret_cast<HeartbeatSlot*>(region + sizeof(HeartbeatPoolHeader));
  return pool;
}

std::optional<SlotLease> HeartbeatPool::acquire(std::int32_t pid, std::uint64_t now_ns) noexcept {
  for (std::uint32_t i = 0; i < header_->slot_count; ++i) {
    HeartbeatSlot& s = slots_[i];
    std::uint32_t expected = static_cast<std::uint32_t>(SlotState::kFree);
    // Only the reactor acquires, but a CAS costs nothing here and keeps a second daemon
    // thread (should one ever appear) from double-claiming. Stores to the slot's fields are
    // made before the state becomes kActive and are published by the release below.
    if (atomic_load(s.state, std::memory_order_relaxed) != expected) continue;
    s.pid = pid;
    s.acquired_ns = now_ns;
    atomic_store(s.last_heartbeat_ns, now_ns, std::memory_order_relaxed);
    std::uint64_t epoch =
        atomic_fetch_add(s.epoch, std::uint64_t{1}, std::memory_order_relaxed) + 1;
    // release: publishes pid/epoch/timestamp to readers that acquire-load state (tools).
    if (!atomic_cas_strong(s.state, expected, static_cast<std::uint32_t>(SlotState::kActive),
                           std::memory_order_release, std::memory_order_relaxed)) {
      continue;
    }
    atomic_fetch_add(header_->active, 1U, std::memory_order_relaxed);  // statistic
    return SlotLease{i, epoch};
  }
  return std::nullopt;
}

bool HeartbeatPool::release(const SlotLease& lease) noexcept {
  if (lease.index >= header_->slot_count) return false;
  HeartbeatSlot& s = slots_[lease.index];
  if (atomic_load(s.epoch, std::memory_order_relaxed) != lease.epoch) return false;
  std::uint32_t expected = static_cast<std::uint32_t>(SlotState::kActive);
  // release: everything the reactor did to retire the process happens-before the slot's
  // reuse by the next acquire.
  if (!atomic_cas_strong(s.state, expected, static_cast<std::uint32_t>(SlotState::kFree),
                         std::memory_order_release, std::memory_order_relaxed)) {
    return false;
  }
  atomic_fetch_sub(header_->active, 1U, std::memory_order_relaxed);  // statistic
  return true;
}

std::optional<std::uint64_t> HeartbeatPool::age(std::uint32_t index,
                                                std::uint64_t now_ns) const noexcept {
  if (index >= header_->slot_count) return std::nullopt;
  const HeartbeatSlot& s = slots_[index];
  // acquire: pairs with the release in acquire(), so the timestamp read below is at least
  // the one stamped at acquisition.
  if (atomic_load(s.state, std::memory_order_acquire) !=
      static_cast<std::uint32_t>(SlotState::kActive)) {
    return std::nullopt;
  }
  // relaxed: the timestamp publishes nothing else; a slightly old value only ages the slot.
  std::uint64_t last = atomic_load(s.last_heartbeat_ns, std::memory_order_relaxed);
  return now_ns > last ? now_ns - last : 0;
}

std::optional<SlotLease> HeartbeatPool::lease_of(std::uint32_t index) const noexcept {
  if (index >= header_->slot_count) return std::nullopt;
  const HeartbeatSlot& s = slots_[index];
  if (atomic_load(s.state, std::memory_order_acquire) !=
      static_cast<std::uint32_t>(SlotState::kActive)) {
    return std::nullopt;
  }
  return SlotLease{index, atomic_load(s.epoch, std::memory_order_relaxed)};
}

bool HeartbeatPool::touch(const SlotLease& lease, std::uint64_t now_ns) noexcept {
  if (lease.index >= header_->slot_count) return false;
  HeartbeatSlot& s = slots_[lease.index];
  // relaxed throughout: the stamp publishes no data. The epoch check makes a dead client's
  // late touch harmless to the slot's next owner except in the window between the check and
  // the store, where it can refresh the new owner's stamp once: that only delays a timeout.
  if (atomic_load(s.epoch, std::memory_order_relaxed) != lease.epoch) return false;
  if (atomic_load(s.state, std::memory_order_relaxed) !=
      static_cast<std::uint32_t>(SlotState::kActive)) {
    return false;
  }
  atomic_store(s.last_heartbeat_ns, now_ns, std::memory_order_relaxed);
  return true;
}

std::uint32_t HeartbeatPool::active_count() const noexcept {
  return atomic_load(header_->active, std::memory_order_relaxed);
}

}  // namespace zcp::shm
