// probe_socket tells "nothing there", "a live daemon" and "a stale file" apart.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "reactor/unix_socket.hpp"
#include "reactor_test_util.hpp"

namespace zcp::reactor::test {
namespace {

TEST(ProbeSocket, NoFile) {
  TempDir dir;
  auto state = probe_socket(dir.file("none.sock"));
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(*state, SocketState::kNone);
  EXPECT_TRUE(remove_stale_socket(dir.file("none.sock")));
}

TEST(ProbeSocket, LiveListener) {
  TempDir dir;
  auto bound = listen_seqpacket(dir.file("live.sock"), 4);
  ASSERT_TRUE(bound) << bound.error().message();
  auto state = probe_socket(dir.file("live.sock"));
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(*state, SocketState::kLive);
  auto removed = remove_stale_socket(dir.file("live.sock"));
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().err, EADDRINUSE);
  EXPECT_EQ(::access(dir.file("live.sock").c_str(), F_OK), 0) << "a live socket was removed";
}

TEST(ProbeSocket, LiveListenerWithFullBacklog) {
  TempDir dir;
  auto bound = listen_seqpacket(dir.file("busy.sock"), 0);
  ASSERT_TRUE(bound) << bound.error().message();
  std::vector<sys::UniqueFd> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string p = dir.file("busy.sock");
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    (void)::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    fillers.emplace_back(fd);
  }
  auto state = probe_socket(dir.file("busy.sock"));  // must not block
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(*state, SocketState::kLive);
}

TEST(ProbeSocket, StaleFileIsDetectedAndRemoved) {
  TempDir dir;
  {
    auto bound = listen_seqpacket(dir.file("stale.sock"), 4);
    ASSERT_TRUE(bound) << bound.error().message();
  }  // the listener dies, its file stays
  auto state = probe_socket(dir.file("stale.sock"));
  ASSERT_TRUE(state) << state.error().message();
  EXPECT_EQ(*state, SocketState::kStale);
  ASSERT_TRUE(remove_stale_socket(dir.file("stale.sock")));
  EXPECT_NE(::access(dir.file("stale.sock").c_str(), F_OK), 0);
}

TEST(ProbeSocket, RegularFileIsAnErrorAndUntouched) {
  TempDir dir;
  sys::UniqueFd f(::open(dir.file("file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(f.valid());
  auto state = probe_socket(dir.file("file"));
  ASSERT_FALSE(state);
  EXPECT_NE(state.error().message().find("not a socket"), std::string::npos);
  EXPECT_FALSE(remove_stale_socket(dir.file("file")));
  EXPECT_EQ(::access(dir.file("file").c_str(), F_OK), 0);
}

TEST(RuntimeDir, RefusesWorldWritableDirectory) {
  TempDir dir;
  const std::string open_dir = dir.file("open");
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  auto ok = ensure_runtime_dir(open_dir);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message().find("writable by everyone"), std::string::npos);
}

}  // namespace
}  // namespace zcp::reactor::test
