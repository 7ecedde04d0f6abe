// Request handlers, driven without sockets: registration, NotRegistered, version checks,
// publishers and subscribers, ownership, topology, shutdown.
#include <algorithm>

#include "control_plane_fixture.hpp"
#include "protocol/validate.hpp"
#include "shm/mpmc_ring.hpp"
#include "shm/spsc_ring.hpp"

namespace zcp::daemon::test {
namespace {

using Handlers = ControlPlaneTest;

TEST_F(Handlers, HelloAnswersWithTheDaemonVersion) {
  Answer a = hello(1);
  ASSERT_EQ(a.code(), fb::ResultCode::Ok) << a.message();
  auto* body = a.r->body_as_HelloReply();
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->protocol_version(), protocol::kProtocolVersion);
  EXPECT_FALSE(a.reply.close_after);
}

TEST_F(Handlers, HelloVersionMismatchNamesBothVersionsAndCloses) {
  Answer a = hello(1, 7);
  EXPECT_EQ(a.code(), fb::ResultCode::VersionMismatch);
  EXPECT_NE(a.message().find("version 7"), std::string::npos) << a.message();
  EXPECT_NE(a.message().find("version " + std::to_string(protocol::kProtocolVersion)),
            std::string::npos)
      << a.message();
  EXPECT_TRUE(a.reply.close_after);
  EXPECT_EQ(count(DaemonCounter::kRejectedVersionMismatch), 1u);
}

TEST_F(Handlers, FrameOfAnotherVersionIsRefusedThenClosed) {
  auto frame = *protocol::encode_hello(1, "future");
  frame[4] =
      protocol::kProtocolVersion + 1;  // the next header version (the CRC covers only the payload)
  Answer a = raw(1, frame);
  EXPECT_EQ(a.code(), fb::ResultCode::VersionMismatch);
  EXPECT_NE(a.message().find("version " + std::to_string(protocol::kProtocolVersion + 1)),
            std::string::npos)
      << a.message();
  EXPECT_TRUE(a.reply.close_after);
  EXPECT_EQ(count(DaemonCounter::kRejectedVersionMismatch), 1u);
}

TEST_F(Handlers, RegisterThenUnregister) {
  Answer a = register_process(1, "alpha", true);
  ASSERT_EQ(a.code(), fb::ResultCode::Ok) << a.message();
  auto* body = a.r->body_as_RegisterProcessReply();
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->heartbeat_interval_ms(), 300u);
  EXPECT_EQ(body->heartbeat_timeout_ms(), 3000u);
  ASSERT_NE(body->segment(), nullptr);
  EXPECT_EQ(body->segment()->size(), segment_.size());
  EXPECT_EQ(body->segment()->layout_version(), shm::kLayoutVersion);
  // The segment fd travels with the reply, and the reply says so.
  ASSERT_EQ(a.reply.fds.size(), 1u);
  EXPECT_EQ(a.reply.fds[0], segment_.fd());
  ASSERT_NE(a.r->fds(), nullptr);
  EXPECT_EQ(a.r->fds()->Get(0), fb::FdKind::Segment);
  // Identity from the peer credentials, and a pidfd watch on that pid.
  const ProcessRecord* p = registry_->process(body->slot());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->peer.pid, peer(1).pid);
  EXPECT_EQ(p->name, "alpha");
  EXPECT_TRUE(p->monitored);
  ASSERT_EQ(host_.watches.size(), 1u);
  EXPECT_EQ(host_.watches[0].pid, peer(1).pid);
  EXPECT_EQ(count(DaemonCounter::kRegistrations), 1u);
  expect_consistent();

  Answer u = unregister(1);
  EXPECT_EQ(u.code(), fb::ResultCode::Ok) << u.message();
  EXPECT_NE(u.r->body_as_Ack(), nullptr);
  EXPECT_EQ(registry_->process_count(), 0u);
  ASSERT_EQ(host_.cancelled.size(), 1u);
  EXPECT_EQ(host_.cancelled[0], host_.watches[0].id);
  EXPECT_FALSE(host_.was_closed(conn(1)));  // an unregister keeps the connection
  EXPECT_EQ(count(DaemonCounter::kUnregistrations), 1u);
  expect_consistent();
  // The name is free again for another connection.
  EXPECT_EQ(register_process(2, "alpha").code(), fb::ResultCode::Ok);
}

