// Registry: who is registered and what they publish and subscribe to.
//
// Owned by the reactor thread, and only by it: there is no mutex, so the old daemon's
// lock-order deadlock between its process and pub/sub mutexes cannot occur. Router workers
// never read these maps; they get their view through command rings, and queues
// they may still touch are freed only through the RetireList.
//
// Indexing:
//  - processes by heartbeat slot (a vector indexed by slot); identity comes from
//    SO_PEERCRED, handed in by the caller, never from message fields;
//  - publishers by daemon-assigned id, and by (slot, topic) through their process record;
//    a process may hold several publishers on one topic (one per producer thread: each ring
//    is single-producer);
//  - subscribers by id, and per topic (service, instance, event) in an unordered_map whose
//    entry lists the topic's publishers and subscribers.
// Removal cascades by slot: remove_process() detaches every endpoint of the slot, retires
// their queues, releases the heartbeat slot and the name, all or nothing is left.
// check_invariants() states the consistency rules and tests call it after every step.
// Every change is mirrored into the stats region's descriptors (StatsWriter) before the
// public method returns, so tools see the registry as it is.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <zcp/expected.hpp>

#include "common/sys.hpp"
#include "daemon/config.hpp"
#include "daemon/retire_list.hpp"
#include "daemon/stats_writer.hpp"
#include "protocol/encode.hpp"
#include "reactor/reactor.hpp"
#include "reactor/uds_types.hpp"
#include "router/router.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/route_table.hpp"
#include "shm/stats.hpp"

namespace zcp::daemon {

struct TopicKey {
  std::string service;
  std::string instance;
  std::string event;

