// The one zcp::Runtime of a process that uses the broadcast API, shared by every
// DataBroadcaster and DataSubscriber (each keeps a reference, so the runtime outlives them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <zcp/runtime.hpp>

namespace zcp::ipc::detail {

// The process's runtime, connecting with an automatic name ("<program>-<pid>") if
// initialize_runtime() was never called. The error says why it cannot connect.
zcp::Result<std::shared_ptr<zcp::Runtime>> acquire_runtime();

// Adds `where` in front of an error's message, so the final message says what failed.
zcp::Error with_context(zcp::Error e, const std::string& where);

// CLOCK_MONOTONIC in nanoseconds: the clock of zerocp's own message timestamps.
std::uint64_t monotonic_ns() noexcept;

}  // namespace zcp::ipc::detail
