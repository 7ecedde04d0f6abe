// zcp-perf throughput: 1 publisher process, N subscriber processes, one topic. The publisher
// loans and publishes as fast as it can for the duration; each subscriber counts what it
// receives and the sequence gaps, then drains what is still in flight. Every run forks fresh
// processes on a fresh topic; the report is the median run (by total deliveries/s).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <numeric>

#include <sched.h>
#include <unistd.h>

#include "client_util.hpp"
#include "scenarios.hpp"

namespace zcp::perf {

namespace {

using Clock = std::chrono::steady_clock;

// Subscriber processes one run may fork (the tallies live in a fixed shared block: a latency
// histogram of 30 KiB each, backed only when a subscriber writes it).
constexpr std::uint32_t kMaxSubscribers = 1024;
// After the publisher stopped, a subscriber drains until it saw the last sequence, or until
// its queue stayed empty this long, or kDrainMax. Too low: messages still on their way
// (a preempted router on 2 CPUs) are counted as lost; too high: drop policies, whose last
// message may legitimately never come, end each run that much later.
constexpr auto kDrainIdle = std::chrono::milliseconds(200);
constexpr auto kDrainMax = std::chrono::seconds(5);
constexpr auto kSetupTimeout = std::chrono::seconds(20);
// Bytes at the start of each payload that carry the stamp (sequence, time); --touch fills the
// rest with the sequence's low byte and subscribers check every byte of it.
constexpr std::size_t kStampBytes = 16;

struct ThroughputShared {
  std::atomic<std::uint32_t> subs_ready{0};
  std::atomic<std::uint32_t> subs_done{0};
  std::atomic<std::uint32_t> pub_done{0};  // release: publishes the publisher's fields below
  std::atomic<std::uint32_t> failed{0};
  std::uint64_t sent = 0;
  std::uint64_t window_ns = 0;
  std::uint64_t would_block = 0;
  std::uint64_t pool_exhausted = 0;
  ErrorSlot error;
  SubscriberTally tallies[kMaxSubscribers];  // slot i written by subscriber i, then subs_done
  Histogram latency[kMaxSubscribers];        // --latency: as tallies
};

int fail(ThroughputShared& sh, const std::string& what) {
  sh.error.put(what);
  sh.failed.store(1, std::memory_order_relaxed);
  return 1;
}

bool aborted(const ThroughputShared& sh) {
  return stop_requested() || sh.failed.load(std::memory_order_relaxed) != 0;
}

void fill_payload(std::span<std::byte> d, std::uint64_t seq, bool touch) noexcept {
  if (touch && d.size() > kStampBytes) {
    std::memset(d.data() + kStampBytes, static_cast<int>(seq & 0xff), d.size() - kStampBytes);
  }
  write_stamp(d, seq, 0);
}

// Reads every byte after the stamp; false if one is not the sequence's low byte.
bool check_payload(std::span<const std::byte> d, std::uint64_t seq) noexcept {
  if (d.size() <= kStampBytes) return true;
  const std::uint64_t pattern = 0x0101010101010101ULL * (seq & 0xff);
  std::uint64_t diff = 0;
  std::size_t i = kStampBytes;
  for (; i + 8 <= d.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, d.data() + i, 8);
    diff |= w ^ pattern;
  }
  for (; i < d.size(); ++i)
    diff |= static_cast<std::uint64_t>(d[i]) ^ (seq & 0xff);
  return diff == 0;
}

int publisher_main(const std::string& instance, const std::string& topic,
                   const ThroughputOptions& o, ThroughputShared& sh) {
  if (auto ok = pin_to_cpu(o.cpu_pub); !ok) return fail(sh, "publisher: " + ok.error());
  auto rt = connect_runtime("pub", instance);
  if (!rt) return fail(sh, rt.error());
  zcp::PublisherOptions po;
  po.max_payload = o.payload;
  auto pub = zcp::Publisher<>::create(**rt, topic, po);
  if (!pub) return fail(sh, "publisher: " + pub.error().message);
  const auto setup_deadline = Clock::now() + kSetupTimeout;
  auto abort = [&] { return aborted(sh); };
  if (!wait_until([&] { return sh.subs_ready.load(std::memory_order_acquire) >= o.subscribers; },
                  setup_deadline, abort)) {
    return fail(sh, "publisher: the subscribers did not get ready");
  }
  if (auto ok = wait_for_subscribers(*pub, o.subscribers, setup_deadline, abort); !ok)
    return fail(sh, ok.error());

  Backpressure bp;
  std::string err;
  std::uint64_t sent = 0;  // sequence numbers 1..sent are published
  // Warm-up: o.warmup messages, untimed and uncounted (same loop, no end time).
  Clock::time_point end = Clock::time_point::max();
  bool over = false;
  auto give_up = [&] { return over || (over = Clock::now() >= end || aborted(sh)); };
  auto publish_next = [&]() -> bool {
    const std::uint64_t seq = sent + 1;
    auto out = publish_one(
        *pub, o.payload, [&](std::span<std::byte> d) { fill_payload(d, seq, o.touch); }, bp,
        give_up, err);
    if (out == PublishOutcome::kFailed) {
      err = "publisher: message " + std::to_string(seq) + ": " + err;
      return false;
    }
    if (out == PublishOutcome::kPublished) ++sent;
    return true;
  };
  while (sent < o.warmup && !aborted(sh)) {
    if (!publish_next()) return fail(sh, err);
  }
  bp = {};
  const auto start = Clock::now();
  end = start +
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  while (!over) {
    // The clock is read every 64 messages (a vDSO call each; every message would cost ~5%).
    if ((sent & 63) == 0 && give_up()) break;
    if (!publish_next()) return fail(sh, err);
  }
  const auto stop = Clock::now();
  if (aborted(sh)) return fail(sh, "publisher: interrupted");
  sh.sent = sent;
  sh.window_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
  sh.would_block = bp.would_block;
  sh.pool_exhausted = bp.pool_exhausted;
  sh.pub_done.store(1, std::memory_order_release);  // pairs with the subscribers' acquire
  // Keep the publisher until every subscriber drained (its messages stay routable).
  (void)wait_until([&] { return sh.subs_done.load(std::memory_order_acquire) >= o.subscribers; },
                   Clock::now() + kDrainMax + std::chrono::seconds(5), abort);
  return 0;
}

int subscriber_main(std::uint32_t index, const std::string& instance, const std::string& topic,
                    const ThroughputOptions& o, ThroughputShared& sh) {
  const std::string role = "sub" + std::to_string(index);
  if (!o.cpu_subs.empty()) {
    if (auto ok = pin_to_cpu(o.cpu_subs[index % o.cpu_subs.size()]); !ok)
      return fail(sh, role + ": " + ok.error());
  }
  auto rt = connect_runtime(role, instance);
  if (!rt) return fail(sh, rt.error());
  zcp::SubscriberOptions so;
  so.queue_capacity = o.queue_capacity;
  so.policy = o.policy;
  auto sub = zcp::Subscriber<>::create(**rt, topic, so);
  if (!sub) return fail(sh, role + ": " + sub.error().message);
  sh.subs_ready.fetch_add(1, std::memory_order_acq_rel);

  SubscriberTally t;
  Histogram lat;  // on the stack: 30 KiB, copied out once at the end
  std::uint64_t sent = 0;
  bool pub_done = false;
  std::uint64_t warmup_seen = 0;
  std::uint64_t empty_polls = 0;
  Clock::time_point idle_since{}, drain_end{};
  for (;;) {
    bool got = false;
    while (auto s = sub->take()) {
      got = true;
      const std::uint64_t seq = s->sequence();
      if (o.touch && !check_payload(s->data(), seq)) ++t.corrupt;
      if (seq <= t.last_sequence) {
        ++t.reordered;
        continue;
      }
      const std::uint64_t prev = t.last_sequence;
      t.last_sequence = seq;
      if (seq <= o.warmup) {  // warm-up: checked, not counted
        ++warmup_seen;
        continue;
      }
      t.gaps += seq - std::max(prev, o.warmup) - 1;  // only measured sequence numbers
      ++t.received;
      if (o.latency) {
        const std::uint64_t now = now_ns();  // the clock libzcp stamps publications with
        lat.record(now > s->timestamp_ns() ? now - s->timestamp_ns() : 0);
      }
    }  // each sample is released at the end of its iteration
    if (got) {
      idle_since = {};
      continue;
    }
    if (!pub_done && sh.pub_done.load(std::memory_order_acquire) != 0) {
      pub_done = true;
      sent = sh.sent;
      drain_end = Clock::now() + kDrainMax;
    }
    if (pub_done) {
      if (t.last_sequence >= sent) break;
      const auto now = Clock::now();
      if (idle_since == Clock::time_point{}) idle_since = now;
      if (now - idle_since >= kDrainIdle || now >= drain_end) break;
    }
    if (aborted(sh)) return fail(sh, role + ": interrupted");
    if (o.mode == Mode::kWait) {
      (void)sub->wait(std::chrono::milliseconds(10));
    } else if (o.poll_yield != 0 && ++empty_polls % o.poll_yield == 0) {
      sched_yield();
    }
  }
  // The router's drop count is exact but covers the warm-up too. Each drop costs this
  // subscriber exactly one sequence number, so the warm-up messages it never saw are the
  // warm-up's drops; the rest are the measurement's.
  const std::uint64_t all_dropped = sub->dropped();
  const std::uint64_t warmup_missing =
      sent >= o.warmup ? o.warmup - std::min(o.warmup, warmup_seen) : 0;
  t.dropped = all_dropped - std::min(all_dropped, warmup_missing);
  sh.tallies[index] = t;
  if (o.latency) sh.latency[index] = lat;
  sh.subs_done.fetch_add(1, std::memory_order_acq_rel);  // release: the tally is written
  return 0;
}

Status<ThroughputRun> run_once(const DaemonSession& daemon, const ThroughputOptions& o,
                               std::uint32_t run) {
  auto shared = Shared<ThroughputShared>::create();
  if (!shared) return Failure(shared.error());
  ThroughputShared& sh = **shared;
  const std::string topic =
      "zcp-perf/tp" + std::to_string(::getpid()) + "r" + std::to_string(run) + "/data";
  const std::string instance = daemon.instance();
  std::vector<pid_t> pids;
  std::vector<std::string> roles;
  for (std::uint32_t i = 0; i <= o.subscribers; ++i) {
    const bool is_pub = i == o.subscribers;  // the publisher last: subscribers first get ready
    roles.push_back(is_pub ? "publisher" : "subscriber " + std::to_string(i));
    auto pid = spawn_child(roles.back(), [&, i, is_pub] {
      return is_pub ? publisher_main(instance, topic, o, sh)
                    : subscriber_main(i, instance, topic, o, sh);
    });
    if (!pid) {
      sh.failed.store(1);
      (void)wait_children(pids, Clock::now() + std::chrono::seconds(2));
      return Failure(pid.error());
    }
    pids.push_back(*pid);
  }
  const auto deadline =
      Clock::now() + kSetupTimeout + kDrainMax + std::chrono::seconds(10) +
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  auto exits = wait_children(pids, deadline);
  std::string failures = describe_failures(exits, roles);
  if (!failures.empty() || sh.error.set.load() != 0) {
    std::string why = sh.error.set.load() != 0 ? std::string(sh.error.text) : "";
    return Failure(
        "throughput run " + std::to_string(run + 1) + ": " +
        (why.empty() ? failures : why + (failures.empty() ? "" : " [" + failures + "]")));
  }
  ThroughputRun r;
  r.seconds = static_cast<double>(sh.window_ns) / 1e9;
  r.sent = sh.sent > o.warmup ? sh.sent - o.warmup : 0;  // the measured messages
  r.would_block = sh.would_block;
  r.pool_exhausted = sh.pool_exhausted;
  r.subs.assign(sh.tallies, sh.tallies + o.subscribers);
  if (o.latency) {
    for (std::uint32_t i = 0; i < o.subscribers; ++i)
      r.latency.merge(sh.latency[i]);
  }
  return r;
}

}  // namespace

