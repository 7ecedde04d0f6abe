#include "prom_parser.hpp"

#include <cstdlib>
#include <set>

namespace zcp::stats_test {
namespace {

bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool name_char(char c, bool colon) {
  return name_start(c, colon) || (c >= '0' && c <= '9');
}

// Reads a name at s[i]; empty if none.
std::string read_name(const std::string& s, std::size_t& i, bool colon) {
  std::size_t b = i;
  if (i >= s.size() || !name_start(s[i], colon)) return {};
  while (i < s.size() && name_char(s[i], colon))
    ++i;
  return s.substr(b, i - b);
}

bool parse_value(const std::string& v, double& out) {
  if (v == "+Inf" || v == "-Inf" || v == "NaN") {
    out = 0;
    return true;
  }
  if (v.empty()) return false;
  for (char c : v) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
      return false;
  }
  char* end = nullptr;
  out = std::strtod(v.c_str(), &end);
  return end == v.c_str() + v.size();
}

bool is_integer(const std::string& v) {
  if (v.empty()) return false;
  std::size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size()) return false;
  for (; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
  }
  return true;
}

}  // namespace

const PromSample* PromResult::find(const std::string& name,
                                   const std::map<std::string, std::string>& match) const {
  for (const PromSample& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) ok = false;
    }
    if (ok) return &s;
  }
  return nullptr;
}

// "bad escape \x in label L", built by appending: GCC 12 reports a false -Warray-bounds in
// the inlined operator+ chain of the same expression.
std::string bad_escape(char e, const std::string& label) {
  std::string msg = "bad escape \\";
  msg += e;
  msg += " in label ";
  msg += label;
  return msg;
}

PromResult parse_prometheus(const std::string& text) {
  PromResult r;
  std::set<std::string> helped, closed, series;
  std::string current;  // family whose samples are being read
  std::size_t pos = 0;
  int line_no = 0;
  auto err = [&](const std::string& what) {
    r.errors.push_back("line " + std::to_string(line_no) + ": " + what);
  };
  if (!text.empty() && text.back() != '\n') {
    r.errors.push_back("the text does not end with a newline");
  }
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.empty()) {
      err("blank line");
      continue;
    }
    if (line[0] == '#') {
      const bool help = line.rfind("# HELP ", 0) == 0;
      const bool type = line.rfind("# TYPE ", 0) == 0;
      if (!help && !type) continue;  // a plain comment
      std::size_t i = 7;
      std::string name = read_name(line, i, true);
      if (name.empty() || i >= line.size() || line[i] != ' ') {
        err("HELP/TYPE without a valid metric name and a space: " + line);
        continue;
      }
      std::string rest = line.substr(i + 1);
      if (closed.count(name) || (name != current && r.types.count(name)))
        err("family " + name + " reopened");
      if (help) {
        if (!helped.insert(name).second) err("second HELP for " + name);
        for (std::size_t k = 0; k < rest.size(); ++k) {
          if (rest[k] == '\\' &&
              (k + 1 >= rest.size() || (rest[k + 1] != '\\' && rest[k + 1] != 'n'))) {
            err("bad escape in HELP of " + name);
          }
          if (rest[k] == '\\') ++k;
        }
      } else {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(rest)) err("unknown type '" + rest + "' for " + name);
        if (r.types.count(name)) err("second TYPE for " + name);
        if (rest == "counter" &&
            (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0)) {
          err("counter " + name + " does not end in _total");
        }
        r.types[name] = rest;
      }
      if (name != current) {
        if (!current.empty()) closed.insert(current);
        current = name;
      }
      continue;
    }
    PromSample s;
    std::size_t i = 0;
    s.name = read_name(line, i, true);
    if (s.name.empty()) {
      err("sample without a valid metric name: " + line);
      continue;
    }
    if (!r.types.count(s.name)) err("sample of " + s.name + " before (or without) its TYPE");
    if (s.name != current) err("sample of " + s.name + " outside its family's block");
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool first = true;
      while (i < line.size() && line[i] != '}') {
        if (!first) {
          if (line[i] != ',') {
            err("expected ',' between labels");
            break;
          }
          ++i;
          if (i < line.size() && line[i] == '}') break;  // trailing comma is allowed
        }
        first = false;
        std::string label = read_name(line, i, false);
        if (label.empty() || label.rfind("__", 0) == 0) {
          err("bad label name in: " + line);
          break;
        }
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          err("label " + label + " without =\"");
          break;
        }
        i += 2;
        std::string value;
        bool closed_quote = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed_quote = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) break;
            char e = line[i++];
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              err(bad_escape(e, label));
          } else {
            value += c;
          }
        }
        if (!closed_quote) {
          err("unterminated value of label " + label);
          break;
        }
        if (!s.labels.emplace(label, value).second) err("label " + label + " twice");
      }
      if (i >= line.size() || line[i] != '}') {
        err("labels not closed with '}': " + line);
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      err("no space before the value: " + line);
      continue;
    }
    std::string rest = line.substr(i + 1);
    std::string value = rest, stamp;
    if (auto sp = rest.find(' '); sp != std::string::npos) {
      value = rest.substr(0, sp);
      stamp = rest.substr(sp + 1);
      if (!is_integer(stamp)) err("bad timestamp '" + stamp + "'");
    }
    if (!parse_value(value, s.value)) err("bad value '" + value + "' in: " + line);
    std::string key = s.name;
    for (const auto& [k, v] : s.labels)
      key += "\x1f" + k + "=" + v;
    if (!series.insert(key).second) err("duplicate series: " + line);
    r.samples.push_back(std::move(s));
  }
  return r;
}

}  // namespace zcp::stats_test
