#include <vector>

#include <gtest/gtest.h>

#include "shm/layout.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/spsc_ring.hpp"
#include "shm_test_util.hpp"

namespace zcp::shm {
namespace {

template <class T>
struct RingMem {
  RingMem(RingKind kind, std::uint32_t cap)
      : mem(ring_bytes(cap, slot_stride<T>(kind)) + 4096),
        d(format_ring<T>(mem.base(), 0, kind, cap)) {}
  test::FakeSegment mem;
  QueueDescriptor d;
};

class SpscCapacity : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(SpscCapacity, FifoAcrossManyWraps) {
  const std::uint32_t cap = GetParam();
  RingMem<std::uint64_t> m(RingKind::kSpsc, cap);
  auto p = SpscProducer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), m.d);
  auto c = SpscConsumer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), m.d);
  ASSERT_TRUE(p && c);
  std::uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    while (p->try_push(next_in))
      ++next_in;
    ASSERT_EQ(next_in - next_out, cap)
        << "a ring of capacity " << cap << " must hold exactly that many";
    std::uint64_t v;
    // Pop a varying number so head and tail meet every slot at every offset.
    std::uint32_t pops = 1 + static_cast<std::uint32_t>(round) % cap;
    for (std::uint32_t i = 0; i < pops; ++i) {
      ASSERT_TRUE(c->try_pop(v));
      ASSERT_EQ(v, next_out++);
    }
  }
  std::uint64_t v;
  while (c->try_pop(v))
    ASSERT_EQ(v, next_out++);
  EXPECT_EQ(next_in, next_out);
  EXPECT_TRUE(c->empty());
  EXPECT_EQ(p->high_water(), cap);
}

INSTANTIATE_TEST_SUITE_P(Tiny, SpscCapacity, ::testing::Values(1U, 2U, 3U, 5U, 16U, 1000U, 1024U));

TEST(SpscRing, BatchPushPop) {
  RingMem<MessageHeader> m(RingKind::kSpsc, 8);
  auto p = *SpscProducer<MessageHeader>::attach(m.mem.base(), m.mem.size(), m.d);
  auto c = *SpscConsumer<MessageHeader>::attach(m.mem.base(), m.mem.size(), m.d);
  std::vector<MessageHeader> in(12);
  for (std::uint64_t i = 0; i < 12; ++i)
    in[i].sequence = i + 1;
  EXPECT_EQ(p.try_push_batch(in.data(), 12), 8U);
  EXPECT_EQ(p.size_approx(), 8U);
  MessageHeader out[5];
  EXPECT_EQ(c.try_pop_batch(out, 5), 5U);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(out[i].sequence, static_cast<std::uint64_t>(i + 1));
  EXPECT_EQ(p.try_push_batch(in.data() + 8, 4), 4U);
  EXPECT_EQ(c.try_pop_batch(out, 5), 5U);
  EXPECT_EQ(out[0].sequence, 6U);
  EXPECT_EQ(out[4].sequence, 10U);
  EXPECT_EQ(c.try_pop_batch(out, 5), 2U);
  EXPECT_EQ(out[1].sequence, 12U);
  EXPECT_EQ(c.try_pop_batch(out, 5), 0U);
}

TEST(SpscRing, ConsumerDetectsCorruptTail) {
  RingMem<std::uint64_t> m(RingKind::kSpsc, 4);
  auto c = *SpscConsumer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), m.d);
  auto* h = reinterpret_cast<RingHeader*>(m.mem.base());
  h->tail = 1000;  // a hostile producer claims 1000 elements in a ring of 4
  std::uint64_t v;
  EXPECT_FALSE(c.try_pop(v));
  EXPECT_TRUE(c.corrupted());
}

TEST(Ring, AttachRejectsMismatchedDescriptors) {
  RingMem<std::uint64_t> m(RingKind::kSpsc, 4);
  auto wrong_kind = m.d;
  wrong_kind.kind = static_cast<std::uint32_t>(RingKind::kMpmc);
  EXPECT_FALSE((MpmcRing<std::uint64_t>::attach(m.mem.base(), m.mem.size(), wrong_kind)));
  auto wrong_cap = m.d;
  wrong_cap.capacity = 8;
  auto r = SpscConsumer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), wrong_cap);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("does not match"), std::string::npos) << r.error();
  auto outside = m.d;
  outside.offset = m.mem.size() - 64;
  EXPECT_FALSE((SpscConsumer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), outside)));
  auto unaligned = m.d;
  unaligned.offset = 8;
  EXPECT_FALSE((SpscConsumer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), unaligned)));
  EXPECT_FALSE((SpscConsumer<std::uint32_t>::attach(m.mem.base(), m.mem.size(), m.d)))
      << "element size must match the view's type";
}

