// A topic names what publishers and subscribers meet on: service, instance and event, written
// "service/instance/event" (the CLI's form). Several publishers and subscribers per topic are
// normal; the daemon matches them by all three strings.
#pragma once

#include <string>
#include <string_view>

#include <zcp/error.hpp>

namespace zcp {

struct Topic {
  std::string service;
  std::string instance;
  std::string event;

  // Parses "service/instance/event": exactly three non-empty parts. Errc::kInvalidArgument
  // with a message naming the problem otherwise. (The daemon checks lengths and characters.)
  static Result<Topic> parse(std::string_view text);
  // "service/instance/event".
  std::string str() const { return service + "/" + instance + "/" + event; }

  friend bool operator==(const Topic&, const Topic&) = default;
};

}  // namespace zcp
