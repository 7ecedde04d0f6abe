// End-to-end fixture for libzcp: the real diroute binary on a private instance and runtime
// directory, real client processes forked per role, and a leak check after every test
// (each pool's free count back at its total, read from the segment mapped read-only).
//
// The test process itself never holds a Runtime (it has a thread, and children are forked
// from here); it only maps the segment to read pool statistics.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace zcp::client_test {

struct PoolStat {
  std::uint32_t chunk_size;
  std::uint32_t total;
  std::uint32_t free;
};

class DirouteProcess {
 public:
  DirouteProcess(std::string runtime_dir, std::string instance);
  ~DirouteProcess();  // SIGKILL + reap if still running
  DirouteProcess(const DirouteProcess&) = delete;
  DirouteProcess& operator=(const DirouteProcess&) = delete;

  // Spawns diroute and waits until its socket accepts connections.
  bool start(std::vector<std::string> args = {}, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends `sig` and reaps; returns the exit code, 128+signal, or -1 on timeout.
  int stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }
  std::string log() const;

 private:
  std::string runtime_dir_;
  std::string instance_;
  std::string socket_path_;
  std::string log_path_;
  pid_t pid_ = -1;
};

class PubSubTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The pools' statistics, read from the segment (empty if it cannot be mapped).
  std::vector<PoolStat> pools() const;
  // Waits until every pool's free count equals its total; false (and a failure naming the
  // pools) after `timeout`.
  bool pools_settle(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // Direct-delivery records the router workers settled, read from the stats region.
  std::uint64_t direct_settled() const;
  // Extra diroute arguments for this fixture's daemon.
  virtual std::vector<std::string> daemon_args() const { return {}; }

  std::string runtime_dir_;
  std::string instance_;
  std::unique_ptr<DirouteProcess> daemon_;
  bool skip_leak_check_ = false;  // a test that killed the daemon
};

// Path of the zcp CLI binary.
const char* zcp_cli_path();

// Polls `done` every millisecond until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

}  // namespace zcp::client_test
