// Per-service allowlists ([[access.allow]] in the config): which uids and gids may publish to
// or subscribe from a service. Identity is the kernel's (SO_PEERCRED of the registering
// connection), never a request field.
//
// Matching: an entry names a service exactly, a prefix ending in '*' ("md.*"), or "*". The
// most specific entry that matches a service decides (exact, then the longest prefix, then
// "*"); a service that no entry matches is open to every client of the instance. To close
// everything not listed, add a "*" entry. Within the deciding entry a client may publish if
// its uid is in publish_uids or its gid in publish_gids (likewise for subscribe); an entry
// whose two lists are empty lets nobody do it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace zcp::daemon {

struct ServiceAllowlist {
  std::string service;  // a service name, or a prefix ending in '*' ("md.*"); "*" is every one
  std::vector<std::uint32_t> publish_uids;
  std::vector<std::uint32_t> publish_gids;
  std::vector<std::uint32_t> subscribe_uids;
  std::vector<std::uint32_t> subscribe_gids;
};

enum class AccessRole : std::uint8_t { kPublish, kSubscribe };

class AccessPolicy {
 public:
  AccessPolicy() = default;
  explicit AccessPolicy(std::vector<ServiceAllowlist> entries) : entries_(std::move(entries)) {}

  bool empty() const noexcept { return entries_.empty(); }
  // The entry that decides for `service`, or nullptr when none matches (open).
  const ServiceAllowlist* match(std::string_view service) const noexcept;
  // True if a client with this uid and gid may take `role` on `service`.
  bool allows(AccessRole role, std::string_view service, uid_t uid, gid_t gid) const noexcept;
  // "uid 1000 gid 1000 may not publish to service 'md.x' ([[access.allow]] entry 'md.*')".
  std::string refusal(AccessRole role, std::string_view service, uid_t uid, gid_t gid) const;

 private:
  std::vector<ServiceAllowlist> entries_;
};

}  // namespace zcp::daemon
