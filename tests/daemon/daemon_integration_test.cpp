// The real diroute binary with real client processes speaking the protocol on its socket:
// registration, 200 clients at once, kill -9 and SIGSTOP of clients, a second daemon, stale
// leftovers of a killed daemon, and a graceful SIGTERM.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <map>
#include <new>
#include <set>
#include <thread>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "diroute_process.hpp"
#include "raw_client.hpp"
#include "shm/atomic.hpp"
#include "shm/segment.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using DaemonIntegration = DaemonTest;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

std::optional<Topology> topology(RawClient& c) {
  auto r = c.list_topology();
  return r ? topology_of(*r) : std::nullopt;
}

// Blocks until the pipe has a byte (the child's "ready"), with a timeout.
bool wait_ready(int fd, std::chrono::milliseconds timeout = 10s) {
  auto deadline = Clock::now() + timeout;
  char b = 0;
  while (Clock::now() < deadline) {
    if (::read(fd, &b, 1) == 1) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
  ~Pipe() {
    for (int f : fds)
      if (f >= 0) ::close(f);
  }
  void signal() const { (void)!::write(fds[1], "r", 1); }
};

TEST_F(DaemonIntegration, RegisterAndUnregister) {
  start_daemon();
  RawClient c = RawClient::connect(daemon_->socket_path());
  ASSERT_TRUE(c.valid());
  auto h = c.hello();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->code(), fb::ResultCode::Ok);

  auto reg = c.register_process("integration-client", false);
  ASSERT_TRUE(reg);
  ASSERT_EQ(reg->code(), fb::ResultCode::Ok) << reg->message();
  ASSERT_EQ(reg->fds.size(), 1u);
  const fb::RegisterProcessReply* body = reg->response()->body_as_RegisterProcessReply();
  ASSERT_NE(body, nullptr);
  // The segment fd maps, and is the live, ready segment the reply describes.
  auto seg = shm::Segment::attach_fd(reg->fds[0].release(), body->segment()->name()->str());
  ASSERT_TRUE(seg) << seg.error().message;
  EXPECT_EQ(seg->size(), body->segment()->size());
  EXPECT_EQ(seg->header().creator_pid, daemon_->pid());

  auto t = topology(c);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->processes.size(), 1u);
  EXPECT_EQ(t->processes[0].pid, ::getpid());  // from SO_PEERCRED
  EXPECT_EQ(t->processes[0].name, "integration-client");

  auto u = c.unregister();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->code(), fb::ResultCode::Ok);
  t = topology(c);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->processes.empty());
}

// Registrations one after another, every connection kept open: each reply is Ok and names a
// slot of its own, the one ListTopology then lists under that registration's name.
TEST_F(DaemonIntegration, EveryRegistrationGetsASlotOfItsOwn) {
  start_daemon();
  constexpr int kClients = 200;  // below the 256 heartbeat slots of the default segment
  std::vector<RawClient> clients;
  std::map<std::string, std::uint32_t> slot_of;
  std::set<std::uint32_t> slots;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(RawClient::connect(daemon_->socket_path()));
    ASSERT_TRUE(clients.back().valid());
    const std::string name = "own-slot-" + std::to_string(i);
    auto r = clients.back().register_process(name, false);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->code(), fb::ResultCode::Ok) << r->message();
    const fb::RegisterProcessReply* body = r->response()->body_as_RegisterProcessReply();
    ASSERT_NE(body, nullptr);
    EXPECT_TRUE(slots.insert(body->slot()).second)
        << name << " got slot " << body->slot() << " again";
    slot_of[name] = body->slot();
  }
  RawClient observer = RawClient::connect(daemon_->socket_path());
  auto t = topology(observer);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->processes.size(), static_cast<std::size_t>(kClients));
  for (const Topology::Process& p : t->processes) {
    auto it = slot_of.find(p.name);
    ASSERT_NE(it, slot_of.end()) << "an unknown process " << p.name;
    EXPECT_EQ(p.slot, it->second) << p.name;
  }
}

