// zcp-perf control: the control plane's round trips, in one forked client process.
//  - Runtime::connect, `connects` times: connect, Hello and RegisterProcess round trips,
//    mapping the segment, starting the runtime's thread. The Runtime is destroyed (unregister)
//    outside the timed part.
//  - `subscribers` Subscriber::create on one topic from one runtime, then destroying them all.
#include <cstdio>
#include <optional>
#include <vector>

#include <unistd.h>

#include "client_util.hpp"
#include "scenarios.hpp"

namespace zcp::perf {

namespace {

using Clock = std::chrono::steady_clock;

struct ControlShared {
  ErrorSlot error;
  Histogram connect_ns;
  double create_ms = 0;
  double destroy_ms = 0;
};

int control_main(const std::string& instance, const ControlOptions& o, ControlShared& sh) {
  Histogram h;
  // One untimed connect first: the daemon's and our own first-use costs are not the point.
  for (std::uint32_t i = 0; i <= o.connects; ++i) {
    if (stop_requested()) return sh.error.put("interrupted"), 1;
    const std::uint64_t t0 = now_ns();
    auto rt = connect_runtime("control", instance);
    const std::uint64_t t1 = now_ns();
    if (!rt) return sh.error.put("connect " + std::to_string(i) + ": " + rt.error()), 1;
    if (i > 0) h.record(t1 - t0);
  }  // each Runtime unregisters here, untimed
  sh.connect_ns = h;

  auto rt = connect_runtime("control", instance);
  if (!rt) return sh.error.put(rt.error()), 1;
  const std::string topic = "zcp-perf/ctl" + std::to_string(::getpid()) + "/data";
  std::vector<zcp::Subscriber<>> subs;
  subs.reserve(o.subscribers);
  const std::uint64_t t0 = now_ns();
  for (std::uint32_t i = 0; i < o.subscribers; ++i) {
    auto s = zcp::Subscriber<>::create(**rt, topic);
    if (!s) {
      return sh.error.put("subscriber " + std::to_string(i + 1) + " of " +
                          std::to_string(o.subscribers) + ": " + s.error().message),
             1;
    }
    subs.push_back(std::move(*s));
    if (stop_requested()) return sh.error.put("interrupted"), 1;
  }
  const std::uint64_t t1 = now_ns();
  subs.clear();  // each destructor is a DestroySubscriber round trip
  const std::uint64_t t2 = now_ns();
  sh.create_ms = static_cast<double>(t1 - t0) / 1e6;
  sh.destroy_ms = static_cast<double>(t2 - t1) / 1e6;
  return 0;
}

}  // namespace

Status<ControlResult> run_control(const DaemonSession& daemon, const ControlOptions& o) {
  auto shared = Shared<ControlShared>::create();
  if (!shared) return Failure(shared.error());
  ControlShared& sh = **shared;
  const std::string instance = daemon.instance();
  auto pid = spawn_child("control", [&] { return control_main(instance, o, sh); });
  if (!pid) return Failure(pid.error());
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.timeout_s));
  auto exits = wait_children({*pid}, deadline);
  std::string failures = describe_failures(exits, {"control"});
  if (!failures.empty()) {
    std::string why = sh.error.set.load() != 0 ? std::string(sh.error.text) : "";
    return Failure("control: " + (why.empty() ? failures : why + " [" + failures + "]"));
  }
  ControlResult r;
  r.connect_ns = sh.connect_ns;
  r.create_subscribers_ms = sh.create_ms;
  r.destroy_subscribers_ms = sh.destroy_ms;
  r.subscribers = o.subscribers;
  return r;
}

}  // namespace zcp::perf
