// What a Runtime holds: its sessions (a control channel, the mapped segment and the heartbeat
// lease of one daemon), the reconnect thread, and the control requests the Publisher and
// Subscriber types are built on.
//
// Reconnect (RuntimeOptions::reconnect, the default): when the daemon goes away, a background
// thread waits for a new diroute on the same instance, registers again and publishes a new
// Session. Ports notice on their next operation (one acquire load compares their session with
// the current one) and re-create their publisher or subscriber on it. Old sessions are kept
// until the Runtime goes, so a port, loan or sample of an old session never touches unmapped
// memory; what was in flight in the old segment is counted as lost, never delivered twice.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zcp/runtime.hpp>

#include "client/control_channel.hpp"
#include "client/wake_fds.hpp"
#include "protocol/encode.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"

namespace zcp::detail {

// What CreatePublisher granted (PublisherReply plus its fd). Descriptors are unchecked here:
// the Publisher attaches them, which range-checks them against the segment.
struct PublisherGrant {
  std::uint32_t id;
  shm::QueueDescriptor ring;  // publish ring: SPSC<MessageHeader>, we produce
  std::uint32_t history_depth;
  std::uint32_t worker;
  shm::QueueDescriptor loan_ring;  // SPSC<ChunkRef>, the router produces, we consume
  std::uint32_t pool_class;
  std::uint32_t chunk_size;
  std::uint32_t max_loans;
  sys::UniqueFd doorbell;  // the worker's doorbell eventfd
};

// What CreateSubscriber granted (SubscriberReply plus its fd).
struct SubscriberGrant {
  std::uint32_t id;
  shm::QueueDescriptor queue;         // MPMC<MessageHeader>, the router produces, we pop
  shm::QueueDescriptor release_ring;  // SPSC<ChunkRef>, we produce, the router consumes
  std::uint32_t max_held;
  sys::UniqueFd eventfd;
};

// One registration with one daemon. Immutable once published (current_), except the
// channel's own state and `registered`.
struct Session {
  std::uint16_t number = 1;  // 1 for the first daemon, +1 per reconnect (tags loans and samples)
  std::unique_ptr<client::ControlChannel> channel;
  shm::Segment segment;
  shm::SlotLease lease{};
  std::uint32_t heartbeat_interval_ms = 0;
  std::string daemon_version;
  std::atomic<bool> registered{false};  // gates the heartbeat tick
  client::WakeFdTable wake_fds;         // subscriber eventfds for direct publishers
};

class RuntimeImpl {
 public:
  RuntimeOptions options;
  std::string instance;
  std::string socket_path;

  ~RuntimeImpl();  // stops the reconnect thread, then every session's channel

  // Connects, says Hello, registers, maps the segment: a new session numbered `number`.
  Result<std::unique_ptr<Session>> open_session(std::uint16_t number);
  // Makes `s` the current session (the first, or a reconnect's).
  void publish_session(std::unique_ptr<Session> s);
  // The current session. acquire: pairs with publish_session's release; every field of the
  // session (mapped segment, lease, channel) is visible to whoever sees the pointer.
  Session* session() const noexcept { return current_.load(std::memory_order_acquire); }
  std::uint64_t reconnects() const noexcept { return reconnects_.load(std::memory_order_relaxed); }
  // Starts the thread that replaces a lost session (options.reconnect).
  void start_reconnector();

  // Requests on session `s` (default: the current one).
  Result<PublisherGrant> create_publisher(Session& s, const protocol::Topic& topic,
                                          const protocol::PublisherOptions& o);
  Result<SubscriberGrant> create_subscriber(Session& s, const protocol::Topic& topic,
                                            const protocol::SubscriberOptions& o);
  Result<void> destroy_publisher(Session& s, std::uint32_t id);
  Result<void> destroy_subscriber(Session& s, std::uint32_t id);
  Result<Topology> list_topology();
  Result<void> unregister();

  // True while the current session's daemon is gone (or declared us dead) and no new one
  // has been found. One acquire load each: data-path safe.
  bool disconnected() const noexcept {
    const Session* s = session();
    return s == nullptr || s->channel->down();
  }
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
  Result<client::Reply> request(Session& s, const std::string& what, Encode&& encode);

  void heartbeat_tick(Session& s);

 private:
  void on_session_lost(Session* s);
  void reconnect_loop();

  std::mutex wake_mu_;
  std::vector<int> wake_fds_;

  std::atomic<Session*> current_{nullptr};
  std::atomic<std::uint64_t> reconnects_{0};
  std::mutex sessions_mu_;  // control path: guards sessions_, lost_, stopping_
  std::condition_variable sessions_cv_;
  std::vector<std::unique_ptr<Session>> sessions_;  // every session ever made, kept to the end
  bool lost_ = false;
  bool stopping_ = false;
  std::thread reconnector_;
};

}  // namespace zcp::detail
