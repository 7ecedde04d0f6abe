#include "daemon/daemon.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/eventfd.hpp"
#include "protocol/encode.hpp"
#include "reactor/unix_socket.hpp"

namespace zcp::daemon {
namespace {

std::string mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string kib(std::uint64_t bytes) {
  return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
}

Unexpected<StartError> start_error(ExitCode code, std::string message) {
  return Unexpected(StartError{code, std::move(message)});
}

// The pid that called listen() on the socket at `path`, as the kernel recorded it
// (SO_PEERCRED on our end of a connection), or 0 if that cannot be learned.
pid_t listener_pid(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return 0;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  sys::Result r = sys::call(::socket, AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (!r.ok()) return 0;
  sys::UniqueFd fd(static_cast<int>(r.value));
  r = sys::call(::connect, fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                socklen_t{sizeof(addr)});
  if (!r.ok()) return 0;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (!sys::call(::getsockopt, fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len).ok()) return 0;
  return cred.pid;
}

// How long a socket whose listener is dead may still accept connections. A killed daemon's
// io_uring keeps its listening socket (armed multishot accept) until the kernel has torn
// the ring down, which happens asynchronously after the exit. Too low: a restart right
// after a crash is refused as "already running"; too high: only delays that refusal when
// the dead pid was reused by an unrelated process that holds the socket (never expected).
constexpr auto kDeadListenerGrace = std::chrono::milliseconds(2000);

// probe_socket, except that a socket whose listener has died is waited on (up to the grace
// period) until it goes stale. `owner` receives the live listener's pid, if known.
sys::Expected<reactor::SocketState> probe_instance_socket(const std::string& path, pid_t& owner) {
  auto state = reactor::probe_socket(path);
  const auto deadline = std::chrono::steady_clock::now() + kDeadListenerGrace;
  while (state && *state == reactor::SocketState::kLive) {
    owner = listener_pid(path);
    if (owner <= 0 || shm::process_alive(owner, 0) || std::chrono::steady_clock::now() > deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    state = reactor::probe_socket(path);
  }
  return state;
}

// Every subscriber costs the daemon an eventfd, every registered process a pidfd and every
// connection a socket: raise the soft descriptor limit to the hard one, as daemons do.
// Returns the limit in force.
std::uint64_t raise_fd_limit() {
  rlimit rl{};
  if (!sys::call(::getrlimit, RLIMIT_NOFILE, &rl).ok()) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised{rl.rlim_max, rl.rlim_max};
    if (sys::call(::setrlimit, RLIMIT_NOFILE, &raised).ok()) rl = raised;
  }
  return static_cast<std::uint64_t>(rl.rlim_cur);
}

// ---- CPU placement and real-time scheduling (DaemonConfig::reactor_*, worker_priority) ----

// Puts the calling thread under SCHED_FIFO at `priority`, or back under SCHED_OTHER for 0.
// Threads created afterwards inherit it (glibc's default PTHREAD_INHERIT_SCHED), which is how
// the router workers get theirs. The message names what grants the permission.
std::optional<std::string> set_thread_priority(int priority, const char* who) {
  sched_param param{};
  param.sched_priority = priority;
  int rc =
      ::pthread_setschedparam(::pthread_self(), priority > 0 ? SCHED_FIFO : SCHED_OTHER, &param);
  if (rc == 0 || priority == 0) return std::nullopt;
  std::string why = std::strerror(rc);
  if (rc == EPERM) {
    rlimit rl{};
    std::string limit = sys::call(::getrlimit, RLIMIT_RTPRIO, &rl).ok()
                            ? std::to_string(rl.rlim_cur == RLIM_INFINITY ? 99 : rl.rlim_cur)
                            : "unknown";
    why += " (needs CAP_SYS_NICE, or RLIMIT_RTPRIO >= " + std::to_string(priority) +
           "; RLIMIT_RTPRIO is " + limit +
           ": set LimitRTPRIO= in the systemd unit, or "
           "'ulimit -r'; under a cgroup v1 cpu controller also cpu.rt_runtime_us)";
  }
  return std::string(who) + ": SCHED_FIFO priority " + std::to_string(priority) +
         " refused: " + why;
}

// Pins the calling thread to `cpu`; the CPU must be in the process's allowed set.
std::optional<std::string> pin_thread(int cpu, const char* who) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || cpu < 0 || cpu >= CPU_SETSIZE ||
      !CPU_ISSET(cpu, &allowed)) {
    return std::string(who) + ": CPU " + std::to_string(cpu) +
           " does not exist or is not allowed for this process (see `nproc`, taskset)";
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
  if (rc != 0)
    return std::string(who) + ": pinning to CPU " + std::to_string(cpu) +
           " failed: " + std::strerror(rc);
  return std::nullopt;
}

// Gives the socket file the configured mode and group (the segment gets them at creation).
std::optional<std::string> apply_socket_access(const std::string& path, const AccessConfig& a) {
  if (auto r = sys::call(::chmod, path.c_str(), static_cast<mode_t>(a.mode)); !r.ok()) {
    return fmt::format("chmod {:o} {}: {}", a.mode, path, std::strerror(r.err));
  }
  if (!a.group.empty()) {
    if (auto r =
            sys::call(::chown, path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(a.gid));
        !r.ok()) {
      return "chown :" + a.group + " " + path + ": " + std::strerror(r.err) +
             " (the daemon must be a member of the group, or have CAP_CHOWN)";
    }
  }
  return std::nullopt;
}

}  // namespace

std::string signal_name(int signo) {
  switch (signo) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "signal " + std::to_string(signo);
  }
}

