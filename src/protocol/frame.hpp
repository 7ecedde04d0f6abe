// Frames: the envelope around every control message.
//
// One frame per SOCK_SEQPACKET datagram: a 16-byte little-endian header followed by one
// FlatBuffers payload (a zcp.fb.Request or zcp.fb.Response, see schemas/control.fbs).
//
//   offset  size  field
//        0     4  magic        "ZCPF" (0x4650435A as a LE u32)
//        4     2  version      kProtocolVersion
//        6     2  flags        reserved; must be 0 (no flag is defined yet)
//        8     4  payload_len  bytes after the header
//       12     4  payload_crc  CRC32C of the payload
//
// Offsets 0..5 (magic, version) are frozen across all versions, so any peer can tell what
// it is talking to. docs/protocol.md is the full reference.
//
// Receiving is two steps, both without heap allocation and without exceptions:
//   decode_frame()   checks the header, lengths and CRC            -> FrameView
//   verify_request() runs the FlatBuffers verifier, then checks the union body
//                    BEFORE any field is read                       -> const fb::Request*
// decode_request() / decode_response() do both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include <zcp/expected.hpp>

#include "protocol/control_generated.h"
#include "protocol/errors.hpp"

namespace zcp::protocol {

inline constexpr std::uint32_t kFrameMagic = 0x4650435Au;  // bytes 'Z' 'C' 'P' 'F'
inline constexpr std::uint16_t kProtocolVersion = 2;
inline constexpr std::uint16_t kKnownFlags = 0;  // no flag bit is defined
inline constexpr std::size_t kFrameHeaderSize = 16;

// Largest datagram, header included. Too low: a ListTopology reply of a large system, or
// long names, no longer fit in one frame. Too high: the daemon sizes every receive buffer
// (provided-buffer ring entries) to this, so memory grows with it, and a hostile peer gets
// more bytes checksummed and verified per datagram. 64 KiB is far above any real control
// message and well below the default socket buffer (net.core.wmem_default, ~208 KiB).
inline constexpr std::size_t kMaxFrameSize = 64 * 1024;
inline constexpr std::size_t kMaxPayloadSize = kMaxFrameSize - kFrameHeaderSize;

// FlatBuffers verifier limits. Depth: the deepest legal message is Response ->
// TopologyReply -> [entry] -> entry -> string (5); too low rejects valid messages, too high
// lets a crafted buffer recurse further. Tables: a full 64 KiB topology reply holds under
// 2000 tables; the cap bounds the work of a buffer whose offsets all point at one table.
inline constexpr flatbuffers::uoffset_t kVerifierMaxDepth = 16;
inline constexpr flatbuffers::uoffset_t kVerifierMaxTables = 4096;

// Most descriptors one Response may carry. The receiver sizes its SCM_RIGHTS control
// buffer with it (CMSG_SPACE(kMaxFdsPerFrame * sizeof(int))). Too low: a WakeFds notice
// for a topic with many subscribers is split into more datagrams; too high: every client
// recvmsg reserves more buffer (68 bytes per 16 fds).
inline constexpr std::size_t kMaxFdsPerFrame = 16;

// FlatBuffers file identifiers: a request payload and a response payload can never be
// mistaken for each other (each fails the other's verification).
inline constexpr char kRequestFileId[] = "ZCRQ";
inline constexpr char kResponseFileId[] = "ZCRS";

// Host representation of the header. On the wire it is always little-endian; use
// load_header()/store_header() rather than copying the struct, so the code stays right on
// a big-endian host and never reads through a misaligned pointer.
struct FrameHeader {
  std::uint32_t magic = kFrameMagic;
  std::uint16_t version = kProtocolVersion;
  std::uint16_t flags = 0;
  std::uint32_t payload_len = 0;
  std::uint32_t payload_crc = 0;

  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};
static_assert(std::is_trivially_copyable_v<FrameHeader>, "the header is plain bytes on the wire");
static_assert(sizeof(FrameHeader) == kFrameHeaderSize, "wire header is exactly 16 bytes");
static_assert(offsetof(FrameHeader, magic) == 0, "magic is frozen at offset 0");
static_assert(offsetof(FrameHeader, version) == 4, "version is frozen at offset 4");
static_assert(offsetof(FrameHeader, flags) == 6, "wire layout: flags at 6");
static_assert(offsetof(FrameHeader, payload_len) == 8, "wire layout: payload_len at 8");
static_assert(offsetof(FrameHeader, payload_crc) == 12, "wire layout: payload_crc at 12");

// Reads/writes kFrameHeaderSize bytes at p (any alignment).
FrameHeader load_header(const std::uint8_t* p) noexcept;
void store_header(const FrameHeader& header, std::uint8_t* p) noexcept;

// A frame that passed decode_frame(): header checked, payload complete and CRC-correct.
// `payload` points into the caller's buffer, which must outlive the view. The buffer
// should be 8-byte aligned (malloc'd and page-aligned buffers are), because FlatBuffers
// reads fields in place.
struct FrameView {
  FrameHeader header;
  std::span<const std::uint8_t> payload;
};

// Checks one received datagram. `received` holds the bytes in the buffer; `true_len` is the
// datagram's real length (recv with MSG_TRUNC), which exceeds received.size() when the
// buffer was too small. Bytes of `received` beyond true_len are ignored. Checks, in order:
// true length, header present, magic, version, flags, payload_len, exact length, CRC.
zcp::Expected<FrameView, DecodeError> decode_frame(std::span<const std::uint8_t> received,
                                                   std::size_t true_len) noexcept;
inline zcp::Expected<FrameView, DecodeError> decode_frame(
    std::span<const std::uint8_t> datagram) noexcept {
  return decode_frame(datagram, datagram.size());
}

// Verifies the payload as a Request (identifier, every offset, string and vector, depth and
// table limits), then requires a known, present union body. Only then is the root returned.
zcp::Expected<const fb::Request*, DecodeError> verify_request(const FrameView& frame) noexcept;

// Same for a Response. A body is required when code == Ok; error replies may have none.
zcp::Expected<const fb::Response*, DecodeError> verify_response(const FrameView& frame) noexcept;

// decode_frame() then verify_*().
zcp::Expected<const fb::Request*, DecodeError> decode_request(
    std::span<const std::uint8_t> received, std::size_t true_len) noexcept;
zcp::Expected<const fb::Response*, DecodeError> decode_response(
    std::span<const std::uint8_t> received, std::size_t true_len) noexcept;

// A verified string field as a view; absent strings read as empty.
inline std::string_view as_view(const flatbuffers::String* s) noexcept {
  return s != nullptr ? std::string_view(s->c_str(), s->size()) : std::string_view{};
}

}  // namespace zcp::protocol
