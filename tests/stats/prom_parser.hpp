// A small, strict parser of the Prometheus text exposition format (0.0.4), for the tests:
// it validates every line of `zcp metrics` / to_prometheus and returns the samples.
//   - "# HELP name text" and "# TYPE name type" at most once per family, TYPE before the
//     family's first sample; every sample belongs to a typed family; a family's samples are
//     contiguous (no family is reopened after another one started);
//   - metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not "__..."),
//     label values in double quotes with only \\, \" and \n escapes;
//   - values are Go floats (decimal, exponent, +Inf, -Inf, NaN); an optional integer timestamp;
//   - counters' names end in "_total" (zerocp's naming rule);
//   - no two samples share a name and label set; every line ends with '\n'; no blank lines.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace zcp::stats_test {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromResult {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family -> counter|gauge|...
  std::vector<std::string> errors;           // "line N: what is wrong"
  // The value of the sample `name` whose labels include all of `match`; nullptr if none.
  const PromSample* find(const std::string& name,
                         const std::map<std::string, std::string>& match = {}) const;
};

PromResult parse_prometheus(const std::string& text);

}  // namespace zcp::stats_test
