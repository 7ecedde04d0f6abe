// The C ABI (include/zcp/zcp.h) over the C++ client: runtime, publisher, subscriber, errors.
//
// Every entry point is noexcept in effect: the C++ API returns errors as values, and the
// few calls that may throw (creating objects, std::string) are caught here and turned into
// a status, because an exception must never cross into C.
#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include <zcp/zcp.h>
#include <zcp/zcp.hpp>

#include "capi/c_error.hpp"
#include "capi/handle_table.hpp"

#ifndef ZCP_VERSION_STRING
#error "ZCP_VERSION_STRING is set by src/capi/CMakeLists.txt"
#endif

struct zcp_runtime {
  std::unique_ptr<zcp::Runtime> rt;
};

struct zcp_publisher {
  explicit zcp_publisher(zcp::Publisher<>&& p) noexcept : pub(std::move(p)) {}
  zcp::Publisher<> pub;
  // Declared after pub, so destroyed first: unpublished loans go back before the publisher.
  zcp::capi::HandleTable<zcp::Loan<>> loans;
};

struct zcp_subscriber {
  explicit zcp_subscriber(zcp::Subscriber<>&& s) noexcept : sub(std::move(s)) {}
  zcp::Subscriber<> sub;
  zcp::capi::HandleTable<zcp::Sample<>> samples;
};

namespace zcp::capi {
namespace {

struct LastError {
  zcp_status status = ZCP_OK;
  std::string message;
  const char* fallback = nullptr;  // used when message could not be stored
};
thread_local LastError t_last_error;

}  // namespace

zcp_status to_status(Errc code) noexcept {
  switch (code) {
    case Errc::kInvalidArgument:
      return ZCP_ERR_INVALID_ARGUMENT;
    case Errc::kDaemonUnavailable:
      return ZCP_ERR_DAEMON_UNAVAILABLE;
    case Errc::kVersionMismatch:
      return ZCP_ERR_VERSION_MISMATCH;
    case Errc::kRejected:
      return ZCP_ERR_REJECTED;
    case Errc::kDisconnected:
      return ZCP_ERR_DISCONNECTED;
    case Errc::kTimeout:
      return ZCP_ERR_TIMEOUT;
    case Errc::kProtocol:
      return ZCP_ERR_PROTOCOL;
    case Errc::kSystem:
      return ZCP_ERR_SYSTEM;
    case Errc::kPoolExhausted:
      return ZCP_ERR_POOL_EXHAUSTED;
    case Errc::kWouldBlock:
      return ZCP_ERR_WOULD_BLOCK;
    case Errc::kTooLarge:
      return ZCP_ERR_TOO_LARGE;
    case Errc::kTooManyLoans:
      return ZCP_ERR_TOO_MANY_LOANS;
    case Errc::kTooManyHeld:
      return ZCP_ERR_TOO_MANY_HELD;
  }
  return ZCP_ERR_SYSTEM;
}

zcp_status fail(zcp_status status, const char* message) noexcept {
  LastError& e = t_last_error;
  e.status = status;
  try {
    e.message.assign(message);
    e.fallback = nullptr;
  } catch (...) {
    e.fallback = zcp_status_name(status);
  }
  return status;
}

zcp_status fail(const Error& error) noexcept {
  return fail(to_status(error.code), error.message.c_str());
}

zcp_status fail_null(const char* function, const char* what) noexcept {
  LastError& e = t_last_error;
  e.status = ZCP_ERR_INVALID_ARGUMENT;
  try {
    e.message = std::string(function) + ": " + what + " is NULL";
    e.fallback = nullptr;
  } catch (...) {
    e.fallback = "ZCP_ERR_INVALID_ARGUMENT: a NULL argument";
  }
  return ZCP_ERR_INVALID_ARGUMENT;
}

}  // namespace zcp::capi

using zcp::capi::fail;
using zcp::capi::fail_null;

