// DataBroadcaster: seed 004's publisher, one zerocp Publisher<> of 8 KiB blocks.
#include <cstring>
#include <new>

#include <zcp/ipc/broadcast_hub.hpp>

#include "counter.hpp"
#include "process_runtime.hpp"

namespace zcp::ipc {

namespace {
constexpr std::size_t kBlockSize = ZeroCopyMarketBlock::BLOCK_SIZE;
constexpr std::size_t kDataSize = ZeroCopyMarketBlock::DATA_SIZE;
}  // namespace

struct DataBroadcaster::State {
  // Declared first, destroyed last: the publisher needs its runtime until it is gone.
  std::shared_ptr<zcp::Runtime> runtime;
  zcp::Publisher<> publisher;
  BroadcastConfig config;
  std::string stream_name;
  zcp::Error last_error{};
  // Written by the owner thread only; on their own cache lines so that a monitoring thread
  // reading them does not share a line with the publisher's other state.
  struct alignas(64) Counters {
    detail::Counter blocks, records, bytes, failed_loans, blocked, failed_publishes, rejected;
  } counters;
};

DataBroadcaster::DataBroadcaster(std::unique_ptr<State> state) noexcept : s_(std::move(state)) {}
DataBroadcaster::~DataBroadcaster() = default;
DataBroadcaster::DataBroadcaster(DataBroadcaster&&) noexcept = default;
DataBroadcaster& DataBroadcaster::operator=(DataBroadcaster&&) noexcept = default;

zcp::Result<DataBroadcaster> DataBroadcaster::create(const BroadcastConfig& config,
                                                     const std::string& stream_name) {
  const std::string where = "DataBroadcaster(" + config.topic(stream_name) + ")";
  auto topic = zcp::Topic::parse(config.topic(stream_name));
  if (!topic) return zcp::Unexpected(detail::with_context(std::move(topic).error(), where));
  auto rt = detail::acquire_runtime();
  if (!rt) return zcp::Unexpected(detail::with_context(std::move(rt).error(), where));

  zcp::PublisherOptions options;
  options.history_depth = config.history_size;
  options.max_loans = config.max_loans;
  options.max_payload = static_cast<std::uint32_t>(kBlockSize);
  options.loan_wait = config.loan_wait;
  options.publish_timeout = std::chrono::nanoseconds(0);  // publish_filled() waits itself, to count
  auto pub = zcp::Publisher<>::create(**rt, *topic, options);
  if (!pub) return zcp::Unexpected(detail::with_context(std::move(pub).error(), where));
  if (pub->max_payload() < kBlockSize) {
    return zcp::Unexpected(
        zcp::Error{zcp::Errc::kTooLarge, 0,
                   where + ": the daemon granted chunks of " + std::to_string(pub->max_payload()) +
                       " bytes; a ZeroCopyMarketBlock needs " + std::to_string(kBlockSize) +
                       " (diroute's pool has no class that large)"});
  }
  auto state = std::unique_ptr<State>(new State{*rt, std::move(*pub), config, stream_name, {}, {}});
  return DataBroadcaster(std::move(state));
}

DataBroadcaster::DataBroadcaster(const BroadcastConfig& config, const std::string& stream_name) {
  auto made = create(config, stream_name);
  if (!made) throw BroadcastSetupError(std::move(made).error());
  s_ = std::move(made->s_);
}

void DataBroadcaster::fail(zcp::Error e) noexcept {
  s_->last_error = std::move(e);
}

zcp::Result<BlockLoan> DataBroadcaster::loan_block() noexcept {
  if (!s_)
    return zcp::Unexpected(
        zcp::Error{zcp::Errc::kInvalidArgument, 0, "moved-from DataBroadcaster"});
  auto loan = s_->publisher.loan(kBlockSize);
  if (!loan) {
    s_->counters.failed_loans.add();
    fail(loan.error());
    return zcp::Unexpected(std::move(loan).error());
  }
  // Default-initialisation (no parentheses): the header gets its zero initialisers, the 8 KiB
  // data area is left as it is, to be overwritten by the filler.
  auto* block = ::new (static_cast<void*>(loan->data().data())) ZeroCopyMarketBlock;
  return BlockLoan(std::move(*loan), block);
}

bool DataBroadcaster::publish_filled(BlockLoan& loan) noexcept {
  State& s = *s_;
  ZeroCopyMarketBlock* block = loan.block_;
  block->sequence_number = s.publisher.published() + 1;  // zerocp numbers the same way
  block->timestamp_ns = detail::monotonic_ns();
  // Read before publishing: afterwards the block belongs to the subscribers.
  const std::uint64_t records = block->record_count;
  const std::uint64_t bytes = block->data_size;

  auto r = s.publisher.publish(std::move(loan.loan_), std::chrono::nanoseconds(0));
  if (!r && r.error().code == zcp::Errc::kWouldBlock) {
    // The publish ring is full: the router is behind, or a kBlockPublisher subscriber is.
    s.counters.blocked.add();
    if (s.config.publish_timeout.count() > 0) {
      r = s.publisher.publish(std::move(loan.loan_), s.config.publish_timeout);
    }
  }
  if (!r) {
    s.counters.failed_publishes.add();
    fail(r.error());
    return false;  // the loan is still the caller's
  }
  loan.block_ = nullptr;
  s.counters.blocks.add();
  s.counters.records.add(records);
  s.counters.bytes.add(bytes);
  return true;
}

zcp::Result<void> DataBroadcaster::publish_block(BlockLoan&& loan) noexcept {
  if (!s_)
    return zcp::Unexpected(
        zcp::Error{zcp::Errc::kInvalidArgument, 0, "moved-from DataBroadcaster"});
  if (!loan.valid() || !loan.block_->well_formed()) {
    s_->counters.rejected.add();
    fail(zcp::Error{zcp::Errc::kInvalidArgument, 0,
                    !loan.valid()
                        ? "publish_block of an empty loan (already published or dropped)"
                        : "publish_block: data_size " + std::to_string(loan.block_->data_size) +
                              " exceeds DATA_SIZE " + std::to_string(kDataSize)});
    return zcp::Unexpected(s_->last_error);
  }
  if (!publish_filled(loan)) return zcp::Unexpected(s_->last_error);
  return {};
}

bool DataBroadcaster::broadcast(const std::uint8_t* data, std::size_t data_size,
                                std::size_t record_count, MarketDataType type) {
  if (!s_) return false;
  if (data_size > kDataSize || (data == nullptr && data_size != 0)) {
    s_->counters.rejected.add();
    fail(zcp::Error{zcp::Errc::kInvalidArgument, 0,
                    data == nullptr ? "broadcast: data is null"
                                    : "broadcast: " + std::to_string(data_size) +
                                          " bytes exceed one block's DATA_SIZE of " +
                                          std::to_string(kDataSize) + "; use broadcast_batch()"});
    return false;
  }
  auto loan = loan_block();
  if (!loan) return false;
  ZeroCopyMarketBlock* block = loan->get();
  if (data_size != 0)
    std::memcpy(block->data, data, data_size);  // the one copy: into shared memory
  block->data_size = static_cast<std::uint32_t>(data_size);
  block->record_count = record_count;
  block->data_type = type;
  block->flags = ZeroCopyMarketBlock::kFlagBatchFirst | ZeroCopyMarketBlock::kFlagBatchLast;
  return publish_filled(*loan);  // on failure the loan is dropped here and its chunk goes back
}

std::size_t DataBroadcaster::broadcast_batch(const std::uint8_t* data, std::size_t data_size,
                                             std::size_t record_count, MarketDataType type) {
  if (!s_) return 0;
  const std::size_t record_size = record_count == 0 ? 0 : data_size / record_count;
  if (record_count == 0 || data == nullptr || data_size % record_count != 0 || record_size == 0 ||
      record_size > kDataSize) {
    s_->counters.rejected.add();
    fail(zcp::Error{zcp::Errc::kInvalidArgument, 0,
                    "broadcast_batch: " + std::to_string(data_size) + " bytes in " +
                        std::to_string(record_count) +
                        " records is not a whole number of non-empty records of at most " +
                        std::to_string(kDataSize) + " bytes each"});
    return 0;
  }
  const std::size_t per_block = kDataSize / record_size;
  const std::size_t blocks = (record_count + per_block - 1) / per_block;
  std::size_t sent = 0;
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::size_t first = i * per_block;
    const std::size_t n = std::min(per_block, record_count - first);
    auto loan = loan_block();
    if (!loan) break;
    ZeroCopyMarketBlock* block = loan->get();
    std::memcpy(block->data, data + first * record_size, n * record_size);
    block->data_size = static_cast<std::uint32_t>(n * record_size);
    block->record_count = n;
    block->data_type = type;
    block->flags =
        static_cast<std::uint8_t>((i == 0 ? ZeroCopyMarketBlock::kFlagBatchFirst : 0) |
                                  (i + 1 == blocks ? ZeroCopyMarketBlock::kFlagBatchLast : 0));
    if (!publish_filled(*loan)) break;
    ++sent;
  }
  return sent;
}

