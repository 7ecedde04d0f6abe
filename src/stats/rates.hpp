// Rates from two snapshots of the same daemon: counter deltas over the time between them.
// Rows are matched by (slot, id), so an endpoint that was removed and whose slot was reused
// in between is not mistaken for the old one; a counter that went backwards (a new daemon
// on the instance) counts as a delta of 0.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "stats/snapshot.hpp"

namespace zcp::stats {

struct TopicRate {
  double msgs_per_s = 0;       // publications on the topic (all its publishers)
  double delivered_per_s = 0;  // deliveries into its subscribers' queues
  double dropped_per_s = 0;    // drops by its subscribers' policies
  std::uint64_t dropped = 0;   // total drops so far (not a rate), for the topic panels
};

struct WorkerRate {
  double routed_per_s = 0;
  double busy_pct = 0;      // share of wall time spent in passes that did work
  std::uint64_t parks = 0;  // parks in the interval
};

using SlotKey = std::pair<std::uint32_t, std::uint32_t>;  // (slot, id)

struct Rates {
  double interval_s = 0;
  double msgs_per_s = 0;  // publications, every publisher
  double delivered_per_s = 0;
  double dropped_per_s = 0;
  std::map<std::string, TopicRate> topics;      // by "service/instance/event"
  std::map<SlotKey, double> publishers;         // published per second
  std::map<SlotKey, double> subscribers;        // delivered per second
  std::map<std::uint32_t, WorkerRate> workers;  // by worker id
};

// `before` must have been taken first; an interval of 0 gives all-zero rates.
Rates compute_rates(const Snapshot& before, const Snapshot& after);

// Drops per topic and totals without a previous snapshot (rates 0): what --once prints when
// it takes a single snapshot.
Rates totals_only(const Snapshot& s);

}  // namespace zcp::stats
