// zcp::QueuePolicy: what a full subscriber queue does with a new message.
//
// One enum for the API, the router and the stats region (its value is the `policy` word of a
// subscriber's stats slot). The control protocol carries its own FlatBuffers enum, converted
// at its two edges: the client when it encodes CreateSubscriber, the registry when it decodes
// it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace zcp {

enum class QueuePolicy : std::uint8_t {
  kDropOldest = 0,      // a full queue evicts its oldest message for the new one
  kDropNewest = 1,      // a full queue refuses the new message
  kBlockPublisher = 2,  // a full queue holds the publishers back (lossless)
};

// The name in config files, command-line flags, JSON and logs.
constexpr const char* to_string(QueuePolicy p) noexcept {
  switch (p) {
    case QueuePolicy::kDropOldest:
      return "drop_oldest";
    case QueuePolicy::kDropNewest:
      return "drop_newest";
    case QueuePolicy::kBlockPublisher:
      return "block_publisher";
  }
  return "unknown";
}

// The policy of such a name; nullopt for any other string.
constexpr std::optional<QueuePolicy> queue_policy_from_string(std::string_view name) noexcept {
  for (auto p :
       {QueuePolicy::kDropOldest, QueuePolicy::kDropNewest, QueuePolicy::kBlockPublisher}) {
    if (name == to_string(p)) return p;
  }
  return std::nullopt;
}

// The policy stored as a number (a stats word); nullopt if it names none.
constexpr std::optional<QueuePolicy> queue_policy_from_value(std::uint32_t v) noexcept {
  if (v > static_cast<std::uint32_t>(QueuePolicy::kBlockPublisher)) return std::nullopt;
  return static_cast<QueuePolicy>(v);
}

}  // namespace zcp