BroadcastStats DataBroadcaster::get_stats() const noexcept {
  BroadcastStats out;
  if (!s_) return out;
  const auto& c = s_->counters;
  out.blocks_sent = c.blocks.get();
  out.records_sent = c.records.get();
  out.bytes_sent = c.bytes.get();
  out.failed_loans = c.failed_loans.get();
  out.blocked_publishes = c.blocked.get();
  out.failed_publishes = c.failed_publishes.get();
  out.rejected_calls = c.rejected.get();
  // A relaxed atomic load of the count the router keeps in the publish ring's header
  // (src/client/publisher.cpp), so safe from a monitoring thread.
  out.subscriber_count = s_->publisher.subscriber_count();
  return out;
}

bool DataBroadcaster::has_subscribers() const noexcept {
  return s_ && s_->publisher.has_subscribers();
}

const zcp::Error& DataBroadcaster::last_error() const noexcept {
  static const zcp::Error kMovedFrom{zcp::Errc::kInvalidArgument, 0, "moved-from DataBroadcaster"};
  return s_ ? s_->last_error : kMovedFrom;
}
const BroadcastConfig& DataBroadcaster::config() const noexcept {
  return s_->config;
}
const std::string& DataBroadcaster::stream_name() const noexcept {
  return s_->stream_name;
}
zcp::Publisher<>& DataBroadcaster::publisher() noexcept {
  return s_->publisher;
}

}  // namespace zcp::ipc
