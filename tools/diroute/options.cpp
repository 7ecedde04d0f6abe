#include "options.hpp"

#include <cstdint>

#include "config/config_file.hpp"
#include "shm/route_table.hpp"

namespace diroute {
namespace {

bool given(const Options& o, const char* flag) {
  return o.app->get_option(flag)->count() > 0;
}

// "SIZExCOUNT", e.g. 8192x1024.
std::optional<zcp::shm::PoolClassConfig> parse_pool(const std::string& spec) {
  auto x = spec.find('x');
  bool ok = x != std::string::npos && x > 0 && x + 1 < spec.size() &&
            spec.find_first_not_of("0123456789", 0) == x &&
            spec.find_first_not_of("0123456789", x + 1) == std::string::npos && x <= 10 &&
            spec.size() - x - 1 <= 10;
  if (!ok) return std::nullopt;
  std::uint64_t size = std::stoull(spec.substr(0, x));
  std::uint64_t count = std::stoull(spec.substr(x + 1));
  if (size > UINT32_MAX || count > UINT32_MAX) return std::nullopt;
  return zcp::shm::PoolClassConfig{static_cast<std::uint32_t>(size),
                                   static_cast<std::uint32_t>(count)};
}

}  // namespace

void add_options(CLI::App& app, Options& o) {
  const zcp::daemon::DaemonConfig d = zcp::config::default_config();
  o.app = &app;
  o.heartbeat_ms = static_cast<unsigned>(d.control.heartbeat_interval.count());
  o.timeout_ms = static_cast<unsigned>(d.control.heartbeat_timeout.count());
  o.workers = d.registry.workers;
  o.idle = zcp::shm::to_string(d.idle);
  o.spin_us = static_cast<unsigned>(d.spin.count());
  o.spin_yield_us = static_cast<unsigned>(d.spin_yield.count());
  o.reactor_busy_poll_us = static_cast<unsigned>(d.reactor_busy_poll.count());
  o.max_processes = d.heartbeat_slots;
  o.max_publishers_per_process = d.registry.limits.max_publishers_per_process;
  o.max_subscribers_per_process = d.registry.limits.max_subscribers_per_process;
  o.max_topics = d.registry.limits.max_topics;
  o.arena_mb = static_cast<unsigned>(d.queue_arena_bytes >> 20);
  o.publish_ring = d.registry.publisher_ring_capacity;
  o.direct_wake_max = d.registry.direct_wake_max;

  app.add_option(
         "--config", o.config,
         "TOML configuration file (docs/configuration.md); the flags given on the command line "
         "override it. Without it, the embedded defaults apply")
      ->check(CLI::ExistingFile);
  app.add_flag("--print-default-config", o.print_default_config,
               "Print the complete default configuration, commented, and exit");
  app.add_option(
      "--check-config", o.check_config,
      "Check a configuration file (with any flags given), print a summary and the memory "
      "estimate, and exit: 0 if it is valid, 2 with the error otherwise ('-' reads stdin)");
  app.add_option("--instance", o.instance,
                 "Instance name: derives the socket <runtime dir>/<instance>.sock and the shm "
                 "names. Default: [daemon] instance, else $ZCP_INSTANCE, else 'default'");
  app.add_option("--log-level", o.log_level,
                 "trace, debug, info (lifecycle only), warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_flag("--foreground", o.foreground,
               "Run in the foreground. diroute always does (it never forks or daemonizes "
               "itself, systemd style); the flag is accepted so service files can say so");
  app.add_option("--heartbeat-ms", o.heartbeat_ms, "Heartbeat check period in ms")
      ->check(CLI::Range(10U, 60000U))
      ->capture_default_str();
  app.add_option("--heartbeat-timeout-ms", o.timeout_ms,
                 "A monitored client silent this long (ms) is declared dead")
      ->check(CLI::Range(20U, 3600000U))
      ->capture_default_str();
  app.add_option("--workers", o.workers, "Router workers, unpinned (see --router-cpus to pin them)")
      ->check(CLI::Range(1U, zcp::router::kMaxWorkers))
      ->capture_default_str();
  app.add_option(
         "--router-cpus", o.router_cpus,
         "Pin one router worker per listed CPU (e.g. --router-cpus 1 or 2,3); overrides --workers")
      ->delimiter(',');
  app.add_option("--pool", o.pools,
                 "A chunk pool class SIZExCOUNT (payload bytes x chunks), repeatable; replaces the "
                 "default 128x4096 1024x2048 8192x1024 (e.g. --pool 256x8192 --pool 8192x4096)");
  app.add_option("--idle", o.idle,
                 "Router idle strategy: spin (lowest latency, a CPU at 100%), hybrid (spin after "
                 "routed work, then park), park (lowest CPU)")
      ->check(CLI::IsMember({"spin", "hybrid", "park"}))
      ->capture_default_str();
  app.add_option("--spin-us", o.spin_us,
                 "hybrid: microseconds a worker spins after its last urgent work, then parks")
      ->check(CLI::Range(0U, 1000000U))
      ->capture_default_str();
  app.add_option("--spin-yield-us", o.spin_yield_us,
                 "hybrid: while spinning, sched_yield() this often (µs); 0: never. Under EEVDF a "
                 "worker that yields often can lose its CPU to spinning clients")
      ->check(CLI::Range(0U, 1000000U))
      ->capture_default_str();
  app.add_option("--reactor-busy-poll-us", o.reactor_busy_poll_us,
                 "After handling an event, the reactor polls this long (µs) before sleeping, so "
                 "back-to-back requests skip a wake-up; 0: always sleep")
      ->check(CLI::Range(0U, 1000000U))
      ->capture_default_str();
  app.add_option("--routed-topic", o.routed_topics,
                 "Routed delivery for a topic SERVICE/INSTANCE/EVENT, or a prefix ending in '*' "
                 "(repeatable; '*' for all): the router worker makes every delivery. Other topics "
                 "are direct: their publishers push into subscriber queues themselves")
      ->check([](const std::string& p) { return zcp::daemon::topic_pattern_problem(p); });
  app.add_option("--direct-wake-max", o.direct_wake_max,
                 "On a direct topic with at most this many subscribers, a publisher wakes sleeping "
                 "subscribers itself; on wider topics the router wakes them in batches")
      ->check(CLI::Range(0U, zcp::shm::kRouteSlots))
      ->capture_default_str();
  app.add_option("--max-processes", o.max_processes,
                 "Most registered processes (= heartbeat slots in the segment)")
      ->check(CLI::Range(1U, zcp::shm::kMaxHeartbeatSlots))
      ->capture_default_str();
  app.add_option("--max-publishers-per-process", o.max_publishers_per_process,
                 "Most publishers one process may hold")
      ->check(CLI::Range(1U, 1U << 20))
      ->capture_default_str();
  app.add_option("--max-subscribers-per-process", o.max_subscribers_per_process,
                 "Most subscribers one process may hold")
      ->check(CLI::Range(1U, 1U << 20))
      ->capture_default_str();
  app.add_option("--max-topics", o.max_topics, "Most distinct topics (service/instance/event)")
      ->check(CLI::Range(1U, 1U << 24))
      ->capture_default_str();
  app.add_option("--publish-ring", o.publish_ring,
                 "Publish ring slots of each publisher: what it may publish before the router has "
                 "settled or routed it; past it publish() reports WouldBlock")
      ->check(CLI::Range(1U, 65536U))
      ->capture_default_str();
  app.add_option("--queue-arena-mb", o.arena_mb,
                 "Shared memory for publisher rings and subscriber queues, MiB")
      ->check(CLI::Range(1U, 1U << 16))
      ->capture_default_str();
}

std::optional<std::string> apply_flags(const Options& o, zcp::daemon::DaemonConfig& cfg) {
  if (given(o, "--log-level")) cfg.log_level = o.log_level;
  if (given(o, "--heartbeat-ms"))
    cfg.control.heartbeat_interval = std::chrono::milliseconds(o.heartbeat_ms);
  if (given(o, "--heartbeat-timeout-ms"))
    cfg.control.heartbeat_timeout = std::chrono::milliseconds(o.timeout_ms);
  if (given(o, "--workers")) {
    cfg.registry.workers = o.workers;
    cfg.router_cpus.clear();  // --workers asks for unpinned workers
  }
  if (given(o, "--router-cpus")) {
    cfg.router_cpus = o.router_cpus;
    cfg.registry.workers = static_cast<std::uint32_t>(o.router_cpus.size());
  }
  if (given(o, "--idle")) cfg.idle = *zcp::router::parse_idle_strategy(o.idle);
  if (given(o, "--spin-us")) cfg.spin = std::chrono::microseconds(o.spin_us);
  if (given(o, "--spin-yield-us")) cfg.spin_yield = std::chrono::microseconds(o.spin_yield_us);
  if (given(o, "--routed-topic")) cfg.registry.routed_topics = o.routed_topics;
  if (given(o, "--reactor-busy-poll-us"))
    cfg.reactor_busy_poll = std::chrono::microseconds(o.reactor_busy_poll_us);
  if (given(o, "--max-processes")) {
    cfg.heartbeat_slots = o.max_processes;
    cfg.registry.limits.max_processes = o.max_processes;
  }
  if (given(o, "--max-publishers-per-process")) {
    cfg.registry.limits.max_publishers_per_process = o.max_publishers_per_process;
  }
  if (given(o, "--max-subscribers-per-process")) {
    cfg.registry.limits.max_subscribers_per_process = o.max_subscribers_per_process;
  }
  if (given(o, "--max-topics")) cfg.registry.limits.max_topics = o.max_topics;
  if (given(o, "--queue-arena-mb")) cfg.queue_arena_bytes = std::uint64_t{o.arena_mb} << 20;
  if (given(o, "--publish-ring")) cfg.registry.publisher_ring_capacity = o.publish_ring;
  if (given(o, "--direct-wake-max")) cfg.registry.direct_wake_max = o.direct_wake_max;
  if (given(o, "--pool")) {
    cfg.pools.classes.clear();
    for (const std::string& spec : o.pools) {
      auto cls = parse_pool(spec);
      if (!cls) return "--pool " + spec + ": expected SIZExCOUNT, e.g. 8192x1024";
      cfg.pools.classes.push_back(*cls);
    }
    if (auto problem = cfg.pools.normalize()) return "--pool: " + *problem;
  }
  return std::nullopt;
}

}  // namespace diroute
