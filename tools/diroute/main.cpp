// diroute: the zerocp host daemon. Reads the configuration (embedded defaults, then
// --config FILE, then the flags given), sets up logging, and runs zcp::daemon::Daemon
// (src/daemon/daemon.hpp) until SIGINT/SIGTERM. --print-default-config and --check-config
// only print. The flags themselves are in options.cpp.
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config/config_file.hpp"
#include "config/estimate.hpp"
#include "daemon/daemon.hpp"
#include "options.hpp"
#include "protocol/frame.hpp"
#include "shm/layout.hpp"

#ifndef ZCP_VERSION
#define ZCP_VERSION "0.0.0"
#endif

namespace {

using zcp::daemon::ExitCode;

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  clean shutdown after SIGINT or SIGTERM (or --check-config found no problem)\n"
    "  1  the event loop failed while running\n"
    "  2  bad command line or configuration\n"
    "  3  a live diroute already serves this instance (socket or segment in use)\n"
    "  4  io_uring unavailable: blocked by seccomp (Docker's default profile) or\n"
    "     kernel.io_uring_disabled, or the kernel is too old (Linux 6.0+ needed)\n"
    "  5  a start-up resource failed (runtime directory, socket, shared memory, eventfd,\n"
    "     SCHED_FIFO refused)\n"
    "\n"
    "diroute never daemonizes itself (no fork, no pid file): run it under systemd,\n"
    "another supervisor, or in a terminal. Logs go to stderr. Configuration keys:\n"
    "docs/configuration.md, or --print-default-config.";

int code(ExitCode c) {
  return static_cast<int>(c);
}

// Builds the effective configuration: defaults, the file, the flags given, then the paths.
zcp::Expected<zcp::daemon::DaemonConfig, std::string> effective_config(const diroute::Options& o,
                                                                       const std::string& file) {
  zcp::daemon::DaemonConfig cfg = zcp::config::default_config();
  if (!file.empty()) {
    auto loaded = zcp::config::load_config_file(file);
    if (!loaded) return zcp::Unexpected(loaded.error());
    cfg = std::move(*loaded);
  }
  if (auto problem = diroute::apply_flags(o, cfg)) return zcp::Unexpected(*problem);
  if (auto problem = zcp::config::validate(cfg)) {
    return zcp::Unexpected((file.empty() ? std::string() : "with " + file + ": ") + *problem);
  }
  auto paths = zcp::config::resolve_paths(
      cfg, o.instance.empty() ? std::nullopt : std::optional(o.instance));
  if (!paths) return zcp::Unexpected(paths.error());
  cfg.paths = *paths;
  cfg.control.daemon_version = ZCP_VERSION;
  return cfg;
}

int check_config(const diroute::Options& o) {
  auto cfg = effective_config(o, o.check_config);
  if (!cfg) {
    std::fprintf(stderr, "diroute: %s\n", cfg.error().c_str());
    return code(ExitCode::kUsage);
  }
  auto estimate = zcp::config::estimate_memory(*cfg);
  if (!estimate) {
    std::fprintf(stderr, "diroute: %s: %s\n", o.check_config.c_str(), estimate.error().c_str());
    return code(ExitCode::kUsage);
  }
  const zcp::daemon::DaemonConfig& c = *cfg;
  std::printf("%s: configuration OK\n", o.check_config == "-" ? "<stdin>" : o.check_config.c_str());
  std::printf("instance '%s', socket %s, log level %s\n", c.paths.instance.c_str(),
              c.paths.socket_path.c_str(), c.log_level.c_str());
  std::printf(
      "router: %zu worker(s)%s, idle %s; reactor cpu %d, SCHED_FIFO reactor %d workers %d\n",
      c.router_cpus.empty() ? static_cast<std::size_t>(c.registry.workers) : c.router_cpus.size(),
      c.router_cpus.empty() ? " unpinned" : " pinned", zcp::shm::to_string(c.idle), c.reactor_cpu,
      c.reactor_priority, c.worker_priority);
  std::printf("memory: prefault %s, mlock %s; access: mode %03o, group '%s', %zu allowlist(s)%s\n",
              c.prefault ? "on" : "off", c.mlock ? "on" : "off", c.access.mode,
              c.access.group.c_str(), c.access.allow.size(),
              c.access.allow.empty() ? "" : " (enforced per service)");
  std::printf("%s\n", zcp::config::describe(*estimate, c).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"diroute " ZCP_VERSION ": the zerocp shared-memory pub/sub daemon (control plane)"};
  app.footer(kExitCodes);
  app.set_version_flag("--version", std::string(ZCP_VERSION) + " (protocol " +
                                        std::to_string(zcp::protocol::kProtocolVersion) +
                                        ", shm layout " + std::to_string(zcp::shm::kLayoutVersion) +
                                        ")");
  diroute::Options opts;
  diroute::add_options(app, opts);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, the version, or the error
    return rc == 0 ? 0 : code(ExitCode::kUsage);
  }

  if (opts.print_default_config) {
    std::fputs(zcp::config::to_toml(zcp::config::default_config()).c_str(), stdout);
    return 0;
  }
  if (!opts.check_config.empty()) return check_config(opts);

  auto logger = spdlog::stderr_color_mt("diroute");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e diroute[%P] %l: %v");
  spdlog::set_level(spdlog::level::from_str(opts.log_level));

  auto cfg = effective_config(opts, opts.config);
  if (!cfg) {
    spdlog::error("{}", cfg.error());
    return code(ExitCode::kUsage);
  }
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));
  auto estimate = zcp::config::estimate_memory(*cfg);
  if (!estimate) {
    spdlog::error("{}", estimate.error());
    return code(ExitCode::kUsage);
  }
  spdlog::info("configuration: {}", opts.config.empty() ? "embedded defaults" : opts.config);
  const std::string effective =
      zcp::config::to_toml(*cfg, zcp::config::TomlStyle{.comments = false});
  spdlog::info("effective configuration (TOML):\n{}", effective);
  spdlog::info("memory estimate:\n{}", zcp::config::describe(*estimate, *cfg));

  auto daemon = zcp::daemon::Daemon::start(*cfg);
  if (!daemon) {
    spdlog::error("diroute cannot start: {}", daemon.error().message);
    return code(daemon.error().code);
  }
  (*daemon)->set_config_text(effective);  // zcp info shows it
  ExitCode rc = (*daemon)->run();
  daemon->reset();
  return code(rc);
}
