// floor-perf: the hardware's one-way floor for any shared-memory transport, measured with
// zcp-perf's latency scenario. Each direction is one cache line in shared memory: the sender
// copies the stamp into it and bumps a counter on the same line (one release store), the
// receiver spins on that counter (acquire loads). A hop is then one cache-line transfer
// between the two CPUs, and nothing else: no queue, no reference counting, no wake-up. No
// transport that moves a message through shared memory can beat it; `make bench-compare`
// reports zerocp's poll latency against it.
//
// Latency only, poll mode only: a throughput run or a sleeping receiver is not a floor.
#include <atomic>
#include <cstring>
#include <memory>
#include <new>

#include "peer_bench.hpp"

namespace zcp::peers {
namespace {

// One direction: the counter and as much of the message as fits on its line (the scenario's
// stamp is 16 bytes; a larger payload is cut to the line, which is the point of a floor).
struct alignas(64) Line {
  std::atomic<std::uint64_t> count{0};
  std::byte payload[56];
};
static_assert(sizeof(Line) == 64, "one direction is exactly one cache line");

struct Lines {
  Line ping;  // ping -> pong
  Line pong;  // pong -> ping
};

class LineSender final : public Sender {
 public:
  LineSender(Line& line, std::uint32_t payload)
      : line_(line), size_(std::min<std::size_t>(payload, sizeof(line.payload))) {}
  std::byte* try_loan() override { return staging_; }
  Status<void> publish(std::byte* buffer) override {
    std::memcpy(line_.payload, buffer, size_);
    // release: the payload bytes above are visible to the receiver's acquire of the count.
    line_.count.store(++sent_, std::memory_order_release);
    return {};
  }

 private:
  Line& line_;
  std::size_t size_;
  std::uint64_t sent_ = 0;
  std::byte staging_[64] = {};
};

class LineReceiver final : public Receiver {
 public:
  LineReceiver(Line& line, std::uint32_t payload)
      : line_(line), size_(std::min<std::size_t>(payload, sizeof(line.payload))) {}
  Message take() override {
    // acquire: pairs with the sender's release store; the payload on the line is complete.
    if (line_.count.load(std::memory_order_acquire) == seen_) return {};
    ++seen_;
    return {line_.payload, size_};
  }
  void release(const Message&) override {}
  void wait(std::chrono::milliseconds) override {}  // poll mode only

 private:
  Line& line_;
  std::size_t size_;
  std::uint64_t seen_ = 0;
};

class FloorTransport final : public Transport {
 public:
  std::string name() const override { return "floor"; }
  std::string describe() const override {
    return "one shared cache line per direction (a release store, spinning acquire loads): the "
           "one-way floor";
  }
  Status<void> setup_latency(const LatencyOptions& o) override {
    if (o.mode != Mode::kPoll)
      return Failure("floor-perf measures poll mode only (a sleeping receiver is no floor)");
    auto s = perf::Shared<Lines>::create();
    if (!s) return Failure(s.error());
    lines_ = std::make_unique<perf::Shared<Lines>>(std::move(*s));
    return {};
  }
  Status<void> setup_throughput(const ThroughputOptions&, std::uint32_t) override {
    return Failure("floor-perf measures latency only");
  }
  void teardown() override { lines_.reset(); }
  Status<LatencyEnds> open_latency(bool ping, const LatencyOptions& o) override {
    Lines& l = **lines_;
    LatencyEnds ends;
    ends.tx = std::make_unique<LineSender>(ping ? l.ping : l.pong, o.payload);
    ends.rx = std::make_unique<LineReceiver>(ping ? l.pong : l.ping, o.payload);
    return ends;
  }
  Status<std::unique_ptr<Sender>> open_publisher(const ThroughputOptions&) override {
    return Failure("floor-perf measures latency only");
  }
  Status<std::unique_ptr<Receiver>> open_subscriber(std::uint32_t,
                                                    const ThroughputOptions&) override {
    return Failure("floor-perf measures latency only");
  }

 private:
  std::unique_ptr<perf::Shared<Lines>> lines_;
};

}  // namespace
}  // namespace zcp::peers

int main(int argc, char** argv) {
  zcp::peers::FloorTransport transport;
  return zcp::peers::peer_main(argc, argv, transport);
}
