// zcp::ipc: the market-data broadcast API of seed 004 (DataBroadcaster / DataSubscriber),
// built on libzcp. Code written against the seed ports by changing its include and its
// namespace; docs/broadcast.md lists every place where this API differs and why.
//
//   DataBroadcaster::initialize_runtime("md-feed");                 // once per process
//   DataBroadcaster out(BroadcastConfig::low_latency(), "ticks");   // topic md/broadcast/ticks
//   out.broadcast(reinterpret_cast<const uint8_t*>(&tick), sizeof(tick), 1, MarketDataType::Tick);
//
//   DataSubscriber in(BroadcastConfig::low_latency(), "ticks");
//   while (auto block = in.receive_block()) use((*block)->record_count, block->data());
//   in.wait(std::chrono::milliseconds(100));                         // sleeps on the eventfd
//
// One block = one zerocp message of ZeroCopyMarketBlock::BLOCK_SIZE bytes, written once in
// shared memory by the broadcaster and read in place by every subscriber.
//
// Errors: nothing here throws once constructed. The seed-style calls return bool or a
// count and leave the reason in last_error(); the zero-copy calls return zcp::Result. The
// constructors throw BroadcastSetupError (start-up only); create() is the non-throwing form.
//
// Threads: a DataBroadcaster (with its BlockLoans) and a DataSubscriber (with its
// BlockHandles) are used by one thread at a time, like the zerocp ports under them.
// get_stats() / get_receive_stats() may be called from any thread. initialize_runtime()
// is thread-safe.
//
// Lifetimes: the process's zcp::Runtime lives while any broadcaster or subscriber does, and
// until static destruction. BlockLoans and BlockHandles must be gone by then: do not keep
// them in static storage.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <zcp/ipc/broadcast_config.hpp>
#include <zcp/ipc/market_data_block.hpp>
#include <zcp/zcp.hpp>

namespace zcp::ipc {

class DataBroadcaster;
class DataSubscriber;

// Thrown by the DataBroadcaster / DataSubscriber constructors (never by anything else).
class BroadcastSetupError : public std::runtime_error {
 public:
  explicit BroadcastSetupError(zcp::Error e)
      : std::runtime_error(e.message), error_(std::move(e)) {}
  const zcp::Error& error() const noexcept { return error_; }

 private:
  zcp::Error error_;
};

// A block loaned from the broadcaster's pool, to be filled in place and published with
// DataBroadcaster::publish_block(std::move(loan)). Move-only. Publishing takes it by rvalue
// only, so `publish_block(loan)` followed by a write through `loan` does not compile; after
// the move the loan is empty (get() is nullptr). Dropping an unpublished loan gives the chunk
// back. The header fields sequence_number and timestamp_ns are stamped by publish_block();
// the filler sets record_count, data_type, data_size (and flags if it wants).
class [[nodiscard]] BlockLoan {
 public:
  BlockLoan() noexcept = default;
  BlockLoan(BlockLoan&& o) noexcept
      : loan_(std::move(o.loan_)), block_(std::exchange(o.block_, nullptr)) {}
  BlockLoan& operator=(BlockLoan&& o) noexcept {
    if (this != &o) {
      loan_ = std::move(o.loan_);
      block_ = std::exchange(o.block_, nullptr);
    }
    return *this;
  }
  BlockLoan(const BlockLoan&) = delete;
  BlockLoan& operator=(const BlockLoan&) = delete;
  ~BlockLoan() = default;

  // The block in shared memory. Lvalues only: a pointer into a temporary loan dangles.
  ZeroCopyMarketBlock* get() & noexcept { return block_; }
  ZeroCopyMarketBlock* operator->() & noexcept { return block_; }
  ZeroCopyMarketBlock& operator*() & noexcept { return *block_; }
  ZeroCopyMarketBlock* get() && = delete;
  ZeroCopyMarketBlock* operator->() && = delete;
  ZeroCopyMarketBlock& operator*() && = delete;
  // The whole data area (DATA_SIZE bytes) to write records into.
  std::span<std::uint8_t> data() & noexcept {
    return block_ != nullptr ? std::span<std::uint8_t>(block_->data) : std::span<std::uint8_t>();
  }
  std::span<std::uint8_t> data() && = delete;
  // Sets data_size, record_count and data_type in one go; false (nothing set) if data_size
  // exceeds DATA_SIZE or the loan is empty.
  bool set_payload(std::size_t data_size, std::uint64_t record_count,
                   MarketDataType type) & noexcept {
    if (block_ == nullptr || data_size > ZeroCopyMarketBlock::DATA_SIZE) return false;
    block_->data_size = static_cast<std::uint32_t>(data_size);
    block_->record_count = record_count;
    block_->data_type = type;
    return true;
  }

