// The processes zcp-soak runs against a real diroute (docs/operations.md, "Soak"):
//  - witnesses: one publisher and one lossless (block_publisher) subscriber per topic, alive
//    for the whole run. Their stream must carry on, complete and in order, while everything
//    around them dies.
//  - victims: short-lived clients that are SIGKILLed at a random moment, at any instruction:
//    a publisher holding loans, a subscriber holding samples over a partly full queue, or a
//    churner that creates and destroys endpoints on fresh topics.
// Every role is a forked child running the public libzcp API; the parent only orchestrates.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "system.hpp"

namespace zcp::soak {

inline constexpr std::uint32_t kMaxTopics = 16;
// Tags the payload's first word, so a witness subscriber can tell its publisher's messages
// from the victims' on the same topic.
inline constexpr std::uint64_t kWitnessOrigin = 0x5749'544e'4553'5321ULL;  // "WITNESS!"
inline constexpr std::uint64_t kVictimOrigin = 0x5649'4354'494d'2121ULL;   // "VICTIM!!"

struct WitnessCounters {
  std::atomic<std::uint64_t> sent{0};          // publisher: messages published
  std::atomic<std::uint64_t> would_block{0};   // publisher: retries on a full ring
  std::atomic<std::uint64_t> received{0};      // subscriber: witness messages taken
  std::atomic<std::uint64_t> foreign{0};       // subscriber: victims' messages taken
  std::atomic<std::uint64_t> gaps{0};          // subscriber: sequence jumps (must stay 0)
  std::atomic<std::uint64_t> out_of_order{0};  // subscriber: sequence went back (must stay 0)
  std::atomic<std::uint32_t> sub_ready{0};
  std::atomic<std::uint32_t> pub_done{0};  // publisher flushed and stopped
};

// Lives in MAP_SHARED memory: every child sees it. Atomics only (lock-free, cross-process).
struct SoakState {
  std::atomic<std::uint32_t> stop{0};  // parent → witnesses: finish and report
  WitnessCounters witness[kMaxTopics];
  std::atomic<std::uint64_t> victim_published{0};
  std::atomic<std::uint64_t> victim_taken{0};
  std::atomic<std::uint64_t> churn_endpoints{0};
  perf::ErrorSlot error;
};

struct RoleConfig {
  std::string instance;
  std::uint32_t topics = 4;
  std::uint64_t seed = 1;
};

enum class VictimKind : std::uint8_t { kPublisher, kSubscriber, kChurner };
const char* to_string(VictimKind k) noexcept;

std::string witness_topic(std::uint32_t t);

int run_witness_publisher(const RoleConfig& cfg, SoakState& st, std::uint32_t topic);
int run_witness_subscriber(const RoleConfig& cfg, SoakState& st, std::uint32_t topic);
// Runs until killed (it never exits on its own unless something fails).
int run_victim(const RoleConfig& cfg, SoakState& st, VictimKind kind, std::uint64_t seed);

}  // namespace zcp::soak
