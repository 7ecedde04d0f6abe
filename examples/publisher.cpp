// zcp-example-pub: publishes 50 counters on demo/example/counter, one every 100 ms, each
// written once, in place, in shared memory. Run zcp-example-sub alongside (README).
#include <chrono>
#include <cstdio>
#include <thread>

#include <zcp/zcp.hpp>

struct Counter {
  std::uint64_t value;
  char text[56];
};

int main() {
  auto rt = zcp::Runtime::connect({.name = "example-pub"});
  if (!rt) return std::fprintf(stderr, "%s\n", rt.error().message.c_str()), 1;
  auto pub = zcp::Publisher<Counter>::create(**rt, "demo/example/counter");
  if (!pub) return std::fprintf(stderr, "%s\n", pub.error().message.c_str()), 1;
  for (std::uint64_t i = 1; i <= 50; ++i) {
    auto loan = pub->loan();  // a Counter constructed in a shared-memory chunk
    if (!loan) return std::fprintf(stderr, "%s\n", loan.error().message.c_str()), 1;
    (*loan)->value = i;
    std::snprintf((*loan)->text, sizeof((*loan)->text), "hello #%llu",
                  static_cast<unsigned long long>(i));
    if (auto r = pub->publish(std::move(*loan)); !r)
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}