TEST_F(DaemonIntegration, ThousandSubscriberCreations) {
  start_daemon();
  RawClient c = RawClient::connect(daemon_->socket_path());
  ASSERT_EQ(c.register_process("many-subscribers", false)->code(), fb::ResultCode::Ok);
  constexpr int kSubscribers = 1000;
  for (int i = 0; i < kSubscribers; ++i) {
    auto r = c.create_subscriber({"bulk", "i", "e" + std::to_string(i % 50)});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->code(), fb::ResultCode::Ok) << i << ": " << r->message();
    ASSERT_EQ(r->fds.size(), 1u);
  }
  // Its hang-up frees all of them at once.
  c.close();
  RawClient observer = RawClient::connect(daemon_->socket_path());
  EXPECT_TRUE(wait_until(
      [&] {
        auto t = topology(observer);
        return t && t->subscriber_slots.empty();
      },
      5s));
}

TEST_F(DaemonIntegration, TwoHundredClientsRegisterAtOnce) {
  start_daemon();
  constexpr int kClients = 200;
  struct Slot {
    std::atomic<int> ok;
    std::atomic<std::uint64_t> done_ns;
    std::atomic<std::uint64_t> rtt_ns;
  };
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "atomics shared across processes");
  zcp::test::SharedAnon shared(sizeof(Slot) * kClients);
  auto* slots = static_cast<Slot*>(shared.get());
  for (int i = 0; i < kClients; ++i)
    new (&slots[i]) Slot{};
  zcp::test::ProcessBarrier go(kClients + 1);
  zcp::test::ProcessBarrier leave(kClients + 1);
  const std::string path = daemon_->socket_path();

  std::vector<zcp::test::Child> children;
  children.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    children.emplace_back([&, i] {
      go.wait();
      RawClient c = RawClient::connect(path, 20s);
      std::uint64_t t0 = now_ns();
      auto r = c.valid() ? c.register_process("crowd-" + std::to_string(i), false) : std::nullopt;
      std::uint64_t t1 = now_ns();
      slots[i].rtt_ns.store(t1 - t0);
      slots[i].done_ns.store(t1);
      slots[i].ok.store(r && r->code() == fb::ResultCode::Ok ? 1 : 2);
      leave.wait();
      return 0;
    });
  }
  go.wait();
  const std::uint64_t t_go = now_ns();
  auto all_done = wait_until(
      [&] {
        for (int i = 0; i < kClients; ++i) {
          if (slots[i].ok.load() == 0) return false;
        }
        return true;
      },
      30s);
  ASSERT_TRUE(all_done) << "not every client got its registration reply";
  int ok = 0;
  std::uint64_t last = 0;
  std::vector<std::uint64_t> rtts;
  for (int i = 0; i < kClients; ++i) {
    ok += slots[i].ok.load() == 1;
    last = std::max(last, slots[i].done_ns.load());
    rtts.push_back(slots[i].rtt_ns.load());
  }
  EXPECT_EQ(ok, kClients);
  std::sort(rtts.begin(), rtts.end());
  std::printf(
      "[ measured ] %d clients registered at once: all done %.1f ms after the barrier; "
      "per-client round trip median %.2f ms, max %.2f ms\n",
      kClients, static_cast<double>(last - t_go) / 1e6,
      static_cast<double>(rtts[kClients / 2]) / 1e6, static_cast<double>(rtts.back()) / 1e6);

  RawClient observer = RawClient::connect(path);
  auto t = topology(observer);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->processes.size(), static_cast<std::size_t>(kClients));
  leave.wait();
  for (zcp::test::Child& c : children)
    EXPECT_EQ(c.wait(30s), 0);
  // Their exits remove them (pidfd / hang-up).
  EXPECT_TRUE(wait_until(
      [&] {
        auto now = topology(observer);
        return now && now->processes.empty();
      },
      5s));
}

