#include "protocol/validate.hpp"

#include "protocol/frame.hpp"

namespace zcp::protocol {
namespace {

bool printable(std::string_view s, bool allow_space) noexcept {
  for (char c : s) {
    if (c == ' ' && allow_space) continue;
    if (c <= ' ' || c >= 0x7F) return false;
  }
  return true;
}

// Checks one string field; the field name literal is the error's evidence.
zcp::Expected<void, FieldError> check_topic_part(const flatbuffers::String* s,
                                                 const char* field) noexcept {
  if (s == nullptr || s->size() == 0) return Unexpected(FieldError{field, "is empty"});
  if (s->size() > kMaxNameBytes) return Unexpected(FieldError{field, "is longer than 100 bytes"});
  if (!is_valid_topic_part(as_view(s))) {
    return Unexpected(FieldError{field, "has a character outside printable ASCII, or ' ' or '/'"});
  }
  return {};
}

zcp::Expected<void, FieldError> check_topic(const flatbuffers::String* service,
                                            const flatbuffers::String* instance,
                                            const flatbuffers::String* event,
                                            const char* const (&fields)[3]) noexcept {
  if (auto r = check_topic_part(service, fields[0]); !r) return r;
  if (auto r = check_topic_part(instance, fields[1]); !r) return r;
  return check_topic_part(event, fields[2]);
}

}  // namespace

static_assert(kMaxNameBytes == 100, "update the 'longer than 100 bytes' messages");

std::string describe(const FieldError& error) {
  std::string s = error.field;
  s += ' ';
  s += error.problem;
  return s;
}

bool is_valid_topic_part(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  if (!printable(s, false)) return false;
  return s.find('/') == std::string_view::npos;
}

bool is_valid_process_name(std::string_view s) noexcept {
  return !s.empty() && s.size() <= kMaxNameBytes && printable(s, true);
}

zcp::Expected<void, FieldError> validate_request(const fb::Request& req) noexcept {
  switch (req.body_type()) {
    case fb::RequestBody::Hello: {
      const auto v = as_view(req.body_as_Hello()->client_version());
      // An empty version is allowed (it is only logged); garbage is not.
      if (v.size() > kMaxVersionBytes || !printable(v, true)) {
        return Unexpected(
            FieldError{"Hello.client_version", "is not printable ASCII of at most 64 bytes"});
      }
      return {};
    }
    case fb::RequestBody::RegisterProcess: {
      const auto* name = req.body_as_RegisterProcess()->name();
      if (name == nullptr || name->size() == 0) {
        return Unexpected(FieldError{"RegisterProcess.name", "is empty"});
      }
      if (!is_valid_process_name(as_view(name))) {
        return Unexpected(
            FieldError{"RegisterProcess.name", "is longer than 100 bytes or not printable ASCII"});
      }
      return {};
    }
    case fb::RequestBody::CreatePublisher: {
      static constexpr const char* kFields[3] = {
          "CreatePublisher.service", "CreatePublisher.instance", "CreatePublisher.event"};
      const auto* b = req.body_as_CreatePublisher();
      return check_topic(b->service(), b->instance(), b->event(), kFields);
    }
    case fb::RequestBody::CreateSubscriber: {
      static constexpr const char* kFields[3] = {
          "CreateSubscriber.service", "CreateSubscriber.instance", "CreateSubscriber.event"};
      const auto* b = req.body_as_CreateSubscriber();
      // The verifier checks that a scalar is in bounds, not that an enum value exists.
      if (b->policy() > fb::QueuePolicy::MAX) {
        return Unexpected(FieldError{"CreateSubscriber.policy", "is not a known QueuePolicy"});
      }
      return check_topic(b->service(), b->instance(), b->event(), kFields);
    }
    // No string fields.
    case fb::RequestBody::UnregisterProcess:
    case fb::RequestBody::DestroyPublisher:
    case fb::RequestBody::DestroySubscriber:
    case fb::RequestBody::ListTopology:
    case fb::RequestBody::NONE:
      return {};
  }
  return {};  // unreachable after verify_request(); harmless otherwise
}

}  // namespace zcp::protocol
