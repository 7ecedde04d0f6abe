#include "daemon/registry.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

#include <time.h>

#include "common/clock.hpp"
#include "daemon/eventfd.hpp"
#include "shm/atomic.hpp"
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

// The LimitReached refusal of a daemon-wide endpoint limit. `retiring`: removed endpoints of
// this kind whose slots return once the router lets go of them (a retry soon succeeds).
RegistryError total_limit_error(LimitKind limit, const char* what, std::uint32_t max,
                                std::size_t retiring, const char* flag) {
  std::string msg =
      std::string("limit reached: ") + what + " = " + std::to_string(max) + " daemon-wide";
  if (retiring > 0) {
    msg += " (" + std::to_string(retiring) +
           " removed port(s) are still being released by the router; retry shortly, or raise "
           "diroute " +
           flag + ")";
  } else {
    msg += std::string(" (raise diroute ") + flag + ")";
  }
  return limit_error(limit, std::move(msg));
}

}  // namespace

bool topic_matches(const std::vector<std::string>& patterns, std::string_view topic) noexcept {
  for (const std::string& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (topic.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1)) return true;
    } else if (topic == p) {
      return true;
    }
  }
  return false;
}

std::string topic_pattern_problem(const std::string& pattern) {
  if (pattern.empty()) return "empty; expected SERVICE/INSTANCE/EVENT or a prefix ending in '*'";
  const std::size_t star = pattern.find('*');
  if (star != std::string::npos && star + 1 != pattern.size()) return "'*' may only end a pattern";
  if (star == std::string::npos && std::count(pattern.begin(), pattern.end(), '/') != 2) {
    return "expected SERVICE/INSTANCE/EVENT (or a prefix ending in '*')";
  }
  return {};
}

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
    case LimitKind::kPublishers:
      return "publishers";
    case LimitKind::kSubscribers:
      return "subscribers";
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
                   std::byte* segment_base, std::uint64_t segment_size, router::Router& router,
                   const RegistryConfig& config, const shm::StatsRegion& stats)
    : heartbeats_(heartbeats),
      queues_(queues),
      segment_base_(segment_base),
      segment_size_(segment_size),
      router_(router),
      config_(config),
      stats_(stats, config.limits) {
  processes_.resize(heartbeats_.slot_count());
  config_.limits.max_processes = std::min(config_.limits.max_processes, heartbeats_.slot_count());
  // A live topic, publisher or subscriber always has its stats slot.
  config_.limits.max_topics = stats_.topic_slots().capacity();
  config_.limits.max_publishers = stats_.publisher_slots().capacity();
  config_.limits.max_subscribers = stats_.subscriber_slots().capacity();
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
  slot->registered_realtime_ns = realtime_ns();
  names_.emplace(std::move(key), lease->index);
  ++live_processes_;
  stats_.process_live(*slot);
  stats_.changed();
  return &*slot;
}

bool Registry::set_watch(const ProcessHandle& handle, reactor::WatchId watch) noexcept {
  if (process(handle) == nullptr) return false;
  processes_[handle.index]->watch = watch;
  return true;
}

