// DataSubscriber: seed 004's subscriber, one zerocp Subscriber<> of 8 KiB blocks, with
// sequence-gap accounting per broadcaster.
#include <algorithm>
#include <new>

#include <zcp/ipc/broadcast_hub.hpp>

#include "counter.hpp"
#include "process_runtime.hpp"

namespace zcp::ipc {

namespace {
constexpr std::size_t kBlockSize = ZeroCopyMarketBlock::BLOCK_SIZE;
// Broadcasters per stream that gap tracking expects; more just grow the vector (once each).
// Too low: a reallocation when a stream gains broadcasters; too high: wasted bytes only.
constexpr std::size_t kExpectedBroadcasters = 4;
}  // namespace

struct DataSubscriber::State {
  // Declared first, destroyed last: the subscriber needs its runtime until it is gone.
  std::shared_ptr<zcp::Runtime> runtime;
  zcp::Subscriber<> subscriber;
  BroadcastConfig config;
  std::string stream_name;

  // The last sequence number seen from each broadcaster (zerocp publisher id). Owner thread only.
  struct Cursor {
    std::uint32_t publisher_id;
    std::uint64_t last;
  };
  std::vector<Cursor> cursors;
  std::size_t hint = 0;  // the cursor of the previous block: almost always the same broadcaster

  struct alignas(64) Counters {
    detail::Counter blocks, records, bytes, gaps, gap_events, malformed, held_limit;
  } counters;

