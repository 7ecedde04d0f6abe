// Installs this build tree into a temporary prefix and uses it the way an outside project
// would: find_package(zerocp) and pkg-config zerocp, each building tests/install/consumer
// and running it (publish, then receive, one message) against the installed diroute on a
// private instance. The prefix, the build trees, the daemon and its segment are removed
// whatever happens.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_support.hpp"

namespace {

namespace fs = std::filesystem;

using Ran = zcp::test::CommandResult;

Ran run(const std::string& command) {
  return zcp::test::run_command(command);
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/zcp-install-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    prefix_ = root_ / "prefix";
    instance_ = zcp::test::unique_instance("inst");
    fs::create_directories(root_ / "run");
  }

  void TearDown() override {
    if (daemon_ > 0) {
      ::kill(daemon_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 500 && ::waitpid(daemon_, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (::waitpid(daemon_, &status, WNOHANG) == 0) {
        ::kill(daemon_, SIGKILL);
        ::waitpid(daemon_, &status, 0);
      }
    }
    ::shm_unlink(("/zcp." + instance_ + ".seg").c_str());
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Starts the installed diroute on the private instance; true once its socket exists.
  bool start_daemon() {
    std::string log = (root_ / "diroute.log").string();
    daemon_ = ::fork();
    if (daemon_ == 0) {
      std::freopen(log.c_str(), "w", stderr);
      ::setenv("ZCP_RUNTIME_DIR", (root_ / "run").c_str(), 1);
      std::string bin = (prefix_ / "bin/diroute").string();
      ::execl(bin.c_str(), bin.c_str(), "--instance", instance_.c_str(), "--pool", "64x256",
              "--queue-arena-mb", "4", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    fs::path sock = root_ / "run" / (instance_ + ".sock");
    for (int i = 0; i < 1000; ++i) {
      if (read(log).find("diroute ready") != std::string::npos && fs::exists(sock)) return true;
      int status = 0;
      if (::waitpid(daemon_, &status, WNOHANG) == daemon_) {
        daemon_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "installed diroute did not start:\n" << read(log);
    return false;
  }

  // Configures and builds a consumer project (`dir`) with `use` (cmake or pkgconfig), then
  // runs it.
  void build_and_run(const std::string& dir, const std::string& use, const std::string& env) {
    const std::string cmake = ZCP_CMAKE;
    const fs::path build = root_ / (fs::path(dir).filename().string() + "-" + use);
    Ran conf = run(env + " " + cmake + " -S " + dir + " -B " + build.string() +
                   " -DCMAKE_BUILD_TYPE=Release -DZCP_CONSUMER_USE=" + use +
                   " -DCMAKE_PREFIX_PATH=" + prefix_.string());
    ASSERT_EQ(conf.code, 0) << conf.out;
    Ran made = run(cmake + " --build " + build.string() + " -j2");
    ASSERT_EQ(made.code, 0) << made.out;
    Ran ran = run("ZCP_RUNTIME_DIR=" + (root_ / "run").string() + " ZCP_INSTANCE=" + instance_ +
                  " " + env + " " + (build / "consumer").string());
    EXPECT_EQ(ran.code, 0) << ran.out;
    EXPECT_NE(ran.out.find("received 42"), std::string::npos) << ran.out;
  }

  fs::path root_;
  fs::path prefix_;
  std::string instance_;
  pid_t daemon_ = -1;
};

TEST_F(InstallTest, InstalledPackageBuildsAndRunsAnOutsideProject) {
  Ran inst =
      run(std::string(ZCP_CMAKE) + " --install " ZCP_BUILD_DIR " --prefix " + prefix_.string());
  ASSERT_EQ(inst.code, 0) << inst.out;

  for (const char* f :
       {"bin/diroute", "bin/zcp", "include/zcp/zcp.hpp", "include/zcp/ipc/broadcast_hub.hpp",
        "lib/libzcp.a", "lib/cmake/zerocp/zerocpConfig.cmake",
        "lib/cmake/zerocp/zerocpConfigVersion.cmake", "lib/pkgconfig/zerocp.pc",
        "share/doc/zerocp/diroute.toml", "lib/systemd/system/diroute@.service"}) {
    EXPECT_TRUE(fs::exists(prefix_ / f)) << f;
  }
  bool shared = false;
  for (const auto& e : fs::directory_iterator(prefix_ / "lib")) {
    shared |= e.path().filename().string().starts_with("libzcp.so");
  }
  EXPECT_TRUE(shared) << "libzcp.so";
  std::string unit = read(prefix_ / "lib/systemd/system/diroute@.service");
  EXPECT_NE(unit.find("ExecStart=" + (prefix_ / "bin/diroute").string() +
                      " --config /etc/zcp/%i.toml --instance %i"),
            std::string::npos)
      << unit;
  EXPECT_NE(unit.find("LimitMEMLOCK"), std::string::npos) << unit;

  // The installed example config is accepted by the installed diroute.
  Ran check = run((prefix_ / "bin/diroute").string() + " --check-config " +
                  (prefix_ / "share/doc/zerocp/diroute.toml").string());
  EXPECT_EQ(check.code, 0) << check.out;

  ASSERT_TRUE(start_daemon());
  build_and_run(ZCP_CONSUMER_DIR, "cmake", "");
  // pkg-config links with -L only: the loader needs the library directory.
  build_and_run(ZCP_CONSUMER_DIR, "pkgconfig",
                "PKG_CONFIG_PATH=" + (prefix_ / "lib/pkgconfig").string() +
                    " LD_LIBRARY_PATH=" + (prefix_ / "lib").string());
}

// The C ABI as a C project sees it: zcp/zcp.h installed, a C11 program (-Werror, -pedantic,
// no C++ anywhere in it) built with find_package (zerocp::zcp_c) and with pkg-config
// (zerocp-c), run against the installed daemon; and libzcp.so exporting only the C ABI and
// the C++ namespace zcp.
TEST_F(InstallTest, InstalledCAbiBuildsAndRunsACProgram) {
  Ran inst =
      run(std::string(ZCP_CMAKE) + " --install " ZCP_BUILD_DIR " --prefix " + prefix_.string());
  ASSERT_EQ(inst.code, 0) << inst.out;
  ASSERT_TRUE(fs::exists(prefix_ / "include/zcp/zcp.h"));
  ASSERT_TRUE(fs::exists(prefix_ / "lib/pkgconfig/zerocp-c.pc"));

  ASSERT_TRUE(start_daemon());
  build_and_run(ZCP_C_CONSUMER_DIR, "cmake", "");
  build_and_run(ZCP_C_CONSUMER_DIR, "pkgconfig",
                "PKG_CONFIG_PATH=" + (prefix_ / "lib/pkgconfig").string() +
                    " LD_LIBRARY_PATH=" + (prefix_ / "lib").string());

  // Every dynamic symbol libzcp.so defines is a zcp_* C function or belongs to namespace zcp.
  Ran syms = zcp::test::run_command("nm -D --defined-only " + (prefix_ / "lib/libzcp.so").string() +
                                        " | awk '{print $3}' | c++filt",
                                    false);
  ASSERT_EQ(syms.code, 0) << syms.out;
  std::istringstream lines(syms.out);
  std::string name;
  int c_symbols = 0;
  int cxx_symbols = 0;
  while (std::getline(lines, name)) {
    if (name.empty() || name.starts_with("ZCP_1")) continue;  // the version node itself
    if (name.starts_with("zcp_")) {
      ++c_symbols;
      continue;
    }
    const bool in_zcp = name.starts_with("zcp::") || name.find(" for zcp::") != std::string::npos;
    EXPECT_TRUE(in_zcp) << "libzcp.so exports a symbol outside zcp_* and zcp::: " << name;
    cxx_symbols += in_zcp ? 1 : 0;
  }
  EXPECT_GT(c_symbols, 50);
  EXPECT_GT(cxx_symbols, 20);
  // The C symbols carry the version node ZCP_1.
  Ran versioned = run("objdump -T " + (prefix_ / "lib/libzcp.so").string() +
                      " | grep -c 'ZCP_1 *zcp_publisher_loan$'");
  EXPECT_EQ(versioned.out.substr(0, 1), "1") << versioned.out;
}

}  // namespace