  static TopicKey from(const protocol::Topic& t) {
    return TopicKey{std::string(t.service), std::string(t.instance), std::string(t.event)};
  }
  protocol::Topic view() const noexcept { return {service, instance, event}; }
  std::string str() const { return service + "/" + instance + "/" + event; }
  friend bool operator==(const TopicKey&, const TopicKey&) = default;
};

struct TopicKeyHash {
  std::size_t operator()(const TopicKey& k) const noexcept;
};

// Names one registration: its heartbeat slot and the slot's epoch at acquisition. A handle
// kept after the process was removed never reaches the slot's next owner.
using ProcessHandle = shm::SlotLease;

struct ProcessRecord {
  ProcessHandle handle;
  reactor::PeerCred peer;  // from SO_PEERCRED
  std::string name;
  bool monitored = false;
  reactor::ConnId conn;
  reactor::WatchId watch;                    // pidfd watch, set after registration
  std::uint64_t registered_ns = 0;           // CLOCK_MONOTONIC (heartbeat clock)
  std::uint64_t registered_realtime_ns = 0;  // CLOCK_REALTIME, for tools
  std::vector<std::uint32_t> publishers;     // ids owned by this slot
  std::vector<std::uint32_t> subscribers;
  // Subscribers whose eventfd this process was sent (WakeFds), so that its direct publishers
  // wake them; at most RegistryConfig::max_wake_fds_per_process.
  std::vector<std::uint32_t> wake_fds;
};

// What the control plane must tell a process about wake-up descriptors (WakeFds /
// WakeFdsRevoked notices): grants go out before the reply that made them necessary.
struct WakeNotice {
  std::uint32_t slot = 0;  // the process to tell
  bool revoke = false;
  std::vector<std::uint32_t> subscriber_ids;
};

struct PublisherRecord {
  std::uint32_t id = 0;
  std::uint32_t slot = 0;
  TopicKey topic;
  std::uint32_t worker = 0;  // router worker serving it (doorbell index)
  std::uint32_t chunk_size = 0;
  std::uint32_t stats_slot = kNoStatsSlot;  // its PublisherStats slot (descriptor + counters)
  // Rings (publish, loan), ownership set and counters; handed to the router.
  std::unique_ptr<router::PublisherState> port;
  std::uint64_t added_seq = 0;  // the router sequence of its Add command
};

struct SubscriberRecord {
  std::uint32_t id = 0;
  std::uint32_t slot = 0;
  TopicKey topic;
  fb::QueuePolicy policy = fb::QueuePolicy::DropOldest;
  std::uint32_t max_held = 0;
  sys::UniqueFd eventfd;                    // written by the router when the subscriber waits
  std::uint32_t stats_slot = kNoStatsSlot;  // its SubscriberStats slot (descriptor + counters)
  // Rings (queue, release), ownership set and counters; handed to the router.
  std::unique_ptr<router::SubscriberState> port;
  std::uint64_t added_seq = 0;  // the router sequence of its Add command
};

struct TopicEntry {
  std::uint32_t id = 0;                     // the router's name for the topic
  std::uint32_t stats_slot = kNoStatsSlot;  // its TopicStats slot
  std::vector<std::uint32_t> publishers;
  std::vector<std::uint32_t> subscribers;
  // Direct delivery (every topic not in RegistryConfig::routed_topics; shm/route_table.hpp): each
  // publisher has a route table listing the subscribers in route_slots (id per slot, 0: free);
  // route_version numbers the assignments (even, +2 per change).
  bool direct = false;
  std::uint32_t route_version = 0;
  std::array<std::uint32_t, shm::kRouteSlots> route_slots{};
  // What the route tables say (a slot assignment reaches them in version order, an added
  // subscriber once every worker applied its Add): the ids per slot, and their version.
  std::array<std::uint32_t, shm::kRouteSlots> route_listed{};
  std::uint32_t route_written = 0;
  struct RouteWrite {
    std::uint32_t slot;
    std::uint32_t subscriber_id;  // 0: clear the slot
    std::uint32_t version;
    std::uint64_t seq;  // the router command it waits for; 0: none
  };
  std::deque<RouteWrite> route_writes;  // in version order
};

enum class LimitKind : std::uint8_t {
  kNone,
  kProcesses,
  kPublishersPerProcess,
  kSubscribersPerProcess,
  kTopics,
  kPublishers,   // daemon-wide (Limits::max_publishers, the stats publisher slots)
  kSubscribers,  // daemon-wide (Limits::max_subscribers, the stats subscriber slots)
};

// A refusal: the wire code and a message for the reply (it names the limit or the cause).
struct RegistryError {
  fb::ResultCode code = fb::ResultCode::Internal;
  std::string message;
  LimitKind limit = LimitKind::kNone;
};

template <class T>
using RegistryResult = Expected<T, RegistryError>;

// A direct publisher of a removed process, for the repair of subscriber queues it may have
// left a claim in (Registry::repair_abandoned).
struct DirectPublisherRef {
  std::uint32_t id = 0;
  TopicKey topic;
};

struct RemovedProcess {
  ProcessRecord record;            // as it was, with the endpoint ids it owned
  bool heartbeat_released = true;  // false: the shm slot was already free (noted, not fatal)
  std::vector<DirectPublisherRef> direct_publishers;
};

class Registry {
 public:
  // `heartbeats` and `queues` live in (and `segment_base`/`segment_size` describe) the daemon's
  // segment; they and `router` must outlive the registry. config.limits.max_processes is
  // capped at the slot count; config.workers must equal the router's worker count. `stats`:
  // the segment's stats region, where the registry mirrors its objects (invalid: none);
  // max_topics, max_publishers and max_subscribers are capped at its table sizes.
  Registry(shm::HeartbeatPool& heartbeats, shm::QueueAllocator& queues, std::byte* segment_base,
           std::uint64_t segment_size, router::Router& router, const RegistryConfig& config,
           const shm::StatsRegion& stats = {});
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // ---- Processes ---------------------------------------------------------------------------
  // Claims a heartbeat slot for the peer. Refusals: AlreadyRegistered (the name is held by a
  // live process; the message names its pid), LimitReached (processes or heartbeat slots).
  RegistryResult<const ProcessRecord*> add_process(reactor::ConnId conn,
                                                   const reactor::PeerCred& peer,
                                                   std::string_view name, bool monitored,
                                                   std::uint64_t now_ns);
  bool set_watch(const ProcessHandle& handle, reactor::WatchId watch) noexcept;
  // Removes the process `handle` names, with every publisher and subscriber of its slot.
  // nullopt, and nothing changes, if the handle does not name a live registration (index out
  // of range, slot free, or held at another epoch by a later process).
  // `quarantine`: the process may still be running (removed for a heartbeat timeout, a fault,
  // a hang-up). Its retired ports, their rings and the chunks they hold are then kept until
  // release_quarantine(handle), called once its exit is seen, so that nothing it may still
  // write is reused; its publishers' guards keep holding removed subscriber queues too.
  std::optional<RemovedProcess> remove_process(ProcessHandle handle, bool quarantine = false);
  // Frees what remove_process(handle, true) kept (at the next reclaim). Returns the ports.
  std::size_t release_quarantine(ProcessHandle handle) noexcept { return retired_.release(handle); }
  // The process of these direct publishers is gone for good (it exited): steps over every claim
  // they left unpublished in the queues of their topics' subscribers (MpmcRing::
  // skip_abandoned), so that no subscriber stops behind one. Returns the cells repaired.
  std::size_t repair_abandoned(const std::vector<DirectPublisherRef>& publishers);
  const ProcessRecord* process(std::uint32_t slot) const noexcept;
  const ProcessRecord* process(const ProcessHandle& handle) const noexcept;
  // Monitored processes whose heartbeat slot is older than timeout_ns at now_ns.
  std::vector<ProcessHandle> expired(std::uint64_t now_ns, std::uint64_t timeout_ns) const;

