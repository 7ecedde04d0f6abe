// zerocp._zerocp: the Python binding of libzcp, built on its C ABI (zcp/zcp.h) with pybind11.
// The Python package (python/zerocp/) re-exports it and adds the asyncio and zerocp.ipc layers.
// Files: this one (the module), binding.hpp (shared declarations and the buffer protocol),
// errors.cpp (exceptions), pubsub.cpp (Runtime, Publisher, Subscriber), broadcast.cpp (the
// native half of zerocp.ipc).
//
// Memory safety. Every Python object that exposes shared memory (Loan, Sample, Block,
// BlockLoan) holds a strong reference to the C object owning that memory (publisher,
// subscriber, broadcaster), which holds one to the runtime (the mapping). Closing a Runtime,
// Publisher or Subscriber from Python only detaches the Python object; the C object goes when
// the last loan or sample of it does. So no view can outlive its mapping, whatever the order
// of close() and del.
//
// Zero copy. Sample and Block give Python the buffer protocol over the chunk itself
// (read-only), so memoryview(), bytes() and numpy.frombuffer() see the shared memory. Their
// buffer slots are this file's own (not pybind11's def_buffer) because the chunk must stay
// held while any view exists: `exports` counts live views, a release() with views alive is
// completed by the last view's release. Loan and BlockLoan are writable, and refuse to be
// published or dropped while a view of them exists (BufferError): a view kept past publish()
// would write into a chunk that subscribers are reading.
//
// Threads. The GIL serialises every call but the waits, which release it. A subscriber is
// used by one thread at a time (as in C and C++); a second thread that calls it while one
// waits gets zerocp.Error instead of a race.
#include <pybind11/pybind11.h>

#include <zcp/zcp.h>

#include "binding.hpp"

PYBIND11_MODULE(_zerocp, m) {
  using namespace zcp_py;
  m.doc() = "zerocp's native binding (libzcp's C ABI); import zerocp instead.";
  add_exceptions(m);
  m.attr("ABI_VERSION") = zcp_abi_version();
  m.attr("LIBRARY_VERSION") = zcp_version();
  m.attr("BLOCK_SIZE") = ZCP_BLOCK_SIZE;
  m.attr("BLOCK_DATA_SIZE") = ZCP_BLOCK_DATA_SIZE;
  bind_pubsub(m);
  bind_broadcast(m);
}
