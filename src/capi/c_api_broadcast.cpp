// The C ABI of the market-data broadcast API (zcp::ipc, seed 004): include/zcp/zcp.h.
#include <cstddef>
#include <new>
#include <string>
#include <utility>

#include <zcp/ipc/broadcast_hub.hpp>
#include <zcp/zcp.h>

#include "capi/c_error.hpp"
#include "capi/handle_table.hpp"

namespace ipc = zcp::ipc;
using zcp::capi::fail;
using zcp::capi::fail_null;

// zcp_market_block is ZeroCopyMarketBlock, byte for byte: the C side reads the chunk in place.
static_assert(sizeof(zcp_market_block) == sizeof(ipc::ZeroCopyMarketBlock));
static_assert(ZCP_BLOCK_SIZE == ipc::ZeroCopyMarketBlock::BLOCK_SIZE);
static_assert(ZCP_BLOCK_HEADER_SIZE == ipc::ZeroCopyMarketBlock::HEADER_SIZE);
static_assert(ZCP_BLOCK_DATA_SIZE == ipc::ZeroCopyMarketBlock::DATA_SIZE);
static_assert(ZCP_BLOCK_FLAG_BATCH_FIRST == ipc::ZeroCopyMarketBlock::kFlagBatchFirst);
static_assert(ZCP_BLOCK_FLAG_BATCH_LAST == ipc::ZeroCopyMarketBlock::kFlagBatchLast);
static_assert(offsetof(zcp_market_block, sequence_number) ==
              offsetof(ipc::ZeroCopyMarketBlock, sequence_number));
static_assert(offsetof(zcp_market_block, timestamp_ns) ==
              offsetof(ipc::ZeroCopyMarketBlock, timestamp_ns));
static_assert(offsetof(zcp_market_block, record_count) ==
              offsetof(ipc::ZeroCopyMarketBlock, record_count));
static_assert(offsetof(zcp_market_block, data_type) ==
              offsetof(ipc::ZeroCopyMarketBlock, data_type));
static_assert(offsetof(zcp_market_block, flags) == offsetof(ipc::ZeroCopyMarketBlock, flags));
static_assert(offsetof(zcp_market_block, data_size) ==
              offsetof(ipc::ZeroCopyMarketBlock, data_size));
static_assert(offsetof(zcp_market_block, data) == offsetof(ipc::ZeroCopyMarketBlock, data));
static_assert(ZCP_MD_TICK == static_cast<int>(ipc::MarketDataType::Tick));
static_assert(ZCP_MD_SNAPSHOT == static_cast<int>(ipc::MarketDataType::Snapshot));
static_assert(ZCP_MD_CUSTOM == static_cast<int>(ipc::MarketDataType::Custom));

struct zcp_broadcaster {
  explicit zcp_broadcaster(ipc::DataBroadcaster&& b) noexcept : out(std::move(b)) {}
  ipc::DataBroadcaster out;
  zcp::capi::HandleTable<ipc::BlockLoan> loans;  // destroyed first: loans go back
};

struct zcp_data_subscriber {
  explicit zcp_data_subscriber(ipc::DataSubscriber&& s) noexcept : in(std::move(s)) {}
  ipc::DataSubscriber in;
  zcp::capi::HandleTable<ipc::BlockHandle> blocks;
};

