// Router: the set of workers, the daemon-private chunk ledger they share, and the reactor's
// interface to them. The reactor creates ports (make_*_port), hands them to the workers
// (add_*), and retires them (remove_*): a removed port may be freed and its chunks reclaimed
// once settled(seq) says every worker applied the removal. docs/router.md draws it.
//
// All methods run on the reactor thread, except what the workers do on their own threads.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <zcp/expected.hpp>

#include "common/sys.hpp"
#include "router/chunk_ledger.hpp"
#include "router/endpoint_state.hpp"
#include "router/worker.hpp"
#include "shm/queue_allocator.hpp"

namespace zcp::router {

struct PublisherSpec {
  std::uint32_t id;
  std::uint32_t topic;
  std::uint32_t worker;
  std::uint16_t pool_class;
  std::uint32_t max_loans;
  std::uint32_t publish_capacity;
  std::uint32_t history_depth;
};

struct SubscriberSpec {
  std::uint32_t id;
  std::uint32_t topic;
  std::uint32_t home_worker;
  QueuePolicy policy;
  std::uint32_t queue_capacity;
  std::uint32_t max_held;
  std::uint32_t history_request;
  int eventfd;  // stays owned by the caller
};

// Allocates the port's rings from the arena and builds the port. On failure nothing stays
// allocated. The error names what ran out.
// `base`/`size`: the segment as mapped in the daemon.
Expected<std::unique_ptr<PublisherState>, std::string> make_publisher_port(
    std::byte* base, std::uint64_t size, shm::QueueAllocator& alloc, ChunkLedger& ledger,
    const PublisherSpec& spec);
Expected<std::unique_ptr<SubscriberState>, std::string> make_subscriber_port(
    std::byte* base, std::uint64_t size, shm::QueueAllocator& alloc, ChunkLedger& ledger,
    const SubscriberSpec& spec);
// Returns a retired port's chunks to the pool and its rings to the arena. Only after the
// removal settled.
std::uint32_t free_publisher_port(shm::QueueAllocator& alloc, ChunkLedger& ledger,
                                  PublisherState& p);
std::uint32_t free_subscriber_port(shm::QueueAllocator& alloc, ChunkLedger& ledger,
                                   SubscriberState& s);

class Router {
 public:
  // One worker per element of `workers` (ids are assigned 0..n-1). `notify` is the eventfd
  // the workers write after acknowledging a command or faulting a port (the reactor's).
  static Expected<std::unique_ptr<Router>, std::string> create(shm::ChunkPool pool,
                                                               std::vector<WorkerOptions> workers,
                                                               int notify);
  ~Router();

  Expected<void, std::string> start();  // starts and pins the worker threads
  void stop();

  std::size_t worker_count() const noexcept { return workers_.size(); }
  Worker& worker(std::size_t i) noexcept { return *workers_[i]; }
  int doorbell(std::size_t i) const noexcept { return doorbells_[i].get(); }
  ChunkLedger& ledger() noexcept { return *ledger_; }

  // Each returns the command's sequence number. Commands go to every worker (a worker
  // ignores a publisher that is not its own), so a removal has settled once every worker
  // acknowledged its sequence number.
  std::uint64_t add_publisher(PublisherState* p);
  std::uint64_t remove_publisher(PublisherState* p);
  std::uint64_t add_subscriber(SubscriberState* s);
  std::uint64_t remove_subscriber(SubscriberState* s);
  bool settled(std::uint64_t seq) const noexcept;
  // The highest sequence number every worker has applied: all removals up to it settled.
  std::uint64_t safe_seq() const noexcept;
  // Resubmits commands that found a worker's command ring full. Call on every reactor turn.
  void flush();

 private:
  Router() = default;
  std::uint64_t broadcast(Command c);

  std::unique_ptr<ChunkLedger> ledger_;
  std::vector<sys::UniqueFd> doorbells_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::deque<Command>> backlog_;  // per worker: commands not yet submitted
  std::uint64_t next_seq_ = 1;
};

}  // namespace zcp::router
