#include "daemon_fixture.hpp"

#include <string>

#include <signal.h>

#include "shm/segment.hpp"

namespace zcp::client_test {

void PubSubTest::SetUp() {
  private_ = std::make_unique<zcp::test::PrivateInstance>("c");
  runtime_dir_ = private_->runtime_dir();
  instance_ = private_->instance();
  daemon_ = std::make_unique<DirouteProcess>(runtime_dir_, instance_, daemon_args());
  ASSERT_TRUE(daemon_->start()) << "diroute did not start:\n" << daemon_->log();
}

void PubSubTest::TearDown() {
  if (daemon_ && daemon_->running() && !skip_leak_check_) {
    EXPECT_TRUE(pools_settle()) << "chunks leaked; daemon log:\n" << daemon_->log();
    EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->log();
  }
  daemon_.reset();
  private_.reset();  // the segment after a SIGKILL, if any, and the runtime directory
}

std::vector<PoolStat> PubSubTest::pools() const {
  std::vector<PoolStat> out;
  auto seg = shm::Segment::open("/zcp." + instance_ + ".seg", /*writable=*/false);
  if (!seg) return out;
  for (std::size_t c = 0; c < seg->pool().class_count(); ++c) {
    auto s = seg->pool().stats(c);
    out.push_back({s.chunk_size, s.total, s.free});
  }
  return out;
}

std::uint64_t PubSubTest::direct_settled() const {
  auto seg = shm::Segment::open("/zcp." + instance_ + ".seg", /*writable=*/false);
  if (!seg || !seg->stats().valid()) return 0;
  std::uint64_t n = 0;
  for (std::uint32_t i = 0; i < seg->stats().header().worker_slots; ++i) {
    if (const shm::WorkerStatsSlot* w = seg->stats().worker(i))
      n += shm::read_counter(w->direct_settled);
  }
  return n;
}

bool PubSubTest::pools_settle(std::chrono::milliseconds timeout) const {
  std::vector<PoolStat> last;
  bool ok = wait_until(
      [&] {
        last = pools();
        if (last.empty()) return false;
        for (const PoolStat& p : last) {
          if (p.free != p.total) return false;
        }
        return true;
      },
      timeout);
  if (!ok) {
    std::string msg;
    for (const PoolStat& p : last) {
      msg += " [" + std::to_string(p.chunk_size) + " B: free " + std::to_string(p.free) + " of " +
             std::to_string(p.total) + "]";
    }
    ADD_FAILURE() << "pools did not settle within " << timeout.count() << " ms:" << msg;
  }
  return ok;
}

const char* zcp_cli_path() {
  return ZCP_CLI_PATH;
}

}  // namespace zcp::client_test
