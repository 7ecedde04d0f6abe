#include "reactor/buffer_ring.hpp"

#include <bit>
#include <cerrno>
#include <string>

#include <sys/mman.h>

namespace zcp::reactor {

namespace {

sys::Expected<void*> map_anonymous(std::size_t bytes, const char* what) {
  // mmap reports failure as MAP_FAILED, which is (void*)-1: as a long it is the -1 that
  // sys::call expects.
  sys::Result r = sys::call([bytes] {
    return reinterpret_cast<long>(  // NOLINT: pointer carried through the {value, err} result
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  });
  if (!r.ok()) {
    return sys::fail(std::string("mmap ") + what + " (" + std::to_string(bytes) + " bytes)", r.err);
  }
  return reinterpret_cast<void*>(r.value);  // NOLINT: see above
}

}  // namespace

sys::Expected<std::unique_ptr<BufferRing>> BufferRing::create(Ring& ring, std::uint16_t group,
                                                              unsigned entries,
                                                              std::size_t buffer_size) {
  if (entries == 0 || entries > kMaxBufferRingEntries || !std::has_single_bit(entries)) {
    return sys::fail("buffer ring: entries must be a power of two in 1.." +
                         std::to_string(kMaxBufferRingEntries) + ", not " + std::to_string(entries),
                     EINVAL);
  }
  if (buffer_size == 0 || buffer_size > 0xFFFFFFFFu) {
    return sys::fail("buffer ring: buffer size must be 1..4 GiB", EINVAL);
  }
  std::unique_ptr<BufferRing> br(new BufferRing(ring, group, entries, buffer_size));

  // The kernel requires the entry array to be page-aligned; mmap memory always is.
  br->br_bytes_ = entries * sizeof(io_uring_buf);
  auto entry_mem = map_anonymous(br->br_bytes_, "buffer ring entries");
  if (!entry_mem) return Unexpected(entry_mem.error());
  br->br_ = static_cast<io_uring_buf_ring*>(*entry_mem);

  br->buffers_bytes_ = entries * buffer_size;
  auto buffer_mem = map_anonymous(br->buffers_bytes_, "receive buffers");
  if (!buffer_mem) return Unexpected(buffer_mem.error());
  br->buffers_ = static_cast<std::byte*>(*buffer_mem);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br->br_);  // NOLINT: ABI wants an address
  reg.ring_entries = entries;
  reg.bgid = group;
  int rc = io_uring_register_buf_ring(ring.raw(), &reg, 0);
  if (rc < 0) {
    return sys::fail("io_uring_register_buf_ring (group " + std::to_string(group) + ", " +
                         std::to_string(entries) + " entries; needs Linux 5.19+)",
                     -rc);
  }
  br->registered_ = true;

  io_uring_buf_ring_init(br->br_);
  int mask = io_uring_buf_ring_mask(entries);
  for (unsigned bid = 0; bid < entries; ++bid) {
    io_uring_buf_ring_add(br->br_, br->slot(bid), static_cast<unsigned>(buffer_size),
                          static_cast<unsigned short>(bid), mask, static_cast<int>(bid));
  }
  // Release store of the tail: the entries written above become visible to the kernel
  // before it can see the new tail.
  io_uring_buf_ring_advance(br->br_, static_cast<int>(entries));
  return br;
}

BufferRing::~BufferRing() {
  // The owner guarantees no recv using this group is in flight (the reactor drains first).
  if (registered_) (void)io_uring_unregister_buf_ring(ring_.raw(), group_);
  if (buffers_ != nullptr) (void)sys::call(::munmap, buffers_, buffers_bytes_);
  if (br_ != nullptr) (void)sys::call(::munmap, br_, br_bytes_);
}

std::span<std::byte> BufferRing::buffer_of(unsigned cqe_flags) noexcept {
  if ((cqe_flags & IORING_CQE_F_BUFFER) == 0) return {};
  unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
  if (bid >= entries_) return {};
  return {slot(bid), buffer_size_};
}

void BufferRing::recycle(unsigned cqe_flags) noexcept {
  if ((cqe_flags & IORING_CQE_F_BUFFER) == 0) return;
  unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
  if (bid >= entries_) return;
  io_uring_buf_ring_add(br_, slot(bid), static_cast<unsigned>(buffer_size_),
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(entries_), 0);
  // Release store of the tail (not io_uring_buf_ring_cq_advance: in 2.3 it bumps the tail
  // with a plain store, so the kernel could see the tail before the entry). The CQE itself
  // was already released by Ring::dispatch with io_uring_cq_advance.
  io_uring_buf_ring_advance(br_, 1);
}

}  // namespace zcp::reactor
