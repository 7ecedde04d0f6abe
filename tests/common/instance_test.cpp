#include "common/instance.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace {

TEST(Instance, DefaultsToDefault) {
  ::unsetenv("ZCP_INSTANCE");
  auto p = zcp::resolve_instance();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->instance, "default");
  EXPECT_EQ(p->shm_name("seg"), "/zcp.default.seg");
}

TEST(Instance, CliWinsOverEnvironment) {
  ::setenv("ZCP_INSTANCE", "fromenv", 1);
  auto p = zcp::resolve_instance(std::string("fromcli"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->instance, "fromcli");
  auto q = zcp::resolve_instance();
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->instance, "fromenv");
  ::unsetenv("ZCP_INSTANCE");
}

TEST(Instance, RuntimeDirFollowsContract) {
  ::setenv("ZCP_RUNTIME_DIR", "/tmp/zcp-test-rt", 1);
  auto p = zcp::resolve_instance(std::string("a"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->socket_path, "/tmp/zcp-test-rt/a.sock");
  ::unsetenv("ZCP_RUNTIME_DIR");
  ::setenv("XDG_RUNTIME_DIR", "/run/user/77", 1);
  p = zcp::resolve_instance(std::string("a"));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->socket_path, "/run/user/77/zcp/a.sock");
}

TEST(Instance, RejectsBadNames) {
  EXPECT_FALSE(zcp::resolve_instance(std::string("has/slash")).has_value());
  EXPECT_FALSE(zcp::resolve_instance(std::string(".hidden")).has_value());
  EXPECT_FALSE(zcp::resolve_instance(std::string(49, 'x')).has_value());
  auto e = zcp::resolve_instance(std::string("sp ace"));
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("' '"), std::string::npos) << e.error();
}

TEST(Instance, RejectsSocketPathTooLong) {
  ::setenv("ZCP_RUNTIME_DIR", std::string("/tmp/" + std::string(100, 'd')).c_str(), 1);
  auto e = zcp::resolve_instance(std::string("x"));
  ::unsetenv("ZCP_RUNTIME_DIR");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("ZCP_RUNTIME_DIR"), std::string::npos);
}

}  // namespace
