// to_json: the object `zcp-top --once --json` prints. The BRIEF fixes processes[], publishers[],
// subscribers[], pools[] and workers[] with their named fields; everything else is extra.
#include "stats/format.hpp"

namespace zcp::stats {
namespace {

using nlohmann::json;

json daemon_json(const DaemonRow& d) {
  json counters = json::object();
  for (const auto& [name, value] : d.counters)
    counters[name] = value;
  json regions = json::array();
  for (const RegionRow& r : d.regions)
    regions.push_back({{"kind", r.kind}, {"offset", r.offset}, {"size", r.size}});
  return {{"pid", d.pid},
          {"version", d.version},
          {"instance", d.instance},
          {"segment", d.segment},
          {"segment_bytes", d.segment_bytes},
          {"layout_version", d.layout_version},
          {"started_unix_s", static_cast<double>(d.started_realtime_ns) / 1e9},
          {"uptime_s", static_cast<double>(d.uptime_ns) / 1e9},
          {"regions", std::move(regions)},
          {"counters", std::move(counters)}};
}

json endpoint_json(const std::string& service, const std::string& instance,
                   const std::string& event, std::int32_t pid) {
  return {{"service", service}, {"instance", instance}, {"event", event}, {"pid", pid}};
}

}  // namespace

json to_json(const Snapshot& s, const Rates* rates) {
  json out = json::object();
  out["daemon"] = daemon_json(s.daemon);
  out["topology_generation"] = s.topology_generation;

  json processes = json::array();
  for (const ProcessRow& p : s.processes) {
    processes.push_back(
        {{"pid", p.pid},
         {"name", p.name},
         {"heartbeat_age_ms", p.heartbeat_age_ms ? json(*p.heartbeat_age_ms) : json(nullptr)},
         {"uid", p.uid},
         {"gid", p.gid},
         {"monitored", p.monitored},
         {"publishers", p.publishers},
         {"subscribers", p.subscribers},
         {"registered_unix_s", static_cast<double>(p.registered_realtime_ns) / 1e9}});
  }
  out["processes"] = std::move(processes);

  Rates single = totals_only(s);
  const Rates& r = rates ? *rates : single;
  json topics = json::array();
  for (const TopicRow& t : s.topics) {
    json o = {{"service", t.service},
              {"instance", t.instance},
              {"event", t.event},
              {"publishers", t.publishers},
              {"subscribers", t.subscribers}};
    auto it = r.topics.find(t.name());
    o["dropped"] = it != r.topics.end() ? it->second.dropped : 0;
    if (rates && it != r.topics.end()) {
      o["msgs_per_s"] = it->second.msgs_per_s;
      o["delivered_per_s"] = it->second.delivered_per_s;
      o["dropped_per_s"] = it->second.dropped_per_s;
    }
    topics.push_back(std::move(o));
  }
  out["topics"] = std::move(topics);

  json publishers = json::array();
  for (const PublisherRow& p : s.publishers) {
    json o = endpoint_json(p.service, p.instance, p.event, p.pid);
    o.update({{"id", p.id},
              {"published", p.published},
              {"routed", p.routed},
              {"blocked", p.blocked},
              {"returned", p.returned},
              {"loan_failures", p.loan_failures},
              {"client_loan_failures", p.client_loan_failures},
              {"would_block", p.would_block},
              {"wakeups", p.wakeups},
              {"history_depth", p.history_depth},
              {"history_size", p.history_size},
              {"worker", p.worker},
              {"pool_class", p.pool_class},
              {"max_loans", p.max_loans},
              {"max_payload", p.max_payload},
              {"rings_ok", p.rings_ok}});
    if (rates) {
      auto it = rates->publishers.find({p.slot, p.id});
      o["msgs_per_s"] = it != rates->publishers.end() ? it->second : 0.0;
    }
    publishers.push_back(std::move(o));
  }
  out["publishers"] = std::move(publishers);

  json subscribers = json::array();
  for (const SubscriberRow& sub : s.subscribers) {
    json o = endpoint_json(sub.service, sub.instance, sub.event, sub.pid);
    o.update({{"id", sub.id},
              {"depth", sub.depth},
              {"capacity", sub.capacity},
              {"delivered", sub.delivered},
              {"dropped", sub.dropped},
              {"high_water", sub.high_water},
              {"wakeups", sub.wakeups},
              {"policy", sub.policy},
              {"max_held", sub.max_held},
              {"home_worker", sub.home_worker},
              {"rings_ok", sub.rings_ok}});
    if (rates) {
      auto it = rates->subscribers.find({sub.slot, sub.id});
      o["delivered_per_s"] = it != rates->subscribers.end() ? it->second : 0.0;
    }
    subscribers.push_back(std::move(o));
  }
  out["subscribers"] = std::move(subscribers);

  json pools = json::array();
  for (const PoolRow& p : s.pools) {
    pools.push_back({{"class", p.class_index},
                     {"chunk_size", p.chunk_size},
                     {"total", p.total},
                     {"free", p.free},
                     {"min_free", p.min_free},
                     {"loan_failures", p.loan_failures}});
  }
  out["pools"] = std::move(pools);

  json workers = json::array();
  for (const WorkerRow& w : s.workers) {
    json o = {{"id", w.id},
              {"cpu", w.cpu},
              {"routed", w.routed},
              {"idle", w.idle},
              {"passes", w.passes},
              {"busy_passes", w.busy_passes},
              {"busy_ns", w.busy_ns},
              {"parks", w.parks},
              {"max_pass_ns", w.max_pass_ns},
              {"faults", w.faults},
              {"commands", w.commands},
              {"direct_settled", w.direct_settled},
              {"early_releases", w.early_releases}};
    if (rates) {
      auto it = rates->workers.find(w.id);
      if (it != rates->workers.end()) {
        o["routed_per_s"] = it->second.routed_per_s;
        o["busy_pct"] = it->second.busy_pct;
      }
    }
    workers.push_back(std::move(o));
  }
  out["workers"] = std::move(workers);

  if (rates) {
    out["rates"] = {{"interval_s", rates->interval_s},
                    {"msgs_per_s", rates->msgs_per_s},
                    {"delivered_per_s", rates->delivered_per_s},
                    {"dropped_per_s", rates->dropped_per_s}};
  }
  return out;
}

}  // namespace zcp::stats
