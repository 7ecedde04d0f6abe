// zcp::Sample: a received message, read in place in shared memory (no copy).
//
//   while (auto s = sub.take()) use(s->data(), s->sequence());
//
// A Sample holds its chunk until it is destroyed; then the chunk goes back to the router
// through the subscriber's release ring. A subscriber may hold at most max_held samples at
// once (take() refuses more), so keep samples briefly or copy out what must live longer.
//
// Lifetime and threads: a Sample must not outlive the Runtime. It may outlive its Subscriber
// object: the subscriber's port stays open until its last Sample is gone. A Subscriber and
// its Samples are used by one thread at a time (the release ring has a single producer), so
// handing a Sample to another thread needs the same synchronisation as the Subscriber.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include <zcp/detail/port.hpp>

namespace zcp {

// Untyped: a read-only byte span plus the message header.
template <>
class [[nodiscard]] Sample<void> {
 public:
  Sample() noexcept = default;  // empty
  Sample(Sample&& o) noexcept
      : port_(std::exchange(o.port_, nullptr)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        publisher_id_(o.publisher_id_),
        sequence_(o.sequence_),
        timestamp_ns_(o.timestamp_ns_),
        token_(o.token_) {}
  Sample& operator=(Sample&& o) noexcept {
    if (this != &o) {
      reset();
      port_ = std::exchange(o.port_, nullptr);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      publisher_id_ = o.publisher_id_;
      sequence_ = o.sequence_;
      timestamp_ns_ = o.timestamp_ns_;
      token_ = o.token_;
    }
    return *this;
  }
  Sample(const Sample&) = delete;
  Sample& operator=(const Sample&) = delete;
  ~Sample() { reset(); }

  // The payload as the publisher sized it (clamped to the chunk: the size is not trusted).
  // Lvalues only: a span taken from a temporary Sample would dangle at once.
  std::span<const std::byte> data() const& noexcept { return {data_, size_}; }
  std::span<const std::byte> data() const&& = delete;
  std::size_t size() const noexcept { return size_; }
  // Per publisher, from 1, in publish order. A gap means messages were dropped for this
  // subscriber (its queue policy) — Subscriber::dropped() counts them.
  std::uint64_t sequence() const noexcept { return sequence_; }
  // CLOCK_MONOTONIC nanoseconds when the publisher published it.
  std::uint64_t timestamp_ns() const noexcept { return timestamp_ns_; }
  // The publisher's id (assigned by the daemon, unique while it lives).
  std::uint32_t publisher_id() const noexcept { return publisher_id_; }
  bool valid() const noexcept { return port_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

  // Releases the chunk now (the destructor does the same).
  void reset() noexcept {
    if (port_ != nullptr) detail::drop_sample(std::exchange(port_, nullptr), token_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  friend struct detail::SampleAccess;
  Sample(detail::SubscriberPort* port, const std::byte* data, std::uint32_t size,
         std::uint32_t publisher_id, std::uint64_t sequence, std::uint64_t timestamp_ns,
         detail::ChunkToken token) noexcept
      : port_(port),
        data_(data),
        size_(size),
        publisher_id_(publisher_id),
        sequence_(sequence),
        timestamp_ns_(timestamp_ns),
        token_(token) {}

  detail::SubscriberPort* port_ = nullptr;
  const std::byte* data_ = nullptr;
  std::uint32_t size_ = 0;
  std::uint32_t publisher_id_ = 0;
  std::uint64_t sequence_ = 0;
  std::uint64_t timestamp_ns_ = 0;
  detail::ChunkToken token_{};
};

// Typed: a const T read in place. Subscriber<T> hands out only payloads of exactly sizeof(T)
// bytes.
template <class T>
class [[nodiscard]] Sample {
  static_assert(std::is_trivially_copyable_v<T>,
                "zcp::Sample<T>: T must be trivially copyable; it is read in place from bytes "
                "another process wrote");
  static_assert(alignof(T) <= 64, "zcp::Sample<T>: payloads are 64-byte aligned; T needs more");

 public:
  Sample() noexcept = default;
  Sample(Sample&&) noexcept = default;
  Sample& operator=(Sample&&) noexcept = default;

  const T* get() const& noexcept { return raw_.valid() ? ptr() : nullptr; }
  const T* operator->() const& noexcept { return ptr(); }
  const T& operator*() const& noexcept { return *ptr(); }
  const T* get() const&& = delete;
  const T* operator->() const&& = delete;
  const T& operator*() const&& = delete;
  std::uint64_t sequence() const noexcept { return raw_.sequence(); }
  std::uint64_t timestamp_ns() const noexcept { return raw_.timestamp_ns(); }
  std::uint32_t publisher_id() const noexcept { return raw_.publisher_id(); }
  bool valid() const noexcept { return raw_.valid(); }
  explicit operator bool() const noexcept { return valid(); }
  void reset() noexcept { raw_.reset(); }

 private:
  friend class Subscriber<T>;
  explicit Sample(Sample<void>&& raw) noexcept : raw_(std::move(raw)) {}
  const T* ptr() const noexcept {
    return std::launder(reinterpret_cast<const T*>(raw_.data().data()));
  }

  Sample<void> raw_;
};

}  // namespace zcp