TEST_F(DaemonIntegration, KillNineRemovesTheClientAndItsEndpoints) {
  start_daemon();
  const std::string path = daemon_->socket_path();
  Pipe ready;
  zcp::test::Child victim([&] {
    RawClient c = RawClient::connect(path);
    if (!c.valid()) return 1;
    auto r = c.register_process("victim", false);
    if (!r || r->code() != fb::ResultCode::Ok) return 2;
    for (const char* e : {"a", "b"}) {
      auto p = c.create_publisher({"svc", "inst", e});
      auto s = c.create_subscriber({"svc", "inst", e});
      if (!p || p->code() != fb::ResultCode::Ok || !s || s->code() != fb::ResultCode::Ok) return 3;
    }
    ready.signal();
    for (;;)
      ::pause();
  });
  ASSERT_TRUE(wait_ready(ready.fds[0]));
  RawClient observer = RawClient::connect(path);
  auto before = topology(observer);
  ASSERT_TRUE(before);
  ASSERT_TRUE(before->has_pid(victim.pid()));
  std::uint32_t slot = before->processes[0].slot;
  EXPECT_EQ(before->endpoints_of_slot(slot), 4u);

  victim.kill(SIGKILL);
  auto latency = time_until(
      [&] {
        auto t = topology(observer);
        return t && !t->has_pid(victim.pid()) && t->endpoints_of_slot(slot) == 0;
      },
      5s);
  ASSERT_TRUE(latency) << "the killed client is still listed after 5 s";
  std::printf(
      "[ measured ] kill -9 of a client with 2 publishers + 2 subscribers: gone from "
      "ListTopology after %.2f ms\n",
      static_cast<double>(latency->count()) / 1000.0);
  EXPECT_EQ(victim.wait(5s), 128 + SIGKILL);
}

bool listed(const Topology& t, const std::string& name) {
  return std::any_of(t.processes.begin(), t.processes.end(),
                     [&](const Topology::Process& p) { return p.name == name; });
}

// Why the daemon says it removed the process `name` ("heartbeat timeout", "exited"...), from
// its log line "process 'NAME' (pid P, slot S) removed: CAUSE; released ...".
std::string removal_cause(const std::string& log, const std::string& name) {
  const std::string marker = "removed: ";
  for (std::size_t at = log.find("process '" + name + "' (pid "); at != std::string::npos;
       at = log.find("process '" + name + "' (pid ", at + 1)) {
    const std::size_t eol = log.find('\n', at);
    const std::string line =
        log.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    const std::size_t cause = line.find(marker);
    if (cause == std::string::npos) continue;
    return line.substr(cause + marker.size(), line.find(';', cause) - cause - marker.size());
  }
  return "(no removal logged)";
}