TEST_F(Handlers, SecondRegistrationOnOneConnectionIsAlreadyRegistered) {
  registered(1, "alpha");
  Answer a = register_process(1, "beta");
  EXPECT_EQ(a.code(), fb::ResultCode::AlreadyRegistered);
  EXPECT_NE(a.message().find("alpha"), std::string::npos) << a.message();
  EXPECT_EQ(registry_->process_count(), 1u);
  // Even after an unregister: a connection registers at most once.
  unregister(1);
  EXPECT_EQ(register_process(1, "beta").code(), fb::ResultCode::AlreadyRegistered);
  expect_consistent();
}

TEST_F(Handlers, DuplicateNameNamesThePidHoldingIt) {
  registered(1, "alpha");
  Answer a = register_process(2, "alpha");
  EXPECT_EQ(a.code(), fb::ResultCode::AlreadyRegistered);
  EXPECT_NE(a.message().find(std::to_string(peer(1).pid)), std::string::npos) << a.message();
  EXPECT_EQ(registry_->process_count(), 1u);
}

TEST_F(Handlers, EverythingButHelloAndListTopologyNeedsRegistration) {
  EXPECT_EQ(hello(1).code(), fb::ResultCode::Ok);
  EXPECT_EQ(list(1).code(), fb::ResultCode::Ok);
  EXPECT_EQ(unregister(1).code(), fb::ResultCode::NotRegistered);
  EXPECT_EQ(create_publisher(1, topic("s")).code(), fb::ResultCode::NotRegistered);
  EXPECT_EQ(create_subscriber(1, topic("s")).code(), fb::ResultCode::NotRegistered);
  EXPECT_EQ(destroy_publisher(1, 1).code(), fb::ResultCode::NotRegistered);
  Answer a = destroy_subscriber(1, 1);
  EXPECT_EQ(a.code(), fb::ResultCode::NotRegistered);
  EXPECT_NE(a.message().find("RegisterProcess"), std::string::npos) << a.message();
  EXPECT_EQ(registry_->topic_count(), 0u);
}

TEST_F(Handlers, PublisherGetsARingAndTheLeastLoadedWorkersDoorbell) {
  registered(1, "pub");
  Answer a = create_publisher(1, topic("s"));
  Answer b = create_publisher(1, topic("s"));  // several publishers per topic are fine
  std::uint32_t ida = publisher_id(a);
  std::uint32_t idb = publisher_id(b);
  EXPECT_NE(ida, idb);
  auto* pa = a.r->body_as_PublisherReply();
  auto* pb = b.r->body_as_PublisherReply();
  EXPECT_NE(pa->worker(), pb->worker());  // two workers, balanced
  ASSERT_EQ(a.reply.fds.size(), 1u);
  // The reply waited for the router (a duplicate went with it): the same eventfd, which a count
  // written through the worker's descriptor shows.
  std::uint64_t seven = 7;
  ASSERT_EQ(::write(doorbell_fds_[pa->worker()], &seven, sizeof(seven)),
            static_cast<ssize_t>(sizeof(seven)));
  std::uint64_t got = 0;
  ASSERT_EQ(::read(a.reply.fds[0], &got, sizeof(got)), static_cast<ssize_t>(sizeof(got)));
  EXPECT_GE(got, 7u);
  EXPECT_EQ(a.r->fds()->Get(0), fb::FdKind::WorkerDoorbell);
  EXPECT_EQ(pa->history_depth(), 0u);
  const fb::QueueDescriptor* ring = pa->ring();
  EXPECT_EQ(ring->capacity(), kDefaultPublisherRingCapacity);
  EXPECT_EQ(ring->kind(), static_cast<std::uint32_t>(shm::RingKind::kSpsc));
  shm::QueueDescriptor d{ring->offset(), ring->capacity(), ring->element_size(), ring->align(),
                         ring->kind()};
  auto producer =
      shm::SpscProducer<shm::MessageHeader>::attach(segment_.base(), segment_.size(), d);
  EXPECT_TRUE(producer) << (producer ? "" : producer.error());
  expect_consistent();
}

