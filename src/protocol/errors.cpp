#include "protocol/errors.hpp"

#include <cstdio>

namespace zcp::protocol {

fb::ResultCode to_result_code(DecodeErrc code) noexcept {
  switch (code) {
    case DecodeErrc::BadMagic:
      return fb::ResultCode::BadMagic;
    case DecodeErrc::VersionMismatch:
      return fb::ResultCode::VersionMismatch;
    case DecodeErrc::BadFlags:
      return fb::ResultCode::BadFlags;
    case DecodeErrc::Truncated:
      return fb::ResultCode::Truncated;
    case DecodeErrc::Oversized:
      return fb::ResultCode::Oversized;
    case DecodeErrc::BadCrc:
      return fb::ResultCode::BadCrc;
    case DecodeErrc::VerifierFailed:
      return fb::ResultCode::VerifierFailed;
    // A client never answers the daemon, so an unknown response has no reply of its own;
    // the mapping exists only so every code has one.
    case DecodeErrc::UnknownRequest:
    case DecodeErrc::UnknownResponse:
      return fb::ResultCode::UnknownRequest;
    case DecodeErrc::kCount:
      break;
  }
  return fb::ResultCode::Internal;
}

std::string_view to_string(DecodeErrc code) noexcept {
  switch (code) {
    case DecodeErrc::BadMagic:
      return "BadMagic";
    case DecodeErrc::VersionMismatch:
      return "VersionMismatch";
    case DecodeErrc::BadFlags:
      return "BadFlags";
    case DecodeErrc::Truncated:
      return "Truncated";
    case DecodeErrc::Oversized:
      return "Oversized";
    case DecodeErrc::BadCrc:
      return "BadCrc";
    case DecodeErrc::VerifierFailed:
      return "VerifierFailed";
    case DecodeErrc::UnknownRequest:
      return "UnknownRequest";
    case DecodeErrc::UnknownResponse:
      return "UnknownResponse";
    case DecodeErrc::kCount:
      break;
  }
  return "Unknown";
}

std::string_view to_string(fb::ResultCode code) noexcept {
  // EnumNameResultCode returns "" for values outside the enum or in its gaps.
  std::string_view name = fb::EnumNameResultCode(code);
  return name.empty() ? std::string_view("Unknown") : name;
}

bool is_frame_level(fb::ResultCode code) noexcept {
  const auto v = static_cast<std::uint16_t>(code);
  return v >= 1 && v <= 15;
}

std::string describe(const DecodeError& e) {
  char buf[160];
  switch (e.code) {
    case DecodeErrc::BadMagic: {
      // Show the bytes too: "GET " or "REGI" tells at once what connected to us.
      char text[5];
      for (int i = 0; i < 4; ++i) {
        const auto c = static_cast<char>((e.seen >> (8 * i)) & 0xFFu);
        text[i] = (c >= 0x20 && c < 0x7F) ? c : '.';
      }
      text[4] = '\0';
      std::snprintf(buf, sizeof buf, "bad magic 0x%08x (\"%s\"), expected 0x%08x (\"ZCPF\")",
                    e.seen, text, e.wanted);
      break;
    }
    case DecodeErrc::VersionMismatch:
      std::snprintf(buf, sizeof buf,
                    "protocol version mismatch: the frame has version %u, this side speaks "
                    "version %u",
                    e.seen, e.wanted);
      break;
    case DecodeErrc::BadFlags:
      std::snprintf(buf, sizeof buf, "unknown frame flag bits 0x%04x (known: 0x%04x)", e.seen,
                    e.wanted);
      break;
    case DecodeErrc::Truncated:
      std::snprintf(buf, sizeof buf, "truncated frame: %u bytes, at least %u needed", e.seen,
                    e.wanted);
      break;
    case DecodeErrc::Oversized:
      std::snprintf(buf, sizeof buf, "oversized frame: %u bytes, limit %u", e.seen, e.wanted);
      break;
    case DecodeErrc::BadCrc:
      std::snprintf(buf, sizeof buf, "payload CRC32C mismatch: header 0x%08x, computed 0x%08x",
                    e.seen, e.wanted);
      break;
    case DecodeErrc::VerifierFailed:
      std::snprintf(buf, sizeof buf, "payload failed FlatBuffers verification");
      break;
    case DecodeErrc::UnknownRequest:
      std::snprintf(buf, sizeof buf, "unknown request body type %u", e.seen);
      break;
    case DecodeErrc::UnknownResponse:
      std::snprintf(buf, sizeof buf, "unknown or missing response body (type %u)", e.seen);
      break;
    default:
      std::snprintf(buf, sizeof buf, "unknown decode error %u", static_cast<unsigned>(e.code));
      break;
  }
  return buf;
}

}  // namespace zcp::protocol
