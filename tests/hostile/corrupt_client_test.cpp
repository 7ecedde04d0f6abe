// A deliberately corrupting client against the real diroute. It registers through the raw
// protocol, maps the segment, and writes garbage into what it was granted: its publish ring
// (random chunk references, an impossible tail), its release ring (foreign references), its
// subscriber queue (every byte), and the headers of chunks lent to it. Meanwhile a good
// publisher/subscriber pair streams on another topic. Every test then requires:
//  - the daemon is alive and serves a new client;
//  - the good stream arrived complete and in order (no other topic was corrupted);
//  - once every client is gone, every pool class is back to free == total, exactly;
//  - where the router can tell (a reference it never lent, an impossible index), the client
//    was disconnected and the fault counted.
#include <atomic>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include <sys/mman.h>
#include <sys/socket.h>

#include <zcp/zcp.hpp>

#include "diroute_process.hpp"
#include "raw_client.hpp"
#include "shm/layout.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon::test {
namespace {

using namespace std::chrono_literals;

// A good publisher and a lossless subscriber on their own topic, each on its own thread.
class GoodStream {
 public:
  explicit GoodStream(const std::string& instance) {
    auto rt = Runtime::connect({.name = "good", .instance = instance});
    if (!rt) {
      error_ = "connect: " + rt.error().message;
      return;
    }
    rt_ = std::move(*rt);
    auto sub = Subscriber<>::create(*rt_, "good/s/e",
                                    {.queue_capacity = 64, .policy = QueuePolicy::kBlockPublisher});
    auto pub = Publisher<>::create(*rt_, "good/s/e", {.max_payload = 64});
    if (!sub || !pub) {
      error_ = "create failed";
      return;
    }
    sub_.emplace(std::move(*sub));
    pub_.emplace(std::move(*pub));
    publisher_ = std::thread([this] { publish(); });
    subscriber_ = std::thread([this] { take(); });
  }
  ~GoodStream() { stop(); }

  // Stops publishing, waits until everything sent arrived (or 5 s), and joins.
  void stop() {
    stop_.store(true);
    if (publisher_.joinable()) publisher_.join();
    if (subscriber_.joinable()) subscriber_.join();
  }
  const std::string& error() const { return error_; }
  std::uint64_t sent() const { return sent_.load(); }
  std::uint64_t received() const { return received_.load(); }
  std::uint64_t disorder() const { return disorder_.load(); }

 private:
  void publish() {
    while (!stop_.load()) {
      auto loan = pub_->loan(sizeof(std::uint64_t));
      if (!loan) continue;
      std::uint64_t v = sent_.load() + 1;
      std::memcpy(loan->data().data(), &v, sizeof(v));
      while (!pub_->publish(std::move(*loan), 10ms) && !stop_.load()) {
      }
      if (loan->size() == 0) sent_.store(v);
      // A paced stream that runs all through the attack without flooding a small host: the
      // tests check that it stays complete and in order, and keeps going, not its rate.
      std::this_thread::sleep_for(50us);
    }
    (void)pub_->flush(2s);
    done_.store(true);
  }
  void take() {
    std::uint64_t last = 0;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      while (auto s = sub_->take()) {
        if (s->publisher_id() != pub_->id()) continue;  // an attacker publishing on this topic
        std::uint64_t v = 0;
        std::memcpy(&v, s->data().data(), sizeof(v));
        if (v != last + 1) disorder_.fetch_add(1);
        last = v;
        received_.fetch_add(1);
      }
      if (done_.load() && received_.load() >= sent_.load()) return;
      sub_->wait(5ms);
    }
  }

  std::string error_;
  std::unique_ptr<Runtime> rt_;
  std::optional<Subscriber<>> sub_;
  std::optional<Publisher<>> pub_;
  std::thread publisher_, subscriber_;
  std::atomic<bool> stop_{false}, done_{false};
  std::atomic<std::uint64_t> sent_{0}, received_{0}, disorder_{0};
};

