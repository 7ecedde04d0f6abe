// The TOML reader: every section and key of docs/configuration.md, each checked for its type
// and range where it is read, then the relations between them (checks.cpp). The first
// problem ends the parse; its message names the file, the line, the column and the key.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <grp.h>
#include <sched.h>
#include <toml++/toml.h>

#include "config/checks.hpp"
#include "config/config_file.hpp"

namespace zcp::config {
namespace {

using daemon::DaemonConfig;

// A section and its keys; a key found in the wrong section is pointed to its own.
struct Section {
  std::string_view name;
  std::vector<std::string_view> keys;
};

constexpr std::string_view kPoolKeys[] = {"size", "count"};
constexpr std::string_view kAllowKeys[] = {"service", "publish_uids", "publish_gids",
                                           "subscribe_uids", "subscribe_gids"};

const std::vector<Section>& sections() {
  static const std::vector<Section> s = {
      {"daemon", {"instance", "runtime_dir", "log_level", "shutdown_drain_ms"}},
      {"heartbeat", {"interval_ms", "timeout_ms"}},
      {"reactor", {"cpu", "sched_fifo_priority", "busy_poll_us"}},
      {"router",
       {"workers", "cpus", "idle", "spin_us", "spin_yield_us", "sched_fifo_priority",
        "routed_topics", "direct_wake_max"}},
      {"pools", {}},  // an array of tables: kPoolKeys
      {"publishers", {"max_payload", "max_loans", "ring_capacity"}},
      {"subscribers", {"queue_capacity", "max_held"}},
      {"limits",
       {"max_processes", "max_publishers_per_process", "max_subscribers_per_process", "max_topics",
        "max_publishers", "max_subscribers", "max_queue_capacity", "max_held", "max_loans",
        "max_history", "max_wake_fds_per_process", "malformed_frames", "idle_connection_ms"}},
      {"access", {"group", "mode", "allow"}},
      {"memory", {"queue_arena_mb", "prefault", "mlock"}},
  };
  return s;
}

const std::vector<std::string_view>& keys_of(std::string_view section) {
  for (const Section& s : sections()) {
    if (s.name == section) return s.keys;
  }
  static const std::vector<std::string_view> none;
  return none;
}

struct ConfigError {
  std::string message;
};

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    default:
      return "nothing";
  }
}

