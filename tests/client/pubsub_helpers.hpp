// Helpers shared by the end-to-end tests of libzcp (pubsub_test.cpp, policy_test.cpp,
// failure_test.cpp, cli_test.cpp): one binary, client_pubsub_test, against the real diroute
// (daemon_fixture.hpp). Children are forked per role; they report failures on stderr and
// through their exit code, and the test process itself holds no Runtime.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <type_traits>

#include <unistd.h>

#include <zcp/zcp.hpp>

#include "daemon_fixture.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "shm/stats.hpp"
#include "support/test_support.hpp"

namespace zcp::client_test {

using namespace std::chrono_literals;
using zcp::test::Child;
using zcp::test::ProcessBarrier;
using zcp::test::SharedAnon;

inline constexpr auto kChildTimeout = std::chrono::seconds(60);

// A failed check in a child: say where and why on stderr, and exit non-zero.
#define CHILD_CHECK(cond, ...)                                                               \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "[pid %d] %s:%d: CHILD_CHECK(%s) failed: ", ::getpid(), __FILE__, \
                   __LINE__, #cond);                                                         \
      std::fprintf(stderr, __VA_ARGS__);                                                     \
      std::fputc('\n', stderr);                                                              \
      return 1;                                                                              \
    }                                                                                        \
  } while (0)

inline std::unique_ptr<Runtime> connect(const std::string& name) {
  RuntimeOptions o;
  o.name = name + "-" + std::to_string(::getpid());
  auto rt = Runtime::connect(o);
  if (!rt) {
    std::fprintf(stderr, "[pid %d] connect: %s\n", ::getpid(), rt.error().message.c_str());
    return nullptr;
  }
  return std::move(*rt);
}

// Flags shared by the processes of one test (MAP_SHARED, inherited by fork).
struct Flags {
  std::atomic<int> step{0};
  std::atomic<int> count{0};
  std::atomic<std::uint64_t> value{0};
};

inline bool await_step(const Flags& f, int at_least, std::chrono::milliseconds timeout = 20s) {
  return wait_until([&] { return f.step.load() >= at_least; }, timeout);
}

// Lossless tests keep their publishers alive until every subscriber is done: a publisher's
// destructor flushes for a bounded time only, and what the router has not routed by then (a
// message a slow block_publisher subscriber holds back in the router included) goes with it.
struct Done {
  explicit Done(Flags* f) : f_(f) {}
  ~Done() { f_->count.fetch_add(1); }  // on every exit of a subscriber child
  Flags* f_;
};
inline bool await_done(const Flags& f, int n) {
  return wait_until([&] { return f.count.load() >= n; }, 40s);
}

// Payload bytes are a function of (tag, sequence, index) so every byte is checked.
inline std::byte pattern(std::uint32_t tag, std::uint64_t seq, std::size_t i) {
  return static_cast<std::byte>((seq * 131 + i * 7 + tag * 17) & 0xff);
}
inline void fill(std::span<std::byte> p, std::uint32_t tag, std::uint64_t seq) {
  for (std::size_t i = 0; i < p.size(); ++i)
    p[i] = pattern(tag, seq, i);
}
inline bool intact(std::span<const std::byte> p, std::uint32_t tag, std::uint64_t seq) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] != pattern(tag, seq, i)) return false;
  }
  return true;
}

// Waits until the publisher counts n subscribers (RingHeader::peers); false if it does not
// within 2 s. The daemon counts a subscriber there only once every router worker applied its
// AddSubscriber command, so a message published after this returned true reaches all n.
inline bool wait_subscribers(const Publisher<>& pub, std::uint32_t n) {
  return wait_until([&] { return pub.subscriber_count() >= n; }, 2s);
}