namespace {

// The C config as a BroadcastConfig: fields the caller's struct_size covers override the
// defaults. Throws std::bad_alloc (strings).
zcp::Result<ipc::BroadcastConfig> from_c(const zcp_broadcast_config* c, const char* function) {
  ipc::BroadcastConfig config;
  if (c == nullptr) return config;
  auto invalid = [&](const char* what) {
    return zcp::Unexpected(
        zcp::Error{zcp::Errc::kInvalidArgument, 0, std::string(function) + ": " + what});
  };
  if (c->struct_size == 0) {
    return invalid("config.struct_size is 0 (fill it with zcp_broadcast_config_preset first)");
  }
  if (ZCP_HAS_FIELD(c, service_name) && c->service_name != nullptr) {
    config.service_name = c->service_name;
  }
  if (ZCP_HAS_FIELD(c, instance_name) && c->instance_name != nullptr) {
    config.instance_name = c->instance_name;
  }
  if (ZCP_HAS_FIELD(c, queue_capacity)) config.queue_capacity = c->queue_capacity;
  if (ZCP_HAS_FIELD(c, queue_policy)) {
    auto policy = zcp::queue_policy_from_value(
        static_cast<std::uint32_t>(zcp::capi::enum_value(c->queue_policy)));
    if (!policy) return invalid("config.queue_policy is not a zcp_queue_policy");
    config.queue_policy = *policy;
  }
  if (ZCP_HAS_FIELD(c, max_held)) config.max_held = c->max_held;
  if (ZCP_HAS_FIELD(c, wait_spin_ns)) config.wait_spin = zcp::capi::to_ns(c->wait_spin_ns);
  if (ZCP_HAS_FIELD(c, history_size)) config.history_size = c->history_size;
  if (ZCP_HAS_FIELD(c, max_loans)) config.max_loans = c->max_loans;
  if (ZCP_HAS_FIELD(c, loan_wait_ns)) config.loan_wait = zcp::capi::to_ns(c->loan_wait_ns);
  if (ZCP_HAS_FIELD(c, publish_timeout_ns)) {
    config.publish_timeout = zcp::capi::to_ns(c->publish_timeout_ns);
  }
  return config;
}

const char* kLoanNotHeld =
    "the block loan is not held by this broadcaster (published or dropped already)";

}  // namespace

