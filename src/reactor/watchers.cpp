#include "reactor/watchers.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

namespace zcp::reactor {

namespace {

// A watch that reads a fixed-size record from its fd each time it becomes readable.
template <class Record>
class ReadWatch : public Watch {
 protected:
  ReadWatch(Reactor& reactor, WatchId id, std::string what, sys::UniqueFd fd)
      : Watch(reactor, id, std::move(what)), fd_(std::move(fd)) {}
  void prep(io_uring_sqe* sqe) noexcept override {
    io_uring_prep_read(sqe, fd_.get(), &record_, sizeof(record_), 0);
  }
  // Checks the read result; false (and a log line) when it is not one whole record.
  bool whole_record(int res) const noexcept {
    if (res == static_cast<int>(sizeof(Record))) return true;
    if (res < 0) {
      spdlog::error("reactor: read from {}: {}", what(), std::strerror(-res));
    } else {
      spdlog::error("reactor: short read from {}: {} bytes", what(), res);
    }
    return false;
  }

  sys::UniqueFd fd_;
  Record record_{};  // the kernel writes here: lives as long as the watch
};

class TimerWatch final : public ReadWatch<std::uint64_t> {
 public:
  TimerWatch(Reactor& reactor, WatchId id, sys::UniqueFd fd, TimerCallback cb)
      : ReadWatch(reactor, id, "timerfd", std::move(fd)), cb_(std::move(cb)) {}

 private:
  bool on_result(int res) noexcept override {
    if (!whole_record(res)) return res == -EINTR || res == -EAGAIN;
    cb_(record_, monotonic_now());
    return true;
  }
  TimerCallback cb_;
};

class SignalWatch final : public ReadWatch<signalfd_siginfo> {
 public:
  SignalWatch(Reactor& reactor, WatchId id, sys::UniqueFd fd, SignalCallback cb)
      : ReadWatch(reactor, id, "signalfd", std::move(fd)), cb_(std::move(cb)) {}

 private:
  bool on_result(int res) noexcept override {
    if (!whole_record(res)) return res == -EINTR || res == -EAGAIN;
    cb_(static_cast<int>(record_.ssi_signo));
    return true;
  }
  SignalCallback cb_;
};

class WakeupWatch final : public Watch {
 public:
  WakeupWatch(Reactor& reactor, WatchId id, std::shared_ptr<const sys::UniqueFd> fd,
              WakeCallback cb)
      : Watch(reactor, id, "wakeup eventfd"), fd_(std::move(fd)), cb_(std::move(cb)) {}

 private:
  void prep(io_uring_sqe* sqe) noexcept override {
    io_uring_prep_read(sqe, fd_->get(), &count_, sizeof(count_), 0);
  }
  bool on_result(int res) noexcept override {
    if (res != static_cast<int>(sizeof(count_))) {
      spdlog::error("reactor: read from wakeup eventfd: {}",
                    res < 0 ? std::strerror(-res) : "short read");
      return res == -EINTR || res == -EAGAIN;
    }
    cb_(count_);
    return true;
  }
  std::shared_ptr<const sys::UniqueFd> fd_;
  WakeCallback cb_;
  std::uint64_t count_ = 0;
};

class ProcessWatch final : public Watch {
 public:
  ProcessWatch(Reactor& reactor, WatchId id, pid_t pid, sys::UniqueFd pidfd, ExitCallback cb)
      : Watch(reactor, id, "pidfd of pid " + std::to_string(pid)),
        pid_(pid),
        pidfd_(std::move(pidfd)),
        cb_(std::move(cb)) {}

