// zcp-top's panels as plain tables: which columns each panel has, how its rows sort, and
// which rows the topic filter keeps. Pure functions of a snapshot and its rates, so the
// ncurses screen (screen.cpp) only lays strings out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stats/rates.hpp"
#include "stats/snapshot.hpp"

namespace zcp::top {

enum class Panel : std::uint8_t { kProcesses, kTopics, kQueues, kWorkers, kCount };
const char* panel_title(Panel p) noexcept;

struct Column {
  std::string title;
  int width = 0;       // cells; the flexible column takes what the others leave
  bool right = false;  // right-aligned (numbers)
  bool flex = false;
};

struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;
  std::string sort_name;  // what `s` sorts by now
};

struct PanelState {
  Panel panel = Panel::kTopics;
  int sort[static_cast<int>(Panel::kCount)] = {};  // index into the panel's sort keys
  std::string filter;                              // substring of the topic name; empty: all
};

// Number of sort keys the panel offers (`s` cycles through them).
int sort_keys(Panel p) noexcept;

Table build_table(const PanelState& state, const stats::Snapshot& s, const stats::Rates& rates);

// "[#####     ]": `value` of `max` in `width` cells including the brackets; a '|' marks `mark`
// (the high-water level) when it lies past the filled part.
std::string bar(std::uint64_t value, std::uint64_t max, int width, std::uint64_t mark = 0);

}  // namespace zcp::top
