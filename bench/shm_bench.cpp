// zcp-bench-shm: micro-benchmarks of the shared-memory core (rings, chunk pool, wake check).
//
//   ZCP_BENCH_CPUS=0,1 zcp-bench-shm [--benchmark_* flags]
//
// ZCP_BENCH_CPUS lists the CPUs the benchmarks pin to (default "0,1"): the first runs the
// measured thread (producer), the second its partner (consumer, echo, contender), an
// optional third a second producer (mpmc/transfer_2p1c runs only then). Release builds only
// mean anything; scripts/run-bench.sh runs the set with repetitions and reports medians.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace zcp::bench {
void register_spsc_benchmarks();
void register_mpmc_benchmarks();
void register_pool_benchmarks();
}  // namespace zcp::bench

namespace {

constexpr const char* kDefaultCpus = "0,1";

std::string read_first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  namespace zb = zcp::bench;
  const char* env = std::getenv("ZCP_BENCH_CPUS");
  const std::string cpu_text = (env != nullptr && *env != '\0') ? env : kDefaultCpus;
  std::vector<int> cpus;
  if (auto err = zb::parse_cpu_list(cpu_text, cpus); !err.empty()) {
    std::fprintf(stderr, "zcp-bench-shm: ZCP_BENCH_CPUS=\"%s\": %s\n", cpu_text.c_str(),
                 err.c_str());
    return 2;
  }
  // Try every pin now, so a CPU the scheduler refuses fails here with its reason instead of
  // skipping benchmarks one by one.
  for (int c : cpus) {
    zb::ScopedPin probe(c);
    if (!probe.error().empty()) {
      std::fprintf(stderr, "zcp-bench-shm: ZCP_BENCH_CPUS=\"%s\": %s\n", cpu_text.c_str(),
                   probe.error().c_str());
      return 2;
    }
  }
  if (cpus[0] == cpus[1]) {
    std::fprintf(stderr,
                 "zcp-bench-shm: warning: producer and consumer share CPU %d; cross-thread "
                 "numbers will measure time-slicing\n",
                 cpus[0]);
  }
  zb::set_bench_cpus(cpus);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("zcp_bench_cpus", cpu_text);
  benchmark::AddCustomContext("loadavg_at_start", read_first_line("/proc/loadavg"));
  if (cpus.size() < 3) {
    benchmark::AddCustomContext(
        "mpmc/transfer_2p1c", "not run: needs a 3rd CPU in ZCP_BENCH_CPUS; 3 spinning threads on " +
                                  std::to_string(cpus.size()) +
                                  " CPUs would measure time-slicing, not contention");
  }
  zb::register_spsc_benchmarks();
  zb::register_mpmc_benchmarks();
  zb::register_pool_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
