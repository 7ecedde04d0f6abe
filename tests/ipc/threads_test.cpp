// zcp::ipc under threads, in one process, against the real router hosted by libzcp's
// MiniDaemon (tests/client/mini_daemon.*): initialize_runtime() raced from several threads,
// and a broadcaster thread, a subscriber thread and a monitoring thread reading both
// endpoints' statistics while they run. Label "concurrency": the TSan build runs it.
#include <atomic>
#include <barrier>
#include <filesystem>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <stdlib.h>

#include <zcp/ipc/broadcast_hub.hpp>

#include "client/mini_daemon.hpp"
#include "client/runtime_impl.hpp"
#include "ipc_test_util.hpp"
#include "support/test_support.hpp"

namespace zcp::ipc::test {
namespace {

using namespace std::chrono_literals;

class IpcThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/zcp-ipct-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::setenv("ZCP_RUNTIME_DIR", dir_.c_str(), 1);
    ::setenv("ZCP_INSTANCE", zcp::test::unique_instance("ipct").c_str(), 1);
    // An 8 KiB class for the blocks: 128 chunks, more than the tests' queues and loans hold.
    shm::ChunkPoolConfig pools{{{64, 64}, {8192, 128}}};
    daemon_ = std::make_unique<zcp::client_test::MiniDaemon>(dir_, ::getenv("ZCP_INSTANCE"), pools);
    ASSERT_TRUE(daemon_->ok()) << daemon_->problem();
  }
  // After initialize_runtime(): the router must work through the runtime's mapping of the
  // segment, or TSan cannot see the synchronisation (MiniDaemon::set_data_mapping).
  void share_mapping() {
    auto rt = DataBroadcaster::runtime();
    ASSERT_NE(rt, nullptr);
    daemon_->set_data_mapping(rt->impl().session()->segment.base());
  }
  void TearDown() override {
    if (daemon_ && daemon_->ok()) {
      std::string leaks;
      for (int i = 0; i < 500; ++i) {
        leaks = daemon_->pool_leaks();
        if (leaks.empty()) break;
        std::this_thread::sleep_for(2ms);
      }
      EXPECT_EQ(leaks, "") << "chunks leaked";
      daemon_->stop_router();  // it works through the runtime's mapping: stop it first
    }
    DataBroadcaster::shutdown_runtime();  // every endpoint is gone: the runtime goes too
    daemon_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_;
  std::unique_ptr<zcp::client_test::MiniDaemon> daemon_;
};

TEST_F(IpcThreadsTest, InitializeRuntimeRacedFromFourThreadsMakesOneRuntime) {
  constexpr int kThreads = 4;
  std::barrier start(kThreads);
  std::atomic<int> ok{0};
  std::vector<zcp::Runtime*> seen(kThreads, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      if (DataBroadcaster::initialize_runtime("racer")) ok.fetch_add(1);
      if (DataBroadcaster::initialize_runtime("racer")) ok.fetch_add(1);  // and twice
      seen[static_cast<std::size_t>(i)] = DataBroadcaster::runtime().get();
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), 2 * kThreads);
  for (auto* rt : seen)
    EXPECT_EQ(rt, seen[0]);
  ASSERT_NE(seen[0], nullptr);
  EXPECT_EQ(seen[0]->name(), "racer");
}

TEST_F(IpcThreadsTest, BroadcasterSubscriberAndMonitorThreads) {
  constexpr std::uint64_t kN = 5000;
  ASSERT_TRUE(DataBroadcaster::initialize_runtime("threads"));
  share_mapping();
  BroadcastConfig cfg = lossless(32);
  auto in = DataSubscriber::create(cfg, "threads");
  ASSERT_TRUE(in) << in.error().message;
  auto out = DataBroadcaster::create(cfg, "threads");
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_TRUE(wait_subscribers(*out, 1));

  std::atomic<bool> done{false};
  std::thread monitor([&] {  // reads both endpoints' statistics while they run
    std::uint64_t last_sent = 0, last_received = 0;
    while (!done.load(std::memory_order_acquire)) {
      const BroadcastStats b = out->get_stats();
      const ReceiveStats r = in->get_receive_stats();
      EXPECT_GE(b.blocks_sent, last_sent);
      EXPECT_GE(r.blocks_received, last_received);
      last_sent = b.blocks_sent;
      last_received = r.blocks_received;
      std::this_thread::yield();
    }
  });
  std::thread consumer([&] {
    std::uint64_t next = 1;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (next <= kN && std::chrono::steady_clock::now() < deadline) {
      while (auto b = in->receive_block()) {
        ASSERT_EQ((*b)->sequence_number, next);
        ASSERT_TRUE(tick_ok(*reinterpret_cast<const MarketTick*>((*b)->data), next));
        ++next;
      }
      in->wait(50ms);
    }
    EXPECT_EQ(next, kN + 1);
  });
  for (std::uint64_t id = 1; id <= kN; ++id) {
    if (id % 2) {
      MarketTick t = make_tick(id);
      ASSERT_TRUE(out->broadcast(reinterpret_cast<const std::uint8_t*>(&t), sizeof(t), 1,
                                 MarketDataType::Tick))
          << out->last_error().message;
    } else {  // zero copy
      auto loan = out->loan_block();
      ASSERT_TRUE(loan) << loan.error().message;
      *reinterpret_cast<MarketTick*>((*loan)->data) = make_tick(id);
      ASSERT_TRUE(loan->set_payload(sizeof(MarketTick), 1, MarketDataType::Tick));
      ASSERT_TRUE(out->publish_block(std::move(*loan)));
    }
  }
  consumer.join();
  done.store(true, std::memory_order_release);
  monitor.join();
  EXPECT_EQ(out->get_stats().blocks_sent, kN);
  EXPECT_EQ(in->get_receive_stats().blocks_received, kN);
  EXPECT_EQ(in->get_receive_stats().sequence_gaps, 0U);
}

}  // namespace
}  // namespace zcp::ipc::test