// The closest of `candidates` to `word`, if close enough to be a typo.
std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  std::optional<std::string_view> best;
  std::size_t best_d = word.size() < 5 ? 1 : 2;  // farther than this is another word
  for (std::string_view c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d <= best_d && (!best || d < edit_distance(word, *best))) best = c;
  }
  return best;
}

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(const toml::source_region& at, std::string_view key,
                         const std::string& what) const {
    throw ConfigError{std::string(source_) + ":" + std::to_string(at.begin.line) + ":" +
                      std::to_string(at.begin.column) + ": " + std::string(key) + ": " + what};
  }

  // Reports the first key of `t` that is not in `keys`, with a suggestion.
  void only_known(const toml::table& t, std::string_view prefix,
                  std::span<const std::string_view> keys) const {
    for (auto&& [k, v] : t) {
      std::string_view name = k.str();
      if (std::find(keys.begin(), keys.end(), name) != keys.end()) continue;
      std::string what = prefix.empty() ? "unknown section" : "unknown key";
      if (auto near = closest(name, keys)) {
        what += " (did you mean '" + std::string(*near) + "'?)";
      } else if (auto home = section_of(name)) {
        what += " (it belongs in [" + std::string(*home) + "])";
      }
      fail(k.source(), join(prefix, name), what);
    }
  }

  static std::optional<std::string_view> section_of(std::string_view key) {
    for (const Section& s : sections()) {
      if (std::find(s.keys.begin(), s.keys.end(), key) != s.keys.end()) return s.name;
    }
    return std::nullopt;
  }

  static std::string join(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
  }

  // The node at `key` in `t`, or nullptr; `where` receives the key's position.
  const toml::node* find(const toml::table& t, std::string_view key,
                         toml::source_region& where) const {
    auto it = t.find(key);
    if (it == t.end()) return nullptr;
    where = it->first.source().begin.line != 0 ? it->first.source() : it->second.source();
    return &it->second;
  }

  template <class T>
  void integer(const toml::table& t, std::string_view prefix, std::string_view key, T& out,
               std::int64_t lo, std::int64_t hi) const {
    toml::source_region at;
    const toml::node* n = find(t, key, at);
    if (!n) return;
    if (!n->is_integer())
      fail(at, join(prefix, key),
           std::string("expected an integer, found ") + type_name(n->type()));
    std::int64_t v = *n->value<std::int64_t>();
    if (v < lo || v > hi) {
      fail(
          at, join(prefix, key),
          std::to_string(v) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    out = static_cast<T>(v);
  }

  void boolean(const toml::table& t, std::string_view prefix, std::string_view key,
               bool& out) const {
    toml::source_region at;
    const toml::node* n = find(t, key, at);
    if (!n) return;
    if (!n->is_boolean())
      fail(at, join(prefix, key),
           std::string("expected true or false, found ") + type_name(n->type()));
    out = *n->value<bool>();
  }

  // A string; `allowed` (if not empty) lists the values accepted.
  bool string(const toml::table& t, std::string_view prefix, std::string_view key, std::string& out,
              std::initializer_list<std::string_view> allowed = {}) const {
    toml::source_region at;
    const toml::node* n = find(t, key, at);
    if (!n) return false;
    if (!n->is_string())
      fail(at, join(prefix, key), std::string("expected a string, found ") + type_name(n->type()));
    std::string v = *n->value<std::string>();
    if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed)
        list += (list.empty() ? "" : ", ") + std::string(a);
      fail(at, join(prefix, key), "'" + v + "' is not one of " + list);
    }
    out = std::move(v);
    return true;
  }

  // An array of strings, each checked by `problem` (a message, or empty if fine).
  bool strings(const toml::table& t, std::string_view prefix, std::string_view key,
               std::vector<std::string>& out, std::string (*problem)(const std::string&)) const {
    toml::source_region at;
    const toml::node* n = find(t, key, at);
    if (!n) return false;
    const toml::array* a = n->as_array();
    if (!a)
      fail(at, join(prefix, key),
           std::string("expected an array of strings, found ") + type_name(n->type()));
    out.clear();
    for (const toml::node& e : *a) {
      toml::source_region eat = e.source().begin.line != 0 ? e.source() : at;
      if (!e.is_string())
        fail(eat, join(prefix, key), std::string("expected strings, found ") + type_name(e.type()));
      std::string v = *e.value<std::string>();
      if (std::string why = problem(v); !why.empty())
        fail(eat, join(prefix, key), "'" + v + "': " + why);
      out.push_back(std::move(v));
    }
    return true;
  }

  template <class T>
  bool integers(const toml::table& t, std::string_view prefix, std::string_view key,
                std::vector<T>& out, std::int64_t lo, std::int64_t hi) const {
    toml::source_region at;
    const toml::node* n = find(t, key, at);
    if (!n) return false;
    const toml::array* a = n->as_array();
    if (!a)
      fail(at, join(prefix, key),
           std::string("expected an array of integers, found ") + type_name(n->type()));
    out.clear();
    for (const toml::node& e : *a) {
      toml::source_region eat = e.source().begin.line != 0 ? e.source() : at;
      if (!e.is_integer())
        fail(eat, join(prefix, key),
             std::string("expected integers, found ") + type_name(e.type()));
      std::int64_t v = *e.value<std::int64_t>();
      if (v < lo || v > hi) {
        fail(eat, join(prefix, key),
             "element " + std::to_string(v) + " is out of range " + std::to_string(lo) + ".." +
                 std::to_string(hi));
      }
      out.push_back(static_cast<T>(v));
    }
    return true;
  }

  // A section's table (nullptr if absent); anything but a table is an error.
  const toml::table* table(const toml::table& root, std::string_view name) const {
    toml::source_region at;
    const toml::node* n = find(root, name, at);
    if (!n) return nullptr;
    if (!n->is_table())
      fail(at, name,
           std::string("expected a table [") + std::string(name) + "], found " +
               type_name(n->type()));
    return n->as_table();
  }

  // An array of tables ([[name]]), or nullptr if absent.
  const toml::array* table_array(const toml::table& t, std::string_view prefix,
                                 std::string_view name) const {
    toml::source_region at;
    const toml::node* n = find(t, name, at);
    if (!n) return nullptr;
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables()) {
      fail(at, join(prefix, name),
           "expected an array of tables ([[" + join(prefix, name) + "]]), found " +
               (a ? "an array of values" : std::string(type_name(n->type()))));
    }
    return a;
  }

  std::string_view source() const noexcept { return source_; }

 private:
  std::string_view source_;
};

constexpr std::int64_t kU32 = UINT32_MAX;

