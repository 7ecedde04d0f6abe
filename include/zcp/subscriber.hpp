// zcp::Subscriber: receives a topic's messages in place, from its own queue in shared memory.
//
//   auto sub = zcp::Subscriber<>::create(*rt, "md/feed/ticks", {.queue_capacity = 1024});
//   for (;;) {
//     while (auto s = sub->take()) handle(s->data(), s->sequence());   // no copy
//     sub->wait(std::chrono::milliseconds(100));                       // sleep on the eventfd
//   }
//
// Naming: `Subscriber<>` (= Subscriber<void>) receives byte payloads; `Subscriber<T>`
// receives trivially copyable T values (payloads of exactly sizeof(T) bytes; others are
// counted by size_mismatches() and skipped).
//
// Waiting costs nothing while messages flow: the router writes the eventfd only after the
// subscriber announced that it sleeps (wait(), or prepare_wait() in your own event loop).
// A polling subscriber (take() in a loop) costs no system call per message.
//
// Queue-full policy, per subscriber: kDropOldest (default: the newest data wins; market
// data), kDropNewest (the queue keeps what it has), kBlockPublisher (lossless: publishers of
// the topic get kWouldBlock until this subscriber makes room). Every drop is counted:
// dropped(), and a gap in one publisher's sequence numbers.
//
// Threads: a Subscriber and its Samples are used by one thread at a time. A moved-from
// Subscriber may only be destroyed or assigned to. The Runtime must
// outlive the Subscriber and its Samples. Destroying the Subscriber tells the daemon (best
// effort), which reclaims what is still queued; if Samples are still alive, that waits for
// the last one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include <zcp/detail/port.hpp>
#include <zcp/error.hpp>
#include <zcp/queue_policy.hpp>
#include <zcp/runtime.hpp>
#include <zcp/sample.hpp>
#include <zcp/topic.hpp>

namespace zcp {

struct SubscriberOptions {
  std::uint32_t queue_capacity = 0;  // messages queued for this subscriber; 0: daemon default
  QueuePolicy policy = QueuePolicy::kDropOldest;
  std::uint32_t history_request = 0;  // past messages wanted first (up to the publishers' depth)
  std::uint32_t max_held = 0;         // samples held taken at once; 0: daemon default (16)
};

// Untyped subscriber: byte payloads.
template <>
class Subscriber<void> {
 public:
  static Result<Subscriber> create(Runtime& runtime, const Topic& topic,
                                   const SubscriberOptions& options = {});
  // topic as "service/instance/event".
  static Result<Subscriber> create(Runtime& runtime, std::string_view topic,
                                   const SubscriberOptions& options = {});

  Subscriber(Subscriber&& o) noexcept : port_(std::exchange(o.port_, nullptr)) {}
  Subscriber& operator=(Subscriber&& o) noexcept {
    if (this != &o) {
      close();
      port_ = std::exchange(o.port_, nullptr);
    }
    return *this;
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  ~Subscriber() { close(); }

  // The next message, or nullopt when the queue is empty or when max_held() samples are
  // held (held() == max_held(): destroy one first); try_take() says which. Queue entries
  // that name no valid chunk are released, counted by rejected() and skipped.
  std::optional<Sample<>> take() noexcept;
  // As take(), with the reason: a value (nullopt: empty), kTooManyHeld, or kDisconnected
  // (the queue is empty and the runtime lost the daemon: nothing more will come).
  Result<std::optional<Sample<>>> try_take() noexcept;
  // True if take() would find a message (ignoring max_held).
  bool has_data() const noexcept;

  // Sleeps on the eventfd until a message is queued or `timeout` passes; true if one is
  // (take() still refuses it while max_held samples are held). Returns false at once if the
  // runtime is disconnected; a signal or a spurious wake-up returns false early.
  bool wait(std::chrono::nanoseconds timeout) noexcept;

  // The eventfd, for the user's own epoll/io_uring/Asio loop. The router writes it only
  // while the subscriber announces that it sleeps, so a custom loop does:
  //   if (sub.prepare_wait()) { epoll_wait(...native_handle()...); sub.finish_wait(); }
  //   while (auto s = sub.take()) ...
  // prepare_wait(): announces the sleep and re-checks the queue (the StoreLoad handshake);
  //   false means data is already there, do not sleep (the announcement is withdrawn).
  // finish_wait(): withdraws the announcement and clears the eventfd's counter.
  int native_handle() const noexcept;
  bool prepare_wait() noexcept;
  void finish_wait() noexcept;

  // Messages this subscriber's queue policy dropped (router-counted, exact).
  std::uint64_t dropped() const noexcept;
  // Queue entries skipped because they named no valid chunk (a router or memory bug).
  std::uint64_t rejected() const noexcept;
  // Messages lost because diroute restarted while they were queued for this subscriber
  // (RuntimeOptions::reconnect). The subscriber itself carries on with the new daemon.
  std::uint64_t lost() const noexcept;
  // How many times this subscriber re-created itself on a new daemon after a restart. Each
  // time, native_handle() keeps its number but names a new eventfd, so an epoll or Asio
  // registration made on the old one (or on a dup() of it) must be renewed when this changes.
  // zcp::AsioSubscriber does that itself; see zcp::renew_wait_descriptor.
  std::uint64_t rebinds() const noexcept;
  std::uint32_t held() const noexcept;
  std::uint32_t max_held() const noexcept;        // granted
  std::uint32_t queue_capacity() const noexcept;  // granted
  std::uint32_t id() const noexcept;
  const Topic& topic() const noexcept;
  bool connected() const noexcept;

 private:
  explicit Subscriber(detail::SubscriberPort* port) noexcept : port_(port) {}
  void close() noexcept;

  detail::SubscriberPort* port_ = nullptr;
};

using UntypedSubscriber = Subscriber<void>;

// Typed subscriber: one trivially copyable T per message.
template <class T>
class Subscriber {
  static_assert(std::is_trivially_copyable_v<T>,
                "zcp::Subscriber<T>: T must be trivially copyable; it is read in place from "
                "bytes another process wrote");
  static_assert(!std::is_pointer_v<T>,
                "zcp::Subscriber<T>: a pointer means nothing in another process");
  static_assert(alignof(T) <= 64, "zcp::Subscriber<T>: payloads are 64-byte aligned; T needs more");