class MpmcCapacity : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(MpmcCapacity, FifoAcrossManyWraps) {
  const std::uint32_t cap = GetParam();
  RingMem<MessageHeader> m(RingKind::kMpmc, cap);
  auto q = *MpmcRing<MessageHeader>::attach(m.mem.base(), m.mem.size(), m.d);
  std::uint64_t next_in = 1, next_out = 1;
  for (int round = 0; round < 1000; ++round) {
    MessageHeader h{};
    for (;;) {
      h.sequence = next_in;
      if (!q.try_push(h)) break;
      ++next_in;
    }
    ASSERT_EQ(next_in - next_out, cap);
    EXPECT_EQ(q.size_approx(), cap);
    std::uint32_t pops = 1 + static_cast<std::uint32_t>(round) % cap;
    for (std::uint32_t i = 0; i < pops; ++i) {
      ASSERT_TRUE(q.try_pop(h));
      ASSERT_EQ(h.sequence, next_out++);
    }
  }
  MessageHeader h{};
  while (q.try_pop(h))
    ASSERT_EQ(h.sequence, next_out++);
  EXPECT_EQ(next_in, next_out);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.high_water(), cap);
}

INSTANTIATE_TEST_SUITE_P(Tiny, MpmcCapacity, ::testing::Values(1U, 2U, 3U, 7U, 64U, 1024U));

TEST(MpmcRing, DropOldestByEvictingPop) {
  // The router's drop_oldest policy: when full, pop the oldest, then push.
  RingMem<MessageHeader> m(RingKind::kMpmc, 3);
  auto q = *MpmcRing<MessageHeader>::attach(m.mem.base(), m.mem.size(), m.d);
  int dropped = 0;
  for (std::uint64_t s = 1; s <= 10; ++s) {
    MessageHeader h{};
    h.sequence = s;
    while (!q.try_push(h)) {
      MessageHeader old{};
      ASSERT_TRUE(q.try_pop(old));
      ++dropped;
    }
  }
  EXPECT_EQ(dropped, 7);
  MessageHeader h{};
  for (std::uint64_t s = 8; s <= 10; ++s) {
    ASSERT_TRUE(q.try_pop(h));
    EXPECT_EQ(h.sequence, s);
  }
}

TEST(MpmcRing, CorruptIndicesDoNotHang) {
  RingMem<MessageHeader> m(RingKind::kMpmc, 4);
  auto q = *MpmcRing<MessageHeader>::attach(m.mem.base(), m.mem.size(), m.d);
  auto* h = reinterpret_cast<RingHeader*>(m.mem.base());
  // Cells claim to be far in the future: both sides must give up, not spin forever.
  auto* cells = m.mem.base() + sizeof(RingHeader);
  for (int i = 0; i < 4; ++i)
    reinterpret_cast<MpmcCell<MessageHeader>*>(cells + i * 64)->turn = 1ULL << 40;
  h->tail = 0;
  MessageHeader x{};
  EXPECT_FALSE(q.try_push(x));
  EXPECT_FALSE(q.try_pop(x));
}

