// zcp::Publisher: writes messages into shared memory once and pushes a reference to each into
// the queue of every subscriber of the topic, without copying it; it wakes a subscriber that
// sleeps. The daemon's router works behind it (it settles ownership, refills loans, and makes
// the deliveries a publisher cannot: a full queue's policy, a topic configured as routed).
// docs/router.md.
//
//   auto pub = zcp::Publisher<>::create(*rt, "md/feed/ticks");       // untyped (bytes)
//   auto loan = pub->loan(64);                                        // Result<Loan<>>
//   fill(loan->data());
//   if (auto r = pub->publish(std::move(*loan)); !r) report(r.error());
//
//   auto ticks = zcp::Publisher<Tick>::create(*rt, "md/feed/ticks");  // typed
//   ticks->publish(Tick{...});                                        // copies one Tick in
//
// Naming: `Publisher<>` (= Publisher<void>) is the untyped publisher of byte payloads;
// `Publisher<T>` publishes trivially copyable T values of exactly sizeof(T) bytes. One class
// template keeps one name for both; `UntypedPublisher` is an alias.
//
// Ordering: messages of one publisher reach every subscriber in publish order (sequence
// numbers 1, 2, 3...). There is no total order across several publishers of one topic.
//
// Errors are values; nothing here throws. Error codes: kPoolExhausted, kWouldBlock,
// kTooLarge, kTooManyLoans, kDisconnected, kInvalidArgument.
//
// Threads: a Publisher and its Loans are used by one thread at a time (its rings have one
// producer). A moved-from Publisher may only be destroyed or assigned to. The Runtime must outlive
// the Publisher and its Loans. Destroying the Publisher gives the router up to kDrainOnDestroy to
// take what is still in the publish ring, then tells the daemon (best effort); if Loans are still
// alive, that waits for the last one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include <zcp/detail/port.hpp>
#include <zcp/error.hpp>
#include <zcp/loan.hpp>
#include <zcp/runtime.hpp>
#include <zcp/topic.hpp>

namespace zcp {

// How long loan() waits for the router to put a free chunk into an empty loan ring before
// it reports kPoolExhausted (it kicks a parked router at once; the wait covers a router
// thread that is merely descheduled). Too low: loans fail while the router is preempted —
// on a 2-CPU host a runnable thread can wait a few ms for a CPU (200 us proved too short in
// a loaded test run); too high: on a truly exhausted pool (subscribers hold every chunk) each
// loan() stalls the caller that long. Latency-critical publishers set loan_wait = 0.
inline constexpr std::chrono::nanoseconds kDefaultLoanWait = std::chrono::milliseconds(5);
// How long a destroyed Publisher lets the router take the messages still in its publish
// ring. Too low: a publisher that publishes and exits at once may lose its last messages;
// too high: destroying a publisher whose router is stuck stalls that long.
inline constexpr std::chrono::nanoseconds kDrainOnDestroy = std::chrono::milliseconds(100);

struct PublisherOptions {
  // Last samples the router keeps for late subscribers (the daemon may grant fewer).
  std::uint32_t history_depth = 0;
  // Chunks this publisher may hold at once (loaned, or queued for loan). 0: the daemon's
  // default ([publishers] max_loans, 1024 unless configured).
  std::uint32_t max_loans = 0;
  // Largest payload this publisher will loan; it picks the pool class, so every loan has
  // room for it. 0: the daemon's default. (Publisher<T>: at least sizeof(T).)
  std::uint32_t max_payload = 0;
  // loan() on an empty loan ring: spin, then yield, up to this long before kPoolExhausted.
  std::chrono::nanoseconds loan_wait = kDefaultLoanWait;
  // publish() on a full publish ring: 0 reports kWouldBlock at once; more waits (spin, then
  // yield) up to this long for the router to make room. publish(loan, timeout) overrides it.
  std::chrono::nanoseconds publish_timeout{0};
};

// Untyped publisher: byte payloads.
template <>
class Publisher<void> {
 public:
  static Result<Publisher> create(Runtime& runtime, const Topic& topic,
                                  const PublisherOptions& options = {});
  // topic as "service/instance/event".
  static Result<Publisher> create(Runtime& runtime, std::string_view topic,
                                  const PublisherOptions& options = {});

