#include "diroute_process.hpp"

namespace zcp::daemon::test {

void DaemonTest::SetUp() {
  // ZCP_INSTANCE stays unset: these tests name the instance on every command line, and some
  // check what diroute does without one.
  private_ = std::make_unique<zcp::test::PrivateInstance>("d", /*export_instance=*/false);
  runtime_dir_ = private_->runtime_dir();
  instance_ = private_->instance();
}

void DaemonTest::TearDown() {
  daemon_.reset();   // kills it if still running
  private_.reset();  // its segment (left by a SIGKILL) and runtime directory
}

std::unique_ptr<DirouteProcess> DaemonTest::make_daemon(std::vector<std::string> args) {
  return std::make_unique<DirouteProcess>(runtime_dir_, instance_, std::move(args));
}

void DaemonTest::start_daemon(std::vector<std::string> args) {
  daemon_ = make_daemon(std::move(args));
  ASSERT_TRUE(daemon_->start()) << "diroute did not start:\n" << daemon_->log();
}

}  // namespace zcp::daemon::test
