// zcp ls, zcp info, zcp metrics: reports read from the instance's stats region, like
// zcp-top: the segment is mapped read-only and the daemon is never asked anything.
#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "common/instance.hpp"
#include "stats/format.hpp"
#include "stats/rates.hpp"
#include "stats/snapshot.hpp"

namespace zcp::cli {
namespace {

struct Opened {
  InstancePaths paths;
  shm::Segment segment;
};

// The instance's paths and segment; an error names the instance and why.
std::optional<Opened> open(const std::string& instance, std::string& error) {
  auto paths =
      resolve_instance(instance.empty() ? std::nullopt : std::optional<std::string>(instance));
  if (!paths) {
    error = "bad instance: " + paths.error();
    return std::nullopt;
  }
  auto seg = stats::open_instance(paths->instance);
  if (!seg) {
    error = seg.error();
    return std::nullopt;
  }
  return Opened{std::move(*paths), std::move(*seg)};
}

int print(const std::string& text) {
  std::cout << text;
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace

int run_ls(const InspectArgs& a) {
  std::string err;
  auto o = open(a.instance, err);
  if (!o) return fail(err);
  auto first = stats::take_snapshot(o->segment);
  if (!first) return fail(first.error());
  std::optional<stats::Snapshot> second;
  if (a.interval_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
    if (stop_requested()) return 1;
    auto s = stats::take_snapshot(o->segment);
    if (!s) return fail(s.error());
    second = std::move(*s);
  }
  const stats::Snapshot& last = second ? *second : *first;
  stats::Rates rates = second ? stats::compute_rates(*first, *second) : stats::totals_only(last);
  if (a.json) return print(stats::to_json(last, second ? &rates : nullptr).dump() + "\n");
  return print(stats::topics_table(last, rates));
}

int run_info(const InspectArgs& a) {
  std::string err;
  auto o = open(a.instance, err);
  if (!o) return fail(err);
  auto s = stats::take_snapshot(o->segment);
  if (!s) return fail(s.error());
  if (a.json) {
    nlohmann::json j = stats::to_json(*s);
    j["daemon"]["socket"] = o->paths.socket_path;
    j["daemon"]["config"] = s->daemon.config_text;
    return print(j.dump() + "\n");
  }
  return print(stats::info_text(*s, o->paths.socket_path));
}

int run_metrics(const InspectArgs& a) {
  std::string err;
  auto o = open(a.instance, err);
  if (!o) return fail(err);
  auto s = stats::take_snapshot(o->segment);
  if (!s) return fail(s.error());
  return print(stats::to_prometheus(*s));
}

}  // namespace zcp::cli