  Publisher(Publisher&& o) noexcept : port_(std::exchange(o.port_, nullptr)) {}
  Publisher& operator=(Publisher&& o) noexcept {
    if (this != &o) {
      close();
      port_ = std::exchange(o.port_, nullptr);
    }
    return *this;
  }
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  ~Publisher() { close(); }

  // A writable chunk of `size` bytes (≤ max_payload()). kTooLarge, kTooManyLoans,
  // kPoolExhausted (after waiting options.loan_wait), kDisconnected.
  Result<Loan<>> loan(std::size_t size) noexcept;

  // Publishes the loan: stamps sequence and timestamp and delivers the chunk to the topic's
  // subscribers (those it cannot reach itself through the router).
  // Consumes the loan on success (it is then empty). On failure the loan is left as it was,
  // so the caller may retry (publish(std::move(loan)) again) or drop it.
  // kWouldBlock (publish ring full, see PublisherOptions::publish_timeout), kDisconnected,
  // kInvalidArgument (empty loan, or one from another publisher).
  Result<void> publish(Loan<>&& loan) noexcept;
  Result<void> publish(Loan<>&& loan, std::chrono::nanoseconds timeout) noexcept;
  // Use publish(std::move(loan)): the loan is consumed, and touching it afterwards is the
  // use-after-publish bug this signature turns into a compile error.
  Result<void> publish(Loan<>& loan) = delete;
  // loan(bytes.size()) + copy + publish.
  Result<void> publish_copy(std::span<const std::byte> bytes) noexcept;
  Result<void> publish_copy(std::span<const std::byte> bytes,
                            std::chrono::nanoseconds timeout) noexcept;

  // Subscribers of the topic that a publish reaches now: the daemon counts a new subscriber
  // once its router delivers to it. A publisher with none may skip producing data.
  bool has_subscribers() const noexcept { return subscriber_count() != 0; }
  std::uint32_t subscriber_count() const noexcept;

  // Waits until the router has fully routed every published message (delivered to every
  // subscriber, including one a block_publisher subscriber was holding back). kTimeout,
  // kDisconnected. Call it before destroying a publisher for a lossless shutdown: the
  // destructor waits only kDrainOnDestroy.
  Result<void> flush(std::chrono::nanoseconds timeout) noexcept;

  std::uint32_t id() const noexcept;
  const Topic& topic() const noexcept;
  std::size_t max_payload() const noexcept;      // the granted chunk size
  std::uint32_t max_loans() const noexcept;      // granted
  std::uint32_t history_depth() const noexcept;  // granted
  std::uint32_t loans_outstanding() const noexcept;
  std::uint64_t published() const noexcept;  // the last sequence number published
  // Publications (not yet routed) and loans lost because diroute restarted under them
  // (RuntimeOptions::reconnect). The publisher itself carries on with the new daemon.
  std::uint64_t lost() const noexcept;
  bool connected() const noexcept;

 private:
  explicit Publisher(detail::PublisherPort* port) noexcept : port_(port) {}
  void close() noexcept;

  detail::PublisherPort* port_ = nullptr;
};

using UntypedPublisher = Publisher<void>;

// Typed publisher: one trivially copyable T per message (payload size sizeof(T)).
template <class T>
class Publisher {
  static_assert(std::is_trivially_copyable_v<T>,
                "zcp::Publisher<T>: T must be trivially copyable; subscribers in other "
                "processes read its bytes in place, so it cannot own pointers, heap memory or "
                "virtual functions");
  static_assert(!std::is_pointer_v<T>,
                "zcp::Publisher<T>: a pointer means nothing in another process");
  static_assert(alignof(T) <= 64, "zcp::Publisher<T>: payloads are 64-byte aligned; T needs more");
  static_assert(sizeof(T) <= 0xffffffffULL, "zcp::Publisher<T>: T is larger than any chunk");

