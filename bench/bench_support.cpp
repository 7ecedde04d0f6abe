#include "bench_support.hpp"

#include <algorithm>
#include <cstdlib>

namespace zcp::bench {

namespace {
std::vector<int> g_cpus;  // written once by main() before benchmarks run, then read-only
}  // namespace

std::string parse_cpu_list(const std::string& text, std::vector<int>& out) {
  out.clear();
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    return std::string("sched_getaffinity failed: ") + std::strerror(errno);
  }
  std::string allowed_list;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed))
      allowed_list += (allowed_list.empty() ? "" : ",") + std::to_string(c);
  }
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    char* end = nullptr;
    errno = 0;
    const long v = item.empty() ? -1 : std::strtol(item.c_str(), &end, 10);
    if (item.empty() || errno != 0 || *end != '\0' || v < 0 || v >= CPU_SETSIZE) {
      return "'" + item + "' is not a CPU number";
    }
    if (!CPU_ISSET(static_cast<int>(v), &allowed)) {
      return "CPU " + item + " is not available to this process (allowed: " + allowed_list + ")";
    }
    out.push_back(static_cast<int>(v));
    pos = comma + 1;
  }
  if (out.size() < 2)
    return "need at least 2 CPUs (a producer's and a consumer's), got " +
           std::to_string(out.size());
  return {};
}

void set_bench_cpus(std::vector<int> cpus) {
  g_cpus = std::move(cpus);
}
const std::vector<int>& bench_cpus() {
  return g_cpus;
}
int cpu(std::size_t n) {
  return g_cpus.at(n);
}

std::string cpu_label(std::size_t n) {
  std::string s = "cpus ";
  for (std::size_t i = 0; i < n && i < g_cpus.size(); ++i) {
    s += (i ? "->" : "") + std::to_string(g_cpus[i]);
  }
  return s;
}

std::string pin_this_thread(int cpu_id) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu_id, &set);
  // pid 0: the calling thread (Linux affinity is per thread).
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
    return "sched_setaffinity(CPU " + std::to_string(cpu_id) + ") failed: " + std::strerror(errno);
  }
  return {};
}

ScopedPin::ScopedPin(int cpu_id) {
  CPU_ZERO(&saved_);
  if (::sched_getaffinity(0, sizeof(saved_), &saved_) != 0) {
    error_ = std::string("sched_getaffinity failed: ") + std::strerror(errno);
    return;
  }
  error_ = pin_this_thread(cpu_id);
  restore_ = error_.empty();
}

ScopedPin::~ScopedPin() {
  if (restore_) (void)::sched_setaffinity(0, sizeof(saved_), &saved_);
}

BenchSegment::BenchSegment(std::size_t bytes) : size_(bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    error_ = "mmap of a " + std::to_string(bytes) +
             "-byte shared segment failed: " + std::strerror(errno);
    return;
  }
  base_ = static_cast<std::byte*>(p);
}

BenchSegment::~BenchSegment() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

benchmark::internal::Benchmark* single_thread(benchmark::internal::Benchmark* b) {
  return b->Unit(benchmark::kNanosecond)->MinWarmUpTime(kMinWarmUpSeconds);
}

benchmark::internal::Benchmark* two_threads(benchmark::internal::Benchmark* b) {
  return single_thread(b)->UseRealTime();
}

std::uint64_t percentile(std::vector<std::uint64_t>& samples, double p) {
  if (samples.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k),
                   samples.end());
  return samples[k];
}

}  // namespace zcp::bench
