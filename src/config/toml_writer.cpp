// to_toml: the configuration as a TOML document, with or without comments. The commented
// form is `diroute --print-default-config` and packaging/diroute.toml; the terse form goes
// into the start-up log and the stats region (`zcp info`). parse_config(to_toml(c)) == c.
#include <cstdio>
#include <sstream>
#include <string>

#include "config/config_file.hpp"

namespace zcp::config {
namespace {

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x",
                    static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

template <class T>
std::string list(const std::vector<T>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i)
    out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}

class Writer {
 public:
  explicit Writer(bool comments) : comments_(comments) {}

  void section(std::string_view header, std::string_view comment = {}) {
    out_ << "\n";
    note(comment);
    out_ << header << "\n";
  }
  void note(std::string_view comment) {
    if (!comments_ || comment.empty()) return;
    std::istringstream lines{std::string(comment)};
    for (std::string line; std::getline(lines, line);)
      out_ << "# " << line << "\n";
  }
  // A key with its comment; `value` is already TOML.
  void key(std::string_view name, const std::string& value, std::string_view comment = {}) {
    note(comment);
    out_ << name << " = " << value << "\n";
  }
  // A key left at an environment-derived default: written as a comment when empty.
  void optional_key(std::string_view name, const std::string& value, bool set,
                    std::string_view example, std::string_view comment) {
    note(comment);
    if (set) {
      out_ << name << " = " << quote(value) << "\n";
    } else if (comments_) {
      out_ << "# " << name << " = " << example << "\n";
    }
  }
  std::string str() const { return out_.str(); }

 private:
  bool comments_;
  std::ostringstream out_;
};

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

}  // namespace

