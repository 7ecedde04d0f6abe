// AccessPolicy: which [[access.allow]] entry decides for a service, and what it allows.
#include "daemon/access.hpp"

#include <gtest/gtest.h>

namespace zcp::daemon {
namespace {

AccessPolicy policy() {
  return AccessPolicy({
      {"*", {}, {}, {}, {50}},           // everything not listed: nobody publishes, gid 50 reads
      {"md.*", {1001}, {}, {}, {2000}},  // market data: uid 1001 publishes, gid 2000 reads
      {"md.bonds", {1002}, {}, {1002}, {}},  // an exact name beats the prefix
  });
}

TEST(AccessPolicy, NoEntriesAllowsEveryone) {
  AccessPolicy open;
  EXPECT_TRUE(open.allows(AccessRole::kPublish, "anything", 1, 1));
  EXPECT_TRUE(open.allows(AccessRole::kSubscribe, "anything", 1, 1));
  EXPECT_EQ(open.match("anything"), nullptr);
}

TEST(AccessPolicy, TheMostSpecificEntryDecides) {
  AccessPolicy p = policy();
  ASSERT_NE(p.match("md.bonds"), nullptr);
  EXPECT_EQ(p.match("md.bonds")->service, "md.bonds");
  EXPECT_EQ(p.match("md.fx")->service, "md.*");
  EXPECT_EQ(p.match("md.")->service, "md.*");
  EXPECT_EQ(p.match("robot")->service, "*");
  EXPECT_EQ(p.match("md")->service, "*") << "'md.*' needs the dot";
}

TEST(AccessPolicy, UidsAndGidsPerRole) {
  AccessPolicy p = policy();
  EXPECT_TRUE(p.allows(AccessRole::kPublish, "md.fx", 1001, 7));
  EXPECT_FALSE(p.allows(AccessRole::kPublish, "md.fx", 1002, 7));
  EXPECT_FALSE(p.allows(AccessRole::kSubscribe, "md.fx", 1001, 7))
      << "publishing does not imply reading";
  EXPECT_TRUE(p.allows(AccessRole::kSubscribe, "md.fx", 5, 2000));
  EXPECT_TRUE(p.allows(AccessRole::kPublish, "md.bonds", 1002, 7));
  EXPECT_FALSE(p.allows(AccessRole::kPublish, "md.bonds", 1001, 7))
      << "the exact entry overrides md.*";
  EXPECT_FALSE(p.allows(AccessRole::kPublish, "robot", 0, 0))
      << "empty lists: nobody, root included";
  EXPECT_TRUE(p.allows(AccessRole::kSubscribe, "robot", 9, 50));
}

TEST(AccessPolicy, RefusalNamesWhoWhatAndTheEntry) {
  AccessPolicy p = policy();
  std::string m = p.refusal(AccessRole::kPublish, "md.fx", 1002, 7);
  EXPECT_NE(m.find("uid 1002 gid 7"), std::string::npos) << m;
  EXPECT_NE(m.find("publish to service 'md.fx'"), std::string::npos) << m;
  EXPECT_NE(m.find("entry 'md.*'"), std::string::npos) << m;
}

}  // namespace
}  // namespace zcp::daemon
