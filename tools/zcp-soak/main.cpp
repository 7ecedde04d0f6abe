// zcp-soak: chaos against a real diroute. Witness streams run for the whole session while
// victim clients are SIGKILLed at random moments (holding loans, holding samples over partly
// full queues, or churning endpoints). At the end every client is gone and the daemon must
// have every chunk back (free == total in every pool class, exactly), still be alive, and
// serve a new client; every witness stream must be complete and in order.
//
//   zcp-soak --rounds 200          # 200 random kills (the integration test's crash test)
//   zcp-soak --duration 180        # a timed soak (make soak)
//
// Exit code 0 when every check holds, 1 when one fails, 2 on bad usage.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>

#include "checks.hpp"
#include "daemon.hpp"
#include "roles.hpp"
#include "system.hpp"

namespace zcp::soak {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string instance;
  std::uint64_t rounds = 0;  // kills; 0 with no duration means 200
  double duration_s = 0;     // > 0: run for this long instead of a round count
  std::uint32_t topics = 4;
  std::uint32_t victims = 4;       // alive at once
  std::uint32_t max_life_ms = 30;  // a victim is killed within this long of its start
  std::uint64_t seed = 0;          // 0: from the clock
  bool json = false;
};

struct Victim {
  pid_t pid = -1;
  VictimKind kind = VictimKind::kPublisher;
  Clock::time_point kill_at{};
};

struct Tally {
  std::uint64_t kills[3] = {};
  std::uint64_t early_exits = 0;  // victims that exited on their own (a refused create)
};

perf::Status<Victim> spawn_victim(const RoleConfig& cfg, SoakState& st, std::mt19937_64& rng,
                                  std::uint32_t max_life_ms) {
  Victim v;
  v.kind = static_cast<VictimKind>(std::uniform_int_distribution<int>(0, 2)(rng));
  std::uint64_t seed = rng();
  auto pid = perf::spawn_child(
      std::string("victim ") + to_string(v.kind),
      [&cfg, &st, kind = v.kind, seed] { return run_victim(cfg, st, kind, seed); });
  if (!pid) return perf::Failure(pid.error());
  v.pid = *pid;
  // Any moment of its life, including before it connected or while it registers.
  v.kill_at = Clock::now() + std::chrono::microseconds(std::uniform_int_distribution<std::uint64_t>(
                                 0, max_life_ms * 1000ULL)(rng));
  return v;
}

