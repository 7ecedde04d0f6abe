// Internal to zcp_config: the cross-setting checks with the keys they involve, so the parser
// can point at the line of the key in the file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "daemon/daemon.hpp"

namespace zcp::config {

struct Problem {
  std::vector<std::string>
      keys;             // dotted keys ("heartbeat.timeout_ms"), the most likely culprit first
  std::string message;  // names the keys and the values
};

std::optional<Problem> find_problem(const daemon::DaemonConfig& cfg);

// Edit distance (optimal string alignment: a transposition counts 1), for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace zcp::config
