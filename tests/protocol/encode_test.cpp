// Round trip of every message type: encode_* -> decode_frame -> verify -> every field
// equal to what went in. Values are chosen to fill their full width (64-bit ids, high
// bits set), so a field narrowed or swapped on the way shows up.
#include "protocol/encode.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace zcp::protocol;  // NOLINT: test brevity
namespace fb = zcp::fb;

constexpr std::uint64_t kId = 0x1122334455667788ull;

const fb::Request* as_request(const EncodeResult& f) {
  if (!f) {
    ADD_FAILURE() << "encode failed: " << to_string(f.error());
    return nullptr;
  }
  auto r = decode_request(*f, f->size());
  if (!r) {
    ADD_FAILURE() << describe(r.error());
    return nullptr;
  }
  EXPECT_EQ((*r)->request_id(), kId);
  return *r;
}

const fb::Response* as_response(const EncodeResult& f) {
  if (!f) {
    ADD_FAILURE() << "encode failed: " << to_string(f.error());
    return nullptr;
  }
  auto r = decode_response(*f, f->size());
  if (!r) {
    ADD_FAILURE() << describe(r.error());
    return nullptr;
  }
  return *r;
}

std::vector<fb::FdKind> fds_of(const fb::Response& r) {
  std::vector<fb::FdKind> out;
  if (r.fds() != nullptr) {
    for (auto k : *r.fds())
      out.push_back(k);
  }
  return out;
}

void expect_queue_eq(const fb::QueueDescriptor* got, const fb::QueueDescriptor& want) {
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->offset(), want.offset());
  EXPECT_EQ(got->capacity(), want.capacity());
  EXPECT_EQ(got->element_size(), want.element_size());
  EXPECT_EQ(got->align(), want.align());
  EXPECT_EQ(got->kind(), want.kind());
}

// ---- Requests ---------------------------------------------------------------------------

TEST(RoundTrip, Hello) {
  const auto f = encode_hello(kId, "libzcp 0.1.0");
  const auto* req = as_request(f);
  ASSERT_NE(req, nullptr);
  ASSERT_EQ(req->body_type(), fb::RequestBody::Hello);
  const auto* b = req->body_as_Hello();
  EXPECT_EQ(b->protocol_version(), kProtocolVersion);
  EXPECT_EQ(as_view(b->client_version()), "libzcp 0.1.0");
}

TEST(RoundTrip, HelloCarriesAnyProtocolVersionInItsBody) {
  const auto f = encode_hello(kId, "x", 0xBEEF);
  const auto* req = as_request(f);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->body_as_Hello()->protocol_version(), 0xBEEF);
}

TEST(RoundTrip, RegisterProcess) {
  for (bool monitored : {true, false}) {
    const auto f = encode_register_process(kId, "market feed #1", monitored);
    const auto* req = as_request(f);
    ASSERT_NE(req, nullptr);
    ASSERT_EQ(req->body_type(), fb::RequestBody::RegisterProcess);
    EXPECT_EQ(as_view(req->body_as_RegisterProcess()->name()), "market feed #1");
    EXPECT_EQ(req->body_as_RegisterProcess()->monitored(), monitored);
  }
}

TEST(RoundTrip, UnregisterProcess) {
  const auto f = encode_unregister_process(kId);
  const auto* req = as_request(f);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->body_type(), fb::RequestBody::UnregisterProcess);
  EXPECT_NE(req->body_as_UnregisterProcess(), nullptr);
}

TEST(RoundTrip, CreatePublisher) {
  const auto f =
      encode_create_publisher(kId, {"Radar", "FrontLeft", "Objects"},
                              {.history_depth = 0x80000001u, .max_loans = 17, .max_payload = 5000});
  const auto* req = as_request(f);
  ASSERT_NE(req, nullptr);
  ASSERT_EQ(req->body_type(), fb::RequestBody::CreatePublisher);
  const auto* b = req->body_as_CreatePublisher();
  EXPECT_EQ(as_view(b->service()), "Radar");
  EXPECT_EQ(as_view(b->instance()), "FrontLeft");
  EXPECT_EQ(as_view(b->event()), "Objects");
  EXPECT_EQ(b->history_depth(), 0x80000001u);
  EXPECT_EQ(b->max_loans(), 17u);
  EXPECT_EQ(b->max_payload(), 5000u);
}