shm::SegmentConfig segment_config(const DaemonConfig& config) {
  shm::SegmentConfig seg_cfg;
  seg_cfg.heartbeat_slots = config.heartbeat_slots;
  seg_cfg.queue_arena_bytes = config.queue_arena_bytes;
  seg_cfg.pools = config.pools;
  // The stats region: one slot per allowed topic, publisher and subscriber (the limits are
  // enforced by slot), one per router worker, one per heartbeat slot for processes.
  const std::size_t worker_count = config.router_cpus.empty()
                                       ? std::max<std::uint32_t>(config.registry.workers, 1)
                                       : config.router_cpus.size();
  seg_cfg.stats.process_slots = 0;  // one per heartbeat slot
  seg_cfg.stats.topic_slots = std::max<std::uint32_t>(config.registry.limits.max_topics, 1);
  seg_cfg.stats.publisher_slots = std::max<std::uint32_t>(config.registry.limits.max_publishers, 1);
  seg_cfg.stats.subscriber_slots =
      std::max<std::uint32_t>(config.registry.limits.max_subscribers, 1);
  seg_cfg.stats.worker_slots =
      static_cast<std::uint32_t>(std::clamp<std::size_t>(worker_count, 1, router::kMaxWorkers));
  seg_cfg.daemon_version = config.control.daemon_version;
  seg_cfg.prefault = config.prefault;
  seg_cfg.lock = config.mlock;
  seg_cfg.mode = static_cast<mode_t>(config.access.mode);
  return seg_cfg;
}

Daemon::Daemon(const DaemonConfig& config) : config_(config) {}

void Daemon::set_config_text(std::string_view toml) noexcept {
  shm::StatsRegion stats = segment_.stats();  // a view: the copy writes the same region
  if (stats.valid()) stats.set_config_text(toml);
}

Daemon::~Daemon() {
  // The router's threads stop first: they touch the registry's ports. Then the reactor: it
  // cancels every watch and connection and runs no callback, so nothing reaches the control
  // plane while the members below are destroyed.
  if (router_) router_->stop();
  reactor_.reset();
}

Expected<std::unique_ptr<Daemon>, StartError> Daemon::start(const DaemonConfig& config) {
  const std::string& socket_path = config.paths.socket_path;
  const std::string instance = config.paths.instance;

  // 1. Only the signalfd may take SIGINT/SIGTERM, in this thread and any thread made later.
  if (auto b = reactor::block_signals({SIGINT, SIGTERM}); !b) {
    return start_error(ExitCode::kSetupFailed, "blocking SIGINT/SIGTERM: " + b.error().message());
  }

  // 2. Is the instance taken?
  pid_t owner = 0;
  auto state = probe_instance_socket(socket_path, owner);
  if (!state) {
    return start_error(ExitCode::kSetupFailed,
                       "checking " + socket_path + ": " + state.error().message());
  }
  if (*state == reactor::SocketState::kLive) {
    return start_error(ExitCode::kAlreadyRunning,
                       "another diroute is already serving instance '" + instance +
                           "' (its socket " + socket_path + " accepts connections" +
                           (owner > 0 ? ", listener pid " + std::to_string(owner) : std::string()) +
                           "); stop it first, or pick another --instance");
  }

  std::unique_ptr<Daemon> d(new Daemon(config));
  d->fd_limit_ = raise_fd_limit();

  // 3. The event loop (io_uring). Reactor::create's message names the cause and the fix.
  reactor::ReactorOptions ropt;
  ropt.busy_poll = config.reactor_busy_poll;
  auto reactor = reactor::Reactor::create(ropt);
  if (!reactor) {
    int err = reactor.error().err;
    bool unavailable = err == EPERM || err == ENOSYS || err == EOPNOTSUPP || err == EACCES;
    return start_error(unavailable ? ExitCode::kIoUringUnavailable : ExitCode::kSetupFailed,
                       reactor.error().message());
  }
  d->reactor_ = std::move(*reactor);

  // 4. The segment, 5. the router workers, 6. the registry and control plane, 7. the socket,
  //    the signals and the heartbeat tick.
  if (auto r = d->create_segment(); !r) return Unexpected(r.error());
  if (auto r = d->start_router(); !r) return Unexpected(r.error());
  d->create_control_plane();
  if (auto r = d->serve(*state == reactor::SocketState::kStale); !r) return Unexpected(r.error());
  d->log_settings();
  return d;
}

