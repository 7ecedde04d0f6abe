// A private RouDi (iceoryx's central daemon) for one benchmark run: a config sized for the
// run, started, waited for, stopped, and whatever it leaves behind removed. iceoryx allows
// one RouDi per host (its names are fixed: /dev/shm/iceoryx_mgmt, /tmp/roudi), so a RouDi
// that is already running makes start() fail with a message, rather than being reused.
#pragma once

#include <cstdint>
#include <string>

#include <sys/types.h>

#include "system.hpp"  // tools/zcp-perf: Status, Failure

namespace zcp::peers {

using perf::Failure;
using perf::Status;

struct RoudiConfig {
  std::uint32_t chunk_payload =
      64;  // the mempool's chunk size (payload bytes; iceoryx adds its header)
  std::uint32_t chunk_count = 1024;
};

class Roudi {
 public:
  Roudi() = default;
  Roudi(const Roudi&) = delete;
  Roudi& operator=(const Roudi&) = delete;
  ~Roudi() { stop(); }

  // The binary: --roudi, else $IOX_ROUDI, else iox-roudi from the Debian package.
  void set_binary(std::string path) { binary_ = std::move(path); }
  const std::string& binary() const noexcept { return binary_; }
  void set_log_level(std::string level) { log_level_ = std::move(level); }

  Status<void> start(const RoudiConfig& c);
  // SIGTERM, wait (SIGKILL after 10 s), then remove what a dead RouDi leaves behind.
  void stop() noexcept;
  bool running() const noexcept { return pid_ > 0; }
  std::string describe() const;

 private:
  static void remove_leftovers() noexcept;

  std::string binary_ = "/usr/bin/iox-roudi";
  std::string log_level_ = "warning";
  std::string dir_;  // temporary: roudi.toml and roudi.log
  RoudiConfig config_;
  pid_t pid_ = -1;
};

}  // namespace zcp::peers
