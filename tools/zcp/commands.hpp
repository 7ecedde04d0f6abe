// The zcp subcommands, one function each. main.cpp parses the command line into these
// argument structs; pubsub.cpp holds pub and echo (through libzcp and the daemon), inspect.cpp
// holds ls, info and metrics (read from the stats region, without talking to the daemon).
#pragma once

#include <cstdint>
#include <string>

namespace zcp::cli {

// "zcp: <what>" on stderr; returns 1.
int fail(const std::string& what);
void install_signals();
bool stop_requested() noexcept;

struct PubArgs {
  std::string topic;
  std::string instance;
  std::uint32_t max_payload = 8192;
  std::uint32_t wait_subscribers = 0;
  std::uint32_t history = 0;
  double timeout_s = 10;
};
int run_pub(const PubArgs& a);

struct EchoArgs {
  std::string topic;
  std::string instance;
  std::uint64_t count = 0;  // 0: until interrupted
  std::string policy = "drop_oldest";
  std::uint32_t queue_capacity = 0;
  std::uint32_t history = 0;
  std::string format = "text";  // text | hex | json
};
int run_echo(const EchoArgs& a);

struct InspectArgs {
  std::string instance;
  int interval_ms = 500;  // ls: between its two snapshots (0: one snapshot, no rates)
  bool json = false;      // ls, info: the JSON object of `zcp-top --once --json` instead
};
int run_ls(const InspectArgs& a);
int run_info(const InspectArgs& a);
int run_metrics(const InspectArgs& a);

}  // namespace zcp::cli
