#include <string>

#include <gtest/gtest.h>

#include <zcp/expected.hpp>

namespace {

zcp::Expected<int, std::string> parse(bool ok) {
  if (ok) return 42;
  return zcp::Unexpected(std::string("bad"));
}

TEST(Expected, ValueAndError) {
  auto a = parse(true);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 42);
  auto b = parse(false);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), "bad");
  EXPECT_EQ(b.value_or(7), 7);
}

TEST(Expected, Void) {
  zcp::Expected<void, int> ok;
  EXPECT_TRUE(ok);
  zcp::Expected<void, int> bad = zcp::Unexpected(5);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), 5);
}

}  // namespace