std::string to_toml(const daemon::DaemonConfig& c, TomlStyle style) {
  Writer w(style.comments);
  const daemon::RegistryConfig& g = c.registry;
  const daemon::Limits& l = g.limits;
  w.note(
      "diroute configuration. `diroute --config FILE` reads it; flags given on the command line\n"
      "override it; `diroute --check-config FILE` checks it and prints the memory it needs.\n"
      "Every key is optional: a missing key keeps its default. docs/configuration.md lists them.");

  w.section("[daemon]");
  w.optional_key(
      "instance", c.paths.instance, !c.paths.instance.empty(), "\"default\"",
      "Instance name: derives the socket <runtime_dir>/<instance>.sock and the shm names.\n"
      "Unset: $ZCP_INSTANCE, else \"default\". Flag: --instance.");
  w.optional_key(
      "runtime_dir", c.paths.runtime_dir, !c.paths.runtime_dir.empty(), "\"/run/zcp\"",
      "Directory of the socket. Unset: $ZCP_RUNTIME_DIR, else $XDG_RUNTIME_DIR/zcp, else\n"
      "/tmp/zcp-$UID. Clients find the socket through the same variables, so set\n"
      "ZCP_RUNTIME_DIR for them when you set this.");
  w.key("log_level", quote(c.log_level),
        "trace, debug, info (lifecycle only), warn, error, critical, off. Flag: --log-level.");
  w.key("shutdown_drain_ms", num(static_cast<std::uint64_t>(c.shutdown_drain.count())),
        "At shutdown, how long clients get to take their goodbye before the hang-up (0..60000).");

  w.section("[heartbeat]",
            "Death detection of hung clients (exits and hang-ups are seen at once).");
  w.key("interval_ms", num(static_cast<std::uint64_t>(c.control.heartbeat_interval.count())),
        "How often heartbeat slots are checked (10..60000). Flag: --heartbeat-ms.");
  w.key("timeout_ms", num(static_cast<std::uint64_t>(c.control.heartbeat_timeout.count())),
        "A monitored client silent this long is removed (20..3600000, above interval_ms).\n"
        "Short finds hung processes sooner but removes clients stopped in a debugger.\n"
        "Flag: --heartbeat-timeout-ms.");

  w.section("[reactor]",
            "The control-plane thread (io_uring): registrations, heartbeats, the socket.");
  w.key("cpu", std::to_string(c.reactor_cpu), "Pin it to this CPU; -1: not pinned.");
  w.key("sched_fifo_priority", std::to_string(c.reactor_priority),
        "SCHED_FIFO priority 1..99; 0: normal scheduling. Needs CAP_SYS_NICE or\n"
        "RLIMIT_RTPRIO (LimitRTPRIO= in systemd); refused -> diroute exits 5 and says why.");
  w.key("busy_poll_us", num(static_cast<std::uint64_t>(c.reactor_busy_poll.count())),
        "After handling an event, poll for the next one this many microseconds before sleeping\n"
        "(0..1000000): back-to-back requests skip a wake-up; 0: always sleep. Flag: "
        "--reactor-busy-poll-us.");

  w.section("[router]",
            "The data-plane workers that move messages from publishers to subscribers.");
  w.key("workers", num(c.router_cpus.empty() ? g.workers : c.router_cpus.size()),
        "Number of workers (1.." + std::to_string(router::kMaxWorkers) +
            "), unpinned unless cpus is set. Flag: --workers.");
  w.key("cpus", list(c.router_cpus),
        "One worker per CPU listed, pinned to it (-1: an unpinned worker); overrides workers.\n"
        "Each CPU must exist and be allowed for diroute. Flag: --router-cpus.");
  w.key("idle", quote(shm::to_string(c.idle)),
        "What an idle worker does: \"spin\" (lowest latency, one CPU at 100%), \"hybrid\" (spin\n"
        "spin_us after the last routed delivery, then park), \"park\" (lowest CPU, a wake-up per\n"
        "burst). Work the clients do not wait for (settling direct deliveries, releases) never "
        "keeps\n"
        "a hybrid or park worker awake. Flag: --idle.");
  w.key("spin_us", num(static_cast<std::uint64_t>(c.spin.count())),
        "hybrid: microseconds a worker spins after its last urgent work before it parks\n"
        "(0..1000000). Flag: --spin-us.");
  w.key("spin_yield_us", num(static_cast<std::uint64_t>(c.spin_yield.count())),
        "hybrid: while spinning, sched_yield() once every this many microseconds (0: never). On\n"
        "Linux 6.6 and later (EEVDF) a worker that yields often can lose its CPU for seconds to\n"
        "clients that spin. Flag: --spin-yield-us.");
  {
    std::string topics = "[";
    for (std::size_t i = 0; i < c.registry.routed_topics.size(); ++i) {
      topics += (i ? ", " : "") + quote(c.registry.routed_topics[i]);
    }
    w.key(
        "routed_topics", topics + "]",
        "Topics whose publishers leave every delivery to the router worker. Every other topic is\n"
        "direct: its publishers push into subscriber queues and wake sleeping subscribers\n"
        "themselves, and the worker settles behind them (docs/router.md). Each entry is a topic\n"
        "\"SERVICE/INSTANCE/EVENT\" or a prefix ending in '*' (\"md/*\", \"*\" for all). Flag: "
        "--routed-topic.");
  }
  w.key(
      "direct_wake_max", num(c.registry.direct_wake_max),
      "On a direct topic with at most this many subscribers (0..64), a publisher wakes a sleeping\n"
      "subscriber itself; on wider topics the worker wakes them, once per pass for many messages\n"
      "(fewer system calls when many subscribers sleep). Flag: --direct-wake-max.");
  w.key("sched_fifo_priority", std::to_string(c.worker_priority),
        "SCHED_FIFO priority 1..99 of every worker; 0: normal scheduling. A spinning FIFO worker\n"
        "never yields its CPU: give it a CPU of its own (cpus, isolcpus).");

  for (std::size_t i = 0; i < c.pools.classes.size(); ++i) {
    w.section("[[pools]]",
              i == 0
                  ? "Chunk pool classes: payload bytes (rounded up to 64) x chunks. A publisher "
                    "loans from\n"
                    "the smallest class holding its max_payload. 1 to 8 classes; they replace the\n"
                    "defaults. Flag: --pool SIZExCOUNT."
                  : "");
    w.key("size", num(c.pools.classes[i].chunk_size));
    w.key("count", num(c.pools.classes[i].count));
  }

  w.section("[publishers]", "Defaults for options a publisher leaves at 0.");
  w.key("max_payload", num(g.default_max_payload),
        "Payload bytes: picks the pool class of its chunks.");
  w.key("max_loans", num(g.default_max_loans),
        "Chunks one publisher may hold (loaned, in flight); at most limits.max_loans.");
  w.key("ring_capacity", num(g.publisher_ring_capacity),
        "Publish ring slots: what a publisher may publish before the router has settled or routed\n"
        "it; past it publish() reports WouldBlock. Flag: --publish-ring.");

  w.section(
      "[subscribers]",
      "Defaults for options a subscriber leaves at 0. The queue policy (drop_oldest,\n"
      "drop_newest, block_publisher) is chosen by each subscriber; the daemon has no default.");
  w.key("queue_capacity", num(g.default_subscriber_capacity),
        "Queue slots (64 B each); at most limits.max_queue_capacity.");
  w.key("max_held", num(g.default_max_held),
        "Samples one subscriber may hold taken at once; at most limits.max_held.");

  w.section("[limits]", "Each refusal is a LimitReached reply naming the limit, and a counter.");
  w.key("max_processes", num(l.max_processes),
        "Registered processes (= heartbeat slots). Flag: --max-processes.");
  w.key("max_publishers_per_process", num(l.max_publishers_per_process),
        "Flag: --max-publishers-per-process.");
  w.key("max_subscribers_per_process", num(l.max_subscribers_per_process),
        "Flag: --max-subscribers-per-process.");
  w.key("max_topics", num(l.max_topics),
        "Distinct service/instance/event topics. Flag: --max-topics.");
  w.key("max_publishers", num(l.max_publishers), "Live publishers daemon-wide (stats slots).");
  w.key("max_subscribers", num(l.max_subscribers), "Live subscribers daemon-wide (stats slots).");
  w.key("max_queue_capacity", num(g.max_subscriber_capacity), "Largest subscriber queue granted.");
  w.key("max_held", num(g.max_held_cap), "Most samples a subscriber may ask to hold.");
  w.key("max_loans", num(g.max_loans_cap), "Most chunks a publisher may ask to hold.");
  w.key("max_history", num(g.max_history),
        "Deepest history (late-joiner replay) a publisher may keep.");
  w.key("max_wake_fds_per_process", num(g.max_wake_fds_per_process),
        "Subscriber eventfds one process is sent so that its publishers wake sleeping subscribers\n"
        "themselves; the router wakes the rest. They count against the client's RLIMIT_NOFILE.");
  w.key("malformed_frames", num(c.control.malformed_frame_limit),
        "Malformed frames one connection may send before it is closed.");
  w.key("idle_connection_ms",
        num(static_cast<std::uint64_t>(c.control.idle_connection_timeout.count())),
        "An unregistered connection silent this long is closed.");

  w.section("[access]",
            "Who may use the daemon: the socket and the segment get this group and mode.");
  w.key("group", quote(c.access.group), "Group name; \"\": the daemon's own group.");
  char mode[16];
  std::snprintf(mode, sizeof(mode), "0o%03o", c.access.mode);
  w.key("mode", mode, "Permission bits (octal); the owner needs read and write.");
  w.note(
      "Per-service allowlists: [[access.allow]] with service (a name, or a prefix ending in\n"
      "'*'), publish_uids, publish_gids, subscribe_uids, subscribe_gids. The most specific entry\n"
      "matching a service decides (exact, longest prefix, then \"*\"); a service no entry matches\n"
      "is open. A refusal is a PermissionDenied reply and the access_denied counter. Example:\n"
      "[[access.allow]]\n"
      "service = \"md.*\"\n"
      "publish_uids = [1001]\n"
      "subscribe_gids = [2000]");
  for (const daemon::ServiceAllowlist& a : c.access.allow) {
    w.section("[[access.allow]]");
    w.key("service", quote(a.service));
    w.key("publish_uids", list(a.publish_uids));
    w.key("publish_gids", list(a.publish_gids));
    w.key("subscribe_uids", list(a.subscribe_uids));
    w.key("subscribe_gids", list(a.subscribe_gids));
  }

  w.section("[memory]", "The shared-memory segment.");
  w.key("queue_arena_mb", num(c.queue_arena_bytes >> 20),
        "MiB for publisher rings and subscriber queues (1..65536). Flag: --queue-arena-mb.");
  w.key("prefault", c.prefault ? "true" : "false",
        "Touch every page at start (MAP_POPULATE): no page faults on the hot path later, at\n"
        "the cost of backing the whole segment in RAM from the start.");
  w.key("mlock", c.mlock ? "true" : "false",
        "Lock the segment in RAM. Needs RLIMIT_MEMLOCK >= the segment size (LimitMEMLOCK=) or\n"
        "CAP_IPC_LOCK; a refusal is logged as a warning and diroute runs on.");
  return w.str();
}

}  // namespace zcp::config
