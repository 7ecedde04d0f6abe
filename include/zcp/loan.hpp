// zcp::Loan: a chunk of shared memory lent to a publisher, to be written once and published.
//
//   auto loan = pub.loan(64);               // Result<Loan<>>: a writable span of 64 bytes
//   std::memcpy(loan->data().data(), src, 64);
//   pub.publish(std::move(*loan));          // consumes it
//
// A Loan is move-only. Destroying one that was not published gives its chunk back to the
// router (nothing leaks, nothing is sent). Publishing takes the loan by rvalue reference only,
// so `pub.publish(loan)` does not compile: the hand-over is always a visible std::move, after
// which the Loan is empty (data() is an empty span) instead of pointing at a chunk that
// subscribers are reading and the router may already have reused.
//
// A Loan belongs to its Publisher: publish it through that publisher, and do not let it
// outlive the Runtime. Like the Publisher, it is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include <zcp/detail/port.hpp>

namespace zcp {

// Untyped: a byte span.
template <>
class [[nodiscard]] Loan<void> {
 public:
  Loan() noexcept = default;  // empty
  Loan(Loan&& o) noexcept
      : port_(std::exchange(o.port_, nullptr)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)),
        token_(o.token_) {}
  Loan& operator=(Loan&& o) noexcept {
    if (this != &o) {
      reset();
      port_ = std::exchange(o.port_, nullptr);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
      token_ = o.token_;
    }
    return *this;
  }
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;
  ~Loan() { reset(); }

  // The payload to write: size() bytes, 64-byte aligned. Empty once published or dropped.
  // Lvalues only: a span taken from a temporary Loan would dangle at once.
  std::span<std::byte> data() & noexcept { return {data_, size_}; }
  std::span<std::byte> data() && = delete;
  std::size_t size() const noexcept { return size_; }
  // The chunk's payload capacity (the publisher's chunk size), ≥ size().
  std::size_t capacity() const noexcept { return capacity_; }
  // Changes the size that publish() will announce, up to capacity(); false if too large.
  bool resize(std::size_t n) noexcept {
    if (n > capacity_) return false;
    size_ = static_cast<std::uint32_t>(n);
    return true;
  }
  bool valid() const noexcept { return port_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives the chunk back unpublished now (the destructor does the same).
  void reset() noexcept {
    if (port_ != nullptr) detail::drop_loan(std::exchange(port_, nullptr), token_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

 private:
  friend struct detail::LoanAccess;
  Loan(detail::PublisherPort* port, std::byte* data, std::uint32_t size, std::uint32_t capacity,
       detail::ChunkToken token) noexcept
      : port_(port), data_(data), size_(size), capacity_(capacity), token_(token) {}

  detail::PublisherPort* port_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = 0;
  detail::ChunkToken token_{};
};

// Typed: one T constructed in place in the chunk (Publisher<T>::loan()).
template <class T>
class [[nodiscard]] Loan {
  static_assert(std::is_trivially_copyable_v<T>,
                "zcp::Loan<T>: T must be trivially copyable; other processes read its bytes "
                "in place, so it cannot own pointers, heap memory or virtual functions");
  static_assert(alignof(T) <= 64, "zcp::Loan<T>: payloads are 64-byte aligned; T needs more");

 public:
  Loan() noexcept = default;
  Loan(Loan&&) noexcept = default;
  Loan& operator=(Loan&&) noexcept = default;

  T* get() & noexcept { return raw_.valid() ? ptr() : nullptr; }
  T* operator->() & noexcept { return ptr(); }
  T& operator*() & noexcept { return *ptr(); }
  T* get() && = delete;
  T* operator->() && = delete;
  T& operator*() && = delete;
  bool valid() const noexcept { return raw_.valid(); }
  explicit operator bool() const noexcept { return valid(); }
  void reset() noexcept { raw_.reset(); }

 private:
  friend class Publisher<T>;
  explicit Loan(Loan<void>&& raw) noexcept : raw_(std::move(raw)) {}
  T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(raw_.data().data())); }

  Loan<void> raw_;
};

}  // namespace zcp
