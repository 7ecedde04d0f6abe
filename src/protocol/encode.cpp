#include "protocol/encode.hpp"

#include <cassert>
#include <cstring>

#include "protocol/crc32c.hpp"

namespace zcp::protocol {
namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// Small control messages fit in the builder's first block, so it never grows.
constexpr std::size_t kInitialBuilderSize = 512;

Offset<flatbuffers::String> str(FlatBufferBuilder& fbb, std::string_view s) {
  // A default string_view has data() == nullptr, and memcpy from nullptr is UB even for 0
  // bytes (UBSan says so).
  return fbb.CreateString(s.empty() ? "" : s.data(), s.size());
}

template <class T>
EncodeResult request_frame(FlatBufferBuilder& fbb, std::uint64_t request_id, fb::RequestBody type,
                           Offset<T> body) {
  finish_request(fbb, fb::CreateRequest(fbb, request_id, type, body.Union()));
  return make_frame(fbb);
}

// fds/message are built before the Response table (FlatBuffers builds children first).
EncodeResult response_frame(FlatBufferBuilder& fbb, std::uint64_t request_id, fb::ResultCode code,
                            std::string_view message, fb::ResponseBody type, Offset<void> body,
                            std::span<const fb::FdKind> fds = {}) {
  if (fds.size() > kMaxFdsPerFrame) return Unexpected(EncodeError::TooManyFds);
  const auto msg = message.empty() ? Offset<flatbuffers::String>() : str(fbb, message);
  Offset<flatbuffers::Vector<fb::FdKind>> fd_vec;
  if (!fds.empty()) fd_vec = fbb.CreateVector(fds.data(), fds.size());
  finish_response(fbb, fb::CreateResponse(fbb, request_id, code, msg, type, body, fd_vec));
  return make_frame(fbb);
}

template <class T>
EncodeResult ok_response(FlatBufferBuilder& fbb, std::uint64_t request_id, fb::ResponseBody type,
                         Offset<T> body, std::span<const fb::FdKind> fds = {}) {
  return response_frame(fbb, request_id, fb::ResultCode::Ok, {}, type, body.Union(), fds);
}

}  // namespace

std::string_view to_string(EncodeError e) noexcept {
  switch (e) {
    case EncodeError::TooLarge:
      return "TooLarge";
    case EncodeError::BufferTooSmall:
      return "BufferTooSmall";
    case EncodeError::TooManyFds:
      return "TooManyFds";
  }
  return "Unknown";
}

zcp::Expected<std::size_t, EncodeError> write_frame(std::span<const std::uint8_t> payload,
                                                    std::span<std::uint8_t> out) noexcept {
  if (payload.size() > kMaxPayloadSize) return Unexpected(EncodeError::TooLarge);
  const std::size_t len = kFrameHeaderSize + payload.size();
  if (out.size() < len) return Unexpected(EncodeError::BufferTooSmall);
  FrameHeader h;
  h.payload_len = static_cast<std::uint32_t>(payload.size());
  h.payload_crc = crc32c(payload);
  store_header(h, out.data());
  if (!payload.empty()) std::memcpy(out.data() + kFrameHeaderSize, payload.data(), payload.size());
  return len;
}

zcp::Expected<std::size_t, EncodeError> write_frame(const FlatBufferBuilder& fbb,
                                                    std::span<std::uint8_t> out) noexcept {
  return write_frame({fbb.GetBufferPointer(), fbb.GetSize()}, out);
}

EncodeResult make_frame(std::span<const std::uint8_t> payload) {
  if (payload.size() > kMaxPayloadSize) return Unexpected(EncodeError::TooLarge);
  Frame frame(kFrameHeaderSize + payload.size());
  auto written = write_frame(payload, frame);
  if (!written) return Unexpected(written.error());
  return frame;
}

EncodeResult make_frame(const FlatBufferBuilder& fbb) {
  return make_frame({fbb.GetBufferPointer(), fbb.GetSize()});
}

void finish_request(FlatBufferBuilder& fbb, Offset<fb::Request> root) {
  fbb.Finish(root, kRequestFileId);
}

void finish_response(FlatBufferBuilder& fbb, Offset<fb::Response> root) {
  fbb.Finish(root, kResponseFileId);
}

// ---- Requests ---------------------------------------------------------------------------

EncodeResult encode_hello(std::uint64_t request_id, std::string_view client_version,
                          std::uint16_t protocol_version) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto version = str(fbb, client_version);
  return request_frame(fbb, request_id, fb::RequestBody::Hello,
                       fb::CreateHello(fbb, protocol_version, version));
}

