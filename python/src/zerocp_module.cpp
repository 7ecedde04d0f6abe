// zerocp._zerocp: the Python binding of libzcp, built on its C ABI (zcp/zcp.h) with pybind11.
// The Python package (python/zerocp/) re-exports it and adds the asyncio and zerocp.ipc layers.
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
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <zcp/zcp.h>

namespace py = pybind11;

namespace {

// ---- Errors ---------------------------------------------------------------------------------

PyObject* g_error = nullptr;   // zerocp.Error
PyObject* g_closed = nullptr;  // zerocp.ClosedError
PyObject* g_by_status[32] = {};

PyObject* error_type(zcp_status st) {
  const int i = -static_cast<int>(st);
  if (i > 0 && i < 32 && g_by_status[i] != nullptr) return g_by_status[i];
  return g_error;
}

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// Raises the exception of a failed C call, with the library's message.
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

// ---- C handles, shared by the Python objects that need them alive ----------------------------

struct RuntimeHandle {
  zcp_runtime* rt = nullptr;
  ~RuntimeHandle() { zcp_runtime_close(rt); }
};
struct PublisherHandle {
  std::shared_ptr<RuntimeHandle> runtime;
  zcp_publisher* pub = nullptr;
  ~PublisherHandle() { zcp_publisher_destroy(pub); }
};
struct SubscriberHandle {
  std::shared_ptr<RuntimeHandle> runtime;
  zcp_subscriber* sub = nullptr;
  bool waiting = false;  // a thread is in wait() without the GIL
  ~SubscriberHandle() { zcp_subscriber_destroy(sub); }
};
struct BroadcasterHandle {
  zcp_broadcaster* out = nullptr;
  ~BroadcasterHandle() { zcp_broadcaster_destroy(out); }
};
struct DataSubscriberHandle {
  zcp_data_subscriber* in = nullptr;
  bool waiting = false;
  ~DataSubscriberHandle() { zcp_data_subscriber_destroy(in); }
};

// ---- Buffer exporters --------------------------------------------------------------------

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

// ---- Runtime, Publisher, Loan ----------------------------------------------------------------

struct Publisher;
struct Subscriber;

struct Loan : Exporter<Loan> {
  static constexpr bool kReadOnly = false;
  static constexpr const char* kReleasedMessage = "the loan was published or dropped";
  std::shared_ptr<PublisherHandle> owner;
  zcp_loan loan{};

  bool region(void** data, std::size_t* size) const {
    if (loan.handle == 0) return false;
    *data = loan.data;
    *size = loan.size;
    return true;
  }
  void release_now() {}  // never deferred: publish/drop refuse while views exist
  void require_no_views(const char* what) const {
    if (exports != 0) {
      raise(PyExc_BufferError,
            std::string(what) + " with " + std::to_string(exports) +
                " view(s) of the loan still alive (a memoryview or numpy array made from it): "
                "delete them first, a view kept past publish() would write into a chunk that "
                "subscribers are reading");
    }
  }
  void drop() {
    if (loan.handle == 0) return;
    require_no_views("drop()");
    (void)zcp_publisher_drop(owner->pub, &loan);
    owner.reset();
  }
  ~Loan() {
    if (loan.handle != 0 && owner) (void)zcp_publisher_drop(owner->pub, &loan);
  }
};

struct Publisher {
  std::shared_ptr<PublisherHandle> h;