// A process that connects to the daemon and hands the connection to this one, then waits to be
// killed: the daemon takes it for the client (SO_PEERCRED, its pidfd), while this process
// does the talking and the corrupting. The daemon must keep what the client may still write
// until that process exits, so a test ends the stand-in to see every chunk come back.
class StandIn {
 public:
  explicit StandIn(const std::string& socket_path) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) != 0) return;
    sys::UniqueFd mine(sp[0]), theirs(sp[1]);
    child_.emplace([&]() -> int {
      RawClient c = RawClient::connect(socket_path);
      if (!c.valid()) return 2;
      int fd = c.fd();
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      char byte = 0;
      iovec iov{&byte, 1};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
      if (::sendmsg(theirs.get(), &msg, 0) != 1) return 3;
      for (;;)
        ::pause();  // until killed
    });
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    char byte = 0;
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (::recvmsg(mine.get(), &msg, MSG_CMSG_CLOEXEC) != 1) return;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    if (cm == nullptr || cm->cmsg_type != SCM_RIGHTS) return;
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    timeval tv{5, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    client_ = RawClient::adopt(sys::UniqueFd(fd));
  }
  RawClient& client() { return client_; }
  // The client process exits (as a crash would end it).
  void end() {
    if (child_) {
      child_->kill(SIGKILL);
      (void)child_->wait(std::chrono::seconds(10));
    }
  }

 private:
  RawClient client_;
  std::optional<zcp::test::Child> child_;
};

class CorruptClient : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    start_daemon();
    auto seg = shm::Segment::open("/zcp." + instance_ + ".seg", /*writable=*/true);
    ASSERT_TRUE(seg) << seg.error().message;
    seg_ = std::move(*seg);
    stand_in_ = std::make_unique<StandIn>(daemon_->socket_path());
    ASSERT_TRUE(attacker().valid());
    ASSERT_EQ(attacker().hello()->code(), fb::ResultCode::Ok);
    ASSERT_EQ(attacker().register_process("attacker", true)->code(), fb::ResultCode::Ok);
    good_ = std::make_unique<GoodStream>(instance_);
    ASSERT_EQ(good_->error(), "");
  }

  RawClient& attacker() { return stand_in_->client(); }
  shm::RingHeader& ring(const fb::QueueDescriptor* d) {
    return *reinterpret_cast<shm::RingHeader*>(seg_.base() + d->offset());
  }
  std::byte* slot(const fb::QueueDescriptor* d, std::uint64_t pos) {
    return seg_.base() + d->offset() + sizeof(shm::RingHeader) +
           (pos % d->capacity()) * d->element_size();
  }
  // Publishes n entries the attacker wrote by hand: tail moves with a release store, as a
  // real producer's would, so the router reads exactly the garbage.
  void advance_tail(shm::RingHeader& h, std::uint64_t n) {
    std::uint64_t t = shm::atomic_load(h.tail, std::memory_order_relaxed);
    shm::atomic_store(h.tail, t + n, std::memory_order_release);
  }
  // True once the daemon hung up on the attacker.
  bool disconnected(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (attacker().wait_for_eof()) return true;
    }
    return false;
  }

  // The checks every test ends with.
  void expect_everyone_else_fine() {
    // The good stream keeps going after the attack. The router offers each of its messages to
    // every subscriber of the topic (an attacker's among them) before it routes the next, so
    // these also went past whatever the attacker left in its own rings.
    const std::uint64_t before = good_->received();
    EXPECT_TRUE(wait_until([&] { return good_->received() >= before + kMoreMessages; }, 10s))
        << "the good stream stopped after the attack at " << good_->received() << " messages";
    good_->stop();
    EXPECT_GT(good_->sent(), 0U);
    EXPECT_EQ(good_->received(), good_->sent()) << "the good stream lost messages";
    EXPECT_EQ(good_->disorder(), 0U) << "the good stream arrived out of order";
    good_.reset();
    attacker().close();
    // The attacker's process still runs: what it could still write is kept (quarantined) and
    // comes back when it exits.
    stand_in_->end();
    EXPECT_TRUE(wait_until(
        [&] { return daemon_->log().find("quarantined port(s) are freed") != std::string::npos; },
        10s))
        << "the attacker's memory was not kept until its process exited:\n"
        << daemon_->log();
    // A new client is served end to end.
    {
      GoodStream probe(instance_);
      ASSERT_EQ(probe.error(), "") << daemon_->log();
      EXPECT_TRUE(wait_until([&] { return probe.received() >= kMoreMessages; }, 10s))
          << "a new client got " << probe.received() << " messages through";
      probe.stop();
      EXPECT_EQ(probe.received(), probe.sent());
    }
    // Every client is gone: every chunk is back.
    auto deadline = std::chrono::steady_clock::now() + 5s;
    bool full = false;
    while (!full && std::chrono::steady_clock::now() < deadline) {
      full = true;
      for (std::size_t c = 0; c < seg_.pool().class_count(); ++c) {
        auto s = seg_.pool().stats(c);
        full = full && s.free == s.total;
      }
      if (!full) std::this_thread::sleep_for(10ms);
    }
    for (std::size_t c = 0; c < seg_.pool().class_count(); ++c) {
      auto s = seg_.pool().stats(c);
      EXPECT_EQ(s.free, s.total) << "pool class " << c << " leaked " << (s.total - s.free)
                                 << " chunks";
    }
    ASSERT_TRUE(daemon_->running());
    EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->log();
    EXPECT_GE(daemon_->counters()["quarantined"], 1U);
  }

  static constexpr std::uint64_t kMoreMessages = 100;  // "keeps going": this many more arrive
  shm::Segment seg_;
  std::unique_ptr<StandIn> stand_in_;
  std::unique_ptr<GoodStream> good_;
  std::mt19937_64 rng_{20261121};
};

