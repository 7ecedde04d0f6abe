// Output formats of a snapshot: the JSON object of `zcp-top --once --json` (the BRIEF's
// contract fields plus extras), the Prometheus text exposition format of `zcp metrics`, and
// the plain tables of `zcp-top --once`, `zcp ls` and `zcp info`. docs/observability.md
// lists every field.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "stats/rates.hpp"
#include "stats/snapshot.hpp"

namespace zcp::stats {

// `rates` null: one snapshot only, the "rates" member and per-row rates are left out.
nlohmann::json to_json(const Snapshot& s, const Rates* rates = nullptr);

// Text exposition format 0.0.4: "# HELP" and "# TYPE" before each family's samples, names
// prefixed "zcp_", counters ending in "_total", label values escaped (\\, \", \n).
std::string to_prometheus(const Snapshot& s);
// A label value with backslash, double quote and newline escaped for the exposition format.
std::string escape_label_value(const std::string& v);

// Plain tables: processes, topics, publishers, subscribers, pools, workers.
std::string text_tables(const Snapshot& s, const Rates& rates);
// `zcp ls`: one line per topic with its endpoint counts, msgs/s and drops.
std::string topics_table(const Snapshot& s, const Rates& rates);
// `zcp info`: daemon, segment, regions, pools and the configuration text.
std::string info_text(const Snapshot& s, const std::string& socket_path);

// "1.5 MiB", "12 KiB", "512 B".
std::string human_bytes(std::uint64_t bytes);
// "3d 04:05:06" or "04:05:06".
std::string human_duration(std::uint64_t ns);
// "12.3k", "1.20M", "950".
std::string human_rate(double per_s);

}  // namespace zcp::stats
