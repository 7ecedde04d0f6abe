// Helpers for tests that run real processes: fork a child that runs a function, a
// process-shared barrier, anonymous shared memory, and unique instance names.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace zcp::test {

// Polls `done` every millisecond until it holds (true) or `timeout` passes (false). The
// timeout bounds a wait for something that must happen: reaching it is a failure.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
// The same, returning how long it took (for a test that reports the figure; never assert it).
std::optional<std::chrono::microseconds> time_until(const std::function<bool()>& done,
                                                    std::chrono::milliseconds timeout);

// A private runtime directory (mkdtemp under /tmp) and instance name for one test, exported
// as ZCP_RUNTIME_DIR (and ZCP_INSTANCE when `export_instance`) so that runtimes and children
// started from the test find its daemon. Its destructor removes the directory and the instance's
// segment (left by a daemon killed with SIGKILL): nothing of the test outlives it.
class PrivateInstance {
 public:
  explicit PrivateInstance(const std::string& tag, bool export_instance = true);
  ~PrivateInstance();
  PrivateInstance(const PrivateInstance&) = delete;
  PrivateInstance& operator=(const PrivateInstance&) = delete;

  const std::string& runtime_dir() const noexcept { return runtime_dir_; }
  const std::string& instance() const noexcept { return instance_; }
  // The segment's shm name ("/zcp.<instance>.seg") and its path under /dev/shm.
  std::string segment_name() const { return "/zcp." + instance_ + ".seg"; }
  std::string segment_path() const { return "/dev/shm" + segment_name(); }

 private:
  std::string runtime_dir_;
  std::string instance_;
};

// A unique instance name for this test process ("t<pid>-<n>-<tag>"), so tests run in
// parallel never share a socket or a segment.
std::string unique_instance(const std::string& tag = "");

// What a shell command printed and how it exited.
struct CommandResult {
  int code = -1;    // exit status; -1 if it did not exit normally (or popen failed)
  std::string out;  // stdout, and stderr too when merge_stderr
};
// Runs `command` with /bin/sh and collects its output.
CommandResult run_command(const std::string& command, bool merge_stderr = true);

// Starts `path` with `args` (argv[0] is the path), stdin from /dev/null, stdout and stderr
// appended to `log_path`. The child gets SIGTERM if this process dies first (PR_SET_PDEATHSIG),
// so a crashed test leaves no daemon behind. Returns its pid, or -1.
pid_t spawn_process(const std::string& path, const std::vector<std::string>& args,
                    const std::string& log_path);

// Anonymous MAP_SHARED memory that survives fork(): parent and children see the same bytes.
class SharedAnon {
 public:
  explicit SharedAnon(std::size_t bytes);
  ~SharedAnon();
  SharedAnon(const SharedAnon&) = delete;
  SharedAnon& operator=(const SharedAnon&) = delete;
  void* get() const noexcept { return p_; }
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(p_);
  }
  std::size_t size() const noexcept { return n_; }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
};

// pthread barrier with PTHREAD_PROCESS_SHARED, placed in its own shared mapping.
class ProcessBarrier {
 public:
  explicit ProcessBarrier(unsigned count);
  ~ProcessBarrier();
  ProcessBarrier(const ProcessBarrier&) = delete;
  ProcessBarrier& operator=(const ProcessBarrier&) = delete;
  void wait();

 private:
  SharedAnon mem_;
};

// A forked child running `fn`; its return value is the exit code. The child never returns
// into the test framework: it calls _exit. A child still running at destruction is killed.
class Child {
 public:
  explicit Child(std::function<int()> fn);
  ~Child();
  Child(Child&& o) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // Waits for exit; returns the exit code, 128+signal if killed, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  void kill(int sig);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace zcp::test
