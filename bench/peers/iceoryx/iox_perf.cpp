// iox-perf: zcp-perf's latency and throughput scenarios over iceoryx 2.0.3 (the Debian
// packages), for `make bench-compare`. Each run starts its own RouDi with a mempool sized
// for the run (roudi.hpp) and stops it. The API used is iceoryx's untyped one, the closest
// to zerocp's loan/publish/take: UntypedPublisher::loan/publish, UntypedSubscriber::take/
// release; wait mode sleeps in a WaitSet (attachState HAS_DATA), poll mode spins on take().
// Lossless: SubscriberTooSlowPolicy WAIT_FOR_CONSUMER + QueueFullPolicy BLOCK_PRODUCER.
// Lossy (--policy drop_oldest): DISCARD_OLDEST_DATA on both sides.
#include <algorithm>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/mepoo/chunk_header.hpp"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#include "peer_bench.hpp"
#include "roudi.hpp"

namespace zcp::peers {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kConnectTimeout = std::chrono::seconds(20);
constexpr std::uint32_t kMaxQueue = iox::MAX_SUBSCRIBER_QUEUE_CAPACITY;  // 256 in the Debian build

iox::capro::IdString_t id(const std::string& s) {
  return {iox::cxx::TruncateToCapacity, s.c_str(), s.size()};
}

void init_runtime(const std::string& role) {
  // iceoryx apps log their registration at debug level, on stdout, which --json owns.
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn,
                                                           iox::log::LogLevelOutput::kHideLogLevel);
  const std::string name = "ioxperf_" + role + "_" + std::to_string(::getpid());
  iox::runtime::PoshRuntime::initRuntime(
      iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.c_str(), name.size()));
}

// Waits (1 ms steps, setup only) until ready(); false at the deadline or on a stop request.
template <class Ready>
bool wait_for(Ready&& ready) {
  return perf::wait_until([&] { return ready(); }, Clock::now() + kConnectTimeout);
}

class IoxSender final : public Sender {
 public:
  IoxSender(const iox::capro::ServiceDescription& s, const iox::popo::PublisherOptions& o,
            std::uint32_t payload)
      : pub_(s, o), payload_(payload) {}
  std::byte* try_loan() override {
    auto r = pub_.loan(payload_);
    return r.has_error() ? nullptr : static_cast<std::byte*>(r.value());
  }
  Status<void> publish(std::byte* b) override {
    pub_.publish(b);  // WAIT_FOR_CONSUMER: iceoryx waits here while a subscriber queue is full
    return {};
  }
  iox::popo::UntypedPublisher& get() noexcept { return pub_; }

 private:
  iox::popo::UntypedPublisher pub_;
  std::uint32_t payload_;
};

class IoxReceiver final : public Receiver {
 public:
  IoxReceiver(const iox::capro::ServiceDescription& s, const iox::popo::SubscriberOptions& o,
              bool wait_mode)
      : sub_(s, o) {
    if (wait_mode) {
      ws_.emplace();
      ws_->attachState(sub_, iox::popo::SubscriberState::HAS_DATA).or_else([](auto) {
        std::fprintf(stderr, "iox-perf: attaching the subscriber to a WaitSet failed\n");
        std::_Exit(1);
      });
    }
  }
  Message take() override {
    auto r = sub_.take();
    if (r.has_error()) return {};
    const void* p = r.value();
    return {static_cast<const std::byte*>(p),
            iox::mepoo::ChunkHeader::fromUserPayload(p)->userPayloadSize()};
  }
  void release(const Message& m) override { sub_.release(m.data); }
  void wait(std::chrono::milliseconds timeout) override {
    if (ws_) {
      (void)ws_->timedWait(
          iox::units::Duration::fromMilliseconds(static_cast<unsigned long long>(timeout.count())));
    }
  }
  bool subscribed() const { return sub_.getSubscriptionState() == iox::SubscribeState::SUBSCRIBED; }

 private:
  iox::popo::UntypedSubscriber sub_;
  std::optional<iox::popo::WaitSet<>> ws_;  // after sub_: destroyed first, detaches itself
};

class IoxTransport final : public Transport {
 public:
  std::string name() const override { return "iceoryx"; }
  std::string describe() const override { return roudi_.describe(); }
  void add_options(CLI::App& cmd) override {
    cmd.add_option("--roudi", roudi_path_,
                   "The iox-roudi binary (default: $IOX_ROUDI, else /usr/bin/iox-roudi)");
    cmd.add_option("--roudi-log-level", roudi_log_, "RouDi's --log-level")->capture_default_str();
  }

