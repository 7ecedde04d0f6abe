// libFuzzer target: frame decode + request/response verification, the daemon's first
// contact with bytes from any local process.
//
// Each input is tried three ways:
//  1. as a received datagram, exactly as is (header checks, lengths, CRC);
//  2. as a datagram the receive buffer cut short (MSG_TRUNC): must never be accepted;
//  3. with its header repaired (bytes 16.. become a payload with a correct length and
//     CRC), so mutations reach the FlatBuffers verifier and the union checks instead of
//     dying at the CRC almost every time.
// Every message that verifies has all its fields read, so a verifier gap becomes an ASan
// report rather than a silent pass.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "protocol/encode.hpp"
#include "protocol/frame.hpp"
#include "protocol/validate.hpp"

namespace {

namespace fb = zcp::fb;
using namespace zcp::protocol;  // NOLINT: harness brevity

// Sums what was read; published through a volatile once per input, so the compiler cannot
// drop the reads.
std::uint64_t sink = 0;
volatile std::uint64_t published = 0;

void touch(const flatbuffers::String* s) {
  const auto v = as_view(s);
  for (char c : v)
    sink += static_cast<unsigned char>(c);
}

void touch(const fb::QueueDescriptor* q) {
  if (q == nullptr) return;
  sink += q->offset() + q->capacity() + q->element_size() + q->align() + q->kind();
}

void touch_request(const fb::Request& r) {
  sink += r.request_id();
  switch (r.body_type()) {
    case fb::RequestBody::Hello: {
      const auto* b = r.body_as_Hello();
      sink += b->protocol_version();
      touch(b->client_version());
      break;
    }
    case fb::RequestBody::RegisterProcess: {
      const auto* b = r.body_as_RegisterProcess();
      touch(b->name());
      sink += b->monitored();
      break;
    }
    case fb::RequestBody::CreatePublisher: {
      const auto* b = r.body_as_CreatePublisher();
      touch(b->service());
      touch(b->instance());
      touch(b->event());
      sink += b->history_depth() + b->max_loans();
      break;
    }
    case fb::RequestBody::CreateSubscriber: {
      const auto* b = r.body_as_CreateSubscriber();
      touch(b->service());
      touch(b->instance());
      touch(b->event());
      sink += b->queue_capacity() + static_cast<unsigned>(b->policy()) + b->history_request();
      break;
    }
    case fb::RequestBody::DestroyPublisher:
      sink += r.body_as_DestroyPublisher()->publisher_id();
      break;
    case fb::RequestBody::DestroySubscriber:
      sink += r.body_as_DestroySubscriber()->subscriber_id();
      break;
    case fb::RequestBody::UnregisterProcess:
    case fb::RequestBody::ListTopology:
      break;
    case fb::RequestBody::NONE:
      std::abort();  // verify_request() must have refused it
  }
  if (auto v = validate_request(r); !v) sink += describe(v.error()).size();
}

void touch_topology(const fb::TopologyReply& t) {
  if (const auto* ps = t.processes()) {
    for (const auto* p : *ps) {
      sink += p->slot() + static_cast<std::uint32_t>(p->pid()) + p->uid() + p->monitored();
      touch(p->name());
    }
  }
  if (const auto* ps = t.publishers()) {
    for (const auto* p : *ps) {
      sink += p->id() + p->slot();
      touch(p->service());
      touch(p->instance());
      touch(p->event());
    }
  }
  if (const auto* ss = t.subscribers()) {
    for (const auto* s : *ss) {
      sink += s->id() + s->slot() + s->capacity() + static_cast<unsigned>(s->policy());
      touch(s->service());
      touch(s->instance());
      touch(s->event());
    }
  }
}

void touch_response(const fb::Response& r) {
  sink += r.request_id() + static_cast<unsigned>(r.code());
  touch(r.message());
  if (const auto* fds = r.fds()) {
    if (fds->size() > kMaxFdsPerFrame) std::abort();  // verify_response() must refuse it
    for (auto k : *fds)
      sink += static_cast<unsigned>(k);
  }
  switch (r.body_type()) {
    case fb::ResponseBody::HelloReply:
      sink += r.body_as_HelloReply()->protocol_version();
      touch(r.body_as_HelloReply()->daemon_version());
      break;
    case fb::ResponseBody::RegisterProcessReply: {
      const auto* b = r.body_as_RegisterProcessReply();
      sink += b->slot() + b->heartbeat_interval_ms() + b->heartbeat_timeout_ms();
      if (const auto* s = b->segment()) {
        touch(s->name());
        sink += s->size() + s->layout_version();
      }
      break;
    }
    case fb::ResponseBody::PublisherReply: {
      const auto* b = r.body_as_PublisherReply();
      sink += b->publisher_id() + b->history_depth() + b->worker();
      touch(b->ring());
      break;
    }
    case fb::ResponseBody::SubscriberReply:
      sink += r.body_as_SubscriberReply()->subscriber_id();
      touch(r.body_as_SubscriberReply()->queue());
      break;
    case fb::ResponseBody::TopologyReply:
      touch_topology(*r.body_as_TopologyReply());
      break;
    case fb::ResponseBody::DaemonShutdown:
      touch(r.body_as_DaemonShutdown()->reason());
      break;
    case fb::ResponseBody::WakeFds:
      if (const auto* ids = r.body_as_WakeFds()->subscriber_ids())
        for (auto id : *ids)
          sink += id;
      break;
    case fb::ResponseBody::WakeFdsRevoked:
      if (const auto* ids = r.body_as_WakeFdsRevoked()->subscriber_ids())
        for (auto id : *ids)
          sink += id;
      break;
    case fb::ResponseBody::Ack:
    case fb::ResponseBody::NONE:
      break;
  }
}

void check_frame(std::span<const std::uint8_t> received, std::size_t true_len) {
  auto frame = decode_frame(received, true_len);
  if (!frame) {
    // Every rejection must be describable and answerable.
    sink += describe(frame.error()).size();
    if (!encode_rejection(frame.error())) std::abort();
    return;
  }
  // Accepted frames are exactly what the header claims.
  if (frame->payload.size() != frame->header.payload_len) std::abort();
  if (frame->payload.size() + kFrameHeaderSize != true_len) std::abort();
  if (auto req = verify_request(*frame)) {
    touch_request(**req);
  } else if (!encode_rejection(req.error())) {
    std::abort();
  }
  if (auto rsp = verify_response(*frame)) touch_response(**rsp);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);

  check_frame(in, size);  // 1

  if (size > 0 && decode_frame(in.first(size / 2), size)) std::abort();  // 2

  if (size >= kFrameHeaderSize && size <= kMaxFrameSize) {  // 3
    std::vector<std::uint8_t> repaired(size);
    auto written = write_frame(in.subspan(kFrameHeaderSize), repaired);
    if (!written || *written != size) std::abort();
    if (!decode_frame(repaired)) std::abort();  // a frame we wrote must decode
    check_frame(repaired, repaired.size());
  }
  published = sink;
  return 0;
}
