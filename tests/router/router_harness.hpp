// A router with a real segment, driven step by step; the test plays the clients through the
// same ring views libzcp uses (loan ring consumer, publish ring producer, queue pop, release
// ring producer).
#pragma once

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "router/router.hpp"
#include "shm/ports.hpp"
#include "shm/route_table.hpp"
#include "shm/segment.hpp"
#include "support/test_support.hpp"

namespace zcp::router::test {

struct PubClient {
  std::unique_ptr<PublisherState> port;
  shm::SpscProducer<shm::MessageHeader> out;
  shm::SpscConsumer<shm::ChunkRef> loans;
  std::uint64_t seq = 0;
};

struct SubClient {
  std::unique_ptr<SubscriberState> port;
  shm::MpmcRing<shm::MessageHeader> queue;
  shm::SpscProducer<shm::ChunkRef> rel;
  int efd = -1;
  ~SubClient() {
    if (efd >= 0) ::close(efd);
  }
  SubClient() = default;
  SubClient(SubClient&& o) noexcept
      : port(std::move(o.port)), queue(o.queue), rel(o.rel), efd(std::exchange(o.efd, -1)) {}
};

class Harness {
 public:
  explicit Harness(shm::ChunkPoolConfig pools = shm::ChunkPoolConfig{{{64, 64}, {1024, 16}}},
                   std::size_t workers = 1) {
    name_ = "/zcp." + zcp::test::unique_instance("router") + ".seg";
    shm::SegmentConfig cfg;
    cfg.pools = pools;
    cfg.heartbeat_slots = 4;
    cfg.queue_arena_bytes = 4 << 20;
    auto s = shm::Segment::create(name_, "router-test", cfg);
    EXPECT_TRUE(s) << s.error().message;
    seg_ = std::move(*s);
    auto arena = *seg_.region(shm::RegionKind::kQueueArena);
    alloc_ = shm::QueueAllocator(arena.offset, arena.size);
    notify_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    std::vector<WorkerOptions> w(workers);
    router_ = std::move(*Router::create(seg_.pool(), w, notify_));
  }
  ~Harness() {
    router_.reset();
    ::close(notify_);
  }

  Router& router() { return *router_; }
  shm::Segment& seg() { return seg_; }
  void step(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (std::size_t w = 0; w < router_->worker_count(); ++w)
        router_->worker(w).do_work(0);
    }
  }

  PubClient add_pub(std::uint32_t id, std::uint32_t topic, std::uint16_t cls = 0,
                    std::uint32_t max_loans = 8, std::uint32_t history = 0,
                    std::uint32_t publish_capacity = 4) {
    PubClient c;
    auto p = make_publisher_port(seg_.base(), seg_.size(), alloc_, router_->ledger(),
                                 {id, topic, 0, cls, max_loans, publish_capacity, history});
    EXPECT_TRUE(p) << p.error();
    c.port = std::move(*p);
    c.out = *shm::SpscProducer<shm::MessageHeader>::attach(seg_.base(), seg_.size(),
                                                           c.port->publish_desc);
    c.loans =
        *shm::SpscConsumer<shm::ChunkRef>::attach(seg_.base(), seg_.size(), c.port->loan_desc);
    router_->add_publisher(c.port.get());
    step();  // applies the command and fills the loan ring
    return c;
  }

  // Direct delivery: the subscriber's route slot and the version that listed it.
  struct Route {
    std::uint32_t slot;
    std::uint32_t since;
  };
  SubClient add_sub(std::uint32_t id, std::uint32_t topic,
                    QueuePolicy policy = QueuePolicy::kDropOldest, std::uint32_t capacity = 4,
                    std::uint32_t max_held = 2, std::uint32_t history = 0,
                    std::optional<Route> route = std::nullopt) {
    SubClient c;
    c.efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    auto s = make_subscriber_port(seg_.base(), seg_.size(), alloc_, router_->ledger(),
                                  {id, topic, 0, policy, capacity, max_held, history, c.efd});
    EXPECT_TRUE(s) << s.error();
    c.port = std::move(*s);
    c.queue =
        *shm::MpmcRing<shm::MessageHeader>::attach(seg_.base(), seg_.size(), c.port->queue_desc);
    c.rel =
        *shm::SpscProducer<shm::ChunkRef>::attach(seg_.base(), seg_.size(), c.port->release_desc);
    if (route) {  // as the reactor does for a direct topic, before the Add command
      c.port->direct = true;
      c.port->route_slot = route->slot;
      c.port->route_since = route->since;
    }
    router_->add_subscriber(c.port.get());
    step();
    return c;
  }

