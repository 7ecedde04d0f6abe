// Every limit refuses with LimitReached naming it (and counts), and every malformed frame
// class gets its own reply and counter; a connection sending too many is closed.
#include <cstring>

#include "control_plane_fixture.hpp"
#include "protocol/crc32c.hpp"

namespace zcp::daemon::test {
namespace {

using RegistryLimits = ControlPlaneTest;
using Malformed = ControlPlaneTest;

TEST_F(RegistryLimits, Processes) {
  FixtureOptions opt;
  opt.registry.limits.max_processes = 3;
  build(opt);
  for (std::uint32_t i = 1; i <= 3; ++i)
    registered(i, "p" + std::to_string(i));
  Answer a = register_process(4, "p4");
  EXPECT_EQ(a.code(), fb::ResultCode::LimitReached);
  EXPECT_NE(a.message().find("processes = 3"), std::string::npos) << a.message();
  EXPECT_EQ(count(DaemonCounter::kLimitProcesses), 1u);
  EXPECT_EQ(registry_->process_count(), 3u);
  expect_consistent();
}

TEST_F(RegistryLimits, HeartbeatSlotsBoundProcesses) {
  FixtureOptions opt;
  opt.heartbeat_slots = 2;
  opt.registry.limits.max_processes = 100;  // capped at the slot count
  build(opt);
  EXPECT_EQ(registry_->config().limits.max_processes, 2u);
  registered(1, "a");
  registered(2, "b");
  Answer a = register_process(3, "c");
  EXPECT_EQ(a.code(), fb::ResultCode::LimitReached);
  EXPECT_NE(a.message().find("processes = 2"), std::string::npos) << a.message();
}

TEST_F(RegistryLimits, PublishersPerProcess) {
  FixtureOptions opt;
  opt.registry.limits.max_publishers_per_process = 2;
  build(opt);
  registered(1, "a");
  registered(2, "b");
  publisher_id(create_publisher(1, topic("x")));
  publisher_id(create_publisher(1, topic("y")));
  Answer a = create_publisher(1, topic("z"));
  EXPECT_EQ(a.code(), fb::ResultCode::LimitReached);
  EXPECT_NE(a.message().find("publishers per process = 2"), std::string::npos) << a.message();
  EXPECT_EQ(count(DaemonCounter::kLimitPublishers), 1u);
  EXPECT_EQ(registry_->topic(TopicKey{"z", "i", "e"}), nullptr);  // no empty topic left behind
  EXPECT_EQ(create_publisher(2, topic("z")).code(), fb::ResultCode::Ok);  // per process
  expect_consistent();
}

TEST_F(RegistryLimits, SubscribersPerProcess) {
  FixtureOptions opt;
  opt.registry.limits.max_subscribers_per_process = 1;
  build(opt);
  registered(1, "a");
  subscriber_id(create_subscriber(1, topic("x")));
  Answer a = create_subscriber(1, topic("x"));
  EXPECT_EQ(a.code(), fb::ResultCode::LimitReached);
  EXPECT_NE(a.message().find("subscribers per process = 1"), std::string::npos) << a.message();
  EXPECT_EQ(count(DaemonCounter::kLimitSubscribers), 1u);
  expect_consistent();
}

TEST_F(RegistryLimits, Topics) {
  FixtureOptions opt;
  opt.registry.limits.max_topics = 2;
  build(opt);
  registered(1, "a");
  publisher_id(create_publisher(1, topic("x")));
  subscriber_id(create_subscriber(1, topic("y")));
  subscriber_id(create_subscriber(1, topic("x")));  // existing topic: fine
  Answer a = create_subscriber(1, topic("z"));
  EXPECT_EQ(a.code(), fb::ResultCode::LimitReached);
  EXPECT_NE(a.message().find("topics = 2"), std::string::npos) << a.message();
  EXPECT_EQ(count(DaemonCounter::kLimitTopics), 1u);
  expect_consistent();
}

TEST_F(RegistryLimits, ArenaExhaustionIsOutOfResourcesAndLeavesNothing) {
  FixtureOptions opt;
  opt.arena_bytes = 64 * 1024;  // two 32 KiB subscriber queues at most
  build(opt);
  registered(1, "a");
  int ok = 0;
  Answer last;
  for (int i = 0; i < 10; ++i) {
    last = create_subscriber(1, topic(("t" + std::to_string(i)).c_str()));
    if (last.code() != fb::ResultCode::Ok) break;
    ++ok;
  }
  EXPECT_GE(ok, 1);
  EXPECT_EQ(last.code(), fb::ResultCode::OutOfResources);
  EXPECT_NE(last.message().find("queue arena"), std::string::npos) << last.message();
  EXPECT_EQ(count(DaemonCounter::kOutOfResources), 1u);
  EXPECT_EQ(registry_->topic_count(), static_cast<std::size_t>(ok));
  expect_consistent();
}

// ---- Malformed frames -----------------------------------------------------------------------

std::vector<std::uint8_t> valid_frame() {
  return *protocol::encode_list_topology(5);
}

TEST_F(Malformed, EveryClassGetsItsCodeAndIsCounted) {
  using protocol::DecodeErrc;
  struct Case {
    const char* what;
    std::vector<std::uint8_t> bytes;
    std::size_t true_len;
    DecodeErrc errc;
    fb::ResultCode code;
  };
  std::vector<Case> cases;
  {
    auto f = valid_frame();
    std::memcpy(f.data(), "REGI", 4);
    cases.push_back({"bad magic", f, 0, DecodeErrc::BadMagic, fb::ResultCode::BadMagic});
  }
  {
    auto f = valid_frame();
    f[6] = 1;
    cases.push_back({"flags", f, 0, DecodeErrc::BadFlags, fb::ResultCode::BadFlags});
  }
  cases.push_back({"short", {'Z', 'C', 'P'}, 0, DecodeErrc::Truncated, fb::ResultCode::Truncated});
  {
    auto f = valid_frame();
    f.resize(f.size() - 3);
    cases.push_back({"half frame", f, 0, DecodeErrc::Truncated, fb::ResultCode::Truncated});
  }
  cases.push_back({"oversized (cut by the buffer)", valid_frame(), 70000, DecodeErrc::Oversized,
                   fb::ResultCode::Oversized});
  {
    auto f = valid_frame();
    f.push_back(0);
    cases.push_back({"trailing byte", f, 0, DecodeErrc::Oversized, fb::ResultCode::Oversized});
  }
  {
    auto f = valid_frame();
    f.back() ^= 0xFF;
    cases.push_back({"crc", f, 0, DecodeErrc::BadCrc, fb::ResultCode::BadCrc});
  }
  {
    // A well-framed payload that is not a FlatBuffers Request.
    std::vector<std::uint8_t> payload(40, 0xEE);
    cases.push_back({"verifier", *protocol::make_frame(payload), 0, DecodeErrc::VerifierFailed,
                     fb::ResultCode::VerifierFailed});
  }
  // A Response where a Request is expected fails the file identifier.
  cases.push_back({"response as request", *protocol::encode_ack(1), 0, DecodeErrc::VerifierFailed,
                   fb::ResultCode::VerifierFailed});
  {
    flatbuffers::FlatBufferBuilder fbb;
    protocol::finish_request(fbb, fb::CreateRequest(fbb, 77, fb::RequestBody::NONE, 0));
    cases.push_back({"no body", *protocol::make_frame(fbb), 0, DecodeErrc::UnknownRequest,
                     fb::ResultCode::UnknownRequest});
  }

  std::uint32_t c = 10;
  for (const Case& k : cases) {
    const std::uint64_t before = count(rejected_counter(k.errc));
    Answer a = raw(++c, k.bytes, k.true_len);
    EXPECT_EQ(a.code(), k.code) << k.what << ": " << a.message();
    EXPECT_EQ(count(rejected_counter(k.errc)), before + 1) << k.what;
    EXPECT_FALSE(a.reply.close_after) << k.what;  // one bad frame is answered, not punished
    if (k.errc == DecodeErrc::UnknownRequest) {
      EXPECT_EQ(a.r->request_id(), 77u);
    } else {
      EXPECT_EQ(a.r->request_id(), 0u) << k.what;
    }
  }
  EXPECT_EQ(control_->counters().rejected_total(), cases.size());
  EXPECT_EQ(registry_->process_count(), 0u);
}

TEST_F(Malformed, ConnectionIsClosedAfterTheLimit) {
  registered(1, "victim-of-itself");
  const std::vector<std::uint8_t> junk(32, 0x41);
  for (std::uint32_t i = 1; i < kDefaultMalformedFrameLimit; ++i) {
    Answer a = raw(1, junk);
    ASSERT_EQ(a.code(), fb::ResultCode::BadMagic);
    ASSERT_FALSE(a.reply.close_after) << i;
  }
  Answer last = raw(1, junk);
  EXPECT_EQ(last.code(), fb::ResultCode::BadMagic);  // still answered...
  EXPECT_TRUE(last.reply.close_after);               // ...then hung up on
  EXPECT_EQ(count(DaemonCounter::kClosedMalformed), 1u);
  EXPECT_EQ(count(DaemonCounter::kRejectedBadMagic), kDefaultMalformedFrameLimit);
  control_->closed(conn(1), reactor::CloseReason::kClosedByOwner);
  EXPECT_EQ(registry_->process_count(), 0u);
  EXPECT_EQ(count(DaemonCounter::kDeathsDisconnected), 1u);
}

}  // namespace
}  // namespace zcp::daemon::test
