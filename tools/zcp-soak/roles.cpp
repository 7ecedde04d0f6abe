#include "roles.hpp"

#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <unistd.h>

#include <zcp/zcp.hpp>

namespace zcp::soak {
namespace {

using namespace std::chrono_literals;

struct Payload {
  std::uint64_t origin;
  std::uint64_t seq;
};

std::unique_ptr<Runtime> connect_as(const RoleConfig& cfg, SoakState& st, const std::string& name) {
  auto rt = Runtime::connect({.name = name, .instance = cfg.instance});
  if (!rt) {
    st.error.put(name + ": connect: " + rt.error().message);
    return nullptr;
  }
  return std::move(*rt);
}

bool stopping(const SoakState& st) {
  // relaxed: a flag polled in a loop; nothing is published with it.
  return st.stop.load(std::memory_order_relaxed) != 0 || perf::stop_requested();
}

}  // namespace

const char* to_string(VictimKind k) noexcept {
  switch (k) {
    case VictimKind::kPublisher:
      return "publisher";
    case VictimKind::kSubscriber:
      return "subscriber";
    case VictimKind::kChurner:
      return "churner";
  }
  return "?";
}

std::string witness_topic(std::uint32_t t) {
  return "soak/witness/t" + std::to_string(t);
}

int run_witness_publisher(const RoleConfig& cfg, SoakState& st, std::uint32_t topic) {
  WitnessCounters& w = st.witness[topic];
  std::string name = "soak-wpub-" + std::to_string(topic);
  auto rt = connect_as(cfg, st, name);
  if (!rt) return 1;
  auto pub = Publisher<>::create(*rt, witness_topic(topic), {.max_payload = sizeof(Payload)});
  if (!pub) {
    st.error.put(name + ": create: " + pub.error().message);
    return 1;
  }
  // acquire: pairs with the subscriber's release; it is subscribed before we publish, so the
  // lossless stream starts at sequence 1 for it.
  while (w.sub_ready.load(std::memory_order_acquire) == 0 || pub->subscriber_count() == 0) {
    if (stopping(st)) return 0;
    std::this_thread::sleep_for(1ms);
  }
  std::uint64_t seq = 0;
  while (!stopping(st)) {
    for (int burst = 0; burst < 16; ++burst) {
      auto loan = pub->loan(sizeof(Payload));
      if (!loan) {
        if (loan.error().code == Errc::kPoolExhausted) break;  // victims hold the pool: retry later
        st.error.put(name + ": loan: " + loan.error().message);
        return 1;
      }
      Payload p{kWitnessOrigin, seq + 1};
      std::memcpy(loan->data().data(), &p, sizeof(p));
      for (;;) {  // lossless: a full ring (a stalled block_publisher subscriber) is retried
        auto r = pub->publish(std::move(*loan), 50ms);
        if (r) break;
        if (r.error().code != Errc::kWouldBlock) {
          st.error.put(name + ": publish: " + r.error().message);
          return 1;
        }
        w.would_block.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        if (stopping(st)) break;
      }
      if (loan->size() != 0) break;  // stopping with the last one unpublished: drop it
      ++seq;
      w.sent.store(seq, std::memory_order_relaxed);  // relaxed: final value read after pub_done
    }
    std::this_thread::sleep_for(200us);
  }
  auto f = pub->flush(5s);
  if (!f) {
    st.error.put(name + ": flush: " + f.error().message);
    return 1;
  }
  // release: `sent` above is final for a subscriber that sees pub_done with acquire.
  w.pub_done.store(1, std::memory_order_release);
  return 0;
}

int run_witness_subscriber(const RoleConfig& cfg, SoakState& st, std::uint32_t topic) {
  WitnessCounters& w = st.witness[topic];
  std::string name = "soak-wsub-" + std::to_string(topic);
  auto rt = connect_as(cfg, st, name);
  if (!rt) return 1;
  auto sub = Subscriber<>::create(*rt, witness_topic(topic),
                                  {.queue_capacity = 64, .policy = QueuePolicy::kBlockPublisher});
  if (!sub) {
    st.error.put(name + ": create: " + sub.error().message);
    return 1;
  }
  w.sub_ready.store(1, std::memory_order_release);  // release: pairs with the publisher's acquire
  std::uint64_t last = 0;
  std::optional<std::chrono::steady_clock::time_point> drain_deadline;
  for (;;) {
    while (auto s = sub->take()) {
      Payload p{};
      if (s->size() >= sizeof(p)) std::memcpy(&p, s->data().data(), sizeof(p));
      if (p.origin != kWitnessOrigin) {
        w.foreign.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics, read at exit
        continue;
      }
      if (p.seq <= last)
        w.out_of_order.fetch_add(1, std::memory_order_relaxed);
      else if (p.seq != last + 1)
        w.gaps.fetch_add(p.seq - last - 1, std::memory_order_relaxed);
      if (p.seq > last) last = p.seq;
      w.received.fetch_add(1, std::memory_order_relaxed);
    }
    if (!sub->connected()) {
      st.error.put(name + ": lost the daemon");
      return 1;
    }
    // acquire: pairs with the publisher's release of pub_done; `sent` is final then.
    if (w.pub_done.load(std::memory_order_acquire) != 0 &&
        last >= w.sent.load(std::memory_order_relaxed)) {
      return 0;
    }
    if (stopping(st)) {
      auto now = std::chrono::steady_clock::now();
      if (!drain_deadline) drain_deadline = now + 10s;
      if (now > *drain_deadline) {
        st.error.put(name + ": stream incomplete at the end: received up to " +
                     std::to_string(last) + " of " + std::to_string(w.sent.load()));
        return 1;
      }
    }
    sub->wait(10ms);
  }
}

int run_victim(const RoleConfig& cfg, SoakState& st, VictimKind kind, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
  };
  std::string name = "soak-victim-" + std::to_string(::getpid());
  auto rt = connect_as(cfg, st, name);
  if (!rt) return 1;
  auto topic_name = [&] {
    return pick(2) == 0 ? witness_topic(static_cast<std::uint32_t>(pick(cfg.topics)))
                        : "soak/churn/c" + std::to_string(pick(8));
  };
  static constexpr std::uint32_t kPayloads[] = {64, 1000, 8000};  // one per default pool class