TEST_F(DaemonIntegration, StoppedMonitoredClientIsRemovedAfterHeartbeatTimeout) {
  constexpr auto kTimeout = 500ms;
  start_daemon(
      {"--heartbeat-ms", "50", "--heartbeat-timeout-ms", std::to_string(kTimeout.count())});
  const std::string path = daemon_->socket_path();
  Pipe ready;
  zcp::test::Child sleeper([&] {
    RawClient c = RawClient::connect(path);
    auto r = c.valid() ? c.register_process("sleeper", true) : std::nullopt;
    if (!r || r->code() != fb::ResultCode::Ok || r->fds.size() != 1) return 2;
    auto* body = r->response()->body_as_RegisterProcessReply();
    auto seg = shm::Segment::attach_fd(r->fds[0].release(), body->segment()->name()->str());
    if (!seg) return 3;
    // The reply names the slot; the epoch is the slot's current one (ours while registered).
    auto lease = seg->heartbeats().lease_of(body->slot());
    if (!lease) return 4;
    ready.signal();
    for (;;) {  // libzcp's heartbeat, by hand: touch every 20 ms
      seg->heartbeats().touch(*lease, monotonic_ns());
      // The heartbeat period under test: the canaries below check that it keeps us listed.
      std::this_thread::sleep_for(20ms);
    }
  });
  ASSERT_TRUE(wait_ready(ready.fds[0]));
  RawClient observer = RawClient::connect(path);
  auto before = topology(observer);
  ASSERT_TRUE(before);
  ASSERT_TRUE(before->has_pid(sleeper.pid()));
  const std::uint32_t slot = before->processes[0].slot;

  // Canaries: monitored clients that register after the sleeper and never touch. The daemon
  // removes each on the first tick at which its slot is older than the timeout by the
  // daemon's clock; the sleeper's registration is older still, so on that tick only its
  // touches can keep it listed. Two in a row: it stays alive through two timeouts.
  for (int round = 0; round < 2; ++round) {
    const std::string name = "canary-" + std::to_string(round);
    RawClient canary = RawClient::connect(path);
    auto r = canary.register_process(name, true);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->code(), fb::ResultCode::Ok) << r->message();
    ASSERT_TRUE(wait_until(
        [&] {
          auto t = topology(observer);
          return t && !listed(*t, name);
        },
        10s))
        << "a monitored client that never touched its slot is still listed";
    EXPECT_EQ(removal_cause(daemon_->log(), name), "heartbeat timeout");
    auto alive = topology(observer);
    ASSERT_TRUE(alive);
    EXPECT_TRUE(alive->has_pid(sleeper.pid())) << "a touching client was removed";
  }

  sleeper.kill(SIGSTOP);
  auto gone = wait_until(
      [&] {
        auto t = topology(observer);
        return t && !t->has_pid(sleeper.pid());
      },
      10s);
  const std::uint64_t seen_gone_ns = monotonic_ns();
  ASSERT_TRUE(gone) << "a stopped monitored client was not removed";
  EXPECT_EQ(removal_cause(daemon_->log(), "sleeper"), "heartbeat timeout");
  // Not before its timeout, by the clock the daemon judges with (CLOCK_MONOTONIC, as the
  // slot's stamps): the slot's last touch, which the stopped client can no longer move, lies
  // more than the timeout before the moment we saw it gone.
  auto seg =
      shm::Segment::open(daemon_->segment_path().substr(std::string("/dev/shm").size()), false);
  ASSERT_TRUE(seg) << seg.error().message;
  const std::uint64_t last_touch =
      shm::atomic_load(seg->heartbeats().slot(slot).last_heartbeat_ns, std::memory_order_relaxed);
  const auto timeout_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(kTimeout).count());
  EXPECT_GT(seen_gone_ns - last_touch, timeout_ns) << "removed before its heartbeat timeout";
  std::printf(
      "[ measured ] SIGSTOP of a monitored client (timeout 500 ms, tick 50 ms): seen removed "
      "%.1f ms after its last heartbeat\n",
      static_cast<double>(seen_gone_ns - last_touch) / 1e6);
  sleeper.kill(SIGKILL);
  sleeper.kill(SIGCONT);
  EXPECT_EQ(sleeper.wait(5s), 128 + SIGKILL);
}

TEST_F(DaemonIntegration, SecondDaemonOnTheSameInstanceRefusesToStart) {
  start_daemon();
  auto second = make_daemon();
  EXPECT_EQ(second->run_to_exit(), 3);
  EXPECT_NE(second->log().find("already serving instance"), std::string::npos) << second->log();
  RawClient c = RawClient::connect(daemon_->socket_path());
  auto r = c.register_process("still-served", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code(), fb::ResultCode::Ok);
}

