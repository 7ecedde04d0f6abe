// Runtime, Publisher (with its Loans) and Subscriber (with its Samples) for Python, on the C
// ABI. The memory-safety rules are in zerocp_module.cpp's header.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pybind11/stl.h>

#include "binding.hpp"

namespace zcp_py {
namespace {

// C handles, shared by the Python objects that need them alive.
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
    zcp_sample taken;
    const zcp_status st = zcp_subscriber_take(s.sub, &taken);
    if (st == ZCP_EMPTY || st == ZCP_ERR_DISCONNECTED) return nullptr;  // no allocation
    check(st);
    std::unique_ptr<Sample> out(new (std::nothrow) Sample);
    if (!out) {
      (void)zcp_subscriber_release(s.sub, &taken);
      throw std::bad_alloc();
    }
    out->sample = taken;
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

}  // namespace

void bind_pubsub(py::module_& m) {
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
}

}  // namespace zcp_py
