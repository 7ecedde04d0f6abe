// The real diroute binary as a child process of a test, on a given instance and runtime
// directory (zcp::test::PrivateInstance), with its log captured in a file there. The child
// is killed and reaped by the destructor if still running, and dies with the test process
// (PR_SET_PDEATHSIG), so no daemon outlives a test.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace zcp::test {

class DirouteProcess {
 public:
  // `args`: extra diroute arguments, given on every start().
  DirouteProcess(std::string runtime_dir, std::string instance, std::vector<std::string> args = {});
  ~DirouteProcess();  // SIGKILL + reap if still running
  DirouteProcess(const DirouteProcess&) = delete;
  DirouteProcess& operator=(const DirouteProcess&) = delete;

  // Spawns diroute; waits until it logged "diroute ready" and its socket accepts a
  // connection (true), or it exited or `timeout` passed (false).
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Spawns and waits for it to exit; returns its exit code (-1 on timeout).
  int run_to_exit(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }
  // Sends `sig` and waits for the exit. Returns the exit code, 128+signal, or -1 on timeout
  // (then the process is killed with SIGKILL and reaped).
  int stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& socket_path() const noexcept { return socket_path_; }
  std::string segment_path() const { return "/dev/shm/zcp." + instance_ + ".seg"; }
  // Everything every start() of this object logged.
  std::string log() const;
  static std::string read_file(const std::string& path);
  // The "counters:" line of the shutdown log as name -> value.
  std::map<std::string, std::uint64_t> counters() const;

 private:
  bool spawn();
  int reap(std::chrono::milliseconds timeout);

  std::string runtime_dir_;
  std::string instance_;
  std::vector<std::string> args_;
  std::string socket_path_;
  std::string log_path_;
  pid_t pid_ = -1;
  static int spawned_;
};

}  // namespace zcp::test
