// zcp: the zerocp command-line client.
//
//   zcp pub SERVICE/INSTANCE/EVENT     publishes each stdin line as one payload (no newline)
//   zcp echo SERVICE/INSTANCE/EVENT [--count N] [--format text|hex|json]
//                                      prints each received payload as one line
//   zcp ls [--interval MS]             topics: publishers, subscribers, msgs/s, drops
//   zcp info                           daemon, segment, memory per region, pools, config
//   zcp metrics                        every counter, Prometheus text exposition format
//
// pub and echo talk to diroute; ls, info and metrics only map the instance's segment
// read-only (as zcp-top does). stdout carries payloads or reports only; every diagnostic
// goes to stderr. Exit code 0 on success (EOF for pub; N payloads, or SIGINT/SIGTERM, for
// echo), 1 on any error (no daemon included), 2 on a bad command line.
#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace {

constexpr const char* kInstanceHelp = "diroute instance (default: $ZCP_INSTANCE, else 'default')";

void add_inspect(CLI::App* cmd, zcp::cli::InspectArgs& a) {
  cmd->add_option("--instance", a.instance, kInstanceHelp);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zcp::cli;
  CLI::App app{"zcp: the zerocp command-line client"};
  app.require_subcommand(1);

  PubArgs pa;
  auto* pub =
      app.add_subcommand("pub", "Publish each stdin line as one payload (without its newline)");
  pub->add_option("topic", pa.topic, "SERVICE/INSTANCE/EVENT")->required();
  pub->add_option("--instance", pa.instance, kInstanceHelp);
  pub->add_option("--max-payload", pa.max_payload, "Longest line in bytes (picks the pool class)")
      ->capture_default_str();
  pub->add_option("--wait-subscribers", pa.wait_subscribers,
                  "Wait until the topic has this many subscribers before the first line")
      ->capture_default_str();
  pub->add_option("--history", pa.history,
                  "Keep the last N payloads for late subscribers (zcp echo --history)");
  pub->add_option(
         "--timeout", pa.timeout_s,
         "Seconds to wait for subscribers, or for room when subscribers hold the publisher back")
      ->capture_default_str();

  EchoArgs ea;
  auto* echo = app.add_subcommand("echo", "Print each received payload as one line");
  echo->add_option("topic", ea.topic, "SERVICE/INSTANCE/EVENT")->required();
  echo->add_option("--count", ea.count, "Exit after this many payloads (0: until interrupted)");
  echo->add_option("--instance", ea.instance, kInstanceHelp);
  echo->add_option("--policy", ea.policy, "Queue policy when this subscriber falls behind")
      ->check(CLI::IsMember({"drop_oldest", "drop_newest", "block_publisher"}))
      ->capture_default_str();
  echo->add_option("--queue-capacity", ea.queue_capacity,
                   "Queue capacity (0: the daemon's default)");
  echo->add_option("--history", ea.history, "Past payloads wanted first (publishers' history)");
  echo->add_option(
          "--format", ea.format,
          "text: the payload as is; hex: the payload's bytes in hex; json: one object per message "
          "with sequence, publisher_id, timestamp_ns, size and the payload as text (printable "
          "UTF-8) or base64")
      ->check(CLI::IsMember({"text", "hex", "json"}))
      ->capture_default_str();

  InspectArgs la;
  auto* ls =
      app.add_subcommand("ls", "List topics with their publisher and subscriber counts and rates");
  add_inspect(ls, la);
  ls->add_option("--interval", la.interval_ms,
                 "Milliseconds between the two snapshots the rates come from")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  ls->add_flag("--json", la.json, "Print the JSON object of zcp-top --once --json");

  InspectArgs ia;
  auto* info = app.add_subcommand(
      "info", "Show the daemon, its segment, memory per region, pools and config");
  add_inspect(info, ia);
  info->add_flag("--json", ia.json,
                 "Print the JSON object of zcp-top --once --json (with the config text)");

  InspectArgs ma;
  auto* metrics =
      app.add_subcommand("metrics", "Print every counter in Prometheus text exposition format");
  add_inspect(metrics, ma);

  CLI11_PARSE(app, argc, argv);
  install_signals();
  if (pub->parsed()) return run_pub(pa);
  if (echo->parsed()) return run_echo(ea);
  if (ls->parsed()) return run_ls(la);
  if (info->parsed()) return run_info(ia);
  return run_metrics(ma);
}
