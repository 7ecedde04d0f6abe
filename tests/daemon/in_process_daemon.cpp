#include "in_process_daemon.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <type_traits>

#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/route_table.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon_test {

// ---- DaemonView -------------------------------------------------------------------------------

DaemonView::DaemonView(const std::string& segment_name) {
  auto seg = shm::Segment::open(segment_name, /*writable=*/false);
  if (seg) seg_ = std::move(*seg);
}

bool DaemonView::ok() const {
  return seg_.base() != nullptr && seg_.stats().valid();
}

template <class Slot>
const Slot* DaemonView::find(std::uint32_t id, Slot& descriptor) const {
  const shm::StatsRegion& st = seg_.stats();
  constexpr bool kPublisher = std::is_same_v<Slot, shm::PublisherStats>;
  const std::uint32_t slots =
      kPublisher ? st.header().publisher_slots : st.header().subscriber_slots;
  for (std::uint32_t i = 0; i < slots; ++i) {
    const Slot* s = nullptr;
    if constexpr (kPublisher) {
      s = st.publisher(i);
    } else {
      s = st.subscriber(i);
    }
    if (shm::seq_read(*s, descriptor) &&
        descriptor.state == static_cast<std::uint32_t>(shm::StatsSlotState::kLive) &&
        descriptor.id == id) {
      return s;
    }
  }
  return nullptr;
}

const shm::RingHeader* DaemonView::ring(std::uint64_t offset) const {
  return reinterpret_cast<const shm::RingHeader*>(seg_.base() + offset);
}

const shm::SubscriberStats* DaemonView::subscriber(std::uint32_t id) const {
  shm::SubscriberStats d{};
  return find(id, d);
}

const shm::PublisherStats* DaemonView::publisher(std::uint32_t id) const {
  shm::PublisherStats d{};
  return find(id, d);
}

const shm::RingHeader* DaemonView::queue_of(std::uint32_t subscriber_id) const {
  shm::SubscriberStats d{};
  return find(subscriber_id, d) != nullptr ? ring(d.queue_offset) : nullptr;
}

const shm::RingHeader* DaemonView::publish_ring_of(std::uint32_t publisher_id) const {
  shm::PublisherStats d{};
  return find(publisher_id, d) != nullptr ? ring(d.publish_ring_offset) : nullptr;
}

int DaemonView::listed(std::uint32_t publisher_id) const {
  const shm::RingHeader* r = publish_ring_of(publisher_id);
  if (r == nullptr || r->route_table == 0) return -1;  // written once, before the grant
  const auto* table = reinterpret_cast<const shm::RouteTable*>(seg_.base() + r->route_table);
  shm::RouteEntry entries[shm::kRouteSlots];
  std::uint32_t version = 0;
  if (!shm::read_routes(*table, entries, version)) return -1;
  int n = 0;
  for (const shm::RouteEntry& e : entries)
    n += e.subscriber_id != 0 ? 1 : 0;
  return n;
}

bool DaemonView::asleep(const shm::RingHeader& queue) {
  // relaxed: a test condition; what the tests order by it is published by their own atomics.
  return shm::atomic_load(queue.waiting, std::memory_order_relaxed) != 0;
}

std::uint64_t DaemonView::faults() const {
  std::uint64_t n = 0;
  for (std::uint32_t i = 0; i < seg_.stats().header().worker_slots; ++i) {
    if (const shm::WorkerStatsSlot* w = seg_.stats().worker(i)) n += shm::read_counter(w->faults);
  }
  return n;
}

std::uint64_t DaemonView::direct_settled() const {
  std::uint64_t n = 0;
  for (std::uint32_t i = 0; i < seg_.stats().header().worker_slots; ++i) {
    if (const shm::WorkerStatsSlot* w = seg_.stats().worker(i))
      n += shm::read_counter(w->direct_settled);
  }
  return n;
}

