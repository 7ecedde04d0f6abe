// zcp::Runtime: a process's connection to the diroute daemon of one instance.
//
//   auto rt = zcp::Runtime::connect({.name = "md-feed"});
//   if (!rt) { std::cerr << rt.error().message << "\n"; return 1; }
//
// connect() says Hello, registers the process (the daemon learns pid/uid/gid from the
// kernel, not from us), receives and maps the shared-memory segment, and starts one light
// background thread that reads the daemon's replies and notices, touches the heartbeat, and
// notices at once when the daemon goes away: every later call then fails with
// Errc::kDisconnected and a message saying what happened, never a hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zcp/error.hpp>

namespace zcp {

struct RuntimeOptions {
  // `{}` initialisers: designated initialisation ({.name = "x"}) must not trip
  // -Wmissing-field-initializers in users' -Wextra builds.
  std::string name{};      // unique per live process; empty: "<program>-<pid>"
  std::string instance{};  // empty: $ZCP_INSTANCE, else "default"
  bool monitored = true;   // heartbeat-monitored: a hung (not only a dead) process is removed
  std::chrono::milliseconds request_timeout{2000};
  // When the daemon goes away: wait for a new diroute on the same instance, register again,
  // and let every Publisher and Subscriber of this runtime carry on (each re-creates itself
  // on its next call). Until then calls fail with kDisconnected. Messages in flight across the
  // restart are lost and counted (Publisher::lost(), Subscriber::lost()). false: a lost
  // daemon is final for this runtime.
  bool reconnect = true;
  // How often the reconnect thread tries the socket while no daemon answers.
  std::chrono::milliseconds reconnect_interval{50};
};

struct TopologyProcess {
  std::uint32_t slot;
  std::int32_t pid;
  std::uint32_t uid;
  std::string name;
  bool monitored;
};
struct TopologyEndpoint {
  std::uint32_t id;
  std::uint32_t slot;
  std::string service, instance, event;
};
struct Topology {
  std::vector<TopologyProcess> processes;
  std::vector<TopologyEndpoint> publishers;
  std::vector<TopologyEndpoint> subscribers;
};

namespace detail {
class RuntimeImpl;
}

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> connect(RuntimeOptions options = {});
  ~Runtime();  // unregisters (if still connected) and stops the background thread
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const std::string& name() const noexcept;
  const std::string& instance() const noexcept;
  std::uint32_t slot() const noexcept;
  std::string daemon_version() const;

  // False while no daemon serves this runtime (it went away or declared this process dead,
  // and no new one was found yet).
  bool connected() const noexcept;
  // Times this runtime re-registered with a new daemon (RuntimeOptions::reconnect).
  std::uint64_t reconnects() const noexcept;
  // Why the connection ended, if it did.
  std::optional<Error> disconnect_reason() const;

  Result<Topology> list_topology();

  detail::RuntimeImpl& impl() noexcept { return *impl_; }

 private:
  explicit Runtime(std::unique_ptr<detail::RuntimeImpl> impl);
  std::unique_ptr<detail::RuntimeImpl> impl_;
};

}  // namespace zcp
