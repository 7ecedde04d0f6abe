// The peer scenarios: zcp-perf's latency ping-pong and throughput fan-out loops, over a
// Transport. Kept step for step with tools/zcp-perf/latency.cpp and throughput.cpp (warm-up,
// timed window, drain, tallies), so that the numbers compare like for like.
#include "peer_bench.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <span>

#include <sched.h>

namespace zcp::peers {

namespace {

using Clock = std::chrono::steady_clock;
using perf::now_ns;

constexpr std::uint32_t kMaxSubscribers = 256;
constexpr auto kSetupTimeout = std::chrono::seconds(20);
constexpr auto kRoundTripTimeout = std::chrono::seconds(5);
constexpr auto kDrainIdle = std::chrono::milliseconds(200);
constexpr auto kDrainMax = std::chrono::seconds(5);
constexpr std::size_t kStampBytes = 16;  // sequence, send time

void write_stamp(std::byte* d, std::size_t size, std::uint64_t seq, std::uint64_t t) noexcept {
  const std::uint64_t w[2] = {seq, t};
  std::memcpy(d, w, std::min(size, sizeof(w)));
}
std::uint64_t read_seq(const Receiver::Message& m) noexcept {
  std::uint64_t seq = 0;
  std::memcpy(&seq, m.data, std::min(m.size, sizeof(seq)));
  return seq;
}
void fill_payload(std::byte* d, std::size_t size, std::uint64_t seq, bool touch) noexcept {
  if (touch && size > kStampBytes)
    std::memset(d + kStampBytes, static_cast<int>(seq & 0xff), size - kStampBytes);
  write_stamp(d, size, seq, 0);
}
bool check_payload(const Receiver::Message& m, std::uint64_t seq) noexcept {
  if (m.size <= kStampBytes) return true;
  const std::uint64_t pattern = 0x0101010101010101ULL * (seq & 0xff);
  std::uint64_t diff = 0;
  std::size_t i = kStampBytes;
  for (; i + 8 <= m.size; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, m.data + i, 8);
    diff |= w ^ pattern;
  }
  for (; i < m.size; ++i)
    diff |= static_cast<std::uint64_t>(m.data[i]) ^ (seq & 0xff);
  return diff == 0;
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Loans a buffer, retrying (yield) while the transport has none; nullptr once give_up().
template <class GiveUp>
std::byte* loan(Sender& tx, std::uint64_t& exhausted, GiveUp&& give_up) {
  for (;;) {
    if (std::byte* b = tx.try_loan()) return b;
    ++exhausted;
    if (give_up()) return nullptr;
    sched_yield();
  }
}

// ---- latency ----------------------------------------------------------------------------

struct LatencyShared {
  std::atomic<std::uint32_t> failed{0};
  std::atomic<std::uint32_t> done{0};  // ping has every echo
  perf::ErrorSlot error;
  Histogram one_way;
  std::uint64_t samples = 0;
};

int fail(std::atomic<std::uint32_t>& failed, perf::ErrorSlot& slot, const std::string& what) {
  slot.put(what);
  failed.store(1, std::memory_order_relaxed);
  return 1;
}

// Receives the next message in the scenario's mode, or an empty one after kRoundTripTimeout
// or once the run is aborted. As zcp-perf: the clock and the flags are read only after a
// wait, or every 64 Ki empty polls, so a message that is there costs no clock read.
template <class Abort>
Receiver::Message receive(Receiver& rx, Mode mode, Abort&& aborted) {
  Clock::time_point deadline{};
  for (std::uint64_t spins = 1;; ++spins) {
    Receiver::Message m =
        mode == Mode::kPoll ? rx.take() : rx.take_waiting(std::chrono::milliseconds(100));
    if (m.data != nullptr) return m;
    if (mode == Mode::kPoll && (spins & 0xffff) != 0) continue;
    if (aborted()) return {};
    const auto now = Clock::now();
    if (deadline == Clock::time_point{}) {
      deadline = now + kRoundTripTimeout;
    } else if (now >= deadline) {
      return {};
    }
  }
}

int latency_child(Transport& t, bool ping, const LatencyOptions& o, LatencyShared& sh) {
  const char* role = ping ? "ping" : "pong";
  auto fail_with = [&](const std::string& w) {
    return fail(sh.failed, sh.error, std::string(role) + ": " + w);
  };
  if (auto ok = perf::pin_to_cpu(ping ? o.cpu_ping : o.cpu_pong); !ok) return fail_with(ok.error());
  auto ends = t.open_latency(ping, o);
  if (!ends) return fail_with(ends.error());
  Sender& tx = *ends->tx;
  Receiver& rx = *ends->rx;
  auto aborted = [&] {
    return perf::stop_requested() || sh.failed.load(std::memory_order_relaxed) != 0;
  };
  const std::uint64_t total = o.warmup + o.count;
  Histogram hist;
  std::uint64_t exhausted = 0;
  for (std::uint64_t i = 1; i <= total; ++i) {
    Clock::time_point loan_deadline{};  // set on the first failed loan only
    auto give_up = [&] {
      const auto now = Clock::now();
      if (loan_deadline == Clock::time_point{}) loan_deadline = now + kRoundTripTimeout;
      return now >= loan_deadline || aborted();
    };
    std::uint64_t t0 = 0;
    if (ping) {  // send i, then wait for its echo
      t0 = now_ns();
      std::byte* b = loan(tx, exhausted, give_up);
      if (b == nullptr) return fail_with("no buffer to send message " + std::to_string(i));
      write_stamp(b, o.payload, i, t0);
      if (auto ok = tx.publish(b); !ok) return fail_with(ok.error());
    }
    Receiver::Message m = receive(rx, o.mode, aborted);
    if (m.data == nullptr) {
      return fail_with(aborted() ? "interrupted"
                                 : "message " + std::to_string(i) + " did not arrive within 5 s");
    }
    const std::uint64_t seq = read_seq(m);
    rx.release(m);
    if (ping) {
      const std::uint64_t t1 = now_ns();
      if (seq != i)
        return fail_with("sent " + std::to_string(i) + ", the echo was " + std::to_string(seq));
      if (i > o.warmup) hist.record((t1 - t0) / 2);
    } else {  // echo it with the same size
      if (seq != i)
        return fail_with("expected message " + std::to_string(i) + ", got " + std::to_string(seq));
      std::byte* b = loan(tx, exhausted, give_up);
      if (b == nullptr) return fail_with("no buffer to answer message " + std::to_string(i));
      write_stamp(b, o.payload, i, 0);
      if (auto ok = tx.publish(b); !ok) return fail_with(ok.error());
    }
  }
  if (ping) {
    sh.one_way = hist;
    sh.samples = hist.count();
    sh.done.store(1, std::memory_order_release);
  } else {
    // Keep the publisher (and the last echo in flight) until ping has it.
    (void)perf::wait_until([&] { return sh.done.load(std::memory_order_acquire) != 0; },
                           Clock::now() + kRoundTripTimeout, [&] { return sh.failed.load() != 0; });
  }
  return 0;
}

// ---- throughput -------------------------------------------------------------------------

struct Tally {
  std::uint64_t received = 0, gaps = 0, reordered = 0, corrupt = 0, last_sequence = 0;
};

struct ThroughputShared {
  std::atomic<std::uint32_t> pub_ready{0};
  std::atomic<std::uint32_t> subs_ready{0};
  std::atomic<std::uint32_t> subs_done{0};
  std::atomic<std::uint32_t> pub_done{0};
  std::atomic<std::uint32_t> failed{0};
  std::uint64_t sent = 0, window_ns = 0, would_block = 0, pool_exhausted = 0;
  perf::ErrorSlot error;
  Tally tallies[kMaxSubscribers];
};

int publisher_main(Transport& t, const ThroughputOptions& o, ThroughputShared& sh) {
  auto fail_with = [&](const std::string& w) {
    return fail(sh.failed, sh.error, "publisher: " + w);
  };
  if (auto ok = perf::pin_to_cpu(o.cpu_pub); !ok) return fail_with(ok.error());
  auto tx = t.open_publisher(o);
  if (!tx) return fail_with(tx.error());
  sh.pub_ready.store(1, std::memory_order_release);
  auto aborted = [&] {
    return perf::stop_requested() || sh.failed.load(std::memory_order_relaxed) != 0;
  };
  if (!perf::wait_until(
          [&] { return sh.subs_ready.load(std::memory_order_acquire) >= o.subscribers; },
          Clock::now() + kSetupTimeout, aborted)) {
    return fail_with("the subscribers did not get ready");
  }
  std::uint64_t sent = 0, exhausted = 0;
  Clock::time_point end = Clock::time_point::max();
  bool over = false;
  auto give_up = [&] { return over || (over = Clock::now() >= end || aborted()); };
  auto publish_next = [&]() -> Status<void> {
    std::byte* b = loan(**tx, exhausted, give_up);
    if (b == nullptr) return {};
    fill_payload(b, o.payload, sent + 1, o.touch);
    if (auto ok = (*tx)->publish(b); !ok)
      return Failure("message " + std::to_string(sent + 1) + ": " + ok.error());
    ++sent;
    return {};
  };
  while (sent < o.warmup && !aborted()) {
    if (auto ok = publish_next(); !ok) return fail_with(ok.error());
  }
  exhausted = 0;
  const std::uint64_t wb0 = (*tx)->would_block();
  const auto start = Clock::now();
  end = start + seconds(o.duration_s);
  while (!over) {
    if ((sent & 63) == 0 && give_up()) break;  // the clock every 64 messages, as zcp-perf
    if (auto ok = publish_next(); !ok) return fail_with(ok.error());
  }
  const auto stop = Clock::now();
  if (aborted()) return fail_with("interrupted");
  sh.sent = sent;
  sh.window_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
  sh.would_block = (*tx)->would_block() - wb0;
  sh.pool_exhausted = exhausted;
  sh.pub_done.store(1, std::memory_order_release);
  // Keep the publisher (and its chunks) until every subscriber drained.
  (void)perf::wait_until(
      [&] { return sh.subs_done.load(std::memory_order_acquire) >= o.subscribers; },
      Clock::now() + kDrainMax + std::chrono::seconds(5), aborted);
  return 0;
}

int subscriber_main(Transport& t, std::uint32_t index, const ThroughputOptions& o,
                    ThroughputShared& sh) {
  const std::string role = "subscriber " + std::to_string(index);
  auto fail_with = [&](const std::string& w) { return fail(sh.failed, sh.error, role + ": " + w); };
  if (!o.cpu_subs.empty()) {
    if (auto ok = perf::pin_to_cpu(o.cpu_subs[index % o.cpu_subs.size()]); !ok)
      return fail_with(ok.error());
  }
  auto aborted = [&] {
    return perf::stop_requested() || sh.failed.load(std::memory_order_relaxed) != 0;
  };
  if (!perf::wait_until([&] { return sh.pub_ready.load(std::memory_order_acquire) != 0; },
                        Clock::now() + kSetupTimeout, aborted)) {
    return fail_with("the publisher did not get ready");
  }
  auto rx = t.open_subscriber(index, o);
  if (!rx) return fail_with(rx.error());
  sh.subs_ready.fetch_add(1, std::memory_order_acq_rel);

  Tally tally;
  std::uint64_t sent = 0;
  bool pub_done = false;
  Clock::time_point idle_since{}, drain_end{};
  for (;;) {
    Receiver::Message m =
        o.mode == Mode::kWait ? (*rx)->take_waiting(std::chrono::milliseconds(10)) : (*rx)->take();
    if (m.data != nullptr) {
      const std::uint64_t seq = read_seq(m);
      if (o.touch && !check_payload(m, seq)) ++tally.corrupt;
      (*rx)->release(m);
      idle_since = {};
      if (seq <= tally.last_sequence) {
        ++tally.reordered;
        continue;
      }
      const std::uint64_t prev = tally.last_sequence;
      tally.last_sequence = seq;
      if (seq <= o.warmup) continue;  // warm-up: checked, not counted
      tally.gaps += seq - std::max(prev, o.warmup) - 1;
      ++tally.received;
      continue;
    }
    if (!pub_done && sh.pub_done.load(std::memory_order_acquire) != 0) {
      pub_done = true;
      sent = sh.sent;
      drain_end = Clock::now() + kDrainMax;
    }
    if (pub_done) {
      if (tally.last_sequence >= sent) break;
      const auto now = Clock::now();
      if (idle_since == Clock::time_point{}) idle_since = now;
      if (now - idle_since >= kDrainIdle || now >= drain_end) break;
    }
    if (aborted()) return fail_with("interrupted");
  }
  // Messages lost at the end (never seen before the drain ended) are gaps too.
  if (sent > tally.last_sequence) tally.gaps += sent - std::max(tally.last_sequence, o.warmup);
  sh.tallies[index] = tally;
  sh.subs_done.fetch_add(1, std::memory_order_acq_rel);
  return 0;
}

struct Run {
  double seconds = 0;
  std::uint64_t sent = 0, would_block = 0, pool_exhausted = 0;
  std::vector<Tally> subs;
  std::uint64_t sum(std::uint64_t Tally::*f) const {
    return std::accumulate(subs.begin(), subs.end(), std::uint64_t{0},
                           [f](std::uint64_t a, const Tally& x) { return a + x.*f; });
  }
  double rate() const {
    return seconds > 0 ? static_cast<double>(sum(&Tally::received)) / seconds : 0;
  }
};

std::string failures_of(const std::vector<perf::ChildExit>& exits,
                        const std::vector<std::string>& roles, const perf::ErrorSlot& slot) {
  std::string failures = perf::describe_failures(exits, roles);
  std::string why = slot.set.load() != 0 ? std::string(slot.text) : "";
  if (why.empty()) return failures;
  return failures.empty() ? why : why + " [" + failures + "]";
}

// Forks one child per role; fn(i) is child i's body. Returns what failed, or "".
template <class Fn>
std::string run_children(Transport& t, const std::vector<std::string>& roles,
                         Clock::time_point deadline, std::atomic<std::uint32_t>& failed,
                         const perf::ErrorSlot& slot, Fn&& fn) {
  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    auto pid = perf::spawn_child(roles[i], [&, i] { return t.finish_child(fn(i)); });
    if (!pid) {
      failed.store(1);
      (void)perf::wait_children(pids, Clock::now() + std::chrono::seconds(2));
      return pid.error();
    }
    pids.push_back(*pid);
  }
  return failures_of(perf::wait_children(pids, deadline), roles, slot);
}

Json environment(Transport& t, const std::string& load_before) {
  return {{"transport", t.name()},
          {"daemon", t.describe()},
          {"load_before", load_before},
          {"load_after", perf::load_average()},
          {"cpus", perf::allowed_cpus()}};
}

}  // namespace

