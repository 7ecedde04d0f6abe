// The native half of zerocp.ipc (seed 004's broadcast API): broadcasters, data subscribers,
// and the block loans and blocks they lend, on the C ABI.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <string>

#include <pybind11/stl.h>

#include "binding.hpp"

namespace zcp_py {
namespace {

struct BroadcasterHandle {
  zcp_broadcaster* out = nullptr;
  ~BroadcasterHandle() { zcp_broadcaster_destroy(out); }
};
struct DataSubscriberHandle {
  zcp_data_subscriber* in = nullptr;
  bool waiting = false;
  ~DataSubscriberHandle() { zcp_data_subscriber_destroy(in); }
};

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
    zcp_block taken;
    const zcp_status st = zcp_data_subscriber_receive_block(s.in, &taken);
    if (st == ZCP_EMPTY) return nullptr;  // no allocation
    check(st);
    std::unique_ptr<Block> out(new (std::nothrow) Block);
    if (!out) {
      (void)zcp_data_subscriber_release(s.in, &taken);
      throw std::bad_alloc();
    }
    out->block = taken;
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

}  // namespace

void bind_broadcast(py::module_& m) {
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

}  // namespace zcp_py
