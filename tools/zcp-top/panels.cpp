#include "panels.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "stats/format.hpp"

namespace zcp::top {
namespace {

using stats::human_rate;

std::string num(std::uint64_t v) {
  return std::to_string(v);
}
std::string fixed(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}
bool keep(const PanelState& st, const std::string& topic) {
  return st.filter.empty() || topic.find(st.filter) != std::string::npos;
}

template <class T>
void sort_by(std::vector<const T*>& v, const std::function<bool(const T&, const T&)>& less) {
  std::stable_sort(v.begin(), v.end(), [&](const T* a, const T* b) { return less(*a, *b); });
}

template <class T>
std::vector<const T*> pointers(const std::vector<T>& rows) {
  std::vector<const T*> v;
  for (const T& r : rows)
    v.push_back(&r);
  return v;
}

Table processes(const PanelState& st, const stats::Snapshot& s) {
  Table t;
  t.columns = {{"PID", 8, true},  {"NAME", 20, false, true}, {"HB AGE", 9, true}, {"PUBS", 5, true},
               {"SUBS", 5, true}, {"MON", 4, false},         {"UID", 7, true}};
  auto v = pointers(s.processes);
  using P = stats::ProcessRow;
  auto age = [](const P& p) { return p.heartbeat_age_ms.value_or(UINT64_MAX); };
  switch (st.sort[0]) {
    case 0:
      t.sort_name = "pid";
      sort_by<P>(v, [](const P& a, const P& b) { return a.pid < b.pid; });
      break;
    case 1:
      t.sort_name = "name";
      sort_by<P>(v, [](const P& a, const P& b) { return a.name < b.name; });
      break;
    case 2:
      t.sort_name = "heartbeat age";
      sort_by<P>(v, [&](const P& a, const P& b) { return age(a) > age(b); });
      break;
    default:
      t.sort_name = "endpoints";
      sort_by<P>(v, [](const P& a, const P& b) {
        return a.publishers + a.subscribers > b.publishers + b.subscribers;
      });
  }
  for (const P* p : v) {
    t.rows.push_back({num(static_cast<std::uint64_t>(p->pid)), p->name,
                      p->heartbeat_age_ms ? num(*p->heartbeat_age_ms) + "ms" : "-",
                      num(p->publishers), num(p->subscribers), p->monitored ? "yes" : "no",
                      num(p->uid)});
  }
  return t;
}

Table topics(const PanelState& st, const stats::Snapshot& s, const stats::Rates& rates) {
  Table t;
  t.columns = {{"TOPIC", 24, false, true}, {"PUBS", 5, true},    {"SUBS", 5, true},
               {"MSGS/S", 9, true},        {"DELIV/S", 9, true}, {"DROPS", 10, true},
               {"DROP/S", 8, true}};
  auto v = pointers(s.topics);
  using T = stats::TopicRow;
  auto rate = [&](const T& x) {
    auto it = rates.topics.find(x.name());
    return it != rates.topics.end() ? it->second : stats::TopicRate{};
  };
  switch (st.sort[1]) {
    case 0:
      t.sort_name = "msgs/s";
      sort_by<T>(v,
                 [&](const T& a, const T& b) { return rate(a).msgs_per_s > rate(b).msgs_per_s; });
      break;
    case 1:
      t.sort_name = "name";
      sort_by<T>(v, [](const T& a, const T& b) { return a.name() < b.name(); });
      break;
    case 2:
      t.sort_name = "drops";
      sort_by<T>(v, [&](const T& a, const T& b) { return rate(a).dropped > rate(b).dropped; });
      break;
    default:
      t.sort_name = "subscribers";
      sort_by<T>(v, [](const T& a, const T& b) { return a.subscribers > b.subscribers; });
  }
  for (const T* x : v) {
    if (!keep(st, x->name())) continue;
    stats::TopicRate r = rate(*x);
    t.rows.push_back({x->name(), num(x->publishers), num(x->subscribers), human_rate(r.msgs_per_s),
                      human_rate(r.delivered_per_s), num(r.dropped), human_rate(r.dropped_per_s)});
  }
  return t;
}

Table queues(const PanelState& st, const stats::Snapshot& s) {
  Table t;
  t.columns = {{"TOPIC", 16, false, true}, {"PID", 7, true},    {"POL", 3, false},
               {"DEPTH", 11, true},        {"FILL", 10, false}, {"HIGH", 6, true},
               {"HIGH WATER", 10, false},  {"DROPPED", 8, true}};
  auto v = pointers(s.subscribers);
  using S = stats::SubscriberRow;
  auto fill = [](const S& x) {
    return x.capacity ? static_cast<double>(x.depth) / x.capacity : 0.0;
  };
  auto high = [](const S& x) {
    return x.capacity ? static_cast<double>(x.high_water) / x.capacity : 0.0;
  };
  switch (st.sort[2]) {
    case 0:
      t.sort_name = "fill";
      sort_by<S>(v, [&](const S& a, const S& b) { return fill(a) > fill(b); });
      break;
    case 1:
      t.sort_name = "high water";
      sort_by<S>(v, [&](const S& a, const S& b) { return high(a) > high(b); });
      break;
    case 2:
      t.sort_name = "dropped";
      sort_by<S>(v, [](const S& a, const S& b) { return a.dropped > b.dropped; });
      break;
    default:
      t.sort_name = "name";
      sort_by<S>(v, [](const S& a, const S& b) { return a.topic() < b.topic(); });
  }
  for (const S* x : v) {
    if (!keep(st, x->topic())) continue;
    const std::string pol = x->policy == "drop_oldest"   ? "old"
                            : x->policy == "drop_newest" ? "new"
                                                         : "blk";
    t.rows.push_back({x->topic(), num(static_cast<std::uint64_t>(x->pid)), pol,
                      num(x->depth) + "/" + num(x->capacity),
                      bar(x->depth, x->capacity, 10, x->high_water), num(x->high_water),
                      bar(x->high_water, x->capacity, 10), num(x->dropped)});
  }
  return t;
}

Table workers(const PanelState& st, const stats::Snapshot& s, const stats::Rates& rates) {
  Table t;
  t.columns = {{"ID", 3, true},        {"CPU", 4, true},      {"IDLE", 6, false},
               {"ROUTED", 12, true},   {"ROUTED/S", 9, true}, {"BUSY%", 6, true},
               {"MAX PASS", 10, true}, {"PARKS", 10, true},   {"FAULTS", 6, true}};
  auto v = pointers(s.workers);
  using W = stats::WorkerRow;
  auto rate = [&](const W& w) {
    auto it = rates.workers.find(w.id);
    return it != rates.workers.end() ? it->second : stats::WorkerRate{};
  };
  switch (st.sort[3]) {
    case 0:
      t.sort_name = "id";
      sort_by<W>(v, [](const W& a, const W& b) { return a.id < b.id; });
      break;
    case 1:
      t.sort_name = "routed/s";
      sort_by<W>(
          v, [&](const W& a, const W& b) { return rate(a).routed_per_s > rate(b).routed_per_s; });
      break;
    default:
      t.sort_name = "busy";
      sort_by<W>(v, [&](const W& a, const W& b) { return rate(a).busy_pct > rate(b).busy_pct; });
  }
  for (const W* w : v) {
    stats::WorkerRate r = rate(*w);
    t.rows.push_back({num(w->id), w->cpu < 0 ? "-" : std::to_string(w->cpu), w->idle,
                      num(w->routed), human_rate(r.routed_per_s), fixed(r.busy_pct, 1),
                      fixed(static_cast<double>(w->max_pass_ns) / 1e3, 1) + "us", num(w->parks),
                      num(w->faults)});
  }
  return t;
}

}  // namespace

const char* panel_title(Panel p) noexcept {
  switch (p) {
    case Panel::kProcesses:
      return "Processes";
    case Panel::kTopics:
      return "Topics";
    case Panel::kQueues:
      return "Queues";
    case Panel::kWorkers:
      return "Workers";
    case Panel::kCount:
      break;
  }
  return "?";
}

int sort_keys(Panel p) noexcept {
  switch (p) {
    case Panel::kProcesses:
      return 4;
    case Panel::kTopics:
      return 4;
    case Panel::kQueues:
      return 4;
    case Panel::kWorkers:
      return 3;
    case Panel::kCount:
      break;
  }
  return 1;
}

Table build_table(const PanelState& state, const stats::Snapshot& s, const stats::Rates& rates) {
  switch (state.panel) {
    case Panel::kProcesses:
      return processes(state, s);
    case Panel::kTopics:
      return topics(state, s, rates);
    case Panel::kQueues:
      return queues(state, s);
    case Panel::kWorkers:
      return workers(state, s, rates);
    case Panel::kCount:
      break;
  }
  return {};
}

std::string bar(std::uint64_t value, std::uint64_t max, int width, std::uint64_t mark) {
  const int inner = std::max(1, width - 2);
  auto cells = [&](std::uint64_t v) {
    if (max == 0 || v == 0) return 0;
    auto c = static_cast<int>(
        (static_cast<double>(std::min(v, max)) / static_cast<double>(max)) * inner + 0.5);
    return std::clamp(c, 1, inner);  // any non-zero value shows at least one cell
  };
  const int filled = cells(value);
  const int at = cells(mark);
  std::string out = "[";
  for (int i = 0; i < inner; ++i)
    out += i < filled ? '#' : (at > filled && i == at - 1 ? '|' : ' ');
  return out + "]";
}

}  // namespace zcp::top
