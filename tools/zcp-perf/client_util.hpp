// Helpers the benchmark processes share, on the public libzcp API only: connect a Runtime,
// wait until a publisher sees its subscribers, and publish one message with retries on
// back-pressure (counted, since they are part of what a benchmark measures).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include <unistd.h>

#include <zcp/zcp.hpp>

#include "system.hpp"

namespace zcp::perf {

inline Status<std::unique_ptr<zcp::Runtime>> connect_runtime(const std::string& role,
                                                             const std::string& instance) {
  zcp::RuntimeOptions o;
  o.name = "zcp-perf-" + role + "-" + std::to_string(::getpid());
  o.instance = instance;
  auto rt = zcp::Runtime::connect(o);
  if (!rt) return Failure(role + ": connect: " + rt.error().message);
  return std::move(*rt);
}

// The router counts subscribers asynchronously (after it applied their add command): wait
// until it counted `n`, so that no message is published before every subscriber is routed.
inline Status<void> wait_for_subscribers(const zcp::Publisher<>& pub, std::uint32_t n,
                                         std::chrono::steady_clock::time_point deadline,
                                         const std::function<bool()>& abort) {
  if (wait_until([&] { return pub.subscriber_count() >= n; }, deadline, abort)) return {};
  return Failure("publisher " + pub.topic().str() + " sees " +
                 std::to_string(pub.subscriber_count()) + " of " + std::to_string(n) +
                 " subscribers" +
                 (stop_requested() || abort() ? " (interrupted)" : " before the deadline"));
}

struct Backpressure {
  std::uint64_t would_block = 0;     // publish(): ring full (router behind, or a full
                                     // block_publisher queue)
  std::uint64_t pool_exhausted = 0;  // loan(): no free chunk in time
};

enum class PublishOutcome { kPublished, kGaveUp, kFailed };

// Loans `size` bytes, lets fill(span) write them, publishes. kWouldBlock and kPoolExhausted
// are counted and retried after a yield (the router, or a subscriber, needs the CPU on a
// 2-core host) until give_up() says stop; any other error fails with its message in `error`.
// Note: each failed call builds its error message (one allocation); under heavy
// back-pressure that is part of the measured cost.
template <class Fill, class GiveUp>
PublishOutcome publish_one(zcp::Publisher<>& pub, std::size_t size, Fill&& fill, Backpressure& bp,
                           GiveUp&& give_up, std::string& error) {
  for (;;) {
    auto loan = pub.loan(size);
    if (!loan) {
      if (loan.error().code != zcp::Errc::kPoolExhausted) {
        error = loan.error().message;
        return PublishOutcome::kFailed;
      }
      ++bp.pool_exhausted;
      if (give_up()) return PublishOutcome::kGaveUp;
      std::this_thread::yield();
      continue;
    }
    fill(loan->data());
    for (;;) {
      auto r = pub.publish(std::move(*loan));
      if (r) return PublishOutcome::kPublished;
      if (r.error().code != zcp::Errc::kWouldBlock) {
        error = r.error().message;
        return PublishOutcome::kFailed;
      }
      ++bp.would_block;
      if (give_up()) return PublishOutcome::kGaveUp;  // the loan goes back unpublished
      std::this_thread::yield();
    }
  }
}

// Writes the message's sequence number and send time into its first 16 bytes (fewer if the
// payload is smaller), the part every scenario writes.
inline void write_stamp(std::span<std::byte> data, std::uint64_t seq, std::uint64_t t_ns) noexcept {
  std::uint64_t words[2] = {seq, t_ns};
  std::memcpy(data.data(), words, std::min(data.size(), sizeof(words)));
}

}  // namespace zcp::perf