TEST(RoundTrip, CreateSubscriberEveryPolicy) {
  for (auto policy : {fb::QueuePolicy::DropOldest, fb::QueuePolicy::DropNewest,
                      fb::QueuePolicy::BlockPublisher}) {
    const auto f = encode_create_subscriber(
        kId, {"md", "NASDAQ", "AAPL.trades"},
        {.queue_capacity = 4096, .policy = policy, .history_request = 0xFFFFFFFFu, .max_held = 3});
    const auto* req = as_request(f);
    ASSERT_NE(req, nullptr);
    ASSERT_EQ(req->body_type(), fb::RequestBody::CreateSubscriber);
    const auto* b = req->body_as_CreateSubscriber();
    EXPECT_EQ(as_view(b->service()), "md");
    EXPECT_EQ(as_view(b->instance()), "NASDAQ");
    EXPECT_EQ(as_view(b->event()), "AAPL.trades");
    EXPECT_EQ(b->queue_capacity(), 4096u);
    EXPECT_EQ(b->policy(), policy);
    EXPECT_EQ(b->history_request(), 0xFFFFFFFFu);
    EXPECT_EQ(b->max_held(), 3u);
  }
}

TEST(RoundTrip, DestroyPublisher) {
  const auto f = encode_destroy_publisher(kId, 0xCAFEF00Du);
  const auto* req = as_request(f);
  ASSERT_NE(req, nullptr);
  ASSERT_EQ(req->body_type(), fb::RequestBody::DestroyPublisher);
  EXPECT_EQ(req->body_as_DestroyPublisher()->publisher_id(), 0xCAFEF00Du);
}

TEST(RoundTrip, DestroySubscriber) {
  const auto f = encode_destroy_subscriber(kId, 0xF00DCAFEu);
  const auto* req = as_request(f);
  ASSERT_NE(req, nullptr);
  ASSERT_EQ(req->body_type(), fb::RequestBody::DestroySubscriber);
  EXPECT_EQ(req->body_as_DestroySubscriber()->subscriber_id(), 0xF00DCAFEu);
}

TEST(RoundTrip, ListTopology) {
  const auto f = encode_list_topology(kId);
  const auto* req = as_request(f);
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->body_type(), fb::RequestBody::ListTopology);
  EXPECT_NE(req->body_as_ListTopology(), nullptr);
}

// ---- Replies ----------------------------------------------------------------------------

TEST(RoundTrip, HelloReply) {
  const auto f = encode_hello_reply(kId, "diroute 0.1.0");
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), kId);
  EXPECT_EQ(rsp->code(), fb::ResultCode::Ok);
  ASSERT_EQ(rsp->body_type(), fb::ResponseBody::HelloReply);
  EXPECT_EQ(rsp->body_as_HelloReply()->protocol_version(), kProtocolVersion);
  EXPECT_EQ(as_view(rsp->body_as_HelloReply()->daemon_version()), "diroute 0.1.0");
  EXPECT_TRUE(fds_of(*rsp).empty());
}

TEST(RoundTrip, RegisterProcessReplyDescribesTheSegmentFd) {
  const RegisterGrant grant{.slot = 123,
                            .heartbeat_interval_ms = 300,
                            .heartbeat_timeout_ms = 3000,
                            .segment_name = "/zcp.default.seg",
                            .segment_size = 0x1'0000'0000ull + 4096,
                            .layout_version = 0xA0000003u};
  const auto f = encode_register_process_reply(kId, grant);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), kId);
  EXPECT_EQ(rsp->code(), fb::ResultCode::Ok);
  ASSERT_EQ(rsp->body_type(), fb::ResponseBody::RegisterProcessReply);
  const auto* b = rsp->body_as_RegisterProcessReply();
  EXPECT_EQ(b->slot(), 123u);
  EXPECT_EQ(b->heartbeat_interval_ms(), 300u);
  EXPECT_EQ(b->heartbeat_timeout_ms(), 3000u);
  ASSERT_NE(b->segment(), nullptr);
  EXPECT_EQ(as_view(b->segment()->name()), "/zcp.default.seg");
  EXPECT_EQ(b->segment()->size(), 0x1'0000'0000ull + 4096);
  EXPECT_EQ(b->segment()->layout_version(), 0xA0000003u);
  EXPECT_EQ(fds_of(*rsp), std::vector<fb::FdKind>{fb::FdKind::Segment});
}

