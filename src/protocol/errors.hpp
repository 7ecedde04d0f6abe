// Why a received frame was rejected. Each malformed class has its own code, its own
// fb::ResultCode on the wire, and a message that says what was seen and what was wanted,
// so a rejected frame can be counted by class, answered precisely and logged usefully.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/control_generated.h"

namespace zcp::protocol {

enum class DecodeErrc : std::uint8_t {
  BadMagic,         // first 4 bytes are not "ZCPF": not our protocol at all
  VersionMismatch,  // header version != kProtocolVersion; `seen` is the peer's version
  BadFlags,         // flag bits this version does not define
  Truncated,        // shorter than the header, or than header + payload_len
  Oversized,        // datagram or payload_len above kMaxFrameSize, or bytes past the payload
  BadCrc,           // payload CRC32C differs from the header
  VerifierFailed,   // FlatBuffers verifier rejected the payload (or a required part is absent)
  UnknownRequest,   // request union body is NONE or a type this side does not know
  UnknownResponse,  // response union body unknown, or NONE on an Ok reply
  kCount            // sentinel: number of codes, for per-class counters
};

inline constexpr std::size_t kDecodeErrcCount = static_cast<std::size_t>(DecodeErrc::kCount);

// A rejection with its evidence. What `seen` and `wanted` hold depends on the code:
//   BadMagic         seen = magic read (LE u32),   wanted = kFrameMagic
//   VersionMismatch  seen = peer's version,        wanted = kProtocolVersion
//   BadFlags         seen = unknown flag bits,     wanted = kKnownFlags
//   Truncated        seen = bytes available,       wanted = bytes needed
//   Oversized        seen = length found,          wanted = the limit (or exact length)
//   BadCrc           seen = CRC in the header,     wanted = CRC computed over the payload
//   Unknown*         seen = union type byte,       wanted = 0
//   VerifierFailed   both 0
// request_id is that of the verified request for UnknownRequest (so the refusal can be
// matched by the client); for every other code the payload was not trusted, and it is 0.
struct DecodeError {
  DecodeErrc code = DecodeErrc::VerifierFailed;
  std::uint32_t seen = 0;
  std::uint32_t wanted = 0;
  std::uint64_t request_id = 0;

  friend bool operator==(const DecodeError&, const DecodeError&) = default;
};

// The result code a reply to this rejection carries.
fb::ResultCode to_result_code(DecodeErrc code) noexcept;
inline fb::ResultCode to_result_code(const DecodeError& error) noexcept {
  return to_result_code(error.code);
}

// "BadMagic", "VersionMismatch", ... (stable names, usable as counter labels).
std::string_view to_string(DecodeErrc code) noexcept;

// The wire name of a result code ("Ok", "NotFound", ...), or "Unknown" for a value this
// version does not define.
std::string_view to_string(fb::ResultCode code) noexcept;

// True for the codes that reject a frame rather than a request (1..15 on the wire).
bool is_frame_level(fb::ResultCode code) noexcept;

// Human text with the evidence, e.g. "protocol version mismatch: the frame has version 2,
// this side speaks version 1". Used as the `message` of error replies and in logs.
std::string describe(const DecodeError& error);

}  // namespace zcp::protocol
