// to_prometheus: every counter of a snapshot in the text exposition format (version 0.0.4),
// for the node_exporter textfile collector or a scrape wrapper (docs/observability.md).
// One family per metric: "# HELP" and "# TYPE" once, then its samples; each series is told
// apart by labels (a publisher's or subscriber's id, a pool's class, a worker's id), so no
// two samples share a name and label set.
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "stats/format.hpp"

namespace zcp::stats {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // Starts a family; `type` is "counter" or "gauge" (counter names end in _total).
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP zcp_" + name + " " + escape_help(help) + "\n";
    out_ += "# TYPE zcp_" + name + " " + type + "\n";
    name_ = "zcp_" + name;
  }
  void sample(const Labels& labels, std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%" PRIu64, v);
    line(labels, buf);
  }
  void sample_f(const Labels& labels, double v) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.9g", v);
    line(labels, buf);
  }
  std::string take() { return std::move(out_); }

 private:
  static std::string escape_help(const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '\\')
        o += "\\\\";
      else if (c == '\n')
        o += "\\n";
      else
        o += c;
    }
    return o;
  }
  void line(const Labels& labels, const char* value) {
    out_ += name_;
    if (!labels.empty()) {
      out_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ += ',';
        out_ += labels[i].first + "=\"" + escape_label_value(labels[i].second) + '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string out_;
  std::string name_;
};

Labels topic_labels(const std::string& service, const std::string& instance,
                    const std::string& event) {
  return {{"service", service}, {"instance", instance}, {"event", event}};
}
Labels pub_labels(const PublisherRow& p) {
  Labels l = topic_labels(p.service, p.instance, p.event);
  l.push_back({"pid", std::to_string(p.pid)});
  l.push_back({"publisher", std::to_string(p.id)});
  return l;
}
Labels sub_labels(const SubscriberRow& s) {
  Labels l = topic_labels(s.service, s.instance, s.event);
  l.push_back({"pid", std::to_string(s.pid)});
  l.push_back({"subscriber", std::to_string(s.id)});
  return l;
}
Labels pool_labels(const PoolRow& p) {
  return {{"pool", std::to_string(p.class_index)}, {"chunk_size", std::to_string(p.chunk_size)}};
}
Labels worker_labels(const WorkerRow& w) {
  return {{"worker", std::to_string(w.id)}};
}

template <class Row>
void per_row(Exposition& e, const std::vector<Row>& rows, const std::string& name, const char* type,
             const std::string& help, const std::function<Labels(const Row&)>& labels,
             const std::function<std::uint64_t(const Row&)>& value) {
  e.family(name, type, help);
  for (const Row& r : rows)
    e.sample(labels(r), value(r));
}

}  // namespace

std::string escape_label_value(const std::string& v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      o += "\\\\";
    else if (c == '"')
      o += "\\\"";
    else if (c == '\n')
      o += "\\n";
    else
      o += c;
  }
  return o;
}