  PublisherHandle& live() const {
    if (!h) raise(g_closed, "the publisher is closed");
    return *h;
  }
  std::unique_ptr<Loan> loan(std::size_t size) {
    PublisherHandle& p = live();
    auto l = std::make_unique<Loan>();
    check(zcp_publisher_loan(p.pub, size, &l->loan));
    l->owner = h;
    return l;
  }
  void publish(Loan& l, std::optional<std::size_t> size) {
    PublisherHandle& p = live();
    if (l.loan.handle == 0)
      raise(error_type(ZCP_ERR_INVALID_HANDLE), "the loan was already published or dropped");
    if (l.owner != h)
      raise(error_type(ZCP_ERR_INVALID_HANDLE), "the loan belongs to another publisher");
    l.require_no_views("publish()");
    if (size) l.loan.size = *size;
    check(zcp_publisher_publish(p.pub, &l.loan));
    l.owner.reset();
  }
  void publish_copy(const py::buffer& data) {
    PublisherHandle& p = live();
    py::buffer_info info = data.request();
    if (!PyBuffer_IsContiguous(info.view(), 'C'))
      raise(PyExc_ValueError, "publish_copy: the buffer is not contiguous");
    check(zcp_publisher_publish_copy(p.pub, info.ptr,
                                     static_cast<std::size_t>(info.size * info.itemsize)));
  }
  void flush(double timeout) {
    auto keep = h;
    if (!keep) raise(g_closed, "the publisher is closed");
    zcp_status st;
    {
      py::gil_scoped_release nogil;
      st = zcp_publisher_flush(keep->pub, to_ns(timeout));
    }
    check(st);
  }
  void close() { h.reset(); }
};

struct Sample : Exporter<Sample> {
  static constexpr bool kReadOnly = true;
  static constexpr const char* kReleasedMessage = "the sample was released";
  std::shared_ptr<SubscriberHandle> owner;
  zcp_sample sample{};
  // Kept after release, so that sequence & co stay readable.
  std::size_t size = 0;
  std::uint64_t sequence = 0, timestamp_ns = 0;
  std::uint32_t publisher_id = 0;

  bool region(void** data, std::size_t* sz) const {
    if (sample.handle == 0 || release_pending) return false;
    *data = const_cast<void*>(sample.data);
    *sz = sample.size;
    return true;
  }
  void release_now() {
    if (sample.handle != 0 && owner) (void)zcp_subscriber_release(owner->sub, &sample);
    sample = zcp_sample{};
    owner.reset();
    release_pending = false;
  }
  ~Sample() { release_now(); }
};

struct Subscriber {
  std::shared_ptr<SubscriberHandle> h;

  SubscriberHandle& live() const {
    if (!h) raise(g_closed, "the subscriber is closed");
    if (h->waiting)
      raise(g_error,
            "the subscriber is waiting in another thread (a subscriber is used by one thread at a "
            "time)");
    return *h;
  }
  // A sample, or nullptr when nothing is queued (also while the daemon is away).
  std::unique_ptr<Sample> take() {
    SubscriberHandle& s = live();
    auto out = std::make_unique<Sample>();
    const zcp_status st = zcp_subscriber_take(s.sub, &out->sample);
    if (st == ZCP_EMPTY || st == ZCP_ERR_DISCONNECTED) return nullptr;
    check(st);
    out->owner = h;
    out->size = out->sample.size;
    out->sequence = out->sample.sequence;
    out->timestamp_ns = out->sample.timestamp_ns;
    out->publisher_id = out->sample.publisher_id;
    return out;
  }
  // take(), waiting up to timeout seconds (None: forever) without the GIL; Ctrl-C interrupts.
  std::unique_ptr<Sample> receive(std::optional<double> timeout) {
    const std::uint64_t start = monotonic_ns();
    const std::uint64_t limit = timeout ? static_cast<std::uint64_t>(to_ns(*timeout)) : UINT64_MAX;
    for (;;) {
      if (auto s = take()) return s;
      const std::uint64_t spent = monotonic_ns() - start;
      if (spent >= limit) return nullptr;
      // Slices of at most 100 ms, so a signal (KeyboardInterrupt) is seen promptly.
      const std::int64_t slice =
          static_cast<std::int64_t>(std::min<std::uint64_t>(limit - spent, 100'000'000));
      auto keep = h;
      keep->waiting = true;
      zcp_status st;
      {
        py::gil_scoped_release nogil;
        st = zcp_subscriber_wait(keep->sub, slice);
        if (st == ZCP_ERR_DISCONNECTED) {
          // The runtime is reconnecting: look again after a short pause.
          std::this_thread::sleep_for(
              std::chrono::nanoseconds(std::min<std::int64_t>(slice, 20'000'000)));
        }
      }
      keep->waiting = false;
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    }
  }
  void close() { h.reset(); }
};

struct Runtime {
  std::shared_ptr<RuntimeHandle> h;
  std::vector<std::weak_ptr<Publisher>> publishers;
  std::vector<std::weak_ptr<Subscriber>> subscribers;

