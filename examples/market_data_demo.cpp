// zcp-demo: the main job of `make demo` (scripts/demo.sh starts diroute, then this).
//
// One DataBroadcaster process publishes synthetic ticks at --rate, and --subscribers
// DataSubscriber processes receive them in place, sleeping on their eventfds between bursts.
// Once a second the parent (which holds no zerocp runtime itself) prints one line: ticks/s
// sent, then per subscriber ticks/s received and the publish-to-receive latency P50/P99 from
// the blocks' timestamps, then the drops. After --seconds it stops the broadcaster, lets
// the subscribers drain, prints a summary and exits 0, or non-zero if a process failed or a
// subscriber saw ticks out of order. Ctrl-C stops it early, just as cleanly.
//
// The processes share their counters through an anonymous MAP_SHARED mapping made before
// fork(); each counter has one writer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zcp/ipc/broadcast_hub.hpp>

using namespace zcp::ipc;
using namespace std::chrono_literals;

namespace {

constexpr int kMaxSubscribers = 16;
// Latency windows kept per subscriber: the parent reads window k while window k+1 fills.
constexpr int kWindows = 4;
// Blocks the broadcaster sends back to back before it looks at the clock again. Too low:
// a clock read per block; too high: bursts far above the target rate.
constexpr std::uint64_t kPaceBurst = 32;

struct MarketTick {
  char symbol[16];
  double price;
  double volume;
  std::uint64_t id;  // 1, 2, 3... across the whole run
  std::uint64_t exchange_ts_ns;
};

struct alignas(64) Window {
  std::atomic<std::uint64_t> index{0};  // window number + 1 once p50/p99 are written
  std::atomic<std::uint64_t> p50_ns{0};
  std::atomic<std::uint64_t> p99_ns{0};
};

struct alignas(64) SubscriberSlot {
  std::atomic<std::uint64_t> ticks{0};
  std::atomic<std::uint64_t> blocks{0};
  std::atomic<std::uint64_t> drops{0};
  std::atomic<std::uint64_t> gaps{0};
  std::atomic<std::uint64_t> out_of_order{0};
  std::atomic<int> ready{0};
  Window windows[kWindows];
};

struct alignas(64) Shared {
  std::atomic<int> go{0};
  std::atomic<int> stop{0};
  std::atomic<std::uint64_t> t0_ns{0};
  std::atomic<std::uint64_t> sent_ticks{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> failed_loans{0};
  std::atomic<std::uint64_t> blocked_publishes{0};
  std::atomic<std::uint64_t> failed_publishes{0};
  std::atomic<int> broadcaster_ready{0};
  std::atomic<int> broadcaster_done{0};
  SubscriberSlot subs[kMaxSubscribers];
};

struct Options {
  unsigned seconds = 10;
  unsigned subscribers = 3;
  std::uint64_t rate = 100000;  // ticks/s; 0: as fast as possible
  unsigned batch = 1;           // ticks per block
  std::string preset = "high_performance";
  std::string stream = "demo-ticks";
};

volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) {
  g_interrupted = 1;
}

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}
// Nanoseconds since t0, 0 before it.
std::uint64_t since(std::uint64_t t0) {
  const std::uint64_t now = now_ns();
  return now > t0 ? now - t0 : 0;
}

BroadcastConfig preset(const std::string& name) {
  if (name == "low_latency") return BroadcastConfig::low_latency();
  if (name == "massive_scale") return BroadcastConfig::massive_scale();
  return BroadcastConfig::high_performance();
}

// ---- the broadcaster process -----------------------------------------------------------------