// The router's side of a test's ports, read from the daemon's stats region as zcp-top reads
// it (the segment of $ZCP_INSTANCE, mapped read-only): the state a test waits for instead of
// pausing while the router gets there. Usable from any child; it holds no Runtime.
class RouterView {
 public:
  RouterView() {
    const char* instance = std::getenv("ZCP_INSTANCE");
    auto seg = shm::Segment::open(std::string("/zcp.") + (instance ? instance : "") + ".seg",
                                  /*writable=*/false);
    if (seg) seg_ = std::move(*seg);
  }
  // The stats slot of the live publisher `id` (its counters: routed, blocked...), or nullptr.
  const shm::PublisherStats* publisher(std::uint32_t id) const {
    shm::PublisherStats d{};
    return find(id, d);
  }
  // The publish ring of the live publisher `id` (producer_full: publish() found it full), or
  // nullptr.
  const shm::RingHeader* publish_ring_of(std::uint32_t id) const {
    shm::PublisherStats d{};
    return find(id, d) != nullptr ? ring(d.publish_ring_offset) : nullptr;
  }
  // The loan ring of the live publisher `id` (tail: chunks the router lent it so far), or
  // nullptr.
  const shm::RingHeader* loan_ring_of(std::uint32_t id) const {
    shm::PublisherStats d{};
    return find(id, d) != nullptr ? ring(d.loan_ring_offset) : nullptr;
  }
  // The queue of the live subscriber `id` (depth = tail - head; the waiting word), or nullptr.
  const shm::RingHeader* queue_of(std::uint32_t id) const {
    shm::SubscriberStats d{};
    return find(id, d) != nullptr ? ring(d.queue_offset) : nullptr;
  }
  // Messages in a subscriber's queue. relaxed: a statistic, as zcp-top reads it; the head
  // first, so that a pop between the two loads cannot make the difference negative.
  static std::uint64_t depth(const shm::RingHeader& q) {
    const std::uint64_t head = shm::atomic_load(q.head, std::memory_order_relaxed);
    return shm::atomic_load(q.tail, std::memory_order_relaxed) - head;
  }
  // The subscriber announced that it sleeps on its eventfd (the waiting word of its queue).
  static bool asleep(const shm::RingHeader& q) {
    return shm::atomic_load(q.waiting, std::memory_order_relaxed) != 0;
  }

 private:
  // The slot of the live publisher or subscriber `id`, its descriptor copied into `d` under
  // the slot's sequence lock; nullptr if there is none.
  template <class Slot>
  const Slot* find(std::uint32_t id, Slot& d) const {
    const shm::StatsRegion& st = seg_.stats();
    if (!st.valid()) return nullptr;
    constexpr bool kPublisher = std::is_same_v<Slot, shm::PublisherStats>;
    const std::uint32_t slots =
        kPublisher ? st.header().publisher_slots : st.header().subscriber_slots;
    for (std::uint32_t i = 0; i < slots; ++i) {
      const Slot* s = nullptr;
      if constexpr (kPublisher)
        s = st.publisher(i);
      else
        s = st.subscriber(i);
      if (shm::seq_read(*s, d) &&
          d.state == static_cast<std::uint32_t>(shm::StatsSlotState::kLive) && d.id == id) {
        return s;
      }
    }
    return nullptr;
  }
  const shm::RingHeader* ring(std::uint64_t offset) const {
    return reinterpret_cast<const shm::RingHeader*>(seg_.base() + offset);
  }

  shm::Segment seg_;
};

// Publishes n messages of `size` bytes (tag-patterned); returns the number of WouldBlock
// results seen (each retried with a timeout), or -1 on a failure (reported on stderr).
inline long publish_n(Publisher<>& pub, std::uint64_t n, std::size_t size, std::uint32_t tag) {
  long would_block = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto loan = pub.loan(size);
    if (!loan) {
      std::fprintf(stderr, "[pid %d] loan %llu: %s\n", ::getpid(),
                   static_cast<unsigned long long>(i), loan.error().message.c_str());
      return -1;
    }
    fill(loan->data(), tag, pub.published() + 1);
    auto r = pub.publish(std::move(*loan));
    if (!r && r.error().code == Errc::kWouldBlock) {
      ++would_block;
      if (!loan->valid()) {
        std::fprintf(stderr, "[pid %d] a failed publish consumed the loan\n", ::getpid());
        return -1;
      }
      r = pub.publish(std::move(*loan), 10s);
    }
    if (!r) {
      std::fprintf(stderr, "[pid %d] publish %llu: %s\n", ::getpid(),
                   static_cast<unsigned long long>(i), r.error().message.c_str());
      return -1;
    }
    if (loan->valid()) {
      std::fprintf(stderr, "[pid %d] a published loan is still valid\n", ::getpid());
      return -1;
    }
  }
  if (auto f = pub.flush(10s); !f) {
    std::fprintf(stderr, "[pid %d] flush: %s\n", ::getpid(), f.error().message.c_str());
    return -1;
  }
  return would_block;
}

