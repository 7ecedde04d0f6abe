// A ControlPlane over a real (small) segment, with a recording host and a fake clock: the
// handlers run exactly as in diroute, without sockets, threads or sleeps.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "daemon/control_plane.hpp"
#include "daemon/eventfd.hpp"
#include "daemon/registry.hpp"
#include "protocol/encode.hpp"
#include "protocol/frame.hpp"
#include "shm/queue_allocator.hpp"
#include "shm/segment.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon::test {

using reactor::ConnId;
using reactor::PeerCred;

// Records what the control plane asks of the daemon.
struct FakeHost : ControlPlaneHost {
  struct Watch {
    pid_t pid;
    ProcessHandle handle;
    reactor::WatchId id;
  };
  std::vector<Watch> watches;
  std::vector<reactor::WatchId> cancelled;
  std::vector<ConnId> closed;
  int fail_watch_with = 0;  // errno for watch_process to fail with (0: succeed)
  std::uint64_t next_watch = 1;

  sys::Expected<reactor::WatchId> watch_process(pid_t pid, const ProcessHandle& handle) override {
    if (fail_watch_with != 0)
      return sys::fail("pidfd_open " + std::to_string(pid), fail_watch_with);
    reactor::WatchId id{next_watch++};
    watches.push_back({pid, handle, id});
    return id;
  }
  void cancel_watch(reactor::WatchId id) override { cancelled.push_back(id); }
  void close_connection(ConnId id, reactor::CloseMode) override { closed.push_back(id); }
  // Replies the control plane held back and sent later. Their fds are duplicated here, as the
  // daemon's send does (the control plane closes its copies after the call), so `sent` names
  // open descriptors of the same files.
  std::vector<std::pair<ConnId, Reply>> sent;
  std::vector<sys::UniqueFd> sent_fds;
  void send_reply(ConnId id, const Reply& reply) override {
    Reply copy = reply;
    for (int& fd : copy.fds) {
      sent_fds.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
      fd = sent_fds.back().get();
    }
    sent.emplace_back(id, std::move(copy));
  }
  bool was_closed(ConnId id) const {
    for (ConnId c : closed) {
      if (c == id) return true;
    }
    return false;
  }
};

// A reply with its decoded Response (pointing into reply.bytes).
struct Answer {
  Reply reply;
  std::vector<sys::UniqueFd> fds;  // a held reply's fds (reply.fds names them)
  const fb::Response* r = nullptr;
  fb::ResultCode code() const { return r != nullptr ? r->code() : fb::ResultCode::Internal; }
  std::string message() const {
    return r != nullptr && r->message() != nullptr ? r->message()->str() : std::string();
  }
};