TEST(RoundTrip, PublisherReplyDescribesTheDoorbellFd) {
  PublisherGrant grant{.publisher_id = 9,
                       .ring = fb::QueueDescriptor(0x7FFF'0000'1000ull, 256, 64, 64, 1),
                       .history_depth = 4,
                       .worker = 1,
                       .loan_ring = fb::QueueDescriptor(0x2000, 16, 12, 64, 1),
                       .pool_class = 2,
                       .chunk_size = 8192,
                       .max_loans = 16};
  const auto f = encode_publisher_reply(kId, grant);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  ASSERT_EQ(rsp->body_type(), fb::ResponseBody::PublisherReply);
  const auto* b = rsp->body_as_PublisherReply();
  EXPECT_EQ(b->publisher_id(), 9u);
  expect_queue_eq(b->ring(), grant.ring);
  EXPECT_EQ(b->history_depth(), 4u);
  EXPECT_EQ(b->worker(), 1u);
  expect_queue_eq(b->loan_ring(), grant.loan_ring);
  EXPECT_EQ(b->pool_class(), 2u);
  EXPECT_EQ(b->chunk_size(), 8192u);
  EXPECT_EQ(b->max_loans(), 16u);
  EXPECT_EQ(fds_of(*rsp), std::vector<fb::FdKind>{fb::FdKind::WorkerDoorbell});
}

TEST(RoundTrip, SubscriberReplyCarriesTheReleaseRing) {
  SubscriberGrant grant{.subscriber_id = 7,
                        .queue = fb::QueueDescriptor(0x40000, 8, 32, 64, 2),
                        .release_ring = fb::QueueDescriptor(0x50000, 24, 12, 64, 1),
                        .max_held = 16};
  const auto f = encode_subscriber_reply(kId, grant);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  const auto* b = rsp->body_as_SubscriberReply();
  ASSERT_NE(b, nullptr);
  expect_queue_eq(b->queue(), grant.queue);
  expect_queue_eq(b->release_ring(), grant.release_ring);
  EXPECT_EQ(b->max_held(), 16u);
}

TEST(RoundTrip, SubscriberReplyDescribesTheEventFd) {
  const fb::QueueDescriptor q(0x40000, 1024, 32, 8, 2);
  const auto f = encode_subscriber_reply(kId, 0xABCDu, q);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  ASSERT_EQ(rsp->body_type(), fb::ResponseBody::SubscriberReply);
  EXPECT_EQ(rsp->body_as_SubscriberReply()->subscriber_id(), 0xABCDu);
  expect_queue_eq(rsp->body_as_SubscriberReply()->queue(), q);
  EXPECT_EQ(fds_of(*rsp), std::vector<fb::FdKind>{fb::FdKind::SubscriberEventFd});
}

TEST(RoundTrip, ExplicitFdListOverridesTheDefault) {
  const std::vector<fb::FdKind> fds{fb::FdKind::Segment, fb::FdKind::SubscriberEventFd};
  const auto f = encode_subscriber_reply(kId, 1, fb::QueueDescriptor(), fds);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(fds_of(*rsp), fds);
  const std::vector<fb::FdKind> too_many(kMaxFdsPerFrame + 1, fb::FdKind::Segment);
  auto bad = encode_subscriber_reply(kId, 1, fb::QueueDescriptor(), too_many);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), EncodeError::TooManyFds);
}

TEST(RoundTrip, Ack) {
  const auto f = encode_ack(kId);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), kId);
  EXPECT_EQ(rsp->code(), fb::ResultCode::Ok);
  EXPECT_EQ(rsp->body_type(), fb::ResponseBody::Ack);
  EXPECT_EQ(rsp->message(), nullptr);
}

