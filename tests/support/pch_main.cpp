// Owner of the test programs' precompiled header (tests/CMakeLists.txt, zcp_test_pch): every
// test program reuses what compiling this file produced. The program is built, never run.
#include <gtest/gtest.h>

TEST(TestHarness, Builds) {
  SUCCEED();
}
