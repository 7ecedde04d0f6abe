#include "protocol/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define ZCP_CRC32C_X86 1
#else
#define ZCP_CRC32C_X86 0
#endif

namespace zcp::protocol {
namespace {

constexpr std::uint32_t kPolyReflected = 0x82F63B78u;

constexpr std::array<std::uint32_t, 256> make_table() noexcept {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1u) ? (c >> 1) ^ kPolyReflected : c >> 1;
    t[i] = c;
  }
  return t;
}

// Computed at compile time: no start-up cost and no initialisation order to worry about.
constexpr std::array<std::uint32_t, 256> kTable = make_table();

#if ZCP_CRC32C_X86
// Only this function is compiled for SSE4.2; the rest of the binary stays baseline x86-64,
// so it still runs (on the table path) on a CPU without the instruction.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const std::uint8_t* p, std::size_t n,
                                                             std::uint32_t crc) noexcept {
#if defined(__x86_64__)
  std::uint64_t c64 = crc;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);  // unaligned-safe load; compiles to one mov
    c64 = _mm_crc32_u64(c64, word);
    p += 8;
    n -= 8;
  }
  crc = static_cast<std::uint32_t>(c64);
#endif
  while (n >= 4) {
    std::uint32_t word;
    std::memcpy(&word, p, sizeof word);
    crc = _mm_crc32_u32(crc, word);
    p += 4;
    n -= 4;
  }
  while (n > 0) {
    crc = _mm_crc32_u8(crc, *p++);
    --n;
  }
  return crc;
}
#endif

}  // namespace

std::uint32_t crc32c_table(std::span<const std::uint8_t> data, std::uint32_t crc) noexcept {
  crc = ~crc;
  for (std::uint8_t b : data)
    crc = kTable[(crc ^ b) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

bool crc32c_hw_available() noexcept {
#if ZCP_CRC32C_X86
  // Thread-safe one-time initialisation (a function-local static); the answer never changes.
  static const bool available = [] {
    __builtin_cpu_init();  // needed if this runs before the runtime's own constructor
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
#else
  return false;
#endif
}

std::uint32_t crc32c_hw(std::span<const std::uint8_t> data, std::uint32_t crc) noexcept {
#if ZCP_CRC32C_X86
  return ~crc32c_sse42(data.data(), data.size(), ~crc);
#else
  return crc32c_table(data, crc);
#endif
}

std::uint32_t crc32c(std::span<const std::uint8_t> data, std::uint32_t crc) noexcept {
  return crc32c_hw_available() ? crc32c_hw(data, crc) : crc32c_table(data, crc);
}

}  // namespace zcp::protocol