  RuntimeHandle& live() const {
    if (!h) raise(g_closed, "the runtime is closed");
    return *h;
  }
  template <class T>
  static void prune(std::vector<std::weak_ptr<T>>& v) {
    std::erase_if(v, [](const auto& w) { return w.expired(); });
  }
  std::shared_ptr<Publisher> publisher(const std::string& topic, std::uint32_t max_payload,
                                       std::uint32_t history, std::uint32_t max_loans,
                                       std::optional<double> loan_wait, double publish_timeout) {
    RuntimeHandle& r = live();
    zcp_publisher_options o;
    zcp_publisher_options_init(&o);
    o.max_payload = max_payload;
    o.history_depth = history;
    o.max_loans = max_loans;
    if (loan_wait) o.loan_wait_ns = to_ns(*loan_wait);
    o.publish_timeout_ns = to_ns(publish_timeout);
    auto handle = std::make_shared<PublisherHandle>();
    handle->runtime = h;
    check(zcp_publisher_create(r.rt, topic.c_str(), &o, &handle->pub));
    auto p = std::make_shared<Publisher>();
    p->h = std::move(handle);
    prune(publishers);
    publishers.push_back(p);
    return p;
  }
  std::shared_ptr<Subscriber> subscriber(const std::string& topic, const std::string& policy,
                                         std::uint32_t queue_capacity, std::uint32_t history,
                                         std::uint32_t max_held) {
    RuntimeHandle& r = live();
    zcp_subscriber_options o;
    zcp_subscriber_options_init(&o);
    if (policy == "drop_oldest") {
      o.policy = ZCP_DROP_OLDEST;
    } else if (policy == "drop_newest") {
      o.policy = ZCP_DROP_NEWEST;
    } else if (policy == "block_publisher") {
      o.policy = ZCP_BLOCK_PUBLISHER;
    } else {
      raise(
          error_type(ZCP_ERR_INVALID_ARGUMENT),
          "policy must be 'drop_oldest', 'drop_newest' or 'block_publisher', not '" + policy + "'");
    }
    o.queue_capacity = queue_capacity;
    o.history_request = history;
    o.max_held = max_held;
    auto handle = std::make_shared<SubscriberHandle>();
    handle->runtime = h;
    check(zcp_subscriber_create(r.rt, topic.c_str(), &o, &handle->sub));
    auto s = std::make_shared<Subscriber>();
    s->h = std::move(handle);
    prune(subscribers);
    subscribers.push_back(s);
    return s;
  }
  // Detaches this runtime and every publisher and subscriber made from it; the C objects go
  // when their last loan or sample does.
  void close() {
    for (auto& w : publishers)
      if (auto p = w.lock()) p->close();
    for (auto& w : subscribers)
      if (auto s = w.lock()) s->close();
    publishers.clear();
    subscribers.clear();
    h.reset();
  }
};

std::shared_ptr<Runtime> connect(const std::string& name, std::optional<std::string> instance,
                                 bool reconnect, bool monitored, double request_timeout) {
  zcp_runtime_options o;
  zcp_runtime_options_init(&o);
  o.name = name.c_str();
  o.instance = instance ? instance->c_str() : nullptr;
  o.reconnect = reconnect;
  o.monitored = monitored;
  o.request_timeout_ms = static_cast<std::uint32_t>(to_ns(request_timeout) / 1'000'000);
  auto handle = std::make_shared<RuntimeHandle>();
  zcp_status st;
  {
    py::gil_scoped_release nogil;
    st = zcp_runtime_connect(&o, &handle->rt);
  }
  check(st);
  auto rt = std::make_shared<Runtime>();
  rt->h = std::move(handle);
  return rt;
}

// ---- The broadcast API (zerocp.ipc builds on these) --------------------------------------------

struct BlockLoan : Exporter<BlockLoan> {
  static constexpr bool kReadOnly = false;
  static constexpr const char* kReleasedMessage = "the block loan was published or dropped";
  std::shared_ptr<BroadcasterHandle> owner;
  zcp_block_loan loan{};