std::optional<RemovedProcess> Registry::remove_process(ProcessHandle handle, bool quarantine) {
  // Validate before touching anything: the old daemon released whatever its iterator
  // pointed at. A stale or foreign handle changes nothing.
  if (process(handle) == nullptr) return std::nullopt;
  ProcessRecord& rec = *processes_[handle.index];

  // 1. Endpoints first, from the slot's own lists: this never depends on a name lookup, and
  //    nothing below can return before every endpoint of the slot is detached.
  std::vector<DirectPublisherRef> direct;
  for (std::uint32_t id : rec.publishers) {
    if (auto p = publishers_.find(id); p != publishers_.end() && p->second.port->route_table != 0) {
      direct.push_back({id, p->second.topic});
    }
  }
  const std::size_t retired_before = retired_.pending();
  for (std::uint32_t id : rec.publishers) {
    detach_publisher(id);
  }
  for (std::uint32_t id : rec.subscribers) {
    detach_subscriber(id);
  }
  if (quarantine) {
    for (std::size_t i = retired_before; i < retired_.pending(); ++i)
      retired_.at(i).quarantined = handle;
  }

  forget_wake_fds(rec);
  // Notices for the leaving process itself (revokes of its own subscribers) go nowhere.
  std::erase_if(wake_notices_, [&](const WakeNotice& n) { return n.slot == handle.index; });
  RemovedProcess removed{std::move(rec), true, std::move(direct)};
  // 2. The name, only if it still maps to this slot.
  if (auto it = names_.find(removed.record.name);
      it != names_.end() && it->second == handle.index) {
    names_.erase(it);
  }
  // 3. The shm heartbeat slot. If it was already free (it should not be: only the registry
  //    releases), say so and carry on: the rest of the cleanup must still happen.
  removed.heartbeat_released = heartbeats_.release(handle);
  // 4. The record, and its descriptor.
  processes_[handle.index].reset();
  --live_processes_;
  stats_.process_free(handle.index);
  stats_.changed();
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
  std::optional<std::uint32_t> slot = stats_.topic_slots().take();
  if (!slot) {  // cannot happen: max_topics is the slot count, and topic slots free at once
    return Unexpected(limit_error(LimitKind::kTopics, "limit reached: no free topic stats slot"));
  }
  TopicEntry entry;
  entry.id = next_topic_id_++;
  entry.stats_slot = *slot;
  entry.direct = !topic_matches(config_.routed_topics, key.str());
  // Its descriptor is written once an endpoint joined (mirror_topic).
  return &topics_.emplace(key, std::move(entry)).first->second;
}

std::string Registry::arena_problem(const char* what, std::uint64_t bytes) const {
  shm::QueueArenaStats s = queues_.stats();
  return std::string("queue arena exhausted: a ") + what + " needs " + std::to_string(bytes) +
         " bytes; " + std::to_string(s.free_bytes) + " of " + std::to_string(s.arena_bytes) +
         " bytes free, largest free block " + std::to_string(s.largest_free_block) +
         " (raise diroute --queue-arena-mb)";
}

RegistryResult<const PublisherRecord*> Registry::add_publisher(
    std::uint32_t slot, const protocol::Topic& topic, const protocol::PublisherOptions& options) {
  auto found = owner_with_room(slot, Endpoint::kPublisher);
  if (!found) return Unexpected(std::move(found.error()));
  ProcessRecord* owner = *found;
  const std::uint32_t max_payload =
      options.max_payload ? options.max_payload : config_.default_max_payload;
  shm::ChunkPool& pool = router_.ledger().pool();
  std::optional<std::uint16_t> cls = pool.class_for(max_payload);
  if (!cls && options.max_payload == 0) {
    // The client asked for nothing in particular: the largest class there is will do.
    cls = static_cast<std::uint16_t>(pool.class_count() - 1);
  }
  if (!cls) {
    return Unexpected(RegistryError{fb::ResultCode::InvalidArgument,
                                    "max_payload " + std::to_string(max_payload) +
                                        " bytes exceeds the largest pool chunk (" +
                                        std::to_string(pool.chunk_size(pool.class_count() - 1)) +
                                        " bytes); add a larger pool class"});
  }
  std::uint32_t max_loans = options.max_loans ? options.max_loans : config_.default_max_loans;
  max_loans = std::clamp<std::uint32_t>(max_loans, 1, config_.max_loans_cap);
  const std::uint32_t history = std::min(options.history_depth, config_.max_history);
  if (publishers_.size() >= config_.limits.max_publishers ||
      stats_.publisher_slots().available() == 0) {
    return Unexpected(
        total_limit_error(LimitKind::kPublishers, "publishers", config_.limits.max_publishers,
                          stats_.publisher_slots().capacity() -
                              stats_.publisher_slots().available() - publishers_.size(),
                          "--max-publishers"));
  }

  TopicKey key = TopicKey::from(topic);
  auto entry = topic_for(key);
  if (!entry) return Unexpected(std::move(entry.error()));
  auto least = std::min_element(worker_load_.begin(), worker_load_.end());
  auto worker = static_cast<std::uint32_t>(least - worker_load_.begin());
  const std::uint32_t id = take_id(next_publisher_id_, publishers_);
  auto port = router::make_publisher_port(
      segment_base_, segment_size_, queues_, router_.ledger(),
      {id, (*entry)->id, worker, *cls, max_loans, config_.publisher_ring_capacity, history});
  if (!port) {
    drop_topic_if_empty(key);
    return Unexpected(RegistryError{fb::ResultCode::OutOfResources,
                                    arena_problem("publisher rings", 0) + ": " + port.error()});
  }
  if ((*entry)->direct) {
    auto table = make_route_table(**entry);
    if (!table) {
      router::free_publisher_port(queues_, router_.ledger(), **port);
      drop_topic_if_empty(key);
      return Unexpected(RegistryError{
          fb::ResultCode::OutOfResources,
          arena_problem("route table", sizeof(shm::RouteTable)) + ": " + table.error()});
    }
    (*port)->route_table = *table;
    (*port)->route_since = (*entry)->route_written;
    // Plain store: the grant (a socket reply sent after this) orders it for the client.
    (*port)->in.header()->route_table = *table;
  }
  ++*least;
  (*entry)->publishers.push_back(id);
  owner->publishers.push_back(id);
  const std::uint32_t stats_slot = *stats_.publisher_slots().take();  // checked above
  // The counter line is zeroed before the Add command, whose ring push publishes it.
  if (shm::PublisherStats* line = stats_.publisher_counters(stats_slot)) (*port)->stats = line;
  PublisherRecord rec{id, slot, key, worker, pool.chunk_size(*cls), stats_slot, std::move(*port)};
  auto [it, inserted] = publishers_.emplace(id, std::move(rec));
  (void)inserted;
  it->second.added_seq = router_.add_publisher(it->second.port.get());
  if ((*entry)->direct) grant_wake_fds(slot, **entry);
  update_peers(key, **entry);
  stats_.publisher_live(it->second, *owner, (*entry)->stats_slot);
  mirror_topic(key);
  mirror_process(slot);
  stats_.changed();
  return &it->second;
}

