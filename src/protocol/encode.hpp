// Building frames. Every message the daemon and the client send is built here, so neither
// side ever assembles a header, a CRC, a file identifier or a union by hand.
//
// Two layers:
//  - write_frame()/make_frame() frame a finished FlatBufferBuilder (or a raw payload);
//  - encode_*() build one complete frame per message type, including the `fds` list the
//    protocol prescribes for it (docs/protocol.md).
// Encoding may allocate (the builder, the returned vector); decoding never does.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <zcp/expected.hpp>
#include <zcp/queue_policy.hpp>

#include "protocol/control_generated.h"
#include "protocol/errors.hpp"
#include "protocol/frame.hpp"

namespace zcp::protocol {

// zcp::QueuePolicy as the FlatBuffers enum of CreateSubscriber, and back: the two edges of
// the one policy enum (the client encodes, the registry decodes).
constexpr fb::QueuePolicy to_wire(QueuePolicy p) noexcept {
  switch (p) {
    case QueuePolicy::kDropOldest:
      return fb::QueuePolicy::DropOldest;
    case QueuePolicy::kDropNewest:
      return fb::QueuePolicy::DropNewest;
    case QueuePolicy::kBlockPublisher:
      return fb::QueuePolicy::BlockPublisher;
  }
  return fb::QueuePolicy::DropOldest;
}
// nullopt for a value the schema does not define (a newer or a hostile client).
constexpr std::optional<QueuePolicy> from_wire(fb::QueuePolicy p) noexcept {
  switch (p) {
    case fb::QueuePolicy::DropOldest:
      return QueuePolicy::kDropOldest;
    case fb::QueuePolicy::DropNewest:
      return QueuePolicy::kDropNewest;
    case fb::QueuePolicy::BlockPublisher:
      return QueuePolicy::kBlockPublisher;
  }
  return std::nullopt;
}

enum class EncodeError : std::uint8_t {
  TooLarge,        // header + payload would exceed kMaxFrameSize
  BufferTooSmall,  // the caller's buffer cannot hold the frame
  TooManyFds,      // more than kMaxFdsPerFrame descriptors described
};

std::string_view to_string(EncodeError e) noexcept;

using Frame = std::vector<std::uint8_t>;
using EncodeResult = zcp::Expected<Frame, EncodeError>;

// Longest `message` an error reply carries; longer text is cut so an error reply can
// always be encoded (and a hostile name echoed in a message cannot inflate it).
inline constexpr std::size_t kMaxMessageBytes = 512;

// The descriptors each reply carries, in attachment order (the encoders' defaults).
inline constexpr std::array<fb::FdKind, 1> kRegisterReplyFds{fb::FdKind::Segment};
inline constexpr std::array<fb::FdKind, 1> kPublisherReplyFds{fb::FdKind::WorkerDoorbell};
inline constexpr std::array<fb::FdKind, 1> kSubscriberReplyFds{fb::FdKind::SubscriberEventFd};

// Writes header + payload into `out`; returns the frame length.
zcp::Expected<std::size_t, EncodeError> write_frame(std::span<const std::uint8_t> payload,
                                                    std::span<std::uint8_t> out) noexcept;
zcp::Expected<std::size_t, EncodeError> write_frame(const flatbuffers::FlatBufferBuilder& fbb,
                                                    std::span<std::uint8_t> out) noexcept;
EncodeResult make_frame(std::span<const std::uint8_t> payload);
EncodeResult make_frame(const flatbuffers::FlatBufferBuilder& fbb);

// Finish a builder whose root is a Request / Response (adds the file identifier).
void finish_request(flatbuffers::FlatBufferBuilder& fbb, flatbuffers::Offset<fb::Request> root);
void finish_response(flatbuffers::FlatBufferBuilder& fbb, flatbuffers::Offset<fb::Response> root);

// ---- Requests (client -> daemon). request_id: chosen by the client, non-zero. ----------

struct Topic {
  std::string_view service;
  std::string_view instance;
  std::string_view event;
};

struct PublisherOptions {
  std::uint32_t history_depth = 0;
  std::uint32_t max_loans = 0;
  std::uint32_t max_payload = 0;
};

struct SubscriberOptions {
  std::uint32_t queue_capacity = 0;
  fb::QueuePolicy policy = fb::QueuePolicy::DropOldest;
  std::uint32_t history_request = 0;
  std::uint32_t max_held = 0;
};

EncodeResult encode_hello(std::uint64_t request_id, std::string_view client_version,
                          std::uint16_t protocol_version = kProtocolVersion);
EncodeResult encode_register_process(std::uint64_t request_id, std::string_view name,
                                     bool monitored);
EncodeResult encode_unregister_process(std::uint64_t request_id);
EncodeResult encode_create_publisher(std::uint64_t request_id, const Topic& topic,
                                     const PublisherOptions& options);
EncodeResult encode_create_subscriber(std::uint64_t request_id, const Topic& topic,
                                      const SubscriberOptions& options);
EncodeResult encode_destroy_publisher(std::uint64_t request_id, std::uint32_t publisher_id);
EncodeResult encode_destroy_subscriber(std::uint64_t request_id, std::uint32_t subscriber_id);
EncodeResult encode_list_topology(std::uint64_t request_id);

// ---- Replies (daemon -> client). request_id: the id of the request answered. ----------

struct RegisterGrant {
  std::uint32_t slot = 0;
  std::uint32_t heartbeat_interval_ms = 0;
  std::uint32_t heartbeat_timeout_ms = 0;
  std::string_view segment_name;
  std::uint64_t segment_size = 0;
  std::uint32_t layout_version = 0;
};

struct PublisherGrant {
  std::uint32_t publisher_id = 0;
  fb::QueueDescriptor ring;
  std::uint32_t history_depth = 0;
  std::uint32_t worker = 0;
  fb::QueueDescriptor loan_ring{};
  std::uint32_t pool_class = 0;
  std::uint32_t chunk_size = 0;
  std::uint32_t max_loans = 0;
};

struct SubscriberGrant {
  std::uint32_t subscriber_id = 0;
  fb::QueueDescriptor queue{};
  fb::QueueDescriptor release_ring{};
  std::uint32_t max_held = 0;
};

struct TopologyProcess {
  std::uint32_t slot = 0;
  std::int32_t pid = 0;
  std::uint32_t uid = 0;
  std::string_view name;
  bool monitored = false;
};

struct TopologyPublisher {
  std::uint32_t id = 0;
  std::uint32_t slot = 0;
  Topic topic;
};

struct TopologySubscriber {
  std::uint32_t id = 0;
  std::uint32_t slot = 0;
  Topic topic;
  std::uint32_t capacity = 0;
  fb::QueuePolicy policy = fb::QueuePolicy::DropOldest;
};

EncodeResult encode_hello_reply(std::uint64_t request_id, std::string_view daemon_version,
                                std::uint16_t protocol_version = kProtocolVersion);
EncodeResult encode_register_process_reply(std::uint64_t request_id, const RegisterGrant& grant,
                                           std::span<const fb::FdKind> fds = kRegisterReplyFds);
EncodeResult encode_publisher_reply(std::uint64_t request_id, const PublisherGrant& grant,
                                    std::span<const fb::FdKind> fds = kPublisherReplyFds);
EncodeResult encode_subscriber_reply(std::uint64_t request_id, const SubscriberGrant& grant,
                                     std::span<const fb::FdKind> fds = kSubscriberReplyFds);
// Without a release ring (control-plane only daemons and tests).
EncodeResult encode_subscriber_reply(std::uint64_t request_id, std::uint32_t subscriber_id,
                                     const fb::QueueDescriptor& queue,
                                     std::span<const fb::FdKind> fds = kSubscriberReplyFds);
EncodeResult encode_ack(std::uint64_t request_id);
// TooLarge when the lists do not fit in one frame (roughly 600 entries of short names).
EncodeResult encode_topology_reply(std::uint64_t request_id,
                                   std::span<const TopologyProcess> processes,
                                   std::span<const TopologyPublisher> publishers,
                                   std::span<const TopologySubscriber> subscribers);
// Unsolicited: request_id 0, code ShuttingDown.
EncodeResult encode_daemon_shutdown(std::string_view reason);
// Unsolicited: request_id 0. One SubscriberEventFd per id, attached in this order; at most
// kMaxFdsPerFrame ids (TooManyFds beyond).
EncodeResult encode_wake_fds(std::span<const std::uint32_t> subscriber_ids);
EncodeResult encode_wake_fds_revoked(std::span<const std::uint32_t> subscriber_ids);
// A refusal without body. `message` is cut to kMaxMessageBytes, so this never fails for
// size reasons.
EncodeResult encode_error_response(std::uint64_t request_id, fb::ResultCode code,
                                   std::string_view message);
// The reply to a rejected frame: code from to_result_code(), text from describe(), and
// error.request_id (0 unless the payload verified).
EncodeResult encode_rejection(const DecodeError& error);

}  // namespace zcp::protocol
