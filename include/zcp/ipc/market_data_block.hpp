// zcp::ipc::ZeroCopyMarketBlock: the 8 KiB unit of the market-data broadcast API (seed 004).
//
// One block is one zerocp message: the broadcaster writes it once, in place, in a shared-memory
// chunk of the daemon's 8 KiB pool class, and every DataSubscriber reads that same chunk. The
// layout is the seed's (sequence_number, timestamp_ns, record_count, data_type, flags, data)
// with one addition, data_size, placed where the seed had implicit padding; docs/broadcast.md
// lists every difference from the seed.
//
//   offset  size  field
//        0     8  sequence_number  per broadcaster, from 1 (the zerocp message sequence)
//        8     8  timestamp_ns     CLOCK_MONOTONIC when the block was published
//       16     8  record_count     records in data[]
//       24     1  data_type        MarketDataType
//       25     1  flags            kFlagBatchFirst / kFlagBatchLast (broadcast_batch)
//       26     2  reserved         zero
//       28     4  data_size        bytes of data[] in use (≤ DATA_SIZE)
//       32  8160  data             the records; 32-byte aligned
//
// A block arrives from another process, so nothing in it is trusted: payload() clamps
// data_size to DATA_SIZE.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

namespace zcp::ipc {

// What the records of a block are. The enumerators keep the seed's spelling (not kCamelCase)
// so that code written against the seed compiles unchanged.
enum class MarketDataType : std::uint8_t {
  Tick = 0,
  Bar = 1,
  OrderBook = 2,
  Trade = 3,
  Quote = 4,
  Snapshot = 5,
  Custom = 255,  // anything else; the application's own framing
};

// "Tick", "Bar", ...; "Unknown" for a value outside the enumeration (blocks are untrusted).
const char* to_string(MarketDataType type) noexcept;

struct alignas(64) ZeroCopyMarketBlock {
  // Seed names (not kCamelCase), kept so that ported code compiles unchanged.
  static constexpr std::size_t BLOCK_SIZE = 8192;  // NOLINT(readability-identifier-naming)
  static constexpr std::size_t HEADER_SIZE = 32;   // NOLINT(readability-identifier-naming)
  // NOLINTNEXTLINE(readability-identifier-naming): 8160, as in the seed.
  static constexpr std::size_t DATA_SIZE = BLOCK_SIZE - HEADER_SIZE;

  // flags bits. broadcast_batch() marks the first and the last block of one call, so a
  // receiver can tell where a batch that spans several blocks begins and ends. A block sent
  // by broadcast() carries both.
  static constexpr std::uint8_t kFlagBatchFirst = 1U << 0;
  static constexpr std::uint8_t kFlagBatchLast = 1U << 1;

  std::uint64_t sequence_number = 0;
  std::uint64_t timestamp_ns = 0;
  std::uint64_t record_count = 0;
  MarketDataType data_type = MarketDataType::Custom;
  std::uint8_t flags = 0;
  std::uint16_t reserved = 0;
  std::uint32_t data_size = 0;
  // Left uninitialised by construction on purpose: a loaned block is 8 KiB, and zeroing the
  // data area would cost more than writing the records that go into it.
  std::uint8_t data[DATA_SIZE];

  // The bytes in use: data[0, min(data_size, DATA_SIZE)).
  std::span<const std::uint8_t> payload() const noexcept {
    return {data, std::min<std::size_t>(data_size, DATA_SIZE)};
  }
  // True if the header is self-consistent (data_size within the block).
  bool well_formed() const noexcept { return data_size <= DATA_SIZE; }
};

static_assert(sizeof(ZeroCopyMarketBlock) == ZeroCopyMarketBlock::BLOCK_SIZE,
              "ZeroCopyMarketBlock must be exactly BLOCK_SIZE bytes: it fills one 8 KiB chunk of "
              "the daemon's pool, and subscribers reject messages of any other size");
static_assert(alignof(ZeroCopyMarketBlock) == 64,
              "one block starts on a cache line (zerocp payloads are 64-byte aligned)");
static_assert(offsetof(ZeroCopyMarketBlock, data_type) == 24 &&
                  offsetof(ZeroCopyMarketBlock, flags) == 25 &&
                  offsetof(ZeroCopyMarketBlock, data_size) == 28,
              "the header layout is shared by every process on the host; change it only with "
              "a new stream name (docs/broadcast.md)");
static_assert(offsetof(ZeroCopyMarketBlock, data) == ZeroCopyMarketBlock::HEADER_SIZE,
              "data[] starts after a 32-byte header, so records of up to 32-byte alignment "
              "(double, int64, SSE/AVX types) can be read in place");
static_assert(std::is_trivially_copyable_v<ZeroCopyMarketBlock> &&
                  std::is_standard_layout_v<ZeroCopyMarketBlock>,
              "a block is bytes in shared memory, read by other processes");

}  // namespace zcp::ipc
