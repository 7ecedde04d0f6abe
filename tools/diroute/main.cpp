// diroute: the zerocp host daemon. Parses the command line, sets up logging, and runs
// zcp::daemon::Daemon (src/daemon/daemon.hpp) until SIGINT/SIGTERM.
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/instance.hpp"
#include "daemon/daemon.hpp"
#include "protocol/frame.hpp"
#include "shm/layout.hpp"

#ifndef ZCP_VERSION
#define ZCP_VERSION "0.0.0"
#endif

namespace {

using zcp::daemon::ExitCode;

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  clean shutdown after SIGINT or SIGTERM\n"
    "  1  the event loop failed while running\n"
    "  2  bad command line or configuration\n"
    "  3  a live diroute already serves this instance (socket or segment in use)\n"
    "  4  io_uring unavailable: blocked by seccomp (Docker's default profile) or\n"
    "     kernel.io_uring_disabled, or the kernel is too old (Linux 6.0+ needed)\n"
    "  5  a start-up resource failed (runtime directory, socket, shared memory, eventfd)\n"
    "\n"
    "diroute never daemonizes itself (no fork, no pid file): run it under systemd,\n"
    "another supervisor, or in a terminal. Logs go to stderr.";

int code(ExitCode c) {
  return static_cast<int>(c);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"diroute " ZCP_VERSION ": the zerocp shared-memory pub/sub daemon (control plane)"};
  app.footer(kExitCodes);
  app.set_version_flag("--version", std::string(ZCP_VERSION) + " (protocol " +
                                        std::to_string(zcp::protocol::kProtocolVersion) +
                                        ", shm layout " + std::to_string(zcp::shm::kLayoutVersion) +
                                        ")");

  std::string instance;
  std::string log_level = "info";
  bool foreground = false;
  unsigned heartbeat_ms = static_cast<unsigned>(zcp::daemon::kDefaultHeartbeatInterval.count());
  unsigned timeout_ms = static_cast<unsigned>(zcp::daemon::kDefaultHeartbeatTimeout.count());
  zcp::daemon::DaemonConfig cfg;
  cfg.registry.workers = zcp::daemon::kDefaultWorkers;
  unsigned arena_mb = static_cast<unsigned>(zcp::daemon::kDefaultQueueArenaBytes >> 20);

