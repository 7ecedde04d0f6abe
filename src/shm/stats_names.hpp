// Names of the numbered words in the stats region: what each daemon counter and each enum
// stored as a number means. Writers (the reactor, the router workers) and readers (zcp-top,
// `zcp`) share these, so a tool prints the writer's own names without linking the daemon.
// The daemon counter order is part of the layout: a new counter goes last, before kCount
// (tools read `daemon_counter_count` words and name those they know).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shm/stats_layout.hpp"

namespace zcp::shm {

// The daemon's control-plane counters: word i of the daemon counter array.
enum class DaemonCounter : std::uint8_t {
  kConnectionsOpened,
  kConnectionsClosed,
  kRequests,          // well-formed requests (passed decode and verify)
  kRequestsRefused,   // well-formed requests answered with an error code
  kInvalidArguments,  // requests refused by validate_request or a field range check
  kRegistrations,
  kUnregistrations,     // UnregisterProcess: a clean goodbye
  kDeathsExited,        // pidfd: the process exited
  kDeathsHangUp,        // the socket hung up (EOF or a socket error) while registered
  kDeathsHeartbeat,     // a monitored process did not touch its slot within the timeout
  kDeathsDisconnected,  // the daemon hung up on it (malformed frames, send queue full)
  kPublishersCreated,
  kPublishersDestroyed,  // by DestroyPublisher or with their process
  kSubscribersCreated,
  kSubscribersDestroyed,
  kLimitProcesses,  // LimitReached refusals, one counter per limit
  kLimitPublishers,
  kLimitSubscribers,
  kLimitTopics,
  kOutOfResources,  // queue arena or descriptors exhausted
  // Rejected frames, one per protocol::DecodeErrc in its order (see rejected_counter()).
  kRejectedBadMagic,
  kRejectedVersionMismatch,  // also counts a Hello whose body version differs
  kRejectedBadFlags,
  kRejectedTruncated,
  kRejectedOversized,
  kRejectedBadCrc,
  kRejectedVerifierFailed,
  kRejectedUnknownRequest,
  kRejectedUnknownResponse,
  kClosedMalformed,        // connections closed after the malformed-frame limit
  kClosedIdle,             // unregistered connections closed after idling
  kTopologyTruncated,      // ListTopology replies cut to fit one frame
  kQueuesRetired,          // rings/queues removed from the topology
  kQueuesReclaimed,        // ... and given back to the arena (after the router let go)
  kPortFaults,             // clients disconnected for breaking the ring protocol
  kLimitPublishersTotal,   // LimitReached: daemon-wide publishers (Limits::max_publishers)
  kLimitSubscribersTotal,  // LimitReached: daemon-wide subscribers (Limits::max_subscribers)
  kPoolLowWarnings,        // a pool class fell below 10% free (warned once per episode)
  kDropWarnings,           // rate-limited warnings about a subscriber dropping
  kAccessDenied,           // CreatePublisher/CreateSubscriber refused by an [[access.allow]] list
  kQuarantined,      // processes removed while possibly alive: their memory waits for their exit
  kAbandonedClaims,  // subscriber-queue cells a dead direct publisher claimed, stepped over
  kCount             // sentinel
};

inline constexpr std::size_t kDaemonCounterCount = static_cast<std::size_t>(DaemonCounter::kCount);
static_assert(kDaemonCounterCount <= kMaxDaemonCounters,
              "the stats region holds kMaxDaemonCounters daemon counters; raise it (and "
              "kStatsVersion) before adding more");

// Stable snake_case names ("registrations", "rejected_bad_magic"): log and stats labels.
// Indexed by DaemonCounter. A name missing here fails the static_assert below.
inline constexpr std::array<std::string_view, kDaemonCounterCount> kDaemonCounterNames = {
    "connections_opened",         // kConnectionsOpened
    "connections_closed",         // kConnectionsClosed
    "requests",                   // kRequests
    "requests_refused",           // kRequestsRefused
    "invalid_arguments",          // kInvalidArguments
    "registrations",              // kRegistrations
    "unregistrations",            // kUnregistrations
    "deaths_exited",              // kDeathsExited
    "deaths_hang_up",             // kDeathsHangUp
    "deaths_heartbeat",           // kDeathsHeartbeat
    "deaths_disconnected",        // kDeathsDisconnected
    "publishers_created",         // kPublishersCreated
    "publishers_destroyed",       // kPublishersDestroyed
    "subscribers_created",        // kSubscribersCreated
    "subscribers_destroyed",      // kSubscribersDestroyed
    "limit_processes",            // kLimitProcesses
    "limit_publishers",           // kLimitPublishers
    "limit_subscribers",          // kLimitSubscribers
    "limit_topics",               // kLimitTopics
    "out_of_resources",           // kOutOfResources
    "rejected_bad_magic",         // kRejectedBadMagic
    "rejected_version_mismatch",  // kRejectedVersionMismatch
    "rejected_bad_flags",         // kRejectedBadFlags
    "rejected_truncated",         // kRejectedTruncated
    "rejected_oversized",         // kRejectedOversized
    "rejected_bad_crc",           // kRejectedBadCrc
    "rejected_verifier_failed",   // kRejectedVerifierFailed
    "rejected_unknown_request",   // kRejectedUnknownRequest
    "rejected_unknown_response",  // kRejectedUnknownResponse
    "closed_malformed",           // kClosedMalformed
    "closed_idle",                // kClosedIdle
    "topology_truncated",         // kTopologyTruncated
    "queues_retired",             // kQueuesRetired
    "queues_reclaimed",           // kQueuesReclaimed
    "port_faults",                // kPortFaults
    "limit_publishers_total",     // kLimitPublishersTotal
    "limit_subscribers_total",    // kLimitSubscribersTotal
    "pool_low_warnings",          // kPoolLowWarnings
    "drop_warnings",              // kDropWarnings
    "access_denied",              // kAccessDenied
    "quarantined",                // kQuarantined
    "abandoned_claims",           // kAbandonedClaims
};

namespace detail {
constexpr bool all_daemon_counters_named() {
  for (std::string_view n : kDaemonCounterNames) {
    if (n.empty()) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::all_daemon_counters_named(),
              "every DaemonCounter needs a name in kDaemonCounterNames, in enum order");

constexpr std::string_view to_string(DaemonCounter c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < kDaemonCounterCount ? kDaemonCounterNames[i] : std::string_view("unknown");
}

// How a router worker waits when it has nothing urgent to do: the `idle_strategy` word of its
// WorkerStats slot (docs/router.md, "Idle strategies").
enum class IdleStrategy : std::uint8_t {
  kSpin,    // never sleeps: lowest latency, one CPU at 100%
  kHybrid,  // spin for spin_us after the last urgent work, then park (default)
  kPark,    // park as soon as a pass finds nothing urgent: lowest CPU, a wake-up per burst
};

// The name in the config file, the --idle flag and the tools: spin, hybrid, park.
constexpr const char* to_string(IdleStrategy s) noexcept {
  switch (s) {
    case IdleStrategy::kSpin:
      return "spin";
    case IdleStrategy::kHybrid:
      return "hybrid";
    case IdleStrategy::kPark:
      return "park";
  }
  return "unknown";
}

}  // namespace zcp::shm
