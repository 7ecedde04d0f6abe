// End-to-end fixture for libzcp: the real diroute binary on a private instance and runtime
// directory, real client processes forked per role, and a leak check after every test
// (each pool's free count back at its total, read from the segment mapped read-only).
//
// The test process itself never holds a Runtime (it has a thread, and children are forked
// from here); it only maps the segment to read pool statistics.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/types.h>

#include "support/diroute_process.hpp"
#include "support/test_support.hpp"

namespace zcp::client_test {

using zcp::test::DirouteProcess;
using zcp::test::wait_until;

struct PoolStat {
  std::uint32_t chunk_size;
  std::uint32_t total;
  std::uint32_t free;
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

  // Children inherit its ZCP_RUNTIME_DIR and ZCP_INSTANCE: Runtime::connect() with no
  // instance finds this daemon.
  std::unique_ptr<zcp::test::PrivateInstance> private_;
  std::string runtime_dir_;
  std::string instance_;
  std::unique_ptr<DirouteProcess> daemon_;
  bool skip_leak_check_ = false;  // a test that killed the daemon
};

// Path of the zcp CLI binary.
const char* zcp_cli_path();

}  // namespace zcp::client_test
