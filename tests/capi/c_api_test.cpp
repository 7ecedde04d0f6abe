// The C ABI (zcp/zcp.h) against the real diroute on a private instance: every call, the
// misuse it must refuse with a status and a message (NULLs, sizes, handles released twice
// or given to the wrong object, uninitialised option structs), and no chunk leaked after
// any of it (the fixture's pool check after each test).
#include <array>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <poll.h>

#include <zcp/zcp.h>

#include "daemon_fixture.hpp"

namespace {

using zcp::client_test::PubSubTest;

constexpr std::int64_t kSecond = 1'000'000'000;

// A runtime connected to the fixture's daemon ($ZCP_INSTANCE), closed by the destructor.
struct Rt {
  Rt() {
    zcp_runtime_options o;
    zcp_runtime_options_init(&o);
    o.name = "c-api-test";
    status = zcp_runtime_connect(&o, &rt);
  }
  ~Rt() { zcp_runtime_close(rt); }
  zcp_runtime* rt = nullptr;
  zcp_status status;
};

// Takes one sample, waiting up to 5 s.
zcp_status take_waiting(zcp_subscriber* sub, zcp_sample* out) {
  for (int i = 0; i < 50; ++i) {
    zcp_status st = zcp_subscriber_take(sub, out);
    if (st != ZCP_EMPTY) return st;
    (void)zcp_subscriber_wait(sub, kSecond / 10);
  }
  return ZCP_EMPTY;
}

class CApiTest : public PubSubTest {};

TEST(CApiUnit, VersionsAndStatusNames) {
  EXPECT_EQ(zcp_abi_version(), ZCP_ABI_VERSION);
  EXPECT_STRNE(zcp_version(), "");
  EXPECT_STREQ(zcp_status_name(ZCP_ERR_TOO_MANY_HELD), "ZCP_ERR_TOO_MANY_HELD");
  EXPECT_STREQ(zcp_status_name(static_cast<zcp_status>(1234)), "ZCP_UNKNOWN");
}

TEST(CApiUnit, NullHandlesAndPointersAreRefusedWithAMessage) {
  zcp_runtime* rt = reinterpret_cast<zcp_runtime*>(0x1);  // must be overwritten
  EXPECT_EQ(zcp_runtime_connect(nullptr, nullptr), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(zcp_last_error(), "zcp_runtime_connect: out is NULL");
  EXPECT_EQ(zcp_last_status(), ZCP_ERR_INVALID_ARGUMENT);

  zcp_publisher* pub = reinterpret_cast<zcp_publisher*>(0x1);
  EXPECT_EQ(zcp_publisher_create(nullptr, "a/b/c", nullptr, &pub), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(pub, nullptr);
  EXPECT_STREQ(zcp_last_error(), "zcp_publisher_create: runtime is NULL");
  zcp_subscriber* sub = reinterpret_cast<zcp_subscriber*>(0x1);
  EXPECT_EQ(zcp_subscriber_create(nullptr, "a/b/c", nullptr, &sub), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sub, nullptr);

  zcp_loan loan;
  EXPECT_EQ(zcp_publisher_loan(nullptr, 8, &loan), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(loan.data, nullptr);
  EXPECT_EQ(zcp_publisher_loan(nullptr, 8, nullptr), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_publisher_publish(nullptr, &loan), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_publisher_drop(nullptr, &loan), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_publisher_publish_copy(nullptr, "x", 1), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_publisher_flush(nullptr, 0), ZCP_ERR_INVALID_ARGUMENT);
  zcp_sample sample;
  EXPECT_EQ(zcp_subscriber_take(nullptr, &sample), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_subscriber_release(nullptr, &sample), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_subscriber_wait(nullptr, 0), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_subscriber_fd(nullptr), -1);
  EXPECT_FALSE(zcp_subscriber_prepare_wait(nullptr));
  zcp_subscriber_finish_wait(nullptr);
  EXPECT_EQ(zcp_subscriber_dropped(nullptr), 0U);
  EXPECT_EQ(zcp_publisher_max_payload(nullptr), 0U);
  EXPECT_FALSE(zcp_runtime_connected(nullptr));
  EXPECT_STREQ(zcp_runtime_name(nullptr), "");
  zcp_publisher_destroy(nullptr);
  zcp_subscriber_destroy(nullptr);
  zcp_runtime_close(nullptr);

  zcp_broadcast_config config;
  EXPECT_EQ(zcp_broadcast_config_preset(static_cast<zcp_broadcast_preset>(7), &config),
            ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_broadcaster_broadcast(nullptr, "x", 1, 1, ZCP_MD_TICK), ZCP_ERR_INVALID_ARGUMENT);
  zcp_block block;
  EXPECT_EQ(zcp_data_subscriber_receive_block(nullptr, &block), ZCP_ERR_INVALID_ARGUMENT);
  zcp_broadcaster_destroy(nullptr);
  zcp_data_subscriber_destroy(nullptr);
  (void)rt;
}

TEST(CApiUnit, NoDaemonIsAClearError) {
  zcp_runtime_options o;
  zcp_runtime_options_init(&o);
  o.instance = "no-such-daemon-c-api";
  o.reconnect = false;
  zcp_runtime* rt = reinterpret_cast<zcp_runtime*>(0x1);
  EXPECT_EQ(zcp_runtime_connect(&o, &rt), ZCP_ERR_DAEMON_UNAVAILABLE);
  EXPECT_EQ(rt, nullptr);
  EXPECT_NE(std::string(zcp_last_error()).find("no-such-daemon-c-api"), std::string::npos)
      << zcp_last_error();
}

TEST(CApiUnit, LastErrorIsPerThread) {
  zcp_loan loan;
  ASSERT_EQ(zcp_publisher_loan(nullptr, 1, &loan), ZCP_ERR_INVALID_ARGUMENT);
  std::thread([] {
    EXPECT_EQ(zcp_last_status(), ZCP_OK);
    EXPECT_STREQ(zcp_last_error(), "");
  }).join();
  EXPECT_STREQ(zcp_last_error(), "zcp_publisher_loan: publisher is NULL");
}

TEST_F(CApiTest, PublishTakeReleaseInPlace) {
  Rt r;
  ASSERT_EQ(r.status, ZCP_OK) << zcp_last_error();
  EXPECT_TRUE(zcp_runtime_connected(r.rt));
  EXPECT_STREQ(zcp_runtime_name(r.rt), "c-api-test");
  EXPECT_EQ(std::string(zcp_runtime_instance(r.rt)), instance_);

  zcp_subscriber* sub = nullptr;
  ASSERT_EQ(zcp_subscriber_create(r.rt, "capi/test/ticks", nullptr, &sub), ZCP_OK)
      << zcp_last_error();
  zcp_publisher_options po;
  zcp_publisher_options_init(&po);
  po.max_payload = 256;
  zcp_publisher* pub = nullptr;
  ASSERT_EQ(zcp_publisher_create(r.rt, "capi/test/ticks", &po, &pub), ZCP_OK) << zcp_last_error();
  EXPECT_GE(zcp_publisher_max_payload(pub), 256U);
  EXPECT_NE(zcp_publisher_id(pub), 0U);

  zcp_loan loan;
  ASSERT_EQ(zcp_publisher_loan(pub, 100, &loan), ZCP_OK) << zcp_last_error();
  EXPECT_EQ(loan.size, 100U);
  EXPECT_GE(loan.capacity, 256U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(loan.data) % 64, 0U);
  EXPECT_EQ(zcp_publisher_loans_outstanding(pub), 1U);
  std::memset(loan.data, 0xab, 100);
  loan.size = 10;  // publish fewer bytes than loaned
  void* chunk = loan.data;
  ASSERT_EQ(zcp_publisher_publish(pub, &loan), ZCP_OK) << zcp_last_error();
  EXPECT_EQ(loan.data, nullptr);
  EXPECT_EQ(loan.handle, 0U);
  EXPECT_EQ(zcp_publisher_published(pub), 1U);

  zcp_sample s;
  ASSERT_EQ(take_waiting(sub, &s), ZCP_OK) << zcp_last_error();
  EXPECT_EQ(s.size, 10U);
  EXPECT_EQ(s.data, chunk);  // the very chunk the publisher wrote: no copy on the way
  EXPECT_EQ(static_cast<const unsigned char*>(s.data)[9], 0xab);
  EXPECT_EQ(s.sequence, 1U);
  EXPECT_EQ(s.publisher_id, zcp_publisher_id(pub));
  EXPECT_NE(s.timestamp_ns, 0U);
  EXPECT_EQ(zcp_subscriber_held(sub), 1U);
  ASSERT_EQ(zcp_subscriber_release(sub, &s), ZCP_OK);
  EXPECT_EQ(zcp_subscriber_held(sub), 0U);

  ASSERT_EQ(zcp_publisher_publish_copy(pub, "hello", 5), ZCP_OK) << zcp_last_error();
  ASSERT_EQ(take_waiting(sub, &s), ZCP_OK);
  EXPECT_EQ(std::string(static_cast<const char*>(s.data), s.size), "hello");
  EXPECT_EQ(s.sequence, 2U);
  ASSERT_EQ(zcp_subscriber_release(sub, &s), ZCP_OK);
  EXPECT_EQ(zcp_subscriber_take(sub, &s), ZCP_EMPTY);
  EXPECT_EQ(zcp_publisher_flush(pub, 5 * kSecond), ZCP_OK) << zcp_last_error();

  zcp_publisher_destroy(pub);
  zcp_subscriber_destroy(sub);
}

TEST_F(CApiTest, HandlesReleasedTwiceOrGivenToTheWrongObjectAreRefused) {
  Rt r;
  ASSERT_EQ(r.status, ZCP_OK) << zcp_last_error();
  zcp_subscriber *a = nullptr, *b = nullptr;
  ASSERT_EQ(zcp_subscriber_create(r.rt, "capi/test/h", nullptr, &a), ZCP_OK);
  ASSERT_EQ(zcp_subscriber_create(r.rt, "capi/test/h", nullptr, &b), ZCP_OK);
  zcp_publisher *p = nullptr, *q = nullptr;
  ASSERT_EQ(zcp_publisher_create(r.rt, "capi/test/h", nullptr, &p), ZCP_OK);
  ASSERT_EQ(zcp_publisher_create(r.rt, "capi/test/h2", nullptr, &q), ZCP_OK);

  // A loan: published twice (through a copy of its struct), through the wrong publisher,
  // dropped after publishing, or made up.
  zcp_loan loan;
  ASSERT_EQ(zcp_publisher_loan(p, 8, &loan), ZCP_OK);
  zcp_loan copy = loan;
  EXPECT_EQ(zcp_publisher_publish(q, &copy), ZCP_ERR_INVALID_HANDLE);
  EXPECT_NE(std::string(zcp_last_error()).find("not held by this publisher"), std::string::npos);
  ASSERT_EQ(zcp_publisher_publish(p, &loan), ZCP_OK);
  EXPECT_EQ(zcp_publisher_publish(p, &copy), ZCP_ERR_INVALID_HANDLE);
  EXPECT_EQ(zcp_publisher_drop(p, &copy), ZCP_ERR_INVALID_HANDLE);
  copy.handle = 0x0000000700000003ULL;
  EXPECT_EQ(zcp_publisher_publish(p, &copy), ZCP_ERR_INVALID_HANDLE);

  // A sample: released twice, or through the other subscriber.
  zcp_sample sa, sb;
  ASSERT_EQ(take_waiting(a, &sa), ZCP_OK);
  ASSERT_EQ(take_waiting(b, &sb), ZCP_OK);
  EXPECT_EQ(sa.data, sb.data);  // one chunk, read by both
  zcp_sample sa2 = sa;
  EXPECT_EQ(zcp_subscriber_release(b, &sa2), ZCP_ERR_INVALID_HANDLE);
  EXPECT_EQ(zcp_subscriber_held(b), 1U);
  ASSERT_EQ(zcp_subscriber_release(a, &sa), ZCP_OK);
  EXPECT_EQ(zcp_subscriber_release(a, &sa2), ZCP_ERR_INVALID_HANDLE);
  EXPECT_EQ(zcp_subscriber_release(a, &sa), ZCP_ERR_INVALID_HANDLE);  // cleared: handle 0
  // The slot is reused by the next take; the stale handle still names nothing.
  ASSERT_EQ(zcp_publisher_publish_copy(p, "x", 1), ZCP_OK);
  zcp_sample next;
  ASSERT_EQ(take_waiting(a, &next), ZCP_OK);
  EXPECT_EQ(zcp_subscriber_release(a, &sa2), ZCP_ERR_INVALID_HANDLE);
  EXPECT_EQ(zcp_subscriber_held(a), 1U);
  ASSERT_EQ(zcp_subscriber_release(a, &next), ZCP_OK);

  // b still holds sb: destroying b gives it back (the fixture checks the pools).
  zcp_subscriber_destroy(b);
  zcp_subscriber_destroy(a);
  zcp_publisher_destroy(q);
  zcp_publisher_destroy(p);
}

TEST_F(CApiTest, WrongSizesAndLimitsAreErrorsThatLeaveTheLoanUsable) {
  Rt r;
  ASSERT_EQ(r.status, ZCP_OK) << zcp_last_error();
  zcp_publisher_options po;
  zcp_publisher_options_init(&po);
  po.max_payload = 64;
  po.max_loans = 2;
  zcp_publisher* pub = nullptr;
  ASSERT_EQ(zcp_publisher_create(r.rt, "capi/test/sizes", &po, &pub), ZCP_OK) << zcp_last_error();
  const std::size_t cap = zcp_publisher_max_payload(pub);

  zcp_loan loan;
  EXPECT_EQ(zcp_publisher_loan(pub, cap + 1, &loan), ZCP_ERR_TOO_LARGE);
  EXPECT_NE(std::string(zcp_last_error()), "");
  std::string big(cap + 1, 'x');
  EXPECT_EQ(zcp_publisher_publish_copy(pub, big.data(), big.size()), ZCP_ERR_TOO_LARGE);

  ASSERT_EQ(zcp_publisher_loan(pub, 8, &loan), ZCP_OK);
  loan.size = loan.capacity + 1;
  EXPECT_EQ(zcp_publisher_publish(pub, &loan), ZCP_ERR_TOO_LARGE);
  EXPECT_NE(loan.handle, 0U);  // still the caller's: fix the size and retry, or drop
  zcp_loan second;
  ASSERT_EQ(zcp_publisher_loan(pub, 8, &second), ZCP_OK);
  zcp_loan third;
  EXPECT_EQ(zcp_publisher_loan(pub, 8, &third), ZCP_ERR_TOO_MANY_LOANS);
  EXPECT_EQ(zcp_publisher_drop(pub, &loan), ZCP_OK);
  EXPECT_EQ(loan.data, nullptr);
  // `second` stays loaned: destroying the publisher drops it.
  zcp_publisher_destroy(pub);
}

TEST_F(CApiTest, OptionStructsAreCheckedAndOlderShorterStructsWork) {
  Rt r;
  ASSERT_EQ(r.status, ZCP_OK) << zcp_last_error();
  zcp_subscriber_options so{};  // struct_size 0: not initialised
  zcp_subscriber* sub = nullptr;
  EXPECT_EQ(zcp_subscriber_create(r.rt, "capi/test/opts", &so, &sub), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(zcp_last_error()).find("zcp_subscriber_options_init"), std::string::npos);
  zcp_subscriber_options_init(&so);
  so.policy = static_cast<zcp_queue_policy>(3);
  EXPECT_EQ(zcp_subscriber_create(r.rt, "capi/test/opts", &so, &sub), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(zcp_subscriber_create(r.rt, "not-a-topic", nullptr, &sub), ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(zcp_last_error()), "");

  // A program built when the struct ended after queue_capacity: the rest keeps defaults.
  zcp_subscriber_options_init(&so);
  so.struct_size = offsetof(zcp_subscriber_options, policy);
  so.queue_capacity = 8;
  so.policy = static_cast<zcp_queue_policy>(3);  // beyond its struct: not read
  so.max_held = 3;                               // beyond its struct: not read
  ASSERT_EQ(zcp_subscriber_create(r.rt, "capi/test/opts", &so, &sub), ZCP_OK) << zcp_last_error();
  EXPECT_EQ(zcp_subscriber_queue_capacity(sub), 8U);
  EXPECT_EQ(zcp_subscriber_max_held(sub), 16U);
  zcp_subscriber_destroy(sub);
}

TEST_F(CApiTest, MaxHeldIsEnforcedAndTheEventfdWakesAPoll) {
  Rt r;
  ASSERT_EQ(r.status, ZCP_OK) << zcp_last_error();
  zcp_subscriber_options so;
  zcp_subscriber_options_init(&so);
  so.max_held = 2;
  so.policy = ZCP_BLOCK_PUBLISHER;
  zcp_subscriber* sub = nullptr;
  ASSERT_EQ(zcp_subscriber_create(r.rt, "capi/test/held", &so, &sub), ZCP_OK);
  zcp_publisher* pub = nullptr;
  ASSERT_EQ(zcp_publisher_create(r.rt, "capi/test/held", nullptr, &pub), ZCP_OK);

  // Nothing queued: announce the sleep, publish from another thread, poll the eventfd.
  ASSERT_TRUE(zcp_subscriber_prepare_wait(sub));
  const int fd = zcp_subscriber_fd(sub);
  ASSERT_GE(fd, 0);
  std::thread publisher([&] {
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(zcp_publisher_publish_copy(pub, "abc", 3), ZCP_OK);
  });
  pollfd pfd{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 10'000), 1);
  zcp_subscriber_finish_wait(sub);
  publisher.join();

  std::array<zcp_sample, 3> s{};
  ASSERT_EQ(take_waiting(sub, &s[0]), ZCP_OK);
  ASSERT_EQ(take_waiting(sub, &s[1]), ZCP_OK);
  EXPECT_EQ(zcp_subscriber_take(sub, &s[2]), ZCP_ERR_TOO_MANY_HELD);
  EXPECT_NE(std::string(zcp_last_error()), "");
  ASSERT_EQ(zcp_subscriber_release(sub, &s[0]), ZCP_OK);
  ASSERT_EQ(take_waiting(sub, &s[2]), ZCP_OK);
  EXPECT_EQ(s[2].sequence, 3U);
  EXPECT_EQ(zcp_subscriber_wait(sub, 0), ZCP_EMPTY);
  zcp_subscriber_destroy(sub);  // holds two samples: given back
  zcp_publisher_destroy(pub);
}

TEST_F(CApiTest, BroadcastApiSendsAndReceivesBlocksInPlace) {
  zcp_broadcast_config config;
  ASSERT_EQ(zcp_broadcast_config_preset(ZCP_PRESET_LOW_LATENCY, &config), ZCP_OK);
  EXPECT_STREQ(config.service_name, "md");
  config.instance_name = "capi";
  ASSERT_EQ(zcp_broadcast_initialize_runtime("c-api-broadcast"), ZCP_OK) << zcp_last_error();

  zcp_data_subscriber* in = nullptr;
  ASSERT_EQ(zcp_data_subscriber_create(&config, "ticks", &in), ZCP_OK) << zcp_last_error();
  zcp_broadcaster* out = nullptr;
  ASSERT_EQ(zcp_broadcaster_create(&config, "ticks", &out), ZCP_OK) << zcp_last_error();

  const std::array<std::uint32_t, 4> ticks{1, 2, 3, 4};
  ASSERT_EQ(zcp_broadcaster_broadcast(out, ticks.data(), sizeof ticks, 4, ZCP_MD_TICK), ZCP_OK)
      << zcp_last_error();
  std::string too_big(ZCP_BLOCK_DATA_SIZE + 1, 'x');
  EXPECT_EQ(zcp_broadcaster_broadcast(out, too_big.data(), too_big.size(), 1, ZCP_MD_TICK),
            ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(zcp_last_error()).find("DATA_SIZE"), std::string::npos);

  zcp_block_loan loan;
  ASSERT_EQ(zcp_broadcaster_loan_block(out, &loan), ZCP_OK) << zcp_last_error();
  std::memcpy(loan.block->data, "quote", 5);
  loan.block->data_size = 5;
  loan.block->record_count = 1;
  loan.block->data_type = ZCP_MD_QUOTE;
  zcp_block_loan copy = loan;
  ASSERT_EQ(zcp_broadcaster_publish_block(out, &loan), ZCP_OK) << zcp_last_error();
  EXPECT_EQ(zcp_broadcaster_publish_block(out, &copy), ZCP_ERR_INVALID_HANDLE);

  // 3000 records of 8 bytes: 1020 per block, three blocks.
  std::string batch(3000 * 8, 'r');
  std::size_t blocks = 0;
  ASSERT_EQ(
      zcp_broadcaster_broadcast_batch(out, batch.data(), batch.size(), 3000, ZCP_MD_TRADE, &blocks),
      ZCP_OK)
      << zcp_last_error();
  EXPECT_EQ(blocks, 3U);
  EXPECT_EQ(zcp_broadcaster_broadcast_batch(out, batch.data(), 7, 3, ZCP_MD_TRADE, &blocks),
            ZCP_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(blocks, 0U);

  zcp_block b;
  ASSERT_EQ(zcp_data_subscriber_wait(in, 5 * kSecond), ZCP_OK);
  ASSERT_EQ(zcp_data_subscriber_receive_block(in, &b), ZCP_OK);
  EXPECT_EQ(b.block->record_count, 4U);
  EXPECT_EQ(b.block->data_type, ZCP_MD_TICK);
  EXPECT_EQ(b.block->data_size, sizeof ticks);
  EXPECT_EQ(b.block->flags, ZCP_BLOCK_FLAG_BATCH_FIRST | ZCP_BLOCK_FLAG_BATCH_LAST);
  EXPECT_EQ(std::memcmp(b.block->data, ticks.data(), sizeof ticks), 0);
  EXPECT_EQ(b.block->sequence_number, 1U);
  zcp_block again = b;
  ASSERT_EQ(zcp_data_subscriber_release(in, &b), ZCP_OK);
  EXPECT_EQ(zcp_data_subscriber_release(in, &again), ZCP_ERR_INVALID_HANDLE);

  ASSERT_EQ(zcp_data_subscriber_wait(in, 5 * kSecond), ZCP_OK);
  ASSERT_EQ(zcp_data_subscriber_receive_block(in, &b), ZCP_OK);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.block->data), b.block->data_size), "quote");
  EXPECT_EQ(b.block->data_type, ZCP_MD_QUOTE);
  ASSERT_EQ(zcp_data_subscriber_release(in, &b), ZCP_OK);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(zcp_data_subscriber_wait(in, 5 * kSecond), ZCP_OK);
    ASSERT_EQ(zcp_data_subscriber_receive_block(in, &b), ZCP_OK);
    ASSERT_EQ(zcp_data_subscriber_release(in, &b), ZCP_OK);
  }

  zcp_broadcast_stats bs;
  ASSERT_EQ(zcp_broadcaster_stats(out, &bs), ZCP_OK);
  EXPECT_EQ(bs.blocks_sent, 5U);
  EXPECT_EQ(bs.rejected_calls, 2U);
  zcp_receive_stats rs;
  ASSERT_EQ(zcp_data_subscriber_stats(in, &rs), ZCP_OK);
  EXPECT_EQ(rs.blocks_received, 5U);
  EXPECT_EQ(rs.records_received, 3005U);
  EXPECT_EQ(rs.sequence_gaps, 0U);

  zcp_broadcaster_destroy(out);
  zcp_data_subscriber_destroy(in);
  zcp_broadcast_shutdown_runtime();
}

#ifdef ZCP_C_PROGRAM
// tests/install/c_consumer/main.c, compiled as C11 with -Werror -pedantic against zcp/zcp.h:
// a publish and a take through the daemon, and its misuse checks.
TEST_F(CApiTest, APlainCProgramPublishesAndReceives) {
  auto ran = zcp::test::run_command(ZCP_C_PROGRAM);
  EXPECT_EQ(ran.code, 0) << ran.out;
  EXPECT_NE(ran.out.find("received 42"), std::string::npos) << ran.out;
}
#endif

}  // namespace