  bool region(void** data, std::size_t* size) const {
    if (loan.handle == 0) return false;
    *data = loan.block;
    *size = sizeof(zcp_market_block);
    return true;
  }
  void release_now() {}
  void drop() {
    if (loan.handle == 0) return;
    if (exports != 0)
      raise(PyExc_BufferError,
            "drop() with views of the block loan still alive: delete them first");
    (void)zcp_broadcaster_drop_block(owner->out, &loan);
    owner.reset();
  }
  ~BlockLoan() {
    if (loan.handle != 0 && owner) (void)zcp_broadcaster_drop_block(owner->out, &loan);
  }
};

struct Block : Exporter<Block> {
  static constexpr bool kReadOnly = true;
  static constexpr const char* kReleasedMessage = "the block was released";
  std::shared_ptr<DataSubscriberHandle> owner;
  zcp_block block{};
  std::uint64_t sequence = 0;
  std::uint32_t publisher_id = 0;

  bool region(void** data, std::size_t* size) const {
    if (block.handle == 0 || release_pending) return false;
    *data = const_cast<zcp_market_block*>(block.block);
    *size = sizeof(zcp_market_block);
    return true;
  }
  void release_now() {
    if (block.handle != 0 && owner) (void)zcp_data_subscriber_release(owner->in, &block);
    block = zcp_block{};
    owner.reset();
    release_pending = false;
  }
  ~Block() { release_now(); }
};

zcp_broadcast_config config_from(const py::dict& d, std::string& service, std::string& instance) {
  zcp_broadcast_config c;
  check(zcp_broadcast_config_preset(ZCP_PRESET_DEFAULT, &c));
  service = d["service_name"].cast<std::string>();
  instance = d["instance_name"].cast<std::string>();
  c.service_name = service.c_str();
  c.instance_name = instance.c_str();
  c.queue_capacity = d["queue_capacity"].cast<std::uint32_t>();
  c.queue_policy = static_cast<zcp_queue_policy>(d["queue_policy"].cast<int>());
  c.max_held = d["max_held"].cast<std::uint32_t>();
  c.wait_spin_ns = to_ns(d["wait_spin"].cast<double>());
  c.history_size = d["history_size"].cast<std::uint32_t>();
  c.max_loans = d["max_loans"].cast<std::uint32_t>();
  c.loan_wait_ns = to_ns(d["loan_wait"].cast<double>());
  c.publish_timeout_ns = to_ns(d["publish_timeout"].cast<double>());
  return c;
}

py::dict preset(int which) {
  zcp_broadcast_config c;
  check(zcp_broadcast_config_preset(static_cast<zcp_broadcast_preset>(which), &c));
  py::dict d;
  d["service_name"] = c.service_name;
  d["instance_name"] = c.instance_name;
  d["queue_capacity"] = c.queue_capacity;
  d["queue_policy"] = static_cast<int>(c.queue_policy);
  d["max_held"] = c.max_held;
  d["wait_spin"] = static_cast<double>(c.wait_spin_ns) / 1e9;
  d["history_size"] = c.history_size;
  d["max_loans"] = c.max_loans;
  d["loan_wait"] = static_cast<double>(c.loan_wait_ns) / 1e9;
  d["publish_timeout"] = static_cast<double>(c.publish_timeout_ns) / 1e9;
  return d;
}

struct Broadcaster {
  std::shared_ptr<BroadcasterHandle> h;
  BroadcasterHandle& live() const {
    if (!h) raise(g_closed, "the broadcaster is closed");
    return *h;
  }
  void broadcast(const py::buffer& data, std::uint64_t records, int type) {
    BroadcasterHandle& b = live();
    py::buffer_info info = data.request();
    check(zcp_broadcaster_broadcast(b.out, info.ptr,
                                    static_cast<std::size_t>(info.size * info.itemsize), records,
                                    static_cast<zcp_market_data_type>(type)));
  }
  std::size_t broadcast_batch(const py::buffer& data, std::uint64_t records, int type) {
    BroadcasterHandle& b = live();
    py::buffer_info info = data.request();
    std::size_t sent = 0;
    const zcp_status st = zcp_broadcaster_broadcast_batch(
        b.out, info.ptr, static_cast<std::size_t>(info.size * info.itemsize), records,
        static_cast<zcp_market_data_type>(type), &sent);
    if (st < 0 && sent == 0) raise_status(st);
    return sent;
  }
  std::unique_ptr<BlockLoan> loan_block() {
    BroadcasterHandle& b = live();
    auto l = std::make_unique<BlockLoan>();
    check(zcp_broadcaster_loan_block(b.out, &l->loan));
    l->owner = h;
    return l;
  }
  void publish_block(BlockLoan& l) {
    BroadcasterHandle& b = live();
    if (l.loan.handle == 0)
      raise(error_type(ZCP_ERR_INVALID_HANDLE), "the block loan was already published or dropped");
    if (l.owner != h)
      raise(error_type(ZCP_ERR_INVALID_HANDLE), "the block loan belongs to another broadcaster");
    if (l.exports != 0)
      raise(PyExc_BufferError,
            "publish_block() with views of the block loan still alive: delete them first");
    check(zcp_broadcaster_publish_block(b.out, &l.loan));
    l.owner.reset();
  }
  py::dict stats() const {
    zcp_broadcast_stats s;
    check(zcp_broadcaster_stats(live().out, &s));
    py::dict d;
    d["blocks_sent"] = s.blocks_sent;
    d["records_sent"] = s.records_sent;
    d["bytes_sent"] = s.bytes_sent;
    d["failed_loans"] = s.failed_loans;
    d["blocked_publishes"] = s.blocked_publishes;
    d["failed_publishes"] = s.failed_publishes;
    d["rejected_calls"] = s.rejected_calls;
    d["subscriber_count"] = s.subscriber_count;
    return d;
  }
  void close() { h.reset(); }
};

struct DataSubscriber {
  std::shared_ptr<DataSubscriberHandle> h;
  DataSubscriberHandle& live() const {
    if (!h) raise(g_closed, "the data subscriber is closed");
    if (h->waiting) raise(g_error, "the data subscriber is waiting in another thread");
    return *h;
  }
  std::unique_ptr<Block> receive_block() {
    DataSubscriberHandle& s = live();
    auto out = std::make_unique<Block>();
    const zcp_status st = zcp_data_subscriber_receive_block(s.in, &out->block);
    if (st == ZCP_EMPTY) return nullptr;
    check(st);
    out->owner = h;
    out->sequence = out->block.sequence;
    out->publisher_id = out->block.publisher_id;
    return out;
  }
  bool wait(double timeout) {
    live();
    auto keep = h;
    const std::uint64_t start = monotonic_ns();
    const std::uint64_t limit = static_cast<std::uint64_t>(to_ns(timeout));
    for (;;) {
      const std::uint64_t spent = monotonic_ns() - start;
      const std::int64_t slice = static_cast<std::int64_t>(
          std::min<std::uint64_t>(limit - std::min(spent, limit), 100'000'000));
      keep->waiting = true;
      zcp_status st;
      {
        py::gil_scoped_release nogil;
        st = zcp_data_subscriber_wait(keep->in, slice);
      }
      keep->waiting = false;
      if (st == ZCP_OK) return true;
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (monotonic_ns() - start >= limit) return false;
    }
  }
  py::dict stats() const {
    zcp_receive_stats s;
    check(zcp_data_subscriber_stats(h ? h->in : nullptr, &s));
    py::dict d;
    d["blocks_received"] = s.blocks_received;
    d["records_received"] = s.records_received;
    d["bytes_received"] = s.bytes_received;
    d["sequence_gaps"] = s.sequence_gaps;
    d["gap_events"] = s.gap_events;
    d["queue_drops"] = s.queue_drops;
    d["malformed_blocks"] = s.malformed_blocks;
    d["held_limit_hits"] = s.held_limit_hits;
    return d;
  }
  void close() { h.reset(); }
};

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

}  // namespace

