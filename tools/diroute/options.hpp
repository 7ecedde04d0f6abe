// diroute's command line: every flag, and how the flags that were given override the
// configuration file (a flag not given leaves the file's value, or the default, alone).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "daemon/daemon.hpp"

namespace diroute {

struct Options {
  std::string config;        // --config FILE
  std::string check_config;  // --check-config FILE
  bool print_default_config = false;
  bool foreground = false;  // accepted, no effect: diroute never daemonizes

  std::string instance;
  std::string log_level = "info";
  unsigned heartbeat_ms = 0;
  unsigned timeout_ms = 0;
  unsigned workers = 0;
  std::vector<int> router_cpus;
  std::vector<std::string> routed_topics;
  unsigned reactor_busy_poll_us = 0;
  std::vector<std::string> pools;
  std::string idle;
  unsigned spin_us = 0;
  unsigned spin_yield_us = 0;
  std::uint32_t max_processes = 0;
  std::uint32_t max_publishers_per_process = 0;
  std::uint32_t max_subscribers_per_process = 0;
  std::uint32_t max_topics = 0;
  unsigned arena_mb = 0;
  std::uint32_t publish_ring = 0;
  std::uint32_t direct_wake_max = 0;

  CLI::App* app = nullptr;  // to ask which flags were given
};

// Declares every flag on `app`, with the embedded defaults shown in --help.
void add_options(CLI::App& app, Options& o);

// Applies the flags that were given to `cfg`. Returns a message for a malformed value.
std::optional<std::string> apply_flags(const Options& o, zcp::daemon::DaemonConfig& cfg);

}  // namespace diroute