 public:
  static Result<Publisher> create(Runtime& runtime, const Topic& topic,
                                  PublisherOptions options = {}) {
    if (options.max_payload < sizeof(T))
      options.max_payload = static_cast<std::uint32_t>(sizeof(T));
    auto raw = Publisher<void>::create(runtime, topic, options);
    if (!raw) return Unexpected(std::move(raw).error());
    return Publisher(std::move(*raw));
  }
  static Result<Publisher> create(Runtime& runtime, std::string_view topic,
                                  PublisherOptions options = {}) {
    auto t = Topic::parse(topic);
    if (!t) return Unexpected(std::move(t).error());
    return create(runtime, *t, options);
  }

  // A chunk with a T constructed in place from args (value-initialised without args).
  template <class... Args>
  Result<Loan<T>> loan(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    auto raw = raw_.loan(sizeof(T));
    if (!raw) return Unexpected(std::move(raw).error());
    ::new (static_cast<void*>(raw->data().data())) T(std::forward<Args>(args)...);
    return Loan<T>(std::move(*raw));
  }
  // A chunk with a default-initialised T: no zeroing (an 8 KiB T costs a memset otherwise).
  // Write every field before publishing: the chunk holds whatever it held last.
  Result<Loan<T>> loan_uninitialized() noexcept {
    static_assert(
        std::is_trivially_default_constructible_v<T>,
        "zcp::Publisher<T>::loan_uninitialized: T must be trivially default constructible");
    auto raw = raw_.loan(sizeof(T));
    if (!raw) return Unexpected(std::move(raw).error());
    ::new (static_cast<void*>(raw->data().data())) T;
    return Loan<T>(std::move(*raw));
  }
  Result<void> publish(Loan<T>&& loan) noexcept { return raw_.publish(std::move(loan.raw_)); }
  Result<void> publish(Loan<T>&& loan, std::chrono::nanoseconds timeout) noexcept {
    return raw_.publish(std::move(loan.raw_), timeout);
  }
  // Use publish(std::move(loan)); see Publisher<void>::publish.
  Result<void> publish(Loan<T>& loan) = delete;
  // Copies value into a loaned chunk and publishes it.
  Result<void> publish(const T& value) noexcept {
    return raw_.publish_copy(std::as_bytes(std::span<const T, 1>(&value, 1)));
  }
  Result<void> publish(const T& value, std::chrono::nanoseconds timeout) noexcept {
    return raw_.publish_copy(std::as_bytes(std::span<const T, 1>(&value, 1)), timeout);
  }

  bool has_subscribers() const noexcept { return raw_.has_subscribers(); }
  std::uint32_t subscriber_count() const noexcept { return raw_.subscriber_count(); }
  Result<void> flush(std::chrono::nanoseconds timeout) noexcept { return raw_.flush(timeout); }
  std::uint32_t id() const noexcept { return raw_.id(); }
  const Topic& topic() const noexcept { return raw_.topic(); }
  std::uint32_t max_loans() const noexcept { return raw_.max_loans(); }
  std::uint32_t history_depth() const noexcept { return raw_.history_depth(); }
  std::uint32_t loans_outstanding() const noexcept { return raw_.loans_outstanding(); }
  std::uint64_t published() const noexcept { return raw_.published(); }
  std::uint64_t lost() const noexcept { return raw_.lost(); }
  bool connected() const noexcept { return raw_.connected(); }
  // The untyped publisher underneath (for byte-level access).
  Publisher<void>& untyped() noexcept { return raw_; }

 private:
  explicit Publisher(Publisher<void>&& raw) noexcept : raw_(std::move(raw)) {}
  Publisher<void> raw_;
};

}  // namespace zcp
