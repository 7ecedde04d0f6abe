// SCM_RIGHTS through the reactor's sendmsg: a forked client receives a memfd and an eventfd,
// maps the memfd, reads what the daemon side wrote, writes a reply into it and signals the
// eventfd. Its pid from SO_PEERCRED must be the child's.
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor_test_util.hpp"
#include "support/test_support.hpp"

namespace zcp::reactor::test {
namespace {

constexpr std::size_t kSegment = 4096;
constexpr char kFromDaemon[] = "hello from the daemon";
constexpr char kFromClient[] = "reply from the client";
constexpr std::size_t kReplyOffset = 1024;

// Child side. Exit codes name the step that failed.
int client_main(const std::string& path, int inherited_memfd, int inherited_efd) {
  struct stat inherited {};
  if (::fstat(inherited_memfd, &inherited) != 0) return 10;
  // Drop the copies fork() gave us: only what arrives over the socket may be used.
  ::close(inherited_memfd);
  ::close(inherited_efd);

  sys::UniqueFd sock = connect_client(path);
  if (!sock.valid()) return 11;
  if (!send_string(sock.get(), "hello")) return 12;

  char data[64] = {};
  iovec iov{data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = ::recvmsg(sock.get(), &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) return 13;
  if (std::string(data, static_cast<std::size_t>(n)) != "fds") return 14;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  if (cm == nullptr || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
      cm->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
    return 15;
  }
  int fds[2];
  std::memcpy(fds, CMSG_DATA(cm), sizeof(fds));

  struct stat got {};
  if (::fstat(fds[0], &got) != 0 || got.st_ino != inherited.st_ino) return 16;
  void* p = ::mmap(nullptr, kSegment, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
  if (p == MAP_FAILED) return 17;
  auto* bytes = static_cast<char*>(p);
  if (std::strcmp(bytes, kFromDaemon) != 0) return 18;
  std::memcpy(bytes + kReplyOffset, kFromClient, sizeof(kFromClient));
  ::munmap(p, kSegment);
  std::uint64_t five = 5;
  if (::write(fds[1], &five, sizeof(five)) != sizeof(five)) return 19;
  ::close(fds[0]);
  ::close(fds[1]);
  return 0;
}

TEST(ScmRights, MemfdAndEventfdReachAnotherProcess) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});

  sys::UniqueFd memfd(::memfd_create("zcp-reactor-test", MFD_CLOEXEC));
  ASSERT_TRUE(memfd.valid());
  ASSERT_EQ(::ftruncate(memfd.get(), kSegment), 0);
  ASSERT_EQ(::pwrite(memfd.get(), kFromDaemon, sizeof(kFromDaemon), 0),
            static_cast<ssize_t>(sizeof(kFromDaemon)));
  sys::UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_TRUE(efd.valid());

  rec.reply = [&](ConnId id, const std::string& s) {
    if (s != "hello") return;
    const int fds[2] = {memfd.get(), efd.get()};
    auto sent = server.send(id, bytes_of("fds"), fds);
    EXPECT_TRUE(sent) << sent.error().message();
  };

  const std::string path = server.path();
  const int memfd_raw = memfd.get();
  const int efd_raw = efd.get();
  zcp::test::Child child([&] { return client_main(path, memfd_raw, efd_raw); });
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.closes.size() == 1; }));
  EXPECT_EQ(child.wait(), 0);

  ASSERT_EQ(rec.opens.size(), 1u);
  EXPECT_EQ(rec.opens[0].peer.pid, child.pid());
  EXPECT_EQ(rec.opens[0].peer.uid, ::getuid());
  EXPECT_EQ(rec.closes[0].reason, CloseReason::kPeerClosed);

  std::uint64_t value = 0;
  ASSERT_EQ(::read(efd.get(), &value, sizeof(value)), static_cast<ssize_t>(sizeof(value)));
  EXPECT_EQ(value, 5u);
  char reply[sizeof(kFromClient)] = {};
  ASSERT_EQ(::pread(memfd.get(), reply, sizeof(reply), kReplyOffset),
            static_cast<ssize_t>(sizeof(reply)));
  EXPECT_STREQ(reply, kFromClient);
}

// A client may attach fds to what it sends; a plain recv has no control buffer, so the
// kernel discards them and they never land in the daemon's fd table.
TEST(ScmRights, FdsSentByClientsAreDiscarded) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 1; }));
  const std::size_t before = open_fd_count();
  {
    sys::UniqueFd smuggled(::memfd_create("zcp-smuggled", MFD_CLOEXEC));
    ASSERT_TRUE(smuggled.valid());
    char data[] = "x";
    iovec iov{data, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    int raw = smuggled.get();
    std::memcpy(CMSG_DATA(cm), &raw, sizeof(int));
    ASSERT_EQ(::sendmsg(client.get(), &msg, 0), 1);
  }
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.datagrams.size() == 1; }));
  EXPECT_EQ(rec.datagrams[0].bytes, "x");
  EXPECT_EQ(open_fd_count(), before) << "a client's fd reached the daemon";
}

TEST(ScmRights, TooManyFdsRejectedWithoutClosing) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 1; }));
  std::vector<int> fds(kMaxFdsPerDatagram + 1, client.get());
  auto sent = server.send(rec.opens[0].id, bytes_of("x"), fds);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().err, EINVAL);
  EXPECT_TRUE(server.is_open(rec.opens[0].id));
}

}  // namespace
}  // namespace zcp::reactor::test
