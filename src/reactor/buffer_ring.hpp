// A provided-buffer ring (IORING_REGISTER_PBUF_RING) for multishot recv.
//
// liburing 2.3 has no io_uring_setup_buf_ring, so the ring is built by hand: page-aligned
// anonymous memory for the io_uring_buf entries, registered with io_uring_register_buf_ring,
// and one separate mapping holding `entries` buffers of `buffer_size` bytes each.
//
// Sizing: buffer_size is the largest datagram the owner accepts (the max frame). A longer
// datagram is cut to buffer_size by the kernel; recv with MSG_TRUNC still reports its true
// length, so the cut is detected, never silent. When every buffer is in use, a multishot
// recv ends with -ENOBUFS and must be re-armed after buffers come back (recycle()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/sys.hpp"
#include "reactor/uring.hpp"

namespace zcp::reactor {

// Largest entry count the kernel accepts for a buffer ring.
inline constexpr unsigned kMaxBufferRingEntries = 32768;

class BufferRing {
 public:
  // entries: a power of two, 1..32768. buffer_size: > 0.
  static sys::Expected<std::unique_ptr<BufferRing>> create(Ring& ring, std::uint16_t group,
                                                           unsigned entries,
                                                           std::size_t buffer_size);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  std::uint16_t group() const noexcept { return group_; }
  unsigned entries() const noexcept { return entries_; }
  std::size_t buffer_size() const noexcept { return buffer_size_; }

  // The buffer the kernel filled, from a CQE's IORING_CQE_F_BUFFER flags; empty if the CQE
  // carries no buffer or an id we never handed out.
  std::span<std::byte> buffer_of(unsigned cqe_flags) noexcept;
  // Gives the buffer of that CQE back to the kernel. A no-op if it carries none.
  void recycle(unsigned cqe_flags) noexcept;

 private:
  BufferRing(Ring& ring, std::uint16_t group, unsigned entries, std::size_t buffer_size)
      : ring_(ring), group_(group), entries_(entries), buffer_size_(buffer_size) {}
  std::byte* slot(unsigned bid) const noexcept { return buffers_ + bid * buffer_size_; }

  Ring& ring_;
  std::uint16_t group_;
  unsigned entries_;
  std::size_t buffer_size_;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_bytes_ = 0;
  std::byte* buffers_ = nullptr;
  std::size_t buffers_bytes_ = 0;
  bool registered_ = false;
};

}  // namespace zcp::reactor
