#include "checks.hpp"

#include <chrono>
#include <cstring>
#include <thread>

#include <zcp/zcp.hpp>

#include "common/instance.hpp"
#include "shm/segment.hpp"

namespace zcp::soak {

using namespace std::chrono_literals;

perf::Status<std::vector<PoolFinal>> await_pools_full(const std::string& instance, int timeout_ms) {
  auto paths = resolve_instance(instance);
  if (!paths) return perf::Failure(paths.error());
  auto seg = shm::Segment::open(paths->shm_name("seg"), /*writable=*/false);
  if (!seg) return perf::Failure("cannot read the pools: " + seg.error().message);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<PoolFinal> out;
  for (;;) {
    out.clear();
    bool full = true;
    for (std::size_t c = 0; c < seg->pool().class_count(); ++c) {
      auto s = seg->pool().stats(c);
      out.push_back({s.chunk_size, s.total, s.free, s.min_free});
      full = full && s.free == s.total;
    }
    // The daemon reclaims a dead client's chunks as soon as it sees the death (pidfd), and
    // the router gives back retired ports' loans on its next pass: full happens quickly.
    if (full || std::chrono::steady_clock::now() > deadline) return out;
    std::this_thread::sleep_for(10ms);
  }
}

perf::Status<void> probe_daemon(const std::string& instance, std::uint32_t n) {
  auto rt = Runtime::connect({.name = "soak-probe", .instance = instance});
  if (!rt) return perf::Failure("a new client cannot connect: " + rt.error().message);
  auto sub = Subscriber<>::create(**rt, "soak/probe/p",
                                  {.queue_capacity = n, .policy = QueuePolicy::kBlockPublisher});
  if (!sub) return perf::Failure("a new subscriber is refused: " + sub.error().message);
  // A health check, not a latency test: the first loans wait for the worker to apply the new
  // publisher and fill its loan ring, which under a sanitizer on a busy host can take longer
  // than the default loan_wait (5 ms).
  auto pub = Publisher<>::create(**rt, "soak/probe/p", {.max_payload = 64, .loan_wait = 1s});
  if (!pub) return perf::Failure("a new publisher is refused: " + pub.error().message);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto loan = pub->loan(sizeof(i));
    if (!loan) return perf::Failure("probe loan: " + loan.error().message);
    std::memcpy(loan->data().data(), &i, sizeof(i));
    if (auto r = pub->publish(std::move(*loan), 1s); !r)
      return perf::Failure("probe publish: " + r.error().message);
  }
  if (auto f = pub->flush(2s); !f) return perf::Failure("probe flush: " + f.error().message);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto s = sub->take();
    if (!s)
      return perf::Failure("probe: message " + std::to_string(i) + " of " + std::to_string(n) +
                           " missing");
    std::uint32_t v = 0;
    std::memcpy(&v, s->data().data(), sizeof(v));
    if (v != i)
      return perf::Failure("probe: message " + std::to_string(i) + " carries " + std::to_string(v));
  }
  return {};
}

}  // namespace zcp::soak
