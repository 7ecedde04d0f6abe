// DaemonTest: a test with a private runtime directory and instance, and the real diroute
// binary started on it (zcp::test::DirouteProcess). Nothing outlives the test: no process,
// socket, runtime directory or segment.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/diroute_process.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon::test {

using zcp::test::DirouteProcess;
using zcp::test::time_until;
using zcp::test::wait_until;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Starts the fixture's daemon (call once per test; extra args such as short heartbeats).
  void start_daemon(std::vector<std::string> args = {});
  std::unique_ptr<DirouteProcess> make_daemon(std::vector<std::string> args = {});

  std::unique_ptr<zcp::test::PrivateInstance> private_;
  std::string runtime_dir_;
  std::string instance_;
  std::unique_ptr<DirouteProcess> daemon_;
};

}  // namespace zcp::daemon::test
