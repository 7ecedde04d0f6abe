// zcp-perf latency: ping-pong between two processes through the daemon. The ping process
// publishes message i on .../ping and waits for the pong process's message i on .../pong;
// one-way latency is the round trip / 2. poll mode spins on take(); wait mode sleeps in
// wait() between messages (the eventfd path, two wake-ups per round trip).
#include <cinttypes>
#include <cstdio>

#include <sched.h>
#include <unistd.h>

#include "client_util.hpp"
#include "scenarios.hpp"

namespace zcp::perf {

namespace {

using Clock = std::chrono::steady_clock;

// How long one round trip may take before the run is declared broken (a message lost, a
// process stuck). Too low: a run on an overloaded host fails spuriously; too high: a broken
// run hangs that long before it says why.
constexpr auto kRoundTripTimeout = std::chrono::seconds(5);
// Setup (connect, create, match) deadline per process.
constexpr auto kSetupTimeout = std::chrono::seconds(10);

struct LatencyShared {
  std::atomic<std::uint32_t> ready{0};   // processes whose publisher sees its subscriber
  std::atomic<std::uint32_t> failed{0};  // set by a process that gives up
  std::atomic<std::uint32_t> done{0};    // ping has its last pong: pong may tear down
  ErrorSlot error;
  Histogram hist;  // written by ping only, read by the parent after ping exited
};

struct Endpoints {
  std::unique_ptr<zcp::Runtime> rt;
  std::optional<zcp::Publisher<>> pub;
  std::optional<zcp::Subscriber<>> sub;
};

// Connects, creates pub (on `out`) and sub (on `in`), and waits until both processes are
// matched both ways.
Status<Endpoints> setup(const std::string& role, const std::string& instance,
                        const std::string& out, const std::string& in, std::uint32_t payload,
                        LatencyShared& sh) {
  Endpoints e;
  auto rt = connect_runtime(role, instance);
  if (!rt) return Failure(rt.error());
  e.rt = std::move(*rt);
  zcp::PublisherOptions po;
  po.max_payload = payload;
  auto pub = zcp::Publisher<>::create(*e.rt, out, po);
  if (!pub) return Failure(role + ": " + pub.error().message);
  e.pub.emplace(std::move(*pub));
  auto sub = zcp::Subscriber<>::create(*e.rt, in);
  if (!sub) return Failure(role + ": " + sub.error().message);
  e.sub.emplace(std::move(*sub));
  const auto deadline = Clock::now() + kSetupTimeout;
  auto abort = [&] { return sh.failed.load(std::memory_order_relaxed) != 0; };
  if (auto ok = wait_for_subscribers(*e.pub, 1, deadline, abort); !ok)
    return Failure(role + ": " + ok.error());
  sh.ready.fetch_add(1, std::memory_order_acq_rel);
  if (!wait_until([&] { return sh.ready.load(std::memory_order_acquire) >= 2; }, deadline, abort)) {
    return Failure(role + ": the other process did not get ready");
  }
  return e;
}

// Receives the next message: spins on take() (poll) or sleeps in wait() (wait). Returns its
// sequence, or 0 after kRoundTripTimeout, a stop request or the other side's failure.
std::uint64_t receive(zcp::Subscriber<>& sub, Mode mode, std::uint32_t poll_yield,
                      LatencyShared& sh) {
  Clock::time_point deadline{};
  for (std::uint64_t spins = 1;; ++spins) {
    if (auto s = sub.take()) return s->sequence();  // the sample is released right here
    if (mode == Mode::kWait) {
      (void)sub.wait(std::chrono::milliseconds(100));
    } else {
      if (poll_yield != 0 && spins % poll_yield == 0) sched_yield();
      if ((spins & 0xffff) != 0) continue;  // the clock and the flags: every 64 Ki empty polls
    }
    if (stop_requested() || sh.failed.load(std::memory_order_relaxed) != 0) return 0;
    const auto now = Clock::now();
    if (deadline == Clock::time_point{})
      deadline = now + kRoundTripTimeout;
    else if (now >= deadline)
      return 0;
  }
}

// What this process saw, for a failure message: its retries and its endpoints' state.
std::string describe(const Backpressure& bp, const Endpoints& ep) {
  return " [this process: " + std::to_string(bp.pool_exhausted) + " pool-exhausted and " +
         std::to_string(bp.would_block) + " would-block retries; " +
         std::to_string(ep.pub->loans_outstanding()) + " loans out, " +
         std::to_string(ep.pub->published()) + " published, publisher sees " +
         std::to_string(ep.pub->subscriber_count()) + " subscriber(s); " +
         (ep.sub->has_data() ? "its queue has data" : "its queue is empty") + ", " +
         std::to_string(ep.sub->held()) + " samples held, " + std::to_string(ep.sub->dropped()) +
         " dropped]";
}

int fail(LatencyShared& sh, const std::string& what) {
  sh.error.put(what);
  sh.failed.store(1, std::memory_order_relaxed);
  return 1;
}

int ping_main(const std::string& instance, const std::string& topic, const LatencyOptions& o,
              LatencyShared& sh) {
  if (auto ok = pin_to_cpu(o.cpu_ping); !ok) return fail(sh, "ping: " + ok.error());
  auto ep = setup("ping", instance, topic + "/ping", topic + "/pong", o.payload, sh);
  if (!ep) return fail(sh, ep.error());
  Histogram local;  // on this process's stack, copied out once at the end
  Backpressure bp;
  std::string err;
  const std::uint64_t total = o.warmup + o.count;
  for (std::uint64_t i = 1; i <= total; ++i) {
    const std::uint64_t t0 = now_ns();
    auto out = publish_one(
        *ep->pub, o.payload, [&](std::span<std::byte> d) { write_stamp(d, i, t0); }, bp,
        [&] { return stop_requested() || sh.failed.load(std::memory_order_relaxed) != 0; }, err);
    if (out != PublishOutcome::kPublished) {
      return fail(sh, "ping: publish " + std::to_string(i) + ": " +
                          (err.empty() ? "interrupted" : err) + describe(bp, *ep));
    }
    const std::uint64_t seq = receive(*ep->sub, o.mode, o.poll_yield, sh);
    const std::uint64_t t1 = now_ns();
    if (seq != i) {
      return fail(sh, seq == 0 ? "ping: no pong for message " + std::to_string(i) + " within " +
                                     std::to_string(kRoundTripTimeout.count()) +
                                     " s (or interrupted)" + describe(bp, *ep)
                               : "ping: pong " + std::to_string(seq) + " answered ping " +
                                     std::to_string(i));
    }
    if (i > o.warmup) local.record((t1 - t0) / 2);
  }
  sh.hist = local;
  sh.done.store(1, std::memory_order_release);  // pairs with pong's acquire: hist is complete
  if (bp.would_block + bp.pool_exhausted != 0) {
    std::fprintf(stderr,
                 "zcp-perf latency: ping met back-pressure: %" PRIu64 " would-block, %" PRIu64
                 " pool-exhausted retries\n",
                 bp.would_block, bp.pool_exhausted);
  }
  return 0;
}

int pong_main(const std::string& instance, const std::string& topic, const LatencyOptions& o,
              LatencyShared& sh) {
  if (auto ok = pin_to_cpu(o.cpu_pong); !ok) return fail(sh, "pong: " + ok.error());
  auto ep = setup("pong", instance, topic + "/pong", topic + "/ping", o.payload, sh);
  if (!ep) return fail(sh, ep.error());
  Backpressure bp;
  std::string err;
  const std::uint64_t total = o.warmup + o.count;
  for (std::uint64_t i = 1; i <= total; ++i) {
    const std::uint64_t seq = receive(*ep->sub, o.mode, o.poll_yield, sh);
    if (seq != i) {
      return fail(sh, seq == 0 ? "pong: no ping " + std::to_string(i) + " within " +
                                     std::to_string(kRoundTripTimeout.count()) +
                                     " s (or interrupted)" + describe(bp, *ep)
                               : "pong: got ping " + std::to_string(seq) + ", expected " +
                                     std::to_string(i));
    }
    auto out = publish_one(
        *ep->pub, o.payload, [&](std::span<std::byte> d) { write_stamp(d, i, 0); }, bp,
        [&] { return stop_requested() || sh.failed.load(std::memory_order_relaxed) != 0; }, err);
    if (out != PublishOutcome::kPublished) {
      return fail(sh, "pong: publish " + std::to_string(i) + ": " +
                          (err.empty() ? "interrupted" : err) + describe(bp, *ep));
    }
  }
  // Keep the publisher (and the last pong in flight) until ping has it.
  (void)wait_until([&] { return sh.done.load(std::memory_order_acquire) != 0; },
                   Clock::now() + kRoundTripTimeout, [&] { return sh.failed.load() != 0; });
  return 0;
}

}  // namespace

const char* to_string(Mode m) noexcept {
  return m == Mode::kPoll ? "poll" : "wait";
}

Status<LatencyResult> run_latency(const DaemonSession& daemon, const LatencyOptions& o) {
  auto sh = Shared<LatencyShared>::create();
  if (!sh) return Failure(sh.error());
  LatencyShared& s = **sh;
  const std::string topic = "zcp-perf/lat" + std::to_string(::getpid());
  const std::string instance = daemon.instance();
  std::vector<pid_t> pids;
  std::vector<std::string> roles{"pong", "ping"};
  for (const auto& role : roles) {
    auto pid = spawn_child(role, [&, role] {
      return role == "ping" ? ping_main(instance, topic, o, s) : pong_main(instance, topic, o, s);
    });
    if (!pid) {
      s.failed.store(1);
      (void)wait_children(pids, Clock::now());
      return Failure(pid.error());
    }
    pids.push_back(*pid);
  }
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.timeout_s));
  auto exits = wait_children(pids, deadline);
  std::string failures = describe_failures(exits, roles);
  if (!failures.empty() || s.error.set.load() != 0) {
    std::string why = s.error.set.load() != 0 ? std::string(s.error.text) : "";
    return Failure("latency: " + (why.empty()
                                      ? failures
                                      : why + (failures.empty() ? "" : " [" + failures + "]")));
  }
  LatencyResult r;
  r.one_way = s.hist;
  r.samples = r.one_way.count();
  return r;
}

}  // namespace zcp::perf
