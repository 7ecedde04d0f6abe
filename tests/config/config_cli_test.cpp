// diroute's configuration on the command line, against the real binary: the default config
// passes --check-config, the packaged example is that default, errors exit 2 naming
// file:line:key, and a config file (with flags over it) shapes a running daemon's segment.
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "diroute_process.hpp"
#include "raw_client.hpp"
#include "shm/segment.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon::test {
namespace {

using Ran = zcp::test::CommandResult;

Ran run(const std::string& command) {
  return zcp::test::run_command(command);
}

const std::string kDiroute = ZCP_DIROUTE_PATH;

class ConfigCli : public DaemonTest {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    std::string path = runtime_dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(ConfigCli, PrintDefaultConfigPassesCheckConfig) {
  Ran r = run(kDiroute + " --print-default-config | " + kDiroute + " --check-config -");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("<stdin>: configuration OK"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chunk pool"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("worst case per topic"), std::string::npos) << r.out;
}

TEST_F(ConfigCli, PackagedExampleIsTheDefaultConfig) {
  Ran r = run(kDiroute + " --print-default-config");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(DirouteProcess::read_file(std::string(ZCP_SOURCE_DIR) + "/packaging/diroute.toml"),
            r.out)
      << "packaging/diroute.toml is out of date: regenerate it with "
         "`build/bin/diroute --print-default-config > packaging/diroute.toml`";
}

TEST_F(ConfigCli, CheckConfigExitsTwoNamingFileLineAndKey) {
  std::string path = write("bad.toml", "[router]\nworkers = 2\nidel = \"spin\"\n");
  Ran r = run(kDiroute + " --check-config " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(path + ":3:1: router.idel: unknown key (did you mean 'idle'?)"),
            std::string::npos)
      << r.out;

  // A daemon started with the same file refuses to start, with the same message.
  auto d = make_daemon({"--config", path});
  EXPECT_EQ(d->run_to_exit(), 2);
  EXPECT_NE(d->log().find(path + ":3:1: router.idel"), std::string::npos) << d->log();
}

TEST_F(ConfigCli, FlagsOverrideTheFileInCheckConfig) {
  std::string path = write("hb.toml", "[heartbeat]\ninterval_ms = 100\ntimeout_ms = 200\n");
  EXPECT_EQ(run(kDiroute + " --check-config " + path).code, 0);
  Ran r = run(kDiroute + " --check-config " + path + " --heartbeat-ms 500");
  EXPECT_EQ(r.code, 2) << "the flag's 500 ms meets the file's 200 ms timeout: " << r.out;
  EXPECT_NE(
      r.out.find("heartbeat.timeout_ms (200) must be longer than heartbeat.interval_ms (500)"),
      std::string::npos)
      << r.out;
}

TEST_F(ConfigCli, ConfigFileShapesTheSegment) {
  std::string path = write("pools.toml",
                           "[daemon]\ninstance = \"the-command-line-wins\"\n"
                           "[[pools]]\nsize = 256\ncount = 32\n[[pools]]\nsize = 4096\ncount = 8\n"
                           "[router]\nworkers = 2\n[memory]\nprefault = true\nqueue_arena_mb = 4\n"
                           "[[access.allow]]\nservice = \"md.*\"\nsubscribe_uids = [0]\n");
  start_daemon({"--config", path});
  auto seg =
      shm::Segment::open(daemon_->segment_path().substr(std::string("/dev/shm").size()), false);
  ASSERT_TRUE(seg) << seg.error().message;
  ASSERT_EQ(seg->pool().class_count(), 2U);
  EXPECT_EQ(seg->pool().stats(0).chunk_size, 256U);
  EXPECT_EQ(seg->pool().stats(0).total, 32U);
  EXPECT_EQ(seg->pool().stats(1).chunk_size, 4096U);
  EXPECT_EQ(seg->pool().stats(1).total, 8U);
  auto arena = seg->region(shm::RegionKind::kQueueArena);
  ASSERT_TRUE(arena);
  EXPECT_EQ(arena->size, 4ULL << 20);
  std::string log = daemon_->log();
  EXPECT_NE(log.find("effective configuration (TOML)"), std::string::npos) << log;
  EXPECT_NE(log.find("workers = 2"), std::string::npos) << log;
  EXPECT_NE(log.find("prefault = true"), std::string::npos) << log;
  EXPECT_NE(log.find("memory estimate:"), std::string::npos) << log;
  EXPECT_NE(log.find("allowlist(s) decide who may publish and subscribe"), std::string::npos)
      << log;
}

TEST_F(ConfigCli, PoolFlagOverridesTheFilesPools) {
  std::string path = write("pools.toml", "[[pools]]\nsize = 256\ncount = 32\n");
  start_daemon({"--config", path, "--pool", "512x16"});
  auto seg =
      shm::Segment::open(daemon_->segment_path().substr(std::string("/dev/shm").size()), false);
  ASSERT_TRUE(seg) << seg.error().message;
  ASSERT_EQ(seg->pool().class_count(), 1U);
  EXPECT_EQ(seg->pool().stats(0).chunk_size, 512U);
  EXPECT_EQ(seg->pool().stats(0).total, 16U);
}

TEST_F(ConfigCli, ReactorPinningAndRefusedPriorityAreReported) {
  std::string pinned = write("pin.toml", "[reactor]\ncpu = 0\n[router]\ncpus = [0]\n");
  start_daemon({"--config", pinned});
  EXPECT_TRUE(daemon_->running());
  EXPECT_EQ(daemon_->stop(SIGTERM), 0);

  // SCHED_FIFO: allowed as root with CAP_SYS_NICE; otherwise exit 5 naming the rlimit.
  std::string rt = write("rt.toml", "[reactor]\nsched_fifo_priority = 1\n");
  auto d = make_daemon({"--config", rt});
  if (d->start()) {
    EXPECT_EQ(d->stop(SIGTERM), 0);
  } else {
    EXPECT_NE(d->log().find("RLIMIT_RTPRIO"), std::string::npos) << d->log();
  }
}

TEST_F(ConfigCli, AllowlistsDecideWhoPublishesAndSubscribes) {
  // This test runs as some uid/gid; the file lets that uid subscribe to md.* but publish only
  // as another uid, closes every unlisted service to publishers, and leaves "open" open by
  // an entry that names our uid.
  const std::string me = std::to_string(::getuid());
  const std::string other = std::to_string(::getuid() + 4242);
  std::string path =
      write("access.toml", "[[access.allow]]\nservice = \"*\"\nsubscribe_uids = [" + me +
                               "]\n"
                               "[[access.allow]]\nservice = \"md.*\"\npublish_uids = [" +
                               other + "]\nsubscribe_uids = [" + me +
                               "]\n"
                               "[[access.allow]]\nservice = \"open\"\npublish_uids = [" +
                               me +
                               "]\n"
                               "subscribe_uids = [" +
                               me + "]\n");
  start_daemon({"--config", path});
  RawClient c = RawClient::connect(daemon_->socket_path());
  ASSERT_TRUE(c.valid());
  ASSERT_EQ(c.hello()->code(), fb::ResultCode::Ok);
  ASSERT_EQ(c.register_process("access-test", false)->code(), fb::ResultCode::Ok);

  auto denied = c.create_publisher({"md.fx", "i", "e"});
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->code(), fb::ResultCode::PermissionDenied);
  EXPECT_NE(denied->message().find("may not publish to service 'md.fx'"), std::string::npos)
      << denied->message();
  EXPECT_NE(denied->message().find("entry 'md.*'"), std::string::npos) << denied->message();
  EXPECT_EQ(c.create_subscriber({"md.fx", "i", "e"}, {})->code(), fb::ResultCode::Ok);
  EXPECT_EQ(c.create_publisher({"open", "i", "e"})->code(), fb::ResultCode::Ok);
  EXPECT_EQ(c.create_publisher({"robot", "i", "e"})->code(), fb::ResultCode::PermissionDenied)
      << "the '*' entry lists no publisher";
  EXPECT_EQ(c.create_subscriber({"robot", "i", "e"}, {})->code(), fb::ResultCode::Ok);
  c.close();
  EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->log();
  EXPECT_EQ(daemon_->counters()["access_denied"], 2U) << daemon_->log();
}

}  // namespace
}  // namespace zcp::daemon::test