TEST_F(Handlers, SubscriberCapacityDefaultsAndIsCappedAndComesWithItsEventfd) {
  registered(1, "sub");
  Answer a = create_subscriber(1, topic("s"), 0);
  Answer b = create_subscriber(1, topic("s"), 3);
  Answer c = create_subscriber(1, topic("s"), 1u << 30);
  EXPECT_EQ(a.r->body_as_SubscriberReply()->queue()->capacity(), kDefaultSubscriberQueueCapacity);
  EXPECT_EQ(b.r->body_as_SubscriberReply()->queue()->capacity(), 3u);
  EXPECT_EQ(c.r->body_as_SubscriberReply()->queue()->capacity(), kMaxSubscriberQueueCapacity);
  const SubscriberRecord* rec = registry_->subscriber(subscriber_id(a));
  ASSERT_NE(rec, nullptr);
  ASSERT_EQ(a.reply.fds.size(), 1u);
  // The reply waited for the router (a duplicate of the fd went with it): the same eventfd,
  // which a count written through the daemon's descriptor shows.
  std::uint64_t five = 5;
  ASSERT_EQ(::write(rec->eventfd.get(), &five, sizeof(five)), static_cast<ssize_t>(sizeof(five)));
  std::uint64_t got = 0;
  ASSERT_EQ(::read(a.reply.fds[0], &got, sizeof(got)), static_cast<ssize_t>(sizeof(got)));
  EXPECT_EQ(got, 5u);
  EXPECT_EQ(a.r->fds()->Get(0), fb::FdKind::SubscriberEventFd);
  expect_consistent();
}

// A CreateSubscriber reply, and the subscriber count publishers read (has_subscribers), wait
// for every router worker to apply the AddSubscriber: once either says "subscribed", a message
// published afterwards reaches the subscriber.
TEST_F(Handlers, SubscriberReplyAndPeerCountWaitForTheRouter) {
  registered(1, "pub");
  registered(2, "sub");
  const PublisherRecord* pub = registry_->publisher(publisher_id(create_publisher(1, topic("w"))));
  ASSERT_NE(pub, nullptr);
  auto peers = [&] {
    return shm::atomic_load(pub->port->in.header()->peers, std::memory_order_relaxed);
  };
  EXPECT_EQ(peers(), 0u);

  auto frame = protocol::encode_create_subscriber(next_id(), topic("w"), {});
  ASSERT_TRUE(frame);
  Reply held =
      control_->handle(conn(2), peer(2), std::as_bytes(std::span(*frame)), frame->size(), now_);
  EXPECT_TRUE(held.bytes.empty()) << "the reply went out before the workers applied the command";
  EXPECT_EQ(control_->held_replies(), 1u);
  EXPECT_EQ(peers(), 0u) << "counted before the workers deliver to it";
  auto sent_to_sub = [&] {
    return std::count_if(host_.sent.begin(), host_.sent.end(),
                         [&](const auto& s) { return s.first == conn(2); });
  };
  EXPECT_EQ(sent_to_sub(), 0);

  // One worker applies it: not yet (every worker gets every command).
  router_->worker(0).do_work(0);
  control_->router_notified();
  EXPECT_EQ(sent_to_sub(), 0);
  EXPECT_EQ(peers(), 0u);

  settle();
  ASSERT_EQ(sent_to_sub(), 1);
  auto it = std::find_if(host_.sent.begin(), host_.sent.end(),
                         [&](const auto& s) { return s.first == conn(2); });
  auto r = protocol::decode_response(it->second.bytes, it->second.bytes.size());
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)->code(), fb::ResultCode::Ok);
  EXPECT_EQ(it->second.fds.size(), 1u);
  EXPECT_EQ(control_->held_replies(), 0u);
  EXPECT_EQ(peers(), 1u);
  expect_consistent();
}