int run_broadcaster(Shared& sh, const Options& o) {
  if (!DataBroadcaster::initialize_runtime("zcp-demo-broadcaster")) {
    std::fprintf(stderr, "broadcaster: %s\n",
                 DataBroadcaster::last_runtime_error().message.c_str());
    return 1;
  }
  auto made = DataBroadcaster::create(preset(o.preset), o.stream);
  if (!made) return std::fprintf(stderr, "broadcaster: %s\n", made.error().message.c_str()), 1;
  DataBroadcaster& out = *made;
  sh.broadcaster_ready.store(1, std::memory_order_release);
  // Start only once the router counts every subscriber: nothing is sent into the void.
  while (out.get_stats().subscriber_count < o.subscribers &&
         sh.stop.load(std::memory_order_acquire) == 0) {
    std::this_thread::sleep_for(1ms);
  }
  std::this_thread::sleep_for(20ms);  // let the worker apply the last AddSubscriber command
  while (sh.go.load(std::memory_order_acquire) == 0 &&
         sh.stop.load(std::memory_order_acquire) == 0) {
    std::this_thread::sleep_for(1ms);
  }

  std::vector<MarketTick> ticks(o.batch);
  const std::uint64_t t0 = sh.t0_ns.load(std::memory_order_acquire);
  std::uint64_t sent = 0;
  while (sh.stop.load(std::memory_order_relaxed) == 0) {
    if (o.rate != 0) {
      const std::uint64_t due = static_cast<std::uint64_t>(static_cast<double>(since(t0)) *
                                                           static_cast<double>(o.rate) / 1e9);
      if (sent >= due) {
        std::this_thread::sleep_for(50us);
        continue;
      }
    }
    for (std::uint64_t k = 0; k < kPaceBurst; ++k) {
      for (unsigned i = 0; i < o.batch; ++i) {
        MarketTick& t = ticks[i];
        const std::uint64_t id = sent + i + 1;
        std::snprintf(t.symbol, sizeof(t.symbol), "SYM%03u", static_cast<unsigned>(id % 500));
        t.price = 100.0 + static_cast<double>(id % 1000) * 0.01;
        t.volume = static_cast<double>(id % 10 + 1) * 100.0;
        t.id = id;
        t.exchange_ts_ns = 0;
      }
      if (out.broadcast(reinterpret_cast<const std::uint8_t*>(ticks.data()),
                        o.batch * sizeof(MarketTick), o.batch, MarketDataType::Tick)) {
        sent += o.batch;
      } else {
        sh.failed.fetch_add(1, std::memory_order_relaxed);
        break;  // the stats say why; the pacing loop retries
      }
    }
    sh.sent_ticks.store(sent, std::memory_order_relaxed);
  }
  (void)out.publisher().flush(1s);
  const BroadcastStats st = out.get_stats();
  sh.failed_loans.store(st.failed_loans, std::memory_order_relaxed);
  sh.blocked_publishes.store(st.blocked_publishes, std::memory_order_relaxed);
  sh.failed_publishes.store(st.failed_publishes, std::memory_order_relaxed);
  if (st.failed_loans + st.failed_publishes != 0) {
    std::fprintf(stderr, "broadcaster: last failure: %s\n", out.last_error().message.c_str());
  }
  sh.sent_ticks.store(sent, std::memory_order_relaxed);
  sh.broadcaster_done.store(1, std::memory_order_release);
  return 0;
}

// ---- a subscriber process --------------------------------------------------------------------

void close_window(SubscriberSlot& slot, std::uint64_t index, std::vector<std::uint32_t>& lat) {
  if (lat.empty()) return;
  auto pct = [&](double p) {
    auto nth = lat.begin() + static_cast<long>(p * static_cast<double>(lat.size() - 1));
    std::nth_element(lat.begin(), nth, lat.end());
    return static_cast<std::uint64_t>(*nth);
  };
  Window& w = slot.windows[index % kWindows];
  w.p50_ns.store(pct(0.50), std::memory_order_relaxed);
  w.p99_ns.store(pct(0.99), std::memory_order_relaxed);
  w.index.store(index + 1, std::memory_order_release);  // publishes p50/p99 to the parent
  lat.clear();
}