  app.add_option("--instance", instance,
                 "Instance name: derives the socket <runtime dir>/<instance>.sock and the shm "
                 "names. Default: $ZCP_INSTANCE, else 'default'");
  app.add_option("--log-level", log_level, "trace, debug, info (lifecycle only), warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_flag("--foreground", foreground,
               "Run in the foreground. diroute always does (it never forks or daemonizes "
               "itself, systemd style); the flag is accepted so service files can say so");
  app.add_option("--heartbeat-ms", heartbeat_ms, "Heartbeat check period in ms")
      ->check(CLI::Range(10U, 60000U))
      ->capture_default_str();
  app.add_option("--heartbeat-timeout-ms", timeout_ms,
                 "A monitored client silent this long (ms) is declared dead")
      ->check(CLI::Range(20U, 3600000U))
      ->capture_default_str();
  app.add_option("--workers", cfg.registry.workers,
                 "Router workers, unpinned (see --router-cpus to pin them)")
      ->check(CLI::Range(1U, zcp::router::kMaxWorkers))
      ->capture_default_str();
  std::vector<int> router_cpus;
  app.add_option("--router-cpus", router_cpus,
                 "Pin one router worker per listed CPU (e.g. --router-cpus 1 or 2,3); overrides --workers")
      ->delimiter(',');
  std::vector<std::string> pools;
  app.add_option("--pool", pools,
                 "A chunk pool class SIZExCOUNT (payload bytes x chunks), repeatable; replaces the "
                 "default 128x4096 1024x2048 8192x1024 (e.g. --pool 256x8192 --pool 8192x4096)");
  std::string idle = "hybrid";
  app.add_option("--idle", idle,
                 "Router idle strategy: spin (lowest latency, a CPU at 100%), hybrid (spin, yield, "
                 "then park), park (lowest CPU)")
      ->check(CLI::IsMember({"spin", "hybrid", "park"}))
      ->capture_default_str();
  unsigned spin_us = 50;
  app.add_option("--spin-us", spin_us, "hybrid: microseconds a worker spins before yielding, then parking")
      ->check(CLI::Range(0U, 1000000U))
      ->capture_default_str();
  app.add_option("--max-processes", cfg.heartbeat_slots,
                 "Most registered processes (= heartbeat slots in the segment)")
      ->check(CLI::Range(1U, zcp::shm::kMaxHeartbeatSlots))
      ->capture_default_str();
  app.add_option("--max-publishers-per-process", cfg.registry.limits.max_publishers_per_process,
                 "Most publishers one process may hold")
      ->check(CLI::Range(1U, 1U << 20))
      ->capture_default_str();
  app.add_option("--max-subscribers-per-process", cfg.registry.limits.max_subscribers_per_process,
                 "Most subscribers one process may hold")
      ->check(CLI::Range(1U, 1U << 20))
      ->capture_default_str();
  app.add_option("--max-topics", cfg.registry.limits.max_topics,
                 "Most distinct topics (service/instance/event)")
      ->check(CLI::Range(1U, 1U << 24))
      ->capture_default_str();
  app.add_option("--queue-arena-mb", arena_mb,
                 "Shared memory for publisher rings and subscriber queues, MiB")
      ->check(CLI::Range(1U, 1U << 16))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, the version, or the error
    return rc == 0 ? 0 : code(ExitCode::kUsage);
  }
  (void)foreground;  // always in the foreground: see the flag's help

  auto logger = spdlog::stderr_color_mt("diroute");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e diroute[%P] %l: %v");
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (timeout_ms <= heartbeat_ms) {
    spdlog::error("--heartbeat-timeout-ms ({}) must be longer than --heartbeat-ms ({})", timeout_ms,
                  heartbeat_ms);
    return code(ExitCode::kUsage);
  }
  auto paths = zcp::resolve_instance(instance.empty() ? std::nullopt : std::optional(instance));
  if (!paths) {
    spdlog::error("{}", paths.error());
    return code(ExitCode::kUsage);
  }
  cfg.paths = *paths;
  cfg.control.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  cfg.control.heartbeat_timeout = std::chrono::milliseconds(timeout_ms);
  cfg.control.daemon_version = ZCP_VERSION;
  cfg.registry.limits.max_processes = cfg.heartbeat_slots;
  cfg.queue_arena_bytes = std::uint64_t{arena_mb} << 20;
  if (!pools.empty()) {
    cfg.pools.classes.clear();
    for (const std::string& spec : pools) {
      auto x = spec.find('x');
      std::uint64_t size = 0, count = 0;
      bool ok = x != std::string::npos && x > 0 && x + 1 < spec.size() &&
                spec.find_first_not_of("0123456789", 0) == x &&
                spec.find_first_not_of("0123456789", x + 1) == std::string::npos;
      if (ok) {
        size = std::stoull(spec.substr(0, x));
        count = std::stoull(spec.substr(x + 1));
        ok = size <= UINT32_MAX && count <= UINT32_MAX;
      }
      if (!ok) {
        spdlog::error("--pool {}: expected SIZExCOUNT, e.g. 8192x1024", spec);
        return code(ExitCode::kUsage);
      }
      cfg.pools.classes.push_back({static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(count)});
    }
    if (auto problem = cfg.pools.normalize()) {
      spdlog::error("--pool: {}", *problem);
      return code(ExitCode::kUsage);
    }
  }
  cfg.router_cpus = router_cpus;
  cfg.idle = *zcp::router::parse_idle_strategy(idle);
  cfg.spin = std::chrono::microseconds(spin_us);

  auto daemon = zcp::daemon::Daemon::start(cfg);
  if (!daemon) {
    spdlog::error("diroute cannot start: {}", daemon.error().message);
    return code(daemon.error().code);
  }
  ExitCode rc = (*daemon)->run();
  daemon->reset();
  return code(rc);
}
