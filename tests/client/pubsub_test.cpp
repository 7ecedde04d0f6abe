// libzcp end to end, delivery: the real diroute (with its router workers) on a private
// instance, real publisher and subscriber processes. Ordered and complete streams, fan-out
// and fan-in, payload sizes, has_subscribers, the typed API and the Asio adapter. After every
// test the fixture checks that every pool's free count is back at its total.
#include <functional>
#include <map>
#include <vector>

#include <asio.hpp>

#include <zcp/asio.hpp>

#include "pubsub_helpers.hpp"

namespace zcp::client_test {
namespace {

using namespace std::chrono_literals;
using zcp::test::Child;
using zcp::test::ProcessBarrier;
using zcp::test::SharedAnon;

TEST_F(PubSubTest, OnePublisherOneSubscriberOrderedAndComplete) {
  SharedAnon done_mem(sizeof(Flags));
  Flags* done = new (done_mem.get()) Flags;
  constexpr std::uint64_t kN = 20000;
  ProcessBarrier ready(2);
  Child sub([&] {
    Done bump(done);
    auto rt = connect("sub");
    auto s =
        rt ? Subscriber<>::create(*rt, "t/one/one",
                                  {.queue_capacity = 64, .policy = QueuePolicy::kBlockPublisher})
           : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    CHILD_CHECK(receive_n(*s, kN, InOrder{7, 1, 64}), "stream broken");
    CHILD_CHECK(s->dropped() == 0, "dropped %llu", static_cast<unsigned long long>(s->dropped()));
    CHILD_CHECK(s->held() == 0, "held %u", s->held());
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "t/one/one", {.max_payload = 64, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    wait_subscribers(*p, 1);
    CHILD_CHECK(publish_n(*p, kN, 64, 7) >= 0, "publishing failed");
    CHILD_CHECK(p->published() == kN, "published %llu",
                static_cast<unsigned long long>(p->published()));
    CHILD_CHECK(p->loans_outstanding() == 0, "loans %u", p->loans_outstanding());
    CHILD_CHECK(await_done(*done, 1), "the subscriber did not finish");
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, HasSubscribersFollowsTheTopic) {
  SharedAnon mem(sizeof(Flags));
  Flags* flags = new (mem.get()) Flags;
  Child pub([&] {
    auto rt = connect("pub");
    CHILD_CHECK(rt, "connect");
    auto p = Publisher<>::create(*rt, "t/peers/x");
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    CHILD_CHECK(!p->has_subscribers(), "subscribers before any: %u", p->subscriber_count());
    flags->step = 1;
    CHILD_CHECK(wait_until([&] { return p->subscriber_count() == 2; }, 5s), "count %u, expected 2",
                p->subscriber_count());
    flags->step = 2;
    CHILD_CHECK(wait_until([&] { return !p->has_subscribers(); }, 5s), "count %u after both left",
                p->subscriber_count());
    return 0;
  });
  Child sub([&] {
    auto rt = connect("sub");
    CHILD_CHECK(rt && await_step(*flags, 1), "setup");
    auto a = Subscriber<>::create(*rt, "t/peers/x");
    auto b = Subscriber<>::create(*rt, "t/peers/x");
    auto other = Subscriber<>::create(*rt, "t/peers/other");  // another topic: not counted
    CHILD_CHECK(a && b && other, "create");
    CHILD_CHECK(await_step(*flags, 2, 6s), "publisher did not see 2 subscribers");
    return 0;  // destroying a and b: the count goes back to 0
  });
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, OnePublisherSixteenSubscribers) {
  constexpr int kSubs = 16;
  constexpr std::uint64_t kN = 2000;
  SharedAnon done_mem(sizeof(Flags));
  Flags* done = new (done_mem.get()) Flags;
  ProcessBarrier ready(kSubs + 1);
  std::vector<Child> subs;
  for (int i = 0; i < kSubs; ++i) {
    subs.emplace_back([&] {
      Done bump(done);
      auto rt = connect("sub");
      auto s =
          rt ? Subscriber<>::create(*rt, "t/fan/out",
                                    {.queue_capacity = 64, .policy = QueuePolicy::kBlockPublisher})
             : Result<Subscriber<>>(Unexpected(Error{}));
      ready.wait();
      CHILD_CHECK(s, "create: %s", s.error().message.c_str());
      CHILD_CHECK(receive_n(*s, kN, InOrder{3, 1, 200}), "stream broken");
      CHILD_CHECK(s->dropped() == 0, "dropped %llu", static_cast<unsigned long long>(s->dropped()));
      return 0;
    });
  }
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<>::create(*rt, "t/fan/out", {.max_payload = 200, .loan_wait = 1s})
                : Result<Publisher<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    wait_subscribers(*p, kSubs);
    CHILD_CHECK(publish_n(*p, kN, 200, 3) >= 0, "publishing failed");
    CHILD_CHECK(await_done(*done, kSubs), "the subscribers did not finish");
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  for (auto& s : subs)
    EXPECT_EQ(s.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, FourPublishersOneSubscriberKeepPerPublisherOrder) {
  constexpr int kPubs = 4;
  constexpr std::uint64_t kN = 2000;
  SharedAnon done_mem(sizeof(Flags));
  Flags* done = new (done_mem.get()) Flags;
  ProcessBarrier ready(kPubs + 1);
  Child sub([&] {
    Done bump(done);
    auto rt = connect("sub");
    auto s =
        rt ? Subscriber<>::create(*rt, "t/fan/in",
                                  {.queue_capacity = 128, .policy = QueuePolicy::kBlockPublisher})
           : Result<Subscriber<>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    std::map<std::uint32_t, std::uint64_t> next;  // publisher id -> expected sequence
    bool ok = receive_n(*s, kN * kPubs, [&](const Sample<>& x) {
      std::uint32_t tag;
      std::memcpy(&tag, x.data().data(), sizeof(tag));
      auto& want = next.try_emplace(x.publisher_id(), 1).first->second;
      if (x.sequence() != want || x.size() != 32) {
        std::fprintf(stderr, "publisher %u: sequence %llu, expected %llu\n", x.publisher_id(),
                     static_cast<unsigned long long>(x.sequence()),
                     static_cast<unsigned long long>(want));
        return false;
      }
      ++want;
      return intact(x.data().subspan(4), tag, x.sequence());
    });
    CHILD_CHECK(ok, "stream broken");
    CHILD_CHECK(next.size() == kPubs, "%zu publishers seen", next.size());
    for (auto& [id, n] : next)
      CHILD_CHECK(n == kN + 1, "publisher %u: %llu", id, static_cast<unsigned long long>(n - 1));
    return 0;
  });
  std::vector<Child> pubs;
  for (std::uint32_t k = 0; k < kPubs; ++k) {
    pubs.emplace_back([&, k] {
      auto rt = connect("pub");
      auto p = rt ? Publisher<>::create(*rt, "t/fan/in", {.max_payload = 32, .loan_wait = 1s})
                  : Result<Publisher<>>(Unexpected(Error{}));
      ready.wait();
      CHILD_CHECK(p, "create: %s", p.error().message.c_str());
      wait_subscribers(*p, 1);
      for (std::uint64_t i = 1; i <= kN; ++i) {
        auto loan = p->loan(32);
        CHILD_CHECK(loan, "loan: %s", loan.error().message.c_str());
        std::memcpy(loan->data().data(), &k, sizeof(k));
        fill(loan->data().subspan(4), k, i);
        auto r = p->publish(std::move(*loan), 10s);
        CHILD_CHECK(r, "publish: %s", r.error().message.c_str());
      }
      CHILD_CHECK(p->flush(10s), "flush");
      CHILD_CHECK(await_done(*done, 1), "the subscriber did not finish");
      return 0;
    });
  }
  for (auto& p : pubs)
    EXPECT_EQ(p.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, PayloadSizesUpToTheLargestClass) {
  auto stats = pools();
  ASSERT_FALSE(stats.empty());
  const std::uint32_t largest = stats.back().chunk_size;
  const std::vector<std::uint32_t> sizes = {0, 1, 64, 8192, largest};
  constexpr std::uint64_t kN = 20;
  SharedAnon done_mem(sizeof(Flags));
  Flags* done = new (done_mem.get()) Flags;
  ProcessBarrier ready(2);
  auto topic = [](std::size_t i) { return "t/size/" + std::to_string(i); };
  Child sub([&] {
    Done bump(done);
    auto rt = connect("sub");
    std::vector<Subscriber<>> subs;
    for (std::size_t i = 0; rt && i < sizes.size(); ++i) {
      auto s = Subscriber<>::create(*rt, topic(i),
                                    {.queue_capacity = 32, .policy = QueuePolicy::kBlockPublisher});
      if (s) subs.push_back(std::move(*s));
    }
    ready.wait();
    CHILD_CHECK(subs.size() == sizes.size(), "created %zu subscribers", subs.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      CHILD_CHECK(receive_n(subs[i], kN, InOrder{static_cast<std::uint32_t>(i), 1, sizes[i]}),
                  "size %u", sizes[i]);
    }
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    std::vector<Publisher<>> pubs;
    for (std::size_t i = 0; rt && i < sizes.size(); ++i) {
      auto p = Publisher<>::create(*rt, topic(i), {.max_payload = sizes[i], .loan_wait = 1s});
      if (!p) std::fprintf(stderr, "create %u: %s\n", sizes[i], p.error().message.c_str());
      if (p) pubs.push_back(std::move(*p));
    }
    ready.wait();
    CHILD_CHECK(pubs.size() == sizes.size(), "created %zu publishers", pubs.size());
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      CHILD_CHECK(pubs[i].max_payload() >= sizes[i], "max_payload %zu < %u", pubs[i].max_payload(),
                  sizes[i]);
      auto too = pubs[i].loan(pubs[i].max_payload() + 1);
      CHILD_CHECK(!too && too.error().code == Errc::kTooLarge,
                  "loan past the chunk size was not refused");
      CHILD_CHECK(
          too.error().message.find(std::to_string(pubs[i].max_payload())) != std::string::npos,
          "TooLarge message does not name the chunk size: %s", too.error().message.c_str());
      wait_subscribers(pubs[i], 1);
      CHILD_CHECK(publish_n(pubs[i], kN, sizes[i], static_cast<std::uint32_t>(i)) >= 0, "size %u",
                  sizes[i]);
    }
    CHILD_CHECK(await_done(*done, 1), "the subscriber did not finish");
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

struct Tick {
  std::uint64_t id;
  double price;
  char symbol[16];
};

TEST_F(PubSubTest, TypedApiAndAsioAsyncTake) {
  constexpr std::uint64_t kN = 1000;
  SharedAnon done_mem(sizeof(Flags));
  Flags* done = new (done_mem.get()) Flags;
  ProcessBarrier ready(2);
  Child sub([&] {
    Done bump(done);
    auto rt = connect("sub");
    auto s = rt ? Subscriber<Tick>::create(
                      *rt, "t/typed/ticks",
                      {.queue_capacity = 64, .policy = QueuePolicy::kBlockPublisher})
                : Result<Subscriber<Tick>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(s, "create: %s", s.error().message.c_str());
    asio::io_context io;
    AsioSubscriber in(io.get_executor(), *s);
    asio::steady_timer guard(io, 30s);
    std::uint64_t next = 1;
    bool bad = false;
    std::function<void(std::error_code, Sample<Tick>)> on_tick = [&](std::error_code ec,
                                                                     Sample<Tick> t) {
      if (ec || t->id != next || t->price != static_cast<double>(next) / 4 ||
          std::strcmp(t->symbol, "ZCP") != 0) {
        std::fprintf(stderr, "tick %llu: %s\n", static_cast<unsigned long long>(next),
                     ec.message().c_str());
        bad = true;
        guard.cancel();
        return;
      }
      if (++next <= kN) {
        in.async_take(on_tick);
      } else {
        guard.cancel();
      }
    };
    guard.async_wait([&](std::error_code ec) {
      if (!ec) {
        bad = true;
        in.cancel();
      }
    });
    in.async_take(on_tick);
    io.run();
    CHILD_CHECK(!bad && next == kN + 1, "received %llu ticks",
                static_cast<unsigned long long>(next - 1));
    CHILD_CHECK(s->size_mismatches() == 0, "size mismatches");
    return 0;
  });
  Child pub([&] {
    auto rt = connect("pub");
    auto p = rt ? Publisher<Tick>::create(*rt, "t/typed/ticks", {.loan_wait = 1s})
                : Result<Publisher<Tick>>(Unexpected(Error{}));
    ready.wait();
    CHILD_CHECK(p, "create: %s", p.error().message.c_str());
    wait_subscribers(p->untyped(), 1);
    for (std::uint64_t i = 1; i <= kN; ++i) {
      if (i % 2) {  // zero copy: construct in the chunk
        auto loan = p->loan(Tick{i, static_cast<double>(i) / 4, "ZCP"});
        CHILD_CHECK(loan, "loan: %s", loan.error().message.c_str());
        CHILD_CHECK(p->publish(std::move(*loan), 10s), "publish");
      } else {  // copy in
        CHILD_CHECK(p->publish(Tick{i, static_cast<double>(i) / 4, "ZCP"}, 10s), "publish");
      }
    }
    CHILD_CHECK(p->flush(10s), "flush");
    CHILD_CHECK(await_done(*done, 1), "the subscriber did not finish");
    return 0;
  });
  EXPECT_EQ(pub.wait(kChildTimeout), 0);
  EXPECT_EQ(sub.wait(kChildTimeout), 0);
}

}  // namespace
}  // namespace zcp::client_test