std::uint64_t DaemonView::chunks_out() const {
  std::uint64_t n = 0;
  const shm::ChunkPool& pool = seg_.pool();
  for (std::size_t c = 0; c < pool.class_count(); ++c) {
    const shm::PoolClassStats st = pool.stats(c);
    n += st.total - st.free;
  }
  return n;
}

std::string DaemonView::describe(const std::vector<std::uint32_t>& subscribers,
                                 const std::vector<std::uint32_t>& publishers) const {
  // relaxed throughout: a snapshot for a person to read, taken while nothing moves.
  auto load = [](const std::uint64_t& w) { return shm::atomic_load(w, std::memory_order_relaxed); };
  std::string out;
  for (std::uint32_t id : subscribers) {
    const shm::RingHeader* q = queue_of(id);
    const shm::SubscriberStats* st = subscriber(id);
    if (q == nullptr || st == nullptr) {
      out += "subscriber " + std::to_string(id) + ": gone\n";
      continue;
    }
    const std::uint64_t head = load(q->head);
    const auto* cell = reinterpret_cast<const shm::MpmcCell<shm::MessageHeader>*>(
        reinterpret_cast<const std::byte*>(q) + sizeof(shm::RingHeader) +
        (head % q->capacity) * q->slot_stride);
    char turn[32];
    std::snprintf(turn, sizeof(turn), "%#llx", static_cast<unsigned long long>(load(cell->turn)));
    out += "subscriber " + std::to_string(id) + ": queue head " + std::to_string(head) + " tail " +
           std::to_string(load(q->tail)) + " capacity " + std::to_string(q->capacity) +
           ", head cell turn " + turn + ", waiting " +
           std::to_string(shm::atomic_load(q->waiting, std::memory_order_relaxed)) +
           "; delivered " + std::to_string(shm::read_counter(st->delivered)) +
           ", router wake-ups " + std::to_string(shm::read_counter(st->wakeups)) + "\n";
  }
  for (std::uint32_t id : publishers) {
    const shm::RingHeader* r = publish_ring_of(id);
    const shm::PublisherStats* st = publisher(id);
    if (r == nullptr || st == nullptr) {
      out += "publisher " + std::to_string(id) + ": gone\n";
      continue;
    }
    out += "publisher " + std::to_string(id) + ": publish ring tail " +
           std::to_string(load(r->tail)) + " head " + std::to_string(load(r->head)) + " routed " +
           std::to_string(load(r->routed)) + ", waiting " +
           std::to_string(shm::atomic_load(r->waiting, std::memory_order_relaxed)) + "; routed " +
           std::to_string(shm::read_counter(st->routed)) + ", blocked passes " +
           std::to_string(shm::read_counter(st->blocked)) + ", own wake-ups " +
           std::to_string(load(r->wakeups)) + "\n";
  }
  for (std::uint32_t i = 0; i < seg_.stats().header().worker_slots; ++i) {
    const shm::WorkerStatsSlot* w = seg_.stats().worker(i);
    if (w == nullptr) continue;
    out += "worker " + std::to_string(i) + ": passes " +
           std::to_string(shm::read_counter(w->passes)) + ", busy passes " +
           std::to_string(shm::read_counter(w->busy_passes)) + ", parks " +
           std::to_string(shm::read_counter(w->parks)) + ", direct settled " +
           std::to_string(shm::read_counter(w->direct_settled)) + "\n";
  }
  return out;
}

// ---- DaemonThread -----------------------------------------------------------------------------

DaemonThread::DaemonThread(daemon::DaemonConfig config) {
  thread_ = std::thread([this, config = std::move(config)] {
    auto started = daemon::Daemon::start(config);
    if (!started) {
      error_ = started.error().message;  // published by the release store below
      state_.store(kFailed, std::memory_order_release);
      return;
    }
    std::unique_ptr<daemon::Daemon> d = std::move(*started);
    // release: pairs with stop()'s acquire; SIGTERM is blocked in this thread from here on.
    state_.store(kRunning, std::memory_order_release);
    exit_code_ = static_cast<int>(d->run());  // read after join()
    d.reset();                                // its reactor and workers end on this thread too
  });
}

