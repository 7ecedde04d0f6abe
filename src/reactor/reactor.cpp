#include "reactor/reactor.hpp"

#include <cassert>
#include <cerrno>
#include <utility>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "reactor/uds_server.hpp"
#include "reactor/watch.hpp"
#include "reactor/watchers.hpp"

namespace zcp::reactor {

bool Waker::wake() const noexcept {
  if (!fd_) return false;
  std::uint64_t one = 1;
  return sys::call(::write, fd_->get(), &one, sizeof(one)).ok();
}

sys::Expected<std::unique_ptr<Reactor>> Reactor::create(const ReactorOptions& options) {
  auto ring = Ring::create(options.sq_entries, options.cq_entries, options.best_mode);
  if (!ring) return Unexpected(ring.error());
  spdlog::info("reactor: io_uring ready ({} SQ entries, {})", options.sq_entries,
               to_string((*ring)->mode()));
  return std::unique_ptr<Reactor>(new Reactor(std::move(*ring), options));
}

Reactor::Reactor(std::unique_ptr<Ring> ring, const ReactorOptions& options)
    : ring_(std::move(ring)), options_(options), thread_(std::this_thread::get_id()) {}

Reactor::~Reactor() {
  shutting_down_ = true;  // from here on no owner callback runs and nothing re-arms
  posted_.clear();
  for (auto& server : servers_)
    server->shutdown();
  std::vector<std::uint64_t> ids;
  ids.reserve(watches_.size());
  for (auto& [id, watch] : watches_)
    ids.push_back(id);
  for (std::uint64_t id : ids) {
    if (auto it = watches_.find(id); it != watches_.end()) it->second->cancel();
  }

  // Wait for the kernel to hand back every operation that points into our objects.
  auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  while (ring_->in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    if (!ring_->submit_and_wait(std::chrono::milliseconds(10))) break;
    ring_->dispatch();
  }
  if (ring_->in_flight() > 0) {
    // Freeing now could let the kernel write into reused memory: leak instead, loudly.
    spdlog::error(
        "reactor: {} io_uring operations still in flight after {} ms; leaking "
        "their buffers instead of freeing them under the kernel",
        ring_->in_flight(), options_.drain_timeout.count());
    for (auto& server : servers_)
      (void)server.release();
    for (auto& [id, watch] : watches_)
      (void)watch.release();
    (void)ring_.release();
    return;
  }
  servers_.clear();  // unregisters buffer rings: the ring must still exist
  watches_.clear();
  ring_.reset();
  spdlog::info("reactor: stopped");
}

sys::Expected<unsigned> Reactor::run_once(std::optional<std::chrono::nanoseconds> timeout) {
  assert(on_reactor_thread() && "the reactor is driven by the thread that created it");
  // Posted tasks are work already: do not sleep before running them.
  if (!posted_.empty()) timeout = std::chrono::nanoseconds(0);
  if (auto waited = ring_->submit_and_wait(timeout); !waited) return Unexpected(waited.error());
  unsigned handled = ring_->dispatch(ring_->cq_entries());
  handled += run_posted();
  return handled;
}

sys::Expected<void> Reactor::run() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_work{};  // epoch: the first turn blocks
  while (!stop_) {
    // Within busy_poll of the last turn that did something: poll (timeout 0, which still
    // reaps deferred task work), else block until a completion arrives.
    const bool polling =
        options_.busy_poll.count() > 0 && Clock::now() - last_work < options_.busy_poll;
    auto n = run_once(polling ? std::optional<std::chrono::nanoseconds>(0) : std::nullopt);
    if (!n) return Unexpected(n.error());
    if (*n > 0) last_work = Clock::now();
  }
  stop_ = false;
  return {};
}

void Reactor::post(std::function<void()> task) {
  assert(on_reactor_thread() && "post() is reactor-thread only; other threads use a Waker");
  if (shutting_down_) return;
  posted_.push_back(std::move(task));
}

unsigned Reactor::run_posted() {
  unsigned handled = 0;
  // Tasks posted by these tasks run in the next run_once (which will not sleep).
  std::vector<std::function<void()>> batch;
  batch.swap(posted_);
  for (auto& task : batch) {
    task();
    ++handled;
  }
  return handled;
}

sys::Expected<UdsServer*> Reactor::listen(const std::string& path, ConnectionHandler& handler,
                                          const ServerOptions& options) {
  auto server = UdsServer::create(*this, path, handler, options, next_buffer_group_);
  if (!server) return Unexpected(server.error());
  ++next_buffer_group_;
  servers_.push_back(std::move(*server));
  return servers_.back().get();
}

sys::Expected<WatchId> Reactor::adopt(sys::Expected<std::unique_ptr<Watch>> watch) {
  if (!watch) return Unexpected(watch.error());
  std::unique_ptr<Watch> w = std::move(*watch);
  WatchId id = w->id();
  if (!w->start()) return sys::fail("arm " + w->what() + ": submission queue full", EBUSY);
  watches_.emplace(id.value, std::move(w));
  return id;
}

sys::Expected<WatchId> Reactor::add_timer(std::chrono::nanoseconds period, TimerCallback on_tick) {
  return adopt(make_timer_watch(*this, WatchId{next_watch_id_++}, period, std::move(on_tick)));
}

sys::Expected<WatchId> Reactor::add_signals(std::span<const int> signals,
                                            SignalCallback on_signal) {
  return adopt(make_signal_watch(*this, WatchId{next_watch_id_++}, signals, std::move(on_signal)));
}

sys::Expected<Wakeup> Reactor::add_wakeup(WakeCallback on_wake) {
  auto fd = make_eventfd();
  if (!fd) return Unexpected(fd.error());
  auto id = adopt(make_wakeup_watch(*this, WatchId{next_watch_id_++}, *fd, std::move(on_wake)));
  if (!id) return Unexpected(id.error());
  return Wakeup{*id, Waker(std::move(*fd))};
}

sys::Expected<WatchId> Reactor::watch_process(pid_t pid, ExitCallback on_exit) {
  return adopt(make_process_watch(*this, WatchId{next_watch_id_++}, pid, std::move(on_exit)));
}

bool Reactor::cancel(WatchId id) noexcept {
  auto it = watches_.find(id.value);
  if (it == watches_.end()) return false;
  return it->second->cancel();  // may retire (erase) it: `it` is not used again
}

void Reactor::retire(Watch* watch) noexcept {
  watches_.erase(watch->id().value);
}

}  // namespace zcp::reactor
