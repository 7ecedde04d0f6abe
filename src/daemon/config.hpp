// The daemon's tuning constants and the configuration structs built from them (and from the
// diroute command line). Each constant says what too low and too high trade; docs/operations.md
// lists them with their flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/access.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/ports.hpp"

namespace zcp::daemon {

// ---- Death detection ----------------------------------------------------------------------
// Heartbeat tick period: how often the reactor scans the monitored processes' slot ages.
// Too low: the reactor wakes for nothing (a scan is cheap, but ticks faster than the clients'
// touch period find nothing new); too high: a hung process is found up to one period late.
inline constexpr std::chrono::milliseconds kDefaultHeartbeatInterval{300};
// ---- Reactor -------------------------------------------------------------------------------
// After handling an event, the reactor polls its ring this long before it sleeps (see
// reactor::ReactorOptions::busy_poll). Too low: a client creating several endpoints pays a
// reactor wake-up (tens of µs on a VM) per request; too high: the control-plane thread spins
// that long after every event, heartbeat ticks included (200 µs per 300 ms tick: 0.07% CPU).
inline constexpr std::chrono::microseconds kDefaultReactorBusyPoll{200};
// A monitored process whose heartbeat slot was not touched for this long is declared dead.
// Too low: a client descheduled under load, or stopped in a debugger, is removed falsely; too
// high: a hung (but living) process keeps its queues that long. Exits and hang-ups never wait
// for it: pidfd and socket EOF report them at once.
inline constexpr std::chrono::milliseconds kDefaultHeartbeatTimeout{3000};
// An unregistered connection that sends nothing for this long is closed. Too low: a slow
// tool (zcp ls on a loaded host) is cut off between connect and its first request; too high:
// idle connections (slowloris) hold connection slots and fds that long.
inline constexpr std::chrono::milliseconds kDefaultIdleConnectionTimeout{10000};

// ---- Hostile input -------------------------------------------------------------------------
// Malformed frames (DecodeError) one connection may send before the daemon hangs up on it.
// Every one is answered and counted. Too low: a buggy but honest client is cut off after a
// few bad frames; too high: a hostile peer gets more CRC and verifier work per connection
// (each frame is bounded by the 64 KiB frame size, so the cost stays linear).
inline constexpr std::uint32_t kDefaultMalformedFrameLimit = 16;

// ---- Queues --------------------------------------------------------------------------------
// Slots of a publisher's publish ring (MessageHeader, 32 B each). It is the routing backlog
// after which publish() reports WouldBlock; shm/ports.hpp says what it trades.
inline constexpr std::uint32_t kDefaultPublisherRingCapacity = shm::kDefaultPublishRing;
// Subscriber queue capacity granted for a request of 0. Each MPMC cell is one 64-byte cache
// line, so 256 entries take a 32 KiB arena block. Too low: a subscriber that pauses briefly
// loses messages (drop policies) or stalls its publishers (block_publisher); too high: the
// arena holds fewer subscribers.
inline constexpr std::uint32_t kDefaultSubscriberQueueCapacity = 256;
// Largest subscriber queue granted; larger requests are granted this (the reply says so by
// its capacity). 16384 cells = 1 MiB + header, a 2 MiB block. Too low: bursty consumers drop;
// too high: one subscriber may take a large share of the arena (and a queue that deep is a
// latency buffer of seconds, not a queue).
inline constexpr std::uint32_t kMaxSubscriberQueueCapacity = 16384;
// Queue arena size (rings and queues). Pages are backed only when a ring is formatted, so a
// generous arena costs address space, not memory. Too low: CreatePublisher/CreateSubscriber
// fail with OutOfResources; too high: /dev/shm must allow that much.
inline constexpr std::uint64_t kDefaultQueueArenaBytes = 256ULL << 20;

// ---- Limits (each refusal is a LimitReached reply naming the limit, and a counter) --------
// Processes: bounded by the heartbeat slots (one per process) of the segment.
inline constexpr std::uint32_t kDefaultMaxProcesses = shm::kDefaultHeartbeatSlots;
// Publishers one process may hold. Too low: a feed handler with many symbols per process is
// refused; too high: one process may take the arena (48 KiB per publisher by default, 4 KiB
// more for a direct topic's route table).
inline constexpr std::uint32_t kDefaultMaxPublishersPerProcess = 256;
// Subscribers one process may hold. Too low: an aggregator subscribing to many topics is
// refused; too high: one process may take the arena (32 KiB per default queue).
inline constexpr std::uint32_t kDefaultMaxSubscribersPerProcess = 1024;
// Distinct topics (service, instance, event) with at least one endpoint. Too low: large
// systems are refused; too high: only the topic map grows (a few hundred bytes per topic).
inline constexpr std::uint32_t kDefaultMaxTopics = 4096;
// Live publishers and subscribers daemon-wide. Each has a 256-byte slot in the stats region
// (backed only when touched), so these also size that region. Too low: large systems are
// refused; too high: only address space in /dev/shm grows.
inline constexpr std::uint32_t kDefaultMaxPublishers = 4096;
inline constexpr std::uint32_t kDefaultMaxSubscribers = 8192;

// ---- Router --------------------------------------------------------------------------------
// Router workers: one doorbell eventfd each. Too many workers on few cores make them compete
// with the clients for CPU. At most router::kMaxWorkers.
inline constexpr std::uint32_t kDefaultWorkers = 1;

// ---- Topology listing ----------------------------------------------------------------------
// Most entries (processes + publishers + subscribers) one TopologyReply carries; the listing
// is cut further if it still does not fit one 64 KiB frame. Too low: large systems are
// listed partially; too high: more encode attempts before the reply fits.
inline constexpr std::size_t kMaxTopologyEntries = 1000;

// A publisher that names no max_payload loans chunks of the smallest class holding this many
// bytes. Too small makes loan() of a bigger payload fail with TooLarge; too large pins big
// chunks for publishers of small messages.
inline constexpr std::uint32_t kDefaultMaxPayload = 1024;
inline constexpr std::uint32_t kDefaultMaxLoans = shm::kDefaultMaxLoans;
// Caps on what one port may pin. Higher lets one client hold more of a shared pool.
inline constexpr std::uint32_t kMaxLoansCap = 4096;
inline constexpr std::uint32_t kMaxHistory = 1024;
inline constexpr std::uint32_t kDefaultMaxHeld = shm::kDefaultMaxHeld;
inline constexpr std::uint32_t kMaxHeldCap = 4096;

// Subscriber eventfds one process is sent so that its direct publishers wake sleeping
// subscribers themselves (one descriptor per distinct subscriber its publishers push to). Too
// low: subscribers past it are woken by the router, one hop later (tens of µs on a VM); too
// high: a publishing process may run into its RLIMIT_NOFILE (1024 by default).
inline constexpr std::uint32_t kDefaultMaxWakeFdsPerProcess = 256;

// A direct publisher wakes sleeping subscribers itself (one eventfd write each, on its own
// thread, per message) on topics with at most this many subscribers listed in its route
// table; on wider topics the router wakes them, once per pass however many messages it
// settled. Too low: the subscribers of small topics pay the router's hop (tens of µs on a VM)
// when they sleep; too high: a publisher to many sleeping subscribers makes that many system
// calls per message and each subscriber wakes per message instead of per batch.
inline constexpr std::uint32_t kDefaultDirectWakeMax = 4;

struct Limits {
  std::uint32_t max_processes = kDefaultMaxProcesses;
  std::uint32_t max_publishers_per_process = kDefaultMaxPublishersPerProcess;
  std::uint32_t max_subscribers_per_process = kDefaultMaxSubscribersPerProcess;
  std::uint32_t max_topics = kDefaultMaxTopics;
  std::uint32_t max_publishers = kDefaultMaxPublishers;    // daemon-wide: stats publisher slots
  std::uint32_t max_subscribers = kDefaultMaxSubscribers;  // daemon-wide: stats subscriber slots
};

struct RegistryConfig {
  Limits limits;
  // Data-plane defaults for options a client leaves at 0 (see shm/ports.hpp for the trade-offs).
  std::uint32_t default_max_payload = kDefaultMaxPayload;
  std::uint32_t default_max_loans = kDefaultMaxLoans;
  std::uint32_t max_loans_cap = kMaxLoansCap;
  std::uint32_t max_history = kMaxHistory;
  std::uint32_t default_max_held = kDefaultMaxHeld;
  std::uint32_t max_held_cap = kMaxHeldCap;
  std::uint32_t publisher_ring_capacity = kDefaultPublisherRingCapacity;
  std::uint32_t default_subscriber_capacity = kDefaultSubscriberQueueCapacity;
  std::uint32_t max_subscriber_capacity = kMaxSubscriberQueueCapacity;
  std::uint32_t workers = kDefaultWorkers;
  std::uint32_t max_wake_fds_per_process = kDefaultMaxWakeFdsPerProcess;
  std::uint32_t direct_wake_max = kDefaultDirectWakeMax;
  // Topics whose publishers leave every delivery to the router (routed delivery). Every other
  // topic is direct: its publishers push into subscriber queues themselves (docs/router.md).
  // Each pattern is a topic "SERVICE/INSTANCE/EVENT", or a prefix of one ending in '*'
  // ("md/*", "*" for every topic).
  std::vector<std::string> routed_topics;
};

// True if `topic` ("SERVICE/INSTANCE/EVENT") matches one of `patterns`.
bool topic_matches(const std::vector<std::string>& patterns, std::string_view topic) noexcept;
// Why `pattern` is not a routed_topics pattern, or empty if it is one.
std::string topic_pattern_problem(const std::string& pattern);

struct ControlPlaneConfig {
  std::chrono::milliseconds heartbeat_interval = kDefaultHeartbeatInterval;
  std::chrono::milliseconds heartbeat_timeout = kDefaultHeartbeatTimeout;
  std::chrono::milliseconds idle_connection_timeout = kDefaultIdleConnectionTimeout;
  std::uint32_t malformed_frame_limit = kDefaultMalformedFrameLimit;
  std::string daemon_version = "0.0.0";
  // Who may publish or subscribe per service ([[access.allow]]); empty: everyone.
  std::vector<ServiceAllowlist> allow;
};

}  // namespace zcp::daemon
