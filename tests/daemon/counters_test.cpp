// The counter enum, its names and its mapping from decode errors.
#include "daemon/counters.hpp"

#include <cctype>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace zcp::daemon {
namespace {

// "BadMagic" -> "bad_magic"
std::string snake(std::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (std::isupper(static_cast<unsigned char>(c)) && !out.empty()) out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

TEST(Counters, EveryCounterHasADistinctName) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kDaemonCounterCount; ++i) {
    std::string_view n = to_string(static_cast<DaemonCounter>(i));
    EXPECT_FALSE(n.empty());
    EXPECT_NE(n, "unknown");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
}

TEST(Counters, RejectedFramesAreCountedPerDecodeError) {
  Counters c;
  for (std::size_t i = 0; i < protocol::kDecodeErrcCount; ++i) {
    auto errc = static_cast<protocol::DecodeErrc>(i);
    EXPECT_EQ(to_string(rejected_counter(errc)), "rejected_" + snake(protocol::to_string(errc)));
    c.add(rejected_counter(errc), i + 1);
  }
  EXPECT_EQ(c.rejected(protocol::DecodeErrc::BadCrc),
            static_cast<std::uint64_t>(protocol::DecodeErrc::BadCrc) + 1);
  const std::uint64_t n = protocol::kDecodeErrcCount;
  EXPECT_EQ(c.rejected_total(), n * (n + 1) / 2);
  EXPECT_EQ(c.get(DaemonCounter::kRegistrations), 0u);
}

TEST(Counters, SummaryListsEveryCounter) {
  Counters c;
  c.add(DaemonCounter::kRegistrations, 3);
  std::string s = c.summary();
  EXPECT_NE(s.find("registrations=3"), std::string::npos) << s;
  for (std::size_t i = 0; i < kDaemonCounterCount; ++i) {
    EXPECT_NE(s.find(std::string(to_string(static_cast<DaemonCounter>(i))) + "="),
              std::string::npos);
  }
}

}  // namespace
}  // namespace zcp::daemon
