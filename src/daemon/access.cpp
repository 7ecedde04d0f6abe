#include "daemon/access.hpp"

#include <algorithm>

namespace zcp::daemon {
namespace {

// How specifically `pattern` names `service`: -1 no match; otherwise larger is more specific
// (an exact name beats every prefix, a longer prefix beats a shorter one, "*" is 0).
long specificity(std::string_view pattern, std::string_view service) noexcept {
  if (!pattern.empty() && pattern.back() == '*') {
    std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return service.starts_with(prefix) ? static_cast<long>(prefix.size()) : -1;
  }
  return pattern == service ? static_cast<long>(service.size()) + 1 + 100000 : -1;
}

bool contains(const std::vector<std::uint32_t>& v, std::uint32_t x) noexcept {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

const ServiceAllowlist* AccessPolicy::match(std::string_view service) const noexcept {
  const ServiceAllowlist* best = nullptr;
  long best_score = -1;
  for (const auto& e : entries_) {
    long s = specificity(e.service, service);
    if (s > best_score) {
      best = &e;
      best_score = s;
    }
  }
  return best;
}

bool AccessPolicy::allows(AccessRole role, std::string_view service, uid_t uid,
                          gid_t gid) const noexcept {
  const ServiceAllowlist* e = match(service);
  if (e == nullptr) return true;
  if (role == AccessRole::kPublish)
    return contains(e->publish_uids, uid) || contains(e->publish_gids, gid);
  return contains(e->subscribe_uids, uid) || contains(e->subscribe_gids, gid);
}

std::string AccessPolicy::refusal(AccessRole role, std::string_view service, uid_t uid,
                                  gid_t gid) const {
  const ServiceAllowlist* e = match(service);
  return "uid " + std::to_string(uid) + " gid " + std::to_string(gid) + " may not " +
         (role == AccessRole::kPublish ? "publish to" : "subscribe to") + " service '" +
         std::string(service) + "' ([[access.allow]] entry '" + (e ? e->service : std::string()) +
         "' lists " + (role == AccessRole::kPublish ? "publish" : "subscribe") +
         "_uids/_gids without it)";
}

}  // namespace zcp::daemon