 public:
  static Result<Subscriber> create(Runtime& runtime, const Topic& topic,
                                   const SubscriberOptions& options = {}) {
    auto raw = Subscriber<void>::create(runtime, topic, options);
    if (!raw) return Unexpected(std::move(raw).error());
    return Subscriber(std::move(*raw));
  }
  static Result<Subscriber> create(Runtime& runtime, std::string_view topic,
                                   const SubscriberOptions& options = {}) {
    auto raw = Subscriber<void>::create(runtime, topic, options);
    if (!raw) return Unexpected(std::move(raw).error());
    return Subscriber(std::move(*raw));
  }

  // The next T; payloads of another size are released, counted and skipped.
  std::optional<Sample<T>> take() noexcept {
    while (auto s = raw_.take()) {
      if (s->size() == sizeof(T)) return Sample<T>(std::move(*s));
      ++size_mismatches_;
    }
    return std::nullopt;
  }
  Result<std::optional<Sample<T>>> try_take() noexcept {
    for (;;) {
      auto r = raw_.try_take();
      if (!r) return Unexpected(std::move(r).error());
      if (!*r) return std::optional<Sample<T>>();
      if ((*r)->size() == sizeof(T)) return std::optional<Sample<T>>(Sample<T>(std::move(**r)));
      ++size_mismatches_;
    }
  }
  bool has_data() const noexcept { return raw_.has_data(); }
  bool wait(std::chrono::nanoseconds timeout) noexcept { return raw_.wait(timeout); }
  int native_handle() const noexcept { return raw_.native_handle(); }
  bool prepare_wait() noexcept { return raw_.prepare_wait(); }
  void finish_wait() noexcept { raw_.finish_wait(); }
  std::uint64_t dropped() const noexcept { return raw_.dropped(); }
  std::uint64_t rejected() const noexcept { return raw_.rejected(); }
  std::uint64_t lost() const noexcept { return raw_.lost(); }
  std::uint64_t rebinds() const noexcept { return raw_.rebinds(); }
  // Messages skipped because their payload was not sizeof(T) bytes (another type on the topic).
  std::uint64_t size_mismatches() const noexcept { return size_mismatches_; }
  std::uint32_t held() const noexcept { return raw_.held(); }
  std::uint32_t max_held() const noexcept { return raw_.max_held(); }
  std::uint32_t queue_capacity() const noexcept { return raw_.queue_capacity(); }
  std::uint32_t id() const noexcept { return raw_.id(); }
  const Topic& topic() const noexcept { return raw_.topic(); }
  bool connected() const noexcept { return raw_.connected(); }
  Subscriber<void>& untyped() noexcept { return raw_; }

 private:
  explicit Subscriber(Subscriber<void>&& raw) noexcept : raw_(std::move(raw)) {}
  Subscriber<void> raw_;
  std::uint64_t size_mismatches_ = 0;
};

}  // namespace zcp
