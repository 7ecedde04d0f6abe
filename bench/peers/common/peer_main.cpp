// The peers' command line: zcp-perf's `latency` and `throughput` subcommands with the same
// option names, plus the transport's own. --json prints one JSON object (one line) per
// scenario on stdout, with zcp-perf's field names plus "transport"; otherwise a short table.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "peer_bench.hpp"

namespace zcp::peers {

namespace {

double us(const Json& j, const char* f) {
  return j.value(f, 0.0) / 1000.0;
}

void print_latency(const Json& j) {
  std::printf("%s latency: %s mode, %u B, %llu samples; one-way = round trip / 2; load %s -> %s\n",
              j["transport"].get<std::string>().c_str(), j["mode"].get<std::string>().c_str(),
              j["payload"].get<unsigned>(), j["samples"].get<unsigned long long>(),
              j["load_before"].get<std::string>().c_str(),
              j["load_after"].get<std::string>().c_str());
  std::printf("  %10s %10s %10s %10s %10s %10s %10s\n", "min", "p50", "p90", "p99", "p99.9", "max",
              "mean");
  std::printf("  %8.2fus %8.2fus %8.2fus %8.2fus %8.2fus %8.2fus %8.2fus\n", us(j, "min_ns"),
              us(j, "p50_ns"), us(j, "p90_ns"), us(j, "p99_ns"), us(j, "p999_ns"), us(j, "max_ns"),
              us(j, "mean_ns"));
}

void print_throughput(const Json& j) {
  std::printf("%s throughput: 1 -> %u subscriber(s), %u B%s, %s mode, %s; load %s -> %s\n",
              j["transport"].get<std::string>().c_str(), j["subscribers"].get<unsigned>(),
              j["payload"].get<unsigned>(), j["touch"].get<bool>() ? " (touched)" : "",
              j["mode"].get<std::string>().c_str(), j["policy"].get<std::string>().c_str(),
              j["load_before"].get<std::string>().c_str(),
              j["load_after"].get<std::string>().c_str());
  std::printf("  %7s %11s %11s %9s %11s %11s %7s %11s %11s\n", "seconds", "sent", "received",
              "dropped", "deliv/s", "publish/s", "GB/s", "min sub/s", "max sub/s");
  std::printf("  %7.3f %11llu %11llu %9llu %11.0f %11.0f %7.3f %11.0f %11.0f\n",
              j["seconds"].get<double>(), j["sent"].get<unsigned long long>(),
              j["received"].get<unsigned long long>(), j["dropped"].get<unsigned long long>(),
              j["msgs_per_s"].get<double>(), j["publish_msgs_per_s"].get<double>(),
              j["gb_per_s"].get<double>(), j["min_sub_msgs_per_s"].get<double>(),
              j["max_sub_msgs_per_s"].get<double>());
  std::printf("  runs (deliveries/s): %s\n", j["runs"].dump().c_str());
  if (j["policy"] == "block_publisher" &&
      j["received"].get<unsigned long long>() !=
          j["sent"].get<unsigned long long>() * j["subscribers"].get<unsigned>()) {
    std::printf("  WARNING: a lossless run lost deliveries\n");
  }
  if (j["reordered"].get<unsigned long long>() + j["corrupt"].get<unsigned long long>() != 0) {
    std::printf("  WARNING: reordered or corrupt messages\n");
  }
}

Mode parse_mode(const std::string& s) {
  return s == "wait" ? Mode::kWait : Mode::kPoll;
}

}  // namespace

int peer_main(int argc, char** argv, Transport& transport) {
  CLI::App app{transport.name() +
               " peer of zcp-perf: the same latency and throughput scenarios over " +
               transport.name()};
  app.require_subcommand(1);
  bool json = false;
  const auto modes = CLI::IsMember({"poll", "wait"});

  LatencyOptions lo;
  std::string lmode = "poll";
  auto* lat =
      app.add_subcommand("latency", "Ping-pong between two processes; one-way = round trip / 2");
  lat->add_option("--payload", lo.payload, "Payload bytes")->capture_default_str();
  lat->add_option("--mode", lmode, "poll: spin on take(); wait: sleep until data")
      ->check(modes)
      ->capture_default_str();
  lat->add_option("--count", lo.count, "Measured round trips")
      ->check(CLI::Range(1ULL, 1ULL << 40))
      ->capture_default_str();
  lat->add_option("--warmup", lo.warmup, "Round trips before measuring")->capture_default_str();
  lat->add_option("--cpu-ping", lo.cpu_ping, "Pin the ping process to this CPU (-1: no pin)")
      ->capture_default_str();
  lat->add_option("--cpu-pong", lo.cpu_pong, "Pin the pong process to this CPU (-1: no pin)")
      ->capture_default_str();
  lat->add_option("--timeout", lo.timeout_s, "Give up after this many seconds")
      ->capture_default_str();
  lat->add_flag("--json", json, "One JSON object on stdout");
  transport.add_options(*lat);

  ThroughputOptions to;
  std::string tmode = "poll", tpolicy = "block_publisher";
  auto* tp = app.add_subcommand("throughput",
                                "1 publisher process to N subscriber processes, for a duration");
  tp->add_option("--payload", to.payload, "Payload bytes")->capture_default_str();
  tp->add_option("--subscribers", to.subscribers, "Subscriber processes")
      ->check(CLI::Range(1U, 256U))
      ->capture_default_str();
  tp->add_option("--mode", tmode, "Subscribers: poll (spin) or wait (sleep until data)")
      ->check(modes)
      ->capture_default_str();
  tp->add_option("--policy", tpolicy, "block_publisher (lossless) or a lossy policy")
      ->check(CLI::IsMember({"drop_oldest", "drop_newest", "block_publisher"}))
      ->capture_default_str();
  tp->add_option("--duration", to.duration_s, "Seconds of publishing per run")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  tp->add_option("--warmup", to.warmup, "Messages before the timed window")->capture_default_str();
  tp->add_flag("--touch", to.touch,
               "The publisher writes the whole payload; subscribers read and check it");
  tp->add_option("--runs", to.runs, "Runs; the median is reported")
      ->check(CLI::Range(1U, 100U))
      ->capture_default_str();
  tp->add_option("--queue-capacity", to.queue_capacity, "Subscriber queue capacity")
      ->capture_default_str();
  tp->add_option("--cpu-pub", to.cpu_pub, "Pin the publisher to this CPU (-1: no pin)")
      ->capture_default_str();
  tp->add_option("--cpu-subs", to.cpu_subs, "Pin subscribers round-robin to these CPUs")
      ->delimiter(',');
  tp->add_flag("--json", json, "One JSON object on stdout");
  transport.add_options(*tp);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  for (int cpu : {lo.cpu_ping, lo.cpu_pong, to.cpu_pub}) {
    if (auto ok = perf::check_cpu("--cpu-*", cpu); !ok) {
      std::fprintf(stderr, "%s\n", ok.error().c_str());
      return 2;
    }
  }
  perf::install_signal_handlers();
  Status<Json> result = Failure("no scenario");
  if (lat->parsed()) {
    lo.mode = parse_mode(lmode);
    result = run_latency(transport, lo);
  } else {
    to.mode = parse_mode(tmode);
    to.policy = tpolicy == "drop_oldest"   ? Policy::kDropOldest
                : tpolicy == "drop_newest" ? Policy::kDropNewest
                                           : Policy::kBlockPublisher;
    result = run_throughput(transport, to);
  }
  if (!result) {
    std::fprintf(stderr, "%s: %s\n", transport.name().c_str(), result.error().c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", result->dump().c_str());
  } else if (lat->parsed()) {
    print_latency(*result);
  } else {
    print_throughput(*result);
  }
  return 0;
}

}  // namespace zcp::peers
