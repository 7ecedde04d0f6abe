// zcp-top: live view of a diroute instance, read from its shared-memory stats region.
//
//   zcp-top [--instance NAME] [--interval MS]        the ncurses screen (q quits)
//   zcp-top --once [--json] [--interval MS]          one report on stdout, then exit
//
// It maps the instance's segment read-only and never talks to the daemon's socket, so it
// cannot slow the daemon down; a crashed zcp-top harms nothing. --once takes two snapshots
// --interval apart (0: one snapshot, no rates). Exit codes: 0 ok, 1 no daemon or an error
// (message on stderr), 2 bad command line. docs/observability.md describes every field.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/instance.hpp"
#include "stats/format.hpp"
#include "stats/rates.hpp"
#include "stats/snapshot.hpp"
#include "tui.hpp"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "zcp-top: %s\n", what.c_str());
  return 1;
}

int run_once(const std::string& instance, std::chrono::milliseconds interval, bool json) {
  auto seg = zcp::stats::open_instance(instance);
  if (!seg) return fail(seg.error());
  auto first = zcp::stats::take_snapshot(*seg);
  if (!first) return fail(first.error());
  std::optional<zcp::stats::Snapshot> second;
  if (interval.count() > 0) {
    std::this_thread::sleep_for(interval);
    auto s = zcp::stats::take_snapshot(*seg);
    if (!s) return fail(s.error());
    second = std::move(*s);
  }
  const zcp::stats::Snapshot& last = second ? *second : *first;
  zcp::stats::Rates rates =
      second ? zcp::stats::compute_rates(*first, *second) : zcp::stats::totals_only(last);
  if (json) {
    std::cout << zcp::stats::to_json(last, second ? &rates : nullptr).dump() << "\n";
  } else {
    std::cout << zcp::stats::text_tables(last, rates);
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zcp-top: live statistics of a diroute instance, read from shared memory"};
  std::string instance;
  int interval_ms = 500;
  bool once = false;
  bool json = false;
  app.add_option("--instance", instance,
                 "diroute instance (default: $ZCP_INSTANCE, else 'default')");
  app.add_option("--interval", interval_ms,
                 "Milliseconds between refreshes (--once: between its two snapshots)")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  app.add_flag("--once", once, "Print one report and exit (plain tables, or JSON with --json)");
  app.add_flag("--json", json, "With --once: print one JSON object");
  CLI11_PARSE(app, argc, argv);
  if (json && !once) {
    std::fprintf(stderr, "zcp-top: --json needs --once\n");
    return 2;
  }

  auto paths =
      zcp::resolve_instance(instance.empty() ? std::nullopt : std::optional<std::string>(instance));
  if (!paths) return fail("bad instance: " + paths.error());
  if (once) return run_once(paths->instance, std::chrono::milliseconds(interval_ms), json);

  // Fail before taking over the terminal when there is no daemon at all.
  if (auto seg = zcp::stats::open_instance(paths->instance); !seg) return fail(seg.error());
  zcp::top::TuiOptions o;
  o.instance = paths->instance;
  o.interval = std::chrono::milliseconds(std::max(interval_ms, 50));
  return zcp::top::run_tui(o);
}
