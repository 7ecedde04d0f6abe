// zcp::ipc::BroadcastConfig and the statistics of the market-data broadcast API (seed 004).
//
// A config names the topic and carries every zerocp setting a broadcaster or subscriber
// asks for. The three presets of the seed map to concrete settings; docs/broadcast.md has the
// table and the reasoning. Some settings belong to the daemon, not to a client (the router's
// idle strategy, the size of the 8 KiB chunk pool): the config carries them as hints for
// whoever starts diroute (diroute_flags(), pool_blocks_needed()), because a client cannot
// change a running daemon.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <zcp/subscriber.hpp>

namespace zcp::ipc {

// diroute --idle: how a router worker waits when it finds nothing to route.
enum class RouterIdle : std::uint8_t {
  kSpin,    // never sleeps: lowest latency, one CPU per worker at 100%
  kHybrid,  // spins router_spin_us, yields, then parks: the default
  kPark,    // parks as soon as a pass finds nothing: lowest CPU, a wake-up per burst
};
const char* to_string(RouterIdle idle) noexcept;

// Chunks of the daemon's 8 KiB pool class in a diroute started with default settings
// (shm::ChunkPoolConfig::defaults()). Every block in flight takes one: queued for any
// subscriber, held in a BlockHandle, loaned, in the publish ring, or kept as history.
inline constexpr std::uint32_t kDefaultDaemonBlockPool = 2048;
// Publish-ring slots of every zerocp publisher (shm::kDefaultPublishRing): what it may have
// published and the router not yet settled.
inline constexpr std::uint32_t kPublishRingBlocks = 512;

struct BroadcastConfig {
  // ---- Topic: "<service_name>/<instance_name>/<stream_name>" ----
  std::string service_name = "md";
  std::string instance_name = "broadcast";

  // ---- Subscriber side ----
  // Blocks queued per subscriber. Too low: a subscriber that pauses loses blocks (drop
  // policies) or holds the broadcaster back (kBlockPublisher); too high: a stalled subscriber
  // pins that many 8 KiB chunks, and the queue becomes seconds of latency, not a buffer.
  std::uint32_t queue_capacity = 256;
  zcp::QueuePolicy queue_policy = zcp::QueuePolicy::kDropOldest;
  // BlockHandles one subscriber may hold at once; receive_block() refuses more. Too low:
  // a consumer that batches handles stalls; too high: every subscriber may pin that many chunks.
  std::uint32_t max_held = 16;
  // DataSubscriber::wait() polls this long before it sleeps on the eventfd. Too low: each
  // burst after a pause pays a wake-up (~5-20 us); too high: a waiting subscriber burns CPU.
  std::chrono::nanoseconds wait_spin{0};

  // ---- Both sides ----
  // Blocks the broadcaster keeps for late subscribers, and that a new subscriber asks for.
  // Each pins one chunk. 0: a subscriber sees only what is broadcast after it joined.
  std::uint32_t history_size = 0;

  // ---- Broadcaster side ----
  // Blocks one broadcaster may hold (loaned, or waiting for routing). Too low starves a
  // bursting broadcaster; too high lets one broadcaster pin much of the pool.
  std::uint32_t max_loans = 32;
  // How long a loan waits for a free chunk before it fails (BroadcastStats::failed_loans).
  // Too low: loans fail while the router is merely descheduled; too high: an exhausted pool
  // stalls the broadcaster that long per block.
  std::chrono::nanoseconds loan_wait = std::chrono::milliseconds(5);
  // How long a publish waits when the publish ring is full (the router is behind, or a
  // kBlockPublisher subscriber is full) before it fails. Each wait counts one
  // blocked_publishes. Too low: back-pressure turns into failed broadcasts; too high: one
  // stuck subscriber stalls the broadcaster that long per block.
  std::chrono::nanoseconds publish_timeout{0};

  // ---- Daemon hints (flags for diroute; see diroute_flags()) ----
  RouterIdle router_idle = RouterIdle::kHybrid;
  std::uint32_t router_spin_us = 50;
  // Subscribers the deployment expects per stream; only pool_blocks_needed() reads it.
  std::uint32_t expected_subscribers = 8;

  // The seed's presets. Each is documented, with its numbers, in docs/broadcast.md.
  // Throughput: deep queues, newest data wins, the broadcaster is never held back by a slow
  // subscriber (it drops instead, counted).
  static BroadcastConfig high_performance();
  // Latency: short queues, newest data wins, never wait long; spin hints for the router
  // and for DataSubscriber::wait().
  static BroadcastConfig low_latency();
  // Many subscribers, nothing lost: kBlockPublisher back-pressure, few held blocks per
  // subscriber so hundreds of them fit the pool, generous publish timeout.
  static BroadcastConfig massive_scale();

  // 8 KiB chunks the daemon's pool must hold so that this config can never exhaust it:
  // queue_capacity + expected_subscribers × max_held + max_loans + kPublishRingBlocks +
  // history_size, per broadcaster. (Queues of one stream hold suffixes of one block sequence,
  // so they share chunks; held blocks may all differ.) Compare with kDefaultDaemonBlockPool.
  std::uint32_t pool_blocks_needed() const noexcept;
  // The diroute flags this config's hints stand for, e.g. "--idle spin".
  std::string diroute_flags() const;
  // "<service>/<instance>/<stream>".
  std::string topic(const std::string& stream_name) const;
};

// What a DataBroadcaster did, since it was created. A snapshot: get_stats() may be called
// from any thread while the owner thread broadcasts.
struct BroadcastStats {
  std::uint64_t blocks_sent = 0;
  std::uint64_t records_sent = 0;
  std::uint64_t bytes_sent = 0;         // data bytes (data_size), headers not counted
  std::uint64_t failed_loans = 0;       // no chunk within loan_wait (pool exhausted, router behind)
  std::uint64_t blocked_publishes = 0;  // publishes that found the publish ring full
  std::uint64_t failed_publishes =
      0;                             // publishes given up (after publish_timeout, or disconnected)
  std::uint64_t rejected_calls = 0;  // invalid arguments (too large, bad record size)
  std::uint32_t subscriber_count = 0;  // as the router counts them now
};

// What a DataSubscriber received, since it was created. A snapshot: get_receive_stats() may
// be called from any thread while the owner thread receives.
struct ReceiveStats {
  std::uint64_t blocks_received = 0;
  std::uint64_t records_received = 0;
  std::uint64_t bytes_received = 0;
  // Blocks missing from a broadcaster's sequence (sum of the gap sizes), and how many gaps.
  // Counted from the first block received from each broadcaster on.
  std::uint64_t sequence_gaps = 0;
  std::uint64_t gap_events = 0;
  // Blocks this subscriber's queue dropped (router-counted, exact). With one broadcaster
  // and drop_oldest, sequence_gaps catches up with it as soon as a later block arrives.
  std::uint64_t queue_drops = 0;
  // Messages skipped because they were not a well-formed block (wrong size, data_size out
  // of range): another kind of publisher on the topic, or a bug.
  std::uint64_t malformed_blocks = 0;
  // receive_block() calls refused because max_held handles were alive.
  std::uint64_t held_limit_hits = 0;
};

}  // namespace zcp::ipc
