#include "protocol/frame.hpp"

#include <bit>
#include <cassert>
#include <cstring>

#include "protocol/crc32c.hpp"

namespace zcp::protocol {
namespace {

template <class T>
T load_le(const std::uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
  }
  return v;
}

template <class T>
void store_le(T v, std::uint8_t* p) noexcept {
  if constexpr (std::endian::native == std::endian::big) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
  }
  std::memcpy(p, &v, sizeof v);
}

Unexpected<DecodeError> reject(DecodeErrc code, std::size_t seen = 0,
                               std::size_t wanted = 0) noexcept {
  // Every value fits in 32 bits except a true datagram length, which the kernel caps far
  // below 4 GiB anyway; saturate rather than wrap so the message can never understate it.
  auto clamp = [](std::size_t v) {
    return v > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(v);
  };
  return Unexpected(DecodeError{code, clamp(seen), clamp(wanted)});
}

flatbuffers::Verifier::Options verifier_options() noexcept {
  flatbuffers::Verifier::Options o;
  o.max_depth = kVerifierMaxDepth;
  o.max_tables = kVerifierMaxTables;
  o.check_alignment = true;
  o.check_nested_flatbuffers = true;
  return o;
}

// FlatBuffers reads fields in place with plain loads, and its verifier checks alignment
// relative to the buffer start only; so the buffer itself must be aligned (a caller bug,
// not a peer's, hence an assert rather than an error).
void assert_aligned(const FrameView& frame) noexcept {
  assert(reinterpret_cast<std::uintptr_t>(frame.payload.data()) % 8 == 0 &&
         "receive buffers must be 8-byte aligned");
  (void)frame;
}

}  // namespace

FrameHeader load_header(const std::uint8_t* p) noexcept {
  FrameHeader h;
  h.magic = load_le<std::uint32_t>(p + offsetof(FrameHeader, magic));
  h.version = load_le<std::uint16_t>(p + offsetof(FrameHeader, version));
  h.flags = load_le<std::uint16_t>(p + offsetof(FrameHeader, flags));
  h.payload_len = load_le<std::uint32_t>(p + offsetof(FrameHeader, payload_len));
  h.payload_crc = load_le<std::uint32_t>(p + offsetof(FrameHeader, payload_crc));
  return h;
}

void store_header(const FrameHeader& h, std::uint8_t* p) noexcept {
  store_le(h.magic, p + offsetof(FrameHeader, magic));
  store_le(h.version, p + offsetof(FrameHeader, version));
  store_le(h.flags, p + offsetof(FrameHeader, flags));
  store_le(h.payload_len, p + offsetof(FrameHeader, payload_len));
  store_le(h.payload_crc, p + offsetof(FrameHeader, payload_crc));
}

zcp::Expected<FrameView, DecodeError> decode_frame(std::span<const std::uint8_t> received,
                                                   std::size_t true_len) noexcept {
  // The true length is known without reading a byte, and a datagram the receive buffer
  // could not hold must be rejected as what it is, not as whatever its prefix looks like.
  if (true_len > kMaxFrameSize) return reject(DecodeErrc::Oversized, true_len, kMaxFrameSize);
  if (received.size() > true_len) received = received.first(true_len);
  if (received.size() < kFrameHeaderSize) {
    return reject(DecodeErrc::Truncated, received.size(), kFrameHeaderSize);
  }

  const FrameHeader h = load_header(received.data());
  if (h.magic != kFrameMagic) return reject(DecodeErrc::BadMagic, h.magic, kFrameMagic);
  // Version before anything else version-specific (flags, lengths): a peer of another
  // version gets told so, not that its flags or lengths look wrong to us.
  if (h.version != kProtocolVersion) {
    return reject(DecodeErrc::VersionMismatch, h.version, kProtocolVersion);
  }
  if ((h.flags & static_cast<std::uint16_t>(~kKnownFlags)) != 0) {
    return reject(DecodeErrc::BadFlags, static_cast<std::uint16_t>(h.flags & ~kKnownFlags),
                  kKnownFlags);
  }
  if (h.payload_len > kMaxPayloadSize) {
    return reject(DecodeErrc::Oversized, h.payload_len, kMaxPayloadSize);
  }
  const std::size_t frame_len = kFrameHeaderSize + h.payload_len;
  if (true_len < frame_len) return reject(DecodeErrc::Truncated, true_len, frame_len);
  if (received.size() < frame_len) {
    // The datagram was long enough but the caller's buffer was not: we do not have it all.
    return reject(DecodeErrc::Truncated, received.size(), frame_len);
  }
  // One frame per datagram: bytes after the payload mean the sender and we disagree on
  // the length, and nothing after the payload may be silently ignored.
  if (true_len > frame_len) return reject(DecodeErrc::Oversized, true_len, frame_len);

  const auto payload = received.subspan(kFrameHeaderSize, h.payload_len);
  const std::uint32_t crc = crc32c(payload);
  if (crc != h.payload_crc) return reject(DecodeErrc::BadCrc, h.payload_crc, crc);
  return FrameView{h, payload};
}