  // ---- Endpoints -----------------------------------------------------------------------------
  // Builds the publisher's port (publish and loan rings) on the least-loaded router worker and
  // hands it to the router. Zero options ask for defaults; values above a cap get the cap.
  // InvalidArgument if max_payload exceeds every pool class.
  RegistryResult<const PublisherRecord*> add_publisher(
      std::uint32_t slot, const protocol::Topic& topic,
      const protocol::PublisherOptions& options = {});
  // Builds the subscriber's port (queue and release ring) and hands it to the router.
  RegistryResult<const SubscriberRecord*> add_subscriber(
      std::uint32_t slot, const protocol::Topic& topic,
      const protocol::SubscriberOptions& options = {});
  // Only the owning slot may remove an endpoint: false (and no change) for an id that does
  // not exist or belongs to another slot.
  bool remove_publisher(std::uint32_t slot, std::uint32_t id);
  bool remove_subscriber(std::uint32_t slot, std::uint32_t id);

  const PublisherRecord* publisher(std::uint32_t id) const noexcept;
  const SubscriberRecord* subscriber(std::uint32_t id) const noexcept;
  const TopicEntry* topic(const TopicKey& key) const noexcept;

  // ---- Listing -------------------------------------------------------------------------------
  std::size_t process_count() const noexcept { return live_processes_; }
  std::size_t publisher_count() const noexcept { return publishers_.size(); }
  std::size_t subscriber_count() const noexcept { return subscribers_.size(); }
  std::size_t topic_count() const noexcept { return topics_.size(); }
  const std::vector<std::optional<ProcessRecord>>& processes() const noexcept { return processes_; }
  const std::unordered_map<std::uint32_t, PublisherRecord>& publishers() const noexcept {
    return publishers_;
  }
  const std::unordered_map<std::uint32_t, SubscriberRecord>& subscribers() const noexcept {
    return subscribers_;
  }
  std::uint32_t worker_load(std::uint32_t worker) const noexcept {
    return worker < worker_load_.size() ? worker_load_[worker] : 0;
  }
  const RegistryConfig& config() const noexcept { return config_; }
  const shm::HeartbeatPool& heartbeats() const noexcept { return heartbeats_; }
  const StatsWriter& stats() const noexcept { return stats_; }

  // ---- Retirement (see retire_list.hpp and docs/router.md) --------------------------------
  // The router's sequence number of the latest removal.
  std::uint64_t epoch() const noexcept { return epoch_; }
  std::size_t retired_pending() const noexcept { return retired_.pending(); }
  // Frees the ports whose removal the router has settled (sequence ≤ router.safe_seq()):
  // their chunks go back to the pool, their rings to the arena.
  ReclaimResult reclaim();
  // Frees every retired port: only once the router's workers have stopped.
  ReclaimResult reclaim_all() { return retired_.reclaim_all(queues_, router_.ledger(), stats_); }
  // Every port whose client broke the ring protocol (the router faulted it): the slots of
  // their owners, to be disconnected.
  std::vector<std::uint32_t> faulted_slots() const;

  // ---- Wake-up descriptors (docs/router.md, "Wake-ups") -------------------------------------
  // The notices the last changes produced, oldest first; the caller sends them.
  std::vector<WakeNotice> take_wake_notices() { return std::exchange(wake_notices_, {}); }

  // Empty if every consistency rule holds; else the first broken rule, in words. Rules: every
  // endpoint's slot holds a live process that lists it, and its topic entry lists it; every
  // id a process or topic lists exists; no topic entry is empty; names map to their slots;
  // each live process holds an active heartbeat slot at its epoch; every live ring or queue
  // is an arena block, and the arena holds no other block than those and the retired ones.
  std::string check_invariants() const;

