// Helpers for the reactor tests: a private temp runtime dir, a recording ConnectionHandler,
// blocking client sockets with a receive timeout (so a bug fails a test instead of hanging
// it), and a pump that steps the reactor until a condition holds.
#pragma once

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/sys.hpp"
#include "reactor/reactor.hpp"
#include "reactor/uds_server.hpp"

namespace zcp::reactor::test {

// Creates the reactor or skips the test when io_uring is unavailable (seccomp, old kernel).
#define ZCP_MAKE_REACTOR_OR_SKIP(var)                                           \
  auto var##_made = ::zcp::reactor::Reactor::create();                          \
  if (!var##_made) {                                                            \
    int var##_err = var##_made.error().err;                                     \
    if (var##_err == EPERM || var##_err == ENOSYS || var##_err == EOPNOTSUPP) { \
      GTEST_SKIP() << var##_made.error().message();                             \
    }                                                                           \
    FAIL() << var##_made.error().message();                                     \
  }                                                                             \
  ::zcp::reactor::Reactor& var = **var##_made

// Listens or skips when the kernel lacks provided-buffer rings.
#define ZCP_LISTEN_OR_SKIP(var, reactor, path, handler, options)                    \
  auto var##_made = (reactor).listen((path), (handler), (options));                 \
  if (!var##_made) {                                                                \
    if (var##_made.error().err == EOPNOTSUPP || var##_made.error().err == EINVAL) { \
      GTEST_SKIP() << var##_made.error().message();                                 \
    }                                                                               \
    FAIL() << var##_made.error().message();                                         \
  }                                                                                 \
  ::zcp::reactor::UdsServer& var = **var##_made

// A fresh directory under /tmp, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/zcp-rt-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

struct Recorder : ConnectionHandler {
  struct Open {
    ConnId id;
    PeerCred peer;
  };
  struct Datagram {
    ConnId id;
    std::string bytes;
    std::size_t true_len;
  };
  struct Close {
    ConnId id;
    CloseReason reason;
    int err;
  };
  std::vector<Open> opens;
  std::vector<Datagram> datagrams;
  std::vector<Close> closes;
  std::function<void(ConnId, const std::string&)> reply;  // optional: runs per datagram

  void on_open(ConnId id, const PeerCred& peer) override { opens.push_back({id, peer}); }
  void on_datagram(ConnId id, std::span<const std::byte> bytes, std::size_t true_len) override {
    std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    datagrams.push_back({id, s, true_len});
    if (reply) reply(id, s);
  }
  void on_close(ConnId id, CloseReason reason, int err) override {
    closes.push_back({id, reason, err});
  }
};

// Steps the reactor until `done` holds. The deadline only turns a hang into a failure.
inline bool pump_until(Reactor& reactor, const std::function<bool()>& done,
                       std::chrono::seconds deadline = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    auto n = reactor.run_once(std::chrono::milliseconds(10));
    if (!n) {
      ADD_FAILURE() << n.error().message();
      return false;
    }
  }
  return true;
}

// A connected, blocking SOCK_SEQPACKET client with a 10 s receive timeout.
inline sys::UniqueFd connect_client(const std::string& path) {
  sys::Result r = sys::call(::socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (!r.ok()) return {};
  sys::UniqueFd fd(static_cast<int>(r.value));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  r = sys::call(::connect, fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                socklen_t{sizeof(addr)});
  if (!r.ok()) return {};
  timeval tv{10, 0};
  (void)sys::call(::setsockopt, fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t{sizeof(tv)});
  return fd;
}

inline bool send_string(int fd, const std::string& s) {
  sys::Result r = sys::call(::send, fd, s.data(), s.size(), MSG_NOSIGNAL);
  return r.ok() && static_cast<std::size_t>(r.value) == s.size();
}

// One datagram; "" at EOF; nullopt on error or timeout.
inline std::optional<std::string> recv_string(int fd) {
  std::string buf(256 * 1024, '\0');
  sys::Result r = sys::call(::recv, fd, buf.data(), buf.size(), 0);
  if (!r.ok()) return std::nullopt;
  buf.resize(static_cast<std::size_t>(r.value));
  return buf;
}

inline std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

}  // namespace zcp::reactor::test
