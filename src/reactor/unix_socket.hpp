// Unix socket paths: the runtime directory, binding the SOCK_SEQPACKET listener, and
// telling a live daemon's socket from a stale file left by a dead one. All synchronous and
// non-blocking; used at start-up and shutdown, before and after the ring runs.
#pragma once

#include <string>

#include <sys/stat.h>
#include <sys/types.h>

#include "common/sys.hpp"

namespace zcp::reactor {

enum class SocketState {
  kNone,   // nothing at the path
  kLive,   // a process listens there: another daemon owns this instance
  kStale,  // a socket file nobody listens on (its daemon died): safe to unlink
};
const char* to_string(SocketState state) noexcept;

// Classifies `path` by lstat + a non-blocking connect. Errors: the path exists but is not a
// socket (nothing is touched), or it cannot be examined (e.g. EACCES).
sys::Expected<SocketState> probe_socket(const std::string& path);

// Unlinks `path` only if probe_socket says it is stale; kNone is fine too. A live socket is
// an error naming the path.
sys::Expected<void> remove_stale_socket(const std::string& path);

// Creates `dir` and any missing parents with mode 0770 (exactly, whatever the umask). The
// final directory must be a real directory (not a symlink), owned by us or root, and not
// writable by others: otherwise another user could swap the socket under us.
sys::Expected<void> ensure_runtime_dir(const std::string& dir);

// A bound, listening SOCK_SEQPACKET socket and the identity of its file, so the owner can
// later unlink exactly that file and not a successor's.
struct BoundSocket {
  sys::UniqueFd fd;
  dev_t dev = 0;
  ino_t ino = 0;
};

// socket + bind + chmod 0660 + listen. The directory must exist. On failure nothing is left
// behind. EADDRINUSE means a file exists at the path: see probe_socket.
sys::Expected<BoundSocket> listen_seqpacket(const std::string& path, int backlog);

// Unlinks `path` if it is still the file (dev, ino). Returns whether it did.
bool unlink_if_same(const std::string& path, dev_t dev, ino_t ino) noexcept;

}  // namespace zcp::reactor