zcp::Expected<const fb::Request*, DecodeError> verify_request(const FrameView& frame) noexcept {
  assert_aligned(frame);
  flatbuffers::Verifier verifier(frame.payload.data(), frame.payload.size(), verifier_options());
  if (!verifier.VerifyBuffer<fb::Request>(kRequestFileId)) {
    return reject(DecodeErrc::VerifierFailed);
  }
  const auto* req = flatbuffers::GetRoot<fb::Request>(frame.payload.data());
  // The verifier accepts union types it does not know (forward compatibility) and NONE,
  // so both are checked here, before anyone switches on the type.
  const auto type = req->body_type();
  if (type == fb::RequestBody::NONE || type > fb::RequestBody::MAX) {
    auto error = reject(DecodeErrc::UnknownRequest, static_cast<std::uint8_t>(type));
    error.error().request_id = req->request_id();  // verified: safe to read
    return error;
  }
  // A known type whose table offset is absent verifies too; it would read as nullptr.
  if (req->body() == nullptr) return reject(DecodeErrc::VerifierFailed);
  return req;
}

zcp::Expected<const fb::Response*, DecodeError> verify_response(const FrameView& frame) noexcept {
  assert_aligned(frame);
  flatbuffers::Verifier verifier(frame.payload.data(), frame.payload.size(), verifier_options());
  if (!verifier.VerifyBuffer<fb::Response>(kResponseFileId)) {
    return reject(DecodeErrc::VerifierFailed);
  }
  const auto* rsp = flatbuffers::GetRoot<fb::Response>(frame.payload.data());
  const auto type = rsp->body_type();
  if (type > fb::ResponseBody::MAX ||
      (type == fb::ResponseBody::NONE && rsp->code() == fb::ResultCode::Ok)) {
    return reject(DecodeErrc::UnknownResponse, static_cast<std::uint8_t>(type));
  }
  if (type != fb::ResponseBody::NONE && rsp->body() == nullptr) {
    return reject(DecodeErrc::VerifierFailed);
  }
  // The receiver's control buffer holds at most kMaxFdsPerFrame descriptors; a reply that
  // claims more cannot be matched with what arrived.
  if (rsp->fds() != nullptr && rsp->fds()->size() > kMaxFdsPerFrame) {
    return reject(DecodeErrc::VerifierFailed);
  }
  return rsp;
}

zcp::Expected<const fb::Request*, DecodeError> decode_request(
    std::span<const std::uint8_t> received, std::size_t true_len) noexcept {
  auto frame = decode_frame(received, true_len);
  if (!frame) return Unexpected(frame.error());
  return verify_request(*frame);
}

zcp::Expected<const fb::Response*, DecodeError> decode_response(
    std::span<const std::uint8_t> received, std::size_t true_len) noexcept {
  auto frame = decode_frame(received, true_len);
  if (!frame) return Unexpected(frame.error());
  return verify_response(*frame);
}

}  // namespace zcp::protocol
