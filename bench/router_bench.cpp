// zcp-bench-router: the router's cost per message, without threads or processes. One
// publisher and N subscribers live in a real segment; the program plays both clients (loan,
// publish; take, release) and steps the worker's do_work() by hand, like the router tests.
//
//   zcp-bench-router [--subscribers N] [--batch B] [--messages M]
//
// Each round publishes B messages, runs one pass (route), has every subscriber take and
// release them, and runs a second pass (drain releases, refill loans). It prints ns per
// message over the whole loop. Its real use is under callgrind, where instruction counts are
// exact and stable even on a noisy VM (scripts/profile.sh):
//   valgrind --tool=callgrind --collect-atstart=no
//            '--toggle-collect=zcp::router::Worker::do_work*' build/bin/zcp-bench-router
// gives the worker's instructions; divide by the messages it prints.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/eventfd.h>
#include <unistd.h>

#include "router/router.hpp"
#include "shm/ports.hpp"
#include "shm/segment.hpp"

namespace {

using namespace zcp;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "zcp-bench-router: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  std::uint32_t subscribers = 1;
  std::uint32_t batch = 16;
  std::uint64_t messages = 1'000'000;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) die(a + " needs a value");
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (a == "--subscribers")
      o.subscribers = static_cast<std::uint32_t>(value());
    else if (a == "--batch")
      o.batch = static_cast<std::uint32_t>(value());
    else if (a == "--messages")
      o.messages = value();
    else
      die("unknown option " + a + " (--subscribers N --batch B --messages M)");
  }
  if (o.subscribers == 0 || o.subscribers > 256) die("--subscribers must be 1..256");
  if (o.batch == 0 || o.batch > shm::kDefaultMaxLoans / 2) die("--batch must be 1..32");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const std::string name = "/zcp.bench-router-" + std::to_string(::getpid()) + ".seg";
  shm::SegmentConfig cfg;
  cfg.pools = shm::ChunkPoolConfig{{{64, 1024}}};
  cfg.heartbeat_slots = 4;
  cfg.queue_arena_bytes = 16 << 20;
  auto seg = shm::Segment::create(name, "bench-router", cfg);
  if (!seg) die(seg.error().message);
  auto arena = *seg->region(shm::RegionKind::kQueueArena);
  shm::QueueAllocator alloc(arena.offset, arena.size);
  const int notify = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::vector<router::WorkerOptions> workers(1);
  auto rt = router::Router::create(seg->pool(), workers, notify);
  if (!rt) die(rt.error());
  router::Router& r = **rt;
  router::Worker& w = r.worker(0);
  std::byte* base = seg->base();
  const std::uint64_t size = seg->size();

  auto pub =
      router::make_publisher_port(base, size, alloc, r.ledger(),
                                  {1, 7, 0, 0, shm::kDefaultMaxLoans, shm::kDefaultPublishRing, 0});
  if (!pub) die(pub.error());
  auto out = *shm::SpscProducer<shm::MessageHeader>::attach(base, size, (*pub)->publish_desc);
  auto loans = *shm::SpscConsumer<shm::ChunkRef>::attach(base, size, (*pub)->loan_desc);
  r.add_publisher(pub->get());

  struct Sub {
    std::unique_ptr<router::SubscriberState> port;
    shm::MpmcRing<shm::MessageHeader> queue;
    shm::SpscProducer<shm::ChunkRef> rel;
    int efd;
  };
  std::vector<Sub> subs;
  for (std::uint32_t i = 0; i < o.subscribers; ++i) {
    int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    auto s = router::make_subscriber_port(
        base, size, alloc, r.ledger(),
        {100 + i, 7, 0, QueuePolicy::kBlockPublisher, 256, shm::kDefaultMaxHeld, 0, efd});
    if (!s) die(s.error());
    Sub sub{std::move(*s), {}, {}, efd};
    sub.queue = *shm::MpmcRing<shm::MessageHeader>::attach(base, size, sub.port->queue_desc);
    sub.rel = *shm::SpscProducer<shm::ChunkRef>::attach(base, size, sub.port->release_desc);
    r.add_subscriber(sub.port.get());
    subs.push_back(std::move(sub));
  }
  w.do_work(0);  // applies the Add commands and fills the loan ring

  std::uint64_t seq = 0, received = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (seq < o.messages) {
    for (std::uint32_t b = 0; b < o.batch && seq < o.messages; ++b) {
      shm::ChunkRef ref;
      if (!loans.try_pop(ref)) die("the loan ring ran dry at message " + std::to_string(seq));
      ++seq;
      shm::MessageHeader m{ref.index, ref.pool_class, 0, ref.generation, 1, seq, 0};
      if (!out.try_push(m)) die("the publish ring is full at message " + std::to_string(seq));
    }
    w.do_work(0);  // route
    for (Sub& s : subs) {
      shm::MessageHeader m;
      while (s.queue.try_pop(m)) {
        ++received;
        if (!s.rel.try_push(m.chunk())) die("a release ring is full");
      }
    }
    w.do_work(0);  // drain releases, refill loans
  }
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  if (received != seq * o.subscribers) {
    die("lost messages: " + std::to_string(received) + " of " +
        std::to_string(seq * o.subscribers));
  }
  std::printf(
      "{\"messages\":%llu,\"subscribers\":%u,\"batch\":%u,\"ns_per_message\":%.1f,\"passes\":%llu}"
      "\n",
      static_cast<unsigned long long>(seq), o.subscribers, o.batch, ns / static_cast<double>(seq),
      static_cast<unsigned long long>(2 * ((seq + o.batch - 1) / o.batch) + 1));

  // Tear down like the reactor: remove, settle, reclaim; the pool must be full again.
  auto s1 = r.remove_publisher(pub->get());
  for (Sub& s : subs)
    s1 = r.remove_subscriber(s.port.get());
  w.do_work(0);
  if (!r.settled(s1)) die("removals did not settle");
  router::free_publisher_port(alloc, r.ledger(), **pub);
  for (Sub& s : subs) {
    router::free_subscriber_port(alloc, r.ledger(), *s.port);
    ::close(s.efd);
  }
  auto st = seg->pool().stats(0);
  rt->reset();
  ::close(notify);
  if (st.free != st.total) die("leaked chunks: " + std::to_string(st.total - st.free));
  return 0;
}