  bool valid() const noexcept { return block_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  // Gives the chunk back unpublished (the destructor does the same).
  void reset() noexcept {
    loan_.reset();
    block_ = nullptr;
  }

 private:
  friend class DataBroadcaster;
  BlockLoan(zcp::Loan<>&& loan, ZeroCopyMarketBlock* block) noexcept
      : loan_(std::move(loan)), block_(block) {}

  zcp::Loan<> loan_;
  ZeroCopyMarketBlock* block_ = nullptr;
};

// A received block, read in place. It holds the block's chunk until it is destroyed, so the
// block cannot be reused under the reader (the seed's `const ZeroCopyMarketBlock*` could).
// Reads like a pointer: `(*handle)->record_count`, `**handle`, `handle.get()`, and an lvalue
// handle converts to `const ZeroCopyMarketBlock*` so seed code that stored the pointer
// compiles; the pointer is valid while the handle lives. A subscriber may hold at most
// BroadcastConfig::max_held handles at once; keep them briefly.
class [[nodiscard]] BlockHandle {
 public:
  BlockHandle() noexcept = default;
  BlockHandle(BlockHandle&& o) noexcept
      : sample_(std::move(o.sample_)), block_(std::exchange(o.block_, nullptr)) {}
  BlockHandle& operator=(BlockHandle&& o) noexcept {
    if (this != &o) {
      sample_ = std::move(o.sample_);
      block_ = std::exchange(o.block_, nullptr);
    }
    return *this;
  }
  BlockHandle(const BlockHandle&) = delete;
  BlockHandle& operator=(const BlockHandle&) = delete;
  ~BlockHandle() = default;

  // Lvalues only: a pointer taken from a temporary handle would dangle at once.
  const ZeroCopyMarketBlock* get() const& noexcept { return block_; }
  const ZeroCopyMarketBlock* operator->() const& noexcept { return block_; }
  const ZeroCopyMarketBlock& operator*() const& noexcept { return *block_; }
  operator const ZeroCopyMarketBlock*() const& noexcept { return block_; }  // NOLINT: seed porting
  const ZeroCopyMarketBlock* get() const&& = delete;
  const ZeroCopyMarketBlock* operator->() const&& = delete;
  const ZeroCopyMarketBlock& operator*() const&& = delete;
  operator const ZeroCopyMarketBlock*() const&& = delete;
  // The bytes in use (block->payload()).
  std::span<const std::uint8_t> data() const& noexcept {
    return block_ != nullptr ? block_->payload() : std::span<const std::uint8_t>();
  }
  std::span<const std::uint8_t> data() const&& = delete;

  // The zerocp message header (trusted: written by the router, not by the broadcaster).
  std::uint64_t sequence() const noexcept { return sample_.sequence(); }
  std::uint32_t publisher_id() const noexcept { return sample_.publisher_id(); }
  bool valid() const noexcept { return block_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  // Releases the chunk now (the destructor does the same).
  void reset() noexcept {
    sample_.reset();
    block_ = nullptr;
  }

 private:
  friend class DataSubscriber;
  BlockHandle(zcp::Sample<>&& sample, const ZeroCopyMarketBlock* block) noexcept
      : sample_(std::move(sample)), block_(block) {}

  zcp::Sample<> sample_;
  const ZeroCopyMarketBlock* block_ = nullptr;
};

class DataBroadcaster {
 public:
  // Connects this process to the diroute of $ZCP_INSTANCE (else "default"). Idempotent and
  // thread-safe: the first successful call connects, later calls return true at once (the
  // first name wins). If the name is taken by another live process, "<app_name>-<pid>" is
  // used instead. If the daemon went away since, the next call connects anew. False on
  // failure; last_runtime_error() says why. Constructors call it with "" ("<program>-<pid>")
  // if nobody did.
  static bool initialize_runtime(const std::string& app_name);
  // The process's runtime (nullptr before a successful initialize_runtime()).
  static std::shared_ptr<zcp::Runtime> runtime();
  // Why the last initialize_runtime() failed.
  static zcp::Error last_runtime_error();
  // Drops the process's own reference to the runtime: it unregisters from the daemon as soon
  // as the last broadcaster and subscriber are gone, instead of at exit. The next
  // initialize_runtime() (or constructor) connects anew.
  static void shutdown_runtime();

  // The non-throwing constructor.
  static zcp::Result<DataBroadcaster> create(const BroadcastConfig& config,
                                             const std::string& stream_name);
  // Seed signature. Throws BroadcastSetupError if the runtime or the publisher cannot be set up.
  DataBroadcaster(const BroadcastConfig& config, const std::string& stream_name);
  ~DataBroadcaster();
  DataBroadcaster(DataBroadcaster&&) noexcept;
  DataBroadcaster& operator=(DataBroadcaster&&) noexcept;
  DataBroadcaster(const DataBroadcaster&) = delete;
  DataBroadcaster& operator=(const DataBroadcaster&) = delete;

