// The daemon's control-plane counters: one enum with a kCount sentinel, one plain array.
//
// Written only by the reactor thread. The words live in the segment's stats region (the
// daemon counter array, shm/stats_layout.hpp), where zcp-top and `zcp metrics` read them
// without asking the daemon; a Counters not attached to a region (a ControlPlane built by a
// test without one) counts into its own array. The daemon also logs the summary at shutdown.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/errors.hpp"
#include "shm/stats.hpp"
#include "shm/stats_names.hpp"

namespace zcp::daemon {

// The counters and their names are part of the stats layout (shm/stats_names.hpp), so that
// tools name them without linking the daemon.
using shm::DaemonCounter;
using shm::kDaemonCounterCount;

static_assert(static_cast<std::size_t>(DaemonCounter::kRejectedUnknownResponse) -
                      static_cast<std::size_t>(DaemonCounter::kRejectedBadMagic) + 1 ==
                  protocol::kDecodeErrcCount,
              "one rejected-frame counter per DecodeErrc, in DecodeErrc order");
static_assert(static_cast<int>(protocol::DecodeErrc::BadMagic) == 0 &&
                  static_cast<int>(protocol::DecodeErrc::UnknownResponse) + 1 ==
                      static_cast<int>(protocol::kDecodeErrcCount),
              "DecodeErrc runs from BadMagic to UnknownResponse");

// The rejected-frame counter of a decode error class.
constexpr DaemonCounter rejected_counter(protocol::DecodeErrc code) noexcept {
  return static_cast<DaemonCounter>(static_cast<std::size_t>(DaemonCounter::kRejectedBadMagic) +
                                    static_cast<std::size_t>(code));
}

class Counters {
 public:
  Counters() = default;
  // values_ may point into own_: a copy would point into the source.
  Counters(const Counters&) = delete;
  Counters& operator=(const Counters&) = delete;

  // Moves the counters into `words` (kDaemonCounterCount of them, the stats region's daemon counter
  // array), carrying over what was counted so far. Reactor thread, before it serves.
  void attach(std::uint64_t* words) noexcept;

  // One writer (the reactor): shm::bump is a relaxed load and store, no locked instruction.
  // Readers (tools) load each word relaxed: a statistic that publishes nothing.
  void add(DaemonCounter c, std::uint64_t n = 1) noexcept { shm::bump(values_[index(c)], n); }
  std::uint64_t get(DaemonCounter c) const noexcept { return shm::read_counter(values_[index(c)]); }
  std::uint64_t rejected(protocol::DecodeErrc code) const noexcept {
    return get(rejected_counter(code));
  }
  std::uint64_t rejected_total() const noexcept;
  // "name=value" for every counter, space-separated, in enum order.
  std::string summary() const;

 private:
  static constexpr std::size_t index(DaemonCounter c) noexcept {
    return static_cast<std::size_t>(c);
  }
  std::array<std::uint64_t, kDaemonCounterCount> own_{};
  std::uint64_t* values_ = own_.data();
};

}  // namespace zcp::daemon
