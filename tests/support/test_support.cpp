#include "support/test_support.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace zcp::test {

CommandResult run_command(const std::string& command, bool merge_stderr) {
  CommandResult r;
  FILE* p = ::popen((merge_stderr ? command + " 2>&1" : command).c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;)
    r.out.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

pid_t spawn_process(const std::string& path, const std::vector<std::string>& args,
                    const std::string& log_path) {
  // Everything the child needs is prepared before the fork: after it, only async-signal-safe
  // calls (this process may have threads).
  std::vector<std::string> argv_s{path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_s)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;  // the parent (or -1)
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(127);  // the parent died before the prctl
  const int in = ::open("/dev/null", O_RDONLY);
  const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0)
    ::_exit(127);
  ::execv(path.c_str(), argv.data());
  ::_exit(127);
}

std::string unique_instance(const std::string& tag) {
  static std::atomic<unsigned> counter{0};
  // relaxed: only uniqueness within this process matters, not ordering.
  unsigned n = counter.fetch_add(1, std::memory_order_relaxed);
  std::string name = "t" + std::to_string(::getpid()) + "-" + std::to_string(n);
  if (!tag.empty()) name += "-" + tag;
  return name.substr(0, 48);
}

SharedAnon::SharedAnon(std::size_t bytes) : n_(bytes) {
  p_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p_ == MAP_FAILED) throw std::runtime_error("mmap shared anonymous failed");
}

SharedAnon::~SharedAnon() {
  ::munmap(p_, n_);
}

ProcessBarrier::ProcessBarrier(unsigned count) : mem_(sizeof(pthread_barrier_t)) {
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (pthread_barrier_init(mem_.as<pthread_barrier_t>(), &attr, count) != 0) {
    throw std::runtime_error("pthread_barrier_init failed");
  }
  pthread_barrierattr_destroy(&attr);
}

ProcessBarrier::~ProcessBarrier() {
  pthread_barrier_destroy(mem_.as<pthread_barrier_t>());
}

void ProcessBarrier::wait() {
  pthread_barrier_wait(mem_.as<pthread_barrier_t>());
}

Child::Child(std::function<int()> fn) {
  std::fflush(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int rc = 1;
    try {
      rc = fn();
    } catch (...) {
      rc = 99;
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
}

Child::Child(Child&& o) noexcept : pid_(o.pid_), reaped_(o.reaped_), status_(o.status_) {
  o.pid_ = -1;
  o.reaped_ = true;
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reaped_) {
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

void Child::kill(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  return time_until(done, timeout).has_value();
}

std::optional<std::chrono::microseconds> time_until(const std::function<bool()>& done,
                                                    std::chrono::milliseconds timeout) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    if (done()) {
      return std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - t0);
    }
    if (std::chrono::steady_clock::now() - t0 > timeout) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

PrivateInstance::PrivateInstance(const std::string& tag, bool export_instance) {
  std::string tmpl = "/tmp/zcp-" + tag + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  runtime_dir_ = tmpl;
  instance_ = unique_instance(tag);
  ::setenv("ZCP_RUNTIME_DIR", runtime_dir_.c_str(), 1);
  if (export_instance) ::setenv("ZCP_INSTANCE", instance_.c_str(), 1);
}

PrivateInstance::~PrivateInstance() {
  ::shm_unlink(segment_name().c_str());
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir_, ec);
}

}  // namespace zcp::test
