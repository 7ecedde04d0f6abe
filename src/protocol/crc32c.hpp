// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every frame
// payload. It catches corruption and, more usefully here, peers that speak something
// other than this protocol: a random payload passes with probability 2^-32.
//
// The SSE4.2 `crc32` instruction computes exactly this polynomial, so x86-64 machines that
// have it (all of them since 2008) take the hardware path; the table path is the portable
// fallback. The choice is made once, at first use, from the CPU's feature bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace zcp::protocol {

// CRC32C of data, continuing from `crc` (the CRC of the bytes before it; 0 to start), so
// crc32c(b, crc32c(a)) == crc32c(a + b). Conventional pre/post inversion is applied.
std::uint32_t crc32c(std::span<const std::uint8_t> data, std::uint32_t crc = 0) noexcept;

// The two implementations behind crc32c(), exposed so tests can check each one.
std::uint32_t crc32c_table(std::span<const std::uint8_t> data, std::uint32_t crc = 0) noexcept;
// Precondition: crc32c_hw_available(). Calling it on a CPU without SSE4.2 is SIGILL.
std::uint32_t crc32c_hw(std::span<const std::uint8_t> data, std::uint32_t crc = 0) noexcept;
bool crc32c_hw_available() noexcept;

}  // namespace zcp::protocol
