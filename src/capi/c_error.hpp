// The C ABI's error channel: each failing call records its status and message for the
// calling thread (zcp_last_error / zcp_last_status), and returns the status.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <zcp/error.hpp>
#include <zcp/zcp.h>

namespace zcp::capi {

zcp_status to_status(Errc code) noexcept;

// Records (status, message) for this thread; returns status. Never throws: if the message
// cannot be stored, a fixed text naming the status is kept instead.
zcp_status fail(zcp_status status, const char* message) noexcept;
zcp_status fail(const Error& error) noexcept;
// "<function>: <what> is NULL" as ZCP_ERR_INVALID_ARGUMENT.
zcp_status fail_null(const char* function, const char* what) noexcept;

// The value a C caller stored in an enum field, as an int. Read through memcpy: in C any int
// may be stored there, while in C++ loading a value outside the enumeration's range is
// undefined.
template <class E>
int enum_value(const E& field) noexcept {
  static_assert(sizeof(E) == sizeof(int));
  int v;
  std::memcpy(&v, &field, sizeof v);
  return v;
}

// A C timeout in nanoseconds; a negative one means "do not wait".
inline std::chrono::nanoseconds to_ns(std::int64_t v) noexcept {
  return std::chrono::nanoseconds(v < 0 ? 0 : v);
}

}  // namespace zcp::capi

// True if a caller's option struct (which begins with struct_size) covers `field`: a program
// built against an older, shorter struct keeps working, and its missing fields keep their
// defaults.
#define ZCP_HAS_FIELD(s, field) \
  ((s)->struct_size >= offsetof(std::remove_cvref_t<decltype(*(s))>, field) + sizeof((s)->field))
