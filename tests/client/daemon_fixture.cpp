#include "daemon_fixture.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "shm/segment.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace zcp::client_test {

namespace {

bool socket_accepts(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

DirouteProcess::DirouteProcess(std::string runtime_dir, std::string instance)
    : runtime_dir_(std::move(runtime_dir)), instance_(std::move(instance)) {
  socket_path_ = runtime_dir_ + "/" + instance_ + ".sock";
  log_path_ = runtime_dir_ + "/diroute.log";
}

DirouteProcess::~DirouteProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

bool DirouteProcess::start(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"--instance", instance_, "--log-level", "info"};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = zcp::test::spawn_process(ZCP_DIROUTE_PATH, argv, log_path_);
  if (pid < 0) return false;
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (socket_accepts(socket_path_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

int DirouteProcess::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string DirouteProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void PubSubTest::SetUp() {
  std::string tmpl = "/tmp/zcp-cli-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  runtime_dir_ = tmpl;
  instance_ = zcp::test::unique_instance("c");
  // Children inherit both: Runtime::connect() with no instance finds this daemon.
  ::setenv("ZCP_RUNTIME_DIR", runtime_dir_.c_str(), 1);
  ::setenv("ZCP_INSTANCE", instance_.c_str(), 1);
  daemon_ = std::make_unique<DirouteProcess>(runtime_dir_, instance_);
  ASSERT_TRUE(daemon_->start(daemon_args())) << "diroute did not start:\n" << daemon_->log();
}

void PubSubTest::TearDown() {
  if (daemon_ && daemon_->running() && !skip_leak_check_) {
    EXPECT_TRUE(pools_settle()) << "chunks leaked; daemon log:\n" << daemon_->log();
    EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->log();
  }
  daemon_.reset();
  ::shm_unlink(("/zcp." + instance_ + ".seg").c_str());  // after a SIGKILL, if any
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir_, ec);
}

std::vector<PoolStat> PubSubTest::pools() const {
  std::vector<PoolStat> out;
  auto seg = shm::Segment::open("/zcp." + instance_ + ".seg", /*writable=*/false);
  if (!seg) return out;
  for (std::size_t c = 0; c < seg->pool().class_count(); ++c) {
    auto s = seg->pool().stats(c);
    out.push_back({s.chunk_size, s.total, s.free});
  }
  return out;
}

std::uint64_t PubSubTest::direct_settled() const {
  auto seg = shm::Segment::open("/zcp." + instance_ + ".seg", /*writable=*/false);
  if (!seg || !seg->stats().valid()) return 0;
  std::uint64_t n = 0;
  for (std::uint32_t i = 0; i < seg->stats().header().worker_slots; ++i) {
    if (const shm::WorkerStatsSlot* w = seg->stats().worker(i)) n += shm::read_counter(w->direct_settled);
  }
  return n;
}

bool PubSubTest::pools_settle(std::chrono::milliseconds timeout) const {
  std::vector<PoolStat> last;
  bool ok = wait_until(
      [&] {
        last = pools();
        if (last.empty()) return false;
        for (const PoolStat& p : last) {
          if (p.free != p.total) return false;
        }
        return true;
      },
      timeout);
  if (!ok) {
    std::string msg;
    for (const PoolStat& p : last) {
      msg += " [" + std::to_string(p.chunk_size) + " B: free " + std::to_string(p.free) + " of " +
             std::to_string(p.total) + "]";
    }
    ADD_FAILURE() << "pools did not settle within " << timeout.count() << " ms:" << msg;
  }
  return ok;
}

const char* zcp_cli_path() { return ZCP_CLI_PATH; }

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace zcp::client_test
