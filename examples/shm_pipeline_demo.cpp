// zcp-shm-demo: the shared-memory core at work across real processes, before the daemon's
// data plane exists. One publisher process loans chunks, writes each payload once and
// pushes a 32-byte reference into its SPSC ring; this process plays the router, fanning
// each reference out to three subscriber processes' MPMC queues (drop_oldest when full) and
// waking sleepers through their eventfds; subscribers verify every payload in place and
// release the chunk. At the end every pool's free count must equal its total.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/segment.hpp"
#include "shm/spsc_ring.hpp"

using namespace zcp::shm;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSubscribers = 3;

// Counters shared by all processes (anonymous MAP_SHARED, inherited across fork).
struct alignas(64) SubStats {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> gaps{0};     // sequence numbers skipped (drops upstream)
  std::atomic<std::uint64_t> corrupt{0};  // payload checksum mismatches: must stay 0
  std::atomic<std::uint64_t> sleeps{0};
};
struct Shared {
  alignas(64) std::atomic<std::uint64_t> published{0};
  alignas(64) std::atomic<std::uint64_t> loan_failures{0};
  alignas(64) std::atomic<bool> stop{false};
  SubStats sub[kSubscribers];
};

std::uint32_t fill_payload(std::byte* p, std::uint32_t size, std::uint64_t seq) {
  std::uint32_t sum = 0;
  for (std::uint32_t i = 0; i < size; ++i) {
    auto b = static_cast<std::uint8_t>((seq * 131 + i * 7) & 0xff);
    p[i] = std::byte{b};
    sum = sum * 31 + b;
  }
  return sum;
}

std::uint32_t sum_payload(const std::byte* p, std::uint32_t size) {
  std::uint32_t sum = 0;
  for (std::uint32_t i = 0; i < size; ++i)
    sum = sum * 31 + static_cast<std::uint8_t>(p[i]);
  return sum;
}

int publisher(const std::string& name, QueueDescriptor ring, Shared* sh) {
  auto seg = Segment::open(name);  // attach by name, as a tool would
  if (!seg) return std::fprintf(stderr, "publisher: %s\n", seg.error().message.c_str()), 1;
  auto out = SpscProducer<MessageHeader>::attach(seg->base(), seg->size(), ring);
  if (!out) return std::fprintf(stderr, "publisher: %s\n", out.error().c_str()), 1;
  std::uint64_t seq = 0;
  while (!sh->stop.load(std::memory_order_relaxed)) {
    std::uint32_t size = 32 + static_cast<std::uint32_t>((seq * 37) % 900);  // 32..931 bytes
    auto chunk = seg->pool().loan(size);
    if (!chunk) {  // subscribers hold everything: back off, never block
      sh->loan_failures.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::yield();
      continue;
    }
    ++seq;
    std::uint32_t sum = fill_payload(chunk->payload, size, seq);  // the one and only write
    chunk->header->payload_size = size;
    chunk->header->sequence = seq;
    std::memcpy(chunk->header->user, &sum, sizeof(sum));
    MessageHeader m{chunk->ref.index,   chunk->ref.pool_class, 0, chunk->ref.generation, 1, seq,
                    zcp::monotonic_ns()};
    while (!out->try_push(m)) {
      if (sh->stop.load(std::memory_order_relaxed)) {
        (void)seg->pool().release(chunk->ref);
        return 0;
      }
      std::this_thread::yield();
    }
    sh->published.fetch_add(1, std::memory_order_relaxed);
  }
  return 0;
}