Expected<void, StartError> Daemon::create_segment() {
  // O_EXCL creation is the real lock on the instance: of two daemons starting at once, the
  // second finds the first's live segment here.
  const DaemonConfig& config = config_;
  const std::string seg_name = config.paths.shm_name("seg");
  const bool leftover = ::access(("/dev/shm" + seg_name).c_str(), F_OK) == 0;
  auto segment = shm::Segment::create(seg_name, config.paths.instance, segment_config(config));
  if (!segment) {
    return start_error(segment.error().code == shm::SegmentErrc::kLiveOwner
                           ? ExitCode::kAlreadyRunning
                           : ExitCode::kSetupFailed,
                       segment.error().message);
  }
  segment_ = std::move(*segment);
  if (leftover) spdlog::info("removed the stale segment {} left by a dead diroute", seg_name);
  if (!segment_.lock_problem().empty()) spdlog::warn("{}", segment_.lock_problem());
  if (!config.access.group.empty()) {
    if (auto r = sys::call(::fchown, segment_.fd(), static_cast<uid_t>(-1),
                           static_cast<gid_t>(config.access.gid));
        !r.ok()) {
      return start_error(ExitCode::kSetupFailed,
                         "chown :" + config.access.group + " segment " + seg_name + ": " +
                             std::strerror(r.err) +
                             " (the daemon must be a member of the group, or have CAP_CHOWN)");
    }
  }
  auto arena = segment_.region(shm::RegionKind::kQueueArena);
  if (!arena) {
    return start_error(ExitCode::kSetupFailed, "segment " + seg_name + " has no queue arena");
  }
  queues_ = std::make_unique<shm::QueueAllocator>(arena->offset, arena->size);
  return {};
}

Expected<void, StartError> Daemon::start_router() {
  const DaemonConfig& config = config_;
  // The workers write this wakeup after acknowledging commands or faulting a port, and the
  // reactor thread then settles retirements and disconnects faulty clients.
  auto notify = reactor_->add_wakeup([this](std::uint64_t) {
    if (control_) control_->router_notified();
  });
  if (!notify)
    return start_error(ExitCode::kSetupFailed, "router wakeup: " + notify.error().message());
  router_notify_ = notify->waker;
  std::vector<router::WorkerOptions> workers;
  std::vector<int> cpus = config.router_cpus;
  if (cpus.empty()) cpus.assign(std::max<std::uint32_t>(config.registry.workers, 1), -1);
  for (int cpu : cpus) {
    router::WorkerOptions w;
    w.stats =
        segment_.stats().worker(static_cast<std::uint32_t>(workers.size()));  // null past the table
    w.cpu = cpu;
    w.idle = config.idle;
    w.spin = config.spin;
    w.spin_yield = config.spin_yield;
    workers.push_back(w);
  }
  auto router = router::Router::create(segment_.pool(), workers, router_notify_.fd());
  if (!router) return start_error(ExitCode::kUsage, router.error());
  router_ = std::move(*router);
  // The workers inherit the scheduling policy of the thread that starts them: set theirs
  // here, start them, then give this thread (the reactor) its own policy and CPU. Pinning the
  // reactor after the start keeps unpinned workers off its CPU mask.
  if (auto problem = set_thread_priority(config.worker_priority, "router workers")) {
    return start_error(ExitCode::kSetupFailed, *problem);
  }
  auto started = router_->start();
  (void)set_thread_priority(0, "reactor");  // back to SCHED_OTHER: cannot fail
  if (!started) return start_error(ExitCode::kUsage, started.error());
  if (auto problem = set_thread_priority(config.reactor_priority, "reactor")) {
    return start_error(ExitCode::kSetupFailed, *problem);
  }
  if (config.reactor_cpu >= 0) {
    if (auto problem = pin_thread(config.reactor_cpu, "reactor"))
      return start_error(ExitCode::kUsage, *problem);
  }
  return {};
}

