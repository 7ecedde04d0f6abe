// zcp-top's live screen (ncurses): refreshes a snapshot every `interval`, computes rates from
// the previous one, and draws a summary, a tab bar and one panel at a time.
#pragma once

#include <chrono>
#include <string>

namespace zcp::top {

struct TuiOptions {
  std::string instance;  // resolved name, for the title and for reopening
  std::chrono::milliseconds interval{500};
};

// Runs until `q` (0) or until the terminal cannot be set up (1, message on stderr).
int run_tui(const TuiOptions& options);

}  // namespace zcp::top
