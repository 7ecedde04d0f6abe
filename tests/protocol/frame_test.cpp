// Frame decoding and verification: the wire layout is pinned byte for byte, and each
// malformed class yields its own error with the evidence (seen / wanted) it promises.
#include "protocol/frame.hpp"

#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/crc32c.hpp"
#include "protocol/encode.hpp"

namespace {

using namespace zcp::protocol;  // NOLINT: test brevity
namespace fb = zcp::fb;

Frame hello_frame() {
  auto f = encode_hello(42, "zcp-test 0.1");
  EXPECT_TRUE(f.has_value());
  return f ? std::move(f).value() : Frame{};
}

template <class Fn>
Frame patch_header(Frame f, Fn fn) {
  FrameHeader h = load_header(f.data());
  fn(h);
  store_header(h, f.data());
  return f;
}

// The error decode_frame() reports; a frame that unexpectedly decodes fails the test and
// yields a code no test expects.
DecodeError frame_error(std::span<const std::uint8_t> received, std::size_t true_len) {
  auto r = decode_frame(received, true_len);
  if (r) {
    ADD_FAILURE() << "frame decoded but should not have";
    return DecodeError{DecodeErrc::kCount};
  }
  return r.error();
}
DecodeError frame_error(const Frame& f) {
  return frame_error(f, f.size());
}

DecodeError request_error(const Frame& f) {
  auto frame = decode_frame(f);
  if (!frame) {
    ADD_FAILURE() << "frame-level failure: " << describe(frame.error());
    return DecodeError{DecodeErrc::kCount};
  }
  auto r = verify_request(*frame);
  if (r) {
    ADD_FAILURE() << "request verified but should not have";
    return DecodeError{DecodeErrc::kCount};
  }
  return r.error();
}

DecodeError response_error(const Frame& f) {
  auto r = decode_response(f, f.size());
  if (r) {
    ADD_FAILURE() << "response verified but should not have";
    return DecodeError{DecodeErrc::kCount};
  }
  return r.error();
}

// A request whose union type and table are chosen freely, to forge unknown bodies.
Frame forged_request(std::uint64_t id, fb::RequestBody type, bool with_table) {
  flatbuffers::FlatBufferBuilder fbb;
  flatbuffers::Offset<void> body;
  if (with_table) body = fb::CreateListTopology(fbb).Union();
  finish_request(fbb, fb::CreateRequest(fbb, id, type, body));
  return make_frame(fbb).value();
}

Frame forged_response(fb::ResultCode code, fb::ResponseBody type, bool with_table,
                      std::size_t fd_count = 0) {
  flatbuffers::FlatBufferBuilder fbb;
  flatbuffers::Offset<void> body;
  if (with_table) body = fb::CreateAck(fbb).Union();
  std::vector<fb::FdKind> fds(fd_count, fb::FdKind::Segment);
  auto fdv =
      fd_count ? fbb.CreateVector(fds) : flatbuffers::Offset<flatbuffers::Vector<fb::FdKind>>();
  finish_response(fbb, fb::CreateResponse(fbb, 5, code, 0, type, body, fdv));
  return make_frame(fbb).value();
}

// ---- Wire layout ------------------------------------------------------------------------

TEST(FrameHeader, WireLayoutIsPinned) {
  FrameHeader h;
  h.payload_len = 0x00010203;
  h.payload_crc = 0xA1B2C3D4;
  std::uint8_t b[kFrameHeaderSize] = {};
  store_header(h, b);
  const std::uint8_t expected[kFrameHeaderSize] = {'Z',  'C',  'P',  'F',
                                                   2,    0,    0,    0,      // magic, v2, flags
                                                   0x03, 0x02, 0x01, 0x00,   // payload_len LE
                                                   0xD4, 0xC3, 0xB2, 0xA1};  // crc LE
  EXPECT_EQ(std::memcmp(b, expected, sizeof b), 0);
  EXPECT_EQ(load_header(b), h);
}

TEST(FrameHeader, EncodedFrameCarriesLengthAndCrcOfPayload) {
  const Frame f = hello_frame();
  ASSERT_GT(f.size(), kFrameHeaderSize);
  const FrameHeader h = load_header(f.data());
  EXPECT_EQ(h.magic, kFrameMagic);
  EXPECT_EQ(h.version, kProtocolVersion);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(h.payload_len, f.size() - kFrameHeaderSize);
  EXPECT_EQ(h.payload_crc, crc32c({f.data() + kFrameHeaderSize, h.payload_len}));
}

TEST(DecodeFrame, AcceptsValidFrame) {
  const Frame f = hello_frame();
  auto r = decode_frame(f);
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->payload.data(), f.data() + kFrameHeaderSize);
  EXPECT_EQ(r->payload.size(), f.size() - kFrameHeaderSize);
}