PYBIND11_MODULE(_zerocp, m) {
  m.doc() = "zerocp's native binding (libzcp's C ABI); import zerocp instead.";
  add_exceptions(m);
  m.attr("ABI_VERSION") = zcp_abi_version();
  m.attr("LIBRARY_VERSION") = zcp_version();
  m.attr("BLOCK_SIZE") = ZCP_BLOCK_SIZE;
  m.attr("BLOCK_DATA_SIZE") = ZCP_BLOCK_DATA_SIZE;

  py::class_<Runtime, std::shared_ptr<Runtime>>(m, "Runtime",
                                                "A process's connection to one diroute instance.")
      .def_static("connect", &connect, py::arg("name") = "", py::arg("instance") = py::none(),
                  py::arg("reconnect") = true, py::arg("monitored") = true,
                  py::arg("request_timeout") = 2.0,
                  "Connects to the diroute of `instance` ($ZCP_INSTANCE, else 'default').")
      .def("publisher", &Runtime::publisher, py::arg("topic"), py::arg("max_payload") = 0,
           py::arg("history") = 0, py::arg("max_loans") = 0, py::arg("loan_wait") = py::none(),
           py::arg("publish_timeout") = 0.0, "A publisher on 'service/instance/event'.")
      .def("subscriber", &Runtime::subscriber, py::arg("topic"), py::arg("policy") = "drop_oldest",
           py::arg("queue_capacity") = 0, py::arg("history") = 0, py::arg("max_held") = 0,
           "A subscriber on 'service/instance/event'.")
      .def("close", &Runtime::close, "Closes the runtime and its publishers and subscribers.")
      .def_property_readonly(
          "name", [](const Runtime& r) { return std::string(zcp_runtime_name(r.live().rt)); })
      .def_property_readonly(
          "instance",
          [](const Runtime& r) { return std::string(zcp_runtime_instance(r.live().rt)); })
      .def_property_readonly("connected",
                             [](const Runtime& r) { return r.h && zcp_runtime_connected(r.h->rt); })
      .def_property_readonly("reconnects",
                             [](const Runtime& r) { return zcp_runtime_reconnects(r.live().rt); })
      .def_property_readonly("closed", [](const Runtime& r) { return !r.h; });

  py::class_<Loan> loan(m, "Loan", py::buffer_protocol(),
                        "A writable chunk of shared memory, to publish once.");
  loan.def("drop", &Loan::drop, "Gives the chunk back unpublished.")
      .def("__len__", [](const Loan& l) { return l.loan.size; })
      .def_property(
          "size", [](const Loan& l) { return l.loan.size; },
          [](Loan& l, std::size_t n) {
            if (n > l.loan.capacity)
              raise(error_type(ZCP_ERR_TOO_LARGE), "size exceeds the loan's capacity");
            l.loan.size = n;
          })
      .def_property_readonly("capacity", [](const Loan& l) { return l.loan.capacity; })
      .def_property_readonly("valid", [](const Loan& l) { return l.loan.handle != 0; });
  install_buffer_slots<Loan>(loan);

  py::class_<Publisher, std::shared_ptr<Publisher>>(m, "Publisher",
                                                    "Publishes messages of one topic.")
      .def("loan", &Publisher::loan, py::arg("size"))
      .def("publish", &Publisher::publish, py::arg("loan"), py::arg("size") = py::none())
      .def("publish_copy", &Publisher::publish_copy, py::arg("data"))
      .def("flush", &Publisher::flush, py::arg("timeout") = 1.0)
      .def("close", &Publisher::close)
      .def_property_readonly("id",
                             [](const Publisher& p) { return zcp_publisher_id(p.live().pub); })
      .def_property_readonly(
          "max_payload", [](const Publisher& p) { return zcp_publisher_max_payload(p.live().pub); })
      .def_property_readonly(
          "max_loans", [](const Publisher& p) { return zcp_publisher_max_loans(p.live().pub); })
      .def_property_readonly(
          "history", [](const Publisher& p) { return zcp_publisher_history_depth(p.live().pub); })
      .def_property_readonly(
          "subscriber_count",
          [](const Publisher& p) { return zcp_publisher_subscriber_count(p.live().pub); })
      .def_property_readonly(
          "loans_outstanding",
          [](const Publisher& p) { return zcp_publisher_loans_outstanding(p.live().pub); })
      .def_property_readonly(
          "published", [](const Publisher& p) { return zcp_publisher_published(p.live().pub); })
      .def_property_readonly("lost",
                             [](const Publisher& p) { return zcp_publisher_lost(p.live().pub); })
      .def_property_readonly(
          "connected", [](const Publisher& p) { return p.h && zcp_publisher_connected(p.h->pub); })
      .def_property_readonly("closed", [](const Publisher& p) { return !p.h; });

  py::class_<Sample> sample(m, "Sample", py::buffer_protocol(),
                            "A received message, read in place.");
  sample
      .def("release", &Sample::release, "Gives the chunk back (once the last view of it is gone).")
      .def("__len__", [](const Sample& s) { return s.size; })
      .def_readonly("size", &Sample::size)
      .def_readonly("sequence", &Sample::sequence)
      .def_readonly("timestamp_ns", &Sample::timestamp_ns)
      .def_readonly("publisher_id", &Sample::publisher_id)
      .def_property_readonly(
          "released", [](const Sample& s) { return s.sample.handle == 0 || s.release_pending; })
      .def_property_readonly("_address", [](const Sample& s) {
        return reinterpret_cast<std::uintptr_t>(s.sample.data);
      });
  install_buffer_slots<Sample>(sample);

  py::class_<Subscriber, std::shared_ptr<Subscriber>>(m, "Subscriber",
                                                      "Receives the messages of one topic.")
      .def("take", &Subscriber::take)
      .def("receive", &Subscriber::receive, py::arg("timeout") = py::none())
      .def("close", &Subscriber::close)
      .def("fileno", [](const Subscriber& s) { return zcp_subscriber_fd(s.live().sub); })
      .def("_prepare_wait", [](Subscriber& s) { return zcp_subscriber_prepare_wait(s.live().sub); })
      .def("_finish_wait", [](Subscriber& s) { zcp_subscriber_finish_wait(s.live().sub); })
      .def_property_readonly("id",
                             [](const Subscriber& s) { return zcp_subscriber_id(s.live().sub); })
      .def_property_readonly(
          "dropped", [](const Subscriber& s) { return zcp_subscriber_dropped(s.live().sub); })
      .def_property_readonly(
          "rejected", [](const Subscriber& s) { return zcp_subscriber_rejected(s.live().sub); })
      .def_property_readonly("lost",
                             [](const Subscriber& s) { return zcp_subscriber_lost(s.live().sub); })
      .def_property_readonly(
          "rebinds", [](const Subscriber& s) { return zcp_subscriber_rebinds(s.live().sub); })
      .def_property_readonly("held",
                             [](const Subscriber& s) { return zcp_subscriber_held(s.live().sub); })
      .def_property_readonly(
          "max_held", [](const Subscriber& s) { return zcp_subscriber_max_held(s.live().sub); })
      .def_property_readonly(
          "queue_capacity",
          [](const Subscriber& s) { return zcp_subscriber_queue_capacity(s.live().sub); })
      .def_property_readonly(
          "has_data", [](const Subscriber& s) { return zcp_subscriber_has_data(s.live().sub); })
      .def_property_readonly(
          "connected",
          [](const Subscriber& s) { return s.h && zcp_subscriber_connected(s.h->sub); })
      .def_property_readonly("closed", [](const Subscriber& s) { return !s.h; });

  // The broadcast API's native half.
  m.def("_broadcast_preset", &preset, py::arg("preset"));
  m.def("_broadcast_initialize_runtime", [](const std::string& app_name) {
    zcp_status st;
    {
      py::gil_scoped_release nogil;
      st = zcp_broadcast_initialize_runtime(app_name.c_str());
    }
    check(st);
  });
  m.def("_broadcast_shutdown_runtime", [] { zcp_broadcast_shutdown_runtime(); });
  m.def("_broadcaster", [](const py::dict& config, const std::string& stream) {
    std::string service, instance;
    const zcp_broadcast_config c = config_from(config, service, instance);
    auto b = std::make_unique<Broadcaster>();
    b->h = std::make_shared<BroadcasterHandle>();
    check(zcp_broadcaster_create(&c, stream.c_str(), &b->h->out));
    return b;
  });
  m.def("_data_subscriber", [](const py::dict& config, const std::string& stream) {
    std::string service, instance;
    const zcp_broadcast_config c = config_from(config, service, instance);
    auto s = std::make_unique<DataSubscriber>();
    s->h = std::make_shared<DataSubscriberHandle>();
    check(zcp_data_subscriber_create(&c, stream.c_str(), &s->h->in));
    return s;
  });

  py::class_<BlockLoan> block_loan(m, "_BlockLoan", py::buffer_protocol());
  block_loan.def("drop", &BlockLoan::drop).def_property_readonly("valid", [](const BlockLoan& l) {
    return l.loan.handle != 0;
  });
  install_buffer_slots<BlockLoan>(block_loan);
  py::class_<Block> block(m, "_Block", py::buffer_protocol());
  block.def("release", &Block::release)
      .def_readonly("sequence", &Block::sequence)
      .def_readonly("publisher_id", &Block::publisher_id)
      .def_property_readonly(
          "released", [](const Block& b) { return b.block.handle == 0 || b.release_pending; });
  install_buffer_slots<Block>(block);

  py::class_<Broadcaster>(m, "_Broadcaster")
      .def("broadcast", &Broadcaster::broadcast)
      .def("broadcast_batch", &Broadcaster::broadcast_batch)
      .def("loan_block", &Broadcaster::loan_block)
      .def("publish_block", &Broadcaster::publish_block)
      .def("stats", &Broadcaster::stats)
      .def("close", &Broadcaster::close);
  py::class_<DataSubscriber>(m, "_DataSubscriber")
      .def("receive_block", &DataSubscriber::receive_block)
      .def("wait", &DataSubscriber::wait)
      .def("fileno", [](const DataSubscriber& s) { return zcp_data_subscriber_fd(s.live().in); })
      .def("stats", &DataSubscriber::stats)
      .def("close", &DataSubscriber::close);
}
