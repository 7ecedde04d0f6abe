// zcp-perf: zerocp's benchmarks, end to end through a real diroute and real processes.
//
//   zcp-perf latency    --payload 64 --mode poll|wait --count N [--warmup N] [--cpu-ping C]
//   [--cpu-pong C] zcp-perf throughput --payload 64 --subscribers N --mode poll|wait
//                       --policy drop_oldest|drop_newest|block_publisher --duration S [--touch]
//                       [--runs R]
//   zcp-perf control    [--subscribers 1000] [--connects 200]
//
// Each takes --instance NAME (a running daemon; else a private one is started and removed)
// and --json (one JSON object per scenario on stdout; diagnostics go to stderr).
// docs/performance.md explains every field. Exit codes: 0 ok, 1 the benchmark failed,
// 2 bad command line.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon.hpp"
#include "scenarios.hpp"

namespace {

using namespace zcp::perf;

struct Common {
  std::string instance;
  bool json = false;
  int router_cpu = -1;
  std::string idle;
  std::string daemon_log = "warn";
  std::vector<std::string> daemon_args;
  std::string delivery = "direct";
};

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("--instance", c.instance,
                  "Use the running diroute of this instance. Without it, zcp-perf starts a private "
                  "diroute (the one next to this binary) on instance perf-<pid> with a private "
                  "ZCP_RUNTIME_DIR, and removes it at the end");
  cmd->add_flag("--json", c.json, "Print one JSON object for the scenario on stdout (one line)");
  cmd->add_option(
      "--router-cpu", c.router_cpu,
      "Private daemon only: pin its router worker to this CPU (if diroute offers a flag for it)");
  cmd->add_option("--idle", c.idle, "Private daemon only: the router worker's idle strategy")
      ->check(CLI::IsMember({"spin", "hybrid", "park"}));
  cmd->add_option("--daemon-log-level", c.daemon_log, "Private daemon only: its --log-level")
      ->capture_default_str();
  cmd->add_option("--daemon-arg", c.daemon_args,
                  "Private daemon only: one more diroute argument, passed as is (repeatable; "
                  "e.g. --daemon-arg=--spin-us --daemon-arg=20)")
      ->allow_extra_args(false);
  cmd->add_option(
         "--delivery", c.delivery,
         "Private daemon only: direct (publishers push into subscriber queues themselves, "
         "diroute's default) or routed (through the router worker: diroute --routed-topic "
         "for zcp-perf's topics). With --instance, the daemon's [router] routed_topics decides")
      ->check(CLI::IsMember({"routed", "direct"}))
      ->capture_default_str();
}

const std::map<std::string, Mode> kModes{{"poll", Mode::kPoll}, {"wait", Mode::kWait}};

constexpr const char* kThroughputFields =
    "Fields (also in --json): sent = messages published; received and dropped = summed over the "
    "subscribers (dropped: Subscriber::dropped(), the queue policy's count); msgs_per_s = received "
    "/ "
    "seconds, the total deliveries per second of the fan-out; publish_msgs_per_s = sent / seconds; "
    "gb_per_s = msgs_per_s x payload (bytes delivered; only --touch makes every byte written and "
    "read); "
    "min/max_sub_msgs_per_s = per-subscriber received / seconds. seconds is the publisher's "
    "measured "
    "window. The report is the median run by msgs_per_s; runs lists every run's msgs_per_s.";

constexpr const char* kPollYieldHelp =
    "poll mode: call sched_yield() after this many empty take() calls in a row (0: spin only). "
    "On a 2-CPU host two spinning clients starve the router worker; a yield hands it the CPU";

