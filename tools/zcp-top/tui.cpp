// Keys: q quit, Tab / Shift-Tab switch panel, s next sort key, / edit the topic filter (Enter
// keeps it, Esc clears it), p pause. KEY_RESIZE (SIGWINCH, handled by ncurses) redraws at the
// new size. Everything is laid out to fit 80x24; wider or taller terminals get wider topic
// columns and more rows.
#include "tui.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <curses.h>

#include "panels.hpp"
#include "stats/format.hpp"
#include "stats/rates.hpp"
#include "stats/snapshot.hpp"

namespace zcp::top {
namespace {

using Clock = std::chrono::steady_clock;

// The daemon's segment, reopened when its diroute goes away and another one starts.
class Source {
 public:
  explicit Source(std::string instance) : instance_(std::move(instance)) {}

  // A new snapshot, or nullopt with problem() set.
  std::optional<stats::Snapshot> take() {
    if (segment_) {
      const shm::SegmentHeader& h = segment_->header();
      if (!shm::process_alive(h.creator_pid, h.creator_start_time)) segment_.reset();
    }
    if (!segment_) {
      auto seg = stats::open_instance(instance_);
      if (!seg) {
        problem_ = seg.error();
        return std::nullopt;
      }
      segment_.emplace(std::move(*seg));
    }
    auto snap = stats::take_snapshot(*segment_);
    if (!snap) {
      problem_ = snap.error();
      segment_.reset();
      return std::nullopt;
    }
    problem_.clear();
    return std::move(*snap);
  }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string instance_;
  std::optional<shm::Segment> segment_;
  std::string problem_;
};

void put(int y, int x, const std::string& s, int max_width) {
  if (max_width <= 0 || y >= LINES) return;
  mvaddnstr(y, x, s.c_str(), std::min<int>(max_width, static_cast<int>(s.size())));
}

std::string fit(const std::string& s, int width, bool right) {
  if (width <= 0) return "";
  if (static_cast<int>(s.size()) > width) {
    // keep the end of long topic names: their event part tells topics apart
    return right ? s.substr(0, static_cast<std::size_t>(width))
                 : "~" + s.substr(s.size() - static_cast<std::size_t>(width - 1));
  }
  std::string pad(static_cast<std::size_t>(width) - s.size(), ' ');
  return right ? pad + s : s + pad;
}

class Tui {
 public:
  Tui(TuiOptions o) : o_(std::move(o)), source_(o_.instance) {}

  int run() {
    refresh_data();
    for (;;) {
      draw();
      timeout(100);  // wake for keys and for the next refresh; the refresh itself reads shm only
      int ch = getch();
      if (ch != ERR && !key(ch)) return 0;
      if (!paused_ && Clock::now() >= next_) refresh_data();
    }
  }

 private:
  void refresh_data() {
    next_ = Clock::now() + o_.interval;
    auto snap = source_.take();
    if (!snap) {
      prev_.reset();
      cur_.reset();
      return;
    }
    if (cur_) prev_ = std::move(cur_);
    cur_ = std::move(snap);
    // a new daemon (pid changed): its counters start over, so no rate across it
    if (prev_ && prev_->daemon.pid != cur_->daemon.pid) prev_.reset();
    rates_ = prev_ ? stats::compute_rates(*prev_, *cur_) : stats::totals_only(*cur_);
  }

  // False: quit.
  bool key(int ch) {
    if (editing_) {
      if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
        editing_ = false;
      } else if (ch == 27) {  // Esc
        editing_ = false;
        state_.filter.clear();
      } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (!state_.filter.empty()) state_.filter.pop_back();
      } else if (ch >= 32 && ch < 127) {
        state_.filter += static_cast<char>(ch);
      }
      return true;
    }
    const int panels = static_cast<int>(Panel::kCount);
    const int p = static_cast<int>(state_.panel);
    switch (ch) {
      case 'q':
      case 'Q':
        return false;
      case '\t':
        state_.panel = static_cast<Panel>((p + 1) % panels);
        break;
      case KEY_BTAB:
        state_.panel = static_cast<Panel>((p + panels - 1) % panels);
        break;
      case 's':
      case 'S':
        state_.sort[p] = (state_.sort[p] + 1) % sort_keys(state_.panel);
        break;
      case '/':
        editing_ = true;
        state_.filter.clear();
        break;
      case 'p':
      case 'P':
        paused_ = !paused_;
        if (!paused_) refresh_data();
        break;
      case KEY_RESIZE:
        break;  // draw() lays out for the new LINES/COLS
      default:
        break;
    }
    return true;
  }

