// Field checks that need no daemon state, run after verify_request(). The verifier proves
// a message is structurally sound (every offset in bounds, strings terminated); it says
// nothing about what the strings contain. Names end up in logs, the topology listing,
// zcp-top and JSON, so they are bounded and restricted to printable ASCII here, once.
// Numeric ranges (capacities, limits) depend on configuration and are the registry's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <zcp/expected.hpp>

#include "protocol/control_generated.h"

namespace zcp::protocol {

// Longest service/instance/event/process name. Too low refuses real names (a market-data
// symbol plus a venue suffix); too high lets one topology entry take a large share of the
// 64 KiB reply frame.
inline constexpr std::size_t kMaxNameBytes = 100;
// Longest client version string in Hello.
inline constexpr std::size_t kMaxVersionBytes = 64;

struct FieldError {
  const char* field = "";    // "CreatePublisher.service"
  const char* problem = "";  // "is empty"
};

// "CreatePublisher.service is empty"
std::string describe(const FieldError& error);

// Topic parts: 1..kMaxNameBytes bytes of printable ASCII without space or '/' (the CLI
// writes topics as SERVICE/INSTANCE/EVENT).
bool is_valid_topic_part(std::string_view s) noexcept;
// Process names: 1..kMaxNameBytes bytes of printable ASCII, spaces allowed.
bool is_valid_process_name(std::string_view s) noexcept;

// Checks every string field of a verified request, and enum fields for known values. Precondition:
// req came from verify_request(). Failures map to fb::ResultCode::InvalidArgument.
zcp::Expected<void, FieldError> validate_request(const fb::Request& req) noexcept;

}  // namespace zcp::protocol
