#include "daemon/counters.hpp"

namespace zcp::daemon {

void Counters::attach(std::uint64_t* words) noexcept {
  if (words == nullptr || words == values_) return;
  for (std::size_t i = 0; i < kDaemonCounterCount; ++i) {
    // relaxed: the reactor is the only writer; readers take each word as a statistic.
    shm::atomic_store(words[i], shm::read_counter(values_[i]), std::memory_order_relaxed);
  }
  values_ = words;
}

std::uint64_t Counters::rejected_total() const noexcept {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < protocol::kDecodeErrcCount; ++i) {
    sum += rejected(static_cast<protocol::DecodeErrc>(i));
  }
  return sum;
}

std::string Counters::summary() const {
  std::string out;
  out.reserve(kDaemonCounterCount * 24);
  for (std::size_t i = 0; i < kDaemonCounterCount; ++i) {
    if (i != 0) out += ' ';
    out += to_string(static_cast<DaemonCounter>(i));
    out += '=';
    out += std::to_string(shm::read_counter(values_[i]));
  }
  return out;
}

}  // namespace zcp::daemon