RegistryResult<ProcessRecord*> Registry::owner_with_room(std::uint32_t slot, Endpoint kind) {
  ProcessRecord* owner = find(slot);
  if (owner == nullptr) {
    return Unexpected(
        RegistryError{fb::ResultCode::NotRegistered, "no process in slot " + std::to_string(slot)});
  }
  const bool pub = kind == Endpoint::kPublisher;
  const std::size_t held = pub ? owner->publishers.size() : owner->subscribers.size();
  const std::uint32_t limit =
      pub ? config_.limits.max_publishers_per_process : config_.limits.max_subscribers_per_process;
  if (held >= limit) {
    const char* what = pub ? "publishers" : "subscribers";
    return Unexpected(limit_error(
        pub ? LimitKind::kPublishersPerProcess : LimitKind::kSubscribersPerProcess,
        std::string("limit reached: ") + what + " per process = " + std::to_string(limit) +
            " (raise diroute --max-" + what + "-per-process)"));
  }
  return owner;
}

std::uint32_t Registry::claim_route_slot(TopicEntry& entry, router::SubscriberState& port,
                                         std::uint32_t id) {
  if (!entry.direct) return shm::kNoRouteSlot;
  auto& slots = entry.route_slots;
  auto free_slot = std::find(slots.begin(), slots.end(), 0U);
  if (free_slot == slots.end()) return shm::kNoRouteSlot;  // the router delivers to it
  const auto route_slot = static_cast<std::uint32_t>(free_slot - slots.begin());
  *free_slot = id;
  entry.route_version += 2;
  port.route_slot = route_slot;
  port.route_since = entry.route_version;
  return route_slot;
}

