// WakeFdTable: the eventfds of subscribers that this process's direct publishers push to, so
// that a publisher wakes a sleeping subscriber itself instead of leaving the wake-up to the
// router (docs/router.md, "Wake-ups"). The daemon sends them with WakeFds notices before the
// reply that makes a publisher push to those subscribers, and revokes them (WakeFdsRevoked)
// when a subscriber leaves.
//
// Written by the session's reader thread, read by publishing threads only when their routes
// or this table changed (one atomic load per publish tells): a mutex on the control path. A
// publisher keeps a shared reference to each fd it uses, so a revoke never closes a descriptor
// under a write (a write to a departed subscriber's eventfd is harmless).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/sys.hpp"

namespace zcp::client {

class WakeFdTable {
 public:
  using Fd = std::shared_ptr<const sys::UniqueFd>;

  // Reader thread. A grant pairs ids and fds by position; extra fds are closed.
  void grant(std::span<const std::uint32_t> ids, std::vector<sys::UniqueFd>& fds) {
    {
      std::lock_guard lk(mu_);
      for (std::size_t i = 0; i < ids.size() && i < fds.size(); ++i) {
        fds_[ids[i]] = std::make_shared<const sys::UniqueFd>(std::move(fds[i]));
      }
    }
    // relaxed: a hint that the table changed; what it holds is read under the mutex.
    gen_.fetch_add(1, std::memory_order_relaxed);
  }
  void revoke(std::span<const std::uint32_t> ids) {
    {
      std::lock_guard lk(mu_);
      for (std::uint32_t id : ids)
        fds_.erase(id);
    }
    gen_.fetch_add(1, std::memory_order_relaxed);  // as in grant
  }

  // Publishing thread: the eventfd of subscriber `id`, or null if this process holds none.
  Fd find(std::uint32_t id) const {
    std::lock_guard lk(mu_);
    auto it = fds_.find(id);
    return it == fds_.end() ? nullptr : it->second;
  }
  // Changes so far: a publisher looks again when this moved. relaxed: as in grant.
  std::uint64_t generation() const noexcept { return gen_.load(std::memory_order_relaxed); }
  std::size_t size() const {
    std::lock_guard lk(mu_);
    return fds_.size();
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::uint32_t, Fd> fds_;
  std::atomic<std::uint64_t> gen_{0};
};

}  // namespace zcp::client