// Direct topics: a process with a publisher receives the eventfd of every subscriber its
// publishers push to (WakeFds, before the publisher's reply), once per subscriber, within its
// limit; the subscriber's departure revokes it.
TEST_F(Handlers, PublishingProcessesGetAndLoseTheSubscribersEventfds) {
  auto notices = [&](std::uint32_t c, fb::ResponseBody type) {
    std::vector<std::vector<std::uint32_t>> out;
    for (const auto& [to, reply] : host_.sent) {
      auto d = protocol::decode_response(reply.bytes, reply.bytes.size());
      if (to != conn(c) || !d || (*d)->request_id() != 0 || (*d)->body_type() != type) continue;
      const flatbuffers::Vector<std::uint32_t>* ids =
          type == fb::ResponseBody::WakeFds ? (*d)->body_as_WakeFds()->subscriber_ids()
                                            : (*d)->body_as_WakeFdsRevoked()->subscriber_ids();
      out.emplace_back(ids->begin(), ids->end());
      if (type == fb::ResponseBody::WakeFds) {
        EXPECT_EQ(reply.fds.size(), ids->size());
      }
    }
    return out;
  };
  using Ids = std::vector<std::vector<std::uint32_t>>;
  const std::uint32_t pub_slot = registered(1, "pub");
  registered(2, "sub");
  const std::uint32_t s1 = subscriber_id(create_subscriber(2, topic("w")));
  EXPECT_EQ(notices(2, fb::ResponseBody::WakeFds), Ids{}) << "a subscriber alone tells nobody";
  publisher_id(create_publisher(1, topic("w")));
  EXPECT_EQ(notices(1, fb::ResponseBody::WakeFds), (Ids{{s1}}));
  publisher_id(create_publisher(1, topic("w")));  // a second publisher of the same process
  EXPECT_EQ(notices(1, fb::ResponseBody::WakeFds), (Ids{{s1}}))
      << "one eventfd per subscriber and process";
  const std::uint32_t s2 = subscriber_id(create_subscriber(2, topic("w")));
  EXPECT_EQ(notices(1, fb::ResponseBody::WakeFds), (Ids{{s1}, {s2}}));
  EXPECT_EQ(registry_->process(pub_slot)->wake_fds, (std::vector<std::uint32_t>{s1, s2}));
  EXPECT_EQ(destroy_subscriber(2, s1).code(), fb::ResultCode::Ok);
  EXPECT_EQ(notices(1, fb::ResponseBody::WakeFdsRevoked), (Ids{{s1}}));
  EXPECT_EQ(registry_->process(pub_slot)->wake_fds, (std::vector<std::uint32_t>{s2}));
  expect_consistent();
  // The subscriber's process goes: the publisher's process loses the eventfd of s2 too.
  control_->closed(conn(2), reactor::CloseReason::kPeerClosed);
  EXPECT_EQ(notices(1, fb::ResponseBody::WakeFdsRevoked), (Ids{{s1}, {s2}}));
  EXPECT_TRUE(registry_->process(pub_slot)->wake_fds.empty());
  expect_consistent();
}

