// Publishes one message and receives it through the daemon named by $ZCP_INSTANCE, using
// only the installed headers and library. Prints "received 42" and exits 0 on success.
#include <chrono>
#include <cstdio>

#include <zcp/ipc/broadcast_hub.hpp>  // the market-data API's header is installed and compiles
#include <zcp/zcp.hpp>

struct Counter {
  std::uint64_t value;
};

int main() {
  auto rt = zcp::Runtime::connect({.name = "install-consumer"});
  if (!rt) return std::fprintf(stderr, "connect: %s\n", rt.error().message.c_str()), 1;
  auto sub = zcp::Subscriber<Counter>::create(**rt, "install/test/counter");
  if (!sub) return std::fprintf(stderr, "subscriber: %s\n", sub.error().message.c_str()), 1;
  auto pub = zcp::Publisher<Counter>::create(**rt, "install/test/counter");
  if (!pub) return std::fprintf(stderr, "publisher: %s\n", pub.error().message.c_str()), 1;
  auto loan = pub->loan();
  if (!loan) return std::fprintf(stderr, "loan: %s\n", loan.error().message.c_str()), 1;
  (*loan)->value = 42;
  if (auto r = pub->publish(std::move(*loan)); !r)
    return std::fprintf(stderr, "publish: %s\n", r.error().message.c_str()), 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto s = sub->take()) {
      std::printf("received %llu\n", static_cast<unsigned long long>((*s)->value));
      return (*s)->value == 42 ? 0 : 1;
    }
    (void)sub->wait(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "no message within 10 s\n");
  return 1;
}
