// Every system call zerocp makes goes through sys::call once, which turns the
// "-1 and errno" convention into a value: {result, err}. errno is read exactly here and
// nowhere else, so no caller can read a stale errno after an intervening call.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <zcp/expected.hpp>

namespace zcp::sys {

// The outcome of one system call: `value` on success (err == 0), else err = errno.
struct Result {
  long value = 0;
  int err = 0;
  bool ok() const noexcept { return err == 0; }
};

// Calls fn(args...) and captures errno if it returned -1. Retries EINTR, which is never
// a meaningful outcome for the callers here.
template <class Fn, class... Args>
Result call(Fn fn, Args&&... args) noexcept {
  for (;;) {
    long rc = static_cast<long>(fn(std::forward<Args>(args)...));
    if (rc != -1) return {rc, 0};
    int e = errno;
    if (e != EINTR) return {-1, e};
  }
}

// A system-level failure with context: what failed ("shm_open /zcp.default.seg"), and errno.
struct Error {
  std::string what;
  int err = 0;
  std::string message() const { return err ? what + ": " + std::strerror(err) : what; }
};

template <class T>
using Expected = zcp::Expected<T, Error>;

inline Unexpected<Error> fail(std::string what, int err) {
  return Unexpected(Error{std::move(what), err});
}

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

}  // namespace zcp::sys
