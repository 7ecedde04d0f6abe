#include "daemon.hpp"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zcp/runtime.hpp>

namespace zcp::perf {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How long a fresh private daemon gets to accept connections. Too low: a daemon starting on
// a loaded 2-CPU host is taken for a failed one; too high: a broken start is reported late.
constexpr auto kStartTimeout = std::chrono::seconds(3);
// How long SIGTERM gets before SIGKILL. Too low: a daemon still reclaiming the benchmark's
// chunks is killed and leaves its segment behind; too high: a stuck daemon delays the exit.
constexpr auto kStopTimeout = std::chrono::seconds(5);

std::string self_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

// Runs argv, returns its stdout (for `diroute --help`).
Status<std::string> capture_stdout(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Failure(std::string("pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Failure(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n > 0)
      out.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return out;
}

}  // namespace

std::string find_daemon_flag(const std::string& help, const std::vector<std::string>& candidates) {
  for (const auto& flag : candidates) {
    for (std::size_t at = help.find(flag); at != std::string::npos; at = help.find(flag, at + 1)) {
      const std::size_t end = at + flag.size();
      const char next = end < help.size() ? help[end] : ' ';
      if (next != '-' && next != '_' && !std::isalnum(static_cast<unsigned char>(next)))
        return flag;
    }
  }
  return "";
}

Status<std::unique_ptr<DaemonSession>> DaemonSession::open(const DaemonOptions& options) {
  std::unique_ptr<DaemonSession> s(new DaemonSession());
  if (!options.instance.empty()) {
    if (options.router_cpu != -1 || !options.idle.empty()) {
      return Failure(
          "--router-cpu and --idle configure the private daemon; with --instance, "
          "start diroute with those settings yourself");
    }
    s->instance_ = options.instance;
    // One probe here, so that a missing daemon is one clear message, not one per process.
    zcp::RuntimeOptions ro;
    ro.name = "zcp-perf-probe-" + std::to_string(::getpid());
    ro.instance = options.instance;
    if (auto rt = zcp::Runtime::connect(ro); !rt) return Failure(rt.error().message);
    return s;
  }
  if (auto ok = s->start_private(options); !ok) return Failure(ok.error());
  return s;
}

Status<void> DaemonSession::start_private(const DaemonOptions& options) {
  binary_ = self_dir() + "/diroute";
  if (::access(binary_.c_str(), X_OK) != 0) {
    return Failure("cannot start a private daemon: " + binary_ + " is not an executable (" +
                   std::strerror(errno) +
                   "); build it (cmake --build BUILD --target diroute) or "
                   "name a running daemon with --instance");
  }
  std::vector<std::string> argv{binary_};
  instance_ = "perf-" + std::to_string(::getpid());
  argv.insert(argv.end(), {"--instance", instance_, "--log-level", options.log_level});

  if (options.router_cpu != -1 || !options.idle.empty()) {
    auto help = capture_stdout({binary_, "--help"});
    if (!help) return Failure("diroute --help: " + help.error());
    if (options.router_cpu != -1) {
      std::string flag = find_daemon_flag(
          *help, {"--router-cpus", "--router-cpu", "--worker-cpus", "--worker-cpu", "--cpus"});
      if (flag.empty()) {
        return Failure("--router-cpu: this diroute (" + binary_ +
                       ") has no flag to pin its router worker (its --help lists none of "
                       "--router-cpus, --router-cpu, --worker-cpus, --worker-cpu, --cpus)");
      }
      argv.insert(argv.end(), {flag, std::to_string(options.router_cpu)});
    }
    if (!options.idle.empty()) {
      std::string flag = find_daemon_flag(*help, {"--idle", "--idle-strategy"});
      if (flag.empty()) {
        return Failure("--idle: this diroute (" + binary_ +
                       ") has no idle-strategy flag "
                       "(its --help lists neither --idle nor --idle-strategy)");
      }
      argv.insert(argv.end(), {flag, options.idle});
    }
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());

  char tmpl[] = "/tmp/zcp-perf-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    return Failure(std::string("mkdtemp /tmp/zcp-perf-XXXXXX: ") + std::strerror(errno));
  runtime_dir_ = tmpl;
  // Every process of this run (the daemon, the benchmark children, the probe below) finds
  // the private socket through the environment.
  ::setenv("ZCP_RUNTIME_DIR", runtime_dir_.c_str(), 1);

  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) return Failure(std::string("fork (diroute): ") + std::strerror(errno));
  if (pid_ == 0) {
    // Own process group: Ctrl-C reaches the benchmark processes, not the daemon, which is
    // stopped last, after they unregistered. It still dies with us (SIGTERM on our death).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);  // stdout carries only zcp-perf's results
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(binary_.c_str(), args.data());
    std::fprintf(stderr, "zcp-perf: exec %s: %s\n", binary_.c_str(), std::strerror(errno));
    ::_exit(127);
  }

  // Ready when a Runtime connects (hello + register answered).
  const auto deadline = Clock::now() + kStartTimeout;
  std::string last = "no attempt";
  for (;;) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pid_ = -1;
      return Failure("the private diroute exited with " + std::to_string(exit_code_) +
                     " at start-up (see its log above; `diroute --help` lists the exit codes)");
    }
    zcp::RuntimeOptions ro;
    ro.name = "zcp-perf-probe-" + std::to_string(::getpid());
    ro.instance = instance_;
    ro.request_timeout = std::chrono::milliseconds(500);
    auto rt = zcp::Runtime::connect(ro);
    if (rt) return {};  // destroyed here: unregisters and joins its thread before any fork
    last = rt.error().message;
    if (rt.error().code != zcp::Errc::kDaemonUnavailable &&
        rt.error().code != zcp::Errc::kTimeout) {
      return Failure("the private diroute does not accept clients: " + last);
    }
    if (stop_requested()) return Failure("interrupted while the private diroute started");
    if (Clock::now() >= deadline) {
      return Failure("the private diroute did not accept a connection within " +
                     std::to_string(kStartTimeout.count()) + " s: " + last);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string DaemonSession::describe() const {
  if (runtime_dir_.empty()) return "instance " + instance_;
  return "private diroute (pid " + std::to_string(pid_) + ", instance " + instance_ + ", " +
         runtime_dir_ + ")";
}

bool DaemonSession::alive() {
  if (pid_ <= 0) return runtime_dir_.empty();  // a running daemon we did not start: assume so
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  return true;
}

Status<void> DaemonSession::stop() {
  if (runtime_dir_.empty()) return {};
  std::string problems;
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + kStopTimeout;
    bool killed = false;
    for (;;) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (r < 0 && errno != EINTR) break;
      if (!killed && Clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        killed = true;
        problems += "diroute ignored SIGTERM for " + std::to_string(kStopTimeout.count()) +
                    " s; killed it. ";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    if (exit_code_ != 0 && !killed)
      problems += "diroute exited with " + std::to_string(exit_code_) + ". ";
  } else if (exit_code_ != -1 && exit_code_ != 0) {
    problems += "diroute had exited with " + std::to_string(exit_code_) + " before the end. ";
  }
  // Leftovers of our private instance only: "/zcp.<instance>.<region>" lives in /dev/shm.
  std::error_code ec;
  const std::string prefix = "zcp." + instance_ + ".";
  for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) {
      fs::remove(e.path(), ec);
      problems += "removed leftover /dev/shm/" + name + ". ";
    }
  }
  fs::remove_all(runtime_dir_, ec);
  if (ec) problems += "cannot remove " + runtime_dir_ + ": " + ec.message() + ". ";
  runtime_dir_.clear();
  if (!problems.empty()) return Failure(problems);
  return {};
}

DaemonSession::~DaemonSession() {
  (void)stop();
}

}  // namespace zcp::perf