  void draw() {
    erase();
    const int w = COLS;
    std::string title = paused_ ? "[PAUSED] " + o_.instance : "zcp-top " + o_.instance;
    if (cur_) {
      title += " | diroute " + cur_->daemon.version + " pid " + std::to_string(cur_->daemon.pid) +
               " up " + stats::human_duration(cur_->daemon.uptime_ns) + " | msgs/s " +
               stats::human_rate(rates_.msgs_per_s) + " drops/s " +
               stats::human_rate(rates_.dropped_per_s);
    }
    attron(A_BOLD);
    put(0, 0, title, w);
    attroff(A_BOLD);
    if (!cur_) {
      put(2, 0, source_.problem().empty() ? "waiting for the first snapshot" : source_.problem(),
          w);
      put(3, 0, "retrying every " + std::to_string(o_.interval.count()) + " ms; q quits", w);
      footer();
      refresh();
      return;
    }
    draw_pools(1, w);
    draw_tabs(2, w);
    draw_table(3, w);
    footer();
    refresh();
  }

  void draw_pools(int y, int w) {
    std::string line = "pools";
    for (const stats::PoolRow& p : cur_->pools) {
      const std::uint32_t used = p.total - std::min(p.free, p.total);
      const int pct = p.total ? static_cast<int>(100.0 * used / p.total + 0.5) : 0;
      std::string item = "  " + stats::human_bytes(p.chunk_size) + " " + bar(used, p.total, 8) +
                         " " + std::to_string(pct) + "%";
      if (static_cast<int>(line.size() + item.size()) > w) break;
      line += item;
    }
    put(y, 0, line, w);
  }

  void draw_tabs(int y, int w) {
    int x = 0;
    for (int i = 0; i < static_cast<int>(Panel::kCount); ++i) {
      std::string tab = std::string(" ") + panel_title(static_cast<Panel>(i)) + " ";
      if (i == static_cast<int>(state_.panel)) attron(A_REVERSE);
      put(y, x, tab, w - x);
      if (i == static_cast<int>(state_.panel)) attroff(A_REVERSE);
      x += static_cast<int>(tab.size()) + 1;
    }
    table_ = build_table(state_, *cur_, rates_);
    std::string info = " sort: " + table_.sort_name;
    if (editing_ || !state_.filter.empty())
      info += "  filter: " + state_.filter + (editing_ ? "_" : "");
    put(y, x, info, w - x);
  }

  void draw_table(int y, int w) {
    // widths: fixed columns as given, the flex column gets the rest (at least its width)
    int fixed_total = 0;
    for (const Column& c : table_.columns)
      fixed_total += (c.flex ? 0 : c.width) + 1;
    std::vector<int> widths;
    for (const Column& c : table_.columns)
      widths.push_back(c.flex ? std::max(c.width, w - fixed_total) : c.width);
    auto line = [&](const std::vector<std::string>& cells) {
      std::string out;
      for (std::size_t i = 0; i < table_.columns.size(); ++i) {
        out += fit(i < cells.size() ? cells[i] : "", widths[i], table_.columns[i].right);
        if (i + 1 < table_.columns.size()) out += ' ';
      }
      return out;
    };
    std::vector<std::string> titles;
    for (const Column& c : table_.columns)
      titles.push_back(c.title);
    attron(A_UNDERLINE);
    put(y, 0, line(titles), w);
    attroff(A_UNDERLINE);
    const int last = LINES - 2;  // the footer's line
    int row = y + 1;
    for (const auto& cells : table_.rows) {
      if (row >= last) break;
      put(row++, 0, line(cells), w);
    }
    if (table_.rows.empty())
      put(row, 0, state_.filter.empty() ? "(none)" : "(none match the filter)", w);
  }

  void footer() {
    std::string help = editing_ ? "filter: type a topic substring, Enter keeps it, Esc clears it"
                                : "q quit  Tab panel  s sort  / filter  p pause";
    attron(A_REVERSE);
    put(LINES - 1, 0, fit(help, COLS, false), COLS);
    attroff(A_REVERSE);
  }

  TuiOptions o_;
  Source source_;
  std::optional<stats::Snapshot> prev_, cur_;
  stats::Rates rates_;
  PanelState state_;
  Table table_;
  bool paused_ = false;
  bool editing_ = false;
  Clock::time_point next_{};
};

}  // namespace

int run_tui(const TuiOptions& options) {
  SCREEN* screen = newterm(nullptr, stdout, stdin);
  if (screen == nullptr) {
    std::fprintf(stderr,
                 "zcp-top: cannot set up the terminal (TERM=%s); use --once for plain output\n",
                 std::getenv("TERM") ? std::getenv("TERM") : "(unset)");
    return 1;
  }
  set_term(screen);
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  set_escdelay(25);
  curs_set(0);
  int rc = Tui(options).run();
  endwin();
  delscreen(screen);
  return rc;
}

}  // namespace zcp::top