RegistryResult<const SubscriberRecord*> Registry::add_subscriber(
    std::uint32_t slot, const protocol::Topic& topic, const protocol::SubscriberOptions& options) {
  auto found = owner_with_room(slot, Endpoint::kSubscriber);
  if (!found) return Unexpected(std::move(found.error()));
  ProcessRecord* owner = *found;
  std::uint32_t capacity =
      options.queue_capacity ? options.queue_capacity : config_.default_subscriber_capacity;
  capacity = std::min(capacity, config_.max_subscriber_capacity);
  std::uint32_t max_held = options.max_held ? options.max_held : config_.default_max_held;
  max_held = std::min(max_held, config_.max_held_cap);
  const std::optional<QueuePolicy> policy = protocol::from_wire(options.policy);
  if (!policy)
    return Unexpected(RegistryError{fb::ResultCode::InvalidArgument, "unknown queue policy"});
  if (subscribers_.size() >= config_.limits.max_subscribers ||
      stats_.subscriber_slots().available() == 0) {
    return Unexpected(
        total_limit_error(LimitKind::kSubscribers, "subscribers", config_.limits.max_subscribers,
                          stats_.subscriber_slots().capacity() -
                              stats_.subscriber_slots().available() - subscribers_.size(),
                          "--max-subscribers"));
  }

  TopicKey key = TopicKey::from(topic);
  auto entry = topic_for(key);
  if (!entry) return Unexpected(std::move(entry.error()));
  auto efd = make_eventfd("a subscriber");
  if (!efd) {
    drop_topic_if_empty(key);
    return Unexpected(RegistryError{fb::ResultCode::OutOfResources, efd.error().message()});
  }
  const std::uint32_t id = take_id(next_subscriber_id_, subscribers_);
  // Release rings are drained by one worker: spread subscribers over the workers.
  const std::uint32_t home = id % static_cast<std::uint32_t>(router_.worker_count());
  auto port = router::make_subscriber_port(
      segment_base_, segment_size_, queues_, router_.ledger(),
      {id, (*entry)->id, home, *policy, capacity, max_held, options.history_request, efd->get()});
  if (!port) {
    drop_topic_if_empty(key);
    std::uint64_t bytes =
        shm::ring_bytes(capacity, shm::slot_stride<shm::MessageHeader>(shm::RingKind::kMpmc));
    return Unexpected(
        RegistryError{fb::ResultCode::OutOfResources,
                      arena_problem("subscriber queue", bytes) + ": " + port.error()});
  }
  // Direct topics: list it in a free route slot. The Add command goes first (below), then the
  // tables: a publisher that uses the new slot makes records the worker can map once it
  // applied that command, which the command ring then already holds (docs/router.md).
  (*port)->direct = (*entry)->direct;
  const std::uint32_t route_slot = claim_route_slot(**entry, **port, id);
  (*entry)->subscribers.push_back(id);
  owner->subscribers.push_back(id);
  const std::uint32_t stats_slot = *stats_.subscriber_slots().take();  // checked above
  // The counter line is zeroed before the Add command, whose ring push publishes it.
  if (shm::SubscriberStats* line = stats_.subscriber_counters(stats_slot)) (*port)->stats = line;
  SubscriberRecord rec{
      id, slot, key, options.policy, max_held, std::move(*efd), stats_slot, std::move(*port)};
  auto [it, inserted] = subscribers_.emplace(id, std::move(rec));
  (void)inserted;
  it->second.added_seq = router_.add_subscriber(it->second.port.get());
  // The route tables list it once every worker applied the Add (reclaim()): a publisher that
  // finds it there knows the router has replayed history into its queue, and pushes as soon
  // as the router has routed what it published before.
  if (route_slot != shm::kNoRouteSlot) {
    (*entry)->route_writes.push_back(
        {route_slot, id, it->second.port->route_since, it->second.added_seq});
    flush_route_writes(key, **entry);
  }
  update_peers(key, **entry);
  stats_.subscriber_live(it->second, *owner, (*entry)->stats_slot);
  mirror_topic(key);
  mirror_process(slot);
  stats_.changed();
  return &it->second;
}

void Registry::update_peers(const TopicKey& key, const TopicEntry& entry) {
  std::uint32_t subs = 0;
  std::uint32_t pubs = 0;
  bool pending = false;
  for (std::uint32_t id : entry.subscribers) {
    if (auto it = subscribers_.find(id); it != subscribers_.end()) {
      const bool applied = router_.settled(it->second.added_seq);
      subs += applied ? 1 : 0;
      pending |= !applied;
    }
  }
  for (std::uint32_t id : entry.publishers) {
    if (auto it = publishers_.find(id); it != publishers_.end()) {
      const bool applied = router_.settled(it->second.added_seq);
      pubs += applied ? 1 : 0;
      pending |= !applied;
    }
  }
  // relaxed: counts for has_subscribers() and tools; they publish no data. A client that reads
  // a count including a subscriber publishes after every worker applied its Add (the reactor
  // read the acknowledgement with acquire before this store), so the message reaches it.
  for (std::uint32_t id : entry.publishers) {
    if (auto it = publishers_.find(id); it != publishers_.end()) {
      shm::atomic_store(it->second.port->in.header()->peers, subs, std::memory_order_relaxed);
    }
  }
  for (std::uint32_t id : entry.subscribers) {
    if (auto it = subscribers_.find(id); it != subscribers_.end()) {
      shm::atomic_store(it->second.port->queue.header()->peers, pubs, std::memory_order_relaxed);
    }
  }
  if (pending &&
      std::find(peers_pending_.begin(), peers_pending_.end(), key) == peers_pending_.end()) {
    peers_pending_.push_back(key);
  }
}

