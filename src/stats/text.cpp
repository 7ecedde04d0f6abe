// Plain-text renderings of a snapshot: `zcp-top --once`, `zcp ls`, `zcp info`.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "stats/format.hpp"

namespace zcp::stats {
namespace {

using Row = std::vector<std::string>;

// Columns padded to their widest cell, two spaces apart; numbers right-aligned.
std::string table(const Row& header, const std::vector<Row>& rows) {
  std::vector<std::size_t> width(header.size());
  std::vector<bool> numeric(header.size(), true);
  for (std::size_t c = 0; c < header.size(); ++c)
    width[c] = header[c].size();
  for (const Row& r : rows) {
    for (std::size_t c = 0; c < r.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], r[c].size());
      if (!r[c].empty() && r[c].find_first_not_of("0123456789.-%kMG ") != std::string::npos)
        numeric[c] = false;
    }
  }
  auto line = [&](const Row& r) {
    std::string out;
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < r.size() ? r[c] : "";
      std::string pad(width[c] - std::min(width[c], cell.size()), ' ');
      out += numeric[c] ? pad + cell : cell + pad;
      if (c + 1 < width.size()) out += "  ";
    }
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  for (const Row& r : rows)
    out += line(r);
  return out;
}

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

std::string fixed(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? std::to_string(bytes) + " B" : fixed(v, v < 10 ? 1 : 0) + " " + units[u];
}

std::string human_duration(std::uint64_t ns) {
  std::uint64_t s = ns / 1'000'000'000ULL;
  char buf[48];
  if (s >= 86400) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
                  s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600,
                  s % 3600 / 60, s % 60);
  }
  return buf;
}

std::string human_rate(double v) {
  if (v >= 1e9) return fixed(v / 1e9, 2) + "G";
  if (v >= 1e6) return fixed(v / 1e6, 2) + "M";
  if (v >= 1e4) return fixed(v / 1e3, 1) + "k";
  return fixed(v, 0);
}

std::string topics_table(const Snapshot& s, const Rates& rates) {
  std::vector<Row> rows;
  for (const TopicRow& t : s.topics) {
    auto it = rates.topics.find(t.name());
    TopicRate r = it != rates.topics.end() ? it->second : TopicRate{};
    rows.push_back({t.name(), num(t.publishers), num(t.subscribers), human_rate(r.msgs_per_s),
                    human_rate(r.delivered_per_s), num(r.dropped)});
  }
  return table({"TOPIC", "PUBS", "SUBS", "MSGS/S", "DELIV/S", "DROPS"}, rows);
}

std::string text_tables(const Snapshot& s, const Rates& rates) {
  const DaemonRow& d = s.daemon;
  std::string out = "diroute " + d.version + " pid " + std::to_string(d.pid) + " instance " +
                    d.instance + "  uptime " + human_duration(d.uptime_ns) + "  msgs/s " +
                    human_rate(rates.msgs_per_s) + "\n";

  std::vector<Row> rows;
  for (const ProcessRow& p : s.processes) {
    rows.push_back({num(static_cast<std::uint64_t>(p.pid)), p.name,
                    p.heartbeat_age_ms ? num(*p.heartbeat_age_ms) : "-", num(p.publishers),
                    num(p.subscribers)});
  }
  out += "\nPROCESSES\n" + table({"PID", "NAME", "HB_AGE_MS", "PUBS", "SUBS"}, rows);
  out += "\nTOPICS\n" + topics_table(s, rates);

  rows.clear();
  for (const PublisherRow& p : s.publishers) {
    rows.push_back({p.topic(), num(static_cast<std::uint64_t>(p.pid)), num(p.id), num(p.published),
                    num(p.routed), num(p.blocked), num(p.loan_failures + p.client_loan_failures),
                    num(p.history_size)});
  }
  out +=
      "\nPUBLISHERS\n" +
      table({"TOPIC", "PID", "ID", "PUBLISHED", "ROUTED", "BLOCKED", "LOAN_FAIL", "HISTORY"}, rows);

  rows.clear();
  for (const SubscriberRow& r : s.subscribers) {
    rows.push_back({r.topic(), num(static_cast<std::uint64_t>(r.pid)), num(r.id), r.policy,
                    num(r.depth), num(r.capacity), num(r.high_water), num(r.delivered),
                    num(r.dropped), num(r.wakeups)});
  }
  out += "\nSUBSCRIBERS\n" + table({"TOPIC", "PID", "ID", "POLICY", "DEPTH", "CAP", "HIGH",
                                    "DELIVERED", "DROPPED", "WAKEUPS"},
                                   rows);

  rows.clear();
  for (const PoolRow& p : s.pools) {
    rows.push_back({num(p.class_index), num(p.chunk_size), num(p.total), num(p.free),
                    num(p.min_free), num(p.loan_failures)});
  }
  out +=
      "\nPOOLS\n" + table({"CLASS", "CHUNK_SIZE", "TOTAL", "FREE", "MIN_FREE", "LOAN_FAIL"}, rows);

  rows.clear();
  for (const WorkerRow& w : s.workers) {
    auto it = rates.workers.find(w.id);
    WorkerRate r = it != rates.workers.end() ? it->second : WorkerRate{};
    rows.push_back({num(w.id), w.cpu < 0 ? "-" : std::to_string(w.cpu), w.idle, num(w.routed),
                    human_rate(r.routed_per_s), fixed(r.busy_pct, 1),
                    fixed(static_cast<double>(w.max_pass_ns) / 1e3, 1), num(w.parks),
                    num(w.faults)});
  }
  out += "\nWORKERS\n" + table({"ID", "CPU", "IDLE", "ROUTED", "ROUTED/S", "BUSY%", "MAX_PASS_US",
                                "PARKS", "FAULTS"},
                               rows);
  return out;
}

std::string info_text(const Snapshot& s, const std::string& socket_path) {
  const DaemonRow& d = s.daemon;
  std::string out;
  out += "daemon      diroute " + d.version + ", pid " + std::to_string(d.pid) + ", up " +
         human_duration(d.uptime_ns) + "\n";
  out += "instance    " + d.instance + "\n";
  out += "socket      " + socket_path + "\n";
  out += "segment     " + d.segment + " (/dev/shm" + d.segment + "), " +
         human_bytes(d.segment_bytes) + ", layout version " + std::to_string(d.layout_version) +
         "\n";
  out += "\nREGIONS\n";
  std::vector<Row> rows;
  for (const RegionRow& r : d.regions)
    rows.push_back({r.kind, num(r.offset), num(r.size), human_bytes(r.size)});
  out += table({"REGION", "OFFSET", "BYTES", "SIZE"}, rows);
  rows.clear();
  for (const PoolRow& p : s.pools) {
    rows.push_back({num(p.class_index), num(p.chunk_size), num(p.total),
                    num(p.total - std::min(p.free, p.total)), num(p.free), num(p.min_free)});
  }
  out += "\nPOOLS\n" + table({"CLASS", "CHUNK_SIZE", "TOTAL", "IN_USE", "FREE", "MIN_FREE"}, rows);
  out += "\nENDPOINTS   " + std::to_string(s.processes.size()) + " processes, " +
         std::to_string(s.topics.size()) + " topics, " + std::to_string(s.publishers.size()) +
         " publishers, " + std::to_string(s.subscribers.size()) + " subscribers, " +
         std::to_string(s.workers.size()) + " workers\n";
  out += "\nCONFIG\n";
  if (d.config_text.empty()) {
    out += "(diroute published no configuration text)\n";
  } else {
    out += d.config_text;
    if (d.config_text.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace zcp::stats
