// The binding's error channel: one Python exception type per zcp_status, raised with
// libzcp's message; and the time conversions the other files use.
#include <chrono>
#include <limits>
#include <string>

#include "binding.hpp"

namespace zcp_py {

// ---- Errors ---------------------------------------------------------------------------------

PyObject* g_error = nullptr;
PyObject* g_closed = nullptr;
namespace {
PyObject* g_by_status[32] = {};
}  // namespace

PyObject* error_type(zcp_status st) {
  const int i = -static_cast<int>(st);
  if (i > 0 && i < 32 && g_by_status[i] != nullptr) return g_by_status[i];
  return g_error;
}

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

[[noreturn]] void raise_status(zcp_status st) {
  raise(error_type(st), zcp_last_error());
}

void check(zcp_status st) {
  if (st < 0) raise_status(st);
}

std::int64_t to_ns(double seconds) {
  if (!(seconds > 0)) return 0;
  if (seconds > 1e9) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(seconds * 1e9);
}

std::uint64_t monotonic_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

void add_exceptions(py::module_& m) {
  auto make = [&](const char* name, py::tuple bases, const char* doc) {
    const std::string full = std::string("zerocp.") + name;
    PyObject* t = PyErr_NewExceptionWithDoc(full.c_str(), doc, bases.ptr(), nullptr);
    if (t == nullptr) throw py::error_already_set();
    m.add_object(name, py::reinterpret_steal<py::object>(t));
    return t;
  };
  g_error = make("Error", py::make_tuple(py::handle(PyExc_Exception)),
                 "Base of every error zerocp raises; the message is the library's.");
  const py::handle base(g_error);
  g_closed = make("ClosedError", py::make_tuple(base),
                  "The object (or its sample or loan) was closed or released.");
  struct Spec {
    zcp_status status;
    const char* name;
    PyObject* extra;
    const char* doc;
  };
  const Spec specs[] = {
      {ZCP_ERR_INVALID_ARGUMENT, "InvalidArgument", PyExc_ValueError,
       "A bad name, size or option."},
      {ZCP_ERR_DAEMON_UNAVAILABLE, "DaemonUnavailable", PyExc_ConnectionError,
       "No diroute answers on the instance's socket."},
      {ZCP_ERR_VERSION_MISMATCH, "VersionMismatch", nullptr,
       "Daemon and library speak different versions."},
      {ZCP_ERR_REJECTED, "Rejected", nullptr, "The daemon refused the request."},
      {ZCP_ERR_DISCONNECTED, "Disconnected", PyExc_ConnectionError, "The daemon went away."},
      {ZCP_ERR_TIMEOUT, "Timeout", PyExc_TimeoutError,
       "No reply, or not done, within the timeout."},
      {ZCP_ERR_PROTOCOL, "ProtocolError", nullptr, "A malformed reply from the daemon."},
      {ZCP_ERR_SYSTEM, "SystemCallError", PyExc_OSError, "A system call failed."},
      {ZCP_ERR_POOL_EXHAUSTED, "PoolExhausted", nullptr, "No free chunk arrived within loan_wait."},
      {ZCP_ERR_WOULD_BLOCK, "WouldBlock", nullptr,
       "The publish ring is full; retry, or publish with a timeout."},
      {ZCP_ERR_TOO_LARGE, "TooLarge", PyExc_ValueError, "More than the publisher's chunk size."},
      {ZCP_ERR_TOO_MANY_LOANS, "TooManyLoans", nullptr, "max_loans loans are outstanding."},
      {ZCP_ERR_TOO_MANY_HELD, "TooManyHeld", nullptr,
       "max_held samples are held; release one first."},
      {ZCP_ERR_INVALID_HANDLE, "InvalidHandle", nullptr,
       "A loan or sample not held here (released twice, or another object's)."},
      {ZCP_ERR_NO_MEMORY, "OutOfMemory", PyExc_MemoryError, "The library could not allocate."},
  };
  for (const Spec& s : specs) {
    py::tuple bases =
        s.extra != nullptr ? py::make_tuple(base, py::handle(s.extra)) : py::make_tuple(base);
    g_by_status[-static_cast<int>(s.status)] = make(s.name, bases, s.doc);
  }
}

}  // namespace zcp_py
