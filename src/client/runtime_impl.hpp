// What a Runtime holds: the control channel, the mapped segment, the heartbeat lease, and
// the control requests the Publisher and Subscriber types are built on.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <zcp/runtime.hpp>

#include "client/control_channel.hpp"
#include "protocol/encode.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"

namespace zcp::detail {

// What CreatePublisher granted (PublisherReply plus its fd). Descriptors are unchecked here:
// the Publisher attaches them, which range-checks them against the segment.
struct PublisherGrant {
  std::uint32_t id;
  shm::QueueDescriptor ring;       // publish ring: SPSC<MessageHeader>, we produce
  std::uint32_t history_depth;
  std::uint32_t worker;
  shm::QueueDescriptor loan_ring;  // SPSC<ChunkRef>, the router produces, we consume
  std::uint32_t pool_class;
  std::uint32_t chunk_size;
  std::uint32_t max_loans;
  sys::UniqueFd doorbell;          // the worker's doorbell eventfd
};

// What CreateSubscriber granted (SubscriberReply plus its fd).
struct SubscriberGrant {
  std::uint32_t id;
  shm::QueueDescriptor queue;         // MPMC<MessageHeader>, the router produces, we pop
  shm::QueueDescriptor release_ring;  // SPSC<ChunkRef>, we produce, the router consumes
  std::uint32_t max_held;
  sys::UniqueFd eventfd;
};

class RuntimeImpl {
 public:
  RuntimeOptions options;
  std::string instance;
  std::string daemon_version;
  std::unique_ptr<client::ControlChannel> channel;
  shm::Segment segment;
  shm::SlotLease lease{};
  std::uint32_t heartbeat_interval_ms = 0;
  std::atomic<bool> registered{false};

  Result<PublisherGrant> create_publisher(const protocol::Topic& topic, const protocol::PublisherOptions& o);
  Result<SubscriberGrant> create_subscriber(const protocol::Topic& topic, const protocol::SubscriberOptions& o);
  Result<void> destroy_publisher(std::uint32_t id);
  Result<void> destroy_subscriber(std::uint32_t id);
  Result<Topology> list_topology();
  Result<void> unregister();

  // True once the daemon went away or declared us dead (one atomic load: data-path safe).
  bool disconnected() const noexcept { return channel == nullptr || channel->down(); }
  // Errc::kDisconnected, "<what>: <the runtime's reason>".
  Error disconnected_error(std::string_view what) const;

  // Subscriber eventfds written once when the connection ends, so that a subscriber asleep
  // in wait() (or in the user's own loop on native_handle()) wakes up and sees the
  // disconnection instead of sleeping out its timeout. Control path: a mutex is fine.
  void watch_eventfd(int fd);
  void unwatch_eventfd(int fd);
  void wake_watched() noexcept;

  // Sends a request built by `encode(request_id)` and returns its reply, mapping a non-Ok
  // code to Errc::kRejected with `what` as context ("create subscriber a/b/c").
  template <class Encode>
  Result<client::Reply> request(const std::string& what, Encode&& encode);

  void heartbeat_tick();

 private:
  std::mutex wake_mu_;
  std::vector<int> wake_fds_;
};

}  // namespace zcp::detail
