#include "common/sys.hpp"

#include <unistd.h>

namespace zcp::sys {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);  // close() is not retried on EINTR: the fd is gone either way
  fd_ = fd;
}

}  // namespace zcp::sys