int run_subscriber(Shared& sh, SubscriberSlot& slot, const Options& o, unsigned n) {
  if (!DataSubscriber::initialize_runtime("zcp-demo-subscriber-" + std::to_string(n))) {
    std::fprintf(stderr, "subscriber %u: %s\n", n,
                 DataBroadcaster::last_runtime_error().message.c_str());
    return 1;
  }
  auto made = DataSubscriber::create(preset(o.preset), o.stream);
  if (!made) return std::fprintf(stderr, "subscriber %u: %s\n", n, made.error().message.c_str()), 1;
  DataSubscriber& in = *made;
  slot.ready.store(1, std::memory_order_release);
  while (sh.go.load(std::memory_order_acquire) == 0 &&
         sh.stop.load(std::memory_order_acquire) == 0) {
    std::this_thread::sleep_for(1ms);
  }

  const std::uint64_t t0 = sh.t0_ns.load(std::memory_order_acquire);
  std::vector<std::uint32_t> lat;
  lat.reserve(1U << 21);
  std::uint64_t window = 0, ticks = 0, last_id = 0;
  std::uint64_t drain_deadline = 0;
  for (;;) {
    while (auto block = in.receive_block()) {
      const std::uint64_t now = now_ns();
      const std::uint64_t w = since(t0) / 1'000'000'000ULL;
      if (w != window) {
        close_window(slot, window, lat);
        window = w;
      }
      const std::uint64_t l = now - std::min(now, (*block)->timestamp_ns);
      lat.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(l, UINT32_MAX)));
      const auto* t = reinterpret_cast<const MarketTick*>((*block)->data);
      for (std::uint64_t i = 0; i < (*block)->record_count; ++i) {
        if (t[i].id <= last_id) slot.out_of_order.fetch_add(1, std::memory_order_relaxed);
        last_id = t[i].id;
      }
      ticks += (*block)->record_count;
      slot.ticks.store(ticks, std::memory_order_relaxed);
    }
    const ReceiveStats rs = in.get_receive_stats();
    slot.blocks.store(rs.blocks_received, std::memory_order_relaxed);
    slot.drops.store(rs.queue_drops, std::memory_order_relaxed);
    slot.gaps.store(rs.sequence_gaps, std::memory_order_relaxed);
    const std::uint64_t w = since(t0) / 1'000'000'000ULL;
    if (w != window) {  // a quiet second still gets its line
      close_window(slot, window, lat);
      window = w;
    }
    if (sh.broadcaster_done.load(std::memory_order_acquire) != 0) {
      // Everything sent is either here or counted as dropped; give the router a moment.
      const std::uint64_t sent_blocks = sh.sent_ticks.load(std::memory_order_relaxed) / o.batch;
      if (rs.blocks_received + rs.queue_drops >= sent_blocks) break;
      if (drain_deadline == 0) drain_deadline = now_ns() + 2'000'000'000ULL;
      if (now_ns() > drain_deadline) break;
    }
    if (!in.subscriber().connected()) {
      std::fprintf(stderr, "subscriber %u: the daemon went away\n", n);
      return 1;
    }
    in.wait(20ms);  // sleeps on the eventfd; wakes often enough to close quiet windows
  }
  close_window(slot, window, lat);
  return 0;
}

// ---- the parent ------------------------------------------------------------------------------