TEST(DecodeFrame, IgnoresBufferBytesPastTheDatagram) {
  Frame f = hello_frame();
  const std::size_t len = f.size();
  f.resize(len + 100, 0xEE);  // receive buffer larger than the datagram
  EXPECT_TRUE(decode_frame(f, len));
}

TEST(DecodeFrame, AcceptsLargestPayloadAndRejectsOneMore) {
  std::vector<std::uint8_t> payload(kMaxPayloadSize, 0x5A);
  const Frame f = make_frame(payload).value();
  EXPECT_EQ(f.size(), kMaxFrameSize);
  EXPECT_TRUE(decode_frame(f));
  payload.push_back(0);
  auto too_big = make_frame(payload);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error(), EncodeError::TooLarge);
}

// ---- One test per malformed class ------------------------------------------------------

TEST(DecodeFrame, BadMagic) {
  const Frame f = patch_header(hello_frame(), [](FrameHeader& h) { h.magic = 0x5850435A; });
  const DecodeError e = frame_error(f);
  EXPECT_EQ(e.code, DecodeErrc::BadMagic);
  EXPECT_EQ(e.seen, 0x5850435Au);
  EXPECT_EQ(e.wanted, kFrameMagic);
  EXPECT_NE(describe(e).find("\"ZCPX\""), std::string::npos) << describe(e);
}

TEST(DecodeFrame, VersionMismatchNamesBothVersions) {
  const Frame f = patch_header(hello_frame(), [](FrameHeader& h) { h.version = 7; });
  const DecodeError e = frame_error(f);
  EXPECT_EQ(e.code, DecodeErrc::VersionMismatch);
  EXPECT_EQ(e.seen, 7u);
  EXPECT_EQ(e.wanted, kProtocolVersion);
  const std::string text = describe(e);
  EXPECT_NE(text.find("version 7"), std::string::npos) << text;
  EXPECT_NE(text.find("version " + std::to_string(kProtocolVersion)), std::string::npos) << text;
}

TEST(DecodeFrame, VersionIsCheckedBeforeFlagsAndLengths) {
  // A newer peer may define flags and change lengths; it must hear "version", not "flags".
  const Frame f = patch_header(hello_frame(), [](FrameHeader& h) {
    h.version = kProtocolVersion + 1;
    h.flags = 0xFFFF;
    h.payload_len = 1u << 30;
  });
  EXPECT_EQ(frame_error(f).code, DecodeErrc::VersionMismatch);
}

TEST(DecodeFrame, BadFlags) {
  for (std::uint16_t flag : {std::uint16_t{0x0001}, std::uint16_t{0x8000}}) {
    const Frame f = patch_header(hello_frame(), [flag](FrameHeader& h) { h.flags = flag; });
    const DecodeError e = frame_error(f);
    EXPECT_EQ(e.code, DecodeErrc::BadFlags);
    EXPECT_EQ(e.seen, flag);
  }
}

TEST(DecodeFrame, BadCrcWhenPayloadCorrupted) {
  Frame f = hello_frame();
  const std::uint32_t sent_crc = load_header(f.data()).payload_crc;
  f.back() ^= 0x01;
  const DecodeError e = frame_error(f);
  EXPECT_EQ(e.code, DecodeErrc::BadCrc);
  EXPECT_EQ(e.seen, sent_crc);
  EXPECT_EQ(e.wanted, crc32c({f.data() + kFrameHeaderSize, f.size() - kFrameHeaderSize}));
}

TEST(DecodeFrame, BadCrcWhenHeaderCrcCorrupted) {
  const Frame f = patch_header(hello_frame(), [](FrameHeader& h) { h.payload_crc ^= 1u << 31; });
  EXPECT_EQ(frame_error(f).code, DecodeErrc::BadCrc);
}

TEST(DecodeFrame, OversizedByHeaderPayloadLen) {
  const Frame f = patch_header(hello_frame(), [](FrameHeader& h) {
    h.payload_len = static_cast<std::uint32_t>(kMaxPayloadSize + 1);
  });
  const DecodeError e = frame_error(f);
  EXPECT_EQ(e.code, DecodeErrc::Oversized);
  EXPECT_EQ(e.seen, kMaxPayloadSize + 1);
  EXPECT_EQ(e.wanted, kMaxPayloadSize);
}