std::uint64_t ThroughputRun::received() const noexcept {
  return std::accumulate(subs.begin(), subs.end(), std::uint64_t{0},
                         [](std::uint64_t a, const SubscriberTally& t) { return a + t.received; });
}
std::uint64_t ThroughputRun::dropped() const noexcept {
  return std::accumulate(subs.begin(), subs.end(), std::uint64_t{0},
                         [](std::uint64_t a, const SubscriberTally& t) { return a + t.dropped; });
}
std::uint64_t ThroughputRun::gaps() const noexcept {
  return std::accumulate(subs.begin(), subs.end(), std::uint64_t{0},
                         [](std::uint64_t a, const SubscriberTally& t) { return a + t.gaps; });
}
double ThroughputRun::deliveries_per_s() const noexcept {
  return seconds > 0 ? static_cast<double>(received()) / seconds : 0;
}
double ThroughputRun::publish_per_s() const noexcept {
  return seconds > 0 ? static_cast<double>(sent) / seconds : 0;
}

Status<ThroughputResult> run_throughput(const DaemonSession& daemon, const ThroughputOptions& o) {
  if (o.subscribers == 0 || o.subscribers > kMaxSubscribers) {
    return Failure("--subscribers must be 1.." + std::to_string(kMaxSubscribers));
  }
  ThroughputResult res;
  for (std::uint32_t run = 0; run < o.runs; ++run) {
    auto r = run_once(daemon, o, run);
    if (!r) return Failure(r.error());
    res.runs.push_back(std::move(*r));
    if (stop_requested()) return Failure("interrupted");
  }
  std::vector<std::size_t> order(res.runs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return res.runs[a].deliveries_per_s() < res.runs[b].deliveries_per_s();
  });
  res.median = order[(order.size() - 1) / 2];
  return res;
}

}  // namespace zcp::perf
