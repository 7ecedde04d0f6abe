#include "diroute_process.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "raw_client.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace zcp::daemon::test {

int DirouteProcess::spawned_ = 0;

DirouteProcess::DirouteProcess(std::string runtime_dir, std::string instance,
                               std::vector<std::string> args)
    : runtime_dir_(std::move(runtime_dir)), instance_(std::move(instance)), args_(std::move(args)) {
  socket_path_ = runtime_dir_ + "/" + instance_ + ".sock";
  log_path_ = runtime_dir_ + "/diroute-" + std::to_string(++spawned_) + ".log";
}

DirouteProcess::~DirouteProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap(std::chrono::seconds(10));
  }
}

bool DirouteProcess::spawn() {
  std::vector<std::string> argv = {"--instance", instance_, "--log-level", "info"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  const pid_t pid = zcp::test::spawn_process(ZCP_DIROUTE_PATH, argv, log_path_);
  if (pid < 0) return false;
  pid_ = pid;
  return true;
}

bool DirouteProcess::start(std::chrono::milliseconds timeout) {
  if (!spawn()) return false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (log().find("diroute ready") != std::string::npos) {
      RawClient probe = RawClient::connect(socket_path_);
      if (probe.valid()) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

int DirouteProcess::run_to_exit(std::chrono::milliseconds timeout) {
  if (!spawn()) return -1;
  return reap(timeout);
}

int DirouteProcess::reap(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int DirouteProcess::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  return reap(timeout);
}

std::string DirouteProcess::log() const {
  return read_file(log_path_);
}

std::string DirouteProcess::read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, std::uint64_t> DirouteProcess::counters() const {
  std::map<std::string, std::uint64_t> out;
  std::string text = log();
  auto at = text.rfind("counters: ");
  if (at == std::string::npos) return out;
  std::istringstream line(text.substr(at + 10, text.find('\n', at) - at - 10));
  std::string kv;
  while (line >> kv) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = std::stoull(kv.substr(eq + 1));
  }
  return out;
}

// ---- DaemonTest --------------------------------------------------------------------------------

void DaemonTest::SetUp() {
  std::string tmpl = "/tmp/zcp-dit-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  runtime_dir_ = tmpl;
  instance_ = zcp::test::unique_instance("d");
  ::setenv("ZCP_RUNTIME_DIR", runtime_dir_.c_str(), 1);
}

void DaemonTest::TearDown() {
  daemon_.reset();  // kills it if still running
  // A daemon killed with SIGKILL leaves its segment; nothing of ours may outlive the test.
  ::shm_unlink(("/zcp." + instance_ + ".seg").c_str());
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir_, ec);
}

std::unique_ptr<DirouteProcess> DaemonTest::make_daemon(std::vector<std::string> args) {
  return std::make_unique<DirouteProcess>(runtime_dir_, instance_, std::move(args));
}

void DaemonTest::start_daemon(std::vector<std::string> args) {
  daemon_ = make_daemon(std::move(args));
  ASSERT_TRUE(daemon_->start()) << "diroute did not start:\n" << daemon_->log();
}

std::optional<std::chrono::microseconds> wait_until(const std::function<bool()>& done,
                                                    std::chrono::milliseconds timeout) {
  auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    if (done()) {
      return std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - t0);
    }
    if (std::chrono::steady_clock::now() - t0 > timeout) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace zcp::daemon::test