void Daemon::create_control_plane() {
  RegistryConfig reg_cfg = config_.registry;
  reg_cfg.workers = static_cast<std::uint32_t>(router_->worker_count());
  registry_ = std::make_unique<Registry>(segment_.heartbeats(), *queues_, segment_.base(),
                                         segment_.size(), *router_, reg_cfg, segment_.stats());
  SegmentGrant grant{segment_.fd(), config_.paths.shm_name("seg"), segment_.size(),
                     segment_.header().layout_version};
  ControlPlaneConfig cp_cfg = config_.control;
  cp_cfg.allow = config_.access.allow;
  control_ = std::make_unique<ControlPlane>(*registry_, *router_, *this, cp_cfg, std::move(grant));
}

Expected<void, StartError> Daemon::serve(bool stale_socket) {
  const DaemonConfig& config = config_;
  const std::string& socket_path = config.paths.socket_path;
  if (stale_socket) {
    if (auto r = reactor::remove_stale_socket(socket_path); !r) {
      return start_error(ExitCode::kSetupFailed, "removing stale socket: " + r.error().message());
    }
    spdlog::info("removed the stale socket {} left by a dead diroute", socket_path);
  }
  auto server = reactor_->listen(socket_path, *this);
  if (!server) {
    bool taken = server.error().err == EADDRINUSE;
    return start_error(taken ? ExitCode::kAlreadyRunning : ExitCode::kSetupFailed,
                       server.error().message());
  }
  server_ = *server;
  if (auto problem = apply_socket_access(socket_path, config.access)) {
    return start_error(ExitCode::kSetupFailed, *problem);
  }
  if (!config.access.allow.empty()) {
    spdlog::info("[access]: {} service allowlist(s) decide who may publish and subscribe",
                 config.access.allow.size());
  }
  auto signals = reactor_->add_signals({SIGINT, SIGTERM}, [this](int signo) {
    spdlog::info("received {}: shutting down", signal_name(signo));
    signal_ = signo;
    reactor_->stop();
  });
  if (!signals) {
    return start_error(ExitCode::kSetupFailed, "signalfd: " + signals.error().message());
  }
  auto timer =
      reactor_->add_timer(config.control.heartbeat_interval,
                          [this](std::uint64_t, reactor::MonoTime now) { control_->tick(now); });
  if (!timer) {
    return start_error(ExitCode::kSetupFailed, "heartbeat timer: " + timer.error().message());
  }
  return {};
}

void Daemon::log_settings() {
  const DaemonConfig& c = config_;
  const Limits& l = registry_->config().limits;
  spdlog::info("diroute {} serving instance '{}' (pid {}): socket {}, io_uring mode {}",
               c.control.daemon_version, c.paths.instance, ::getpid(), c.paths.socket_path,
               reactor::to_string(reactor_->ring_mode()));
  spdlog::info(
      "settings: heartbeat every {} ms, timeout {} ms; {} router worker(s); "
      "limits: {} processes, {} publishers and {} subscribers per process, {} topics, "
      "{} publishers and {} subscribers daemon-wide; "
      "publisher ring {} slots; subscriber queue {} slots by default, {} at most",
      c.control.heartbeat_interval.count(), c.control.heartbeat_timeout.count(),
      registry_->config().workers, l.max_processes, l.max_publishers_per_process,
      l.max_subscribers_per_process, l.max_topics, l.max_publishers, l.max_subscribers,
      c.registry.publisher_ring_capacity, c.registry.default_subscriber_capacity,
      c.registry.max_subscriber_capacity);
  auto hb = segment_.region(shm::RegionKind::kHeartbeat);
  auto pool = segment_.region(shm::RegionKind::kChunkPool);
  auto arena = segment_.region(shm::RegionKind::kQueueArena);
  std::string classes;
  shm::ChunkPool& chunks = segment_.pool();
  for (std::size_t i = 0; i < chunks.class_count(); ++i) {
    shm::PoolClassStats s = chunks.stats(i);
    classes += fmt::format("{}{} B x {}", i ? ", " : "", s.chunk_size, s.total);
  }
  spdlog::info("segment {}: {} in all; heartbeat {} ({} slots), chunk pool {} ({}), queue arena {}",
               segment_.name(), mib(segment_.size()), kib(hb ? hb->size : 0),
               segment_.heartbeats().slot_count(), mib(pool ? pool->size : 0), classes,
               mib(arena ? arena->size : 0));
}

