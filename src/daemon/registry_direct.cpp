// Registry, direct delivery's side: the topic's route tables (the seqlocked slot lists that
// direct publishers push by), the ordered route writes that follow router commands, the
// quiescence test of a retired subscriber queue, and the repair of queues a dead publisher
// left claimed. The rest of the registry is in registry.cpp.
#include <algorithm>
#include <string>

#include "daemon/registry.hpp"
#include "shm/atomic.hpp"
#include "shm/layout.hpp"

namespace zcp::daemon {

// ---- Direct delivery (shm/route_table.hpp) ----------------------------------------------------

Expected<std::uint64_t, std::string> Registry::make_route_table(const TopicEntry& entry) {
  auto off = queues_.allocate(sizeof(shm::RouteTable));
  if (!off) return Unexpected(std::string(shm::to_string(off.error())));
  auto* table = reinterpret_cast<shm::RouteTable*>(segment_base_ + *off);
  // Plain stores: no publisher knows this block before its grant, sent after.
  // What the topic's other tables say (route writes still waiting reach this one too).
  shm::format_route_table(*table, entry.route_written, config_.direct_wake_max);
  for (std::uint32_t slot = 0; slot < shm::kRouteSlots; ++slot) {
    const std::uint32_t id = entry.route_listed[slot];
    if (id == 0) continue;
    if (auto it = subscribers_.find(id); it != subscribers_.end()) {
      table->entries[slot] = shm::RouteEntry{id, 0, it->second.port->queue_desc};
    }
  }
  return *off;
}

void Registry::flush_route_writes(const TopicKey& key, TopicEntry& entry) {
  while (!entry.route_writes.empty()) {
    const TopicEntry::RouteWrite w = entry.route_writes.front();
    if (w.seq != 0 && !router_.settled(w.seq)) {
      if (std::find(route_writes_pending_.begin(), route_writes_pending_.end(), key) ==
          route_writes_pending_.end()) {
        route_writes_pending_.push_back(key);
      }
      return;
    }
    entry.route_writes.pop_front();
    auto s = w.subscriber_id != 0 ? subscribers_.find(w.subscriber_id) : subscribers_.end();
    const bool list = s != subscribers_.end();  // a subscriber gone meanwhile is not listed
    write_routes(entry, w.slot, list ? w.subscriber_id : 0,
                 list ? s->second.port->queue_desc : shm::QueueDescriptor{}, w.version);
    entry.route_listed[w.slot] = list ? w.subscriber_id : 0;
    entry.route_written = w.version;
    if (list) grant_wake_fd(entry, w.subscriber_id);
  }
}

void Registry::write_routes(const TopicEntry& entry, std::uint32_t slot,
                            std::uint32_t subscriber_id, const shm::QueueDescriptor& queue,
                            std::uint32_t version) {
  for (std::uint32_t pid : entry.publishers) {
    auto it = publishers_.find(pid);
    if (it == publishers_.end() || it->second.port->route_table == 0) continue;
    auto* table = reinterpret_cast<shm::RouteTable*>(segment_base_ + it->second.port->route_table);
    shm::write_route(*table, slot, subscriber_id, queue, version);
  }
}

bool Registry::quiescent(const RetiredPort& e) const noexcept {
  for (std::uint32_t pid : e.direct_publishers) {
    const router::PublisherState* port = nullptr;
    if (auto it = publishers_.find(pid); it != publishers_.end()) {
      port = it->second.port.get();
    } else {
      // Removed: gone for good (it pushes no more) unless its process may still run.
      port = retired_.quarantined_publisher(pid);
      if (port == nullptr) continue;
    }
    // seq_cst: pairs with the publisher's seq_cst guard store and version load (the argument
    // in route_table.hpp); our version store was the seq_cst one in write_route().
    const std::uint64_t g =
        shm::atomic_load(port->in.header()->direct_guard, std::memory_order_seq_cst);
    if (!shm::guard_passed(g, e.route_version)) return false;
  }
  return true;
}

std::size_t Registry::repair_abandoned(const std::vector<DirectPublisherRef>& publishers) {
  std::size_t n = 0;
  for (const DirectPublisherRef& p : publishers) {
    auto t = topics_.find(p.topic);
    if (t == topics_.end()) continue;  // no subscriber left: no queue to repair
    const std::uint32_t tag = shm::MpmcRing<shm::MessageHeader>::publisher_tag(p.id);
    for (std::uint32_t id : t->second.subscribers) {
      if (auto s = subscribers_.find(id); s != subscribers_.end())
        n += s->second.port->queue.skip_abandoned(tag);
    }
  }
  return n;
}

std::vector<std::uint32_t> Registry::faulted_slots() const {
  std::vector<std::uint32_t> slots;
  // acquire: pairs with the worker's release CAS of the fault word (Worker::fault). The eventfd
  // the worker writes after it only wakes us; it is no synchronization in the C++ model, and
  // a fault missed here is found at the next notification or heartbeat tick.
  for (const auto& [id, r] : publishers_) {
    if (r.port->fault.load(std::memory_order_acquire)) slots.push_back(r.slot);
  }
  for (const auto& [id, r] : subscribers_) {
    if (r.port->fault.load(std::memory_order_acquire)) slots.push_back(r.slot);
  }
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

}  // namespace zcp::daemon
