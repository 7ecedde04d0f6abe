#include "support/diroute_process.hpp"

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_support.hpp"

namespace zcp::test {

namespace {

bool socket_accepts(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// "diroute ready" lines in a log: one per start that got that far.
std::size_t ready_lines(const std::string& log) {
  std::size_t n = 0;
  for (auto at = log.find("diroute ready"); at != std::string::npos;
       at = log.find("diroute ready", at + 1))
    ++n;
  return n;
}

}  // namespace

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
  const pid_t pid = spawn_process(ZCP_DIROUTE_PATH, argv, log_path_);
  if (pid < 0) return false;
  pid_ = pid;
  return true;
}

bool DirouteProcess::start(std::chrono::milliseconds timeout) {
  if (!spawn()) return false;
  // A restart appends to the same log: only a "ready" after the ones already there counts.
  const std::size_t ready_before = ready_lines(log());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (ready_lines(log()) > ready_before && socket_accepts(socket_path_)) return true;
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
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
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
  const int code = reap(timeout);
  if (code == -1 && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  return code;
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
  const std::string text = log();
  const auto at = text.rfind("counters: ");
  if (at == std::string::npos) return out;
  std::istringstream line(text.substr(at + 10, text.find('\n', at) - at - 10));
  std::string kv;
  while (line >> kv) {
    const auto eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = std::stoull(kv.substr(eq + 1));
  }
  return out;
}

}  // namespace zcp::test