TEST(DecodeFrame, OversizedByTrueDatagramLength) {
  // The reactor's buffer held a valid-looking prefix, but MSG_TRUNC reports the datagram
  // was longer than any frame may be.
  const Frame f = hello_frame();
  const DecodeError e = frame_error(f, kMaxFrameSize + 1);
  EXPECT_EQ(e.code, DecodeErrc::Oversized);
  EXPECT_EQ(e.seen, kMaxFrameSize + 1);
  EXPECT_EQ(e.wanted, kMaxFrameSize);
}

TEST(DecodeFrame, OversizedByTrailingBytes) {
  Frame f = hello_frame();
  const std::size_t frame_len = f.size();
  f.push_back(0);
  const DecodeError e = frame_error(f);
  EXPECT_EQ(e.code, DecodeErrc::Oversized);
  EXPECT_EQ(e.seen, frame_len + 1);
  EXPECT_EQ(e.wanted, frame_len);
}

TEST(DecodeFrame, TruncatedHeader) {
  const Frame f = hello_frame();
  for (std::size_t n = 0; n < kFrameHeaderSize; ++n) {
    const DecodeError e = frame_error({f.data(), n}, n);
    EXPECT_EQ(e.code, DecodeErrc::Truncated) << n;
    EXPECT_EQ(e.seen, n);
    EXPECT_EQ(e.wanted, kFrameHeaderSize);
  }
}

TEST(DecodeFrame, TruncatedPayload) {
  const Frame f = hello_frame();
  const DecodeError e = frame_error({f.data(), f.size() - 1}, f.size() - 1);
  EXPECT_EQ(e.code, DecodeErrc::Truncated);
  EXPECT_EQ(e.seen, f.size() - 1);
  EXPECT_EQ(e.wanted, f.size());
}

TEST(DecodeFrame, TruncatedWhenReceiveBufferWasTooSmall) {
  // MSG_TRUNC: the datagram had the right length, the buffer kept only part of it.
  const Frame f = hello_frame();
  const DecodeError e = frame_error({f.data(), f.size() - 4}, f.size());
  EXPECT_EQ(e.code, DecodeErrc::Truncated);
  EXPECT_EQ(e.seen, f.size() - 4);
}

