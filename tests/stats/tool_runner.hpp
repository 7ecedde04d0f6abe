// Runs a tool binary to completion with its stdout and stderr captured (files in `dir`),
// killing it if it outlives `timeout`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace zcp::stats_test {

struct ToolResult {
  int rc = -1;  // exit code, 128+signal, or -1 if it had to be killed at the timeout
  std::string out;
  std::string err;
};

ToolResult run_tool(std::vector<std::string> argv, const std::string& dir,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// True if `name` is an executable found in $PATH.
bool on_path(const std::string& name);

}  // namespace zcp::stats_test