// Takes until `n` samples were handed to `each` (which returns false to fail), waiting on
// the eventfd in between; false on timeout.
template <class Each>
bool receive_n(Subscriber<>& sub, std::uint64_t n, Each&& each,
               std::chrono::seconds timeout = 30s) {
  std::uint64_t got = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got < n) {
    while (auto s = sub.take()) {
      if (!each(*s)) return false;
      if (++got == n) return true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "[pid %d] received %llu of %llu before the timeout (dropped %llu)\n",
                   ::getpid(), static_cast<unsigned long long>(got),
                   static_cast<unsigned long long>(n),
                   static_cast<unsigned long long>(sub.dropped()));
      return false;
    }
    sub.wait(100ms);
  }
  return true;
}

// An in-order, complete, intact stream from one publisher.
struct InOrder {
  std::uint32_t tag;
  std::uint64_t next = 1;
  std::size_t size;
  bool operator()(const Sample<>& s) {
    if (s.sequence() != next || s.size() != size || !intact(s.data(), tag, s.sequence())) {
      std::fprintf(
          stderr, "[pid %d] got sequence %llu size %zu (intact %d), expected %llu size %zu\n",
          ::getpid(), static_cast<unsigned long long>(s.sequence()), s.size(),
          intact(s.data(), tag, s.sequence()), static_cast<unsigned long long>(next), size);
      return false;
    }
    ++next;
    return true;
  }
};

// A subscriber that does not take while the publisher sends kN into a queue of kQ: the
// policy decides which kQ survive, dropped() counts the rest, and the sequence numbers show
// exactly that many missing.
inline void run_drop_policy(QueuePolicy policy, const char* topic = "t/policy/drop") {
  constexpr std::uint64_t kN = 100;
  constexpr std::uint32_t kQ = 8;
  zcp::test::SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  zcp::test::ProcessBarrier ready(2);
  zcp::test::Child sub([&] {
    auto rt = connect("sub");
    auto s = rt ? Subscriber<>::create(*rt, topic, {.queue_capacity = kQ, .policy = policy})
                : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    CHILD_CHECK(s->queue_capacity() == kQ, "queue capacity %u", s->queue_capacity());
    CHILD_CHECK(await_step(*flags, 1), "publisher did not finish");
    CHILD_CHECK(wait_until([&] { return s->dropped() == kN - kQ; }, std::chrono::seconds(5)),
                "dropped %llu, expected %llu", static_cast<unsigned long long>(s->dropped()),
                static_cast<unsigned long long>(kN - kQ));
    std::vector<std::uint64_t> seqs;
    while (auto x = s->take()) {
      CHILD_CHECK(intact(x->data(), 1, x->sequence()), "payload of %llu",
                  static_cast<unsigned long long>(x->sequence()));
      seqs.push_back(x->sequence());
    }
    CHILD_CHECK(seqs.size() == kQ, "took %zu", seqs.size());
    std::uint64_t first = policy == QueuePolicy::kDropOldest ? kN - kQ + 1 : 1;
    for (std::uint32_t i = 0; i < kQ; ++i) {
      CHILD_CHECK(seqs[i] == first + i, "sample %u has sequence %llu, expected %llu", i,
                  static_cast<unsigned long long>(seqs[i]),
                  static_cast<unsigned long long>(first + i));
    }
    // Gaps in the sequence numbers (before, between, after) equal the drop count.
    std::uint64_t gaps = (seqs.front() - 1) + (kN - seqs.back());
    for (std::size_t i = 1; i < seqs.size(); ++i)
      gaps += seqs[i] - seqs[i - 1] - 1;
    CHILD_CHECK(gaps == s->dropped(), "gaps %llu vs dropped %llu",
                static_cast<unsigned long long>(gaps),
                static_cast<unsigned long long>(s->dropped()));
    return 0;
  });
  zcp::test::Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, topic, {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    wait_subscribers(*p, 1);
    long wb = publish_n(*p, kN, 48, 1);
    CHILD_CHECK(wb >= 0, "publishing failed");
    flags->step = 1;
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

}  // namespace zcp::client_test