TEST(VerifyRequest, VerifierFailedOnGarbageWithValidCrc) {
  std::vector<std::uint8_t> garbage(64);
  for (std::size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<std::uint8_t>(i * 37);
  const Frame f = make_frame(garbage).value();
  ASSERT_TRUE(decode_frame(f)) << "the frame itself is valid; only the payload is garbage";
  EXPECT_EQ(request_error(f).code, DecodeErrc::VerifierFailed);
  EXPECT_EQ(response_error(f).code, DecodeErrc::VerifierFailed);
}

TEST(VerifyRequest, VerifierFailedOnEmptyPayload) {
  const Frame f = make_frame(std::span<const std::uint8_t>{}).value();
  EXPECT_EQ(request_error(f).code, DecodeErrc::VerifierFailed);
}

TEST(VerifyRequest, VerifierFailedOnOutOfBoundsRootOffset) {
  Frame f = hello_frame();
  const std::uint32_t far = 0x7FFFFF00;  // root offset far past the payload
  std::memcpy(f.data() + kFrameHeaderSize, &far, sizeof far);
  const std::uint32_t crc = crc32c({f.data() + kFrameHeaderSize, f.size() - kFrameHeaderSize});
  f = patch_header(std::move(f), [crc](FrameHeader& h) { h.payload_crc = crc; });
  EXPECT_EQ(request_error(f).code, DecodeErrc::VerifierFailed);
}

TEST(VerifyRequest, ResponsePayloadIsNotARequest) {
  const Frame ack = encode_ack(3).value();
  EXPECT_EQ(request_error(ack).code, DecodeErrc::VerifierFailed);
  const Frame hello = hello_frame();
  EXPECT_EQ(response_error(hello).code, DecodeErrc::VerifierFailed);
}

TEST(VerifyRequest, UnknownRequestUnionType) {
  // The FlatBuffers verifier accepts unknown union types; verify_request must not.
  for (auto raw : {static_cast<int>(fb::RequestBody::MAX) + 1, 200, 255}) {
    const Frame f = forged_request(77, static_cast<fb::RequestBody>(raw), true);
    const DecodeError e = request_error(f);
    EXPECT_EQ(e.code, DecodeErrc::UnknownRequest) << raw;
    EXPECT_EQ(e.seen, static_cast<std::uint32_t>(raw));
    EXPECT_EQ(e.request_id, 77u) << "the refusal must be matchable by the client";
  }
}

TEST(VerifyRequest, NoneBodyIsUnknownRequest) {
  const Frame f = forged_request(78, fb::RequestBody::NONE, false);
  const DecodeError e = request_error(f);
  EXPECT_EQ(e.code, DecodeErrc::UnknownRequest);
  EXPECT_EQ(e.seen, 0u);
  EXPECT_EQ(e.request_id, 78u);
}

TEST(VerifyRequest, KnownTypeWithoutTableFailsVerification) {
  const Frame f = forged_request(79, fb::RequestBody::Hello, false);
  EXPECT_EQ(request_error(f).code, DecodeErrc::VerifierFailed);
}

TEST(VerifyResponse, UnknownResponseUnionType) {
  const auto raw = static_cast<int>(fb::ResponseBody::MAX) + 1;
  const Frame f = forged_response(fb::ResultCode::Ok, static_cast<fb::ResponseBody>(raw), true);
  const DecodeError e = response_error(f);
  EXPECT_EQ(e.code, DecodeErrc::UnknownResponse);
  EXPECT_EQ(e.seen, static_cast<std::uint32_t>(raw));
}

TEST(VerifyResponse, OkWithoutBodyIsRejectedButErrorWithoutBodyIsNot) {
  EXPECT_EQ(response_error(forged_response(fb::ResultCode::Ok, fb::ResponseBody::NONE, false)).code,
            DecodeErrc::UnknownResponse);
  const Frame err = forged_response(fb::ResultCode::NotFound, fb::ResponseBody::NONE, false);
  auto r = decode_response(err, err.size());
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ((*r)->code(), fb::ResultCode::NotFound);
}

TEST(VerifyResponse, TooManyFdsDescribed) {
  const Frame ok =
      forged_response(fb::ResultCode::Ok, fb::ResponseBody::Ack, true, kMaxFdsPerFrame);
  EXPECT_TRUE(decode_response(ok, ok.size()));
  const Frame bad =
      forged_response(fb::ResultCode::Ok, fb::ResponseBody::Ack, true, kMaxFdsPerFrame + 1);
  EXPECT_EQ(response_error(bad).code, DecodeErrc::VerifierFailed);
}

// The old Diroute daemon's defect "unvalidated text protocol": it parsed colon-separated text
// commands with no length, encoding or version check. Such bytes now die at the magic.
TEST(SeedDefect, UnvalidatedTextProtocol) {
  const std::string_view old = "REGISTER:market_feed:4242:1";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(old.data()),
                                            old.size());
  const DecodeError e = frame_error(bytes, bytes.size());
  EXPECT_EQ(e.code, DecodeErrc::BadMagic);
  EXPECT_NE(describe(e).find("\"REGI\""), std::string::npos) << describe(e);
  // And the answer the daemon sends back is itself a valid, verified error response.
  const Frame reply = encode_rejection(e).value();
  auto r = decode_response(reply, reply.size());
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ((*r)->code(), fb::ResultCode::BadMagic);
  EXPECT_EQ((*r)->request_id(), 0u);
}

// ---- Error codes -------------------------------------------------------------------------

TEST(DecodeErrors, EveryMalformedClassHasItsOwnFrameLevelResultCode) {
  std::set<fb::ResultCode> codes;
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kDecodeErrcCount; ++i) {
    const auto c = static_cast<DecodeErrc>(i);
    EXPECT_TRUE(is_frame_level(to_result_code(c))) << to_string(c);
    EXPECT_NE(to_string(c), "Unknown");
    names.insert(to_string(c));
    if (c != DecodeErrc::UnknownResponse) codes.insert(to_result_code(c));  // shares a code
  }
  EXPECT_EQ(codes.size(), kDecodeErrcCount - 1);
  EXPECT_EQ(names.size(), kDecodeErrcCount);
  EXPECT_EQ(to_result_code(DecodeErrc::BadMagic), fb::ResultCode::BadMagic);
  EXPECT_EQ(to_result_code(DecodeErrc::VersionMismatch), fb::ResultCode::VersionMismatch);
  EXPECT_EQ(to_result_code(DecodeErrc::BadCrc), fb::ResultCode::BadCrc);
  EXPECT_EQ(to_result_code(DecodeErrc::VerifierFailed), fb::ResultCode::VerifierFailed);
}

TEST(DecodeErrors, RequestLevelCodesAreNotFrameLevel) {
  EXPECT_FALSE(is_frame_level(fb::ResultCode::Ok));
  EXPECT_FALSE(is_frame_level(fb::ResultCode::NotRegistered));
  EXPECT_FALSE(is_frame_level(fb::ResultCode::Internal));
  EXPECT_EQ(to_string(fb::ResultCode::LimitReached), "LimitReached");
  EXPECT_EQ(to_string(static_cast<fb::ResultCode>(12)), "Unknown");   // gap
  EXPECT_EQ(to_string(static_cast<fb::ResultCode>(999)), "Unknown");  // past the end
}

}  // namespace
