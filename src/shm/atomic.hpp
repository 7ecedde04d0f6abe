// Atomic access to plain integers that live in shared memory.
//
// Layout structs in shm are trivially copyable and hold plain integers (std::atomic is not
// trivially copyable, and its representation is not a documented layout). The process-local
// views reach those integers through std::atomic_ref, always naming the memory order.
// Every type used this way must be lock-free: a lock inside a libatomic fallback would live
// in one process's private memory and protect nothing across processes.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace zcp::shm {

static_assert(
    std::atomic_ref<std::uint32_t>::is_always_lock_free,
    "shm atomics must be lock-free: a libatomic lock would not be shared across processes");
static_assert(
    std::atomic_ref<std::uint64_t>::is_always_lock_free,
    "shm atomics must be lock-free: a libatomic lock would not be shared across processes");

template <class T>
concept ShmWord = std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::uint64_t>;

template <ShmWord T>
inline T atomic_load(const T& word, std::memory_order order) noexcept {
  return std::atomic_ref<T>(const_cast<T&>(word)).load(order);
}

template <ShmWord T>
inline void atomic_store(T& word, T value, std::memory_order order) noexcept {
  std::atomic_ref<T>(word).store(value, order);
}

template <ShmWord T>
inline T atomic_fetch_add(T& word, T value, std::memory_order order) noexcept {
  return std::atomic_ref<T>(word).fetch_add(value, order);
}

template <ShmWord T>
inline T atomic_fetch_sub(T& word, T value, std::memory_order order) noexcept {
  return std::atomic_ref<T>(word).fetch_sub(value, order);
}

template <ShmWord T>
inline T atomic_exchange(T& word, T value, std::memory_order order) noexcept {
  return std::atomic_ref<T>(word).exchange(value, order);
}

template <ShmWord T>
inline bool atomic_cas_weak(T& word, T& expected, T desired, std::memory_order success,
                            std::memory_order failure) noexcept {
  return std::atomic_ref<T>(word).compare_exchange_weak(expected, desired, success, failure);
}

template <ShmWord T>
inline bool atomic_cas_strong(T& word, T& expected, T desired, std::memory_order success,
                              std::memory_order failure) noexcept {
  return std::atomic_ref<T>(word).compare_exchange_strong(expected, desired, success, failure);
}

// Raises `word` to at least `value` (a high-water or counter maximum). Relaxed: the maximum
// is a statistic read by tools; it publishes no other data.
template <ShmWord T>
inline void atomic_fetch_max(T& word, T value) noexcept {
  std::atomic_ref<T> ref(word);
  T cur = ref.load(std::memory_order_relaxed);
  while (cur < value && !ref.compare_exchange_weak(cur, value, std::memory_order_relaxed,
                                                   std::memory_order_relaxed)) {
  }
}

// Lowers `word` to at most `value` (a low-water mark). Relaxed for the same reason.
template <ShmWord T>
inline void atomic_fetch_min(T& word, T value) noexcept {
  std::atomic_ref<T> ref(word);
  T cur = ref.load(std::memory_order_relaxed);
  while (cur > value && !ref.compare_exchange_weak(cur, value, std::memory_order_relaxed,
                                                   std::memory_order_relaxed)) {
  }
}

inline constexpr std::size_t kCacheLine = 64;

inline constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept {
  return (v + a - 1) & ~(a - 1);
}

inline constexpr bool is_pow2(std::uint64_t v) noexcept {
  return v != 0 && (v & (v - 1)) == 0;
}

inline void cpu_relax() noexcept {
  __builtin_ia32_pause();
}

}  // namespace zcp::shm