  void note_sequence(std::uint32_t publisher_id, std::uint64_t seq) noexcept {
    Cursor* c = nullptr;
    if (hint < cursors.size() && cursors[hint].publisher_id == publisher_id) {
      c = &cursors[hint];
    } else {
      for (std::size_t i = 0; i < cursors.size(); ++i) {
        if (cursors[i].publisher_id == publisher_id) {
          hint = i;
          c = &cursors[i];
          break;
        }
      }
    }
    if (c == nullptr) {
      // The first block of a broadcaster sets the baseline: blocks it sent before this
      // subscriber joined are not gaps. (Blocks dropped before the first one arrived are in
      // queue_drops, which the router counts exactly.)
      cursors.push_back({publisher_id, seq});  // may allocate: once per broadcaster
      hint = cursors.size() - 1;
      return;
    }
    if (seq > c->last + 1) {
      counters.gaps.add(seq - c->last - 1);
      counters.gap_events.add();
    }
    // seq <= last cannot happen within one publisher (zerocp keeps per-publisher FIFO order);
    // it means the daemon reused a dead broadcaster's id for a new one, whose numbering
    // starts again: take it as the new baseline.
    c->last = seq;
  }
};

DataSubscriber::DataSubscriber(std::unique_ptr<State> state) noexcept : s_(std::move(state)) {}
DataSubscriber::~DataSubscriber() = default;
DataSubscriber::DataSubscriber(DataSubscriber&&) noexcept = default;
DataSubscriber& DataSubscriber::operator=(DataSubscriber&&) noexcept = default;

zcp::Result<DataSubscriber> DataSubscriber::create(const BroadcastConfig& config,
                                                   const std::string& stream_name) {
  const std::string where = "DataSubscriber(" + config.topic(stream_name) + ")";
  auto topic = zcp::Topic::parse(config.topic(stream_name));
  if (!topic) return zcp::Unexpected(detail::with_context(std::move(topic).error(), where));
  auto rt = detail::acquire_runtime();
  if (!rt) return zcp::Unexpected(detail::with_context(std::move(rt).error(), where));

  zcp::SubscriberOptions options;
  options.queue_capacity = config.queue_capacity;
  options.policy = config.queue_policy;
  options.history_request = config.history_size;
  options.max_held = config.max_held;
  auto sub = zcp::Subscriber<>::create(**rt, *topic, options);
  if (!sub) return zcp::Unexpected(detail::with_context(std::move(sub).error(), where));
  auto state =
      std::unique_ptr<State>(new State{*rt, std::move(*sub), config, stream_name, {}, 0, {}});
  state->cursors.reserve(kExpectedBroadcasters);
  return DataSubscriber(std::move(state));
}

DataSubscriber::DataSubscriber(const BroadcastConfig& config, const std::string& stream_name) {
  auto made = create(config, stream_name);
  if (!made) throw BroadcastSetupError(std::move(made).error());
  s_ = std::move(made->s_);
}

std::optional<BlockHandle> DataSubscriber::take() noexcept {
  State& s = *s_;
  // Checked first so that a full hand costs no error value (try_take builds a message).
  if (s.subscriber.held() >= s.subscriber.max_held()) {
    if (s.subscriber.has_data()) s.counters.held_limit.add();
    return std::nullopt;
  }
  for (;;) {
    auto sample = s.subscriber.take();
    if (!sample) return std::nullopt;
    // Another process wrote these bytes: check the size before reading a block from them,
    // and data_size before trusting it (payload() clamps it anyway).
    if (sample->size() != kBlockSize) {
      s.counters.malformed.add();
      continue;  // the sample is released as it goes out of scope
    }
    const auto* block =
        std::launder(reinterpret_cast<const ZeroCopyMarketBlock*>(sample->data().data()));
    const std::uint32_t data_size = block->data_size;  // read once: the writer is not trusted
    if (data_size > ZeroCopyMarketBlock::DATA_SIZE) {
      s.counters.malformed.add();
      continue;
    }
    s.note_sequence(sample->publisher_id(), sample->sequence());
    s.counters.blocks.add();
    s.counters.records.add(block->record_count);
    s.counters.bytes.add(data_size);
    return BlockHandle(std::move(*sample), block);
  }
}

std::optional<BlockHandle> DataSubscriber::receive_block() noexcept {
  if (!s_) return std::nullopt;
  return take();
}

std::optional<std::vector<std::uint8_t>> DataSubscriber::receive() {
  if (!s_) return std::nullopt;
  auto block = take();
  if (!block) return std::nullopt;
  const auto bytes = block->data();
  return std::vector<std::uint8_t>(bytes.begin(),
                                   bytes.end());  // the handle releases the chunk here
}

bool DataSubscriber::has_data() const noexcept {
  return s_ && s_->subscriber.has_data();
}

ReceiveStats DataSubscriber::get_receive_stats() const noexcept {
  ReceiveStats out;
  if (!s_) return out;
  const auto& c = s_->counters;
  out.blocks_received = c.blocks.get();
  out.records_received = c.records.get();
  out.bytes_received = c.bytes.get();
  out.sequence_gaps = c.gaps.get();
  out.gap_events = c.gap_events.get();
  out.malformed_blocks = c.malformed.get();
  out.held_limit_hits = c.held_limit.get();
  // A relaxed atomic load of the router's drop count in the queue header
  // (src/client/subscriber.cpp), so safe from a monitoring thread.
  out.queue_drops = s_->subscriber.dropped();
  return out;
}

bool DataSubscriber::wait(std::chrono::nanoseconds timeout) noexcept {
  if (!s_) return false;
  zcp::Subscriber<>& sub = s_->subscriber;
  const auto spin = std::min(s_->config.wait_spin, timeout);
  if (spin.count() > 0) {
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + spin;
    do {
      if (sub.has_data()) return true;
    } while (std::chrono::steady_clock::now() < until);
    timeout -= std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now() - start);
  }
  if (timeout.count() <= 0) return sub.has_data();
  return sub.wait(timeout);
}

int DataSubscriber::native_handle() const noexcept {
  return s_ ? s_->subscriber.native_handle() : -1;
}
bool DataSubscriber::prepare_wait() noexcept {
  return s_ && s_->subscriber.prepare_wait();
}
void DataSubscriber::finish_wait() noexcept {
  if (s_) s_->subscriber.finish_wait();
}
const BroadcastConfig& DataSubscriber::config() const noexcept {
  return s_->config;
}
const std::string& DataSubscriber::stream_name() const noexcept {
  return s_->stream_name;
}
zcp::Subscriber<>& DataSubscriber::subscriber() noexcept {
  return s_->subscriber;
}

}  // namespace zcp::ipc
