// The configuration parser: every error class names file:line:column and the key, "did you
// mean", defaults and overrides, and the round trip to_toml -> parse -> the same config.
#include <string>

#include <gtest/gtest.h>

#include "config/config_file.hpp"
#include "config/estimate.hpp"

namespace zcp::config {
namespace {

using daemon::DaemonConfig;

std::string error_of(const std::string& text) {
  auto r = parse_config(text, "test.toml");
  EXPECT_FALSE(r) << "accepted:\n" << text;
  return r ? std::string() : r.error();
}

void expect_same(const DaemonConfig& a, const DaemonConfig& b) {
  EXPECT_EQ(a.paths.instance, b.paths.instance);
  EXPECT_EQ(a.paths.runtime_dir, b.paths.runtime_dir);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.shutdown_drain, b.shutdown_drain);
  EXPECT_EQ(a.control.heartbeat_interval, b.control.heartbeat_interval);
  EXPECT_EQ(a.control.heartbeat_timeout, b.control.heartbeat_timeout);
  EXPECT_EQ(a.control.idle_connection_timeout, b.control.idle_connection_timeout);
  EXPECT_EQ(a.control.malformed_frame_limit, b.control.malformed_frame_limit);
  EXPECT_EQ(a.reactor_cpu, b.reactor_cpu);
  EXPECT_EQ(a.reactor_priority, b.reactor_priority);
  EXPECT_EQ(a.worker_priority, b.worker_priority);
  EXPECT_EQ(a.registry.workers, b.registry.workers);
  EXPECT_EQ(a.router_cpus, b.router_cpus);
  EXPECT_EQ(a.idle, b.idle);
  EXPECT_EQ(a.spin, b.spin);
  EXPECT_EQ(a.spin_yield, b.spin_yield);
  EXPECT_EQ(a.reactor_busy_poll, b.reactor_busy_poll);
  ASSERT_EQ(a.pools.classes.size(), b.pools.classes.size());
  for (std::size_t i = 0; i < a.pools.classes.size(); ++i) {
    EXPECT_EQ(a.pools.classes[i].chunk_size, b.pools.classes[i].chunk_size);
    EXPECT_EQ(a.pools.classes[i].count, b.pools.classes[i].count);
  }
  const daemon::RegistryConfig &x = a.registry, &y = b.registry;
  EXPECT_EQ(x.default_max_payload, y.default_max_payload);
  EXPECT_EQ(x.default_max_loans, y.default_max_loans);
  EXPECT_EQ(x.publisher_ring_capacity, y.publisher_ring_capacity);
  EXPECT_EQ(x.default_subscriber_capacity, y.default_subscriber_capacity);
  EXPECT_EQ(x.default_max_held, y.default_max_held);
  EXPECT_EQ(x.max_subscriber_capacity, y.max_subscriber_capacity);
  EXPECT_EQ(x.max_held_cap, y.max_held_cap);
  EXPECT_EQ(x.routed_topics, y.routed_topics);
  EXPECT_EQ(x.max_loans_cap, y.max_loans_cap);
  EXPECT_EQ(x.max_history, y.max_history);
  EXPECT_EQ(x.limits.max_processes, y.limits.max_processes);
  EXPECT_EQ(x.limits.max_publishers_per_process, y.limits.max_publishers_per_process);
  EXPECT_EQ(x.limits.max_subscribers_per_process, y.limits.max_subscribers_per_process);
  EXPECT_EQ(x.limits.max_topics, y.limits.max_topics);
  EXPECT_EQ(x.limits.max_publishers, y.limits.max_publishers);
  EXPECT_EQ(x.limits.max_subscribers, y.limits.max_subscribers);
  EXPECT_EQ(a.heartbeat_slots, b.heartbeat_slots);
  EXPECT_EQ(a.access.group, b.access.group);
  EXPECT_EQ(a.access.mode, b.access.mode);
  ASSERT_EQ(a.access.allow.size(), b.access.allow.size());
  for (std::size_t i = 0; i < a.access.allow.size(); ++i) {
    EXPECT_EQ(a.access.allow[i].service, b.access.allow[i].service);
    EXPECT_EQ(a.access.allow[i].publish_uids, b.access.allow[i].publish_uids);
    EXPECT_EQ(a.access.allow[i].publish_gids, b.access.allow[i].publish_gids);
    EXPECT_EQ(a.access.allow[i].subscribe_uids, b.access.allow[i].subscribe_uids);
    EXPECT_EQ(a.access.allow[i].subscribe_gids, b.access.allow[i].subscribe_gids);
  }
  EXPECT_EQ(a.queue_arena_bytes, b.queue_arena_bytes);
  EXPECT_EQ(a.prefault, b.prefault);
  EXPECT_EQ(a.mlock, b.mlock);
}

DaemonConfig everything_changed() {
  DaemonConfig c = default_config();
  c.paths.instance = "md-feed";
  c.paths.runtime_dir = "/run/zcp \"quoted\"";
  c.log_level = "debug";
  c.shutdown_drain = std::chrono::milliseconds(500);
  c.control.heartbeat_interval = std::chrono::milliseconds(100);
  c.control.heartbeat_timeout = std::chrono::milliseconds(900);
  c.control.idle_connection_timeout = std::chrono::milliseconds(4000);
  c.control.malformed_frame_limit = 3;
  c.reactor_cpu = 0;
  c.reactor_priority = 10;
  c.worker_priority = 20;
  c.router_cpus = {0, -1};
  c.registry.workers = 2;
  c.idle = router::IdleStrategy::kSpin;
  c.spin = std::chrono::microseconds(7);
  c.spin_yield = std::chrono::microseconds(3);
  c.reactor_busy_poll = std::chrono::microseconds(0);
  c.pools.classes = {{256, 100}, {64, 50}};
  c.registry.default_max_payload = 200;
  c.registry.default_max_loans = 9;
  c.registry.publisher_ring_capacity = 17;
  c.registry.default_subscriber_capacity = 33;
  c.registry.default_max_held = 5;
  c.registry.max_subscriber_capacity = 1000;
  c.registry.max_held_cap = 50;
  c.registry.routed_topics = {"md/*", "robot/arm/joints"};
  c.registry.max_loans_cap = 60;
  c.registry.max_history = 70;
  c.registry.limits = {12, 13, 14, 15, 16, 17};
  c.heartbeat_slots = 12;
  c.access.mode = 0640;
  c.access.allow = {{"md.*", {1001}, {}, {}, {2000, 2001}}, {"orders", {}, {5}, {6}, {}}};
  c.queue_arena_bytes = 5ULL << 20;
  c.prefault = true;
  c.mlock = true;
  return c;
}

TEST(ConfigParse, EmptyFileIsTheDefaults) {
  auto c = parse_config("", "empty.toml");
  ASSERT_TRUE(c) << c.error();
  expect_same(*c, default_config());
}

TEST(ConfigParse, DefaultsRoundTrip) {
  for (bool comments : {true, false}) {
    std::string text = to_toml(default_config(), TomlStyle{.comments = comments});
    auto c = parse_config(text, "defaults.toml");
    ASSERT_TRUE(c) << c.error() << "\n" << text;
    expect_same(*c, default_config());
    EXPECT_EQ(to_toml(*c, TomlStyle{.comments = comments}), text);
  }
}

TEST(ConfigParse, EveryKeyRoundTrips) {
  const DaemonConfig want = everything_changed();
  ASSERT_EQ(validate(want), std::nullopt);
  for (bool comments : {true, false}) {
    std::string text = to_toml(want, TomlStyle{.comments = comments});
    auto c = parse_config(text, "all.toml");
    ASSERT_TRUE(c) << c.error() << "\n" << text;
    expect_same(*c, want);
  }
}

TEST(ConfigParse, MissingKeysKeepTheBase) {
  DaemonConfig base = default_config();
  base.registry.limits.max_topics = 77;
  auto c = parse_config("[router]\nworkers = 3\n", "partial.toml", base);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->registry.workers, 3U);
  EXPECT_EQ(c->registry.limits.max_topics, 77U)
      << "a key the file leaves out keeps the base's value";
  EXPECT_EQ(c->control.heartbeat_interval, daemon::kDefaultHeartbeatInterval);
  EXPECT_EQ(c->pools.classes.size(), default_config().pools.classes.size());
}