TEST_F(CorruptClient, GarbageReferencesInThePublishRing) {
  auto r = attacker().create_publisher({"bad", "i", "pub"});
  ASSERT_EQ(r->code(), fb::ResultCode::Ok);
  const auto* ring_desc = r->response()->body_as_PublisherReply()->ring();
  auto& h = ring(ring_desc);
  std::uint64_t tail = shm::atomic_load(h.tail, std::memory_order_relaxed);
  for (std::uint64_t i = 0; i < 8; ++i) {
    shm::MessageHeader m{};
    m.chunk_index = static_cast<std::uint32_t>(rng_());
    m.pool_class = static_cast<std::uint16_t>(rng_() % 4);
    m.generation = static_cast<std::uint32_t>(rng_());
    m.sequence = i + 1;
    std::memcpy(slot(ring_desc, tail + i), &m, sizeof(m));
  }
  advance_tail(h, 8);
  EXPECT_TRUE(disconnected()) << "a publisher naming chunks it was never lent must be cut off";
  expect_everyone_else_fine();
  EXPECT_GE(daemon_->counters()["port_faults"], 1U) << daemon_->log();
}

TEST_F(CorruptClient, ImpossiblePublishRingTail) {
  auto r = attacker().create_publisher({"bad", "i", "tail"});
  ASSERT_EQ(r->code(), fb::ResultCode::Ok);
  auto& h = ring(r->response()->body_as_PublisherReply()->ring());
  shm::atomic_store(h.tail, std::uint64_t{1} << 40, std::memory_order_release);
  EXPECT_TRUE(disconnected()) << "a tail 2^40 ahead of head must be cut off";
  expect_everyone_else_fine();
  EXPECT_GE(daemon_->counters()["port_faults"], 1U) << daemon_->log();
}