  Status<void> setup_latency(const LatencyOptions& o) override {
    service_ = "lat" + std::to_string(::getpid());
    return start({chunk_size(o.payload), 1024});
  }
  Status<void> setup_throughput(const ThroughputOptions& o, std::uint32_t run) override {
    if (o.policy == Policy::kDropNewest) {
      return Failure(
          "iceoryx 2.0 cannot drop the newest message; use --policy drop_oldest for the lossy run");
    }
    if (o.queue_capacity == 0 || o.queue_capacity > kMaxQueue) {
      return Failure("--queue-capacity must be 1.." + std::to_string(kMaxQueue) + " for iceoryx");
    }
    service_ = "tp" + std::to_string(::getpid()) + "r" + std::to_string(run);
    // Every subscriber may hold a full queue of distinct chunks (drop_oldest), plus the
    // publisher's loans and the samples in hand.
    return start({chunk_size(o.payload), o.subscribers * o.queue_capacity + 512});
  }
  void teardown() override { roudi_.stop(); }
  int finish_child(int rc) override {
    std::fflush(stdout);
    std::fflush(stderr);
    std::exit(rc);  // runs the PoshRuntime's destructor: the app unregisters from RouDi
  }

  Status<LatencyEnds> open_latency(bool ping, const LatencyOptions& o) override {
    init_runtime(ping ? "ping" : "pong");
    iox::popo::PublisherOptions po;
    po.historyCapacity = 0;
    iox::popo::SubscriberOptions so;
    so.queueCapacity = kMaxQueue;
    so.historyRequest = 0;
    auto tx = std::make_unique<IoxSender>(service(ping ? "ping" : "pong"), po, o.payload);
    auto rx =
        std::make_unique<IoxReceiver>(service(ping ? "pong" : "ping"), so, o.mode == Mode::kWait);
    if (!wait_for([&] { return rx->subscribed() && tx->get().hasSubscribers(); })) {
      return Failure("the ping and pong ports did not connect within 20 s");
    }
    LatencyEnds ends;
    ends.tx = std::move(tx);
    ends.rx = std::move(rx);
    return ends;
  }
  Status<std::unique_ptr<Sender>> open_publisher(const ThroughputOptions& o) override {
    init_runtime("pub");
    iox::popo::PublisherOptions po;
    po.historyCapacity = 0;
    po.subscriberTooSlowPolicy = o.policy == Policy::kBlockPublisher
                                     ? iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER
                                     : iox::popo::ConsumerTooSlowPolicy::DISCARD_OLDEST_DATA;
    return std::unique_ptr<Sender>(std::make_unique<IoxSender>(service("data"), po, o.payload));
  }
  Status<std::unique_ptr<Receiver>> open_subscriber(std::uint32_t index,
                                                    const ThroughputOptions& o) override {
    init_runtime("sub" + std::to_string(index));
    iox::popo::SubscriberOptions so;
    so.queueCapacity = o.queue_capacity;
    so.historyRequest = 0;
    so.queueFullPolicy = o.policy == Policy::kBlockPublisher
                             ? iox::popo::QueueFullPolicy::BLOCK_PRODUCER
                             : iox::popo::QueueFullPolicy::DISCARD_OLDEST_DATA;
    auto rx = std::make_unique<IoxReceiver>(service("data"), so, o.mode == Mode::kWait);
    if (!wait_for([&] { return rx->subscribed(); })) {
      return Failure(
          "not subscribed within 20 s (do the publisher's and subscriber's policies match?)");
    }
    return std::unique_ptr<Receiver>(std::move(rx));
  }

 private:
  // The mempool's chunk size: the payload, rounded up to iceoryx's 32-byte chunk alignment,
  // with room for no user header (iceoryx adds its own chunk header to this size).
  static std::uint32_t chunk_size(std::uint32_t payload) {
    return std::max<std::uint32_t>(64, (payload + 31) / 32 * 32);
  }
  iox::capro::ServiceDescription service(const char* event) const {
    return {id("zcpperf"), id(service_), id(event)};
  }
  Status<void> start(const RoudiConfig& c) {
    if (!roudi_path_.empty()) roudi_.set_binary(roudi_path_);
    roudi_.set_log_level(roudi_log_);
    return roudi_.start(c);
  }

  Roudi roudi_;
  std::string roudi_path_;
  std::string roudi_log_ = "warning";
  std::string service_;
};

}  // namespace

}  // namespace zcp::peers

int main(int argc, char** argv) {
  zcp::peers::IoxTransport transport;
  return zcp::peers::peer_main(argc, argv, transport);
}
