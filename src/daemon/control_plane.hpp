// ControlPlane: the request handlers and the death detection of diroute, as plain methods
// over the Registry. No sockets and no clock of its own: the daemon (daemon.cpp) feeds it
// datagrams, connection events, pidfd exits and timer ticks with the time `now`, and sends
// the Reply it returns; a test does the same with a fake clock and a fake host.
//
// Flow of one datagram (handle()):
//   decode_request (frame checks, CRC, FlatBuffers verifier)  -> rejection reply, counted
//   validate_request (strings, enum values)                   -> InvalidArgument
//   shutting down?                                            -> ShuttingDown
//   dispatch by request type: Hello and ListTopology work unregistered, everything else
//   needs RegisterProcess first (NotRegistered).
// Deaths: process_exited (pidfd), closed (socket hang-up), tick (heartbeat timeout) and
// UnregisterProcess all end in one removal path, which acts once per registration and logs
// the death once, at info, with its cause. A second notice of the same death is a no-op.
//
// Reactor thread only; no mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/types.h>

#include "common/sys.hpp"
#include "daemon/access.hpp"
#include "daemon/config.hpp"
#include "daemon/counters.hpp"
#include "daemon/health_watch.hpp"
#include "daemon/registry.hpp"
#include "protocol/encode.hpp"
#include "reactor/reactor.hpp"
#include "reactor/uds_types.hpp"

namespace zcp::daemon {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC, as the clients' heartbeats
using MonoTime = Clock::time_point;

// The answer to one datagram.
struct Reply {
  protocol::Frame bytes;     // one frame; empty: nothing to send now (held back, see settle,
                             // or even the error reply failed to encode)
  std::vector<int> fds;      // borrowed (the daemon owns them); the sender dups them
  bool close_after = false;  // hang up once this reply is sent (CloseMode::kAfterSends)
  // A router command sequence the reply must wait for: a CreateSubscriber reply goes out once
  // every worker applied the AddSubscriber, so a message published after the client's
  // create() returns reaches the new subscriber; a CreatePublisher reply once the worker
  // filled the new loan ring. 0: send at once.
  std::uint64_t settle = 0;
};

// What the control plane asks of its surroundings. The daemon implements it over the
// reactor; tests implement it with a recorder.
class ControlPlaneHost {
 public:
  virtual ~ControlPlaneHost() = default;
  // Start watching `pid` (pidfd); on exit the host calls ControlPlane::process_exited(handle).
  // ESRCH: the process is already gone.
  virtual sys::Expected<reactor::WatchId> watch_process(pid_t pid, const ProcessHandle& handle) = 0;
  virtual void cancel_watch(reactor::WatchId id) = 0;
  // Hang up a connection. Its close is reported back later through ControlPlane::closed().
  virtual void close_connection(reactor::ConnId id, reactor::CloseMode mode) = 0;
  // Send a reply that handle() held back (Reply::settle) now that it may go. The fds are
  // borrowed for the duration of the call.
  virtual void send_reply(reactor::ConnId id, const Reply& reply) = 0;
};

// Where a registration ended.
enum class DeathCause : std::uint8_t {
  kExited,        // pidfd: the process exited
  kHangUp,        // its connection hung up (EOF, socket error)
  kHeartbeat,     // monitored, and its slot aged past the timeout
  kDisconnected,  // the daemon hung up on it (malformed frames, send queue full)
  kUnregistered,  // UnregisterProcess
  kShutdown,      // the daemon is stopping (not a death: neither logged nor counted)
};
const char* to_string(DeathCause cause) noexcept;

// The segment a registration is granted (its fd goes with RegisterProcessReply).
struct SegmentGrant {
  int fd = -1;  // borrowed: the daemon's Segment owns it
  std::string name;
  std::uint64_t size = 0;
  std::uint32_t layout_version = 0;
};

class ControlPlane {
 public:
  // `router` supplies the workers' doorbell eventfds sent to publishers, and settles removals.
  ControlPlane(Registry& registry, router::Router& router, ControlPlaneHost& host,
               const ControlPlaneConfig& config, SegmentGrant segment);
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // A connection opened (peer from SO_PEERCRED). Optional: handle() adopts unknown ids.
  void open(reactor::ConnId conn, const reactor::PeerCred& peer, MonoTime now);
  // One datagram: always exactly one reply. `true_len` > frame.size() means it was cut.
  Reply handle(reactor::ConnId conn, const reactor::PeerCred& peer,
               std::span<const std::byte> frame, std::size_t true_len, MonoTime now);
  // The connection is gone (reported once per connection). Removes its registration.
  void closed(reactor::ConnId conn, reactor::CloseReason reason);
  // pidfd: the process registered under `handle` exited.
  void process_exited(ProcessHandle handle);
  // Heartbeat timeouts, idle unregistered connections, and the rate-limited health warnings
  // (pools near exhaustion, subscribers dropping). Call every heartbeat interval.
  void tick(MonoTime now);
  // A router worker acknowledged commands or faulted a port: send the replies that waited for
  // those commands, free what settled, resubmit backlogged commands, and disconnect clients
  // whose ports were faulted.
  void router_notified();
  // Replies held back until the router applies a command (Reply::settle).
  std::size_t held_replies() const noexcept { return held_.size(); }
  // Processes removed while they may still run, whose memory waits for their exit.
  std::size_t quarantined() const noexcept { return quarantine_.size(); }

