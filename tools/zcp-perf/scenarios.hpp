// The three zcp-perf scenarios: options, results, and how each is reported (one JSON object
// per scenario for --json, a table otherwise). main.cpp parses the command line, opens the
// daemon session and calls run_*; each run_* forks its own processes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <zcp/queue_policy.hpp>

#include "daemon.hpp"
#include "histogram.hpp"
#include "system.hpp"

namespace zcp::perf {

// Ordered: "scenario" comes first and fields stay in the order the docs list them.
using Json = nlohmann::ordered_json;

enum class Mode { kPoll, kWait };  // subscribers spin on take(), or sleep in wait()
const char* to_string(Mode m) noexcept;

// What every scenario reports about where it ran.
struct Environment {
  std::string daemon;       // DaemonSession::describe()
  std::string load_before;  // /proc/loadavg at the start
  std::string load_after;   // and at the end
  std::string cpus;         // CPUs this process may use
  int router_cpu = -1;      // private daemon options (-1 / "": diroute's defaults)
  std::string idle;
  std::vector<std::string> daemon_args;
  std::string delivery;  // "routed" | "direct" (private daemon), else "daemon's config"
};
void add_environment(Json& j, const Environment& env);

// ---- latency ----------------------------------------------------------------------------
struct LatencyOptions {
  std::uint32_t payload = 64;
  Mode mode = Mode::kPoll;
  std::uint64_t count = 100000;
  std::uint64_t warmup = 10000;
  int cpu_ping = -1;
  int cpu_pong = -1;
  std::uint32_t poll_yield = 0;  // poll mode: sched_yield() after this many empty polls (0: never)
  double timeout_s = 120;        // the whole scenario, setup included
};
struct LatencyResult {
  Histogram one_way;  // round trip / 2, ns
  std::uint64_t samples = 0;
};
Status<LatencyResult> run_latency(const DaemonSession& daemon, const LatencyOptions& o);
Json to_json(const LatencyOptions& o, const LatencyResult& r);
void print_table(const LatencyOptions& o, const LatencyResult& r, const Environment& env);

// ---- throughput -------------------------------------------------------------------------
struct ThroughputOptions {
  std::uint32_t payload = 64;
  std::uint32_t subscribers = 1;
  Mode mode = Mode::kPoll;
  zcp::QueuePolicy policy = zcp::QueuePolicy::kBlockPublisher;
  double duration_s = 2;
  std::uint64_t warmup = 10000;  // messages published before the timed window (not counted)
  bool touch = false;
  std::uint32_t runs = 3;
  std::uint32_t queue_capacity = 0;  // 0: the daemon's default
  std::uint32_t poll_yield = 0;      // poll mode: sched_yield() after this many empty polls
  int cpu_pub = -1;
  std::vector<int> cpu_subs;  // round-robin over the subscribers; empty: no pins
  bool latency = false;       // subscribers record publish-to-take latency (Sample::timestamp_ns)
};
struct SubscriberTally {
  std::uint64_t received = 0;
  std::uint64_t gaps = 0;       // sequence numbers skipped (messages this subscriber lost)
  std::uint64_t dropped = 0;    // Subscriber::dropped(): what its queue policy dropped
  std::uint64_t reordered = 0;  // sequence numbers that went backwards (must stay 0)
  std::uint64_t corrupt = 0;    // --touch: payloads whose fill did not match (must stay 0)
  std::uint64_t last_sequence = 0;
};
struct ThroughputRun {
  double seconds = 0;  // the publisher's measured window
  std::uint64_t sent = 0;
  std::uint64_t would_block = 0;     // publish() kWouldBlock retries
  std::uint64_t pool_exhausted = 0;  // loan() kPoolExhausted retries
  std::vector<SubscriberTally> subs;
  Histogram latency;  // --latency: publish-to-take of every measured message, all subscribers

  std::uint64_t received() const noexcept;
  std::uint64_t dropped() const noexcept;
  std::uint64_t gaps() const noexcept;
  double deliveries_per_s() const noexcept;  // received (all subscribers) / seconds
  double publish_per_s() const noexcept;     // sent / seconds
};
struct ThroughputResult {
  std::vector<ThroughputRun> runs;
  std::size_t median = 0;  // index of the median run by deliveries_per_s
};
Status<ThroughputResult> run_throughput(const DaemonSession& daemon, const ThroughputOptions& o);
Json to_json(const ThroughputOptions& o, const ThroughputResult& r);
void print_table(const ThroughputOptions& o, const ThroughputResult& r, const Environment& env);

// ---- control plane ----------------------------------------------------------------------
struct ControlOptions {
  std::uint32_t connects = 200;
  std::uint32_t subscribers = 1000;
  double timeout_s = 120;
};
struct ControlResult {
  Histogram connect_ns;  // Runtime::connect: hello + register round trips, segment mapping
  double create_subscribers_ms = 0;
  double destroy_subscribers_ms = 0;
  std::uint32_t subscribers = 0;
};
Status<ControlResult> run_control(const DaemonSession& daemon, const ControlOptions& o);
Json to_json(const ControlOptions& o, const ControlResult& r);
void print_table(const ControlOptions& o, const ControlResult& r, const Environment& env);

}  // namespace zcp::perf
