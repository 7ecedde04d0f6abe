// StatsWriter: the reactor's side of the stats region (shm/stats_layout.hpp). It writes the
// descriptors of processes, topics, publishers and subscribers (seqlocked, shm::seq_publish)
// and owns the daemon-private free lists of their slots.
//
// Slots:
//  - a process's slot is its heartbeat slot index (the region has one per heartbeat slot);
//  - topics, publishers and subscribers take a slot from a free list here when they are
//    created, and publish state kFree when they go away (any cause). A topic slot is free
//    again at once (no worker writes it). A publisher's or subscriber's slot carries the
//    counter line its router workers write, so it returns to its free list only when the port
//    is reclaimed, after every worker acknowledged the removal (RetireList): a worker still
//    counting into it never counts into the slot's next owner.
// Without a region (attached() false: a registry built by a test without one) the free lists
// still bound the live objects, and the descriptor writes do nothing.
//
// Reactor thread only; no mutex. Tools read the region without asking: nothing here waits.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "daemon/config.hpp"
#include "shm/stats.hpp"

namespace zcp::daemon {

struct ProcessRecord;
struct PublisherRecord;
struct SubscriberRecord;
struct TopicKey;
struct TopicEntry;

inline constexpr std::uint32_t kNoStatsSlot = ~std::uint32_t{0};

// A LIFO free list of slot indices 0..count-1; the lowest indices go out first, so a small
// system keeps its descriptors at the start of each table (what a tool scans first).
class SlotFreeList {
 public:
  explicit SlotFreeList(std::uint32_t count = 0);
  std::optional<std::uint32_t> take() noexcept;
  void give(std::uint32_t slot);  // never allocates: the vector keeps its capacity
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t available() const noexcept { return static_cast<std::uint32_t>(free_.size()); }

 private:
  std::vector<std::uint32_t> free_;
  std::uint32_t capacity_ = 0;
};

class StatsWriter {
 public:
  // The tables are sized by the region when there is one, else by `limits`.
  StatsWriter(const shm::StatsRegion& region, const Limits& limits);

  bool attached() const noexcept { return region_.valid(); }
  const shm::StatsRegion& region() const noexcept { return region_; }

  SlotFreeList& topic_slots() noexcept { return topics_; }
  SlotFreeList& publisher_slots() noexcept { return publishers_; }
  SlotFreeList& subscriber_slots() noexcept { return subscribers_; }
  const SlotFreeList& topic_slots() const noexcept { return topics_; }
  const SlotFreeList& publisher_slots() const noexcept { return publishers_; }
  const SlotFreeList& subscriber_slots() const noexcept { return subscribers_; }

  // Descriptors. Each writes the whole descriptor of the object as it is now (state kLive),
  // or kFree when it went away.
  void process_live(const ProcessRecord& p) noexcept;
  void process_free(std::uint32_t heartbeat_slot) noexcept;
  void topic_live(const TopicKey& key, const TopicEntry& t) noexcept;
  void topic_free(std::uint32_t slot) noexcept;
  void publisher_live(const PublisherRecord& p, const ProcessRecord& owner,
                      std::uint32_t topic_slot) noexcept;
  void publisher_free(std::uint32_t slot) noexcept;
  void subscriber_live(const SubscriberRecord& s, const ProcessRecord& owner,
                       std::uint32_t topic_slot) noexcept;
  void subscriber_free(std::uint32_t slot) noexcept;

  // The counter line of a publisher or subscriber slot, zeroed, for the port to count into
  // (before its Add command); nullptr without a region (the port keeps its own).
  shm::PublisherStats* publisher_counters(std::uint32_t slot) noexcept;
  shm::SubscriberStats* subscriber_counters(std::uint32_t slot) noexcept;

  // After a batch of descriptor changes: tools that cache the topology re-read it.
  void changed() noexcept;

 private:
  shm::StatsRegion region_;
  SlotFreeList topics_;
  SlotFreeList publishers_;
  SlotFreeList subscribers_;
};

}  // namespace zcp::daemon
