// HandleTable: the loans and samples a C caller holds, named by 64-bit handles instead of
// pointers, so that a handle released twice, or given to the wrong publisher or subscriber,
// is found and refused instead of corrupting a ring.
//
// A handle is ((generation << 32) | (slot index + 1)) XOR the table's key: stale as soon as
// its slot is released (the generation moves on), and foreign to every other table, whose
// key differs (the key is a 64-bit mix of a process-wide counter: another table's handle
// decodes to a slot and generation that match by chance about once in 2^32). 0 is never a
// live handle. Slots are reused, so the table grows only to the largest number held at once
// (max_loans / max_held); it allocates only while growing. Single-threaded, like the
// publisher or subscriber that owns it.
#pragma once

#include <atomic>
#include <cstdint>
#include <new>
#include <optional>
#include <utility>
#include <vector>

namespace zcp::capi {

template <class T>
class HandleTable {
 public:
  HandleTable() noexcept : key_(next_key()) {}

  // Stores value; its handle, or 0 if the table could not grow (value is dropped).
  std::uint64_t put(T&& value) noexcept {
    try {
      std::uint32_t index;
      if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
      } else {
        free_.reserve(slots_.size() + 1);  // release() then never allocates
        slots_.emplace_back();
        index = static_cast<std::uint32_t>(slots_.size() - 1);
      }
      Slot& s = slots_[index];
      s.value.emplace(std::move(value));
      return ((std::uint64_t{s.generation} << 32) | (std::uint64_t{index} + 1)) ^ key_;
    } catch (const std::bad_alloc&) {
      return 0;
    }
  }

  // The value a live handle names; nullptr for 0, a stale or a foreign handle.
  T* find(std::uint64_t handle) noexcept {
    Slot* s = slot(handle);
    return s != nullptr ? &*s->value : nullptr;
  }

  // Takes the value out; nullopt for a handle find() refuses.
  std::optional<T> take(std::uint64_t handle) noexcept {
    Slot* s = slot(handle);
    if (s == nullptr) return std::nullopt;
    std::optional<T> out(std::move(s->value));
    s->value.reset();
    ++s->generation;
    free_.push_back(static_cast<std::uint32_t>(((handle ^ key_) & 0xffffffffU) - 1));
    return out;
  }

  std::size_t size() const noexcept { return slots_.size() - free_.size(); }

 private:
  struct Slot {
    std::optional<T> value;
    std::uint32_t generation = 1;
  };

  Slot* slot(std::uint64_t handle) noexcept {
    if (handle == 0) return nullptr;  // a cleared struct: never live, whatever the key
    const std::uint64_t plain = handle ^ key_;
    const std::uint64_t low = plain & 0xffffffffU;
    if (low == 0 || low > slots_.size()) return nullptr;
    Slot& s = slots_[low - 1];
    if (!s.value || s.generation != static_cast<std::uint32_t>(plain >> 32)) return nullptr;
    return &s;
  }

  // splitmix64 of a process-wide counter: distinct tables get unrelated keys.
  static std::uint64_t next_key() noexcept {
    // Relaxed: only the uniqueness of the counter's values matters; nothing is published
    // through it.
    static std::atomic<std::uint64_t> counter{0x5eed};
    std::uint64_t z = counter.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::uint64_t key_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
};

}  // namespace zcp::capi