  // One block: data_size bytes (≤ DATA_SIZE) holding record_count records, copied once into a
  // loaned block and published. False on failure (stats and last_error() say why).
  bool broadcast(const std::uint8_t* data, std::size_t data_size, std::size_t record_count,
                 MarketDataType type);
  // record_count records of data_size / record_count bytes each, split across as many blocks
  // as needed (floor(DATA_SIZE / record size) records per block; a record never spans two
  // blocks). Returns the number of blocks sent; it stops at the first failure, so
  // records sent = blocks × records per block, capped at record_count. The first block
  // carries kFlagBatchFirst, the last kFlagBatchLast. 0 if data_size is not a multiple of
  // record_count or a record exceeds DATA_SIZE.
  std::size_t broadcast_batch(const std::uint8_t* data, std::size_t data_size,
                              std::size_t record_count, MarketDataType type);

  // Zero copy: loan a block, fill it in place, publish it.
  //   auto loan = out.loan_block();
  //   if (loan) { write((*loan)->data); loan->set_payload(n, k, MarketDataType::Tick);
  //               out.publish_block(std::move(*loan)); }
  // loan_block(): kPoolExhausted (after loan_wait), kTooManyLoans, kDisconnected.
  zcp::Result<BlockLoan> loan_block() noexcept;
  // Stamps sequence_number and timestamp_ns and publishes. On failure the loan stays with
  // the caller (retry or drop it). kWouldBlock (after publish_timeout), kInvalidArgument
  // (empty loan, data_size > DATA_SIZE), kDisconnected.
  zcp::Result<void> publish_block(BlockLoan&& loan) noexcept;
  // Use publish_block(std::move(loan)): the block belongs to the subscribers once published,
  // and writing it afterwards is the seed's use-after-publish crash.
  zcp::Result<void> publish_block(BlockLoan& loan) = delete;

  BroadcastStats get_stats() const noexcept;
  bool has_subscribers() const noexcept;
  // The error of the last failed call (code kInvalidArgument, kPoolExhausted, ...).
  const zcp::Error& last_error() const noexcept;
  const BroadcastConfig& config() const noexcept;
  const std::string& stream_name() const noexcept;
  // The zerocp publisher underneath (flush(), published(), ...).
  zcp::Publisher<>& publisher() noexcept;

 private:
  struct State;
  explicit DataBroadcaster(std::unique_ptr<State> state) noexcept;
  void fail(zcp::Error e) noexcept;
  bool publish_filled(BlockLoan& loan) noexcept;

  std::unique_ptr<State> s_;
};

class DataSubscriber {
 public:
  // Same as DataBroadcaster::initialize_runtime (one runtime per process, shared).
  static bool initialize_runtime(const std::string& app_name) {
    return DataBroadcaster::initialize_runtime(app_name);
  }

  static zcp::Result<DataSubscriber> create(const BroadcastConfig& config,
                                            const std::string& stream_name);
  // Seed signature. Throws BroadcastSetupError if the runtime or the subscriber cannot be set up.
  DataSubscriber(const BroadcastConfig& config, const std::string& stream_name);
  ~DataSubscriber();
  DataSubscriber(DataSubscriber&&) noexcept;
  DataSubscriber& operator=(DataSubscriber&&) noexcept;
  DataSubscriber(const DataSubscriber&) = delete;
  DataSubscriber& operator=(const DataSubscriber&) = delete;

  // The next block's data bytes, copied out (the chunk is released at once). nullopt when
  // nothing is queued. Allocates the vector: receive_block() is the zero-copy form.
  std::optional<std::vector<std::uint8_t>> receive();
  // The next block, in place. nullopt when nothing is queued or when max_held handles are
  // alive (ReceiveStats::held_limit_hits counts that).
  std::optional<BlockHandle> receive_block() noexcept;
  bool has_data() const noexcept;
  ReceiveStats get_receive_stats() const noexcept;

  // Waits until a block is queued or `timeout` passes: polls for config.wait_spin, then
  // sleeps on the eventfd. True if a block is queued. A signal, a spurious wake-up or a lost
  // daemon returns false early.
  bool wait(std::chrono::nanoseconds timeout) noexcept;
  // The eventfd, for the application's own epoll / io_uring / Asio loop:
  //   if (sub.prepare_wait()) { epoll_wait(... sub.native_handle() ...); sub.finish_wait(); }
  //   while (auto b = sub.receive_block()) ...
  // prepare_wait() announces the sleep and re-checks (false: data is there, do not sleep).
  int native_handle() const noexcept;
  bool prepare_wait() noexcept;
  void finish_wait() noexcept;

  const BroadcastConfig& config() const noexcept;
  const std::string& stream_name() const noexcept;
  // The zerocp subscriber underneath.
  zcp::Subscriber<>& subscriber() noexcept;

 private:
  struct State;
  explicit DataSubscriber(std::unique_ptr<State> state) noexcept;
  // Takes the next well-formed block (skipping and counting malformed ones) and accounts
  // for it: counts, sequence gaps.
  std::optional<BlockHandle> take() noexcept;

  std::unique_ptr<State> s_;
};

}  // namespace zcp::ipc