bool Registry::remove_publisher(std::uint32_t slot, std::uint32_t id) {
  auto it = publishers_.find(id);
  if (it == publishers_.end() || it->second.slot != slot) return false;
  if (ProcessRecord* owner = find(slot)) erase_value(owner->publishers, id);
  detach_publisher(id);
  mirror_process(slot);
  stats_.changed();
  return true;
}

bool Registry::remove_subscriber(std::uint32_t slot, std::uint32_t id) {
  auto it = subscribers_.find(id);
  if (it == subscribers_.end() || it->second.slot != slot) return false;
  if (ProcessRecord* owner = find(slot)) erase_value(owner->subscribers, id);
  detach_subscriber(id);
  mirror_process(slot);
  stats_.changed();
  return true;
}

void Registry::mirror_process(std::uint32_t slot) noexcept {
  if (const ProcessRecord* p = process(slot)) stats_.process_live(*p);
}

void Registry::mirror_topic(const TopicKey& key) noexcept {
  if (auto t = topics_.find(key); t != topics_.end()) stats_.topic_live(t->first, t->second);
}

// Detaching takes an endpoint out of the maps and its topic, tells the router, and retires
// the port until the router settles the removal (its sequence number is the epoch).
void Registry::detach_publisher(std::uint32_t id) {
  auto it = publishers_.find(id);
  if (it == publishers_.end()) return;
  PublisherRecord& rec = it->second;
  if (auto t = topics_.find(rec.topic); t != topics_.end()) erase_value(t->second.publishers, id);
  if (rec.worker < worker_load_.size() && worker_load_[rec.worker] > 0) --worker_load_[rec.worker];
  epoch_ = router_.remove_publisher(rec.port.get());
  stats_.publisher_free(rec.stats_slot);  // kFree now; the slot itself once reclaimed
  retired_.retire(std::move(rec.port), rec.stats_slot, epoch_);
  TopicKey key = std::move(rec.topic);
  const std::uint32_t owner = rec.slot;
  publishers_.erase(it);
  if (auto t = topics_.find(key); t != topics_.end()) update_peers(key, t->second);
  mirror_topic(key);
  drop_topic_if_empty(key);
  trim_wake_fds(owner);
}

void Registry::detach_subscriber(std::uint32_t id) {
  auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  SubscriberRecord& rec = it->second;
  auto t = topics_.find(rec.topic);
  if (t != topics_.end()) erase_value(t->second.subscribers, id);
  const std::uint32_t route_slot = rec.port->route_slot;
  const bool listed = t != topics_.end() && route_slot < shm::kRouteSlots;
  if (listed) {
    t->second.route_slots[route_slot] = 0;
    t->second.route_version += 2;
    rec.port->route_gone = t->second.route_version;  // published by the Remove command's push
  }
  epoch_ = router_.remove_subscriber(rec.port.get());
  if (listed) {
    t->second.route_writes.push_back({route_slot, 0, t->second.route_version, 0});
    flush_route_writes(t->first, t->second);
  }
  revoke_wake_fd(id);
  stats_.subscriber_free(rec.stats_slot);  // kFree now; the slot itself once reclaimed
  retired_.retire(std::move(rec.port), std::move(rec.eventfd), rec.stats_slot, epoch_);
  if (listed) {
    // Its queue stays until no publisher of the topic may still push into it (quiescent()).
    RetiredPort& e = retired_.at(retired_.pending() - 1);
    e.direct_publishers = t->second.publishers;
    e.route_version = t->second.route_version;
  }
  TopicKey key = std::move(rec.topic);
  subscribers_.erase(it);
  if (t != topics_.end()) update_peers(key, t->second);
  mirror_topic(key);
  drop_topic_if_empty(key);
}

