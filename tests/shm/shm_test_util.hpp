// In-process stand-ins for a segment: page-aligned memory that rings and pools format into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include <sys/mman.h>

namespace zcp::test {

// Anonymous shared mapping: usable in-process and, because it is MAP_SHARED, across fork().
class FakeSegment {
 public:
  explicit FakeSegment(std::size_t bytes) : size_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    base_ = static_cast<std::byte*>(p);
  }
  ~FakeSegment() { ::munmap(base_, size_); }
  FakeSegment(const FakeSegment&) = delete;
  FakeSegment& operator=(const FakeSegment&) = delete;
  std::byte* base() const { return base_; }
  std::uint64_t size() const { return size_; }

 private:
  std::byte* base_;
  std::size_t size_;
};

// Stress sizes shrink under ThreadSanitizer, which runs code 5-15x slower.
#if defined(ZCP_TSAN)
inline constexpr std::uint64_t kStressScale = 10;
#else
inline constexpr std::uint64_t kStressScale = 1;
#endif

}  // namespace zcp::test