extern "C" {

zcp_status zcp_broadcast_config_preset(zcp_broadcast_preset preset, zcp_broadcast_config* c) {
  if (c == nullptr) return fail_null("zcp_broadcast_config_preset", "config");
  ipc::BroadcastConfig config;
  switch (preset) {
    case ZCP_PRESET_DEFAULT:
      break;
    case ZCP_PRESET_HIGH_PERFORMANCE:
      config = ipc::BroadcastConfig::high_performance();
      break;
    case ZCP_PRESET_LOW_LATENCY:
      config = ipc::BroadcastConfig::low_latency();
      break;
    case ZCP_PRESET_MASSIVE_SCALE:
      config = ipc::BroadcastConfig::massive_scale();
      break;
    default:
      return fail(ZCP_ERR_INVALID_ARGUMENT,
                  "zcp_broadcast_config_preset: not a zcp_broadcast_preset");
  }
  *c = zcp_broadcast_config{};
  c->struct_size = sizeof(*c);
  // The presets keep the default topic parts; static strings, so *c owns nothing.
  c->service_name = "md";
  c->instance_name = "broadcast";
  c->queue_capacity = config.queue_capacity;
  c->queue_policy = static_cast<zcp_queue_policy>(config.queue_policy);
  c->max_held = config.max_held;
  c->wait_spin_ns = config.wait_spin.count();
  c->history_size = config.history_size;
  c->max_loans = config.max_loans;
  c->loan_wait_ns = config.loan_wait.count();
  c->publish_timeout_ns = config.publish_timeout.count();
  return ZCP_OK;
}

zcp_status zcp_broadcast_initialize_runtime(const char* app_name) {
  try {
    if (ipc::DataBroadcaster::initialize_runtime(app_name != nullptr ? app_name : "")) {
      return ZCP_OK;
    }
    return fail(ipc::DataBroadcaster::last_runtime_error());
  } catch (const std::bad_alloc&) {
    return fail(ZCP_ERR_NO_MEMORY, "zcp_broadcast_initialize_runtime: out of memory");
  }
}

void zcp_broadcast_shutdown_runtime(void) {
  ipc::DataBroadcaster::shutdown_runtime();
}

zcp_status zcp_broadcaster_create(const zcp_broadcast_config* c, const char* stream,
                                  zcp_broadcaster** out) {
  if (out == nullptr) return fail_null("zcp_broadcaster_create", "out");
  *out = nullptr;
  if (stream == nullptr) return fail_null("zcp_broadcaster_create", "stream_name");
  try {
    auto config = from_c(c, "zcp_broadcaster_create");
    if (!config) return fail(config.error());
    auto b = ipc::DataBroadcaster::create(*config, stream);
    if (!b) return fail(b.error());
    *out = new zcp_broadcaster(std::move(*b));
    return ZCP_OK;
  } catch (const std::bad_alloc&) {
    return fail(ZCP_ERR_NO_MEMORY, "zcp_broadcaster_create: out of memory");
  }
}

void zcp_broadcaster_destroy(zcp_broadcaster* b) {
  delete b;
}

zcp_status zcp_broadcaster_broadcast(zcp_broadcaster* b, const void* data, size_t size,
                                     uint64_t records, zcp_market_data_type type) {
  if (b == nullptr) return fail_null("zcp_broadcaster_broadcast", "broadcaster");
  if (data == nullptr && size != 0) return fail_null("zcp_broadcaster_broadcast", "data");
  if (b->out.broadcast(static_cast<const std::uint8_t*>(data), size, records,
                       static_cast<ipc::MarketDataType>(type))) {
    return ZCP_OK;
  }
  return fail(b->out.last_error());
}

zcp_status zcp_broadcaster_broadcast_batch(zcp_broadcaster* b, const void* data, size_t size,
                                           uint64_t records, zcp_market_data_type type,
                                           size_t* blocks_sent) {
  if (blocks_sent != nullptr) *blocks_sent = 0;
  if (b == nullptr) return fail_null("zcp_broadcaster_broadcast_batch", "broadcaster");
  if (data == nullptr && size != 0) return fail_null("zcp_broadcaster_broadcast_batch", "data");
  const auto before = b->out.get_stats();
  const std::size_t sent = b->out.broadcast_batch(static_cast<const std::uint8_t*>(data), size,
                                                  records, static_cast<ipc::MarketDataType>(type));
  if (blocks_sent != nullptr) *blocks_sent = sent;
  const auto after = b->out.get_stats();
  // A call that failed part-way (or at once) counted it: a rejected call, a failed loan or a
  // failed publish. Nothing counted means every block went out.
  const bool failed = after.rejected_calls != before.rejected_calls ||
                      after.failed_loans != before.failed_loans ||
                      after.failed_publishes != before.failed_publishes;
  return failed ? fail(b->out.last_error()) : ZCP_OK;
}

zcp_status zcp_broadcaster_loan_block(zcp_broadcaster* b, zcp_block_loan* out) {
  if (out == nullptr) return fail_null("zcp_broadcaster_loan_block", "out");
  *out = zcp_block_loan{};
  if (b == nullptr) return fail_null("zcp_broadcaster_loan_block", "broadcaster");
  auto loan = b->out.loan_block();
  if (!loan) return fail(loan.error());
  auto* block = reinterpret_cast<zcp_market_block*>(loan->get());
  const std::uint64_t handle = b->loans.put(std::move(*loan));
  if (handle == 0) return fail(ZCP_ERR_NO_MEMORY, "zcp_broadcaster_loan_block: out of memory");
  *out = zcp_block_loan{block, handle};
  return ZCP_OK;
}

zcp_status zcp_broadcaster_publish_block(zcp_broadcaster* b, zcp_block_loan* loan) {
  if (b == nullptr) return fail_null("zcp_broadcaster_publish_block", "broadcaster");
  if (loan == nullptr) return fail_null("zcp_broadcaster_publish_block", "loan");
  ipc::BlockLoan* held = b->loans.find(loan->handle);
  if (held == nullptr) return fail(ZCP_ERR_INVALID_HANDLE, kLoanNotHeld);
  if (auto r = b->out.publish_block(std::move(*held)); !r) return fail(r.error());
  (void)b->loans.take(loan->handle);
  *loan = zcp_block_loan{};
  return ZCP_OK;
}

zcp_status zcp_broadcaster_drop_block(zcp_broadcaster* b, zcp_block_loan* loan) {
  if (b == nullptr) return fail_null("zcp_broadcaster_drop_block", "broadcaster");
  if (loan == nullptr) return fail_null("zcp_broadcaster_drop_block", "loan");
  if (!b->loans.take(loan->handle)) return fail(ZCP_ERR_INVALID_HANDLE, kLoanNotHeld);
  *loan = zcp_block_loan{};
  return ZCP_OK;
}

zcp_status zcp_broadcaster_stats(const zcp_broadcaster* b, zcp_broadcast_stats* out) {
  if (b == nullptr) return fail_null("zcp_broadcaster_stats", "broadcaster");
  if (out == nullptr) return fail_null("zcp_broadcaster_stats", "out");
  const auto s = b->out.get_stats();
  *out = zcp_broadcast_stats{s.blocks_sent,    s.records_sent,      s.bytes_sent,
                             s.failed_loans,   s.blocked_publishes, s.failed_publishes,
                             s.rejected_calls, s.subscriber_count};
  return ZCP_OK;
}

zcp_status zcp_data_subscriber_create(const zcp_broadcast_config* c, const char* stream,
                                      zcp_data_subscriber** out) {
  if (out == nullptr) return fail_null("zcp_data_subscriber_create", "out");
  *out = nullptr;
  if (stream == nullptr) return fail_null("zcp_data_subscriber_create", "stream_name");
  try {
    auto config = from_c(c, "zcp_data_subscriber_create");
    if (!config) return fail(config.error());
    auto s = ipc::DataSubscriber::create(*config, stream);
    if (!s) return fail(s.error());
    *out = new zcp_data_subscriber(std::move(*s));
    return ZCP_OK;
  } catch (const std::bad_alloc&) {
    return fail(ZCP_ERR_NO_MEMORY, "zcp_data_subscriber_create: out of memory");
  }
}

void zcp_data_subscriber_destroy(zcp_data_subscriber* s) {
  delete s;
}

zcp_status zcp_data_subscriber_receive_block(zcp_data_subscriber* s, zcp_block* out) {
  if (out == nullptr) return fail_null("zcp_data_subscriber_receive_block", "out");
  *out = zcp_block{};
  if (s == nullptr) return fail_null("zcp_data_subscriber_receive_block", "subscriber");
  auto handle = s->in.receive_block();
  if (!handle) return ZCP_EMPTY;
  zcp_block view{reinterpret_cast<const zcp_market_block*>(handle->get()), handle->sequence(),
                 handle->publisher_id(), 0};
  view.handle = s->blocks.put(std::move(*handle));
  if (view.handle == 0) {
    return fail(ZCP_ERR_NO_MEMORY, "zcp_data_subscriber_receive_block: out of memory");
  }
  *out = view;
  return ZCP_OK;
}

zcp_status zcp_data_subscriber_release(zcp_data_subscriber* s, zcp_block* block) {
  if (s == nullptr) return fail_null("zcp_data_subscriber_release", "subscriber");
  if (block == nullptr) return fail_null("zcp_data_subscriber_release", "block");
  if (!s->blocks.take(block->handle)) {
    return fail(ZCP_ERR_INVALID_HANDLE,
                "zcp_data_subscriber_release: the block is not held by this subscriber "
                "(released already)");
  }
  *block = zcp_block{};
  return ZCP_OK;
}

zcp_status zcp_data_subscriber_wait(zcp_data_subscriber* s, int64_t timeout_ns) {
  if (s == nullptr) return fail_null("zcp_data_subscriber_wait", "subscriber");
  return s->in.wait(zcp::capi::to_ns(timeout_ns)) ? ZCP_OK : ZCP_EMPTY;
}

int zcp_data_subscriber_fd(const zcp_data_subscriber* s) {
  return s != nullptr ? s->in.native_handle() : -1;
}

zcp_status zcp_data_subscriber_stats(const zcp_data_subscriber* s, zcp_receive_stats* out) {
  if (s == nullptr) return fail_null("zcp_data_subscriber_stats", "subscriber");
  if (out == nullptr) return fail_null("zcp_data_subscriber_stats", "out");
  const auto r = s->in.get_receive_stats();
  *out = zcp_receive_stats{r.blocks_received,  r.records_received, r.bytes_received,
                           r.sequence_gaps,    r.gap_events,       r.queue_drops,
                           r.malformed_blocks, r.held_limit_hits};
  return ZCP_OK;
}

}  // extern "C"
