// UdsServer over real sockets in a private runtime dir: one small test per feature.
#include "reactor/uds_server.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reactor_test_util.hpp"

namespace zcp::reactor::test {
namespace {

TEST(UdsServer, AcceptRecvSend) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  rec.reply = [&](ConnId id, const std::string& s) {
    auto sent = server.send(id, bytes_of("pong:" + s));
    EXPECT_TRUE(sent) << sent.error().message();
  };

  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(send_string(client.get(), "ping"));
  ASSERT_TRUE(pump_until(reactor, [&] { return server.stats().datagrams_out == 1; }));

  ASSERT_EQ(rec.opens.size(), 1u);
  ASSERT_EQ(rec.datagrams.size(), 1u);
  EXPECT_EQ(rec.datagrams[0].id, rec.opens[0].id);
  EXPECT_EQ(rec.datagrams[0].bytes, "ping");
  EXPECT_EQ(rec.datagrams[0].true_len, 4u);
  EXPECT_EQ(recv_string(client.get()), "pong:ping");
}

TEST(UdsServer, PeerCredComesFromKernel) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 1; }));
  EXPECT_EQ(rec.opens[0].peer.pid, ::getpid());
  EXPECT_EQ(rec.opens[0].peer.uid, ::getuid());
  EXPECT_EQ(rec.opens[0].peer.gid, ::getgid());
  const PeerCred* peer = server.peer(rec.opens[0].id);
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(peer->pid, ::getpid());
}

TEST(UdsServer, DirectoryAndSocketModes) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  const std::string runtime = dir.file("a/b");
  ZCP_LISTEN_OR_SKIP(server, reactor, runtime + "/x.sock", rec, ServerOptions{});
  struct stat st {};
  ASSERT_EQ(::stat(runtime.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0770u);
  ASSERT_EQ(::stat(server.path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  server.stop_listening();
  EXPECT_FALSE(server.listening());
  EXPECT_NE(::access(server.path().c_str(), F_OK), 0) << "socket file left behind";
}

TEST(UdsServer, SecondListenerOnSamePathFailsWithContext) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  auto again = reactor.listen(server.path(), rec);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().err, EADDRINUSE);
  EXPECT_NE(again.error().message().find(server.path()), std::string::npos)
      << again.error().message();
}

TEST(UdsServer, OversizedDatagramDetectedByTrueLength) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ServerOptions options;
  options.max_frame = 1024;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, options);
  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  std::string big(3000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(send_string(client.get(), big));
  ASSERT_TRUE(send_string(client.get(), "small"));
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.datagrams.size() == 2; }));

  EXPECT_EQ(rec.datagrams[0].true_len, 3000u);
  EXPECT_EQ(rec.datagrams[0].bytes, big.substr(0, 1024));
  EXPECT_EQ(rec.datagrams[1].bytes, "small");  // the multishot recv goes on
  EXPECT_EQ(rec.datagrams[1].true_len, 5u);
  EXPECT_EQ(server.stats().truncated, 1u);
  EXPECT_TRUE(server.is_open(rec.opens[0].id));  // deciding what to do is the owner's call
}

TEST(UdsServer, BufferRingExhaustionRearmsAndKeepsOrder) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ServerOptions options;
  options.max_frame = 256;
  options.recv_buffers = 2;  // six queued datagrams cannot fit
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, options);
  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  // Queued before the reactor even accepts: the first recv finds all six waiting.
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(send_string(client.get(), "m" + std::to_string(i)));
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.datagrams.size() == 6; }));
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(rec.datagrams[i].bytes, "m" + std::to_string(i));
  EXPECT_GE(server.stats().recv_enobufs, 1u);

  // Still receiving after the re-arm.
  ASSERT_TRUE(send_string(client.get(), "after"));
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.datagrams.size() == 7; }));
  EXPECT_EQ(rec.datagrams[6].bytes, "after");
  EXPECT_TRUE(rec.closes.empty());
}

TEST(UdsServer, PeerEofClosesConnection) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 1; }));
  client.reset();
  ASSERT_TRUE(pump_until(reactor, [&] { return server.live_connections() == 0; }));
  ASSERT_EQ(rec.closes.size(), 1u);
  EXPECT_EQ(rec.closes[0].id, rec.opens[0].id);
  EXPECT_EQ(rec.closes[0].reason, CloseReason::kPeerClosed);
  EXPECT_EQ(server.open_connections(), 0u);
}