void read_daemon(const Reader& r, const toml::table& t, DaemonConfig& c) {
  r.only_known(t, "daemon", keys_of("daemon"));
  toml::source_region at;
  if (r.string(t, "daemon", "instance", c.paths.instance)) {
    if (auto problem = instance_name_problem(c.paths.instance)) {
      r.find(t, "instance", at);
      r.fail(at, "daemon.instance", *problem);
    }
  }
  if (r.string(t, "daemon", "runtime_dir", c.paths.runtime_dir) &&
      (c.paths.runtime_dir.empty() || c.paths.runtime_dir.front() != '/')) {
    r.find(t, "runtime_dir", at);
    r.fail(at, "daemon.runtime_dir", "'" + c.paths.runtime_dir + "' is not an absolute path");
  }
  r.string(t, "daemon", "log_level", c.log_level,
           {"trace", "debug", "info", "warn", "error", "critical", "off"});
  std::int64_t drain = c.shutdown_drain.count();
  r.integer(t, "daemon", "shutdown_drain_ms", drain, 0, 60000);
  c.shutdown_drain = std::chrono::milliseconds(drain);
}

void read_heartbeat(const Reader& r, const toml::table& t, DaemonConfig& c) {
  r.only_known(t, "heartbeat", keys_of("heartbeat"));
  std::int64_t interval = c.control.heartbeat_interval.count(),
               timeout = c.control.heartbeat_timeout.count();
  r.integer(t, "heartbeat", "interval_ms", interval, 10, 60000);
  r.integer(t, "heartbeat", "timeout_ms", timeout, 20, 3600000);
  c.control.heartbeat_interval = std::chrono::milliseconds(interval);
  c.control.heartbeat_timeout = std::chrono::milliseconds(timeout);
}

void read_reactor(const Reader& r, const toml::table& t, DaemonConfig& c) {
  r.only_known(t, "reactor", keys_of("reactor"));
  r.integer(t, "reactor", "cpu", c.reactor_cpu, -1, CPU_SETSIZE - 1);
  r.integer(t, "reactor", "sched_fifo_priority", c.reactor_priority, 0, 99);
  std::int64_t busy_poll = c.reactor_busy_poll.count();
  r.integer(t, "reactor", "busy_poll_us", busy_poll, 0, 1000000);
  c.reactor_busy_poll = std::chrono::microseconds(busy_poll);
}

void read_router(const Reader& r, const toml::table& t, DaemonConfig& c) {
  r.only_known(t, "router", keys_of("router"));
  toml::source_region at;
  const bool has_workers = r.find(t, "workers", at) != nullptr;
  r.integer(t, "router", "workers", c.registry.workers, 1, router::kMaxWorkers);
  if (r.integers(t, "router", "cpus", c.router_cpus, -1, CPU_SETSIZE - 1)) {
    if (!c.router_cpus.empty()) {
      if (has_workers && c.registry.workers != c.router_cpus.size()) {
        r.find(t, "workers", at);
        r.fail(at, "router.workers",
               std::to_string(c.registry.workers) + " disagrees with router.cpus (" +
                   std::to_string(c.router_cpus.size()) +
                   " CPUs, one worker each); leave workers out");
      }
      c.registry.workers = static_cast<std::uint32_t>(c.router_cpus.size());
    }
  } else if (has_workers) {
    c.router_cpus.clear();  // a file that sets workers alone asks for unpinned workers
  }
  std::string idle;
  if (r.string(t, "router", "idle", idle, {"spin", "hybrid", "park"}))
    c.idle = *router::parse_idle_strategy(idle);
  std::int64_t spin = c.spin.count();
  r.integer(t, "router", "spin_us", spin, 0, 1000000);
  c.spin = std::chrono::microseconds(spin);
  std::int64_t spin_yield = c.spin_yield.count();
  r.integer(t, "router", "spin_yield_us", spin_yield, 0, 1000000);
  c.spin_yield = std::chrono::microseconds(spin_yield);
  r.integer(t, "router", "sched_fifo_priority", c.worker_priority, 0, 99);
  r.strings(t, "router", "routed_topics", c.registry.routed_topics, &daemon::topic_pattern_problem);
  r.integer(t, "router", "direct_wake_max", c.registry.direct_wake_max, 0, shm::kRouteSlots);
}

void read_pools(const Reader& r, const toml::array& pools, DaemonConfig& c,
                const toml::source_region& at) {
  if (pools.empty()) r.fail(at, "pools", "needs at least one [[pools]] entry");
  c.pools.classes.clear();
  for (const toml::node& n : pools) {
    const toml::table& t = *n.as_table();
    r.only_known(t, "pools", kPoolKeys);
    toml::source_region where = t.source();
    shm::PoolClassConfig cls{0, 0};
    if (!r.find(t, "size", where))
      r.fail(t.source(), "pools.size", "missing (each [[pools]] needs size and count)");
    if (!r.find(t, "count", where))
      r.fail(t.source(), "pools.count", "missing (each [[pools]] needs size and count)");
    r.integer(t, "pools", "size", cls.chunk_size, 1, shm::kMaxChunkSize);
    r.integer(t, "pools", "count", cls.count, 1, shm::kMaxChunksPerClass);
    c.pools.classes.push_back(cls);
  }
}

