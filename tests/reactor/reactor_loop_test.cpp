// The ring and the loop itself: setup errors, stepping, posted tasks, stop, teardown.
#include <cstddef>
#include <string>

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "reactor/uring.hpp"
#include "reactor_test_util.hpp"
#include "support/test_support.hpp"

namespace zcp::reactor::test {
namespace {

TEST(Ring, UnavailableMessageNamesCauseAndFix) {
  for (int err : {EPERM, ENOSYS}) {
    std::string m = unavailable_message(err);
    EXPECT_NE(m.find("seccomp"), std::string::npos) << m;
    EXPECT_NE(m.find("Docker"), std::string::npos) << m;
    EXPECT_NE(m.find("io_uring_setup"), std::string::npos) << m;
    EXPECT_NE(m.find("--security-opt seccomp=unconfined"), std::string::npos) << m;
  }
}

// What Docker's default profile does: io_uring_setup fails with EPERM. Installed in a forked
// child so the test process keeps its io_uring.
TEST(Ring, SeccompBlockedIoUringGivesCauseAndFix) {
  constexpr int kSkip = 77;
  zcp::test::Child child([] {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return kSkip;
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return kSkip;
    auto reactor = Reactor::create();
    if (reactor) return 1;
    const std::string m = reactor.error().message();
    if (reactor.error().err != EPERM) return 2;
    if (m.find("seccomp") == std::string::npos) return 3;
    if (m.find("--security-opt seccomp=unconfined") == std::string::npos) return 4;
    if (m.find("Operation not permitted") == std::string::npos) return 5;
    return 0;
  });
  int rc = child.wait();
  if (rc == kSkip) GTEST_SKIP() << "cannot install a seccomp filter here";
  EXPECT_EQ(rc, 0) << "1: created anyway, 2: wrong errno, 3-5: message lacks cause/fix";
}

TEST(Ring, CreatesWithSomeMode) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  RecordProperty("ring_mode", to_string(reactor.ring_mode()));
  EXPECT_EQ(reactor.ring().in_flight(), 0u);
}

TEST(Loop, IdleStepHandlesNothing) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  auto n = reactor.run_once(std::chrono::nanoseconds(0));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 0u);
  n = reactor.run_once(std::chrono::milliseconds(1));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 0u);
}

TEST(Loop, PostedTasksRunInOrderOnTheNextStep) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  std::string trace;
  reactor.post([&] {
    trace += "a";
    reactor.post([&] { trace += "c"; });  // runs one step later
  });
  reactor.post([&] { trace += "b"; });
  EXPECT_EQ(trace, "");
  auto n = reactor.run_once(std::nullopt);  // must not sleep: work is pending
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(trace, "ab");
  ASSERT_TRUE(reactor.run_once(std::nullopt));
  EXPECT_EQ(trace, "abc");
}

TEST(Loop, StopEndsRun) {
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  int ticks = 0;
  auto id = reactor.add_timer(std::chrono::milliseconds(1), [&](std::uint64_t, MonoTime) {
    if (++ticks == 3) reactor.stop();
  });
  ASSERT_TRUE(id);
  auto ran = reactor.run();
  ASSERT_TRUE(ran) << ran.error().message();
  EXPECT_EQ(ticks, 3);
}

// The fallback modes (older kernels) post completions at different moments than
// DEFER_TASKRUN: run an echo round, a buffer-ring exhaustion and a timer tick in each.
TEST(Loop, EveryRingModeServes) {
  for (RingMode mode :
       {RingMode::kSingleIssuerDeferTaskrun, RingMode::kCoopTaskrun, RingMode::kPlain}) {
    SCOPED_TRACE(to_string(mode));
    TempDir dir;  // outlives the reactor, which unlinks its socket on the way out
    ReactorOptions options;
    options.best_mode = mode;
    auto made = Reactor::create(options);
    if (!made) GTEST_SKIP() << made.error().message();
    Reactor& reactor = **made;
    if (reactor.ring_mode() != mode) continue;  // this kernel lacks the mode: fell back
    Recorder rec;
    ServerOptions server_options;
    server_options.recv_buffers = 1;
    auto server = reactor.listen(dir.file("x.sock"), rec, server_options);
    ASSERT_TRUE(server) << server.error().message();
    rec.reply = [&](ConnId id, const std::string& s) {
      EXPECT_TRUE((*server)->send(id, bytes_of("re:" + s)));
    };
    sys::UniqueFd client = connect_client((*server)->path());
    ASSERT_TRUE(client.valid());
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(send_string(client.get(), std::to_string(i)));
    ASSERT_TRUE(pump_until(reactor, [&] { return (*server)->stats().datagrams_out == 4; }));
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(recv_string(client.get()), "re:" + std::to_string(i));
    int ticks = 0;
    ASSERT_TRUE(
        reactor.add_timer(std::chrono::milliseconds(1), [&](std::uint64_t, MonoTime) { ++ticks; }));
    ASSERT_TRUE(pump_until(reactor, [&] { return ticks >= 2; }));
  }
}

// Destroying the reactor with every kind of operation in flight must neither crash nor
// leave the kernel writing into freed memory (ASan watches), nor call any callback.
TEST(Loop, TeardownWithEverythingArmed) {
  TempDir dir;
  Recorder rec;
  zcp::test::ProcessBarrier go(2);
  zcp::test::Child child([&] {
    go.wait();
    return 0;
  });
  sys::UniqueFd reader, idle;
  std::string path;
  const std::size_t fds_before = open_fd_count();
  {
    ZCP_MAKE_REACTOR_OR_SKIP(reactor);
    ServerOptions options;
    options.max_frame = 4096;
    ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, options);
    path = server.path();
    reader = connect_client(path);
    idle = connect_client(path);  // never reads: sends to it pile up in the kernel
    ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 2; }));
    const std::string chunk(4000, 'y');
    for (int i = 0; i < 64; ++i) {
      if (!server.send(rec.opens[1].id, bytes_of(chunk))) break;
      ASSERT_TRUE(reactor.run_once(std::chrono::nanoseconds(0)));
    }
    ASSERT_TRUE(reactor.add_timer(std::chrono::seconds(1), [&](std::uint64_t, MonoTime) {
      ADD_FAILURE() << "tick during teardown";
    }));
    ASSERT_TRUE(reactor.add_wakeup([](std::uint64_t) { ADD_FAILURE() << "wake during teardown"; }));
    auto pw = reactor.watch_process(child.pid(), [](pid_t) { ADD_FAILURE() << "exit"; });
    ASSERT_TRUE(pw) << pw.error().message();
    ASSERT_TRUE(reactor.run_once(std::chrono::nanoseconds(0)));
    EXPECT_GT(reactor.ring().in_flight(), 0u);
    (*reactor_made).reset();  // the destructor under test
  }
  EXPECT_TRUE(rec.closes.empty()) << "no callback from the destructor";
  EXPECT_EQ(recv_string(reader.get()), "");  // hung up
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket file left behind";
  go.wait();
  EXPECT_EQ(child.wait(), 0);
  reader.reset();
  idle.reset();
  EXPECT_EQ(open_fd_count(), fds_before);
}

}  // namespace
}  // namespace zcp::reactor::test