TEST(UdsServer, OwnerCloseReportsLaterAndKillsTheId) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  sys::UniqueFd first = connect_client(server.path());
  ASSERT_TRUE(first.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 1; }));
  ConnId old_id = rec.opens[0].id;

  ASSERT_TRUE(server.close(old_id));
  EXPECT_TRUE(rec.closes.empty()) << "on_close must not run inside close()";
  EXPECT_FALSE(server.close(old_id));
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.closes.size() == 1; }));
  EXPECT_EQ(rec.closes[0].reason, CloseReason::kClosedByOwner);
  EXPECT_EQ(recv_string(first.get()), "");  // the client sees EOF

  // The slot is reused by the next connection, under a new generation.
  sys::UniqueFd second = connect_client(server.path());
  ASSERT_TRUE(second.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 2; }));
  ConnId new_id = rec.opens[1].id;
  EXPECT_EQ(new_id.slot, old_id.slot);
  EXPECT_NE(new_id, old_id);
  auto stale = server.send(old_id, bytes_of("to the dead"));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().err, ENOTCONN);
  EXPECT_EQ(server.peer(old_id), nullptr);
  ASSERT_TRUE(server.send(new_id, bytes_of("to the living")));
  ASSERT_TRUE(pump_until(reactor, [&] { return server.stats().datagrams_out == 1; }));
  EXPECT_EQ(recv_string(second.get()), "to the living");
}

TEST(UdsServer, CloseAfterSendsFlushesFirst) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  sys::UniqueFd client = connect_client(server.path());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 1; }));
  ConnId id = rec.opens[0].id;
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(server.send(id, bytes_of("bye" + std::to_string(i))));
  ASSERT_TRUE(server.close(id, CloseMode::kAfterSends));
  EXPECT_FALSE(server.send(id, bytes_of("too late")));
  ASSERT_TRUE(pump_until(reactor, [&] { return server.live_connections() == 0; }));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(recv_string(client.get()), "bye" + std::to_string(i));
  EXPECT_EQ(recv_string(client.get()), "");
  ASSERT_EQ(rec.closes.size(), 1u);
  EXPECT_EQ(rec.closes[0].reason, CloseReason::kClosedByOwner);
}

TEST(UdsServer, SlowReaderIsCutOffAtTheSendQueueBound) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ServerOptions options;
  options.max_frame = 4096;
  options.send_queue_datagrams = 8;
  options.send_queue_bytes = 64 * 1024;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, options);
  sys::UniqueFd client = connect_client(server.path());  // never reads
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == 1; }));
  ConnId id = rec.opens[0].id;

  const std::string chunk(4000, 'x');
  bool cut_off = false;
  // The kernel socket buffer holds a finite number of datagrams; then our queue fills.
  for (int i = 0; i < 100000 && !cut_off; ++i) {
    auto sent = server.send(id, bytes_of(chunk));
    if (!sent) {
      EXPECT_EQ(sent.error().err, ENOBUFS) << sent.error().message();
      cut_off = true;
    }
    ASSERT_TRUE(reactor.run_once(std::chrono::nanoseconds(0)));
  }
  ASSERT_TRUE(cut_off);
  ASSERT_TRUE(pump_until(reactor, [&] { return server.live_connections() == 0; }));
  ASSERT_EQ(rec.closes.size(), 1u);
  EXPECT_EQ(rec.closes[0].reason, CloseReason::kSendQueueFull);
  EXPECT_EQ(server.stats().send_queue_overflows, 1u);
  EXPECT_FALSE(server.is_open(id));
}

TEST(UdsServer, ManyConnectionsLeakNoFds) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, ServerOptions{});
  const std::size_t before = open_fd_count();
  constexpr int kBatches = 20;
  constexpr int kPerBatch = 100;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<sys::UniqueFd> clients;
    for (int i = 0; i < kPerBatch; ++i) {
      clients.push_back(connect_client(server.path()));
      ASSERT_TRUE(clients.back().valid());
      if (i % 2 == 0) {
        ASSERT_TRUE(send_string(clients.back().get(), "hi"));
      }
    }
    const std::size_t opened = static_cast<std::size_t>((b + 1) * kPerBatch);
    ASSERT_TRUE(pump_until(reactor, [&] { return rec.opens.size() == opened; }));
    clients.clear();
    ASSERT_TRUE(pump_until(reactor, [&] { return server.live_connections() == 0; }));
  }
  EXPECT_EQ(rec.closes.size(), static_cast<std::size_t>(kBatches * kPerBatch));
  EXPECT_EQ(server.stats().accepted, static_cast<std::uint64_t>(kBatches * kPerBatch));
  EXPECT_EQ(open_fd_count(), before);
}

TEST(UdsServer, ConnectionLimitRefusesExtraClients) {
  TempDir dir;
  ZCP_MAKE_REACTOR_OR_SKIP(reactor);
  Recorder rec;
  ServerOptions options;
  options.max_connections = 2;
  ZCP_LISTEN_OR_SKIP(server, reactor, dir.file("x.sock"), rec, options);
  std::vector<sys::UniqueFd> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(connect_client(server.path()));
  ASSERT_TRUE(pump_until(
      reactor, [&] { return rec.opens.size() + server.stats().refused_over_limit == 3; }));
  EXPECT_EQ(rec.opens.size(), 2u);
  EXPECT_EQ(server.stats().refused_over_limit, 1u);
  EXPECT_EQ(recv_string(clients[2].get()), "");  // the refused one sees EOF
}

}  // namespace
}  // namespace zcp::reactor::test