void read_ports(const Reader& r, const toml::table* pubs, const toml::table* subs,
                DaemonConfig& c) {
  daemon::RegistryConfig& g = c.registry;
  if (pubs) {
    r.only_known(*pubs, "publishers", keys_of("publishers"));
    r.integer(*pubs, "publishers", "max_payload", g.default_max_payload, 1, shm::kMaxChunkSize);
    r.integer(*pubs, "publishers", "max_loans", g.default_max_loans, 1, 65536);
    r.integer(*pubs, "publishers", "ring_capacity", g.publisher_ring_capacity, 1, 65536);
  }
  if (subs) {
    r.only_known(*subs, "subscribers", keys_of("subscribers"));
    r.integer(*subs, "subscribers", "queue_capacity", g.default_subscriber_capacity, 1, 1 << 20);
    r.integer(*subs, "subscribers", "max_held", g.default_max_held, 1, 65536);
  }
}

void read_limits(const Reader& r, const toml::table& t, DaemonConfig& c) {
  r.only_known(t, "limits", keys_of("limits"));
  daemon::RegistryConfig& g = c.registry;
  daemon::Limits& l = g.limits;
  r.integer(t, "limits", "max_processes", l.max_processes, 1, shm::kMaxHeartbeatSlots);
  c.heartbeat_slots = l.max_processes;
  r.integer(t, "limits", "max_publishers_per_process", l.max_publishers_per_process, 1, 1 << 20);
  r.integer(t, "limits", "max_subscribers_per_process", l.max_subscribers_per_process, 1, 1 << 20);
  r.integer(t, "limits", "max_topics", l.max_topics, 1, 1 << 24);
  r.integer(t, "limits", "max_publishers", l.max_publishers, 1, 1 << 20);
  r.integer(t, "limits", "max_subscribers", l.max_subscribers, 1, 1 << 20);
  r.integer(t, "limits", "max_queue_capacity", g.max_subscriber_capacity, 1, 1 << 20);
  r.integer(t, "limits", "max_held", g.max_held_cap, 1, 65536);
  r.integer(t, "limits", "max_loans", g.max_loans_cap, 1, 65536);
  r.integer(t, "limits", "max_history", g.max_history, 0, 65536);
  r.integer(t, "limits", "max_wake_fds_per_process", g.max_wake_fds_per_process, 0, 65536);
  r.integer(t, "limits", "malformed_frames", c.control.malformed_frame_limit, 1, 1 << 20);
  std::int64_t idle = c.control.idle_connection_timeout.count();
  r.integer(t, "limits", "idle_connection_ms", idle, 100, 3600000);
  c.control.idle_connection_timeout = std::chrono::milliseconds(idle);
}

void read_access(const Reader& r, const toml::table& t, DaemonConfig& c) {
  r.only_known(t, "access", keys_of("access"));
  toml::source_region at;
  if (r.string(t, "access", "group", c.access.group)) {
    if (c.access.group.empty()) {
      c.access.gid = 0;
    } else if (const group* g = ::getgrnam(c.access.group.c_str())) {
      c.access.gid = g->gr_gid;
    } else {
      r.find(t, "group", at);
      r.fail(at, "access.group",
             "no group named '" + c.access.group + "' on this host (see getent group)");
    }
  }
  r.integer(t, "access", "mode", c.access.mode, 0, 0777);
  if (r.find(t, "mode", at) && (c.access.mode & 0600U) != 0600U) {
    r.fail(at, "access.mode",
           "must give the owner read and write (0o600): the daemon reopens nothing, "
           "but tools running as the owner map the segment");
  }
  const toml::array* allow = r.table_array(t, "access", "allow");
  if (!allow) return;
  c.access.allow.clear();
  for (const toml::node& n : *allow) {
    const toml::table& e = *n.as_table();
    r.only_known(e, "access.allow", kAllowKeys);
    daemon::ServiceAllowlist a;
    if (!r.string(e, "access.allow", "service", a.service) || a.service.empty()) {
      r.fail(e.source(), "access.allow.service",
             "missing: each [[access.allow]] names a service (or a prefix ending in '*')");
    }
    if (std::size_t star = a.service.find('*');
        star != std::string::npos && star + 1 != a.service.size()) {
      r.find(e, "service", at);
      r.fail(at, "access.allow.service",
             "'" + a.service + "': '*' may only end the name (a prefix match)");
    }
    r.integers(e, "access.allow", "publish_uids", a.publish_uids, 0, kU32 - 1);
    r.integers(e, "access.allow", "publish_gids", a.publish_gids, 0, kU32 - 1);
    r.integers(e, "access.allow", "subscribe_uids", a.subscribe_uids, 0, kU32 - 1);
    r.integers(e, "access.allow", "subscribe_gids", a.subscribe_gids, 0, kU32 - 1);
    c.access.allow.push_back(std::move(a));
  }
}

