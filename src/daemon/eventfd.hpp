// The eventfds the daemon hands out: router worker doorbells and subscriber wake-ups.
#pragma once

#include <sys/eventfd.h>

#include "common/sys.hpp"

namespace zcp::daemon {

// A fresh eventfd (counter 0, close-on-exec). Blocking mode on purpose: the file status
// flags are shared with every process the fd is sent to (SCM_RIGHTS passes the same open
// file), so the daemon leaves O_NONBLOCK to the reader's choice of waiting (a blocking read,
// poll, or io_uring, which turns a non-blocking read into -EAGAIN instead of waiting). A
// writer never blocks unless the counter nears 2^64, which readers prevent.
inline sys::Expected<sys::UniqueFd> make_eventfd(const char* what) {
  sys::Result r = sys::call(::eventfd, 0U, EFD_CLOEXEC);
  if (!r.ok()) return sys::fail(std::string("eventfd for ") + what, r.err);
  return sys::UniqueFd(static_cast<int>(r.value));
}

}  // namespace zcp::daemon
