// Reporting: one JSON object per scenario (--json; the field names are a contract, see
// docs/performance.md and the BRIEF), or a readable table.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "scenarios.hpp"

namespace zcp::perf {

namespace {

double us(double ns) {
  return ns / 1000.0;
}

}  // namespace

void add_environment(Json& j, const Environment& env) {
  j["daemon"] = env.daemon;
  j["load_before"] = env.load_before;
  j["load_after"] = env.load_after;
  j["cpus"] = env.cpus;
  j["router_cpu"] = env.router_cpu;
  j["idle"] = env.idle.empty() ? "default" : env.idle;
  j["daemon_args"] = env.daemon_args;
  j["delivery"] = env.delivery;
}

Json to_json(const LatencyOptions& o, const LatencyResult& r) {
  const Histogram& h = r.one_way;
  return {
      {"scenario", "latency"},      {"mode", to_string(o.mode)},  {"payload", o.payload},
      {"samples", r.samples},       {"warmup", o.warmup},         {"p50_ns", h.percentile(50)},
      {"p90_ns", h.percentile(90)}, {"p99_ns", h.percentile(99)}, {"p999_ns", h.percentile(99.9)},
      {"max_ns", h.max()},          {"min_ns", h.min()},          {"mean_ns", h.mean()},
      {"poll_yield", o.poll_yield}, {"cpu_ping", o.cpu_ping},     {"cpu_pong", o.cpu_pong}};
}

void print_table(const LatencyOptions& o, const LatencyResult& r, const Environment& env) {
  const Histogram& h = r.one_way;
  std::printf("latency: %s mode, %u B payload, %" PRIu64 " samples after %" PRIu64
              " warm-up round trips; one-way = round trip / 2\n",
              to_string(o.mode), o.payload, r.samples, o.warmup);
  std::printf("  daemon: %s; delivery %s; CPUs ping %d pong %d (-1: not pinned); load %s -> %s\n",
              env.daemon.c_str(), env.delivery.c_str(), o.cpu_ping, o.cpu_pong,
              env.load_before.c_str(), env.load_after.c_str());
  std::printf("  %10s %10s %10s %10s %10s %10s %10s\n", "min", "p50", "p90", "p99", "p99.9", "max",
              "mean");
  std::printf("  %8.2fus %8.2fus %8.2fus %8.2fus %8.2fus %8.2fus %8.2fus\n", us(double(h.min())),
              us(double(h.percentile(50))), us(double(h.percentile(90))),
              us(double(h.percentile(99))), us(double(h.percentile(99.9))), us(double(h.max())),
              us(h.mean()));
}

Json to_json(const ThroughputOptions& o, const ThroughputResult& r) {
  const ThroughputRun& m = r.runs[r.median];
  double min_sub = 0, max_sub = 0;
  std::uint64_t reordered = 0, corrupt = 0;
  for (std::size_t i = 0; i < m.subs.size(); ++i) {
    const double rate = m.seconds > 0 ? static_cast<double>(m.subs[i].received) / m.seconds : 0;
    min_sub = i == 0 ? rate : std::min(min_sub, rate);
    max_sub = i == 0 ? rate : std::max(max_sub, rate);
    reordered += m.subs[i].reordered;
    corrupt += m.subs[i].corrupt;
  }
  Json runs = Json::array();
  for (const auto& run : r.runs)
    runs.push_back(run.deliveries_per_s());
  const std::uint64_t expected = m.sent * m.subs.size();
  const std::uint64_t accounted = m.received() + m.dropped();
  return {{"scenario", "throughput"},
          {"mode", to_string(o.mode)},
          {"policy", to_string(o.policy)},
          {"payload", o.payload},
          {"subscribers", o.subscribers},
          {"touch", o.touch},
          {"duration_s", o.duration_s},
          {"warmup", o.warmup},
          {"seconds", m.seconds},
          {"sent", m.sent},
          {"received", m.received()},
          {"dropped", m.dropped()},
          {"gaps", m.gaps()},
          {"lost", expected > accounted ? expected - accounted : 0},
          {"reordered", reordered},
          {"corrupt", corrupt},
          {"would_block", m.would_block},
          {"pool_exhausted", m.pool_exhausted},
          {"msgs_per_s", m.deliveries_per_s()},
          {"publish_msgs_per_s", m.publish_per_s()},
          {"gb_per_s", m.deliveries_per_s() * o.payload / 1e9},
          {"min_sub_msgs_per_s", min_sub},
          {"max_sub_msgs_per_s", max_sub},
          {"runs", runs},
          {"median_run", r.median + 1},
          {"poll_yield", o.poll_yield},
          {"queue_capacity", o.queue_capacity},
          {"cpu_pub", o.cpu_pub},
          {"cpu_subs", o.cpu_subs},
          {"latency_samples", m.latency.count()},
          {"latency_p50_ns", m.latency.percentile(50)},
          {"latency_p99_ns", m.latency.percentile(99)},
          {"latency_p999_ns", m.latency.percentile(99.9)},
          {"latency_max_ns", m.latency.max()}};
}

void print_table(const ThroughputOptions& o, const ThroughputResult& r, const Environment& env) {
  std::printf(
      "throughput: 1 publisher -> %u subscriber(s), %u B payload%s, %s mode, %s, %.1f s x %zu "
      "run(s)\n",
      o.subscribers, o.payload, o.touch ? " (touched)" : "", to_string(o.mode), to_string(o.policy),
      o.duration_s, r.runs.size());
  std::printf("  daemon: %s; delivery %s; load %s -> %s\n", env.daemon.c_str(),
              env.delivery.c_str(), env.load_before.c_str(), env.load_after.c_str());
  std::printf("  %3s %7s %11s %11s %9s %9s %11s %11s %7s %11s %11s\n", "run", "seconds", "sent",
              "received", "dropped", "gaps", "deliv/s", "publish/s", "GB/s", "min sub/s",
              "max sub/s");
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const ThroughputRun& run = r.runs[i];
    double lo = 0, hi = 0;
    for (std::size_t k = 0; k < run.subs.size(); ++k) {
      const double rate = static_cast<double>(run.subs[k].received) / run.seconds;
      lo = k == 0 ? rate : std::min(lo, rate);
      hi = k == 0 ? rate : std::max(hi, rate);
    }
    std::printf("  %2zu%s %7.3f %11" PRIu64 " %11" PRIu64 " %9" PRIu64 " %9" PRIu64
                " %11.0f %11.0f %7.3f %11.0f %11.0f\n",
                i + 1, i == r.median ? "*" : " ", run.seconds, run.sent, run.received(),
                run.dropped(), run.gaps(), run.deliveries_per_s(), run.publish_per_s(),
                run.deliveries_per_s() * o.payload / 1e9, lo, hi);
  }
  const ThroughputRun& m = r.runs[r.median];
  std::printf(
      "  * median run. deliv/s = received by all subscribers / seconds; publish/s = sent / "
      "seconds.\n");
  if (o.latency) {
    std::printf("  publish-to-take latency in the median run (%" PRIu64
                " samples): P50 %.2f us, P99 %.2f us, "
                "P99.9 %.2f us, max %.2f us\n",
                m.latency.count(), m.latency.percentile(50) / 1e3, m.latency.percentile(99) / 1e3,
                m.latency.percentile(99.9) / 1e3, static_cast<double>(m.latency.max()) / 1e3);
  }
  std::printf("  back-pressure in the median run: %" PRIu64 " would-block, %" PRIu64
              " pool-exhausted retries\n",
              m.would_block, m.pool_exhausted);
  std::uint64_t bad = 0;
  for (const auto& t : m.subs)
    bad += t.reordered + t.corrupt;
  if (bad != 0) std::printf("  WARNING: %" PRIu64 " reordered or corrupt messages\n", bad);
  if (o.policy == zcp::QueuePolicy::kBlockPublisher && m.received() != m.sent * m.subs.size()) {
    std::printf("  WARNING: block_publisher is lossless, but %" PRIu64 " of %" PRIu64
                " deliveries arrived\n",
                m.received(), m.sent * m.subs.size());
  }
}