EncodeResult encode_register_process(std::uint64_t request_id, std::string_view name,
                                     bool monitored) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto n = str(fbb, name);
  return request_frame(fbb, request_id, fb::RequestBody::RegisterProcess,
                       fb::CreateRegisterProcess(fbb, n, monitored));
}

EncodeResult encode_unregister_process(std::uint64_t request_id) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  return request_frame(fbb, request_id, fb::RequestBody::UnregisterProcess,
                       fb::CreateUnregisterProcess(fbb));
}

EncodeResult encode_create_publisher(std::uint64_t request_id, const Topic& topic,
                                     const PublisherOptions& options) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto s = str(fbb, topic.service);
  const auto i = str(fbb, topic.instance);
  const auto e = str(fbb, topic.event);
  return request_frame(fbb, request_id, fb::RequestBody::CreatePublisher,
                       fb::CreateCreatePublisher(fbb, s, i, e, options.history_depth,
                                                 options.max_loans, options.max_payload));
}

EncodeResult encode_create_subscriber(std::uint64_t request_id, const Topic& topic,
                                      const SubscriberOptions& options) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto s = str(fbb, topic.service);
  const auto i = str(fbb, topic.instance);
  const auto e = str(fbb, topic.event);
  return request_frame(
      fbb, request_id, fb::RequestBody::CreateSubscriber,
      fb::CreateCreateSubscriber(fbb, s, i, e, options.queue_capacity, options.policy,
                                 options.history_request, options.max_held));
}

EncodeResult encode_destroy_publisher(std::uint64_t request_id, std::uint32_t publisher_id) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  return request_frame(fbb, request_id, fb::RequestBody::DestroyPublisher,
                       fb::CreateDestroyPublisher(fbb, publisher_id));
}

EncodeResult encode_destroy_subscriber(std::uint64_t request_id, std::uint32_t subscriber_id) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  return request_frame(fbb, request_id, fb::RequestBody::DestroySubscriber,
                       fb::CreateDestroySubscriber(fbb, subscriber_id));
}

EncodeResult encode_list_topology(std::uint64_t request_id) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  return request_frame(fbb, request_id, fb::RequestBody::ListTopology, fb::CreateListTopology(fbb));
}

// ---- Replies ----------------------------------------------------------------------------

EncodeResult encode_hello_reply(std::uint64_t request_id, std::string_view daemon_version,
                                std::uint16_t protocol_version) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto v = str(fbb, daemon_version);
  return ok_response(fbb, request_id, fb::ResponseBody::HelloReply,
                     fb::CreateHelloReply(fbb, protocol_version, v));
}

EncodeResult encode_register_process_reply(std::uint64_t request_id, const RegisterGrant& grant,
                                           std::span<const fb::FdKind> fds) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto name = str(fbb, grant.segment_name);
  const auto segment = fb::CreateSegmentInfo(fbb, name, grant.segment_size, grant.layout_version);
  return ok_response(fbb, request_id, fb::ResponseBody::RegisterProcessReply,
                     fb::CreateRegisterProcessReply(fbb, grant.slot, grant.heartbeat_interval_ms,
                                                    grant.heartbeat_timeout_ms, segment),
                     fds);
}

EncodeResult encode_publisher_reply(std::uint64_t request_id, const PublisherGrant& grant,
                                    std::span<const fb::FdKind> fds) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  return ok_response(fbb, request_id, fb::ResponseBody::PublisherReply,
                     fb::CreatePublisherReply(fbb, grant.publisher_id, &grant.ring,
                                              grant.history_depth, grant.worker, &grant.loan_ring,
                                              grant.pool_class, grant.chunk_size, grant.max_loans),
                     fds);
}

EncodeResult encode_subscriber_reply(std::uint64_t request_id, const SubscriberGrant& grant,
                                     std::span<const fb::FdKind> fds) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  return ok_response(fbb, request_id, fb::ResponseBody::SubscriberReply,
                     fb::CreateSubscriberReply(fbb, grant.subscriber_id, &grant.queue,
                                               &grant.release_ring, grant.max_held),
                     fds);
}

EncodeResult encode_subscriber_reply(std::uint64_t request_id, std::uint32_t subscriber_id,
                                     const fb::QueueDescriptor& queue,
                                     std::span<const fb::FdKind> fds) {
  SubscriberGrant grant;
  grant.subscriber_id = subscriber_id;
  grant.queue = queue;
  return encode_subscriber_reply(request_id, grant, fds);
}

