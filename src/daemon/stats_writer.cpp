#include "daemon/stats_writer.hpp"

#include <algorithm>

#include "daemon/registry.hpp"

namespace zcp::daemon {

// ---- SlotFreeList ------------------------------------------------------------------------------

SlotFreeList::SlotFreeList(std::uint32_t count) : capacity_(count) {
  free_.reserve(count);
  for (std::uint32_t i = count; i > 0; --i)
    free_.push_back(i - 1);  // slot 0 on top
}

std::optional<std::uint32_t> SlotFreeList::take() noexcept {
  if (free_.empty()) return std::nullopt;
  std::uint32_t slot = free_.back();
  free_.pop_back();
  return slot;
}

void SlotFreeList::give(std::uint32_t slot) {
  if (slot < capacity_ && free_.size() < capacity_) free_.push_back(slot);
}

// ---- StatsWriter -------------------------------------------------------------------------------

namespace {

std::uint32_t table_size(bool attached, std::uint32_t region_slots, std::uint32_t limit) {
  return attached ? std::min(region_slots, limit) : limit;
}

}  // namespace

StatsWriter::StatsWriter(const shm::StatsRegion& region, const Limits& limits)
    : region_(region),
      topics_(table_size(region.valid(), region.valid() ? region.header().topic_slots : 0,
                         limits.max_topics)),
      publishers_(table_size(region.valid(), region.valid() ? region.header().publisher_slots : 0,
                             limits.max_publishers)),
      subscribers_(table_size(region.valid(), region.valid() ? region.header().subscriber_slots : 0,
                              limits.max_subscribers)) {}

void StatsWriter::process_live(const ProcessRecord& p) noexcept {
  shm::ProcessStats* dst = attached() ? region_.process(p.handle.index) : nullptr;
  if (dst == nullptr) return;
  shm::ProcessStats d{};
  d.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
  d.pid = p.peer.pid;
  d.uid = p.peer.uid;
  d.gid = p.peer.gid;
  d.heartbeat_slot = p.handle.index;
  d.monitored = p.monitored ? 1 : 0;
  d.heartbeat_epoch = p.handle.epoch;
  d.registered_realtime_ns = p.registered_realtime_ns;
  d.publishers = static_cast<std::uint32_t>(p.publishers.size());
  d.subscribers = static_cast<std::uint32_t>(p.subscribers.size());
  shm::set_text(d.name, p.name);
  shm::seq_publish(*dst, d);
}

void StatsWriter::process_free(std::uint32_t heartbeat_slot) noexcept {
  shm::ProcessStats* dst = attached() ? region_.process(heartbeat_slot) : nullptr;
  if (dst != nullptr) shm::seq_publish(*dst, shm::ProcessStats{});  // kFree is 0
}

void StatsWriter::topic_live(const TopicKey& key, const TopicEntry& t) noexcept {
  shm::TopicStats* dst = attached() ? region_.topic(t.stats_slot) : nullptr;
  if (dst == nullptr) return;
  shm::TopicStats d{};
  d.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
  d.id = t.id;
  d.publishers = static_cast<std::uint32_t>(t.publishers.size());
  d.subscribers = static_cast<std::uint32_t>(t.subscribers.size());
  shm::set_text(d.service, key.service);
  shm::set_text(d.instance, key.instance);
  shm::set_text(d.event, key.event);
  shm::seq_publish(*dst, d);
}

void StatsWriter::topic_free(std::uint32_t slot) noexcept {
  shm::TopicStats* dst = attached() ? region_.topic(slot) : nullptr;
  if (dst != nullptr) shm::seq_publish(*dst, shm::TopicStats{});
}

void StatsWriter::publisher_live(const PublisherRecord& p, const ProcessRecord& owner,
                                 std::uint32_t topic_slot) noexcept {
  shm::PublisherStats* dst = attached() ? region_.publisher(p.stats_slot) : nullptr;
  if (dst == nullptr) return;
  // Only the descriptor lines are copied (kDescriptorBytes): the counter line in `d` is
  // ignored, and the workers' line in *dst is left alone.
  shm::PublisherStats d{};
  d.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
  d.id = p.id;
  d.topic_slot = topic_slot;
  d.process_slot = owner.handle.index;
  d.pid = owner.peer.pid;
  d.worker = p.worker;
  d.pool_class = p.port->pool_class;
  d.max_loans = p.port->max_loans;
  d.history_depth = p.port->history_depth;
  d.max_payload = p.chunk_size;  // a loan may fill its chunk
  d.publish_ring_offset = p.port->publish_desc.offset;
  d.loan_ring_offset = p.port->loan_desc.offset;
  shm::seq_publish(*dst, d);
}

void StatsWriter::publisher_free(std::uint32_t slot) noexcept {
  shm::PublisherStats* dst = attached() ? region_.publisher(slot) : nullptr;
  if (dst != nullptr) shm::seq_publish(*dst, shm::PublisherStats{});
}

void StatsWriter::subscriber_live(const SubscriberRecord& s, const ProcessRecord& owner,
                                  std::uint32_t topic_slot) noexcept {
  shm::SubscriberStats* dst = attached() ? region_.subscriber(s.stats_slot) : nullptr;
  if (dst == nullptr) return;
  shm::SubscriberStats d{};
  d.state = static_cast<std::uint32_t>(shm::StatsSlotState::kLive);
  d.id = s.id;
  d.topic_slot = topic_slot;
  d.process_slot = owner.handle.index;
  d.pid = owner.peer.pid;
  d.home_worker = s.port->home_worker;
  d.policy = static_cast<std::uint32_t>(s.port->policy);
  d.capacity = s.port->queue_desc.capacity;
  d.max_held = s.max_held;
  d.history_request = s.port->history_request;
  d.queue_offset = s.port->queue_desc.offset;
  d.release_offset = s.port->release_desc.offset;
  shm::seq_publish(*dst, d);
}

void StatsWriter::subscriber_free(std::uint32_t slot) noexcept {
  shm::SubscriberStats* dst = attached() ? region_.subscriber(slot) : nullptr;
  if (dst != nullptr) shm::seq_publish(*dst, shm::SubscriberStats{});
}

shm::PublisherStats* StatsWriter::publisher_counters(std::uint32_t slot) noexcept {
  shm::PublisherStats* s = attached() ? region_.publisher(slot) : nullptr;
  if (s != nullptr) router::reset_counters(*s);
  return s;
}

shm::SubscriberStats* StatsWriter::subscriber_counters(std::uint32_t slot) noexcept {
  shm::SubscriberStats* s = attached() ? region_.subscriber(slot) : nullptr;
  if (s != nullptr) router::reset_counters(*s);
  return s;
}

void StatsWriter::changed() noexcept {
  if (attached()) region_.bump_generation();
}

}  // namespace zcp::daemon