const char* to_string(Mode m) noexcept {
  return m == Mode::kPoll ? "poll" : "wait";
}
const char* to_string(Policy p) noexcept {
  switch (p) {
    case Policy::kDropOldest:
      return "drop_oldest";
    case Policy::kDropNewest:
      return "drop_newest";
    case Policy::kBlockPublisher:
      return "block_publisher";
  }
  return "?";
}

Status<Json> run_latency(Transport& t, const LatencyOptions& o) {
  if (o.payload < kStampBytes) return Failure("--payload must be at least 16 bytes (the stamp)");
  const std::string load_before = perf::load_average();
  if (auto ok = t.setup_latency(o); !ok) return Failure(ok.error());
  auto shared = perf::Shared<LatencyShared>::create();
  if (!shared) {
    t.teardown();
    return Failure(shared.error());
  }
  LatencyShared& sh = **shared;
  const std::string failed =
      run_children(t, {"ping", "pong"}, Clock::now() + seconds(o.timeout_s), sh.failed, sh.error,
                   [&](std::size_t i) { return latency_child(t, i == 0, o, sh); });
  t.teardown();
  if (!failed.empty()) return Failure("latency: " + failed);
  const Histogram& h = sh.one_way;
  Json j = {
      {"scenario", "latency"},      {"mode", to_string(o.mode)},  {"payload", o.payload},
      {"samples", sh.samples},      {"warmup", o.warmup},         {"p50_ns", h.percentile(50)},
      {"p90_ns", h.percentile(90)}, {"p99_ns", h.percentile(99)}, {"p999_ns", h.percentile(99.9)},
      {"max_ns", h.max()},          {"min_ns", h.min()},          {"mean_ns", h.mean()},
      {"cpu_ping", o.cpu_ping},     {"cpu_pong", o.cpu_pong}};
  j.update(environment(t, load_before));
  return j;
}