EncodeResult encode_ack(std::uint64_t request_id) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  return ok_response(fbb, request_id, fb::ResponseBody::Ack, fb::CreateAck(fbb));
}

EncodeResult encode_topology_reply(std::uint64_t request_id,
                                   std::span<const TopologyProcess> processes,
                                   std::span<const TopologyPublisher> publishers,
                                   std::span<const TopologySubscriber> subscribers) {
  // Each entry is at least a few dozen bytes, so lists this long can never fit: refuse
  // before building megabytes only to throw them away.
  constexpr std::size_t kMinEntryBytes = 16;
  if ((processes.size() + publishers.size() + subscribers.size()) * kMinEntryBytes >
      kMaxPayloadSize) {
    return Unexpected(EncodeError::TooLarge);
  }
  FlatBufferBuilder fbb(4096);
  std::vector<Offset<fb::ProcessEntry>> procs;
  procs.reserve(processes.size());
  for (const auto& p : processes) {
    const auto name = str(fbb, p.name);
    procs.push_back(fb::CreateProcessEntry(fbb, p.slot, p.pid, p.uid, name, p.monitored));
  }
  std::vector<Offset<fb::PublisherEntry>> pubs;
  pubs.reserve(publishers.size());
  for (const auto& p : publishers) {
    const auto s = str(fbb, p.topic.service);
    const auto i = str(fbb, p.topic.instance);
    const auto e = str(fbb, p.topic.event);
    pubs.push_back(fb::CreatePublisherEntry(fbb, p.id, p.slot, s, i, e));
  }
  std::vector<Offset<fb::SubscriberEntry>> subs;
  subs.reserve(subscribers.size());
  for (const auto& p : subscribers) {
    const auto s = str(fbb, p.topic.service);
    const auto i = str(fbb, p.topic.instance);
    const auto e = str(fbb, p.topic.event);
    subs.push_back(fb::CreateSubscriberEntry(fbb, p.id, p.slot, s, i, e, p.capacity, p.policy));
  }
  const auto pv = fbb.CreateVector(procs);
  const auto bv = fbb.CreateVector(pubs);
  const auto sv = fbb.CreateVector(subs);
  return ok_response(fbb, request_id, fb::ResponseBody::TopologyReply,
                     fb::CreateTopologyReply(fbb, pv, bv, sv));
}

EncodeResult encode_daemon_shutdown(std::string_view reason) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  if (reason.size() > kMaxMessageBytes) reason = reason.substr(0, kMaxMessageBytes);
  const auto r = str(fbb, reason);
  const auto body = fb::CreateDaemonShutdown(fbb, r);
  return response_frame(fbb, 0, fb::ResultCode::ShuttingDown, {}, fb::ResponseBody::DaemonShutdown,
                        body.Union());
}

EncodeResult encode_wake_fds(std::span<const std::uint32_t> subscriber_ids) {
  if (subscriber_ids.size() > kMaxFdsPerFrame) return Unexpected(EncodeError::TooManyFds);
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto ids = fbb.CreateVector(subscriber_ids.data(), subscriber_ids.size());
  const auto body = fb::CreateWakeFds(fbb, ids);
  std::array<fb::FdKind, kMaxFdsPerFrame> kinds{};
  kinds.fill(fb::FdKind::SubscriberEventFd);
  return ok_response(fbb, 0, fb::ResponseBody::WakeFds, body,
                     std::span<const fb::FdKind>(kinds.data(), subscriber_ids.size()));
}

EncodeResult encode_wake_fds_revoked(std::span<const std::uint32_t> subscriber_ids) {
  FlatBufferBuilder fbb(kInitialBuilderSize);
  const auto ids = fbb.CreateVector(subscriber_ids.data(), subscriber_ids.size());
  const auto body = fb::CreateWakeFdsRevoked(fbb, ids);
  return ok_response(fbb, 0, fb::ResponseBody::WakeFdsRevoked, body);
}

EncodeResult encode_error_response(std::uint64_t request_id, fb::ResultCode code,
                                   std::string_view message) {
  assert(code != fb::ResultCode::Ok && "an Ok reply has a body: use encode_ack()");
  FlatBufferBuilder fbb(kInitialBuilderSize);
  if (message.size() > kMaxMessageBytes) message = message.substr(0, kMaxMessageBytes);
  return response_frame(fbb, request_id, code, message, fb::ResponseBody::NONE, {});
}

EncodeResult encode_rejection(const DecodeError& error) {
  return encode_error_response(error.request_id, to_result_code(error.code), describe(error));
}

}  // namespace zcp::protocol