  // Shutdown: from here on requests get ShuttingDown and closes are not deaths.
  void begin_shutdown() noexcept { shutting_down_ = true; }
  bool shutting_down() const noexcept { return shutting_down_; }
  // Removes every registration (at the end of a shutdown, after the goodbyes).
  void remove_all();

  // Open connections the control plane knows of (for the DaemonShutdown notice).
  std::vector<reactor::ConnId> connections() const;
  std::size_t connection_count() const noexcept { return conns_.size(); }
  const Counters& counters() const noexcept { return counters_; }
  const Registry& registry() const noexcept { return registry_; }
  const ControlPlaneConfig& config() const noexcept { return config_; }
  // The registration bound to a connection, if any.
  const ProcessRecord* process_of(reactor::ConnId conn) const noexcept;

 private:
  struct Connection {
    reactor::PeerCred peer;
    std::optional<ProcessHandle> process;  // the registration this connection holds
    bool registered_once = false;          // a connection registers at most once
    bool closing = false;                  // we asked the host to close it
    std::uint32_t malformed = 0;           // rejected frames so far
    MonoTime last_activity;
  };

  Connection& connection(reactor::ConnId conn, const reactor::PeerCred& peer, MonoTime now);
  // handle() without the hold: decode, check and run the request.
  Reply dispatch(reactor::ConnId conn, const reactor::PeerCred& peer,
                 std::span<const std::byte> frame, std::size_t true_len, MonoTime now);
  Reply reject(Connection& c, const protocol::DecodeError& error);
  Reply refuse(std::uint64_t request_id, fb::ResultCode code, std::string_view message);
  Reply encoded(protocol::EncodeResult frame, std::uint64_t request_id, std::vector<int> fds = {});

  // Request handlers (request_handlers.cpp).
  Reply on_hello(std::uint64_t id, const fb::Hello& req);
  Reply on_register(reactor::ConnId conn, Connection& c, std::uint64_t id,
                    const fb::RegisterProcess& req, MonoTime now);
  Reply on_unregister(Connection& c, std::uint64_t id);
  Reply on_create_publisher(const ProcessRecord& p, std::uint64_t id,
                            const fb::CreatePublisher& req);
  Reply on_create_subscriber(const ProcessRecord& p, std::uint64_t id,
                             const fb::CreateSubscriber& req);
  Reply on_destroy_publisher(const ProcessRecord& p, std::uint64_t id,
                             const fb::DestroyPublisher& req);
  Reply on_destroy_subscriber(const ProcessRecord& p, std::uint64_t id,
                              const fb::DestroySubscriber& req);
  Reply on_list_topology(std::uint64_t id);
  Reply registry_refusal(std::uint64_t id, const RegistryError& error);

  // The one removal path of a registration.
  void remove_process(ProcessHandle handle, DeathCause cause);
  // Gives retired ports back (chunks to the pool, rings to the arena) once every router worker
  // acknowledged their removal.
  void reclaim_retired();
  // Holds `reply` until the router settles reply.settle (the fds are duplicated: the endpoint
  // they belong to may go meanwhile); returns what handle() answers now (nothing).
  Reply hold(reactor::ConnId conn, Reply reply);
  // Sends the held replies whose command settled, in the order they were held.
  void send_settled();
  // Removes the registrations whose ports a router worker faulted, and hangs up on them.
  void disconnect_faulted();
  // Sends the registry's WakeFds / WakeFdsRevoked notices to their processes.
  void send_wake_notices();

  struct HeldReply {
    reactor::ConnId conn;
    std::uint64_t settle;
    protocol::Frame bytes;
    std::vector<sys::UniqueFd> fds;
  };

  Registry& registry_;
  ControlPlaneHost& host_;
  ControlPlaneConfig config_;
  AccessPolicy access_;  // from config_.allow
  SegmentGrant segment_;
  router::Router& router_;
  std::unordered_map<reactor::ConnId, Connection, reactor::ConnIdHash> conns_;
  Counters counters_;            // in the registry's stats region when it has one
  HealthWatch health_;           // rate-limited warnings, checked on every tick
  std::vector<HeldReply> held_;  // replies waiting for the router (Reply::settle)
  // Processes removed while they may still run, until their pidfd reports the exit.
  struct Quarantined {
    ProcessHandle handle;
    reactor::WatchId watch;
    pid_t pid = 0;
    std::string name;
    std::vector<DirectPublisherRef> direct_publishers;
  };
  std::vector<Quarantined> quarantine_;
  bool shutting_down_ = false;
};

// Nanoseconds of CLOCK_MONOTONIC, the unit of the heartbeat slots.
inline std::uint64_t to_ns(MonoTime t) noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace zcp::daemon