int subscriber(int k, const std::string& name, QueueDescriptor q, int efd, Shared* sh) {
  auto seg = Segment::open(name);
  if (!seg) return std::fprintf(stderr, "subscriber: %s\n", seg.error().message.c_str()), 1;
  auto in = MpmcRing<MessageHeader>::attach(seg->base(), seg->size(), q);
  if (!in) return std::fprintf(stderr, "subscriber: %s\n", in.error().c_str()), 1;
  SubStats& st = sh->sub[k];
  std::uint64_t last = 0;
  for (;;) {
    MessageHeader m;
    if (!in->try_pop(m)) {
      if (sh->stop.load(std::memory_order_relaxed)) return 0;
      WaitWord w = in->wait_word();
      w.prepare_wait();
      if (!in->empty()) {
        w.cancel_wait();
        continue;
      }
      st.sleeps.fetch_add(1, std::memory_order_relaxed);
      pollfd p{efd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        std::uint64_t v;
        (void)!::read(efd, &v, sizeof(v));
      }
      w.cancel_wait();
      continue;
    }
    auto chunk = seg->pool().resolve(m.chunk());
    if (!chunk) {
      st.corrupt.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    std::uint32_t want;
    std::memcpy(&want, chunk->header->user, sizeof(want));
    if (sum_payload(chunk->payload, chunk->header->payload_size) != want) {
      st.corrupt.fetch_add(1, std::memory_order_relaxed);
    }
    if (last && m.sequence > last + 1)
      st.gaps.fetch_add(m.sequence - last - 1, std::memory_order_relaxed);
    last = m.sequence;
    st.received.fetch_add(1, std::memory_order_relaxed);
    (void)seg->pool().release(m.chunk());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zcp-shm-demo: the zerocp shared-memory core moving chunks across processes"};
  double seconds = 5;
  std::uint32_t queue_capacity = 64;
  app.add_option("--seconds", seconds, "how long to run")->check(CLI::Range(0.5, 3600.0));
  app.add_option("--queue-capacity", queue_capacity, "subscriber queue capacity")
      ->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);

  const std::string name = "/zcp.shmdemo-" + std::to_string(::getpid()) + ".seg";
  SegmentConfig cfg;
  cfg.queue_arena_bytes = 1 << 20;
  auto seg = Segment::create(name, "shmdemo", cfg);
  if (!seg) return std::fprintf(stderr, "zcp-shm-demo: %s\n", seg.error().message.c_str()), 1;
  auto arena = seg->region(RegionKind::kQueueArena);
  QueueAllocator alloc(arena->offset, arena->size);
  auto ring = alloc.allocate_ring<MessageHeader>(seg->base(), RingKind::kSpsc, 1024);
  std::vector<QueueDescriptor> queues;
  std::vector<int> efds;
  for (int k = 0; k < kSubscribers; ++k) {
    queues.push_back(
        *alloc.allocate_ring<MessageHeader>(seg->base(), RingKind::kMpmc, queue_capacity));
    efds.push_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }
  auto* sh = new (::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0)) Shared;

  std::printf("segment %s: %llu bytes; pools:", name.c_str(),
              static_cast<unsigned long long>(seg->size()));
  for (std::size_t c = 0; c < seg->pool().class_count(); ++c) {
    auto s = seg->pool().stats(c);
    std::printf(" %u B x %u", s.chunk_size, s.total);
  }
  std::printf(
      "\n1 publisher process -> router (this process) -> %d subscriber processes, queue %u, "
      "drop_oldest\n",
      kSubscribers, queue_capacity);

  std::vector<pid_t> kids;
  auto spawn = [&](auto fn) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(fn());
    kids.push_back(pid);
  };
  for (int k = 0; k < kSubscribers; ++k) {
    spawn([&, k] { return subscriber(k, name, queues[k], efds[k], sh); });
  }
  spawn([&] { return publisher(name, *ring, sh); });

  // The router loop: this is what a diroute worker does, minus the daemon around it.
  auto in = *SpscConsumer<MessageHeader>::attach(seg->base(), seg->size(), *ring);
  std::vector<MpmcRing<MessageHeader>> outs;
  for (auto& q : queues)
    outs.push_back(*MpmcRing<MessageHeader>::attach(seg->base(), seg->size(), q));
  std::uint64_t routed = 0, dropped = 0;
  auto start = Clock::now();
  auto next_report = start + std::chrono::seconds(1);
  std::uint64_t last_pub = 0, last_rx[kSubscribers] = {};
  MessageHeader batch[64];
  while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
    std::size_t n = in.try_pop_batch(batch, 64);
    for (std::size_t i = 0; i < n; ++i) {
      for (auto& q : outs) {
        (void)seg->pool().add_ref(batch[i].chunk());
        while (!q.try_push(batch[i])) {  // drop_oldest: evict, release, count
          MessageHeader old;
          if (q.try_pop(old)) {
            (void)seg->pool().release(old.chunk());
            ++dropped;
          }
        }
      }
      (void)seg->pool().release(batch[i].chunk());  // the publisher's reference
      ++routed;
    }
    if (n) {
      for (int k = 0; k < kSubscribers; ++k) {
        if (outs[k].wait_word().wake_needed()) {
          std::uint64_t one = 1;
          (void)!::write(efds[k], &one, sizeof(one));
        }
      }
    } else {
      std::this_thread::yield();
    }
    if (Clock::now() >= next_report) {
      next_report += std::chrono::seconds(1);
      std::uint64_t pub = sh->published.load();
      std::printf("published %8llu/s  routed %9llu  dropped %7llu  |",
                  static_cast<unsigned long long>(pub - last_pub),
                  static_cast<unsigned long long>(routed),
                  static_cast<unsigned long long>(dropped));
      last_pub = pub;
      for (int k = 0; k < kSubscribers; ++k) {
        std::uint64_t rx = sh->sub[k].received.load();
        std::printf(" sub%d %8llu/s", k, static_cast<unsigned long long>(rx - last_rx[k]));
        last_rx[k] = rx;
      }
      auto s0 = seg->pool().stats(1);
      std::printf("  | 1 KiB pool free %u/%u\n", s0.free, s0.total);
      std::fflush(stdout);
    }
  }
  sh->stop.store(true);
  int failed = 0;
  for (pid_t pid : kids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  // Drain what is still in flight, releasing each reference, as the daemon would on shutdown.
  MessageHeader m;
  while (in.try_pop(m))
    (void)seg->pool().release(m.chunk());
  for (auto& q : outs) {
    while (q.try_pop(m))
      (void)seg->pool().release(m.chunk());
  }

  std::uint64_t corrupt = 0;
  std::printf("\nsummary after %.1f s: published %llu, routed %llu, queue drops %llu\n", seconds,
              static_cast<unsigned long long>(sh->published.load()),
              static_cast<unsigned long long>(routed), static_cast<unsigned long long>(dropped));
  for (int k = 0; k < kSubscribers; ++k) {
    auto& s = sh->sub[k];
    corrupt += s.corrupt.load();
    std::printf(
        "  subscriber %d: received %llu, sequence gaps %llu, corrupt payloads %llu, sleeps %llu\n",
        k, static_cast<unsigned long long>(s.received.load()),
        static_cast<unsigned long long>(s.gaps.load()),
        static_cast<unsigned long long>(s.corrupt.load()),
        static_cast<unsigned long long>(s.sleeps.load()));
  }
  bool exact = true;
  for (std::size_t c = 0; c < seg->pool().class_count(); ++c) {
    auto s = seg->pool().stats(c);
    std::printf("  pool %5u B: free %u of %u (min free %u)\n", s.chunk_size, s.free, s.total,
                s.min_free);
    exact &= s.free == s.total;
  }
  std::printf("%s\n", exact && !corrupt && !failed
                          ? "OK: every chunk returned, every payload intact"
                          : "FAILED: chunk accounting or payload check");
  for (int fd : efds)
    ::close(fd);
  return exact && !corrupt && !failed ? 0 : 1;
}