Status<Json> run_throughput(Transport& t, const ThroughputOptions& o) {
  if (o.subscribers == 0 || o.subscribers > kMaxSubscribers)
    return Failure("--subscribers must be 1..256");
  if (o.payload < kStampBytes) return Failure("--payload must be at least 16 bytes (the stamp)");
  const std::string load_before = perf::load_average();
  std::vector<Run> runs;
  for (std::uint32_t run = 0; run < o.runs; ++run) {
    if (auto ok = t.setup_throughput(o, run); !ok) return Failure(ok.error());
    auto shared = perf::Shared<ThroughputShared>::create();
    if (!shared) {
      t.teardown();
      return Failure(shared.error());
    }
    ThroughputShared& sh = **shared;
    std::vector<std::string> roles;
    for (std::uint32_t i = 0; i < o.subscribers; ++i)
      roles.push_back("subscriber " + std::to_string(i));
    roles.push_back("publisher");
    const auto deadline =
        Clock::now() + kSetupTimeout + kDrainMax + std::chrono::seconds(10) + seconds(o.duration_s);
    const std::string failed =
        run_children(t, roles, deadline, sh.failed, sh.error, [&](std::size_t i) {
          return i == o.subscribers ? publisher_main(t, o, sh)
                                    : subscriber_main(t, static_cast<std::uint32_t>(i), o, sh);
        });
    t.teardown();
    if (!failed.empty())
      return Failure("throughput run " + std::to_string(run + 1) + ": " + failed);
    Run r;
    r.seconds = static_cast<double>(sh.window_ns) / 1e9;
    r.sent = sh.sent > o.warmup ? sh.sent - o.warmup : 0;
    r.would_block = sh.would_block;
    r.pool_exhausted = sh.pool_exhausted;
    r.subs.assign(sh.tallies, sh.tallies + o.subscribers);
    runs.push_back(std::move(r));
    if (perf::stop_requested()) return Failure("interrupted");
  }
  std::vector<std::size_t> order(runs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return runs[a].rate() < runs[b].rate(); });
  const std::size_t median = order[(order.size() - 1) / 2];
  const Run& m = runs[median];
  double lo = 0, hi = 0;
  for (std::size_t i = 0; i < m.subs.size(); ++i) {
    const double rate = m.seconds > 0 ? static_cast<double>(m.subs[i].received) / m.seconds : 0;
    lo = i == 0 ? rate : std::min(lo, rate);
    hi = i == 0 ? rate : std::max(hi, rate);
  }
  Json all = Json::array();
  for (const Run& r : runs)
    all.push_back(r.rate());
  const std::uint64_t received = m.sum(&Tally::received), gaps = m.sum(&Tally::gaps);
  const std::uint64_t expected = m.sent * m.subs.size();
  Json j = {{"scenario", "throughput"},
            {"mode", to_string(o.mode)},
            {"policy", to_string(o.policy)},
            {"payload", o.payload},
            {"subscribers", o.subscribers},
            {"touch", o.touch},
            {"duration_s", o.duration_s},
            {"warmup", o.warmup},
            {"seconds", m.seconds},
            {"sent", m.sent},
            {"received", received},
            {"dropped", gaps},  // peers: every lost message is a sequence gap
            {"gaps", gaps},
            {"lost", expected > received + gaps ? expected - received - gaps : 0},
            {"reordered", m.sum(&Tally::reordered)},
            {"corrupt", m.sum(&Tally::corrupt)},
            {"would_block", m.would_block},
            {"pool_exhausted", m.pool_exhausted},
            {"msgs_per_s", m.rate()},
            {"publish_msgs_per_s", m.seconds > 0 ? static_cast<double>(m.sent) / m.seconds : 0},
            {"gb_per_s", m.rate() * o.payload / 1e9},
            {"min_sub_msgs_per_s", lo},
            {"max_sub_msgs_per_s", hi},
            {"runs", all},
            {"median_run", median + 1},
            {"queue_capacity", o.queue_capacity},
            {"cpu_pub", o.cpu_pub},
            {"cpu_subs", o.cpu_subs}};
  j.update(environment(t, load_before));
  return j;
}

}  // namespace zcp::peers