  // Client side of a publication: loan, write the value into the payload, publish.
  bool publish(PubClient& c, std::uint64_t value, std::uint32_t size = 8) {
    if (c.out.size_approx() >= c.out.capacity()) return false;  // WouldBlock: keep the loan
    shm::ChunkRef ref;
    if (!c.loans.try_pop(ref)) return false;
    auto ch = seg_.pool().resolve(ref);
    EXPECT_TRUE(ch);
    std::memcpy(ch->payload, &value, sizeof(value));
    ch->header->payload_size = size;
    shm::MessageHeader m{ref.index, ref.pool_class, 0, ref.generation, 999, ++c.seq, 0};
    EXPECT_TRUE(c.out.try_push(m));
    return true;
  }
  // Take one message: returns the value written by the publisher, and releases the chunk
  // unless hold is set (then the caller must release(c, ref)).
  std::optional<std::uint64_t> take(SubClient& c, shm::MessageHeader* hdr = nullptr,
                                    bool hold = false) {
    shm::MessageHeader m;
    if (!c.queue.try_pop(m)) return std::nullopt;
    auto ch = seg_.pool().resolve(m.chunk());
    EXPECT_TRUE(ch) << "a delivered reference must resolve";
    std::uint64_t v = 0;
    if (ch) std::memcpy(&v, ch->payload, sizeof(v));
    if (hdr) *hdr = m;
    if (!hold) release(c, m.chunk());
    return v;
  }
  void release(SubClient& c, const shm::ChunkRef& r) { EXPECT_TRUE(c.rel.try_push(r)); }

  // Makes `c` a direct-delivery publisher (a route table block, as the reactor gives one).
  void make_direct(PubClient& c) {
    auto off = alloc_.allocate(sizeof(shm::RouteTable));
    ASSERT_TRUE(off);
    c.port->route_table = *off;
  }
  // The publisher's side of a direct publication: loan, write, push into the queues of `to`,
  // and write the kMsgDirect record (route version `version`, mask of their slots, none woken) into
  // the publish ring's next slot; commit it unless `commit` is false (a publisher that died before
  // its commit). Returns the chunk, or nullopt without a loan or room. `woken`: the slots whose
  // wake-up the publisher says it handled (DirectRecord::woken).
  std::optional<shm::ChunkRef> publish_direct(PubClient& c, std::uint64_t value,
                                              std::vector<SubClient*> to, std::uint32_t version,
                                              bool commit = true, std::uint64_t woken = 0) {
    shm::MessageHeader* rec = c.out.claim();
    shm::ChunkRef ref;
    if (rec == nullptr || !c.loans.try_pop(ref)) return std::nullopt;
    auto ch = seg_.pool().resolve(ref);
    EXPECT_TRUE(ch);
    std::memcpy(ch->payload, &value, sizeof(value));
    ch->header->payload_size = 8;
    ch->header->timestamp_ns = 1234;
    ch->header->sequence = ++c.seq;
    const shm::MessageHeader m{ref.index, ref.pool_class, 0, ref.generation, 999, c.seq, 1234};
    std::uint64_t mask = 0;
    for (SubClient* s : to) {
      mask |= std::uint64_t{1} << s->port->route_slot;
      EXPECT_TRUE(s->queue.try_push(m));
    }
    shm::as_direct(*rec) = shm::DirectRecord{
        ref.index, ref.pool_class, shm::kMsgDirect, ref.generation, version, mask, woken};
    if (commit) c.out.commit();
    return ref;
  }

  void remove(PubClient& c) {
    auto seq = router_->remove_publisher(c.port.get());
    step();
    ASSERT_TRUE(router_->settled(seq));
    free_publisher_port(alloc_, router_->ledger(), *c.port);
    c.port.reset();
  }
  void remove(SubClient& c) {
    auto seq = router_->remove_subscriber(c.port.get());
    step();
    ASSERT_TRUE(router_->settled(seq));
    free_subscriber_port(alloc_, router_->ledger(), *c.port);
    c.port.reset();
  }

  // Every pool class is back to its total: nothing leaked, nothing double-freed.
  ::testing::AssertionResult pool_full() {
    for (std::size_t c = 0; c < seg_.pool().class_count(); ++c) {
      auto st = seg_.pool().stats(c);
      if (st.free != st.total) {
        return ::testing::AssertionFailure() << "pool class " << c << " (" << st.chunk_size
                                             << " B): free " << st.free << " of " << st.total;
      }
    }
    return ::testing::AssertionSuccess();
  }

 private:
  std::string name_;
  shm::Segment seg_;
  shm::QueueAllocator alloc_;
  int notify_ = -1;
  std::unique_ptr<Router> router_;
};

}  // namespace zcp::router::test