TEST_F(CorruptClient, ForeignReferencesInTheReleaseRing) {
  auto r = attacker().create_subscriber({"good", "s", "e"}, {});  // on the good topic
  ASSERT_EQ(r->code(), fb::ResultCode::Ok);
  const auto* rel = r->response()->body_as_SubscriberReply()->release_ring();
  auto& h = ring(rel);
  std::uint64_t tail = shm::atomic_load(h.tail, std::memory_order_relaxed);
  for (std::uint64_t i = 0; i < 4; ++i) {
    shm::ChunkRef c{static_cast<std::uint32_t>(rng_() % 64), 0, 0,
                    static_cast<std::uint32_t>(rng_())};
    std::memcpy(slot(rel, tail + i), &c, sizeof(c));
  }
  advance_tail(h, 4);
  EXPECT_TRUE(disconnected()) << "releasing chunks it does not hold must be cut off";
  expect_everyone_else_fine();
  EXPECT_GE(daemon_->counters()["port_faults"], 1U) << daemon_->log();
}

TEST_F(CorruptClient, ScribbledSubscriberQueue) {
  // On the good topic: the router pushes into this queue on every good publication.
  auto r = attacker().create_subscriber({"good", "s", "e"}, {});
  ASSERT_EQ(r->code(), fb::ResultCode::Ok);
  const auto* q = r->response()->body_as_SubscriberReply()->queue();
  // Everything the client can write: indices, the waiting word, every cell's turn and value.
  // (Line 0, the geometry, is what the daemon formatted; it re-reads none of it from shm.)
  auto* bytes = seg_.base() + q->offset();
  std::uint64_t len = sizeof(shm::RingHeader) + std::uint64_t{q->capacity()} * 64;
  for (std::uint64_t i = 64; i < len; i += 8) {
    std::uint64_t v = rng_();
    std::memcpy(bytes + i, &v, sizeof(v));
  }
  // The router keeps delivering into the wreck: the good messages that arrive from now on
  // were offered to it too (expect_everyone_else_fine waits for them).
  expect_everyone_else_fine();
}

TEST_F(CorruptClient, ScribbledHeadersOfLoanedChunks) {
  auto r = attacker().create_publisher({"good", "s", "e"});  // publishes to the good subscriber
  ASSERT_EQ(r->code(), fb::ResultCode::Ok);
  const auto* reply = r->response()->body_as_PublisherReply();
  const auto* loans = reply->loan_ring();
  const auto* ring_desc = reply->ring();
  auto& lh = ring(loans);
  ASSERT_TRUE(
      wait_until([&] { return shm::atomic_load(lh.tail, std::memory_order_acquire) > 0; }, 2000ms));
  std::uint64_t head = shm::atomic_load(lh.head, std::memory_order_relaxed);
  std::uint64_t tail = shm::atomic_load(lh.tail, std::memory_order_acquire);
  auto& ph = ring(ring_desc);
  std::uint64_t ptail = shm::atomic_load(ph.tail, std::memory_order_relaxed);
  std::uint64_t published = 0;
  for (std::uint64_t pos = head; pos < tail && published < 4; ++pos, ++published) {
    shm::ChunkRef ref{};
    std::memcpy(&ref, slot(loans, pos), sizeof(ref));
    auto* ch = seg_.pool().header_of(ref.pool_class, ref.index);
    ASSERT_NE(ch, nullptr);
    // Scribble every field of the header it was lent: refcount, generation, free link, self
    // checks, size. Then publish it with the reference it was given.
    std::uint64_t garbage[8];
    for (auto& g : garbage)
      g = rng_();
    std::memcpy(static_cast<void*>(ch), garbage, sizeof(garbage));
    shm::MessageHeader m{};
    m.chunk_index = ref.index;
    m.pool_class = ref.pool_class;
    m.generation = ref.generation;
    m.sequence = published + 1;
    std::memcpy(slot(ring_desc, ptail + published), &m, sizeof(m));
  }
  shm::atomic_store(lh.head, head + published, std::memory_order_release);
  advance_tail(ph, published);
  // The good subscriber receives these chunks (they were lent, so routing them is legal) with
  // scribbled headers; it must survive them, and its own publisher's stream must stay whole.
  EXPECT_TRUE(wait_until(
      [&] { return shm::atomic_load(ph.routed, std::memory_order_acquire) >= ptail + published; },
      10s))
      << "the router did not route the scribbled chunks";
  expect_everyone_else_fine();
}

}  // namespace
}  // namespace zcp::daemon::test
