#include "shm/ring.hpp"

namespace zcp::shm {

std::string ring_problem(const std::byte* segment_base, std::uint64_t segment_size,
                         const QueueDescriptor& d, std::uint32_t expect_stride) {
  auto where = [&] { return "ring at offset " + std::to_string(d.offset); };
  if (d.offset % kCacheLine != 0) return where() + " is not cache-line aligned";
  if (d.offset > segment_size || segment_size - d.offset < sizeof(RingHeader)) {
    return where() + " lies outside the " + std::to_string(segment_size) + "-byte segment";
  }
  if (d.capacity == 0 || d.capacity > kMaxRingCapacity) {
    return where() + " has capacity " + std::to_string(d.capacity) + "; expected 1.." +
           std::to_string(kMaxRingCapacity);
  }
  if (ring_bytes(d.capacity, expect_stride) > segment_size - d.offset) {
    return where() + " with capacity " + std::to_string(d.capacity) + " runs past the segment end";
  }
  const auto* h = reinterpret_cast<const RingHeader*>(segment_base + d.offset);
  if (h->magic != kRingMagic) return where() + " has a bad magic";
  if (h->kind != d.kind) {
    return where() + " is of kind " + std::to_string(h->kind) + ", expected " +
           std::to_string(d.kind);
  }
  if (h->capacity != d.capacity || h->element_size != d.element_size ||
      h->slot_stride != expect_stride) {
    return where() + " header (capacity " + std::to_string(h->capacity) + ", element " +
           std::to_string(h->element_size) + " B, stride " + std::to_string(h->slot_stride) +
           ") does not match its descriptor (capacity " + std::to_string(d.capacity) +
           ", element " + std::to_string(d.element_size) + " B, stride " +
           std::to_string(expect_stride) + ")";
  }
  return {};
}

}  // namespace zcp::shm