// A producer that dies between its claim and its publication would stop every consumer at
// that position for good; skip_abandoned() of its tag, once it is known dead, lets them pass.
TEST(MpmcRing, AbandonedClaimsOfADeadProducerAreSteppedOver) {
  using Q = MpmcRing<MessageHeader>;
  RingMem<MessageHeader> m(RingKind::kMpmc, 4);
  auto q = *Q::attach(m.mem.base(), m.mem.size(), m.d);
  auto* h = reinterpret_cast<RingHeader*>(m.mem.base());
  auto* cells = reinterpret_cast<MpmcCell<MessageHeader>*>(m.mem.base() + sizeof(RingHeader));
  auto cell_at = [&](std::uint64_t pos) {
    return reinterpret_cast<MpmcCell<MessageHeader>*>(reinterpret_cast<std::byte*>(cells) +
                                                      (pos % 4) * 64);
  };
  const std::uint32_t dead = Q::publisher_tag(7);
  const std::uint32_t live = Q::publisher_tag(8);
  auto push = [&](std::uint64_t seq, std::uint32_t tag) {
    MessageHeader x{};
    x.sequence = seq;
    return q.try_push(x, tag);
  };
  ASSERT_TRUE(push(1, Q::kRouterTag));
  h->tail += 1;  // position 1: claimed on the tail, then the producer died (cell still free)
  ASSERT_TRUE(push(2, live));
  h->tail += 1;  // position 3: the dead producer claimed the cell too, and died writing
  cell_at(3)->turn = Q::busy(0, dead);
  MessageHeader out{};
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.sequence, 1U);
  EXPECT_FALSE(q.try_pop(out)) << "stuck at the abandoned position 1";
  EXPECT_FALSE(q.idle()) << "claims past the head: a subscriber would not sleep";

  EXPECT_EQ(q.skip_abandoned(dead), 2U) << "position 1 (free) and position 3 (busy with its tag)";
  EXPECT_FALSE(q.empty());
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.sequence, 2U);
  EXPECT_FALSE(q.try_pop(out));
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.idle());
  // The cells are free again for the next lap: the queue is whole.
  for (std::uint64_t s = 3; s <= 6; ++s)
    ASSERT_TRUE(push(s, live));
  EXPECT_FALSE(push(7, live)) << "full at its capacity";
  for (std::uint64_t s = 3; s <= 6; ++s) {
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(out.sequence, s);
  }
}

TEST(MpmcRing, ALiveProducersCellIsNeverSkippedAndASlowClaimMovesOn) {
  using Q = MpmcRing<MessageHeader>;
  RingMem<MessageHeader> m(RingKind::kMpmc, 4);
  auto q = *Q::attach(m.mem.base(), m.mem.size(), m.d);
  auto* h = reinterpret_cast<RingHeader*>(m.mem.base());
  auto* cell0 = reinterpret_cast<MpmcCell<MessageHeader>*>(m.mem.base() + sizeof(RingHeader));
  const std::uint32_t dead = Q::publisher_tag(7);
  const std::uint32_t live = Q::publisher_tag(8);
  h->tail = 1;
  cell0->turn = Q::busy(0, live);  // a live producer writing position 0
  EXPECT_EQ(q.skip_abandoned(dead), 0U) << "busy with another producer's tag: left alone";
  EXPECT_EQ(cell0->turn, Q::busy(0, live));
  // The live producer finishes; then one claims position 1 on the tail and is slow: a repair
  // for a dead producer skips that bare claim, and the slow one's push goes to position 2.
  cell0->turn = Q::turn(0, 1);
  h->tail = 2;
  EXPECT_EQ(q.skip_abandoned(dead), 1U);
  MessageHeader x{};
  x.sequence = 9;
  ASSERT_TRUE(q.try_push(x, live));
  EXPECT_EQ(h->tail, 3U);
  MessageHeader out{};
  ASSERT_TRUE(q.try_pop(out));  // position 0 (its value was never written here: zeros)
  ASSERT_TRUE(q.try_pop(out));  // position 1 skipped, position 2 taken
  EXPECT_EQ(out.sequence, 9U);
}

TEST(WaitWord, WakeNeededOncePerSleep) {
  RingMem<std::uint64_t> m(RingKind::kSpsc, 4);
  auto c = *SpscConsumer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), m.d);
  auto p = *SpscProducer<std::uint64_t>::attach(m.mem.base(), m.mem.size(), m.d);
  EXPECT_FALSE(p.wait_word().wake_needed()) << "nobody sleeps yet";
  c.wait_word().prepare_wait();
  EXPECT_TRUE(c.empty());
  ASSERT_TRUE(p.try_push(1));
  EXPECT_TRUE(p.wait_word().wake_needed());
  EXPECT_FALSE(p.wait_word().wake_needed()) << "the duty to wake is taken once";
}

}  // namespace
}  // namespace zcp::shm
