#include "daemon/counters.hpp"

namespace zcp::daemon {

namespace {

// Indexed by Counter. A name missing here fails the static_assert below.
constexpr std::array<std::string_view, kCounterCount> kCounterNames = {
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

constexpr bool all_named() {
  for (std::string_view n : kCounterNames) {
    if (n.empty()) return false;
  }
  return true;
}
static_assert(all_named(), "every Counter needs a name in kCounterNames, in enum order");

}  // namespace

std::string_view to_string(Counter c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < kCounterCount ? kCounterNames[i] : std::string_view("unknown");
}

void Counters::attach(std::uint64_t* words) noexcept {
  if (words == nullptr || words == values_) return;
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    // relaxed: the reactor is the only writer; readers take each word as a statistic.
    shm::atomic_store(words[i], shm::read_counter(values_[i]), std::memory_order_relaxed);
  }
  values_ = words;
}

std::uint64_t Counters::rejected_total() const noexcept {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < protocol::kDecodeErrcCount; ++i) {
    sum += rejected(static_cast<protocol::DecodeErrc>(i));
  }
  return sum;
}

std::string Counters::summary() const {
  std::string out;
  out.reserve(kCounterCount * 24);
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    if (i != 0) out += ' ';
    out += to_string(static_cast<Counter>(i));
    out += '=';
    out += std::to_string(shm::read_counter(values_[i]));
  }
  return out;
}

}  // namespace zcp::daemon
