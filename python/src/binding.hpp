// The pieces of the zerocp Python binding that its files share: the error channel (Python
// exceptions from zcp_status), time conversions, and the buffer protocol of the objects that
// lend shared memory (Exporter). zerocp_module.cpp has the design notes.
#pragma once

#include <cstdint>
#include <string>

#include <pybind11/pybind11.h>

#include <zcp/zcp.h>

namespace zcp_py {

namespace py = pybind11;

// zerocp.Error and zerocp.ClosedError (made by add_exceptions()).
extern PyObject* g_error;
extern PyObject* g_closed;

// The exception type of a status (zerocp.Error for one without its own).
PyObject* error_type(zcp_status st);
[[noreturn]] void raise(PyObject* type, const std::string& message);
// Raises the exception of a failed C call, with the library's message.
[[noreturn]] void raise_status(zcp_status st);
// Raises if st is an error.
void check(zcp_status st);
// Seconds (Python) as nanoseconds (C); not positive: 0.
std::int64_t to_ns(double seconds);
std::uint64_t monotonic_ns();

// zerocp.Error and its subclasses, one per status, into the module.
void add_exceptions(py::module_& m);
// The classes of each part of the binding.
void bind_pubsub(py::module_& m);
void bind_broadcast(py::module_& m);

// ---- Buffer exporters ---------------------------------------------------------------------

// What a buffer-protocol object lends: its region, whether it is writable, and how many
// views of it are alive. Derived provides region() and release_now().
template <class Derived>
struct Exporter {
  int exports = 0;
  bool release_pending = false;
  // The chunk goes back now, or when the last view of it is released.
  void release() {
    if (exports > 0) {
      release_pending = true;
    } else {
      static_cast<Derived*>(this)->release_now();
    }
  }
};

template <class T>
int get_buffer(PyObject* self, Py_buffer* view, int flags) {
  T* obj = nullptr;
  try {
    obj = py::handle(self).cast<T*>();
  } catch (...) {
    PyErr_SetString(PyExc_BufferError, "zerocp: not a buffer object");
    return -1;
  }
  void* data = nullptr;
  std::size_t size = 0;
  if (!obj->region(&data, &size)) {
    PyErr_SetString(g_closed, T::kReleasedMessage);
    view->obj = nullptr;
    return -1;
  }
  if (PyBuffer_FillInfo(view, self, data, static_cast<Py_ssize_t>(size), T::kReadOnly ? 1 : 0,
                        flags) != 0) {
    return -1;  // e.g. a writable view of a read-only sample: BufferError
  }
  ++obj->exports;
  return 0;
}

template <class T>
void release_buffer(PyObject* self, Py_buffer*) {
  T* obj = py::handle(self).cast<T*>();
  if (--obj->exports == 0 && obj->release_pending) obj->release_now();
}

template <class T, class Cls>
void install_buffer_slots(Cls& cls) {
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  type->tp_as_buffer->bf_getbuffer = &get_buffer<T>;
  type->tp_as_buffer->bf_releasebuffer = &release_buffer<T>;
}

}  // namespace zcp_py
