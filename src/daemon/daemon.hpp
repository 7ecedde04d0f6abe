// Daemon: diroute's assembly. It wires the reactor (io_uring), the Unix socket server, the
// shared-memory segment and the control plane, runs until SIGINT/SIGTERM, and shuts down
// gracefully. tools/diroute/main.cpp is only the command line around it.
//
// Start-up, in this order (each failure has its own exit code, see ExitCode):
//   1. block SIGINT/SIGTERM (only the signalfd takes them);
//   2. probe the socket: a live daemon there -> refuse; a stale file -> noted, removed later;
//   3. create the io_uring reactor (under Docker's default seccomp profile this fails, with
//      the cause and the fix in the message);
//   4. create the segment (O_EXCL; a live creator -> refuse; a dead one's leftover is removed);
//   5. remove the stale socket, listen, add the signalfd and the heartbeat timer.
// Shutdown: DaemonShutdown to every client (sent before the hang-up), stop listening (the
// socket file is unlinked), segment state ShuttingDown, wait (bounded) for the connections to
// drain, remove every registration, unlink the segment, log the counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zcp/expected.hpp>

#include "common/instance.hpp"
#include "daemon/config.hpp"
#include "daemon/control_plane.hpp"
#include "daemon/registry.hpp"
#include "reactor/reactor.hpp"
#include "reactor/uds_server.hpp"
#include "router/router.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/segment.hpp"

namespace zcp::daemon {

// diroute's exit codes (also in `diroute --help` and docs/operations.md).
enum class ExitCode : int {
  kOk = 0,                  // clean shutdown after SIGINT/SIGTERM
  kRuntimeError = 1,        // the event loop failed while running
  kUsage = 2,               // bad command line or configuration
  kAlreadyRunning = 3,      // a live diroute owns this instance (socket or segment)
  kIoUringUnavailable = 4,  // io_uring blocked (seccomp, sysctl) or the kernel lacks features
  kSetupFailed = 5,         // a start-up resource failed (runtime dir, socket, shm, eventfd)
};

// Who may reach the daemon: the [access] section of the config; the control plane enforces
// the allowlists when a client registers.
struct AccessConfig {
  // Group given to the socket and the segment (empty: the daemon's own group). gid is
  // resolved from the name when the config is read.
  std::string group;
  std::uint32_t gid = 0;
  std::uint32_t mode = 0660;            // permission bits of the socket and the segment
  std::vector<ServiceAllowlist> allow;  // per-service allowlists (daemon/access.hpp), enforced
};

struct DaemonConfig {
  InstancePaths paths;
  RegistryConfig registry;
  ControlPlaneConfig control;
  std::uint32_t heartbeat_slots = shm::kDefaultHeartbeatSlots;
  std::uint64_t queue_arena_bytes = kDefaultQueueArenaBytes;
  shm::ChunkPoolConfig pools = shm::ChunkPoolConfig::defaults();
  // Router workers: one per entry of router_cpus (a CPU number, or -1 for unpinned); when
  // empty, registry.workers unpinned workers.
  std::vector<int> router_cpus;
  router::IdleStrategy idle = router::IdleStrategy::kHybrid;
  std::chrono::microseconds spin{50};
  std::chrono::microseconds spin_yield{0};  // hybrid: sched_yield() this often while spinning
  // How long the shutdown waits for clients to take their goodbye. Too low: slow clients
  // miss the notice and only see the hang-up; too high: a wedged client delays the exit.
  std::chrono::milliseconds shutdown_drain = std::chrono::milliseconds(2000);
  // CPU placement and real-time scheduling. The reactor is the thread that calls run().
  int reactor_cpu = -1;      // pin the reactor to this CPU; -1: not pinned
  int reactor_priority = 0;  // SCHED_FIFO priority (1..99) of the reactor; 0: SCHED_OTHER
  std::chrono::microseconds reactor_busy_poll = kDefaultReactorBusyPoll;  // polls before sleeping
  int worker_priority = 0;  // SCHED_FIFO priority of every router worker; 0: SCHED_OTHER
  // Memory: MAP_POPULATE the segment (no page faults later) and mlock it (a refusal is
  // logged, not fatal).
  bool prefault = false;
  bool mlock = false;
  std::string log_level = "info";  // applied by main(); kept so the effective config is whole
  AccessConfig access;
};

// The segment a daemon with `config` creates: pools, arena, heartbeat slots, and the stats
// tables sized by the limits. `diroute --check-config` plans the same one for its estimate.
shm::SegmentConfig segment_config(const DaemonConfig& config);

struct StartError {
  ExitCode code = ExitCode::kSetupFailed;
  std::string message;
};

class Daemon final : public reactor::ConnectionHandler, public ControlPlaneHost {
 public:
  static Expected<std::unique_ptr<Daemon>, StartError> start(const DaemonConfig& config);
  ~Daemon() override;
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Serves until SIGINT/SIGTERM, then shuts down. Returns the process exit code.
  ExitCode run();

  // Publishes the effective configuration (TOML text) in the stats region, where `zcp info`
  // reads it. Call before run(); the daemon itself has no TOML writer (src/config has).
  void set_config_text(std::string_view toml) noexcept;

  // reactor::ConnectionHandler
  void on_open(reactor::ConnId id, const reactor::PeerCred& peer) override;
  void on_datagram(reactor::ConnId id, std::span<const std::byte> bytes,
                   std::size_t true_len) override;
  void on_close(reactor::ConnId id, reactor::CloseReason reason, int err) override;

  // ControlPlaneHost
  sys::Expected<reactor::WatchId> watch_process(pid_t pid, const ProcessHandle& handle) override;
  void cancel_watch(reactor::WatchId id) override;
  void close_connection(reactor::ConnId id, reactor::CloseMode mode) override;
  void send_reply(reactor::ConnId id, const Reply& reply) override;

 private:
  explicit Daemon(const DaemonConfig& config);
  // The steps of start() after the reactor exists, in order.
  Expected<void, StartError> create_segment();          // the segment and the queue arena
  Expected<void, StartError> start_router();            // the workers, their priorities and CPUs
  void create_control_plane();                          // the registry and the ControlPlane
  Expected<void, StartError> serve(bool stale_socket);  // the socket, signals, heartbeat tick
  void shutdown();
  void log_settings();

  DaemonConfig config_;
  // Destroyed in reverse order: the reactor first (no callback runs after that), the
  // segment last (the registry's rings live in it).
  shm::Segment segment_;
  std::unique_ptr<shm::QueueAllocator> queues_;
  std::unique_ptr<router::Router> router_;  // after the registry in destruction: it owns the ledger
  reactor::Waker router_notify_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ControlPlane> control_;
  std::unique_ptr<reactor::Reactor> reactor_;
  reactor::UdsServer* server_ = nullptr;
  int signal_ = 0;
  std::uint64_t fd_limit_ = 0;  // RLIMIT_NOFILE after raising it
};

// "SIGTERM", "SIGINT", or the number.
std::string signal_name(int signo);

}  // namespace zcp::daemon
