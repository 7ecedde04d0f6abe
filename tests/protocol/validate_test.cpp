// Field validation: names are bounded printable ASCII; topic parts exclude ' ' and '/'.
#include "protocol/validate.hpp"

#include <string>

#include <gtest/gtest.h>

#include "protocol/encode.hpp"

namespace {

using namespace zcp::protocol;  // NOLINT: test brevity
namespace fb = zcp::fb;

// Validates a request as the daemon would: decode, verify, validate.
zcp::Expected<void, FieldError> validate(const EncodeResult& f) {
  EXPECT_TRUE(f.has_value());
  if (!f) return zcp::Unexpected(FieldError{"encode", "failed"});
  auto req = decode_request(*f, f->size());
  EXPECT_TRUE(req.has_value());
  if (!req) return zcp::Unexpected(FieldError{"decode", "failed"});
  return validate_request(**req);
}

TEST(Validate, TopicParts) {
  EXPECT_TRUE(is_valid_topic_part("AAPL.trades-v2_x:1"));
  EXPECT_TRUE(is_valid_topic_part(std::string(kMaxNameBytes, 'a')));
  EXPECT_FALSE(is_valid_topic_part(std::string(kMaxNameBytes + 1, 'a')));
  EXPECT_FALSE(is_valid_topic_part(""));
  EXPECT_FALSE(is_valid_topic_part("a/b"));
  EXPECT_FALSE(is_valid_topic_part("a b"));
  EXPECT_FALSE(is_valid_topic_part("caf\xC3\xA9"));
  EXPECT_FALSE(is_valid_topic_part(std::string("a\0b", 3)));
  EXPECT_FALSE(is_valid_topic_part("tab\there"));
}

TEST(Validate, ProcessNames) {
  EXPECT_TRUE(is_valid_process_name("market feed #1"));
  EXPECT_TRUE(is_valid_process_name("a/b"));
  EXPECT_FALSE(is_valid_process_name(""));
  EXPECT_FALSE(is_valid_process_name(std::string(kMaxNameBytes + 1, 'p')));
  EXPECT_FALSE(is_valid_process_name("line\nbreak"));
  EXPECT_FALSE(is_valid_process_name("\x7F"));
}

TEST(Validate, AcceptsWellFormedRequests) {
  EXPECT_TRUE(validate(encode_hello(1, "libzcp 0.1.0")));
  EXPECT_TRUE(validate(encode_hello(1, "")));
  EXPECT_TRUE(validate(encode_register_process(1, "feed", true)));
  EXPECT_TRUE(validate(encode_create_publisher(1, {"s", "i", "e"}, {})));
  EXPECT_TRUE(validate(encode_create_subscriber(1, {"s", "i", "e"}, {})));
  EXPECT_TRUE(validate(encode_unregister_process(1)));
  EXPECT_TRUE(validate(encode_destroy_publisher(1, 2)));
  EXPECT_TRUE(validate(encode_destroy_subscriber(1, 2)));
  EXPECT_TRUE(validate(encode_list_topology(1)));
}

TEST(Validate, NamesTheFieldAndTheProblem) {
  auto r = validate(encode_create_subscriber(1, {"s", "", "e"}, {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "CreateSubscriber.instance is empty");

  r = validate(encode_create_publisher(1, {"s", "i", "a/b"}, {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(std::string(r.error().field), "CreatePublisher.event");

  r = validate(encode_create_publisher(1, {std::string(kMaxNameBytes + 1, 's'), "i", "e"}, {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(std::string(r.error().field), "CreatePublisher.service");

  r = validate(encode_register_process(1, "", false));
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "RegisterProcess.name is empty");

  r = validate(encode_hello(1, "bad\x01version"));
  ASSERT_FALSE(r);
  EXPECT_EQ(std::string(r.error().field), "Hello.client_version");
}

TEST(Validate, UnknownQueuePolicyIsRefused) {
  const auto bad = static_cast<fb::QueuePolicy>(static_cast<int>(fb::QueuePolicy::MAX) + 1);
  auto r = validate(encode_create_subscriber(1, {"s", "i", "e"}, {.policy = bad}));
  ASSERT_FALSE(r);
  EXPECT_EQ(std::string(r.error().field), "CreateSubscriber.policy");
}

TEST(Validate, AbsentStringIsEmpty) {
  // A hand-built request without the service string at all (not an empty string).
  flatbuffers::FlatBufferBuilder fbb;
  const auto i = fbb.CreateString("i");
  const auto e = fbb.CreateString("e");
  const auto body = fb::CreateCreatePublisher(fbb, 0, i, e);
  finish_request(fbb, fb::CreateRequest(fbb, 1, fb::RequestBody::CreatePublisher, body.Union()));
  auto r = validate(make_frame(fbb));
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "CreatePublisher.service is empty");
}

}  // namespace
