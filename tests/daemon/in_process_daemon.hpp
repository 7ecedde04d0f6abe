// The real daemon on a thread of the test process: diroute's Daemon (reactor, router workers)
// started and run on a thread of its own, on a private instance and runtime directory, with
// real Runtimes connecting to it from the test's threads. For tests that need the daemon and
// its clients in one address space (ThreadSanitizer sees both sides).
//
// After each test the fixture checks that no port faulted and every chunk went back to its
// pool once the clients left, stops the daemon with SIGTERM and checks its exit code and its
// shutdown log, and that its socket and segment are gone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <zcp/runtime.hpp>

#include "daemon/daemon.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "shm/stats.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon_test {

using namespace std::chrono_literals;

// Bounds a wait for something that must happen; reaching it is a failure, never a pass.
inline constexpr auto kDeadline = std::chrono::seconds(120);

using zcp::test::wait_until;

// The segment mapped read-only, and the router's state that tests wait for or count, read
// from the stats region as zcp-top reads it.
class DaemonView {
 public:
  explicit DaemonView(const std::string& segment_name);
  bool ok() const;

  const shm::SubscriberStats* subscriber(std::uint32_t id) const;
  const shm::PublisherStats* publisher(std::uint32_t id) const;
  const shm::RingHeader* queue_of(std::uint32_t subscriber_id) const;
  const shm::RingHeader* publish_ring_of(std::uint32_t publisher_id) const;
  // Subscribers the route table of direct publisher `id` lists now (-1: none, or no
  // consistent copy).
  int listed(std::uint32_t publisher_id) const;
  // The subscriber announced that it sleeps (its queue's waiting word).
  static bool asleep(const shm::RingHeader& queue);

  // Summed over the router workers.
  std::uint64_t faults() const;
  std::uint64_t direct_settled() const;
  // Chunks not in their pool's free list, summed over the classes.
  std::uint64_t chunks_out() const;

  // The data path's state, one line per port and worker, for a test that stopped making
  // progress: queues (head, tail, the head cell's turn, waiting), publish rings (tail,
  // routed, waiting, the router's counters) and workers (passes, parks).
  std::string describe(const std::vector<std::uint32_t>& subscribers,
                       const std::vector<std::uint32_t>& publishers) const;

 private:
  template <class Slot>
  const Slot* find(std::uint32_t id, Slot& descriptor) const;
  const shm::RingHeader* ring(std::uint64_t offset) const;

  mutable shm::Segment seg_;  // pool() is not const; nothing here writes (mapped read-only)
};

// Daemon::start and run() on one thread: the io_uring reactor belongs to the thread that made
// it. start() blocks SIGINT and SIGTERM in that thread, and its signalfd takes them: stop()
// sends SIGTERM to that thread alone (pthread_kill), as `kill` would to diroute.
class DaemonThread {
 public:
  explicit DaemonThread(daemon::DaemonConfig config);
  ~DaemonThread();
  DaemonThread(const DaemonThread&) = delete;
  DaemonThread& operator=(const DaemonThread&) = delete;

  bool failed() const noexcept;
  std::string error() const;
  // SIGTERM to the daemon's thread, then join. The daemon's exit code, or -1 if it never ran.
  int stop();

 private:
  static constexpr int kStarting = 0;
  static constexpr int kRunning = 1;
  static constexpr int kFailed = 2;
  std::thread thread_;
  std::atomic<int> state_{kStarting};
  std::string error_;
  int exit_code_ = -1;
};

class CaptureSink;  // the daemon's log lines (in_process_daemon.cpp)

class InProcessDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The daemon's defaults on this test's private instance.
  daemon::DaemonConfig config() const;
  // Starts the daemon and waits until it serves: a Runtime can connect and register.
  void start(const daemon::DaemonConfig& config);
  // A Runtime on this test's daemon (a failure is reported, and null returned).
  std::unique_ptr<Runtime> connect(const std::string& name);
  std::string segment_name() const { return private_->segment_name(); }

  // Its ZCP_RUNTIME_DIR is read by Runtime::connect for the socket path: set before any
  // thread of the test runs.
  std::unique_ptr<zcp::test::PrivateInstance> private_;
  std::string dir_;
  std::string instance_;
  std::shared_ptr<CaptureSink> log_;
  std::unique_ptr<DaemonThread> daemon_;
};

}  // namespace zcp::daemon_test
