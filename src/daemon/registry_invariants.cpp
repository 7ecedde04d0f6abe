// Registry::check_invariants: the registry's consistency rules, stated once, in words. The
// unit tests call it after every step; a broken rule names what is wrong.
#include <algorithm>

#include "daemon/registry.hpp"

namespace zcp::daemon {
namespace {

bool contains(const std::vector<std::uint32_t>& v, std::uint32_t id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

}  // namespace

std::string Registry::check_invariants() const {
  std::size_t live = 0;
  std::size_t owned_pubs = 0;
  std::size_t owned_subs = 0;
  for (std::uint32_t slot = 0; slot < processes_.size(); ++slot) {
    if (!processes_[slot]) continue;
    const ProcessRecord& p = *processes_[slot];
    ++live;
    const std::string who = "process '" + p.name + "' (slot " + std::to_string(slot) + ")";
    if (p.handle.index != slot) {
      return who + " holds a handle for slot " + std::to_string(p.handle.index);
    }
    auto lease = heartbeats_.lease_of(slot);
    if (!lease || lease->epoch != p.handle.epoch) {
      return who + " has no active heartbeat slot at its epoch";
    }
    auto n = names_.find(p.name);
    if (n == names_.end() || n->second != slot) return who + " is missing from the name index";
    for (std::uint32_t id : p.publishers) {
      const PublisherRecord* r = publisher(id);
      if (r == nullptr || r->slot != slot) {
        return who + " lists publisher " + std::to_string(id) + " it does not own";
      }
    }
    for (std::uint32_t id : p.subscribers) {
      const SubscriberRecord* r = subscriber(id);
      if (r == nullptr || r->slot != slot) {
        return who + " lists subscriber " + std::to_string(id) + " it does not own";
      }
    }
    if (p.wake_fds.size() > config_.max_wake_fds_per_process)
      return who + " holds more wake fds than allowed";
    for (std::uint32_t id : p.wake_fds) {
      auto h = wake_holders_.find(id);
      if (subscriber(id) == nullptr)
        return who + " holds the wake fd of subscriber " + std::to_string(id) + ", which is gone";
      if (h == wake_holders_.end() ||
          std::find(h->second.begin(), h->second.end(), slot) == h->second.end()) {
        return who + " holds the wake fd of subscriber " + std::to_string(id) +
               " but is not listed as its holder";
      }
    }
    owned_pubs += p.publishers.size();
    owned_subs += p.subscribers.size();
  }
  for (const auto& [id, slots] : wake_holders_) {
    for (std::uint32_t slot : slots) {
      const ProcessRecord* p = process(slot);
      if (p == nullptr ||
          std::find(p->wake_fds.begin(), p->wake_fds.end(), id) == p->wake_fds.end()) {
        return "slot " + std::to_string(slot) + " is listed as holding the wake fd of subscriber " +
               std::to_string(id) + " but does not";
      }
    }
  }

  if (live != live_processes_) return "live process count is off";
  if (names_.size() != live) return "the name index holds names of removed processes";
  if (heartbeats_.active_count() != live) {
    return "heartbeat slots active: " + std::to_string(heartbeats_.active_count()) +
           ", processes: " + std::to_string(live);
  }
  if (owned_pubs != publishers_.size()) return "a publisher is an orphan (no process lists it)";
  if (owned_subs != subscribers_.size()) return "a subscriber is an orphan (no process lists it)";

  std::size_t live_blocks = 0;
  std::size_t table_blocks = 0;  // route tables of direct publishers
  for (const auto& [id, r] : publishers_) {
    const ProcessRecord* p = process(r.slot);
    if (p == nullptr || !contains(p->publishers, id)) {
      return "publisher " + std::to_string(id) + " is an orphan";
    }
    const TopicEntry* t = topic(r.topic);
    if (t == nullptr || !contains(t->publishers, id)) {
      return "publisher " + std::to_string(id) + " is missing from its topic";
    }
    if (queues_.block_size(r.port->publish_desc.offset) == 0 ||
        queues_.block_size(r.port->loan_desc.offset) == 0) {
      return "publisher " + std::to_string(id) + " ring is not an arena block";
    }
    if (t->direct != (r.port->route_table != 0)) {
      return "publisher " + std::to_string(id) +
             (t->direct ? " of a direct topic has no route table"
                        : " has a route table on a routed topic");
    }
    if (r.port->route_table != 0) {
      if (queues_.block_size(r.port->route_table) == 0) {
        return "publisher " + std::to_string(id) + " route table is not an arena block";
      }
      ++table_blocks;
    }
    ++live_blocks;
  }
  for (const auto& [id, r] : subscribers_) {
    const ProcessRecord* p = process(r.slot);
    if (p == nullptr || !contains(p->subscribers, id)) {
      return "subscriber " + std::to_string(id) + " is an orphan";
    }
    const TopicEntry* t = topic(r.topic);
    if (t == nullptr || !contains(t->subscribers, id)) {
      return "subscriber " + std::to_string(id) + " is missing from its topic";
    }
    if (queues_.block_size(r.port->queue_desc.offset) == 0 ||
        queues_.block_size(r.port->release_desc.offset) == 0) {
      return "subscriber " + std::to_string(id) + " queue is not an arena block";
    }
    const std::uint32_t rs = r.port->route_slot;
    if (rs != shm::kNoRouteSlot &&
        (!t->direct || rs >= shm::kRouteSlots || t->route_slots[rs] != id)) {
      return "subscriber " + std::to_string(id) + " holds route slot " + std::to_string(rs) +
             " that its topic does not give it";
    }
    if (!r.eventfd.valid()) return "subscriber " + std::to_string(id) + " has no eventfd";
    ++live_blocks;
  }
  for (const auto& [key, t] : topics_) {
    if (t.publishers.empty() && t.subscribers.empty()) {
      return "topic " + key.str() + " is empty but kept";
    }
    for (std::uint32_t slot = 0; slot < shm::kRouteSlots; ++slot) {
      const std::uint32_t id = t.route_slots[slot];
      const SubscriberRecord* r = id ? subscriber(id) : nullptr;
      if (id != 0 && (r == nullptr || r->port->route_slot != slot)) {
        return "topic " + key.str() + " route slot " + std::to_string(slot) + " names subscriber " +
               std::to_string(id) + ", which does not hold it";
      }
    }
    for (std::uint32_t id : t.publishers) {
      const PublisherRecord* r = publisher(id);
      if (r == nullptr || !(r->topic == key)) {
        return "topic " + key.str() + " lists a publisher that is gone";
      }
    }
    for (std::uint32_t id : t.subscribers) {
      const SubscriberRecord* r = subscriber(id);
      if (r == nullptr || !(r->topic == key)) {
        return "topic " + key.str() + " lists a subscriber that is gone";
      }
    }
  }
  // Stats slots: every live topic and endpoint holds one, a retired port holds its own until
  // reclaimed, and no other slot is taken.
  const SlotFreeList& ts = stats_.topic_slots();
  if (ts.capacity() - ts.available() != topics_.size()) {
    return std::to_string(ts.capacity() - ts.available()) + " topic stats slots taken for " +
           std::to_string(topics_.size()) + " topics";
  }
  const SlotFreeList& ps = stats_.publisher_slots();
  const SlotFreeList& ss = stats_.subscriber_slots();
  const std::size_t endpoint_slots =
      (ps.capacity() - ps.available()) + (ss.capacity() - ss.available());
  if (endpoint_slots != publishers_.size() + subscribers_.size() + retired_.pending()) {
    return std::to_string(endpoint_slots) + " endpoint stats slots taken for " +
           std::to_string(publishers_.size() + subscribers_.size()) + " endpoints and " +
           std::to_string(retired_.pending()) + " retired ports";
  }
  std::uint64_t blocks = queues_.stats().allocations;
  if (blocks != 2 * live_blocks + table_blocks + retired_.blocks()) {
    return "the queue arena holds " + std::to_string(blocks) + " blocks, but " +
           std::to_string(live_blocks) + " endpoints (two rings each), " +
           std::to_string(table_blocks) + " route tables and " +
           std::to_string(retired_.pending()) + " retired ports account for them";
  }
  return {};
}

}  // namespace zcp::daemon