int run(const Common& c, DaemonOptions dopt, const std::vector<std::pair<const char*, int>>& cpus,
        const std::function<Status<Json>(const DaemonSession&, const Environment&)>& body) {
  for (const auto& [name, cpu] : cpus) {
    if (auto ok = check_cpu(name, cpu); !ok) {
      std::fprintf(stderr, "zcp-perf: %s\n", ok.error().c_str());
      return 2;
    }
  }
  if (!c.instance.empty() && c.delivery == "routed") {
    std::fprintf(stderr,
                 "zcp-perf: --delivery routed configures the private daemon; with --instance, list "
                 "zcp-perf/* in that daemon's [router] routed_topics instead\n");
    return 2;
  }
  if (!c.instance.empty() && !c.daemon_args.empty()) {
    std::fprintf(
        stderr,
        "zcp-perf: --daemon-arg configures the private daemon; it cannot go with --instance\n");
    return 2;
  }
  dopt.instance = c.instance;
  dopt.router_cpu = c.router_cpu;
  dopt.idle = c.idle;
  dopt.log_level = c.daemon_log;
  dopt.extra_args.insert(dopt.extra_args.end(), c.daemon_args.begin(), c.daemon_args.end());
  if (c.delivery == "routed") dopt.extra_args.emplace_back("--routed-topic=zcp-perf/*");
  auto session = DaemonSession::open(dopt);
  if (!session) {
    std::fprintf(stderr, "zcp-perf: %s\n", session.error().c_str());
    return 1;
  }
  Environment env{(*session)->describe(),
                  load_average(),
                  "",
                  allowed_cpus(),
                  c.router_cpu,
                  c.idle,
                  dopt.extra_args,
                  c.instance.empty() ? c.delivery : "daemon's config"};
  auto result = body(**session, env);
  int rc = 0;
  if (!(*session)->alive()) {
    std::fprintf(stderr, "zcp-perf: the private diroute died during the run; results discarded\n");
    rc = 1;
  } else if (!result) {
    std::fprintf(stderr, "zcp-perf: %s\n", result.error().c_str());
    rc = 1;
  } else if (c.json) {
    std::cout << result->dump() << std::endl;
  }
  if (auto ok = (*session)->stop(); !ok)
    std::fprintf(stderr, "zcp-perf: clean-up: %s\n", ok.error().c_str());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  install_signal_handlers();
  CLI::App app{
      "zcp-perf: zerocp benchmarks (latency, throughput, control plane) through a real diroute"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 the benchmark failed, 2 bad command line. See docs/performance.md.");

  // ---- latency
  Common lc;
  LatencyOptions lo;
  std::string lmode = "poll";
  auto* lat =
      app.add_subcommand("latency", "Ping-pong between two processes; one-way = round trip / 2");
  add_common(lat, lc);
  lat->add_option("--payload", lo.payload, "Payload bytes")->capture_default_str();
  lat->add_option("--mode", lmode, "poll: spin on take(); wait: sleep in wait() (eventfd)")
      ->check(CLI::IsMember({"poll", "wait"}))
      ->capture_default_str();
  lat->add_option("--count", lo.count, "Measured round trips")
      ->check(CLI::Range(1ULL, 1ULL << 40))
      ->capture_default_str();
  lat->add_option("--warmup", lo.warmup, "Round trips before measuring")->capture_default_str();
  lat->add_option("--cpu-ping", lo.cpu_ping, "Pin the ping process to this CPU (-1: no pin)")
      ->capture_default_str();
  lat->add_option("--cpu-pong", lo.cpu_pong, "Pin the pong process to this CPU (-1: no pin)")
      ->capture_default_str();
  lat->add_option("--poll-yield", lo.poll_yield, kPollYieldHelp)->capture_default_str();
  lat->add_option("--timeout", lo.timeout_s, "Give up after this many seconds")
      ->capture_default_str();

  // ---- throughput
  Common tc;
  ThroughputOptions to;
  std::string tmode = "poll", tpolicy = "block_publisher";
  auto* tp = app.add_subcommand("throughput",
                                "1 publisher process to N subscriber processes, for a duration");
  tp->footer(kThroughputFields);
  add_common(tp, tc);
  tp->add_option("--payload", to.payload, "Payload bytes")->capture_default_str();
  tp->add_option("--subscribers", to.subscribers, "Subscriber processes")
      ->check(CLI::Range(1U, 1024U))
      ->capture_default_str();
  tp->add_flag(
      "--latency", to.latency,
      "Subscribers also record each measured message's publish-to-take latency (the publish "
      "timestamp libzcp puts in every sample; one clock read per message)");
  tp->add_option("--mode", tmode, "Subscribers: poll (spin on take()) or wait (sleep in wait())")
      ->check(CLI::IsMember({"poll", "wait"}))
      ->capture_default_str();
  tp->add_option("--policy", tpolicy, "The subscribers' queue-full policy")
      ->check(CLI::IsMember({"drop_oldest", "drop_newest", "block_publisher"}))
      ->capture_default_str();
  tp->add_option("--duration", to.duration_s, "Seconds of publishing per run")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  tp->add_option(
        "--warmup", to.warmup,
        "Messages published before the timed window; subscribers check but do not count them")
      ->capture_default_str();
  tp->add_flag("--touch", to.touch,
               "The publisher writes the whole payload and subscribers read and check all of it "
               "(else only the first 16 bytes are written, and none read)");
  tp->add_option("--runs", to.runs, "Runs; the median is reported")
      ->check(CLI::Range(1U, 100U))
      ->capture_default_str();
  tp->add_option("--queue-capacity", to.queue_capacity,
                 "Subscriber queue capacity (0: the daemon's default)")
      ->capture_default_str();
  tp->add_option("--poll-yield", to.poll_yield, kPollYieldHelp)->capture_default_str();
  tp->add_option("--cpu-pub", to.cpu_pub, "Pin the publisher to this CPU (-1: no pin)")
      ->capture_default_str();
  tp->add_option("--cpu-subs", to.cpu_subs,
                 "Pin subscribers round-robin to these CPUs (comma list)")
      ->delimiter(',');

  // ---- control
  Common cc;
  ControlOptions co;
  auto* ctl = app.add_subcommand("control",
                                 "Control-plane round trips: connect/register, create subscribers");
  add_common(ctl, cc);
  ctl->add_option("--subscribers", co.subscribers, "Subscribers created on one runtime")
      ->check(CLI::Range(1U, 1U << 20))
      ->capture_default_str();
  ctl->add_option("--connects", co.connects, "Timed Runtime::connect calls")
      ->check(CLI::Range(1U, 1U << 20))
      ->capture_default_str();
  ctl->add_option("--timeout", co.timeout_s, "Give up after this many seconds")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (lat->parsed()) {
    lo.mode = kModes.at(lmode);
    return run(
        lc, {},
        {{"--cpu-ping", lo.cpu_ping}, {"--cpu-pong", lo.cpu_pong}, {"--router-cpu", lc.router_cpu}},
        [&](const DaemonSession& d, Environment env) -> Status<Json> {
          auto r = run_latency(d, lo);
          if (!r) return Failure(r.error());
          env.load_after = load_average();
          if (!lc.json) print_table(lo, *r, env);
          auto j = to_json(lo, *r);
          add_environment(j, env);
          return j;
        });
  }
  if (tp->parsed()) {
    to.mode = kModes.at(tmode);
    to.policy = *zcp::queue_policy_from_string(tpolicy);
    std::vector<std::pair<const char*, int>> cpus{{"--cpu-pub", to.cpu_pub},
                                                  {"--router-cpu", tc.router_cpu}};
    for (int c : to.cpu_subs)
      cpus.emplace_back("--cpu-subs", c);
    return run(tc, {}, cpus, [&](const DaemonSession& d, Environment env) -> Status<Json> {
      auto r = run_throughput(d, to);
      if (!r) return Failure(r.error());
      env.load_after = load_average();
      if (!tc.json) print_table(to, *r, env);
      auto j = to_json(to, *r);
      add_environment(j, env);
      return j;
    });
  }
  DaemonOptions dopt;
  if (co.subscribers > 1024) {
    // The private daemon's defaults allow 1024 subscribers per process, 64 MiB of queues.
    dopt.extra_args = {"--max-subscribers-per-process", std::to_string(co.subscribers),
                       "--queue-arena-mb", std::to_string(std::max(64U, co.subscribers / 16 + 16))};
  }
  return run(cc, dopt, {{"--router-cpu", cc.router_cpu}},
             [&](const DaemonSession& d, Environment env) -> Status<Json> {
               auto r = run_control(d, co);
               if (!r) return Failure(r.error());
               env.load_after = load_average();
               if (!cc.json) print_table(co, *r, env);
               auto j = to_json(co, *r);
               add_environment(j, env);
               return j;
             });
}
