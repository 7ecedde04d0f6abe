// Views of the stats region (stats_layout.hpp): the daemon formats and writes it, tools
// attach to it read-only. Attaching checks the magic, the version and that every table lies
// inside the region, so a reader never indexes outside its mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <zcp/expected.hpp>

#include "shm/atomic.hpp"
#include "shm/stats_layout.hpp"

namespace zcp::shm {

// Bytes of a slot that the reactor seqlocks; the rest (worker counter lines) is not copied
// by seq_publish and is owned by the slot's workers while the slot is live.
template <class Slot>
inline constexpr std::size_t kDescriptorBytes = sizeof(Slot);
template <>
inline constexpr std::size_t kDescriptorBytes<PublisherStats> = offsetof(PublisherStats, routed);
template <>
inline constexpr std::size_t kDescriptorBytes<SubscriberStats> = offsetof(SubscriberStats,
                                                                          delivered);

// Writes `src`'s descriptor into `dst` under dst.seq (reactor only; src.seq is ignored).
//  1. seq := odd (relaxed): readers that load it afterwards retry.
//  2. every descriptor word is stored with release: a reader that loads a new word (acquire)
//     synchronizes with this store, so its second load of seq sees the odd value (or later)
//     and it retries. This avoids a standalone fence, which GCC's TSan does not model.
//  3. seq := even (release): publishes every word stored in step 2 to a reader whose first
//     (acquire) load sees it.
template <class Slot>
void seq_publish(Slot& dst, const Slot& src) noexcept {
  static_assert(std::is_trivially_copyable_v<Slot> && alignof(Slot) >= 8);
  static_assert(kDescriptorBytes<Slot> % 8 == 0 && offsetof(Slot, seq) == 0);
  std::uint64_t seq = atomic_load(dst.seq, std::memory_order_relaxed);  // reactor's own word
  atomic_store(dst.seq, seq | 1, std::memory_order_relaxed);            // step 1
  auto* to = reinterpret_cast<std::uint64_t*>(&dst);
  const auto* from = reinterpret_cast<const std::uint64_t*>(&src);
  for (std::size_t i = 1; i < kDescriptorBytes<Slot> / 8; ++i) {
    atomic_store(to[i], from[i], std::memory_order_release);  // step 2
  }
  atomic_store(dst.seq, (seq | 1) + 1, std::memory_order_release);  // step 3
}

// Copies `src`'s descriptor into `out` (readers). False if a writer kept it busy for every
// attempt; the caller skips the slot for this refresh.
template <class Slot>
bool seq_read(const Slot& src, Slot& out, int attempts = 64) noexcept {
  const auto* from = reinterpret_cast<const std::uint64_t*>(&src);
  auto* to = reinterpret_cast<std::uint64_t*>(&out);
  for (int a = 0; a < attempts; ++a) {
    // acquire: pairs with step 3 of seq_publish; an even value means every word of that
    // publication is visible.
    std::uint64_t s1 = atomic_load(src.seq, std::memory_order_acquire);
    if (s1 & 1) {
      cpu_relax();
      continue;
    }
    for (std::size_t i = 1; i < kDescriptorBytes<Slot> / 8; ++i) {
      // acquire: pairs with step 2; seeing a word of a newer publication makes the load of
      // seq below see that publication's odd seq.
      to[i] = atomic_load(from[i], std::memory_order_acquire);
    }
    std::uint64_t s2 = atomic_load(src.seq, std::memory_order_relaxed);
    if (s1 == s2) {
      to[0] = s1;
      return true;
    }
  }
  return false;
}

// Relaxed copy of a counter word written by another thread or process (statistics only).
inline std::uint64_t read_counter(const std::uint64_t& word) noexcept {
  return atomic_load(word, std::memory_order_relaxed);
}
// Single-writer increment: a relaxed load and store, no locked instruction. Only for words
// with exactly one writer (stats_layout.hpp says which).
inline void bump(std::uint64_t& word, std::uint64_t n = 1) noexcept {
  atomic_store(word, atomic_load(word, std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
// Multi-writer increment (subscriber counters that several workers may write).
inline void bump_shared(std::uint64_t& word, std::uint64_t n = 1) noexcept {
  atomic_fetch_add(word, n, std::memory_order_relaxed);
}

// Copies a string into a fixed NUL-padded field (truncating), and back.
template <std::size_t N>
void set_text(char (&field)[N], std::string_view s) noexcept {
  std::size_t n = s.size() < N - 1 ? s.size() : N - 1;
  std::memcpy(field, s.data(), n);
  std::memset(field + n, 0, N - n);
}
template <std::size_t N>
std::string_view get_text(const char (&field)[N]) noexcept {
  return {field, ::strnlen(field, N)};
}

class StatsRegion {
 public:
  StatsRegion() = default;

  // Bytes the region needs for `cfg` (with process_slots resolved), page-aligned.
  static std::uint64_t region_bytes(const StatsConfig& cfg) noexcept;
  // Formats a zeroed region (the daemon, before the segment is marked ready).
  static StatsRegion format(std::byte* region, std::uint64_t size, const StatsConfig& cfg,
                            std::int32_t daemon_pid, std::string_view daemon_version,
                            std::uint64_t realtime_ns, std::uint64_t monotonic_ns) noexcept;
  // Validates an existing region: magic, version, and every table inside `size`.
  static Expected<StatsRegion, std::string> attach(std::byte* region, std::uint64_t size);

  bool valid() const noexcept { return base_ != nullptr; }
  StatsHeader& header() const noexcept { return *reinterpret_cast<StatsHeader*>(base_); }
  std::uint32_t daemon_counter_count() const noexcept { return header().daemon_counter_count; }
  std::uint64_t* daemon_counters() const noexcept;
  // Slot i, or nullptr when i is out of range.
  ProcessStats* process(std::uint32_t i) const noexcept;
  TopicStats* topic(std::uint32_t i) const noexcept;
  PublisherStats* publisher(std::uint32_t i) const noexcept;
  SubscriberStats* subscriber(std::uint32_t i) const noexcept;
  WorkerStatsSlot* worker(std::uint32_t i) const noexcept;
  std::string_view config_text() const noexcept;

  // Daemon side, before the segment is ready.
  void set_daemon_counter_count(std::uint32_t n) noexcept;
  void set_config_text(std::string_view toml) noexcept;  // truncated to kStatsConfigBytes
  // Reactor: after a batch of descriptor changes (tools may use it to skip re-reading).
  void bump_generation() noexcept;

 private:
  template <class T>
  T* table(std::uint64_t offset, std::uint32_t count, std::uint32_t i) const noexcept {
    if (i >= count) return nullptr;
    return reinterpret_cast<T*>(base_ + offset) + i;
  }
  std::byte* base_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace zcp::shm