 private:
  ProcessRecord* find(std::uint32_t slot) noexcept;
  enum class Endpoint : std::uint8_t { kPublisher, kSubscriber };
  // The process in `slot`, if it may create one more endpoint of `kind` (NotRegistered, or
  // the per-process limit's LimitReached, otherwise).
  RegistryResult<ProcessRecord*> owner_with_room(std::uint32_t slot, Endpoint kind);
  // Direct topics: lists a new subscriber in a free route slot of the topic (newer route
  // version; the port learns its slot and version). kNoRouteSlot for a routed topic, or when
  // every slot is taken (the router then delivers to it).
  std::uint32_t claim_route_slot(TopicEntry& entry, router::SubscriberState& port,
                                 std::uint32_t id);
  // Finds or creates the topic entry (LimitReached when a new one would pass max_topics).
  RegistryResult<TopicEntry*> topic_for(const TopicKey& key);
  void detach_publisher(std::uint32_t id);
  void detach_subscriber(std::uint32_t id);
  void drop_topic_if_empty(const TopicKey& key);
  // Direct topics: a new publisher's route table (arena offset), listing the current slots.
  Expected<std::uint64_t, std::string> make_route_table(const TopicEntry& entry);
  // Writes slot `slot` (subscriber id, or 0 to clear) into every route table of the topic, as
  // `version` (each write a newer one: the tables are seqlocks).
  void write_routes(const TopicEntry& entry, std::uint32_t slot, std::uint32_t subscriber_id,
                    const shm::QueueDescriptor& queue, std::uint32_t version);
  // Applies the topic's route writes in order, as far as their commands have settled.
  void flush_route_writes(const TopicKey& key, TopicEntry& entry);
  // A retired subscriber of a direct topic may be freed: no publisher may still push into it.
  bool quiescent(const RetiredPort& e) const noexcept;
  // Grants process `slot` the eventfds of the topic's listed subscribers it does not hold yet
  // (direct topics), within its limit.
  void grant_wake_fds(std::uint32_t slot, const TopicEntry& entry);
  // Grants the eventfd of subscriber `id` to every process with a publisher on the topic.
  void grant_wake_fd(const TopicEntry& entry, std::uint32_t id);
  // Subscriber `id` left: every process holding its eventfd is told to close it.
  void revoke_wake_fd(std::uint32_t id);
  // Revokes from process `slot` the eventfds its remaining publishers no longer need.
  void trim_wake_fds(std::uint32_t slot);
  // Process `slot` leaves: forget what it holds.
  void forget_wake_fds(ProcessRecord& rec);
  // Tells every port of the topic how many peers it has (has_subscribers()): the endpoints
  // whose Add command every worker applied, so that a count includes a subscriber only once a
  // publish reaches it. Topics with an Add not yet applied wait in peers_pending_ and are
  // updated again by reclaim().
  void update_peers(const TopicKey& key, const TopicEntry& entry);
  // Rewrites the descriptors of a process and of a topic (its endpoint counts changed).
  void mirror_process(std::uint32_t slot) noexcept;
  void mirror_topic(const TopicKey& key) noexcept;
  std::string arena_problem(const char* what, std::uint64_t bytes) const;

  shm::HeartbeatPool& heartbeats_;
  shm::QueueAllocator& queues_;
  std::byte* segment_base_;
  std::uint64_t segment_size_;
  router::Router& router_;
  RegistryConfig config_;
  StatsWriter stats_;

  std::vector<std::optional<ProcessRecord>> processes_;  // indexed by heartbeat slot
  std::size_t live_processes_ = 0;
  std::unordered_map<std::string, std::uint32_t> names_;  // live process name -> slot
  std::unordered_map<std::uint32_t, PublisherRecord> publishers_;
  std::unordered_map<std::uint32_t, SubscriberRecord> subscribers_;
  std::unordered_map<TopicKey, TopicEntry, TopicKeyHash> topics_;
  std::vector<std::uint32_t> worker_load_;  // publishers per router worker
  std::uint32_t next_publisher_id_ = 1;     // ids are never reused (until 2^32 wraps)
  std::uint32_t next_subscriber_id_ = 1;
  std::uint32_t next_topic_id_ = 1;
  std::uint64_t epoch_ = 0;
  RetireList retired_;
  std::vector<TopicKey> peers_pending_;         // see update_peers
  std::vector<WakeNotice> wake_notices_;        // see take_wake_notices
  std::vector<TopicKey> route_writes_pending_;  // topics whose route_writes wait for a command
  // Subscriber id -> the slots of the processes holding its eventfd (ProcessRecord::wake_fds).
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> wake_holders_;
};

std::string_view to_string(LimitKind limit) noexcept;

}  // namespace zcp::daemon