TEST_F(DaemonIntegration, StaleSocketAndSegmentOfAKilledDaemonAreCleaned) {
  start_daemon();
  {
    RawClient c = RawClient::connect(daemon_->socket_path());
    ASSERT_TRUE(c.register_process("before-crash", false));
  }
  EXPECT_EQ(daemon_->stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(exists(daemon_->socket_path()));
  ASSERT_TRUE(exists(daemon_->segment_path()));

  auto next = make_daemon();
  ASSERT_TRUE(next->start()) << next->log();
  EXPECT_NE(next->log().find("removed the stale segment"), std::string::npos) << next->log();
  EXPECT_NE(next->log().find("removed the stale socket"), std::string::npos) << next->log();
  RawClient c = RawClient::connect(next->socket_path());
  auto r = c.register_process("after-crash", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code(), fb::ResultCode::Ok);
  EXPECT_EQ(next->stop(SIGTERM), 0);
}

TEST_F(DaemonIntegration, SigtermSaysGoodbyeAndRemovesSocketAndSegment) {
  start_daemon();
  RawClient registered = RawClient::connect(daemon_->socket_path());
  ASSERT_EQ(registered.register_process("goodbye", true)->code(), fb::ResultCode::Ok);
  ASSERT_EQ(registered.create_subscriber({"s", "i", "e"})->code(), fb::ResultCode::Ok);
  RawClient lurker = RawClient::connect(daemon_->socket_path());
  ASSERT_EQ(lurker.hello()->code(), fb::ResultCode::Ok);

  const std::string socket = daemon_->socket_path();
  const std::string segment = daemon_->segment_path();
  EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->log();
  for (RawClient* c : {&registered, &lurker}) {
    auto notice = c->receive();
    ASSERT_TRUE(notice);
    const fb::Response* r = notice->response();
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->request_id(), 0u);
    EXPECT_EQ(r->code(), fb::ResultCode::ShuttingDown);
    ASSERT_NE(r->body_as_DaemonShutdown(), nullptr);
    EXPECT_NE(r->body_as_DaemonShutdown()->reason()->str().find("SIGTERM"), std::string::npos);
    EXPECT_TRUE(c->wait_for_eof());
  }
  EXPECT_FALSE(exists(socket));
  EXPECT_FALSE(exists(segment));
  EXPECT_NE(daemon_->log().find("counters: "), std::string::npos);
}

// Docker's default seccomp profile blocks io_uring_setup with EPERM. diroute must say so, name
// the fix, and exit with its own code, leaving nothing behind.
TEST_F(DaemonIntegration, IoUringBlockedBySeccompExitsWithCauseAndFix) {
  constexpr int kSkip = 77;
  const std::string log = runtime_dir_ + "/seccomp.log";
  const std::string instance = instance_;
  zcp::test::Child child([&] {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) return 126;
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return kSkip;
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return kSkip;
    ::execl(ZCP_DIROUTE_PATH, ZCP_DIROUTE_PATH, "--instance", instance.c_str(), nullptr);
    return 127;
  });
  int rc = child.wait(10s);
  if (rc == kSkip) GTEST_SKIP() << "cannot install a seccomp filter here";
  std::string text = DirouteProcess::read_file(log);
  EXPECT_EQ(rc, 4) << text;
  EXPECT_NE(text.find("seccomp"), std::string::npos) << text;
  EXPECT_NE(text.find("--security-opt seccomp=unconfined"), std::string::npos) << text;
  EXPECT_FALSE(exists(runtime_dir_ + "/" + instance_ + ".sock"));
  EXPECT_FALSE(exists("/dev/shm/zcp." + instance_ + ".seg"));
}

TEST_F(DaemonIntegration, BadCommandLineIsExitCode2) {
  auto d = make_daemon({"--heartbeat-ms", "500", "--heartbeat-timeout-ms", "100"});
  EXPECT_EQ(d->run_to_exit(), 2);
  auto e = make_daemon({"--no-such-flag"});
  EXPECT_EQ(e->run_to_exit(), 2);
  for (const char* bad : {"8192", "x10", "12x", "1kx5", "0x10", "64x0", "64x10,128x5"}) {
    auto p = make_daemon({"--pool", bad});
    EXPECT_EQ(p->run_to_exit(), 2) << "--pool " << bad;
    EXPECT_NE(p->log().find("--pool"), std::string::npos) << p->log();
  }
}

TEST_F(DaemonIntegration, PoolFlagSetsTheSegmentsSizeClasses) {
  start_daemon({"--pool", "8192x64", "--pool", "100x16"});
  auto seg =
      shm::Segment::open(daemon_->segment_path().substr(std::string("/dev/shm").size()), false);
  ASSERT_TRUE(seg) << seg.error().message;
  ASSERT_EQ(seg->pool().class_count(), 2U);
  EXPECT_EQ(seg->pool().stats(0).chunk_size, 128U) << "sorted, and rounded up to 64 bytes";
  EXPECT_EQ(seg->pool().stats(0).total, 16U);
  EXPECT_EQ(seg->pool().stats(1).chunk_size, 8192U);
  EXPECT_EQ(seg->pool().stats(1).total, 64U);
}

}  // namespace
}  // namespace zcp::daemon::test
