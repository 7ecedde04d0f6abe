// zcp-example-sub: prints the counters of zcp-example-pub as they arrive, read in place
// (no copy), sleeping on the subscriber's eventfd in between. Stops after 50, or after 5 s
// of silence.
#include <chrono>
#include <cstdio>

#include <zcp/zcp.hpp>

struct Counter {
  std::uint64_t value;
  char text[56];
};

int main() {
  auto rt = zcp::Runtime::connect({.name = "example-sub"});
  if (!rt) return std::fprintf(stderr, "%s\n", rt.error().message.c_str()), 1;
  auto sub = zcp::Subscriber<Counter>::create(**rt, "demo/example/counter");
  if (!sub) return std::fprintf(stderr, "%s\n", sub.error().message.c_str()), 1;
  for (int got = 0, idle = 0; got < 50 && idle < 50;) {
    while (auto s = sub->take()) {
      std::printf("%-16s value %llu (sequence %llu)\n", (*s)->text,
                  static_cast<unsigned long long>((*s)->value),
                  static_cast<unsigned long long>(s->sequence()));
      ++got, idle = 0;
    }
    if (!sub->wait(std::chrono::milliseconds(100))) ++idle;
  }
}
