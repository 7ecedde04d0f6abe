// The configuration's cross-setting checks, the embedded defaults, the instance paths and the
// CPU checks. The parser (parser.cpp) checks each key alone; this file checks them together.
#include "config/checks.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <sched.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/config_file.hpp"

namespace zcp::config {

daemon::DaemonConfig default_config() {
  daemon::DaemonConfig cfg;
  cfg.registry.workers = daemon::kDefaultWorkers;
  cfg.registry.limits.max_processes = cfg.heartbeat_slots;
  return cfg;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Rows i-2, i-1 and i of the dynamic-programming table.
  std::vector<std::size_t> prev2(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    prev2.swap(prev);
    prev.swap(cur);
  }
  return prev[b.size()];
}

std::string allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return "unknown";
  // Ranges, like taskset -c prints them: "0-3,6".
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set))
      ++last;
    out +=
        (out.empty() ? "" : ",") + std::to_string(c) + (last > c ? "-" + std::to_string(last) : "");
    c = last;
  }
  return out;
}

std::optional<std::string> cpu_problem(int cpu) {
  const long configured = ::sysconf(_SC_NPROCESSORS_CONF);
  if (cpu < 0 || cpu >= CPU_SETSIZE || (configured > 0 && cpu >= configured)) {
    return "CPU " + std::to_string(cpu) + " does not exist (this host has " +
           std::to_string(configured) + "; allowed here: " + allowed_cpus() + ")";
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0 && !CPU_ISSET(cpu, &set)) {
    return "CPU " + std::to_string(cpu) +
           " is not allowed for this process (allowed: " + allowed_cpus() +
           "; see taskset, cpusets, systemd CPUAffinity=)";
  }
  return std::nullopt;
}

std::optional<Problem> find_problem(const daemon::DaemonConfig& c) {
  using std::to_string;
  if (c.control.heartbeat_timeout <= c.control.heartbeat_interval) {
    return Problem{{"heartbeat.timeout_ms", "heartbeat.interval_ms"},
                   "heartbeat.timeout_ms (" + to_string(c.control.heartbeat_timeout.count()) +
                       ") must be longer than heartbeat.interval_ms (" +
                       to_string(c.control.heartbeat_interval.count()) + ")"};
  }
  shm::ChunkPoolConfig pools = c.pools;
  if (auto problem = pools.normalize()) return Problem{{"pools"}, "pools: " + *problem};
  if (c.router_cpus.size() > router::kMaxWorkers) {
    return Problem{{"router.cpus"},
                   "router.cpus lists " + to_string(c.router_cpus.size()) + " CPUs; at most " +
                       to_string(router::kMaxWorkers) + " workers are supported"};
  }
  for (int cpu : c.router_cpus) {
    if (cpu < 0) continue;  // an unpinned worker
    if (auto problem = cpu_problem(cpu))
      return Problem{{"router.cpus"}, "router.cpus: " + *problem};
  }
  if (c.reactor_cpu >= 0) {
    if (auto problem = cpu_problem(c.reactor_cpu))
      return Problem{{"reactor.cpu"}, "reactor.cpu: " + *problem};
  }
  const daemon::RegistryConfig& r = c.registry;
  if (r.default_subscriber_capacity > r.max_subscriber_capacity) {
    return Problem{{"subscribers.queue_capacity", "limits.max_queue_capacity"},
                   "subscribers.queue_capacity (" + to_string(r.default_subscriber_capacity) +
                       ") exceeds limits.max_queue_capacity (" +
                       to_string(r.max_subscriber_capacity) + ")"};
  }
  if (r.default_max_held > r.max_held_cap) {
    return Problem{{"subscribers.max_held", "limits.max_held"},
                   "subscribers.max_held (" + to_string(r.default_max_held) +
                       ") exceeds limits.max_held (" + to_string(r.max_held_cap) + ")"};
  }
  if (r.default_max_loans > r.max_loans_cap) {
    return Problem{{"publishers.max_loans", "limits.max_loans"},
                   "publishers.max_loans (" + to_string(r.default_max_loans) +
                       ") exceeds limits.max_loans (" + to_string(r.max_loans_cap) + ")"};
  }
  if (r.limits.max_processes != c.heartbeat_slots) {
    return Problem{{"limits.max_processes"},
                   "limits.max_processes (" + to_string(r.limits.max_processes) +
                       ") and the heartbeat slots (" + to_string(c.heartbeat_slots) + ") differ"};
  }
  if ((c.access.mode & 0600U) != 0600U || c.access.mode > 0777U) {
    return Problem{{"access.mode"},
                   "access.mode must be at most 0o777 and give the owner read and write (0o600)"};
  }
  return std::nullopt;
}

std::optional<std::string> validate(const daemon::DaemonConfig& c) {
  if (auto p = find_problem(c)) return p->message;
  return std::nullopt;
}

Expected<InstancePaths, std::string> resolve_paths(const daemon::DaemonConfig& cfg,
                                                   std::optional<std::string> instance) {
  if (!instance && !cfg.paths.instance.empty()) instance = cfg.paths.instance;
  auto paths = resolve_instance(instance);
  if (!paths || cfg.paths.runtime_dir.empty()) return paths;
  paths->runtime_dir = cfg.paths.runtime_dir;
  paths->socket_path = paths->runtime_dir + "/" + paths->instance + ".sock";
  if (paths->socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Unexpected("socket path " + paths->socket_path + " is " +
                      std::to_string(paths->socket_path.size()) + " bytes; Unix sockets allow " +
                      std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                      " (shorten daemon.runtime_dir or the instance)");
  }
  return paths;
}

}  // namespace zcp::config
