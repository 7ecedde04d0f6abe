#include "system.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <thread>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace zcp::perf {

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_stop_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}

std::string errno_text(int e) {
  return std::string(std::strerror(e));
}

}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: ppoll/waitpid return EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() noexcept {
  return g_stop.load(std::memory_order_relaxed);
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  if (!(in >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

std::string allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return "unknown";
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out += (out.empty() ? "" : ",") + std::to_string(c);
  }
  return out;
}

Status<void> check_cpu(const char* option, int cpu) {
  if (cpu == -1) return {};
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) {
    return Failure(std::string(option) + ": sched_getaffinity failed: " + errno_text(errno));
  }
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &set)) {
    return Failure(std::string(option) + " " + std::to_string(cpu) +
                   ": not a CPU this process may run on (allowed: " + allowed_cpus() + ")");
  }
  return {};
}

Status<void> pin_to_cpu(int cpu) {
  if (cpu < 0) return {};
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
    return Failure("sched_setaffinity(CPU " + std::to_string(cpu) +
                   ") failed: " + errno_text(errno));
  }
  return {};
}

void* map_shared(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmap_shared(void* p, std::size_t bytes) noexcept {
  ::munmap(p, bytes);
}

void ErrorSlot::put(const std::string& what) noexcept {
  std::uint32_t expected = 0;
  // acq_rel: the winner owns `text`; the parent reads it only after the writer exited
  // (waitpid orders it), so no further ordering is needed.
  if (!set.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) return;
  std::snprintf(text, sizeof(text), "%s", what.c_str());
}

Status<pid_t> spawn_child(const std::string& role, std::function<int()> fn) {
  std::fflush(stdout);  // or the child's exit would flush the parent's buffered output twice
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Failure("fork (" + role + ") failed: " + errno_text(errno));
  if (pid > 0) return pid;
  // Child.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
  int rc = 1;
  try {
    rc = fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s %s: %s\n", program_invocation_short_name, role.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "%s %s: unknown exception\n", program_invocation_short_name, role.c_str());
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(rc);
}

std::vector<ChildExit> wait_children(const std::vector<pid_t>& pids,
                                     std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  std::vector<ChildExit> exits;
  std::vector<int> fds;
  for (pid_t p : pids) {
    exits.push_back({p, -2});
    fds.push_back(static_cast<int>(::syscall(SYS_pidfd_open, p, 0)));  // -1: fall back to polling
  }
  auto reap = [&](std::size_t i, int flags) {
    if (exits[i].code != -2) return;
    int st = 0;
    const pid_t r = ::waitpid(exits[i].pid, &st, flags);
    if (r == exits[i].pid) {
      exits[i].code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
    } else if (r < 0 && errno == ECHILD) {
      exits[i].code = 1;
    }
  };
  auto pending = [&] {
    return std::any_of(exits.begin(), exits.end(), [](const ChildExit& e) { return e.code == -2; });
  };
  std::vector<bool> stopped(pids.size(), false);
  int stage = 0;  // 0: waiting, 1: SIGTERM sent, 2: SIGKILL sent
  Clock::time_point stage_deadline = deadline;
  while (pending()) {
    for (std::size_t i = 0; i < exits.size(); ++i)
      reap(i, WNOHANG);
    if (!pending()) break;
    if ((stage == 0 && stop_requested()) || Clock::now() >= stage_deadline) {
      if (stage == 2) {
        for (std::size_t i = 0; i < exits.size(); ++i)
          reap(i, 0);  // SIGKILL cannot be refused
        break;
      }
      const int sig = stage == 0 ? SIGTERM : SIGKILL;
      for (std::size_t i = 0; i < exits.size(); ++i) {
        if (exits[i].code == -2) {
          ::kill(exits[i].pid, sig);
          stopped[i] = true;
        }
      }
      ++stage;
      stage_deadline = Clock::now() + std::chrono::seconds(2);
      continue;
    }
    // Sleep until a child exits (its pidfd turns readable), a signal (EINTR), or at most 1 s
    // (the deadline check). Without pidfds (old kernel): poll every 10 ms.
    std::vector<pollfd> pfds;
    bool all_fds = true;
    for (std::size_t i = 0; i < exits.size(); ++i) {
      if (exits[i].code != -2) continue;
      if (fds[i] < 0)
        all_fds = false;
      else
        pfds.push_back({fds[i], POLLIN, 0});
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(stage_deadline - Clock::now());
    const int ms = static_cast<int>(std::clamp<long long>(left.count() + 1, 1, 1000));
    if (all_fds) {
      ::poll(pfds.data(), pfds.size(), ms);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 10)));
    }
  }
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
  for (auto& e : exits) {
    if (e.code == -2) e.code = -1;
  }
  // A child we had to stop counts as failed, even if it exited 0 on SIGTERM.
  for (std::size_t i = 0; i < exits.size(); ++i) {
    if (stopped[i] && exits[i].code == 0) exits[i].code = -1;
  }
  return exits;
}

std::string describe_failures(const std::vector<ChildExit>& exits,
                              const std::vector<std::string>& roles) {
  std::string out;
  for (std::size_t i = 0; i < exits.size(); ++i) {
    if (exits[i].code == 0) continue;
    std::string role = i < roles.size() ? roles[i] : "child";
    std::string how = exits[i].code == -1 ? "was stopped (deadline or interrupt)"
                      : exits[i].code > 128
                          ? "was killed by signal " + std::to_string(exits[i].code - 128)
                          : "exited with " + std::to_string(exits[i].code);
    out += (out.empty() ? "" : "; ") + role + " (pid " + std::to_string(exits[i].pid) + ") " + how;
  }
  return out;
}

bool wait_until(const std::function<bool()>& ready, std::chrono::steady_clock::time_point deadline,
                const std::function<bool()>& abort) {
  for (;;) {
    if (ready()) return true;
    if (stop_requested() || abort() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace zcp::perf
