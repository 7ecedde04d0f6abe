#include "daemon/registry.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

#include "daemon/eventfd.hpp"
#include "shm/layout.hpp"

namespace zcp::daemon {
namespace {

void erase_value(std::vector<std::uint32_t>& v, std::uint32_t id) {
  auto it = std::find(v.begin(), v.end(), id);
  if (it != v.end()) v.erase(it);
}

// The next id after `next` that is neither 0 nor in use. Ids are never reused before the
// 32-bit counter wraps; after that, live ids are skipped.
template <class Map>
std::uint32_t take_id(std::uint32_t& next, const Map& live) {
  for (;;) {
    std::uint32_t id = next++;
    if (id != 0 && !live.contains(id)) return id;
  }
}

RegistryError limit_error(LimitKind limit, std::string message) {
  return RegistryError{fb::ResultCode::LimitReached, std::move(message), limit};
}

}  // namespace

std::string_view to_string(LimitKind limit) noexcept {
  switch (limit) {
    case LimitKind::kNone:
      return "none";
    case LimitKind::kProcesses:
      return "processes";
    case LimitKind::kPublishersPerProcess:
      return "publishers per process";
    case LimitKind::kSubscribersPerProcess:
      return "subscribers per process";
    case LimitKind::kTopics:
      return "topics";
  }
  return "unknown";
}

std::size_t TopicKeyHash::operator()(const TopicKey& k) const noexcept {
  std::hash<std::string> h;
  std::size_t seed = h(k.service);
  // boost::hash_combine's mixing: cheap, and the parts' order matters.
  seed ^= h(k.instance) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  seed ^= h(k.event) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

Registry::Registry(shm::HeartbeatPool& heartbeats, shm::QueueAllocator& queues,
                   std::byte* segment_base, const RegistryConfig& config)
    : heartbeats_(heartbeats), queues_(queues), segment_base_(segment_base), config_(config) {
  processes_.resize(heartbeats_.slot_count());
  config_.limits.max_processes = std::min(config_.limits.max_processes, heartbeats_.slot_count());
  config_.workers = std::max<std::uint32_t>(config_.workers, 1);
  worker_load_.assign(config_.workers, 0);
}

// ---- Processes -------------------------------------------------------------------------------

RegistryResult<const ProcessRecord*> Registry::add_process(reactor::ConnId conn,
                                                           const reactor::PeerCred& peer,
                                                           std::string_view name, bool monitored,
                                                           std::uint64_t now_ns) {
  std::string key(name);
  if (auto it = names_.find(key); it != names_.end()) {
    const ProcessRecord* holder = process(it->second);
    return Unexpected(RegistryError{fb::ResultCode::AlreadyRegistered,
                                    "process name '" + key + "' is already registered by pid " +
                                        std::to_string(holder != nullptr ? holder->peer.pid : 0) +
                                        "; process names are unique among live registrations"});
  }
  if (live_processes_ >= config_.limits.max_processes) {
    return Unexpected(
        limit_error(LimitKind::kProcesses,
                    "limit reached: processes = " + std::to_string(config_.limits.max_processes) +
                        " (all registered; raise diroute --max-processes)"));
  }
  std::optional<shm::SlotLease> lease = heartbeats_.acquire(peer.pid, now_ns);
  if (!lease) {
    return Unexpected(
        limit_error(LimitKind::kProcesses,
                    "limit reached: heartbeat slots = " + std::to_string(heartbeats_.slot_count()) +
                        " (every slot of the segment is in use)"));
  }
  std::optional<ProcessRecord>& slot = processes_[lease->index];
  slot.emplace();
  slot->handle = *lease;
  slot->peer = peer;
  slot->name = key;
  slot->monitored = monitored;
  slot->conn = conn;
  slot->registered_ns = now_ns;
  names_.emplace(std::move(key), lease->index);
  ++live_processes_;
  return &*slot;
}

bool Registry::set_watch(const ProcessHandle& handle, reactor::WatchId watch) noexcept {
  if (process(handle) == nullptr) return false;
  processes_[handle.index]->watch = watch;
  return true;
}

std::optional<RemovedProcess> Registry::remove_process(ProcessHandle handle) {
  // Validate before touching anything: the old daemon released whatever its iterator
  // pointed at. A stale or foreign handle changes nothing.
  if (process(handle) == nullptr) return std::nullopt;
  ProcessRecord& rec = *processes_[handle.index];

  // 1. Endpoints first, from the slot's own lists: this never depends on a name lookup, and
  //    nothing below can return before every endpoint of the slot is detached.
  for (std::uint32_t id : rec.publishers) {
    detach_publisher(id);
  }
  for (std::uint32_t id : rec.subscribers) {
    detach_subscriber(id);
  }

  RemovedProcess removed{std::move(rec), true};
  // 2. The name, only if it still maps to this slot.
  if (auto it = names_.find(removed.record.name);
      it != names_.end() && it->second == handle.index) {
    names_.erase(it);
  }
  // 3. The shm heartbeat slot. If it was already free (it should not be: only the registry
  //    releases), say so and carry on: the rest of the cleanup must still happen.
  removed.heartbeat_released = heartbeats_.release(handle);
  // 4. The record.
  processes_[handle.index].reset();
  --live_processes_;
  ++epoch_;
  return removed;
}

const ProcessRecord* Registry::process(std::uint32_t slot) const noexcept {
  if (slot >= processes_.size() || !processes_[slot]) return nullptr;
  return &*processes_[slot];
}

const ProcessRecord* Registry::process(const ProcessHandle& handle) const noexcept {
  const ProcessRecord* rec = process(handle.index);
  if (rec == nullptr || rec->handle.epoch != handle.epoch) return nullptr;
  return rec;
}

ProcessRecord* Registry::find(std::uint32_t slot) noexcept {
  if (slot >= processes_.size() || !processes_[slot]) return nullptr;
  return &*processes_[slot];
}

std::vector<ProcessHandle> Registry::expired(std::uint64_t now_ns, std::uint64_t timeout_ns) const {
  std::vector<ProcessHandle> out;
  for (const std::optional<ProcessRecord>& rec : processes_) {
    if (!rec || !rec->monitored) continue;
    std::optional<std::uint64_t> age = heartbeats_.age(rec->handle.index, now_ns);
    // A slot that is not active any more has no owner to wait for: treat it as expired.
    if (!age || *age > timeout_ns) out.push_back(rec->handle);
  }
  return out;
}

// ---- Endpoints -------------------------------------------------------------------------------

RegistryResult<TopicEntry*> Registry::topic_for(const TopicKey& key) {
  if (auto it = topics_.find(key); it != topics_.end()) return &it->second;
  if (topics_.size() >= config_.limits.max_topics) {
    return Unexpected(limit_error(
        LimitKind::kTopics, "limit reached: topics = " + std::to_string(config_.limits.max_topics) +
                                " (no new topic " + key.str() + "; raise diroute --max-topics)"));
  }
  return &topics_.emplace(key, TopicEntry{}).first->second;
}

std::string Registry::arena_problem(const char* what, std::uint64_t bytes) const {
  shm::QueueArenaStats s = queues_.stats();
  return std::string("queue arena exhausted: a ") + what + " needs " + std::to_string(bytes) +
         " bytes; " + std::to_string(s.free_bytes) + " of " + std::to_string(s.arena_bytes) +
         " bytes free, largest free block " + std::to_string(s.largest_free_block) +
         " (raise diroute --queue-arena-mb)";
}

RegistryResult<const PublisherRecord*> Registry::add_publisher(std::uint32_t slot,
                                                               const protocol::Topic& topic) {
  ProcessRecord* owner = find(slot);
  if (owner == nullptr) {
    return Unexpected(
        RegistryError{fb::ResultCode::NotRegistered, "no process in slot " + std::to_string(slot)});
  }
  if (owner->publishers.size() >= config_.limits.max_publishers_per_process) {
    return Unexpected(limit_error(LimitKind::kPublishersPerProcess,
                                  "limit reached: publishers per process = " +
                                      std::to_string(config_.limits.max_publishers_per_process) +
                                      " (raise diroute --max-publishers-per-process)"));
  }
  TopicKey key = TopicKey::from(topic);
  auto entry = topic_for(key);
  if (!entry) return Unexpected(std::move(entry.error()));
  auto ring = queues_.allocate_ring<shm::MessageHeader>(segment_base_, shm::RingKind::kSpsc,
                                                        config_.publisher_ring_capacity);
  if (!ring) {
    drop_topic_if_empty(key);
    std::uint64_t bytes =
        shm::ring_bytes(config_.publisher_ring_capacity,
                        shm::slot_stride<shm::MessageHeader>(shm::RingKind::kSpsc));
    return Unexpected(
        RegistryError{fb::ResultCode::OutOfResources, arena_problem("publisher ring", bytes)});
  }
  auto least = std::min_element(worker_load_.begin(), worker_load_.end());
  auto worker = static_cast<std::uint32_t>(least - worker_load_.begin());
  ++*least;

  std::uint32_t id = take_id(next_publisher_id_, publishers_);
  (*entry)->publishers.push_back(id);
  owner->publishers.push_back(id);
  auto [it, inserted] =
      publishers_.emplace(id, PublisherRecord{id, slot, std::move(key), *ring, worker});
  (void)inserted;
  return &it->second;
}

RegistryResult<const SubscriberRecord*> Registry::add_subscriber(std::uint32_t slot,
                                                                 const protocol::Topic& topic,
                                                                 std::uint32_t capacity,
                                                                 fb::QueuePolicy policy) {
  ProcessRecord* owner = find(slot);
  if (owner == nullptr) {
    return Unexpected(
        RegistryError{fb::ResultCode::NotRegistered, "no process in slot " + std::to_string(slot)});
  }
  if (owner->subscribers.size() >= config_.limits.max_subscribers_per_process) {
    return Unexpected(limit_error(LimitKind::kSubscribersPerProcess,
                                  "limit reached: subscribers per process = " +
                                      std::to_string(config_.limits.max_subscribers_per_process) +
                                      " (raise diroute --max-subscribers-per-process)"));
  }
  if (capacity == 0) capacity = config_.default_subscriber_capacity;
  capacity = std::min(capacity, config_.max_subscriber_capacity);

  TopicKey key = TopicKey::from(topic);
  auto entry = topic_for(key);
  if (!entry) return Unexpected(std::move(entry.error()));
  auto queue =
      queues_.allocate_ring<shm::MessageHeader>(segment_base_, shm::RingKind::kMpmc, capacity);
  if (!queue) {
    drop_topic_if_empty(key);
    std::uint64_t bytes =
        shm::ring_bytes(capacity, shm::slot_stride<shm::MessageHeader>(shm::RingKind::kMpmc));
    return Unexpected(
        RegistryError{fb::ResultCode::OutOfResources, arena_problem("subscriber queue", bytes)});
  }
  auto efd = make_eventfd("a subscriber");
  if (!efd) {
    // Never visible to a router yet: free at once, no retirement needed.
    queues_.free_ring(*queue);
    drop_topic_if_empty(key);
    return Unexpected(RegistryError{fb::ResultCode::OutOfResources, efd.error().message()});
  }

  std::uint32_t id = take_id(next_subscriber_id_, subscribers_);
  (*entry)->subscribers.push_back(id);
  owner->subscribers.push_back(id);
  SubscriberRecord rec{id, slot, std::move(key), *queue, policy, std::move(*efd)};
  auto [it, inserted] = subscribers_.emplace(id, std::move(rec));
  (void)inserted;
  return &it->second;
}

bool Registry::remove_publisher(std::uint32_t slot, std::uint32_t id) {
  auto it = publishers_.find(id);
  if (it == publishers_.end() || it->second.slot != slot) return false;
  if (ProcessRecord* owner = find(slot)) erase_value(owner->publishers, id);
  detach_publisher(id);
  ++epoch_;
  return true;
}

bool Registry::remove_subscriber(std::uint32_t slot, std::uint32_t id) {
  auto it = subscribers_.find(id);
  if (it == subscribers_.end() || it->second.slot != slot) return false;
  if (ProcessRecord* owner = find(slot)) erase_value(owner->subscribers, id);
  detach_subscriber(id);
  ++epoch_;
  return true;
}

// Detaching takes an endpoint out of the maps and its topic, and retires its queue at the
// epoch that will follow this change (the caller bumps epoch_ once per change).
void Registry::detach_publisher(std::uint32_t id) {
  auto it = publishers_.find(id);
  if (it == publishers_.end()) return;
  PublisherRecord& rec = it->second;
  if (auto t = topics_.find(rec.topic); t != topics_.end()) erase_value(t->second.publishers, id);
  if (rec.worker < worker_load_.size() && worker_load_[rec.worker] > 0) --worker_load_[rec.worker];
  retired_.retire(rec.ring, sys::UniqueFd{}, epoch_ + 1);
  TopicKey key = std::move(rec.topic);
  publishers_.erase(it);
  drop_topic_if_empty(key);
}

void Registry::detach_subscriber(std::uint32_t id) {
  auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  SubscriberRecord& rec = it->second;
  if (auto t = topics_.find(rec.topic); t != topics_.end()) erase_value(t->second.subscribers, id);
  retired_.retire(rec.queue, std::move(rec.eventfd), epoch_ + 1);
  TopicKey key = std::move(rec.topic);
  subscribers_.erase(it);
  drop_topic_if_empty(key);
}

void Registry::drop_topic_if_empty(const TopicKey& key) {
  auto it = topics_.find(key);
  if (it != topics_.end() && it->second.publishers.empty() && it->second.subscribers.empty()) {
    topics_.erase(it);
  }
}

const PublisherRecord* Registry::publisher(std::uint32_t id) const noexcept {
  auto it = publishers_.find(id);
  return it == publishers_.end() ? nullptr : &it->second;
}

const SubscriberRecord* Registry::subscriber(std::uint32_t id) const noexcept {
  auto it = subscribers_.find(id);
  return it == subscribers_.end() ? nullptr : &it->second;
}

const TopicEntry* Registry::topic(const TopicKey& key) const noexcept {
  auto it = topics_.find(key);
  return it == topics_.end() ? nullptr : &it->second;
}

ReclaimResult Registry::reclaim(std::uint64_t safe_epoch) {
  return retired_.reclaim(safe_epoch, queues_);
}

}  // namespace zcp::daemon
