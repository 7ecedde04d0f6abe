// The diroute that a benchmark talks to: a running one named by --instance, or a private one
// that zcp-perf starts (the diroute next to its own binary, instance "perf-<pid>", a private
// ZCP_RUNTIME_DIR from mkdtemp) and removes again at the end, on errors and on Ctrl-C: no
// process, socket or /dev/shm segment is left behind. If zcp-perf itself is SIGKILLed, the
// daemon still gets SIGTERM (PR_SET_PDEATHSIG); only the temporary directory remains then.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "system.hpp"

namespace zcp::perf {

struct DaemonOptions {
  std::string instance;  // non-empty: use this running daemon, start none
  int router_cpu = -1;   // private daemon only: pin its router worker
  std::string idle;      // private daemon only: worker idle strategy (spin|hybrid|park)
  std::string log_level = "warn";
  std::vector<std::string> extra_args;  // more diroute flags (private daemon only)
};

class DaemonSession {
 public:
  static Status<std::unique_ptr<DaemonSession>> open(const DaemonOptions& options);
  ~DaemonSession();  // stop(), ignoring its result
  DaemonSession(const DaemonSession&) = delete;
  DaemonSession& operator=(const DaemonSession&) = delete;

  const std::string& instance() const noexcept { return instance_; }
  bool is_private() const noexcept { return pid_ > 0 || !runtime_dir_.empty(); }
  // "private diroute pid 123, instance perf-122" or "instance NAME".
  std::string describe() const;
  // For a private daemon: still running? (A dead daemon makes every result meaningless.)
  bool alive();
  // Stops a private daemon (SIGTERM, then SIGKILL after 5 s), removes leftovers of its
  // instance in /dev/shm (reported: the daemon should have removed them) and the runtime
  // directory. Idempotent. Returns what went wrong, if anything.
  Status<void> stop();

 private:
  DaemonSession() = default;
  Status<void> start_private(const DaemonOptions& options);

  std::string instance_;
  std::string runtime_dir_;  // private: the mkdtemp directory
  std::string binary_;
  pid_t pid_ = -1;
  int exit_code_ = -1;  // once reaped
};

// The diroute flag spelling that this binary's --help offers for one of `candidates`, or ""
// if it offers none (flags arrive with later daemon versions).
std::string find_daemon_flag(const std::string& help, const std::vector<std::string>& candidates);

}  // namespace zcp::perf
