// CRC32C: both implementations against published vectors (RFC 3720 appendix B.4 and the
// common "123456789" check value), and against each other on every length and alignment.
#include "protocol/crc32c.hpp"

#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace {

using zcp::protocol::crc32c;
using zcp::protocol::crc32c_hw;
using zcp::protocol::crc32c_hw_available;
using zcp::protocol::crc32c_table;

using CrcFn = std::uint32_t (*)(std::span<const std::uint8_t>, std::uint32_t) noexcept;

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct Vector {
  const char* name;
  std::vector<std::uint8_t> data;
  std::uint32_t crc;
};

std::vector<Vector> known_vectors() {
  std::vector<Vector> v;
  const std::string_view check = "123456789";
  v.push_back({"check", {check.begin(), check.end()}, 0xE3069283u});
  v.push_back({"empty", {}, 0x00000000u});
  v.push_back({"32 zeros", std::vector<std::uint8_t>(32, 0x00), 0x8A9136AAu});
  v.push_back({"32 ones", std::vector<std::uint8_t>(32, 0xFF), 0x62A8AB43u});
  std::vector<std::uint8_t> inc(32);
  std::iota(inc.begin(), inc.end(), std::uint8_t{0});
  v.push_back({"incrementing", inc, 0x46DD794Eu});
  std::vector<std::uint8_t> dec(inc.rbegin(), inc.rend());
  v.push_back({"decrementing", dec, 0x113FDB5Cu});
  return v;
}

void expect_vectors(CrcFn fn) {
  for (const auto& v : known_vectors()) {
    EXPECT_EQ(fn(v.data, 0), v.crc) << v.name;
  }
}

TEST(Crc32c, TablePathMatchesKnownVectors) {
  expect_vectors(&crc32c_table);
}

TEST(Crc32c, HardwarePathMatchesKnownVectors) {
  if (!crc32c_hw_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  expect_vectors(&crc32c_hw);
}

TEST(Crc32c, DispatcherMatchesKnownVectors) {
  expect_vectors(
      [](std::span<const std::uint8_t> d, std::uint32_t c) noexcept { return crc32c(d, c); });
}

TEST(Crc32c, ChainingEqualsOneShot) {
  const auto data = bytes("the quick brown fox jumps over the lazy dog, twice over");
  const std::uint32_t whole = crc32c_table(data);
  for (std::size_t cut = 0; cut <= data.size(); ++cut) {
    EXPECT_EQ(crc32c_table(data.subspan(cut), crc32c_table(data.first(cut))), whole) << cut;
    EXPECT_EQ(crc32c(data.subspan(cut), crc32c(data.first(cut))), whole) << cut;
  }
}

// The hardware loop has 8-, 4- and 1-byte stages; every length 0..259 at every start
// alignment 0..7 crosses each stage boundary.
TEST(Crc32c, HardwareEqualsTableOnEveryLengthAndAlignment) {
  if (!crc32c_hw_available()) GTEST_SKIP() << "CPU has no SSE4.2";
  std::mt19937 rng(12345);
  std::vector<std::uint8_t> buf(300);
  for (auto& b : buf)
    b = static_cast<std::uint8_t>(rng());
  for (std::size_t off = 0; off < 8; ++off) {
    for (std::size_t len = 0; len + off <= 260; ++len) {
      const std::span<const std::uint8_t> s(buf.data() + off, len);
      ASSERT_EQ(crc32c_hw(s, 0), crc32c_table(s, 0)) << "off=" << off << " len=" << len;
      ASSERT_EQ(crc32c_hw(s, 0xDEADBEEF), crc32c_table(s, 0xDEADBEEF));
    }
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  std::array<std::uint8_t, 64> buf{};
  std::iota(buf.begin(), buf.end(), std::uint8_t{7});
  const std::uint32_t good = crc32c(buf);
  for (std::size_t bit = 0; bit < buf.size() * 8; ++bit) {
    buf[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_NE(crc32c(buf), good) << bit;
    buf[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  }
}

}  // namespace
