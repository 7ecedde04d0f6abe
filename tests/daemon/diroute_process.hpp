// The real diroute binary as a child process of a test, on a private instance and runtime
// directory, with its log captured in a file. The fixture leaves no process, socket, runtime
// directory or segment behind, whatever the test did.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/types.h>

namespace zcp::daemon::test {

class DirouteProcess {
 public:
  DirouteProcess(std::string runtime_dir, std::string instance, std::vector<std::string> args = {});
  ~DirouteProcess();  // SIGKILL + reap if still running
  DirouteProcess(const DirouteProcess&) = delete;
  DirouteProcess& operator=(const DirouteProcess&) = delete;

  // Spawns diroute; waits until it accepts connections (true) or exits (false).
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Spawns and waits for it to exit; returns its exit code (-1 on timeout).
  int run_to_exit(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }
  // Sends `sig` and waits for the exit. Returns the exit code, 128+signal, or -1 on timeout.
  int stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& socket_path() const noexcept { return socket_path_; }
  std::string segment_path() const { return "/dev/shm/zcp." + instance_ + ".seg"; }
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

// A test with a private runtime dir and instance, and a daemon started on it.
class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Starts the fixture's daemon (call once per test; extra args such as short heartbeats).
  void start_daemon(std::vector<std::string> args = {});
  std::unique_ptr<DirouteProcess> make_daemon(std::vector<std::string> args = {});

  std::string runtime_dir_;
  std::string instance_;
  std::unique_ptr<DirouteProcess> daemon_;
};

// Polls `done` every millisecond until it holds or `timeout` passes; returns the time taken.
std::optional<std::chrono::microseconds> wait_until(const std::function<bool()>& done,
                                                    std::chrono::milliseconds timeout);

}  // namespace zcp::daemon::test
