// Errors the client library reports. Values, never exceptions: every call that can fail
// returns zcp::Expected<T, zcp::Error>, whose message says what failed, where and why.
//
// Data-path calls (loan, publish, take) allocate nothing when they succeed; a failure builds
// its message (one allocation), which is why hot loops should test `code` and read
// `message` only to report it.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include <zcp/expected.hpp>

namespace zcp {

enum class Errc : std::uint8_t {
  kInvalidArgument,    // a bad name, size or option, caught before asking the daemon
  kDaemonUnavailable,  // no daemon answers on the instance's socket
  kVersionMismatch,    // daemon and library speak different protocol or layout versions
  kRejected,           // the daemon refused the request; daemon_code says why
  kDisconnected,       // the daemon went away (stopped, crashed) or declared us dead
  kTimeout,            // no reply within the request timeout
  kProtocol,           // a malformed reply (a daemon bug, or not a zerocp daemon)
  kSystem,             // a system call failed; the message names it and errno
  // Data path.
  kPoolExhausted,  // loan(): no free chunk arrived in time (router behind, or pool too small)
  kWouldBlock,     // publish(): the publish ring is full (the router is behind, or a
                   // block_publisher subscriber is full); retry, or publish with a timeout
  kTooLarge,       // loan()/publish_copy(): the payload exceeds the publisher's chunk size
  kTooManyLoans,   // loan(): max_loans loans are outstanding; publish or drop one first
  kTooManyHeld,    // take(): max_held samples are held; destroy one first
};

const char* to_string(Errc e) noexcept;

struct Error {
  Errc code = Errc::kSystem;
  std::uint16_t daemon_code = 0;  // zcp::fb::ResultCode when code == kRejected
  std::string message;
};

template <class T>
using Result = Expected<T, Error>;

// std::error_code interop (Asio handlers, std::system_error): category "zcp", values Errc.
const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace zcp

template <>
struct std::is_error_code_enum<zcp::Errc> : std::true_type {};