void Registry::drop_topic_if_empty(const TopicKey& key) {
  auto it = topics_.find(key);
  if (it != topics_.end() && it->second.publishers.empty() && it->second.subscribers.empty()) {
    // No worker writes a topic slot: it is free again at once.
    stats_.topic_free(it->second.stats_slot);
    stats_.topic_slots().give(it->second.stats_slot);
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

ReclaimResult Registry::reclaim() {
  router_.flush();
  // Counts that waited for an Add command (update_peers re-queues a topic still waiting).
  std::vector<TopicKey> pending = std::move(peers_pending_);
  peers_pending_.clear();
  for (const TopicKey& key : pending) {
    if (auto t = topics_.find(key); t != topics_.end()) update_peers(key, t->second);
  }
  // Route writes that waited for an Add (flush_route_writes re-queues a topic still waiting).
  std::vector<TopicKey> routes = std::move(route_writes_pending_);
  route_writes_pending_.clear();
  for (const TopicKey& key : routes) {
    if (auto t = topics_.find(key); t != topics_.end()) flush_route_writes(key, t->second);
  }
  return retired_.reclaim(router_.safe_seq(), queues_, router_.ledger(), stats_,
                          [this](const RetiredPort& e) { return quiescent(e); });
}

// ---- Wake-up descriptors -----------------------------------------------------------------------

void Registry::grant_wake_fds(std::uint32_t slot, const TopicEntry& entry) {
  ProcessRecord* p = find(slot);
  if (p == nullptr) return;
  WakeNotice n{slot, false, {}};
  for (std::uint32_t id : entry.route_listed) {
    if (id == 0 || std::find(p->wake_fds.begin(), p->wake_fds.end(), id) != p->wake_fds.end())
      continue;
    if (p->wake_fds.size() >= config_.max_wake_fds_per_process) break;  // the router wakes the rest
    p->wake_fds.push_back(id);
    wake_holders_[id].push_back(slot);
    n.subscriber_ids.push_back(id);
  }
  if (!n.subscriber_ids.empty()) wake_notices_.push_back(std::move(n));
}

void Registry::grant_wake_fd(const TopicEntry& entry, std::uint32_t id) {
  for (std::uint32_t pid : entry.publishers) {
    auto it = publishers_.find(pid);
    if (it == publishers_.end()) continue;
    ProcessRecord* p = find(it->second.slot);
    if (p == nullptr || std::find(p->wake_fds.begin(), p->wake_fds.end(), id) != p->wake_fds.end())
      continue;
    if (p->wake_fds.size() >= config_.max_wake_fds_per_process) continue;
    p->wake_fds.push_back(id);
    wake_holders_[id].push_back(it->second.slot);
    wake_notices_.push_back(WakeNotice{it->second.slot, false, {id}});
  }
}

void Registry::revoke_wake_fd(std::uint32_t id) {
  auto h = wake_holders_.find(id);
  if (h == wake_holders_.end()) return;
  for (std::uint32_t slot : h->second) {
    ProcessRecord* p = find(slot);
    if (p == nullptr) continue;
    erase_value(p->wake_fds, id);
    wake_notices_.push_back(WakeNotice{slot, true, {id}});
  }
  wake_holders_.erase(h);
}

void Registry::trim_wake_fds(std::uint32_t slot) {
  ProcessRecord* p = find(slot);
  if (p == nullptr || p->wake_fds.empty()) return;
  // The subscribers its remaining publishers push to; the rest are no use to it any more.
  std::vector<std::uint32_t> needed;
  for (std::uint32_t pid : p->publishers) {
    auto pub = publishers_.find(pid);
    if (pub == publishers_.end()) continue;
    if (auto t = topics_.find(pub->second.topic); t != topics_.end()) {
      for (std::uint32_t id : t->second.route_listed) {
        if (id != 0) needed.push_back(id);
      }
    }
  }
  WakeNotice n{slot, true, {}};
  std::erase_if(p->wake_fds, [&](std::uint32_t id) {
    if (std::find(needed.begin(), needed.end(), id) != needed.end()) return false;
    n.subscriber_ids.push_back(id);
    if (auto h = wake_holders_.find(id); h != wake_holders_.end()) {
      erase_value(h->second, slot);
      if (h->second.empty()) wake_holders_.erase(h);
    }
    return true;
  });
  if (!n.subscriber_ids.empty()) wake_notices_.push_back(std::move(n));
}

void Registry::forget_wake_fds(ProcessRecord& rec) {
  for (std::uint32_t id : rec.wake_fds) {
    if (auto h = wake_holders_.find(id); h != wake_holders_.end()) {
      erase_value(h->second, rec.handle.index);
      if (h->second.empty()) wake_holders_.erase(h);
    }
  }
  rec.wake_fds.clear();
}

}  // namespace zcp::daemon