  if (kind == VictimKind::kPublisher) {
    std::uint32_t max_payload = kPayloads[pick(3)];
    auto pub = Publisher<>::create(*rt, topic_name(),
                                   {.history_depth = static_cast<std::uint32_t>(pick(4)),
                                    .max_loans = static_cast<std::uint32_t>(1 + pick(16)),
                                    .max_payload = max_payload,
                                    .loan_wait = 1ms});
    if (!pub) return 0;        // refused (a limit, a pool class): not what this test is about
    std::vector<Loan<>> held;  // loans outstanding when the kill comes
    std::size_t hold = pick(pub->max_loans());
    for (;;) {
      auto loan = pub->loan(sizeof(Payload) + pick(max_payload - sizeof(Payload) + 1));
      if (!loan) {
        std::this_thread::sleep_for(100us);
        continue;
      }
      if (held.size() < hold) {
        held.push_back(std::move(*loan));
        continue;
      }
      Payload p{kVictimOrigin, pub->published() + 1};
      std::memcpy(loan->data().data(), &p, sizeof(p));
      if (pub->publish(std::move(*loan)))
        st.victim_published.fetch_add(1, std::memory_order_relaxed);
      if (pick(8) == 0) std::this_thread::sleep_for(std::chrono::microseconds(pick(500)));
    }
  }
  if (kind == VictimKind::kSubscriber) {
    static constexpr QueuePolicy kPolicies[] = {QueuePolicy::kDropOldest, QueuePolicy::kDropNewest,
                                                QueuePolicy::kBlockPublisher};
    auto sub = Subscriber<>::create(*rt, topic_name(),
                                    {.queue_capacity = static_cast<std::uint32_t>(1 + pick(16)),
                                     .policy = kPolicies[pick(3)],
                                     .history_request = static_cast<std::uint32_t>(pick(4)),
                                     .max_held = static_cast<std::uint32_t>(1 + pick(8))});
    if (!sub) return 0;
    std::vector<Sample<>> held;  // samples held when the kill comes; the queue fills behind
    for (;;) {
      if (held.size() < sub->max_held()) {
        if (auto s = sub->take()) {
          held.push_back(std::move(*s));
          st.victim_taken.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (!held.empty() && pick(4) == 0)
        held.erase(held.begin() + static_cast<long>(pick(held.size())));
      if (held.size() >= sub->max_held())
        std::this_thread::sleep_for(200us);  // let it fill
      else
        sub->wait(std::chrono::microseconds(pick(2000)));
    }
  }
  // Churner: endpoints come and go on fresh topics until the kill.
  for (std::uint64_t n = 0;; ++n) {
    std::string t = "soak/churn/x" + std::to_string(::getpid()) + "-" + std::to_string(n % 32);
    if (pick(2) == 0) {
      auto s = Subscriber<>::create(*rt, t, {.queue_capacity = 4});
      if (s) st.churn_endpoints.fetch_add(1, std::memory_order_relaxed);
    } else {
      auto p = Publisher<>::create(*rt, t, {.max_payload = 64});
      if (p) st.churn_endpoints.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace zcp::soak
