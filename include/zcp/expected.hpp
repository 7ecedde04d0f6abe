// zcp::Expected<T, E>: a small value-or-error type.
//
// GCC 12 has std::expected under -std=c++23, but clang 14 with libstdc++ 12 does not, and
// the libFuzzer targets are built with clang. This type covers what zerocp needs from
// std::expected (has_value, value, error, operator*, operator->, value_or) and nothing more.
// It never throws: value() on an error is a programming bug and asserts.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace zcp {

template <class E>
class Unexpected {
 public:
  constexpr explicit Unexpected(E e) noexcept(std::is_nothrow_move_constructible_v<E>)
      : error_(std::move(e)) {}
  constexpr E& error() & noexcept { return error_; }
  constexpr E&& error() && noexcept { return std::move(error_); }

 private:
  E error_;
};

template <class E>
Unexpected(E) -> Unexpected<E>;

template <class T, class E>
class [[nodiscard]] Expected {
 public:
  using value_type = T;
  using error_type = E;

  template <class U = T>
  requires std::is_constructible_v<T, U&&>
  constexpr Expected(U&& v) : storage_(std::in_place_index<0>, std::forward<U>(v)) {}  // NOLINT
  template <class G>
  constexpr Expected(Unexpected<G> u)  // NOLINT: implicit like std::expected
      : storage_(std::in_place_index<1>, std::move(u).error()) {}

  constexpr bool has_value() const noexcept { return storage_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  constexpr T& value() & noexcept { return assert(has_value()), *std::get_if<0>(&storage_); }
  constexpr const T& value() const& noexcept {
    return assert(has_value()), *std::get_if<0>(&storage_);
  }
  constexpr T&& value() && noexcept {
    return assert(has_value()), std::move(*std::get_if<0>(&storage_));
  }
  constexpr E& error() & noexcept { return assert(!has_value()), *std::get_if<1>(&storage_); }
  constexpr const E& error() const& noexcept {
    return assert(!has_value()), *std::get_if<1>(&storage_);
  }
  constexpr E&& error() && noexcept {
    return assert(!has_value()), std::move(*std::get_if<1>(&storage_));
  }

  constexpr T& operator*() & noexcept { return value(); }
  constexpr const T& operator*() const& noexcept { return value(); }
  constexpr T&& operator*() && noexcept { return std::move(*this).value(); }
  constexpr T* operator->() noexcept { return &value(); }
  constexpr const T* operator->() const noexcept { return &value(); }

  template <class U>
  constexpr T value_or(U&& other) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(other));
  }

 private:
  std::variant<T, E> storage_;
};

// Expected<void, E>: success carries nothing.
template <class E>
class [[nodiscard]] Expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  constexpr Expected() noexcept = default;
  template <class G>
  constexpr Expected(Unexpected<G> u)  // NOLINT: implicit like std::expected
      : error_(std::move(u).error()), ok_(false) {}

  constexpr bool has_value() const noexcept { return ok_; }
  constexpr explicit operator bool() const noexcept { return ok_; }
  constexpr void value() const noexcept { assert(ok_); }
  constexpr E& error() & noexcept { return assert(!ok_), error_; }
  constexpr const E& error() const& noexcept { return assert(!ok_), error_; }

 private:
  E error_{};
  bool ok_ = true;
};

}  // namespace zcp