DaemonThread::~DaemonThread() {
  (void)stop();
}

// acquire: pairs with the thread's release store (error_ is complete once kFailed is seen).
bool DaemonThread::failed() const noexcept {
  return state_.load(std::memory_order_acquire) == kFailed;
}

std::string DaemonThread::error() const {
  return failed() ? error_ : std::string();
}

int DaemonThread::stop() {
  if (!thread_.joinable()) return exit_code_;
  // acquire: as in failed(). Still starting: wait for the outcome, so that the signal finds
  // SIGTERM blocked and the signalfd in place rather than ending the process.
  (void)wait_until([&] { return state_.load(std::memory_order_acquire) != kStarting; }, kDeadline);
  if (state_.load(std::memory_order_acquire) == kRunning)
    ::pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
  return exit_code_;
}

// ---- The fixture ------------------------------------------------------------------------------

// Collects the daemon's log lines (spdlog's default logger is process-wide).
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lk(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

void InProcessDaemonTest::SetUp() {
  private_ = std::make_unique<zcp::test::PrivateInstance>("ipd", /*export_instance=*/false);
  dir_ = private_->runtime_dir();
  instance_ = private_->instance();
  log_ = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("diroute", log_);
  logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void InProcessDaemonTest::TearDown() {
  if (daemon_) {
    // The test body's clients are gone: the reactor retires their ports once the workers
    // acknowledged the removals, and every chunk goes back to its pool.
    {
      DaemonView view(segment_name());
      if (view.ok()) {
        EXPECT_TRUE(wait_until([&] { return view.chunks_out() == 0; }, 30s))
            << view.chunks_out() << " chunks still out of their pools after every client left";
        EXPECT_EQ(view.faults(), 0U) << "the router faulted a port";
      } else {
        ADD_FAILURE() << "cannot map the segment " << segment_name();
      }
    }
    EXPECT_EQ(daemon_->stop(), static_cast<int>(daemon::ExitCode::kOk));
    const std::string log = log_->text();
    EXPECT_NE(log.find("every chunk is back in its pool"), std::string::npos)
        << "no clean shutdown";
    EXPECT_EQ(log.find("chunk accounting is off"), std::string::npos)
        << "the daemon's pools leaked";
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + instance_ + ".sock")) << "the socket is left";
    EXPECT_FALSE(std::filesystem::exists("/dev/shm" + segment_name())) << "the segment is left";
    if (HasFailure())
      std::fprintf(stderr, "---- daemon log ----\n%s--------------------\n", log.c_str());
    daemon_.reset();
  }
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("none"));
  private_.reset();  // the segment after a failed stop, if any, and the runtime directory
}

daemon::DaemonConfig InProcessDaemonTest::config() const {
  daemon::DaemonConfig c;
  c.paths.instance = instance_;
  c.paths.runtime_dir = dir_;
  c.paths.socket_path = dir_ + "/" + instance_ + ".sock";
  // A client thread starved of CPU (TSan on a small host) must not be declared dead.
  c.control.heartbeat_timeout = 60s;
  return c;
}

void InProcessDaemonTest::start(const daemon::DaemonConfig& config) {
  daemon_ = std::make_unique<DaemonThread>(config);
  std::string last;
  const bool up = wait_until(
      [&] {
        if (daemon_->failed()) return true;
        auto rt = Runtime::connect({.name = "probe", .instance = instance_, .reconnect = false});
        if (!rt) last = rt.error().message;
        return rt.has_value();
      },
      kDeadline);
  ASSERT_FALSE(daemon_->failed()) << "the daemon did not start: " << daemon_->error();
  ASSERT_TRUE(up) << "the daemon did not answer: " << last;
}

std::unique_ptr<Runtime> InProcessDaemonTest::connect(const std::string& name) {
  auto rt = Runtime::connect({.name = name, .instance = instance_, .reconnect = false});
  EXPECT_TRUE(rt) << name << ": " << rt.error().message;
  return rt ? std::move(*rt) : nullptr;
}

}  // namespace zcp::daemon_test
