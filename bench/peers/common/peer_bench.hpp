// The peer benchmarks (bench/peers/): zcp-perf's latency and throughput scenarios, run over
// another transport (iceoryx, Unix domain sockets) so that `make bench-compare` can put them
// side by side with zerocp. The scenario loops, the process plumbing, the histogram and the
// JSON fields are zcp-perf's (tools/common: system.hpp and histogram.hpp are included, not
// copied); a transport supplies only how one process sends and receives.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"  // tools/common
#include "system.hpp"     // tools/zcp-perf: Status, Shared, spawn_child, wait_children...

namespace CLI {
class App;
}

namespace zcp::peers {

using perf::Failure;
using perf::Histogram;
using perf::Status;
using Json = nlohmann::ordered_json;

enum class Mode { kPoll, kWait };
// kBlockPublisher: lossless (the publisher waits for the slowest subscriber).
// kDropOldest / kDropNewest: lossy; a transport accepts the ones it can do (iceoryx drops the
// oldest, a socket drops the newest: the message that does not fit).
enum class Policy { kDropOldest, kDropNewest, kBlockPublisher };
const char* to_string(Mode m) noexcept;
const char* to_string(Policy p) noexcept;

struct LatencyOptions {
  std::uint32_t payload = 64;
  Mode mode = Mode::kPoll;
  std::uint64_t count = 100000;
  std::uint64_t warmup = 10000;
  int cpu_ping = -1;
  int cpu_pong = -1;
  double timeout_s = 120;
};

struct ThroughputOptions {
  std::uint32_t payload = 64;
  std::uint32_t subscribers = 1;
  Mode mode = Mode::kPoll;
  Policy policy = Policy::kBlockPublisher;
  double duration_s = 2;
  std::uint64_t warmup = 10000;
  bool touch = false;
  std::uint32_t runs = 1;
  std::uint32_t queue_capacity = 256;  // per subscriber (iceoryx's maximum is 256)
  int cpu_pub = -1;
  std::vector<int> cpu_subs;
};

// The publishing side of one process. The scenario loop calls try_loan() until it returns a
// buffer of `payload` bytes (nullptr: none free right now; the loop counts it, yields and
// retries), writes it, and hands it to publish().
class Sender {
 public:
  virtual ~Sender() = default;
  virtual std::byte* try_loan() = 0;
  // Publishes the buffer of the last try_loan(). A lossless transport blocks here while a
  // subscriber is full. Failure: the transport broke (the message says how).
  virtual Status<void> publish(std::byte* buffer) = 0;
  // Back-pressure retries inside publish() that the transport can count (0 if it cannot).
  virtual std::uint64_t would_block() const noexcept { return 0; }
};

// The receiving side of one process. take() returns the next message or nullptr (never
// blocks); the message stays valid until release(). wait() blocks until a message may be
// there or the timeout passed (the transport's native way to sleep: WaitSet, blocking read).
class Receiver {
 public:
  virtual ~Receiver() = default;
  struct Message {
    const std::byte* data = nullptr;
    std::size_t size = 0;
  };
  virtual Message take() = 0;
  virtual void release(const Message& m) = 0;
  virtual void wait(std::chrono::milliseconds timeout) = 0;
  // Wait mode: takes one message, sleeping up to `timeout` if none is there. The default is
  // take(), wait(), take(); a socket overrides it with one blocking read.
  virtual Message take_waiting(std::chrono::milliseconds timeout) {
    Message m = take();
    if (m.data != nullptr) return m;
    wait(timeout);
    return take();
  }
};

struct LatencyEnds {
  std::unique_ptr<Sender> tx;
  std::unique_ptr<Receiver> rx;
};

// One transport. setup/teardown run in the parent around each scenario (before any fork);
// the open_* calls run in the forked children, each of which then calls finish_child() with
// its exit code (iceoryx must unregister its runtime, which a bare _exit would skip).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string name() const = 0;
  virtual std::string describe() const = 0;  // the "daemon" field of the JSON objects
  // Options of this transport, added to both subcommands (e.g. iceoryx's --roudi).
  virtual void add_options(CLI::App& /*cmd*/) {}
  virtual Status<void> setup_latency(const LatencyOptions& o) = 0;
  virtual Status<void> setup_throughput(const ThroughputOptions& o, std::uint32_t run) = 0;
  virtual void teardown() = 0;
  // ping: true for the measuring side. Returns once both directions are connected.
  virtual Status<LatencyEnds> open_latency(bool ping, const LatencyOptions& o) = 0;
  virtual Status<std::unique_ptr<Sender>> open_publisher(const ThroughputOptions& o) = 0;
  // Returns once this subscriber is connected to the publisher (which exists by then).
  virtual Status<std::unique_ptr<Receiver>> open_subscriber(std::uint32_t index,
                                                            const ThroughputOptions& o) = 0;
  virtual int finish_child(int rc) { return rc; }
};

// The scenarios (peer_bench.cpp): fork the processes, run zcp-perf's loops over the
// transport, and return the JSON object zcp-perf would print (same field names).
Status<Json> run_latency(Transport& t, const LatencyOptions& o);
Status<Json> run_throughput(Transport& t, const ThroughputOptions& o);

// The whole command line (`PROG latency|throughput ... [--json]`), as in zcp-perf. Returns
// the exit code: 0 ok, 1 the benchmark failed, 2 bad command line.
int peer_main(int argc, char** argv, Transport& transport);

}  // namespace zcp::peers