TEST(RoundTrip, TopologyReply) {
  const std::vector<TopologyProcess> procs{{0, 1001, 1000, "feed", true},
                                           {7, 0x7FFFFFFF, 0xFFFFFFFEu, "gui", false}};
  const std::vector<TopologyPublisher> pubs{{1, 0, {"md", "X", "trades"}},
                                            {2, 7, {"md", "Y", "quotes"}}};
  const std::vector<TopologySubscriber> subs{
      {3, 7, {"md", "X", "trades"}, 256, fb::QueuePolicy::DropNewest},
      {4, 0, {"md", "Y", "quotes"}, 8, fb::QueuePolicy::BlockPublisher}};
  const auto f = encode_topology_reply(kId, procs, pubs, subs);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  ASSERT_EQ(rsp->body_type(), fb::ResponseBody::TopologyReply);
  const auto* t = rsp->body_as_TopologyReply();
  ASSERT_EQ(t->processes()->size(), procs.size());
  for (flatbuffers::uoffset_t i = 0; i < procs.size(); ++i) {
    const auto* e = t->processes()->Get(i);
    EXPECT_EQ(e->slot(), procs[i].slot);
    EXPECT_EQ(e->pid(), procs[i].pid);
    EXPECT_EQ(e->uid(), procs[i].uid);
    EXPECT_EQ(as_view(e->name()), procs[i].name);
    EXPECT_EQ(e->monitored(), procs[i].monitored);
  }
  ASSERT_EQ(t->publishers()->size(), pubs.size());
  for (flatbuffers::uoffset_t i = 0; i < pubs.size(); ++i) {
    const auto* e = t->publishers()->Get(i);
    EXPECT_EQ(e->id(), pubs[i].id);
    EXPECT_EQ(e->slot(), pubs[i].slot);
    EXPECT_EQ(as_view(e->service()), pubs[i].topic.service);
    EXPECT_EQ(as_view(e->instance()), pubs[i].topic.instance);
    EXPECT_EQ(as_view(e->event()), pubs[i].topic.event);
  }
  ASSERT_EQ(t->subscribers()->size(), subs.size());
  for (flatbuffers::uoffset_t i = 0; i < subs.size(); ++i) {
    const auto* e = t->subscribers()->Get(i);
    EXPECT_EQ(e->id(), subs[i].id);
    EXPECT_EQ(e->slot(), subs[i].slot);
    EXPECT_EQ(as_view(e->service()), subs[i].topic.service);
    EXPECT_EQ(as_view(e->instance()), subs[i].topic.instance);
    EXPECT_EQ(as_view(e->event()), subs[i].topic.event);
    EXPECT_EQ(e->capacity(), subs[i].capacity);
    EXPECT_EQ(e->policy(), subs[i].policy);
  }
}

TEST(RoundTrip, EmptyTopologyReply) {
  const auto f = encode_topology_reply(kId, {}, {}, {});
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  const auto* t = rsp->body_as_TopologyReply();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->processes()->size(), 0u);
  EXPECT_EQ(t->publishers()->size(), 0u);
  EXPECT_EQ(t->subscribers()->size(), 0u);
}

TEST(RoundTrip, TopologyThatCannotFitIsRefused) {
  const std::string name(90, 'n');
  const std::vector<TopologyPublisher> pubs(2000, TopologyPublisher{1, 2, {name, name, name}});
  auto f = encode_topology_reply(kId, {}, pubs, {});
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), EncodeError::TooLarge);
}

TEST(RoundTrip, DaemonShutdownNotice) {
  const auto f = encode_daemon_shutdown("SIGTERM received");
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), 0u);
  EXPECT_EQ(rsp->code(), fb::ResultCode::ShuttingDown);
  ASSERT_EQ(rsp->body_type(), fb::ResponseBody::DaemonShutdown);
  EXPECT_EQ(as_view(rsp->body_as_DaemonShutdown()->reason()), "SIGTERM received");
}