Json to_json(const ControlOptions& o, const ControlResult& r) {
  return {{"scenario", "control"},
          {"connects", r.connect_ns.count()},
          {"register_p50_ns", r.connect_ns.percentile(50)},
          {"register_p99_ns", r.connect_ns.percentile(99)},
          {"register_max_ns", r.connect_ns.max()},
          {"subscribers", o.subscribers},
          {"create_subscribers_ms", r.create_subscribers_ms},
          {"destroy_subscribers_ms", r.destroy_subscribers_ms}};
}

void print_table(const ControlOptions& o, const ControlResult& r, const Environment& env) {
  std::printf("control plane: %" PRIu64
              " connects (Runtime::connect = hello + register), %u subscribers\n",
              r.connect_ns.count(), o.subscribers);
  std::printf("  daemon: %s; delivery %s; load %s -> %s\n", env.daemon.c_str(),
              env.delivery.c_str(), env.load_before.c_str(), env.load_after.c_str());
  std::printf("  register p50 %.1f us, p99 %.1f us, max %.1f us\n",
              us(double(r.connect_ns.percentile(50))), us(double(r.connect_ns.percentile(99))),
              us(double(r.connect_ns.max())));
  std::printf("  create %u subscribers: %.1f ms (%.1f us each); destroy them: %.1f ms\n",
              o.subscribers, r.create_subscribers_ms,
              r.create_subscribers_ms * 1000.0 / std::max(1U, o.subscribers),
              r.destroy_subscribers_ms);
}

}  // namespace zcp::perf
