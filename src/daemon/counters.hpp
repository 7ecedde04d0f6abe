// The daemon's control-plane counters: one enum with a kCount sentinel, one plain array.
//
// Written only by the reactor thread. The words live in the segment's stats region (the
// daemon counter array, shm/stats_layout.hpp), where zcp-top and `zcp metrics` read them
// without asking the daemon; a Counters not attached to a region (a ControlPlane built by a
// test without one) counts into its own array. The daemon also logs the summary at shutdown.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/errors.hpp"
#include "shm/stats.hpp"

namespace zcp::daemon {

enum class Counter : std::uint8_t {
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
  kClosedMalformed,    // connections closed after the malformed-frame limit
  kClosedIdle,         // unregistered connections closed after idling
  kTopologyTruncated,  // ListTopology replies cut to fit one frame
  kQueuesRetired,      // rings/queues removed from the topology
  kQueuesReclaimed,    // ... and given back to the arena (after the router let go)
  kPortFaults,         // clients disconnected for breaking the ring protocol
  kLimitPublishersTotal,   // LimitReached: daemon-wide publishers (Limits::max_publishers)
  kLimitSubscribersTotal,  // LimitReached: daemon-wide subscribers (Limits::max_subscribers)
  kPoolLowWarnings,        // a pool class fell below 10% free (warned once per episode)
  kDropWarnings,           // rate-limited warnings about a subscriber dropping
  kAccessDenied,  // CreatePublisher/CreateSubscriber refused by an [[access.allow]] list
  kQuarantined,   // processes removed while possibly alive: their memory waits for their exit
  kAbandonedClaims,  // subscriber-queue cells a dead direct publisher claimed, stepped over
  kCount                   // sentinel
};

inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::kCount);
static_assert(kCounterCount <= shm::kMaxDaemonCounters,
              "the stats region holds shm::kMaxDaemonCounters daemon counters; raise it (and "
              "kStatsVersion) before adding more");

static_assert(static_cast<std::size_t>(Counter::kRejectedUnknownResponse) -
                      static_cast<std::size_t>(Counter::kRejectedBadMagic) + 1 ==
                  protocol::kDecodeErrcCount,
              "one rejected-frame counter per DecodeErrc, in DecodeErrc order");
static_assert(static_cast<int>(protocol::DecodeErrc::BadMagic) == 0 &&
                  static_cast<int>(protocol::DecodeErrc::UnknownResponse) + 1 ==
                      static_cast<int>(protocol::kDecodeErrcCount),
              "DecodeErrc runs from BadMagic to UnknownResponse");

// The rejected-frame counter of a decode error class.
constexpr Counter rejected_counter(protocol::DecodeErrc code) noexcept {
  return static_cast<Counter>(static_cast<std::size_t>(Counter::kRejectedBadMagic) +
                              static_cast<std::size_t>(code));
}

// Stable snake_case names ("registrations", "rejected_bad_magic"): log and stats labels.
std::string_view to_string(Counter c) noexcept;

class Counters {
 public:
  Counters() = default;
  // values_ may point into own_: a copy would point into the source.
  Counters(const Counters&) = delete;
  Counters& operator=(const Counters&) = delete;

  // Moves the counters into `words` (kCounterCount of them, the stats region's daemon counter
  // array), carrying over what was counted so far. Reactor thread, before it serves.
  void attach(std::uint64_t* words) noexcept;

  // One writer (the reactor): shm::bump is a relaxed load and store, no locked instruction.
  // Readers (tools) load each word relaxed: a statistic that publishes nothing.
  void add(Counter c, std::uint64_t n = 1) noexcept { shm::bump(values_[index(c)], n); }
  std::uint64_t get(Counter c) const noexcept { return shm::read_counter(values_[index(c)]); }
  std::uint64_t rejected(protocol::DecodeErrc code) const noexcept {
    return get(rejected_counter(code));
  }
  std::uint64_t rejected_total() const noexcept;
  // "name=value" for every counter, space-separated, in enum order.
  std::string summary() const;

 private:
  static constexpr std::size_t index(Counter c) noexcept { return static_cast<std::size_t>(c); }
  std::array<std::uint64_t, kCounterCount> own_{};
  std::uint64_t* values_ = own_.data();
};

}  // namespace zcp::daemon