struct FixtureOptions {
  std::uint32_t heartbeat_slots = 64;
  std::uint64_t arena_bytes = 8ULL << 20;
  RegistryConfig registry = [] {
    RegistryConfig c;
    c.workers = 2;
    return c;
  }();
  ControlPlaneConfig control;
};

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Lifecycle logs at info would drown the test output (hundreds of registrations).
    spdlog::set_level(std::getenv("ZCP_TEST_LOG") != nullptr ? spdlog::level::debug
                                                             : spdlog::level::warn);
    build(FixtureOptions{});
  }

  void build(const FixtureOptions& opt) {
    control_.reset();
    registry_.reset();
    router_.reset();
    host_ = FakeHost{};
    doorbell_fds_.clear();
    queues_.reset();
    segment_ = shm::Segment{};
    shm::SegmentConfig cfg;
    cfg.pools.classes = {{128, 64}};
    cfg.heartbeat_slots = opt.heartbeat_slots;
    cfg.queue_arena_bytes = opt.arena_bytes;
    // The stats tables sized by the limits, as diroute does (daemon.cpp).
    cfg.stats.topic_slots = opt.registry.limits.max_topics;
    cfg.stats.publisher_slots = opt.registry.limits.max_publishers;
    cfg.stats.subscriber_slots = opt.registry.limits.max_subscribers;
    cfg.stats.worker_slots = opt.registry.workers;
    const std::string instance = zcp::test::unique_instance("cp");
    auto seg = shm::Segment::create("/zcp." + instance + ".seg", instance, cfg);
    ASSERT_TRUE(seg) << seg.error().message;
    segment_ = std::move(*seg);
    auto arena = segment_.region(shm::RegionKind::kQueueArena);
    ASSERT_TRUE(arena);
    queues_ = std::make_unique<shm::QueueAllocator>(arena->offset, arena->size);
    // A real router whose workers are stepped by the fixture (settle()), never threaded.
    if (!notify_.valid()) notify_ = std::move(*make_eventfd("test router notify"));
    auto router = router::Router::create(
        segment_.pool(), std::vector<router::WorkerOptions>(opt.registry.workers), notify_.get());
    ASSERT_TRUE(router) << router.error();
    router_ = std::move(*router);
    for (std::size_t i = 0; i < router_->worker_count(); ++i)
      doorbell_fds_.push_back(router_->doorbell(i));
    registry_ =
        std::make_unique<Registry>(segment_.heartbeats(), *queues_, segment_.base(),
                                   segment_.size(), *router_, opt.registry, segment_.stats());
    SegmentGrant grant{segment_.fd(), segment_.name(), segment_.size(), shm::kLayoutVersion};
    control_ = std::make_unique<ControlPlane>(*registry_, *router_, host_, opt.control, grant);
  }

  // One pass of every router worker, then the reactor's handling of their acknowledgements:
  // what the daemon's threads do on their own, done here in step with the test.
  void settle() {
    for (std::size_t i = 0; i < router_->worker_count(); ++i)
      router_->worker(i).do_work(0);
    control_->router_notified();
  }

  // ---- Clock and peers ----------------------------------------------------------------------
  MonoTime now_ = MonoTime{} + std::chrono::seconds(1000);
  void advance(std::chrono::milliseconds d) { now_ += d; }
  std::uint64_t now_ns() const { return to_ns(now_); }

  static ConnId conn(std::uint32_t n) { return ConnId{n, 1}; }
  static PeerCred peer(std::uint32_t n) {
    return PeerCred{static_cast<pid_t>(100000 + n), 1000, 1000};
  }

  // ---- Requests -----------------------------------------------------------------------------
  Answer raw(std::uint32_t c, const std::vector<std::uint8_t>& frame, std::size_t true_len = 0) {
    Answer a;
    a.reply = control_->handle(conn(c), peer(c), std::as_bytes(std::span(frame)),
                               true_len != 0 ? true_len : frame.size(), now_);
    const std::size_t sent_before = host_.sent.size();
    settle();
    if (a.reply.bytes.empty()) {  // held until the router applied its command: sent by settle()
      for (std::size_t i = sent_before; i < host_.sent.size(); ++i) {
        auto d = protocol::decode_response(host_.sent[i].second.bytes,
                                           host_.sent[i].second.bytes.size());
        const bool notice = d && (*d)->request_id() == 0;  // WakeFds and the like, not a reply
        if (host_.sent[i].first == conn(c) && !notice) a.reply = host_.sent[i].second;
      }
      // The answer owns the copies of the fds it names; the rest close with the host's list.
      for (sys::UniqueFd& fd : host_.sent_fds) {
        if (std::find(a.reply.fds.begin(), a.reply.fds.end(), fd.get()) != a.reply.fds.end()) {
          a.fds.push_back(std::move(fd));
        }
      }
      host_.sent_fds.clear();
    }
    auto d = protocol::decode_response(a.reply.bytes, a.reply.bytes.size());
    EXPECT_TRUE(d) << "the daemon's reply does not decode";
    if (d) a.r = *d;
    return a;
  }
  Answer ask(std::uint32_t c, const protocol::EncodeResult& frame) {
    EXPECT_TRUE(frame);
    return raw(c, *frame);
  }
  std::uint64_t next_id() { return ++request_id_; }

  Answer hello(std::uint32_t c, std::uint16_t version = protocol::kProtocolVersion) {
    return ask(c, protocol::encode_hello(next_id(), "test", version));
  }
  Answer register_process(std::uint32_t c, const std::string& name, bool monitored = false) {
    return ask(c, protocol::encode_register_process(next_id(), name, monitored));
  }
  Answer unregister(std::uint32_t c) {
    return ask(c, protocol::encode_unregister_process(next_id()));
  }
  Answer create_publisher(std::uint32_t c, protocol::Topic t) {
    return ask(c, protocol::encode_create_publisher(next_id(), t, {}));
  }
  Answer create_subscriber(std::uint32_t c, protocol::Topic t, std::uint32_t capacity = 0) {
    protocol::SubscriberOptions o;
    o.queue_capacity = capacity;
    return ask(c, protocol::encode_create_subscriber(next_id(), t, o));
  }
  Answer destroy_publisher(std::uint32_t c, std::uint32_t id) {
    return ask(c, protocol::encode_destroy_publisher(next_id(), id));
  }
  Answer destroy_subscriber(std::uint32_t c, std::uint32_t id) {
    return ask(c, protocol::encode_destroy_subscriber(next_id(), id));
  }
  Answer list(std::uint32_t c) { return ask(c, protocol::encode_list_topology(next_id())); }

  // Registers connection c as `name`; returns its slot.
  std::uint32_t registered(std::uint32_t c, const std::string& name, bool monitored = false) {
    Answer a = register_process(c, name, monitored);
    EXPECT_EQ(a.code(), fb::ResultCode::Ok) << a.message();
    auto* body = a.r != nullptr ? a.r->body_as_RegisterProcessReply() : nullptr;
    return body != nullptr ? body->slot() : 0xFFFFFFFFu;
  }
  std::uint32_t publisher_id(const Answer& a) {
    EXPECT_EQ(a.code(), fb::ResultCode::Ok) << a.message();
    auto* b = a.r != nullptr ? a.r->body_as_PublisherReply() : nullptr;
    return b != nullptr ? b->publisher_id() : 0;
  }
  std::uint32_t subscriber_id(const Answer& a) {
    EXPECT_EQ(a.code(), fb::ResultCode::Ok) << a.message();
    auto* b = a.r != nullptr ? a.r->body_as_SubscriberReply() : nullptr;
    return b != nullptr ? b->subscriber_id() : 0;
  }

  std::uint64_t count(DaemonCounter c) const { return control_->counters().get(c); }
  void expect_consistent() const {
    std::string problem = registry_->check_invariants();
    EXPECT_TRUE(problem.empty()) << problem;
  }

  shm::Segment segment_;
  std::unique_ptr<shm::QueueAllocator> queues_;
  sys::UniqueFd notify_;
  std::unique_ptr<router::Router> router_;
  std::unique_ptr<Registry> registry_;
  FakeHost host_;
  std::unique_ptr<ControlPlane> control_;
  std::vector<int> doorbell_fds_;
  std::uint64_t request_id_ = 0;
};

inline protocol::Topic topic(const char* service, const char* instance = "i",
                             const char* event = "e") {
  return protocol::Topic{service, instance, event};
}

}  // namespace zcp::daemon::test