void read_memory(const Reader& r, const toml::table& t, DaemonConfig& c) {
  r.only_known(t, "memory", keys_of("memory"));
  std::int64_t mb = static_cast<std::int64_t>(c.queue_arena_bytes >> 20);
  r.integer(t, "memory", "queue_arena_mb", mb, 1, 1 << 16);
  c.queue_arena_bytes = static_cast<std::uint64_t>(mb) << 20;
  r.boolean(t, "memory", "prefault", c.prefault);
  r.boolean(t, "memory", "mlock", c.mlock);
}

// The position of a dotted key ("heartbeat.timeout_ms", or a section "pools") in the file.
std::optional<toml::source_region> position(const Reader& r, const toml::table& root,
                                            const std::string& dotted) {
  std::size_t dot = dotted.find('.');
  toml::source_region at;
  const toml::node* n = r.find(root, dotted.substr(0, dot), at);
  if (!n || dot == std::string::npos) return n ? std::optional(at) : std::nullopt;
  const toml::table* t = n->as_table();
  if (!t || !r.find(*t, dotted.substr(dot + 1), at)) return std::nullopt;
  return at;
}

DaemonConfig parse(const Reader& r, const toml::table& root, DaemonConfig c) {
  std::vector<std::string_view> names;
  for (const Section& s : sections())
    names.push_back(s.name);
  r.only_known(root, "", names);
  if (const auto* t = r.table(root, "daemon")) read_daemon(r, *t, c);
  if (const auto* t = r.table(root, "heartbeat")) read_heartbeat(r, *t, c);
  if (const auto* t = r.table(root, "reactor")) read_reactor(r, *t, c);
  if (const auto* t = r.table(root, "router")) read_router(r, *t, c);
  if (const toml::array* pools = r.table_array(root, "", "pools")) {
    toml::source_region at;
    r.find(root, "pools", at);
    read_pools(r, *pools, c, at);
  }
  read_ports(r, r.table(root, "publishers"), r.table(root, "subscribers"), c);
  if (const auto* t = r.table(root, "limits")) read_limits(r, *t, c);
  if (const auto* t = r.table(root, "access")) read_access(r, *t, c);
  if (const auto* t = r.table(root, "memory")) read_memory(r, *t, c);

  if (auto problem = find_problem(c)) {
    for (const std::string& key : problem->keys) {
      if (auto at = position(r, root, key)) {
        std::string_view what = problem->message;
        if (what.starts_with(key + ": "))
          what.remove_prefix(key.size() + 2);  // fail() names the key
        r.fail(*at, key, std::string(what));
      }
    }
    // Only defaults are involved (cannot happen with the embedded ones): no line to name.
    throw ConfigError{std::string(r.source()) + ": " + problem->message};
  }
  return c;
}

}  // namespace

Expected<DaemonConfig, std::string> parse_config(std::string_view text, std::string_view source,
                                                 const DaemonConfig& base) {
  Reader reader(source);
  try {
    toml::table root = toml::parse(text, source);
    return parse(reader, root, base);
  } catch (const toml::parse_error& e) {
    const toml::source_region& at = e.source();
    return Unexpected(std::string(source) + ":" + std::to_string(at.begin.line) + ":" +
                      std::to_string(at.begin.column) +
                      ": TOML syntax error: " + std::string(e.description()));
  } catch (const ConfigError& e) {
    return Unexpected(e.message);
  }
}

Expected<DaemonConfig, std::string> load_config_file(const std::string& path,
                                                     const DaemonConfig& base) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return parse_config(text.str(), "<stdin>", base);
  }
  std::ifstream in(path);
  if (!in) return Unexpected(path + ": cannot open: " + std::strerror(errno));
  text << in.rdbuf();
  if (in.bad()) return Unexpected(path + ": read error: " + std::strerror(errno));
  return parse_config(text.str(), path, base);
}

}  // namespace zcp::config
