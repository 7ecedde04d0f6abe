// MiniDaemon: a test double of diroute for libzcp, inside the test process. It speaks the
// real control protocol on the real socket path (so Runtime::connect finds it), creates a
// real segment, and hosts the real router (src/router) with its worker threads. What it
// leaves out: io_uring, heartbeat timeouts, pidfds, limits, config — diroute's business.
//
// It lets the client library's data path run end to end in one process, under TSan, and
// with the router's own counters at hand. Maintains RingHeader::peers of every publish ring
// (subscribers on the topic), which is what libzcp's has_subscribers() reads.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "router/router.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"

namespace zcp::client_test {

class MiniDaemon {
 public:
  MiniDaemon(std::string runtime_dir, std::string instance,
             shm::ChunkPoolConfig pools = shm::ChunkPoolConfig::defaults(),
             router::WorkerOptions worker = {});
  ~MiniDaemon();
  MiniDaemon(const MiniDaemon&) = delete;
  MiniDaemon& operator=(const MiniDaemon&) = delete;

  bool ok() const noexcept { return ok_; }
  const std::string& problem() const noexcept { return problem_; }
  // Every pool class back at its total; else a text naming the classes that are not.
  std::string pool_leaks();
  // Closes every client connection, as a daemon that died would.
  void drop_clients();
  // The router works through this mapping of the segment instead of the daemon's own. A
  // test that maps the segment again in the same process (its Runtime does) passes that
  // mapping here, before creating any port: then publisher, router and subscriber touch the
  // same addresses, and ThreadSanitizer sees their synchronisation (across two mappings
  // of one object it cannot, and reports false races).
  void set_data_mapping(std::byte* base) { data_base_.store(base); }
  // Stops the router's workers (before that mapping goes away). Ports removed afterwards
  // are freed at once: no worker is left to acknowledge.
  void stop_router();
  // The queue of the live subscriber `id`, or nullptr: its waiting word says whether the
  // subscriber announced that it sleeps. Any thread; valid while the subscriber lives.
  const shm::RingHeader* subscriber_queue(std::uint32_t id) const;

 private:
  struct Conn;
  void serve();
  void on_request(Conn& c, std::vector<std::uint8_t>& bytes, std::size_t len);
  void send(Conn& c, const std::vector<std::uint8_t>& frame, std::vector<int> fds = {});
  void close_conn(Conn& c);
  bool ensure_router();
  void update_peers(std::uint32_t topic);
  // Until every worker applied command `seq`, or the router is being stopped.
  void wait_settled(std::uint64_t seq);
  void remove_publisher(std::uint32_t id);
  void remove_subscriber(std::uint32_t id);

  struct Sub {
    std::unique_ptr<router::SubscriberState> port;
    int eventfd = -1;
  };

  bool ok_ = false;
  std::string problem_;
  std::string socket_path_;
  shm::Segment seg_;
  shm::QueueAllocator alloc_;
  int notify_ = -1;
  int listen_ = -1;
  int wake_ = -1;
  std::unique_ptr<router::Router> router_;
  std::thread thread_;
  std::atomic<bool> drop_{false};
  std::atomic<std::byte*> data_base_{nullptr};
  std::atomic<bool> router_stopped_{false};
  std::atomic<bool> router_stop_done_{false};
  std::atomic<bool> quit_{false};
  router::WorkerOptions worker_;

  // Server thread only.
  std::vector<std::unique_ptr<Conn>> conns_;
  std::map<std::string, std::uint32_t> topics_;
  std::map<std::uint32_t, std::unique_ptr<router::PublisherState>> pubs_;
  std::map<std::uint32_t, Sub> subs_;
  std::uint32_t next_id_ = 1;

  // Written by the server thread, read by subscriber_queue() on any thread.
  mutable std::mutex queues_mu_;
  std::map<std::uint32_t, const shm::RingHeader*> queues_;
};

}  // namespace zcp::client_test