// SIGKILLs the victim and reaps it. True if it died of the kill (not on its own before).
bool kill_victim(Victim& v) {
  ::kill(v.pid, SIGKILL);
  int status = 0;
  while (::waitpid(v.pid, &status, 0) < 0 && errno == EINTR) {
  }
  v.pid = -1;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

int run(const Options& opt) {
  perf::install_signal_handlers();
  if (opt.topics == 0 || opt.topics > kMaxTopics) {
    std::fprintf(stderr, "zcp-soak: --topics must be 1..%u\n", kMaxTopics);
    return 2;
  }
  perf::DaemonOptions dopt;
  dopt.instance = opt.instance;
  dopt.log_level = "error";  // victims trip drop warnings by design; failures are checked here
  auto daemon = perf::DaemonSession::open(dopt);
  if (!daemon) {
    std::fprintf(stderr, "zcp-soak: %s\n", daemon.error().c_str());
    return 1;
  }
  auto state = perf::Shared<SoakState>::create();
  if (!state) {
    std::fprintf(stderr, "zcp-soak: %s\n", state.error().c_str());
    return 1;
  }
  SoakState& st = **state;
  std::uint64_t seed = opt.seed != 0
                           ? opt.seed
                           : static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  std::mt19937_64 rng(seed);
  RoleConfig cfg{(*daemon)->instance(), opt.topics, seed};
  std::vector<std::string> failures;

  // Witnesses first, so their streams span every kill.
  std::vector<pid_t> witnesses;
  std::vector<std::string> witness_roles;
  for (std::uint32_t t = 0; t < opt.topics && failures.empty(); ++t) {
    auto s = perf::spawn_child("witness subscriber",
                               [&, t] { return run_witness_subscriber(cfg, st, t); });
    auto p = perf::spawn_child("witness publisher",
                               [&, t] { return run_witness_publisher(cfg, st, t); });
    if (!s || !p) failures.push_back("cannot fork the witnesses");
    if (s)
      witnesses.push_back(*s), witness_roles.push_back("witness subscriber t" + std::to_string(t));
    if (p)
      witnesses.push_back(*p), witness_roles.push_back("witness publisher t" + std::to_string(t));
  }

  const std::uint64_t rounds = opt.duration_s > 0 ? ~0ULL : (opt.rounds ? opt.rounds : 200);
  const auto end = opt.duration_s > 0
                       ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(opt.duration_s))
                       : Clock::time_point::max();
  const auto started = Clock::now();
  std::vector<Victim> victims(opt.victims);
  Tally tally;
  std::uint64_t round = 0;
  for (auto& v : victims) {
    if (!failures.empty()) break;
    auto nv = spawn_victim(cfg, st, rng, opt.max_life_ms);
    if (!nv)
      failures.push_back(nv.error());
    else
      v = *nv;
  }
  while (failures.empty() && round < rounds && Clock::now() < end && !perf::stop_requested() &&
         st.error.set.load() == 0) {
    auto next =
        std::min_element(victims.begin(), victims.end(),
                         [](const Victim& a, const Victim& b) { return a.kill_at < b.kill_at; });
    std::this_thread::sleep_until(next->kill_at);
    if (kill_victim(*next))
      ++tally.kills[static_cast<int>(next->kind)];
    else
      ++tally.early_exits;
    ++round;
    auto nv = spawn_victim(cfg, st, rng, opt.max_life_ms);
    if (!nv)
      failures.push_back(nv.error());
    else
      *next = *nv;
  }
  for (auto& v : victims) {
    if (v.pid > 0 && kill_victim(v)) ++tally.kills[static_cast<int>(v.kind)];
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

  // The witnesses finish their streams; every message must arrive, in order.
  st.stop.store(1, std::memory_order_relaxed);  // relaxed: a polled flag; exits are reaped below
  auto exits = perf::wait_children(witnesses, Clock::now() + 30s);
  if (auto f = perf::describe_failures(exits, witness_roles); !f.empty()) failures.push_back(f);
  if (st.error.set.load() != 0) failures.push_back(st.error.text);
  nlohmann::json streams = nlohmann::json::array();
  for (std::uint32_t t = 0; t < opt.topics; ++t) {
    const WitnessCounters& w = st.witness[t];
    streams.push_back({{"topic", witness_topic(t)},
                       {"sent", w.sent.load()},
                       {"received", w.received.load()},
                       {"gaps", w.gaps.load()},
                       {"out_of_order", w.out_of_order.load()},
                       {"foreign", w.foreign.load()},
                       {"would_block", w.would_block.load()}});
    if (w.gaps.load() != 0 || w.out_of_order.load() != 0 || w.received.load() != w.sent.load()) {
      failures.push_back("stream " + witness_topic(t) + ": sent " + std::to_string(w.sent.load()) +
                         ", received " + std::to_string(w.received.load()) + ", gaps " +
                         std::to_string(w.gaps.load()) + ", out of order " +
                         std::to_string(w.out_of_order.load()));
    }
  }

  // Every client is gone: the daemon must have every chunk back, exactly.
  nlohmann::json pools = nlohmann::json::array();
  if (auto p = await_pools_full(cfg.instance, 5000); !p) {
    failures.push_back(p.error());
  } else {
    for (const auto& c : *p) {
      pools.push_back({{"chunk_size", c.chunk_size},
                       {"total", c.total},
                       {"free", c.free},
                       {"min_free", c.min_free}});
      if (c.free != c.total) {
        failures.push_back("pool " + std::to_string(c.chunk_size) +
                           " B: " + std::to_string(c.total - c.free) + " of " +
                           std::to_string(c.total) + " chunks never came back");
      }
    }
  }
  if (!(*daemon)->alive())
    failures.push_back("diroute died");
  else if (auto pr = probe_daemon(cfg.instance, 100); !pr)
    failures.push_back(pr.error());
  if (auto s = (*daemon)->stop(); !s) failures.push_back(s.error());

  nlohmann::json report = {{"seed", seed},
                           {"seconds", seconds},
                           {"rounds", round},
                           {"kills",
                            {{"publisher", tally.kills[0]},
                             {"subscriber", tally.kills[1]},
                             {"churner", tally.kills[2]}}},
                           {"early_exits", tally.early_exits},
                           {"victim_published", st.victim_published.load()},
                           {"victim_taken", st.victim_taken.load()},
                           {"churn_endpoints", st.churn_endpoints.load()},
                           {"streams", streams},
                           {"pools", pools},
                           {"ok", failures.empty()},
                           {"failures", failures}};
  if (opt.json) {
    std::printf("%s\n", report.dump().c_str());
  } else {
    std::printf(
        "zcp-soak: seed %llu, %llu kills in %.1f s (publishers %llu, subscribers %llu, churners "
        "%llu)\n",
        static_cast<unsigned long long>(seed), static_cast<unsigned long long>(round), seconds,
        static_cast<unsigned long long>(tally.kills[0]),
        static_cast<unsigned long long>(tally.kills[1]),
        static_cast<unsigned long long>(tally.kills[2]));
    for (const auto& s : streams) {
      std::printf("  stream %-18s sent %-9llu received %-9llu gaps %llu out-of-order %llu\n",
                  s["topic"].get<std::string>().c_str(), s["sent"].get<unsigned long long>(),
                  s["received"].get<unsigned long long>(), s["gaps"].get<unsigned long long>(),
                  s["out_of_order"].get<unsigned long long>());
    }
    for (const auto& p : pools) {
      std::printf("  pool %6u B: free %u of %u (min free %u)\n", p["chunk_size"].get<unsigned>(),
                  p["free"].get<unsigned>(), p["total"].get<unsigned>(),
                  p["min_free"].get<unsigned>());
    }
    for (const auto& f : failures)
      std::printf("  FAILED: %s\n", f.c_str());
    std::printf("%s\n", failures.empty() ? "zcp-soak: OK" : "zcp-soak: FAILED");
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace zcp::soak

int main(int argc, char** argv) {
  zcp::soak::Options opt;
  CLI::App app{
      "zcp-soak: random kill -9 chaos against a real diroute, then exact accounting checks"};
  app.add_option("--instance", opt.instance,
                 "use this running diroute (default: start a private one)");
  app.add_option("--rounds", opt.rounds, "random kills to make (default 200 unless --duration)");
  app.add_option("--duration", opt.duration_s,
                 "run for this many seconds instead of a round count");
  app.add_option("--topics", opt.topics, "witness streams (1-16)")->check(CLI::Range(1, 16));
  app.add_option("--victims", opt.victims, "victim clients alive at once")
      ->check(CLI::Range(1, 64));
  app.add_option("--max-life-ms", opt.max_life_ms, "a victim is killed within this long")
      ->check(CLI::Range(1, 60000));
  app.add_option("--seed", opt.seed, "random seed (default: from the clock; printed for replay)");
  app.add_flag("--json", opt.json, "print one JSON object");
  CLI11_PARSE(app, argc, argv);
  return zcp::soak::run(opt);
}
