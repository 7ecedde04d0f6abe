// Counter: a statistic written by one thread (the endpoint's owner) and read by any.
#pragma once

#include <atomic>
#include <cstdint>

namespace zcp::ipc::detail {

class Counter {
 public:
  // relaxed load + relaxed store, not fetch_add: there is one writer, so the increment needs
  // no atomic read-modify-write (a locked instruction, ~5 ns on x86, per block). Readers
  // only need an untorn value; the counter guards no data, so nothing is ordered by it.
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace zcp::ipc::detail