std::string to_prometheus(const Snapshot& s) {
  Exposition e;
  const DaemonRow& d = s.daemon;
  e.family("daemon_info", "gauge", "Always 1; the labels name the diroute serving this instance");
  e.sample({{"version", d.version}, {"instance", d.instance}, {"pid", std::to_string(d.pid)}}, 1);
  e.family("daemon_uptime_seconds", "gauge", "Seconds since diroute started");
  e.sample_f({}, static_cast<double>(d.uptime_ns) / 1e9);
  e.family("segment_bytes", "gauge", "Size of the instance's shared-memory segment, by region");
  for (const RegionRow& r : d.regions)
    e.sample({{"region", r.kind}}, r.size);
  // One family, the counter's name as a label: the daemon's counters are one enum, and a
  // name that ends in "_total" itself (limit_publishers_total) stays readable.
  e.family("daemon_events_total", "counter",
           "diroute control-plane counters (reactor), by counter name; docs/observability.md");
  for (const auto& [name, value] : d.counters)
    e.sample({{"counter", name}}, value);

  e.family("processes", "gauge", "Registered client processes");
  e.sample({}, s.processes.size());
  e.family("process_heartbeat_age_seconds", "gauge",
           "Time since the process last touched its heartbeat slot");
  for (const ProcessRow& p : s.processes) {
    if (!p.heartbeat_age_ms) continue;
    e.sample_f({{"pid", std::to_string(p.pid)}, {"name", p.name}, {"slot", std::to_string(p.slot)}},
               static_cast<double>(*p.heartbeat_age_ms) / 1e3);
  }

  auto topic_l = [](const TopicRow& t) { return topic_labels(t.service, t.instance, t.event); };
  per_row<TopicRow>(e, s.topics, "topic_publishers", "gauge", "Live publishers on the topic",
                    topic_l, [](const TopicRow& t) { return t.publishers; });
  per_row<TopicRow>(e, s.topics, "topic_subscribers", "gauge", "Live subscribers on the topic",
                    topic_l, [](const TopicRow& t) { return t.subscribers; });

  using P = PublisherRow;
  per_row<P>(e, s.publishers, "publisher_published_total", "counter",
             "Publications made (publish ring tail, minus loans returned)", pub_labels,
             [](const P& p) { return p.published; });
  per_row<P>(e, s.publishers, "publisher_routed_total", "counter",
             "Publications the router took and fully delivered", pub_labels,
             [](const P& p) { return p.routed; });
  per_row<P>(e, s.publishers, "publisher_blocked_total", "counter",
             "Router passes held back by a full block_publisher queue", pub_labels,
             [](const P& p) { return p.blocked; });
  per_row<P>(e, s.publishers, "publisher_returned_total", "counter", "Loans given back unpublished",
             pub_labels, [](const P& p) { return p.returned; });
  per_row<P>(e, s.publishers, "publisher_loan_refill_failures_total", "counter",
             "Loan-ring refills the chunk pool could not serve (router)", pub_labels,
             [](const P& p) { return p.loan_failures; });
  per_row<P>(e, s.publishers, "publisher_loan_failures_total", "counter",
             "loan() calls that found no chunk (client, loan ring consumer_empty)", pub_labels,
             [](const P& p) { return p.client_loan_failures; });
  per_row<P>(e, s.publishers, "publisher_would_block_total", "counter",
             "publish() calls that found the publish ring full (client, producer_full)", pub_labels,
             [](const P& p) { return p.would_block; });
  per_row<P>(
      e, s.publishers, "publisher_wakeups_total", "counter",
      "Eventfd writes by which the publisher woke sleeping subscribers itself (direct delivery)",
      pub_labels, [](const P& p) { return p.wakeups; });
  per_row<P>(e, s.publishers, "publisher_history_size", "gauge",
             "Publications kept for late joiners", pub_labels,
             [](const P& p) { return p.history_size; });

  using S = SubscriberRow;
  per_row<S>(e, s.subscribers, "subscriber_delivered_total", "counter",
             "Messages pushed into the queue", sub_labels, [](const S& r) { return r.delivered; });
  per_row<S>(e, s.subscribers, "subscriber_dropped_total", "counter",
             "Messages the queue policy dropped", sub_labels, [](const S& r) { return r.dropped; });
  per_row<S>(e, s.subscribers, "subscriber_wakeups_total", "counter",
             "Eventfd writes that woke the subscriber", sub_labels,
             [](const S& r) { return r.wakeups; });
  per_row<S>(e, s.subscribers, "subscriber_queue_depth", "gauge", "Messages waiting in the queue",
             sub_labels, [](const S& r) { return r.depth; });
  per_row<S>(e, s.subscribers, "subscriber_queue_capacity", "gauge", "Queue capacity", sub_labels,
             [](const S& r) { return r.capacity; });
  per_row<S>(e, s.subscribers, "subscriber_queue_high_water", "gauge", "Highest queue depth seen",
             sub_labels, [](const S& r) { return r.high_water; });

  per_row<PoolRow>(e, s.pools, "pool_chunks", "gauge", "Chunks in the pool class", pool_labels,
                   [](const PoolRow& p) { return p.total; });
  per_row<PoolRow>(e, s.pools, "pool_free_chunks", "gauge", "Free chunks in the pool class",
                   pool_labels, [](const PoolRow& p) { return p.free; });
  per_row<PoolRow>(e, s.pools, "pool_min_free_chunks", "gauge", "Lowest free count since start",
                   pool_labels, [](const PoolRow& p) { return p.min_free; });
  per_row<PoolRow>(e, s.pools, "pool_loan_failures_total", "counter",
                   "Loans refused: the class was empty", pool_labels,
                   [](const PoolRow& p) { return p.loan_failures; });

  using W = WorkerRow;
  per_row<W>(e, s.workers, "worker_routed_total", "counter",
             "Publications the worker fully delivered", worker_labels,
             [](const W& w) { return w.routed; });
  per_row<W>(e, s.workers, "worker_passes_total", "counter", "do_work passes", worker_labels,
             [](const W& w) { return w.passes; });
  per_row<W>(e, s.workers, "worker_busy_passes_total", "counter", "do_work passes that did work",
             worker_labels, [](const W& w) { return w.busy_passes; });
  e.family("worker_busy_seconds_total", "counter", "Time spent in passes that did work");
  for (const W& w : s.workers)
    e.sample_f(worker_labels(w), static_cast<double>(w.busy_ns) / 1e9);
  per_row<W>(e, s.workers, "worker_parks_total", "counter",
             "Times the worker slept on its doorbell", worker_labels,
             [](const W& w) { return w.parks; });
  e.family("worker_max_pass_seconds", "gauge", "Longest single do_work pass");
  for (const W& w : s.workers)
    e.sample_f(worker_labels(w), static_cast<double>(w.max_pass_ns) / 1e9);
  per_row<W>(e, s.workers, "worker_faults_total", "counter",
             "Ports faulted for breaking the ring protocol", worker_labels,
             [](const W& w) { return w.faults; });
  per_row<W>(e, s.workers, "worker_commands_total", "counter", "Topology commands applied",
             worker_labels, [](const W& w) { return w.commands; });
  return e.take();
}

}  // namespace zcp::stats
