// initialize_runtime(): one runtime per process, created on first use, thread-safe.
#include "process_runtime.hpp"

#include <mutex>

#include <time.h>
#include <unistd.h>

#include <zcp/ipc/broadcast_hub.hpp>

namespace zcp::ipc {
namespace detail {
namespace {

// zcp::fb::ResultCode::AlreadyRegistered (schemas/control.fbs): the daemon refuses a process
// name that a live process already uses. Kept as a number because the public API exposes
// daemon_code as an integer and the schema's generated header is private to the library.
constexpr std::uint16_t kDaemonCodeAlreadyRegistered = 17;

struct ProcessRuntime {
  std::mutex mutex;
  std::shared_ptr<zcp::Runtime> runtime;
  std::string app_name;  // of the first successful initialize_runtime(); reconnects reuse it
  zcp::Error last_error{zcp::Errc::kDaemonUnavailable, 0, "initialize_runtime() was not called"};
};

// A function-local static: initialised on first use, thread-safely (C++11 magic statics), and
// destroyed at exit after every object constructed later, which is every user of it.
ProcessRuntime& process_runtime() {
  static ProcessRuntime state;
  return state;
}

// Under pr.mutex.
bool connect_locked(ProcessRuntime& pr, const std::string& app_name) {
  if (pr.runtime && pr.runtime->connected()) return true;
  zcp::RuntimeOptions options;
  options.name = app_name;
  auto rt = zcp::Runtime::connect(options);
  if (!rt && !app_name.empty() && rt.error().code == zcp::Errc::kRejected &&
      rt.error().daemon_code == kDaemonCodeAlreadyRegistered) {
    // Several processes of one program often share a name (three subscribers, say): the
    // seed's runtime allowed that, the daemon does not. Make it unique, visibly.
    options.name = app_name + "-" + std::to_string(::getpid());
    rt = zcp::Runtime::connect(options);
  }
  if (!rt) {
    pr.last_error = with_context(std::move(rt).error(), "initialize_runtime(\"" + app_name + "\")");
    return false;
  }
  // A runtime that lost its daemon stays alive while broadcasters made from it do; they
  // report kDisconnected. New ones get the new runtime.
  pr.runtime = std::shared_ptr<zcp::Runtime>(std::move(*rt));
  if (pr.app_name.empty()) pr.app_name = app_name;
  return true;
}

}  // namespace

zcp::Result<std::shared_ptr<zcp::Runtime>> acquire_runtime() {
  ProcessRuntime& pr = process_runtime();
  std::lock_guard<std::mutex> lock(pr.mutex);
  if (!(pr.runtime && pr.runtime->connected()) && !connect_locked(pr, pr.app_name)) {
    return zcp::Unexpected(pr.last_error);
  }
  return pr.runtime;
}

zcp::Error with_context(zcp::Error e, const std::string& where) {
  e.message = where + ": " + e.message;
  return e;
}

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace detail

bool DataBroadcaster::initialize_runtime(const std::string& app_name) {
  detail::ProcessRuntime& pr = detail::process_runtime();
  std::lock_guard<std::mutex> lock(pr.mutex);
  return detail::connect_locked(pr, app_name);
}

std::shared_ptr<zcp::Runtime> DataBroadcaster::runtime() {
  detail::ProcessRuntime& pr = detail::process_runtime();
  std::lock_guard<std::mutex> lock(pr.mutex);
  return pr.runtime;
}

zcp::Error DataBroadcaster::last_runtime_error() {
  detail::ProcessRuntime& pr = detail::process_runtime();
  std::lock_guard<std::mutex> lock(pr.mutex);
  return pr.last_error;
}

void DataBroadcaster::shutdown_runtime() {
  detail::ProcessRuntime& pr = detail::process_runtime();
  std::shared_ptr<zcp::Runtime> last;
  {
    std::lock_guard<std::mutex> lock(pr.mutex);
    last = std::move(pr.runtime);
  }
  // Destroyed here, outside the lock, if no broadcaster or subscriber holds it.
}

}  // namespace zcp::ipc