 private:
  void prep(io_uring_sqe* sqe) noexcept override {
    io_uring_prep_poll_add(sqe, pidfd_.get(), POLLIN);
  }
  bool on_result(int res) noexcept override {
    if (res < 0) {
      spdlog::error("reactor: poll on {}: {}", what(), std::strerror(-res));
      return false;
    }
    cb_(pid_);  // a pidfd turns readable exactly when the process exits
    return false;
  }
  pid_t pid_;
  sys::UniqueFd pidfd_;
  ExitCallback cb_;
};

}  // namespace

MonoTime monotonic_now() noexcept {
  timespec ts{};
  // Cannot fail with a valid clock id and pointer.
  (void)sys::call(::clock_gettime, CLOCK_MONOTONIC, &ts);
  return MonoTime(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

sys::Expected<WatchPtr> make_timer_watch(Reactor& reactor, WatchId id,
                                         std::chrono::nanoseconds period, TimerCallback cb) {
  if (period.count() <= 0) return sys::fail("timer period must be positive", EINVAL);
  sys::Result r = sys::call(::timerfd_create, CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (!r.ok()) return sys::fail("timerfd_create(CLOCK_MONOTONIC)", r.err);
  sys::UniqueFd fd(static_cast<int>(r.value));
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1'000'000'000);
  spec.it_interval.tv_nsec = static_cast<long>(period.count() % 1'000'000'000);
  spec.it_value = spec.it_interval;
  r = sys::call(::timerfd_settime, fd.get(), 0, &spec, nullptr);
  if (!r.ok()) return sys::fail("timerfd_settime", r.err);
  return WatchPtr(new TimerWatch(reactor, id, std::move(fd), std::move(cb)));
}

sys::Expected<WatchPtr> make_signal_watch(Reactor& reactor, WatchId id,
                                          std::span<const int> signals, SignalCallback cb) {
  if (signals.empty()) return sys::fail("signal watch: no signals given", EINVAL);
  if (auto blocked = block_signals(signals); !blocked) return Unexpected(blocked.error());
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals)
    sigaddset(&set, s);
  sys::Result r = sys::call(::signalfd, -1, &set, SFD_CLOEXEC);
  if (!r.ok()) return sys::fail("signalfd", r.err);
  return WatchPtr(
      new SignalWatch(reactor, id, sys::UniqueFd(static_cast<int>(r.value)), std::move(cb)));
}

sys::Expected<std::shared_ptr<const sys::UniqueFd>> make_eventfd() {
  sys::Result r = sys::call(::eventfd, 0U, EFD_CLOEXEC);
  if (!r.ok()) return sys::fail("eventfd", r.err);
  return std::make_shared<const sys::UniqueFd>(static_cast<int>(r.value));
}

sys::Expected<WatchPtr> make_wakeup_watch(Reactor& reactor, WatchId id,
                                          std::shared_ptr<const sys::UniqueFd> fd,
                                          WakeCallback cb) {
  return WatchPtr(new WakeupWatch(reactor, id, std::move(fd), std::move(cb)));
}

sys::Expected<WatchPtr> make_process_watch(Reactor& reactor, WatchId id, pid_t pid,
                                           ExitCallback cb) {
  if (pid <= 0) return sys::fail("watch_process: invalid pid " + std::to_string(pid), EINVAL);
  // glibc 2.36 has no pidfd_open wrapper: raw syscall (Linux 5.3+). The fd is close-on-exec.
  sys::Result r = sys::call(::syscall, SYS_pidfd_open, pid, 0);
  if (!r.ok()) {
    return sys::fail(
        "pidfd_open(" + std::to_string(pid) + ")" + (r.err == ENOSYS ? " (needs Linux 5.3+)" : ""),
        r.err);
  }
  return WatchPtr(
      new ProcessWatch(reactor, id, pid, sys::UniqueFd(static_cast<int>(r.value)), std::move(cb)));
}

sys::Expected<void> block_signals(std::span<const int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) {
    if (sigaddset(&set, s) != 0) return sys::fail("block signal " + std::to_string(s), EINVAL);
  }
  // pthread_sigmask returns the error number instead of setting errno: its own wrapping.
  int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (rc != 0) return sys::fail("pthread_sigmask(SIG_BLOCK)", rc);
  return {};
}

}  // namespace zcp::reactor