// A process keeps only the eventfds its remaining publishers push to.
TEST_F(Handlers, APublishersDepartureRevokesTheEventfdsNoOtherPublisherNeeds) {
  const std::uint32_t pub_slot = registered(1, "pub");
  registered(2, "sub");
  const std::uint32_t sw = subscriber_id(create_subscriber(2, topic("w")));
  const std::uint32_t sx = subscriber_id(create_subscriber(2, topic("x")));
  const std::uint32_t pw = publisher_id(create_publisher(1, topic("w")));
  publisher_id(create_publisher(1, topic("x")));
  auto held = [&] {
    auto v = registry_->process(pub_slot)->wake_fds;
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(held(), (std::vector<std::uint32_t>{sw, sx}));
  EXPECT_EQ(destroy_publisher(1, pw).code(), fb::ResultCode::Ok);
  EXPECT_EQ(held(), (std::vector<std::uint32_t>{sx})) << "w's subscriber is no use to it any more";
  bool revoked = false;
  for (const auto& [to, reply] : host_.sent) {
    auto d = protocol::decode_response(reply.bytes, reply.bytes.size());
    if (to == conn(1) && d && (*d)->body_type() == fb::ResponseBody::WakeFdsRevoked) {
      const auto* ids = (*d)->body_as_WakeFdsRevoked()->subscriber_ids();
      revoked = ids->size() == 1 && ids->Get(0) == sw;
    }
  }
  EXPECT_TRUE(revoked);
  expect_consistent();
}

TEST_F(ControlPlaneTest, WakeFdsStayWithinTheLimitAndRoutedTopicsGetNone) {
  FixtureOptions o;
  o.registry.max_wake_fds_per_process = 1;
  o.registry.routed_topics = {"r/*"};
  build(o);
  const std::uint32_t pub_slot = registered(1, "pub");
  registered(2, "sub");
  const std::uint32_t s1 = subscriber_id(create_subscriber(2, topic("w")));
  subscriber_id(create_subscriber(2, topic("w")));
  subscriber_id(create_subscriber(2, topic("r")));
  publisher_id(create_publisher(1, topic("w")));
  publisher_id(create_publisher(1, topic("r")));
  EXPECT_EQ(registry_->process(pub_slot)->wake_fds, (std::vector<std::uint32_t>{s1}))
      << "the limit is one; the routed topic's subscriber is woken by the router only";
  expect_consistent();
}

// A held reply whose connection closes meanwhile is dropped, not sent to a stranger.
TEST_F(Handlers, HeldReplyOfAClosedConnectionIsDropped) {
  registered(2, "sub");
  auto frame = protocol::encode_create_subscriber(next_id(), topic("c"), {});
  ASSERT_TRUE(frame);
  Reply held =
      control_->handle(conn(2), peer(2), std::as_bytes(std::span(*frame)), frame->size(), now_);
  EXPECT_TRUE(held.bytes.empty());
  control_->closed(conn(2), reactor::CloseReason::kPeerClosed);
  EXPECT_EQ(control_->held_replies(), 0u);
  settle();
  EXPECT_TRUE(host_.sent.empty());
  expect_consistent();
}

TEST_F(Handlers, DestroyingSomeoneElsesEndpointIsNotFoundAndChangesNothing) {
  registered(1, "owner");
  registered(2, "intruder");
  std::uint32_t pub = publisher_id(create_publisher(1, topic("s")));
  std::uint32_t sub = subscriber_id(create_subscriber(1, topic("s")));

  Answer a = destroy_publisher(2, pub);
  EXPECT_EQ(a.code(), fb::ResultCode::NotFound);
  EXPECT_NE(a.message().find(std::to_string(pub)), std::string::npos) << a.message();
  EXPECT_EQ(destroy_subscriber(2, sub).code(), fb::ResultCode::NotFound);
  EXPECT_EQ(destroy_publisher(2, 999999).code(), fb::ResultCode::NotFound);
  ASSERT_NE(registry_->publisher(pub), nullptr);
  ASSERT_NE(registry_->subscriber(sub), nullptr);
  EXPECT_EQ(registry_->publisher(pub)->slot,
            registry_->process(registry_->publisher(pub)->slot)->handle.index);
  expect_consistent();

  EXPECT_EQ(destroy_publisher(1, pub).code(), fb::ResultCode::Ok);
  EXPECT_EQ(destroy_subscriber(1, sub).code(), fb::ResultCode::Ok);
  EXPECT_EQ(registry_->topic_count(), 0u);
  settle();  // let the router acknowledge the removals, then reclaim
  EXPECT_EQ(queues_->stats().allocations, 0u);  // freed once the router settled
  EXPECT_EQ(destroy_publisher(1, pub).code(), fb::ResultCode::NotFound);  // twice
  expect_consistent();
}

TEST_F(Handlers, InvalidNamesAreInvalidArgument) {
  registered(1, "p");
  Answer a = create_publisher(1, topic("has/slash"));
  EXPECT_EQ(a.code(), fb::ResultCode::InvalidArgument);
  EXPECT_NE(a.message().find("service"), std::string::npos) << a.message();
  EXPECT_EQ(register_process(2, "").code(), fb::ResultCode::InvalidArgument);
  EXPECT_EQ(count(DaemonCounter::kInvalidArguments), 2u);
  EXPECT_EQ(registry_->topic_count(), 0u);
}

TEST_F(Handlers, ListTopologyListsEverything) {
  std::uint32_t s1 = registered(1, "one", true);
  std::uint32_t s2 = registered(2, "two");
  std::uint32_t pub = publisher_id(create_publisher(1, topic("a")));
  std::uint32_t sub = subscriber_id(create_subscriber(2, topic("a"), 8));
  Answer a = list(3);
  ASSERT_EQ(a.code(), fb::ResultCode::Ok);
  auto* t = a.r->body_as_TopologyReply();
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->processes()->size(), 2u);
  EXPECT_EQ(t->processes()->Get(0)->slot(), std::min(s1, s2));
  ASSERT_EQ(t->publishers()->size(), 1u);
  EXPECT_EQ(t->publishers()->Get(0)->id(), pub);
  EXPECT_EQ(t->publishers()->Get(0)->slot(), s1);
  ASSERT_EQ(t->subscribers()->size(), 1u);
  EXPECT_EQ(t->subscribers()->Get(0)->id(), sub);
  EXPECT_EQ(t->subscribers()->Get(0)->capacity(), 8u);
  EXPECT_EQ(t->subscribers()->Get(0)->service()->str(), "a");
}