extern "C" {

int zcp_abi_version(void) {
  return ZCP_ABI_VERSION;
}

const char* zcp_version(void) {
  return ZCP_VERSION_STRING;
}

const char* zcp_status_name(zcp_status status) {
  switch (status) {
    case ZCP_OK:
      return "ZCP_OK";
    case ZCP_EMPTY:
      return "ZCP_EMPTY";
    case ZCP_ERR_INVALID_ARGUMENT:
      return "ZCP_ERR_INVALID_ARGUMENT";
    case ZCP_ERR_DAEMON_UNAVAILABLE:
      return "ZCP_ERR_DAEMON_UNAVAILABLE";
    case ZCP_ERR_VERSION_MISMATCH:
      return "ZCP_ERR_VERSION_MISMATCH";
    case ZCP_ERR_REJECTED:
      return "ZCP_ERR_REJECTED";
    case ZCP_ERR_DISCONNECTED:
      return "ZCP_ERR_DISCONNECTED";
    case ZCP_ERR_TIMEOUT:
      return "ZCP_ERR_TIMEOUT";
    case ZCP_ERR_PROTOCOL:
      return "ZCP_ERR_PROTOCOL";
    case ZCP_ERR_SYSTEM:
      return "ZCP_ERR_SYSTEM";
    case ZCP_ERR_POOL_EXHAUSTED:
      return "ZCP_ERR_POOL_EXHAUSTED";
    case ZCP_ERR_WOULD_BLOCK:
      return "ZCP_ERR_WOULD_BLOCK";
    case ZCP_ERR_TOO_LARGE:
      return "ZCP_ERR_TOO_LARGE";
    case ZCP_ERR_TOO_MANY_LOANS:
      return "ZCP_ERR_TOO_MANY_LOANS";
    case ZCP_ERR_TOO_MANY_HELD:
      return "ZCP_ERR_TOO_MANY_HELD";
    case ZCP_ERR_INVALID_HANDLE:
      return "ZCP_ERR_INVALID_HANDLE";
    case ZCP_ERR_NO_MEMORY:
      return "ZCP_ERR_NO_MEMORY";
  }
  return "ZCP_UNKNOWN";
}

const char* zcp_last_error(void) {
  const auto& e = zcp::capi::t_last_error;
  return e.fallback != nullptr ? e.fallback : e.message.c_str();
}

zcp_status zcp_last_status(void) {
  return zcp::capi::t_last_error.status;
}

// ---- Runtime -------------------------------------------------------------------------------

void zcp_runtime_options_init(zcp_runtime_options* o) {
  if (o == nullptr) return;
  const zcp::RuntimeOptions d;
  *o = zcp_runtime_options{};
  o->struct_size = sizeof(*o);
  o->name = nullptr;
  o->instance = nullptr;
  o->monitored = d.monitored;
  o->reconnect = d.reconnect;
  o->request_timeout_ms = static_cast<std::uint32_t>(d.request_timeout.count());
}

zcp_status zcp_runtime_connect(const zcp_runtime_options* o, zcp_runtime** out) {
  if (out == nullptr) return fail_null("zcp_runtime_connect", "out");
  *out = nullptr;
  try {
    zcp::RuntimeOptions options;
    if (o != nullptr) {
      if (o->struct_size == 0) {
        return fail(ZCP_ERR_INVALID_ARGUMENT,
                    "zcp_runtime_connect: options.struct_size is 0 (call "
                    "zcp_runtime_options_init first)");
      }
      if (ZCP_HAS_FIELD(o, name) && o->name != nullptr) options.name = o->name;
      if (ZCP_HAS_FIELD(o, instance) && o->instance != nullptr) options.instance = o->instance;
      if (ZCP_HAS_FIELD(o, monitored)) options.monitored = o->monitored;
      if (ZCP_HAS_FIELD(o, reconnect)) options.reconnect = o->reconnect;
      if (ZCP_HAS_FIELD(o, request_timeout_ms) && o->request_timeout_ms != 0) {
        options.request_timeout = std::chrono::milliseconds(o->request_timeout_ms);
      }
    }
    auto rt = zcp::Runtime::connect(std::move(options));
    if (!rt) return fail(rt.error());
    *out = new zcp_runtime{std::move(*rt)};
    return ZCP_OK;
  } catch (const std::bad_alloc&) {
    return fail(ZCP_ERR_NO_MEMORY, "zcp_runtime_connect: out of memory");
  }
}

void zcp_runtime_close(zcp_runtime* runtime) {
  delete runtime;
}

bool zcp_runtime_connected(const zcp_runtime* runtime) {
  return runtime != nullptr && runtime->rt->connected();
}

const char* zcp_runtime_name(const zcp_runtime* runtime) {
  return runtime != nullptr ? runtime->rt->name().c_str() : "";
}

const char* zcp_runtime_instance(const zcp_runtime* runtime) {
  return runtime != nullptr ? runtime->rt->instance().c_str() : "";
}

uint64_t zcp_runtime_reconnects(const zcp_runtime* runtime) {
  return runtime != nullptr ? runtime->rt->reconnects() : 0;
}

// ---- Publisher -----------------------------------------------------------------------------

void zcp_publisher_options_init(zcp_publisher_options* o) {
  if (o == nullptr) return;
  const zcp::PublisherOptions d;
  *o = zcp_publisher_options{};
  o->struct_size = sizeof(*o);
  o->history_depth = d.history_depth;
  o->max_loans = d.max_loans;
  o->max_payload = d.max_payload;
  o->loan_wait_ns = d.loan_wait.count();
  o->publish_timeout_ns = d.publish_timeout.count();
}

zcp_status zcp_publisher_create(zcp_runtime* runtime, const char* topic,
                                const zcp_publisher_options* o, zcp_publisher** out) {
  if (out == nullptr) return fail_null("zcp_publisher_create", "out");
  *out = nullptr;
  if (runtime == nullptr) return fail_null("zcp_publisher_create", "runtime");
  if (topic == nullptr) return fail_null("zcp_publisher_create", "topic");
  try {
    zcp::PublisherOptions options;
    if (o != nullptr) {
      if (o->struct_size == 0) {
        return fail(ZCP_ERR_INVALID_ARGUMENT,
                    "zcp_publisher_create: options.struct_size is 0 (call "
                    "zcp_publisher_options_init first)");
      }
      if (ZCP_HAS_FIELD(o, history_depth)) options.history_depth = o->history_depth;
      if (ZCP_HAS_FIELD(o, max_loans)) options.max_loans = o->max_loans;
      if (ZCP_HAS_FIELD(o, max_payload)) options.max_payload = o->max_payload;
      if (ZCP_HAS_FIELD(o, loan_wait_ns)) options.loan_wait = zcp::capi::to_ns(o->loan_wait_ns);
      if (ZCP_HAS_FIELD(o, publish_timeout_ns)) {
        options.publish_timeout = zcp::capi::to_ns(o->publish_timeout_ns);
      }
    }
    auto pub = zcp::Publisher<>::create(*runtime->rt, std::string_view(topic), options);
    if (!pub) return fail(pub.error());
    *out = new zcp_publisher(std::move(*pub));
    return ZCP_OK;
  } catch (const std::bad_alloc&) {
    return fail(ZCP_ERR_NO_MEMORY, "zcp_publisher_create: out of memory");
  }
}

void zcp_publisher_destroy(zcp_publisher* publisher) {
  delete publisher;
}

zcp_status zcp_publisher_loan(zcp_publisher* publisher, size_t size, zcp_loan* out) {
  if (out == nullptr) return fail_null("zcp_publisher_loan", "out");
  *out = zcp_loan{};
  if (publisher == nullptr) return fail_null("zcp_publisher_loan", "publisher");
  auto loan = publisher->pub.loan(size);
  if (!loan) return fail(loan.error());
  void* data = loan->data().data();
  const std::size_t capacity = loan->capacity();
  const std::uint64_t handle = publisher->loans.put(std::move(*loan));
  if (handle == 0) return fail(ZCP_ERR_NO_MEMORY, "zcp_publisher_loan: out of memory");
  *out = zcp_loan{data, size, capacity, handle};
  return ZCP_OK;
}

zcp_status zcp_publisher_publish(zcp_publisher* publisher, zcp_loan* loan) {
  if (publisher == nullptr) return fail_null("zcp_publisher_publish", "publisher");
  if (loan == nullptr) return fail_null("zcp_publisher_publish", "loan");
  zcp::Loan<>* held = publisher->loans.find(loan->handle);
  if (held == nullptr) {
    return fail(ZCP_ERR_INVALID_HANDLE,
                "zcp_publisher_publish: the loan is not held by this publisher (published or "
                "dropped already, or loaned by another publisher)");
  }
  if (!held->resize(loan->size)) {
    return fail(ZCP_ERR_TOO_LARGE, "zcp_publisher_publish: loan.size exceeds the loan's capacity");
  }
  if (auto r = publisher->pub.publish(std::move(*held)); !r) return fail(r.error());
  (void)publisher->loans.take(loan->handle);  // an empty Loan now: destroying it does nothing
  *loan = zcp_loan{};
  return ZCP_OK;
}

zcp_status zcp_publisher_drop(zcp_publisher* publisher, zcp_loan* loan) {
  if (publisher == nullptr) return fail_null("zcp_publisher_drop", "publisher");
  if (loan == nullptr) return fail_null("zcp_publisher_drop", "loan");
  if (!publisher->loans.take(loan->handle)) {
    return fail(ZCP_ERR_INVALID_HANDLE,
                "zcp_publisher_drop: the loan is not held by this publisher (published or "
                "dropped already, or loaned by another publisher)");
  }
  *loan = zcp_loan{};
  return ZCP_OK;
}

zcp_status zcp_publisher_publish_copy(zcp_publisher* publisher, const void* data, size_t size) {
  if (publisher == nullptr) return fail_null("zcp_publisher_publish_copy", "publisher");
  if (data == nullptr && size != 0) return fail_null("zcp_publisher_publish_copy", "data");
  auto r = publisher->pub.publish_copy(
      std::span<const std::byte>(static_cast<const std::byte*>(data), size));
  return r ? ZCP_OK : fail(r.error());
}

zcp_status zcp_publisher_flush(zcp_publisher* publisher, int64_t timeout_ns) {
  if (publisher == nullptr) return fail_null("zcp_publisher_flush", "publisher");
  auto r = publisher->pub.flush(zcp::capi::to_ns(timeout_ns));
  return r ? ZCP_OK : fail(r.error());
}

uint32_t zcp_publisher_id(const zcp_publisher* p) {
  return p != nullptr ? p->pub.id() : 0;
}
uint32_t zcp_publisher_subscriber_count(const zcp_publisher* p) {
  return p != nullptr ? p->pub.subscriber_count() : 0;
}
size_t zcp_publisher_max_payload(const zcp_publisher* p) {
  return p != nullptr ? p->pub.max_payload() : 0;
}
uint32_t zcp_publisher_max_loans(const zcp_publisher* p) {
  return p != nullptr ? p->pub.max_loans() : 0;
}
uint32_t zcp_publisher_history_depth(const zcp_publisher* p) {
  return p != nullptr ? p->pub.history_depth() : 0;
}
uint32_t zcp_publisher_loans_outstanding(const zcp_publisher* p) {
  return p != nullptr ? p->pub.loans_outstanding() : 0;
}
uint64_t zcp_publisher_published(const zcp_publisher* p) {
  return p != nullptr ? p->pub.published() : 0;
}
uint64_t zcp_publisher_lost(const zcp_publisher* p) {
  return p != nullptr ? p->pub.lost() : 0;
}
bool zcp_publisher_connected(const zcp_publisher* p) {
  return p != nullptr && p->pub.connected();
}

// ---- Subscriber ----------------------------------------------------------------------------

void zcp_subscriber_options_init(zcp_subscriber_options* o) {
  if (o == nullptr) return;
  const zcp::SubscriberOptions d;
  *o = zcp_subscriber_options{};
  o->struct_size = sizeof(*o);
  o->queue_capacity = d.queue_capacity;
  o->policy = static_cast<zcp_queue_policy>(d.policy);
  o->history_request = d.history_request;
  o->max_held = d.max_held;
}

static_assert(ZCP_DROP_OLDEST == static_cast<int>(zcp::QueuePolicy::kDropOldest));
static_assert(ZCP_DROP_NEWEST == static_cast<int>(zcp::QueuePolicy::kDropNewest));
static_assert(ZCP_BLOCK_PUBLISHER == static_cast<int>(zcp::QueuePolicy::kBlockPublisher));

zcp_status zcp_subscriber_create(zcp_runtime* runtime, const char* topic,
                                 const zcp_subscriber_options* o, zcp_subscriber** out) {
  if (out == nullptr) return fail_null("zcp_subscriber_create", "out");
  *out = nullptr;
  if (runtime == nullptr) return fail_null("zcp_subscriber_create", "runtime");
  if (topic == nullptr) return fail_null("zcp_subscriber_create", "topic");
  try {
    zcp::SubscriberOptions options;
    if (o != nullptr) {
      if (o->struct_size == 0) {
        return fail(ZCP_ERR_INVALID_ARGUMENT,
                    "zcp_subscriber_create: options.struct_size is 0 (call "
                    "zcp_subscriber_options_init first)");
      }
      if (ZCP_HAS_FIELD(o, queue_capacity)) options.queue_capacity = o->queue_capacity;
      if (ZCP_HAS_FIELD(o, policy)) {
        auto policy = zcp::queue_policy_from_value(
            static_cast<std::uint32_t>(zcp::capi::enum_value(o->policy)));
        if (!policy) {
          return fail(ZCP_ERR_INVALID_ARGUMENT,
                      "zcp_subscriber_create: options.policy is not a zcp_queue_policy");
        }
        options.policy = *policy;
      }
      if (ZCP_HAS_FIELD(o, history_request)) options.history_request = o->history_request;
      if (ZCP_HAS_FIELD(o, max_held)) options.max_held = o->max_held;
    }
    auto sub = zcp::Subscriber<>::create(*runtime->rt, std::string_view(topic), options);
    if (!sub) return fail(sub.error());
    *out = new zcp_subscriber(std::move(*sub));
    return ZCP_OK;
  } catch (const std::bad_alloc&) {
    return fail(ZCP_ERR_NO_MEMORY, "zcp_subscriber_create: out of memory");
  }
}

void zcp_subscriber_destroy(zcp_subscriber* subscriber) {
  delete subscriber;
}

zcp_status zcp_subscriber_take(zcp_subscriber* subscriber, zcp_sample* out) {
  if (out == nullptr) return fail_null("zcp_subscriber_take", "out");
  *out = zcp_sample{};
  if (subscriber == nullptr) return fail_null("zcp_subscriber_take", "subscriber");
  auto r = subscriber->sub.try_take();
  if (!r) return fail(r.error());
  if (!*r) return ZCP_EMPTY;
  zcp::Sample<>& s = **r;
  zcp_sample view{s.data().data(), s.size(), s.sequence(), s.timestamp_ns(), s.publisher_id(), 0};
  view.handle = subscriber->samples.put(std::move(s));
  if (view.handle == 0) return fail(ZCP_ERR_NO_MEMORY, "zcp_subscriber_take: out of memory");
  *out = view;
  return ZCP_OK;
}

zcp_status zcp_subscriber_release(zcp_subscriber* subscriber, zcp_sample* sample) {
  if (subscriber == nullptr) return fail_null("zcp_subscriber_release", "subscriber");
  if (sample == nullptr) return fail_null("zcp_subscriber_release", "sample");
  if (!subscriber->samples.take(sample->handle)) {
    return fail(ZCP_ERR_INVALID_HANDLE,
                "zcp_subscriber_release: the sample is not held by this subscriber (released "
                "already, or taken from another subscriber)");
  }
  *sample = zcp_sample{};
  return ZCP_OK;
}

zcp_status zcp_subscriber_wait(zcp_subscriber* subscriber, int64_t timeout_ns) {
  if (subscriber == nullptr) return fail_null("zcp_subscriber_wait", "subscriber");
  if (subscriber->sub.wait(zcp::capi::to_ns(timeout_ns))) return ZCP_OK;
  if (!subscriber->sub.connected() && !subscriber->sub.has_data()) {
    return fail(ZCP_ERR_DISCONNECTED, "zcp_subscriber_wait: no daemon serves this subscriber");
  }
  return ZCP_EMPTY;
}

bool zcp_subscriber_has_data(const zcp_subscriber* s) {
  return s != nullptr && s->sub.has_data();
}
int zcp_subscriber_fd(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.native_handle() : -1;
}
bool zcp_subscriber_prepare_wait(zcp_subscriber* s) {
  return s != nullptr && s->sub.prepare_wait();
}
void zcp_subscriber_finish_wait(zcp_subscriber* s) {
  if (s != nullptr) s->sub.finish_wait();
}
uint32_t zcp_subscriber_id(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.id() : 0;
}
uint64_t zcp_subscriber_dropped(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.dropped() : 0;
}
uint64_t zcp_subscriber_rejected(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.rejected() : 0;
}
uint64_t zcp_subscriber_lost(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.lost() : 0;
}
uint64_t zcp_subscriber_rebinds(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.rebinds() : 0;
}
uint32_t zcp_subscriber_held(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.held() : 0;
}
uint32_t zcp_subscriber_max_held(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.max_held() : 0;
}
uint32_t zcp_subscriber_queue_capacity(const zcp_subscriber* s) {
  return s != nullptr ? s->sub.queue_capacity() : 0;
}
bool zcp_subscriber_connected(const zcp_subscriber* s) {
  return s != nullptr && s->sub.connected();
}

}  // extern "C"
