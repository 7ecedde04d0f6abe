#include "stats/rates.hpp"

namespace zcp::stats {
namespace {

std::uint64_t delta(std::uint64_t before, std::uint64_t after) noexcept {
  return after > before ? after - before : 0;
}

template <class Row>
std::map<SlotKey, const Row*> by_key(const std::vector<Row>& rows) {
  std::map<SlotKey, const Row*> m;
  for (const Row& r : rows)
    m[{r.slot, r.id}] = &r;
  return m;
}

}  // namespace

Rates totals_only(const Snapshot& s) {
  Rates r;
  for (const TopicRow& t : s.topics)
    r.topics[t.name()];
  for (const SubscriberRow& sub : s.subscribers)
    r.topics[sub.topic()].dropped += sub.dropped;
  for (const PublisherRow& p : s.publishers)
    r.topics[p.topic()];
  for (const WorkerRow& w : s.workers)
    r.workers[w.id];
  return r;
}

Rates compute_rates(const Snapshot& before, const Snapshot& after) {
  Rates r = totals_only(after);
  if (after.taken_monotonic_ns <= before.taken_monotonic_ns) return r;
  const double dt = static_cast<double>(after.taken_monotonic_ns - before.taken_monotonic_ns) / 1e9;
  r.interval_s = dt;

  auto pubs = by_key(before.publishers);
  for (const PublisherRow& p : after.publishers) {
    auto it = pubs.find({p.slot, p.id});
    // A publisher new since `before` counts from 0: its first publications are in this interval.
    double rate =
        static_cast<double>(delta(it != pubs.end() ? it->second->published : 0, p.published)) / dt;
    r.publishers[{p.slot, p.id}] = rate;
    r.topics[p.topic()].msgs_per_s += rate;
    r.msgs_per_s += rate;
  }
  auto subs = by_key(before.subscribers);
  for (const SubscriberRow& s : after.subscribers) {
    auto it = subs.find({s.slot, s.id});
    const SubscriberRow* b = it != subs.end() ? it->second : nullptr;
    double delivered = static_cast<double>(delta(b ? b->delivered : 0, s.delivered)) / dt;
    double dropped = static_cast<double>(delta(b ? b->dropped : 0, s.dropped)) / dt;
    r.subscribers[{s.slot, s.id}] = delivered;
    TopicRate& t = r.topics[s.topic()];
    t.delivered_per_s += delivered;
    t.dropped_per_s += dropped;
    r.delivered_per_s += delivered;
    r.dropped_per_s += dropped;
  }
  std::map<std::uint32_t, const WorkerRow*> workers;
  for (const WorkerRow& w : before.workers)
    workers[w.id] = &w;
  for (const WorkerRow& w : after.workers) {
    auto it = workers.find(w.id);
    if (it == workers.end()) continue;
    WorkerRate& wr = r.workers[w.id];
    wr.routed_per_s = static_cast<double>(delta(it->second->routed, w.routed)) / dt;
    double busy = static_cast<double>(delta(it->second->busy_ns, w.busy_ns)) / (dt * 1e9) * 100.0;
    wr.busy_pct = busy > 100.0 ? 100.0 : busy;
    wr.parks = delta(it->second->parks, w.parks);
  }
  return r;
}

}  // namespace zcp::stats
