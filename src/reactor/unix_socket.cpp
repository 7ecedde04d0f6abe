#include "reactor/unix_socket.hpp"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace zcp::reactor {

namespace {

constexpr mode_t kDirMode = 0770;
constexpr mode_t kSocketMode = 0660;

sys::Expected<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return sys::fail("socket path '" + path + "' must be 1.." +
                         std::to_string(sizeof(addr.sun_path) - 1) + " bytes",
                     ENAMETOOLONG);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

const sockaddr* as_sockaddr(const sockaddr_un& a) noexcept {
  return reinterpret_cast<const sockaddr*>(&a);  // NOLINT: the sockets API's own idiom
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

const char* to_string(SocketState state) noexcept {
  switch (state) {
    case SocketState::kNone:
      return "none";
    case SocketState::kLive:
      return "live";
    case SocketState::kStale:
      return "stale";
  }
  return "?";
}

sys::Expected<SocketState> probe_socket(const std::string& path) {
  auto addr = unix_address(path);
  if (!addr) return Unexpected(addr.error());
  struct stat st {};
  sys::Result r = sys::call(::lstat, path.c_str(), &st);
  if (r.err == ENOENT) return SocketState::kNone;
  if (!r.ok()) return sys::fail("stat " + path, r.err);
  if (!S_ISSOCK(st.st_mode)) {
    return sys::fail(path + " exists but is not a socket; refusing to touch it", EEXIST);
  }
  r = sys::call(::socket, AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (!r.ok()) return sys::fail("socket(AF_UNIX, SOCK_SEQPACKET) to probe " + path, r.err);
  sys::UniqueFd fd(static_cast<int>(r.value));
  // Non-blocking, so a live listener with a full backlog answers EAGAIN instead of
  // blocking us. A live daemon sees this probe as a client that connects and hangs up.
  r = sys::call(::connect, fd.get(), as_sockaddr(*addr), socklen_t{sizeof(sockaddr_un)});
  if (r.ok() || r.err == EAGAIN) return SocketState::kLive;
  if (r.err == EPROTOTYPE) return SocketState::kLive;  // a listener of another socket type
  if (r.err == ECONNREFUSED) return SocketState::kStale;
  if (r.err == ENOENT) return SocketState::kNone;  // removed between lstat and connect
  return sys::fail("connect " + path + " (probing for a live daemon)", r.err);
}

sys::Expected<void> remove_stale_socket(const std::string& path) {
  auto state = probe_socket(path);
  if (!state) return Unexpected(state.error());
  if (*state == SocketState::kNone) return {};
  if (*state == SocketState::kLive) {
    return sys::fail(path + " is owned by a live process (it accepts connections)", EADDRINUSE);
  }
  sys::Result r = sys::call(::unlink, path.c_str());
  if (!r.ok() && r.err != ENOENT) return sys::fail("unlink stale socket " + path, r.err);
  return {};
}

sys::Expected<void> ensure_runtime_dir(const std::string& dir) {
  if (dir.empty()) return sys::fail("runtime directory path is empty", EINVAL);
  // mkdir -p: each missing component is created, then chmod'ed, because mkdir applies the
  // umask and the group must get rwx.
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    sys::Result r = sys::call(::mkdir, prefix.c_str(), kDirMode);
    if (r.ok()) {
      r = sys::call(::chmod, prefix.c_str(), kDirMode);
      if (!r.ok()) return sys::fail("chmod 0770 " + prefix, r.err);
    } else if (r.err != EEXIST) {
      return sys::fail("mkdir " + prefix, r.err);
    }
  }
  struct stat st {};
  sys::Result r = sys::call(::lstat, dir.c_str(), &st);
  if (!r.ok()) return sys::fail("stat " + dir, r.err);
  if (!S_ISDIR(st.st_mode)) {
    return sys::fail("runtime directory " + dir + " is not a directory (or is a symlink)", ENOTDIR);
  }
  uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return sys::fail("runtime directory " + dir + " belongs to uid " + std::to_string(st.st_uid) +
                         ", not to us (uid " + std::to_string(me) +
                         "); another user could replace the socket. Remove it or set "
                         "ZCP_RUNTIME_DIR",
                     EPERM);
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    return sys::fail("runtime directory " + dir +
                         " is writable by everyone; another user could replace the socket",
                     EPERM);
  }
  return {};
}

sys::Expected<BoundSocket> listen_seqpacket(const std::string& path, int backlog) {
  auto addr = unix_address(path);
  if (!addr) return Unexpected(addr.error());
  sys::Result r = sys::call(::socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (!r.ok()) return sys::fail("socket(AF_UNIX, SOCK_SEQPACKET) for " + path, r.err);
  BoundSocket bound;
  bound.fd = sys::UniqueFd(static_cast<int>(r.value));

  r = sys::call(::bind, bound.fd.get(), as_sockaddr(*addr), socklen_t{sizeof(sockaddr_un)});
  if (r.err == EADDRINUSE) {
    return sys::fail("bind " + path +
                         " (a file exists there; probe_socket tells a live daemon "
                         "from a stale socket)",
                     r.err);
  }
  if (!r.ok()) return sys::fail("bind " + path + " (directory " + parent_of(path) + ")", r.err);

  struct stat st {};
  r = sys::call(::chmod, path.c_str(), kSocketMode);
  if (r.ok()) r = sys::call(::stat, path.c_str(), &st);
  if (!r.ok()) {
    (void)sys::call(::unlink, path.c_str());
    return sys::fail("chmod 0660 " + path, r.err);
  }
  bound.dev = st.st_dev;
  bound.ino = st.st_ino;
  r = sys::call(::listen, bound.fd.get(), backlog);
  if (!r.ok()) {
    (void)unlink_if_same(path, bound.dev, bound.ino);
    return sys::fail("listen " + path, r.err);
  }
  return bound;
}

bool unlink_if_same(const std::string& path, dev_t dev, ino_t ino) noexcept {
  struct stat st {};
  // Between this stat and the unlink a successor could replace the file; both happen on
  // daemon shutdown, where a successor refuses to start while we still listen.
  if (!sys::call(::lstat, path.c_str(), &st).ok()) return false;
  if (st.st_dev != dev || st.st_ino != ino) return false;
  return sys::call(::unlink, path.c_str()).ok();
}

}  // namespace zcp::reactor