ExitCode Daemon::run() {
  spdlog::info("diroute ready");
  auto ran = reactor_->run();
  if (!ran) spdlog::error("event loop failed: {}", ran.error().message());
  shutdown();
  return ran ? ExitCode::kOk : ExitCode::kRuntimeError;
}

void Daemon::shutdown() {
  control_->begin_shutdown();
  segment_.set_state(shm::SegmentState::kShuttingDown);
  const std::string reason = signal_ != 0 ? "diroute received " + signal_name(signal_)
                                          : std::string("diroute is stopping");
  std::vector<reactor::ConnId> conns = control_->connections();
  if (auto notice = protocol::encode_daemon_shutdown(reason)) {
    for (reactor::ConnId id : conns) {
      (void)server_->send(id, std::as_bytes(std::span(*notice)));
    }
  }
  server_->close_all(reactor::CloseMode::kAfterSends);
  server_->stop_listening();
  spdlog::info("shutdown: told {} connection(s) goodbye, socket removed; draining", conns.size());

  const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_drain;
  while (server_->live_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    if (auto r = reactor_->run_once(std::chrono::milliseconds(20)); !r) break;
  }
  if (server_->live_connections() > 0) {
    spdlog::warn("shutdown: {} connection(s) still draining after {} ms; dropping them",
                 server_->live_connections(), config_.shutdown_drain.count());
  }
  control_->remove_all();
  // No worker may touch a port once it is freed: stop them, then free every retired port.
  router_->stop();
  ReclaimResult freed = registry_->reclaim_all();
  bool exact = true;
  for (std::size_t c = 0; c < segment_.pool().class_count(); ++c) {
    shm::PoolClassStats st = segment_.pool().stats(c);
    if (st.free != st.total) {
      exact = false;
      spdlog::error("shutdown: pool class {} B has {} of {} chunks free: chunk accounting is off",
                    st.chunk_size, st.free, st.total);
    }
  }
  if (exact)
    spdlog::info("shutdown: freed {} port(s); every chunk is back in its pool", freed.freed);
  segment_.unlink();
  spdlog::info("counters: {}", control_->counters().summary());
  const reactor::ServerStats& s = server_->stats();
  spdlog::info(
      "socket: accepted={} refused_over_limit={} datagrams_in={} truncated={} "
      "datagrams_out={} send_queue_overflows={}",
      s.accepted, s.refused_over_limit, s.datagrams_in, s.truncated, s.datagrams_out,
      s.send_queue_overflows);
  spdlog::info("diroute stopped: segment {} removed", segment_.name());
}

// ---- ConnectionHandler -----------------------------------------------------------------------

void Daemon::on_open(reactor::ConnId id, const reactor::PeerCred& peer) {
  control_->open(id, peer, Clock::now());
}

void Daemon::on_datagram(reactor::ConnId id, std::span<const std::byte> bytes,
                         std::size_t true_len) {
  const reactor::PeerCred* peer = server_->peer(id);
  if (peer == nullptr) return;
  Reply reply = control_->handle(id, *peer, bytes, true_len, Clock::now());
  if (!reply.bytes.empty()) {
    send_reply(id, reply);
  } else if (reply.close_after) {
    server_->close(id, reactor::CloseMode::kAfterSends);
  }
}

void Daemon::on_close(reactor::ConnId id, reactor::CloseReason reason, int err) {
  if (err != 0) {
    spdlog::debug("connection {}#{} closed: {} ({})", id.slot, id.generation,
                  reactor::to_string(reason), std::strerror(err));
  }
  control_->closed(id, reason);
}

// ---- ControlPlaneHost ------------------------------------------------------------------------

sys::Expected<reactor::WatchId> Daemon::watch_process(pid_t pid, const ProcessHandle& handle) {
  ProcessHandle h = handle;
  return reactor_->watch_process(pid, [this, h](pid_t) { control_->process_exited(h); });
}

void Daemon::cancel_watch(reactor::WatchId id) {
  (void)reactor_->cancel(id);
}

void Daemon::close_connection(reactor::ConnId id, reactor::CloseMode mode) {
  (void)server_->close(id, mode);
}

void Daemon::send_reply(reactor::ConnId id, const Reply& reply) {
  // A failure here (the peer stopped reading) closes the connection; on_close follows.
  (void)server_->send(id, std::as_bytes(std::span(reply.bytes)), reply.fds);
  if (reply.close_after) server_->close(id, reactor::CloseMode::kAfterSends);
}

}  // namespace zcp::daemon
