// 200 rounds of kill -9: each round SIGKILLs a random victim client (a publisher holding
// loans, a subscriber holding samples over a partly full queue, or a client churning
// endpoints) at a random moment, while witness streams run on the same topics. zcp-soak
// then checks, and this test asserts from its JSON report:
//  - every pool class is back to free == total, exactly;
//  - the daemon is alive and serves a new client end to end;
//  - every witness stream arrived complete and in order.
#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace {

nlohmann::json run_soak(const std::string& args, int& exit_code) {
  auto r = zcp::test::run_command(std::string(ZCP_SOAK_PATH) + " --json " + args,
                                  /*merge_stderr=*/false);
  exit_code = r.code;
  return nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
}

void expect_clean(const nlohmann::json& r, std::uint64_t rounds) {
  ASSERT_TRUE(r.is_object()) << "zcp-soak printed no JSON report";
  SCOPED_TRACE("seed " + r["seed"].dump() + " (replay with zcp-soak --seed)");
  EXPECT_TRUE(r["ok"].get<bool>()) << r["failures"].dump(2);
  EXPECT_EQ(r["rounds"].get<std::uint64_t>(), rounds);
  std::uint64_t kills = r["kills"]["publisher"].get<std::uint64_t>() +
                        r["kills"]["subscriber"].get<std::uint64_t>() +
                        r["kills"]["churner"].get<std::uint64_t>();
  EXPECT_GE(kills + r["early_exits"].get<std::uint64_t>(), rounds);
  EXPECT_GT(r["kills"]["publisher"].get<std::uint64_t>(), 0U);
  EXPECT_GT(r["kills"]["subscriber"].get<std::uint64_t>(), 0U);
  ASSERT_FALSE(r["pools"].empty());
  for (const auto& p : r["pools"]) {
    EXPECT_EQ(p["free"], p["total"]) << "pool " << p["chunk_size"] << " B leaked chunks";
  }
  for (const auto& s : r["streams"]) {
    EXPECT_GT(s["sent"].get<std::uint64_t>(), 0U) << s["topic"];
    EXPECT_EQ(s["received"], s["sent"]) << s["topic"];
    EXPECT_EQ(s["gaps"].get<std::uint64_t>(), 0U) << s["topic"];
    EXPECT_EQ(s["out_of_order"].get<std::uint64_t>(), 0U) << s["topic"];
  }
}

TEST(SoakKill, TwoHundredRandomKillsLeakNothing) {
  int code = -1;
  auto r = run_soak("--rounds 200 --topics 4 --victims 4 --max-life-ms 30", code);
  EXPECT_EQ(code, 0);
  expect_clean(r, 200);
}

TEST(SoakKill, KillsDuringRegistrationLeakNothing) {
  // Lives of at most 2 ms: most victims die inside connect() or create(), mid-request.
  int code = -1;
  auto r = run_soak("--rounds 200 --topics 2 --victims 8 --max-life-ms 2", code);
  EXPECT_EQ(code, 0);
  expect_clean(r, 200);
}

}  // namespace