std::string rate(double per_s) {
  char buf[32];
  if (per_s >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.2fM", per_s / 1e6);
  else if (per_s >= 1e3)
    std::snprintf(buf, sizeof(buf), "%.1fk", per_s / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0f", per_s);
  return buf;
}

std::string micros(std::uint64_t ns) {
  char buf[32];
  if (ns < 10'000)
    std::snprintf(buf, sizeof(buf), "%.1fus", static_cast<double>(ns) / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0fus", static_cast<double>(ns) / 1e3);
  return buf;
}

template <class Fn>
pid_t spawn(Fn&& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGINT, SIG_IGN);           // the parent decides when to stop, and says so
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // ...and if it dies, nobody is left behind
    if (::getppid() == 1) ::_exit(1);
    int rc = fn();
    DataBroadcaster::shutdown_runtime();  // unregister now, not from a static destructor
    std::fflush(nullptr);
    ::_exit(rc);
  }
  return pid;
}

int reap(std::vector<pid_t>& pids, std::chrono::seconds timeout) {
  int worst = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (pid_t& pid : pids) {
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 || std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        worst = std::max(worst, 1);
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    worst = std::max(worst, code);
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "zcp-demo: one DataBroadcaster, several DataSubscribers, one live line per second "
      "(needs a running diroute: scripts/demo.sh starts one)"};
  Options o;
  std::string instance;
  app.add_option("--instance", instance,
                 "diroute instance (default: $ZCP_INSTANCE, else 'default')");
  app.add_option("--seconds", o.seconds, "How long to broadcast")
      ->check(CLI::Range(1U, 3600U))
      ->capture_default_str();
  app.add_option("--subscribers", o.subscribers, "Subscriber processes")
      ->check(CLI::Range(1, kMaxSubscribers))
      ->capture_default_str();
  app.add_option("--rate", o.rate, "Ticks per second to broadcast (0: as fast as possible)")
      ->capture_default_str();
  app.add_option("--batch", o.batch,
                 "Ticks per block (1: one block per tick, as seed 004 measured)")
      ->check(CLI::Range(
          1U, static_cast<unsigned>(ZeroCopyMarketBlock::DATA_SIZE / sizeof(MarketTick))))
      ->capture_default_str();
  app.add_option("--preset", o.preset, "BroadcastConfig preset")
      ->check(CLI::IsMember({"high_performance", "low_latency", "massive_scale"}))
      ->capture_default_str();
  app.add_option("--stream", o.stream, "Stream name")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!instance.empty()) ::setenv("ZCP_INSTANCE", instance.c_str(), 1);

  void* mem =
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return std::perror("mmap"), 1;
  Shared& sh = *new (mem) Shared;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  const BroadcastConfig cfg = preset(o.preset);
  std::printf("zcp-demo: 1 broadcaster -> %u subscribers (separate processes) on %s\n",
              o.subscribers, cfg.topic(o.stream).c_str());
  std::printf("          preset %s: queue %u, %s, %u tick(s) per 8 KiB block, target %s ticks/s\n",
              o.preset.c_str(), cfg.queue_capacity,
              cfg.queue_policy == zcp::QueuePolicy::kBlockPublisher ? "block_publisher"
              : cfg.queue_policy == zcp::QueuePolicy::kDropNewest   ? "drop_newest"
                                                                    : "drop_oldest",
              o.batch, o.rate ? rate(static_cast<double>(o.rate)).c_str() : "max");
  std::printf("          latency = receive time - block timestamp (publish), CLOCK_MONOTONIC\n");
  std::fflush(stdout);

  std::vector<pid_t> children;
  for (unsigned i = 0; i < o.subscribers; ++i) {
    children.push_back(spawn([&, i] { return run_subscriber(sh, sh.subs[i], o, i + 1); }));
  }
  children.push_back(spawn([&] { return run_broadcaster(sh, o); }));

  // Everyone connected?
  const auto ready_by = std::chrono::steady_clock::now() + 10s;
  auto all_ready = [&] {
    for (unsigned i = 0; i < o.subscribers; ++i) {
      if (sh.subs[i].ready.load(std::memory_order_acquire) == 0) return false;
    }
    return sh.broadcaster_ready.load(std::memory_order_acquire) != 0;
  };
  while (!all_ready() && !g_interrupted && std::chrono::steady_clock::now() < ready_by) {
    std::this_thread::sleep_for(5ms);
    siginfo_t si{};
    // WNOWAIT: look, do not reap (reap() does that and reports the exit code).
    if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0)
      break;  // a child failed
  }
  if (!all_ready()) {
    std::fprintf(stderr, "zcp-demo: the processes did not all connect to diroute; stopping\n");
    sh.stop.store(1, std::memory_order_release);
    reap(children, 5s);
    return 1;
  }

  const std::uint64_t t0 = now_ns() + 30'000'000ULL;  // the broadcaster waits ~20 ms for the router
  sh.t0_ns.store(t0, std::memory_order_relaxed);
  sh.go.store(1, std::memory_order_release);  // publishes t0_ns

  std::uint64_t prev_sent = 0;
  std::vector<std::uint64_t> prev_ticks(o.subscribers, 0);
  unsigned second = 1;
  for (; second <= o.seconds && !g_interrupted; ++second) {
    // Window `second - 1` ends at t0 + second s; print 60 ms later, once subscribers closed it.
    const std::uint64_t at = t0 + second * 1'000'000'000ULL + 60'000'000ULL;
    while (now_ns() < at && !g_interrupted)
      std::this_thread::sleep_for(5ms);
    if (g_interrupted) break;
    const std::uint64_t sent = sh.sent_ticks.load(std::memory_order_relaxed);
    std::string line = "[" + std::to_string(second) + "s] sent " +
                       rate(static_cast<double>(sent - prev_sent)) + "/s |";
    prev_sent = sent;
    std::string drops;
    for (unsigned i = 0; i < o.subscribers; ++i) {
      SubscriberSlot& s = sh.subs[i];
      const std::uint64_t t = s.ticks.load(std::memory_order_relaxed);
      line +=
          " s" + std::to_string(i + 1) + " " + rate(static_cast<double>(t - prev_ticks[i])) + "/s";
      prev_ticks[i] = t;
      Window& w = s.windows[(second - 1) % kWindows];
      if (w.index.load(std::memory_order_acquire) == second) {  // acquire: pairs with close_window
        line += " p50 " + micros(w.p50_ns.load(std::memory_order_relaxed)) + " p99 " +
                micros(w.p99_ns.load(std::memory_order_relaxed));
      } else {
        line += " p50 -     p99 -    ";
      }
      line += " |";
      drops += (i ? "/" : "") + std::to_string(s.drops.load(std::memory_order_relaxed));
    }
    std::printf("%s drops %s\n", line.c_str(), drops.c_str());
    std::fflush(stdout);
  }

  sh.stop.store(1, std::memory_order_release);
  const int worst = reap(children, 10s);
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  const std::uint64_t sent = sh.sent_ticks.load(std::memory_order_relaxed);
  std::printf("zcp-demo: sent %" PRIu64 " ticks (%s/s); failed loans %" PRIu64
              ", blocked publishes %" PRIu64 ", failed publishes %" PRIu64 "\n",
              sent, rate(static_cast<double>(sent) / secs).c_str(), sh.failed_loans.load(),
              sh.blocked_publishes.load(), sh.failed_publishes.load());
  bool ordered = true;
  bool complete = true;
  for (unsigned i = 0; i < o.subscribers; ++i) {
    SubscriberSlot& s = sh.subs[i];
    const std::uint64_t t = s.ticks.load(), d = s.drops.load(), g = s.gaps.load(),
                        x = s.out_of_order.load();
    std::printf("          s%u received %" PRIu64 " ticks in %" PRIu64
                " blocks, queue drops %" PRIu64 ", sequence gaps %" PRIu64 ", out of order %" PRIu64
                "\n",
                i + 1, t, s.blocks.load(), d, g, x);
    ordered = ordered && x == 0;
    complete = complete && t == sent;
  }
  std::printf("zcp-demo: %s\n", complete  ? "every subscriber received every tick, in order"
                                : ordered ? "every subscriber received its ticks in order; the "
                                            "drops are the queue policy's, counted"
                                          : "ticks arrived OUT OF ORDER");
  if (worst != 0) std::fprintf(stderr, "zcp-demo: a process failed (exit %d)\n", worst);
  ::munmap(mem, sizeof(Shared));
  if (g_interrupted) return 130;
  return worst != 0 || !ordered ? 1 : 0;
}