TEST(ConfigParse, PoolsReplaceTheDefaults) {
  auto c = parse_config("[[pools]]\nsize = 4096\ncount = 10\n", "pools.toml");
  ASSERT_TRUE(c) << c.error();
  ASSERT_EQ(c->pools.classes.size(), 1U);
  EXPECT_EQ(c->pools.classes[0].chunk_size, 4096U);
}

TEST(ConfigErrors, UnknownKeySuggestsTheNearest) {
  std::string e = error_of("[router]\nworkers = 1\nidel = \"spin\"\n");
  EXPECT_NE(e.find("test.toml:3:1: router.idel: unknown key (did you mean 'idle'?)"),
            std::string::npos)
      << e;
  e = error_of("[limits]\nmax_topic = 5\n");
  EXPECT_NE(e.find("test.toml:2:1: limits.max_topic: unknown key (did you mean 'max_topics'?)"),
            std::string::npos)
      << e;
  e = error_of("[[pools]]\nsize = 64\ncuont = 3\n");
  EXPECT_NE(e.find("test.toml:3:1: pools.cuont"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'count'?"), std::string::npos) << e;
  e = error_of("[router]\nzzzzzz = 1\n");
  EXPECT_NE(e.find("test.toml:2:1: router.zzzzzz: unknown key"), std::string::npos) << e;
  EXPECT_EQ(e.find("did you mean"), std::string::npos)
      << "no suggestion for a word far from every key: " << e;
}

TEST(ConfigErrors, UnknownSectionAndKeyInTheWrongSection) {
  std::string e = error_of("\n[routr]\nworkers = 1\n");
  EXPECT_NE(e.find("test.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("routr: unknown section (did you mean 'router'?)"), std::string::npos) << e;
  e = error_of("[daemon]\ncpu = 1\n");
  EXPECT_NE(e.find("test.toml:2:1: daemon.cpu: unknown key (it belongs in [reactor])"),
            std::string::npos)
      << e;
}

TEST(ConfigErrors, WrongTypes) {
  std::string e = error_of("[router]\nworkers = \"two\"\n");
  EXPECT_NE(e.find("test.toml:2:1: router.workers: expected an integer, found a string"),
            std::string::npos)
      << e;
  e = error_of("[memory]\nprefault = 1\n");
  EXPECT_NE(e.find("test.toml:2:1: memory.prefault: expected true or false, found an integer"),
            std::string::npos)
      << e;
  e = error_of("[router]\ncpus = [0, \"1\"]\n");
  EXPECT_NE(e.find("test.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("router.cpus: expected integers, found a string"), std::string::npos) << e;
  e = error_of("router = 3\n");
  EXPECT_NE(e.find("test.toml:1:1: router: expected a table [router], found an integer"),
            std::string::npos)
      << e;
  e = error_of("[pools]\nsize = 64\n");
  EXPECT_NE(e.find("test.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("pools: expected an array of tables ([[pools]])"), std::string::npos) << e;
}

TEST(ConfigErrors, OutOfRange) {
  std::string e = error_of("[heartbeat]\ninterval_ms = 5\n");
  EXPECT_NE(e.find("test.toml:2:1: heartbeat.interval_ms: 5 is out of range 10..60000"),
            std::string::npos)
      << e;
  e = error_of("[router]\nworkers = 0\n");
  EXPECT_NE(e.find("test.toml:2:1: router.workers: 0 is out of range 1.." +
                   std::to_string(router::kMaxWorkers)),
            std::string::npos)
      << e;
  e = error_of("[router]\nidle = \"busy\"\n");
  EXPECT_NE(e.find("test.toml:2:1: router.idle: 'busy' is not one of spin, hybrid, park"),
            std::string::npos)
      << e;
  e = error_of("[router]\nspin_yield_us = 2000000\n");
  EXPECT_NE(e.find("test.toml:2:1: router.spin_yield_us: 2000000 is out of range 0..1000000"),
            std::string::npos)
      << e;
  e = error_of("[router]\nrouted_topics = [\"md/*\", \"a*b\"]\n");
  EXPECT_NE(e.find("router.routed_topics: 'a*b': '*' may only end a pattern"), std::string::npos)
      << e;
  e = error_of("[router]\nrouted_topics = [\"a/b\"]\n");
  EXPECT_NE(e.find("router.routed_topics: 'a/b': expected SERVICE/INSTANCE/EVENT"),
            std::string::npos)
      << e;
  e = error_of("[router]\nrouted_topics = \"md/*\"\n");
  EXPECT_NE(e.find("router.routed_topics: expected an array of strings"), std::string::npos) << e;
  e = error_of("[reactor]\nsched_fifo_priority = 100\n");
  EXPECT_NE(e.find("reactor.sched_fifo_priority: 100 is out of range 0..99"), std::string::npos)
      << e;
  e = error_of("[daemon]\ninstance = \"no/slash\"\n");
  EXPECT_NE(e.find("test.toml:2:1: daemon.instance: "), std::string::npos) << e;
  e = error_of("[daemon]\nruntime_dir = \"relative\"\n");
  EXPECT_NE(e.find("daemon.runtime_dir: 'relative' is not an absolute path"), std::string::npos)
      << e;
  e = error_of("[access]\nmode = 0o060\n");
  EXPECT_NE(e.find("test.toml:2:1: access.mode: must give the owner read and write"),
            std::string::npos)
      << e;
}

TEST(ConfigErrors, CpusThatDoNotExist) {
  std::string e = error_of("[reactor]\ncpu = 1000\n");
  EXPECT_NE(e.find("test.toml:2:1: reactor.cpu: CPU 1000 does not exist"), std::string::npos) << e;
  EXPECT_NE(e.find("allowed here: "), std::string::npos) << e;
  e = error_of("[router]\nidle = \"spin\"\ncpus = [0, 1000]\n");
  EXPECT_NE(e.find("test.toml:3:1: router.cpus: CPU 1000 does not exist"), std::string::npos) << e;
  EXPECT_EQ(cpu_problem(0), std::nullopt) << "CPU 0 always exists";
}

TEST(ConfigErrors, RelationsPointAtTheKeyInTheFile) {
  std::string e = error_of("[heartbeat]\n\ninterval_ms = 5000\n");
  EXPECT_NE(
      e.find("test.toml:3:1: heartbeat.interval_ms: heartbeat.timeout_ms (3000) must be longer"),
      std::string::npos)
      << e;
  e = error_of("[subscribers]\nqueue_capacity = 500\n[limits]\nmax_queue_capacity = 100\n");
  EXPECT_NE(e.find("test.toml:2:1: subscribers.queue_capacity: "), std::string::npos) << e;
  EXPECT_NE(e.find("(500) exceeds limits.max_queue_capacity (100)"), std::string::npos) << e;
  e = error_of("[router]\nworkers = 3\ncpus = [0]\n");
  EXPECT_NE(e.find("test.toml:2:1: router.workers: 3 disagrees with router.cpus"),
            std::string::npos)
      << e;
  e = error_of("[[pools]]\nsize = 100\ncount = 1\n[[pools]]\nsize = 128\ncount = 1\n");
  EXPECT_NE(e.find("test.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find(": pools: "), std::string::npos) << e;
  EXPECT_NE(e.find("same chunk size 128"), std::string::npos) << e;
  e = error_of("[[pools]]\nsize = 64\n");
  EXPECT_NE(e.find("test.toml:1:1: pools.count: missing"), std::string::npos) << e;
}

TEST(ConfigErrors, AccessIsValidated) {
  std::string e = error_of("[access]\ngroup = \"no-such-group-zcp\"\n");
  EXPECT_NE(e.find("test.toml:2:1: access.group: no group named 'no-such-group-zcp'"),
            std::string::npos)
      << e;
  e = error_of("[[access.allow]]\nservice = \"md*x\"\n");
  EXPECT_NE(e.find("test.toml:2:1: access.allow.service: 'md*x': '*' may only end the name"),
            std::string::npos)
      << e;
  e = error_of("[[access.allow]]\npublish_uids = [1]\n");
  EXPECT_NE(e.find("test.toml:1:1: access.allow.service: missing"), std::string::npos) << e;
  e = error_of("[[access.allow]]\nservice = \"md\"\npublish_uid = [1]\n");
  EXPECT_NE(
      e.find("test.toml:3:1: access.allow.publish_uid: unknown key (did you mean 'publish_uids'?)"),
      std::string::npos)
      << e;
  auto ok = parse_config("[access]\ngroup = \"root\"\n", "test.toml");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->access.gid, 0U);
}

TEST(ConfigErrors, SyntaxErrorsNameTheLine) {
  std::string e = error_of("[router]\nworkers = \n");
  EXPECT_NE(e.find("test.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("TOML syntax error"), std::string::npos) << e;
}

TEST(ConfigFile, MissingFileNamesThePath) {
  auto r = load_config_file("/nonexistent/zcp.toml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("/nonexistent/zcp.toml: cannot open"), std::string::npos) << r.error();
}

TEST(ConfigPaths, RuntimeDirFromTheFile) {
  DaemonConfig c = default_config();
  c.paths.instance = "from-file";
  c.paths.runtime_dir = "/run/zcp-test";
  auto p = resolve_paths(c);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->socket_path, "/run/zcp-test/from-file.sock");
  auto q = resolve_paths(c, std::string("from-cli"));
  ASSERT_TRUE(q) << q.error();
  EXPECT_EQ(q->instance, "from-cli") << "the command line wins over the file";
  c.paths.runtime_dir = "/" + std::string(120, 'd');
  EXPECT_FALSE(resolve_paths(c));
}

TEST(ConfigEstimate, SegmentAndWorstCase) {
  DaemonConfig c = default_config();
  auto e = estimate_memory(c);
  ASSERT_TRUE(e) << e.error();
  shm::SegmentConfig seg = segment_config(c);
  auto plan = shm::plan_segment(seg);
  ASSERT_TRUE(plan);
  EXPECT_EQ(e->plan.total_size, plan->total_size);
  ASSERT_EQ(e->classes.size(), 3U);
  EXPECT_EQ(e->classes[0].chunk_size, 128U);
  EXPECT_EQ(e->classes[0].chunk_bytes, 128U + 64U);
  EXPECT_EQ(e->classes[0].subscriber_chunks, 256U + 16U) << "queue capacity + max held";
  EXPECT_EQ(e->classes[0].publisher_chunks, 1024U + 512U) << "max_loans + the publish ring";
  EXPECT_EQ(e->classes[0].stalled_subscribers, (16384U - 1536U) / 272U);
  EXPECT_EQ(e->subscriber_arena_bytes, 32768U + 16384U)
      << "buddy blocks: 256 x 64 B + header, (272 + 1024) x 12 B + header";
  EXPECT_EQ(e->publisher_arena_bytes, 32768U + 16384U)
      << "buddy blocks: 512 x 32 B + header, 1024 x 12 B + header";
  std::string text = describe(*e, c);
  EXPECT_NE(text.find("chunk pool"), std::string::npos) << text;
  EXPECT_NE(text.find("worst case per topic"), std::string::npos) << text;
}

}  // namespace
}  // namespace zcp::config