TEST(RoundTrip, WakeFdsNoticesNameTheirSubscribersAndDescribeTheirFds) {
  const std::vector<std::uint32_t> ids{7, 9, 12};
  const auto f = encode_wake_fds(ids);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), 0u) << "unsolicited";
  ASSERT_EQ(rsp->body_type(), fb::ResponseBody::WakeFds);
  const auto* got = rsp->body_as_WakeFds()->subscriber_ids();
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(std::vector<std::uint32_t>(got->begin(), got->end()), ids);
  ASSERT_NE(rsp->fds(), nullptr);
  ASSERT_EQ(rsp->fds()->size(), 3u) << "one eventfd per subscriber";
  for (auto kind : *rsp->fds())
    EXPECT_EQ(kind, fb::FdKind::SubscriberEventFd);

  const auto r = encode_wake_fds_revoked(ids);
  const auto* rev = as_response(r);
  ASSERT_NE(rev, nullptr);
  ASSERT_EQ(rev->body_type(), fb::ResponseBody::WakeFdsRevoked);
  EXPECT_EQ(rev->body_as_WakeFdsRevoked()->subscriber_ids()->size(), 3u);
  EXPECT_EQ(rev->fds(), nullptr) << "a revoke carries no descriptor";

  std::vector<std::uint32_t> too_many(kMaxFdsPerFrame + 1, 1);
  const auto over = encode_wake_fds(too_many);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(), EncodeError::TooManyFds);
}

TEST(RoundTrip, ErrorResponse) {
  const auto f = encode_error_response(kId, fb::ResultCode::LimitReached, "too many publishers");
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), kId);
  EXPECT_EQ(rsp->code(), fb::ResultCode::LimitReached);
  EXPECT_EQ(as_view(rsp->message()), "too many publishers");
  EXPECT_EQ(rsp->body_type(), fb::ResponseBody::NONE);
}

TEST(RoundTrip, ErrorMessageIsCutSoTheReplyAlwaysFits) {
  const std::string huge(kMaxFrameSize * 2, 'x');
  const auto f = encode_error_response(kId, fb::ResultCode::InvalidArgument, huge);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->message()->size(), kMaxMessageBytes);
}

TEST(RoundTrip, RejectionOfVersionMismatchNamesBothVersions) {
  const DecodeError e{DecodeErrc::VersionMismatch, 3, kProtocolVersion};
  const auto f = encode_rejection(e);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), 0u);
  EXPECT_EQ(rsp->code(), fb::ResultCode::VersionMismatch);
  const auto msg = as_view(rsp->message());
  EXPECT_NE(msg.find("version 3"), std::string_view::npos) << msg;
  EXPECT_NE(msg.find("version " + std::to_string(kProtocolVersion)), std::string_view::npos) << msg;
}

TEST(RoundTrip, RejectionOfUnknownRequestEchoesTheRequestId) {
  const DecodeError e{DecodeErrc::UnknownRequest, 99, 0, kId};
  const auto f = encode_rejection(e);
  const auto* rsp = as_response(f);
  ASSERT_NE(rsp, nullptr);
  EXPECT_EQ(rsp->request_id(), kId);
  EXPECT_EQ(rsp->code(), fb::ResultCode::UnknownRequest);
}

// ---- Framing helpers --------------------------------------------------------------------

TEST(Encode, OversizedNameIsTooLarge) {
  const std::string name(kMaxFrameSize, 'a');
  auto f = encode_register_process(kId, name, true);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), EncodeError::TooLarge);
}

TEST(Encode, WriteFrameIntoCallerBuffer) {
  const auto ref = encode_ack(kId).value();
  flatbuffers::FlatBufferBuilder fbb;
  finish_response(fbb, fb::CreateResponse(fbb, kId, fb::ResultCode::Ok, 0, fb::ResponseBody::Ack,
                                          fb::CreateAck(fbb).Union()));
  std::vector<std::uint8_t> buf(ref.size() - 1);
  auto small = write_frame(fbb, buf);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error(), EncodeError::BufferTooSmall);
  buf.resize(ref.size() + 8);
  auto n = write_frame(fbb, buf);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, ref.size());
  EXPECT_TRUE(std::equal(ref.begin(), ref.end(), buf.begin())) << "same bytes as make_frame";
  auto rsp = decode_response({buf.data(), *n}, *n);
  ASSERT_TRUE(rsp) << describe(rsp.error());
  EXPECT_EQ((*rsp)->body_type(), fb::ResponseBody::Ack);
}

}  // namespace