TEST_F(Handlers, ListTopologyIsCutToFitOneFrame) {
  FixtureOptions opt;
  opt.arena_bytes = 64ULL << 20;
  build(opt);
  registered(1, "big");
  const std::string longname(protocol::kMaxNameBytes, 'x');
  for (int i = 0; i < 300; ++i) {
    std::string svc = std::to_string(i) + longname.substr(0, protocol::kMaxNameBytes - 4);
    ASSERT_EQ(create_subscriber(1, {svc, longname, longname}, 1).code(), fb::ResultCode::Ok);
  }
  Answer a = list(2);
  ASSERT_EQ(a.code(), fb::ResultCode::Ok) << a.message();
  auto* t = a.r->body_as_TopologyReply();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->processes()->size(), 1u);
  EXPECT_LT(t->subscribers()->size(), 300u);
  EXPECT_GT(t->subscribers()->size(), 100u);
  EXPECT_LE(a.reply.bytes.size(), protocol::kMaxFrameSize);
  EXPECT_EQ(count(DaemonCounter::kTopologyTruncated), 1u);
}

TEST_F(Handlers, RegistrationFromAnExitedConnectorIsRefused) {
  host_.fail_watch_with = ESRCH;
  Answer a = register_process(1, "ghost");
  EXPECT_EQ(a.code(), fb::ResultCode::PermissionDenied);
  EXPECT_NE(a.message().find("exited"), std::string::npos) << a.message();
  EXPECT_EQ(registry_->process_count(), 0u);
  expect_consistent();
}

TEST_F(Handlers, WithoutAPidfdRegistrationStillWorks) {
  host_.fail_watch_with = EMFILE;  // hang-up and heartbeat remain
  EXPECT_EQ(register_process(1, "nofd").code(), fb::ResultCode::Ok);
  control_->closed(conn(1), reactor::CloseReason::kPeerClosed);
  EXPECT_EQ(registry_->process_count(), 0u);
}

TEST_F(Handlers, ShuttingDownRefusesNewWork) {
  registered(1, "p");
  control_->begin_shutdown();
  EXPECT_EQ(create_publisher(1, topic("s")).code(), fb::ResultCode::ShuttingDown);
  EXPECT_EQ(register_process(2, "q").code(), fb::ResultCode::ShuttingDown);
  control_->remove_all();
  EXPECT_EQ(registry_->process_count(), 0u);
  EXPECT_EQ(count(DaemonCounter::kDeathsHangUp) + count(DaemonCounter::kUnregistrations),
            0u);  // not deaths
  expect_consistent();
}

}  // namespace
}  // namespace zcp::daemon::test
