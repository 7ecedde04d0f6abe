#include "mini_daemon.hpp"

#include <algorithm>
#include <cstring>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.hpp"
#include "protocol/encode.hpp"
#include "protocol/frame.hpp"
#include "shm/heartbeat_pool.hpp"
#include "shm/ports.hpp"

namespace zcp::client_test {

struct MiniDaemon::Conn {
  int fd = -1;
  std::optional<shm::SlotLease> lease;
  std::vector<std::uint32_t> pubs, subs;
};

namespace {
// Small publish rings: a test reaches back-pressure with a few dozen messages (and within the
// small pools the tests give it).
constexpr std::uint32_t kPublishRing = 32;

fb::QueueDescriptor wire(const shm::QueueDescriptor& q) {
  return fb::QueueDescriptor(q.offset, q.capacity, q.element_size, q.align, q.kind);
}
std::string topic_key(const auto& req) {
  return std::string(protocol::as_view(req.service())) + "/" +
         std::string(protocol::as_view(req.instance())) + "/" +
         std::string(protocol::as_view(req.event()));
}
}  // namespace

MiniDaemon::MiniDaemon(std::string runtime_dir, std::string instance, shm::ChunkPoolConfig pools,
                       router::WorkerOptions worker) {
  socket_path_ = runtime_dir + "/" + instance + ".sock";
  shm::SegmentConfig cfg;
  cfg.pools = std::move(pools);
  cfg.queue_arena_bytes = 16 << 20;
  auto seg = shm::Segment::create("/zcp." + instance + ".seg", instance, cfg);
  if (!seg) {
    problem_ = seg.error().message;
    return;
  }
  seg_ = std::move(*seg);
  seg_.set_state(shm::SegmentState::kReady);
  auto arena = *seg_.region(shm::RegionKind::kQueueArena);
  alloc_ = shm::QueueAllocator(arena.offset, arena.size);
  notify_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  worker_ = worker;
  listen_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
  ::unlink(socket_path_.c_str());
  if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_, 64) != 0) {
    problem_ = "bind/listen " + socket_path_ + ": " + std::strerror(errno);
    return;
  }
  thread_ = std::thread([this] { serve(); });
  ok_ = true;
}

MiniDaemon::~MiniDaemon() {
  if (thread_.joinable()) {
    quit_.store(true);
    std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof(one));
    thread_.join();
  }
  for (auto& c : conns_)
    close_conn(*c);
  conns_.clear();
  if (router_) router_->stop();
  router_.reset();
  for (int fd : {listen_, notify_, wake_}) {
    if (fd >= 0) ::close(fd);
  }
  ::unlink(socket_path_.c_str());
}

std::string MiniDaemon::pool_leaks() {
  std::string out;
  for (std::size_t c = 0; c < seg_.pool().class_count(); ++c) {
    auto s = seg_.pool().stats(c);
    if (s.free != s.total) {
      out += " [" + std::to_string(s.chunk_size) + " B: free " + std::to_string(s.free) + " of " +
             std::to_string(s.total) + "]";
    }
  }
  return out;
}

bool MiniDaemon::ensure_router() {
  if (router_) return true;
  std::byte* base = data_base_.load() ? data_base_.load() : seg_.base();
  auto region = *seg_.region(shm::RegionKind::kChunkPool);
  auto pool = shm::ChunkPool::attach(base, region.offset, region.size);
  if (!pool) return false;
  auto r = router::Router::create(*pool, {worker_}, notify_);
  if (!r) return false;
  router_ = std::move(*r);
  return static_cast<bool>(router_->start());
}

void MiniDaemon::stop_router() {
  router_stopped_.store(true);
  std::uint64_t one = 1;
  (void)!::write(wake_, &one, sizeof(one));  // the server thread stops it between requests
  while (!router_stop_done_.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void MiniDaemon::drop_clients() {
  drop_.store(true);
  std::uint64_t one = 1;
  (void)!::write(wake_, &one, sizeof(one));
}

void MiniDaemon::serve() {
  std::vector<std::uint8_t> buf(protocol::kMaxFrameSize);
  for (;;) {
    if (router_stopped_.load() && !router_stop_done_.load()) {
      if (router_) router_->stop();
      router_stop_done_.store(true);
    }
    if (router_ && !router_stopped_.load()) router_->flush();
    if (quit_.load()) return;
    if (drop_.exchange(false)) {
      for (auto& c : conns_)
        close_conn(*c);
      conns_.clear();
    }
    std::vector<pollfd> fds = {{wake_, POLLIN, 0}, {listen_, POLLIN, 0}};
    for (auto& c : conns_)
      fds.push_back({c->fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 10) < 0) continue;
    if (fds[0].revents & POLLIN) {
      std::uint64_t v;
      (void)!::read(wake_, &v, sizeof(v));
      continue;
    }
    if (fds[1].revents & POLLIN) {
      int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) conns_.push_back(std::make_unique<Conn>(Conn{fd, {}, {}, {}}));
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Conn& c = *conns_[i - 2];
      ssize_t n = ::recv(c.fd, buf.data(), buf.size(), MSG_TRUNC);
      if (n <= 0) {
        close_conn(c);
        continue;
      }
      on_request(c, buf, static_cast<std::size_t>(n));
    }
    std::erase_if(conns_, [](const auto& c) { return c->fd < 0; });
  }
}

void MiniDaemon::send(Conn& c, const std::vector<std::uint8_t>& frame, std::vector<int> fds) {
  iovec iov{const_cast<std::uint8_t*>(frame.data()), frame.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(4 * sizeof(int))];
  if (!fds.empty()) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(cm), fds.data(), fds.size() * sizeof(int));
  }
  (void)::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
}

void MiniDaemon::update_peers(std::uint32_t topic) {
  std::uint32_t n = 0;
  for (auto& [id, s] : subs_)
    n += s.port->topic == topic;
  for (auto& [id, p] : pubs_) {
    // relaxed: a count for has_subscribers(); it publishes nothing.
    if (p->topic == topic) shm::atomic_store(p->in.header()->peers, n, std::memory_order_relaxed);
  }
}

void MiniDaemon::wait_settled(std::uint64_t seq) {
  while (!router_->settled(seq)) {
    if (router_stopped_.load()) {  // stop the workers here: then nobody touches the port
      router_->stop();
      router_stop_done_.store(true);
      return;
    }
    router_->flush();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void MiniDaemon::remove_publisher(std::uint32_t id) {
  auto it = pubs_.find(id);
  if (it == pubs_.end()) return;
  wait_settled(router_->remove_publisher(it->second.get()));
  router::free_publisher_port(alloc_, router_->ledger(), *it->second);
  pubs_.erase(it);
}

const shm::RingHeader* MiniDaemon::subscriber_queue(std::uint32_t id) const {
  std::lock_guard lk(queues_mu_);
  auto it = queues_.find(id);
  return it == queues_.end() ? nullptr : it->second;
}

void MiniDaemon::remove_subscriber(std::uint32_t id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  {
    std::lock_guard lk(queues_mu_);
    queues_.erase(id);
  }
  wait_settled(router_->remove_subscriber(it->second.port.get()));
  router::free_subscriber_port(alloc_, router_->ledger(), *it->second.port);
  std::uint32_t topic = it->second.port->topic;
  ::close(it->second.eventfd);
  subs_.erase(it);
  update_peers(topic);
}

void MiniDaemon::close_conn(Conn& c) {
  if (c.fd < 0) return;
  ::close(c.fd);
  c.fd = -1;
  for (auto id : c.pubs)
    remove_publisher(id);
  for (auto id : c.subs)
    remove_subscriber(id);
  c.pubs.clear();
  c.subs.clear();
  if (c.lease) seg_.heartbeats().release(*c.lease);
  c.lease.reset();
}

void MiniDaemon::on_request(Conn& c, std::vector<std::uint8_t>& bytes, std::size_t len) {
  auto req = protocol::decode_request(std::span(bytes.data(), std::min(len, bytes.size())), len);
  if (!req) return;
  const fb::Request& r = **req;
  const std::uint64_t id = r.request_id();
  auto refuse = [&](const std::string& why) {
    send(c, *protocol::encode_error_response(id, fb::ResultCode::InvalidArgument, why));
  };
  switch (r.body_type()) {
    case fb::RequestBody::Hello:
      send(c, *protocol::encode_hello_reply(id, "mini"));
      return;
    case fb::RequestBody::RegisterProcess: {
      c.lease = seg_.heartbeats().acquire(::getpid(), monotonic_ns());
      if (!c.lease) return refuse("no heartbeat slot");
      protocol::RegisterGrant g;
      g.slot = c.lease->index;
      g.heartbeat_interval_ms = 300;
      g.heartbeat_timeout_ms = 3000;
      g.segment_name = seg_.name();
      g.segment_size = seg_.size();
      g.layout_version = shm::kLayoutVersion;
      send(c, *protocol::encode_register_process_reply(id, g), {seg_.fd()});
      return;
    }
    case fb::RequestBody::UnregisterProcess:
      send(c, *protocol::encode_ack(id));
      return;
    case fb::RequestBody::CreatePublisher: {
      if (!ensure_router()) return refuse("the router did not start");
      const auto& q = *r.body_as_CreatePublisher();
      auto [it, fresh] =
          topics_.try_emplace(topic_key(q), static_cast<std::uint32_t>(topics_.size() + 1));
      auto cls = seg_.pool().class_for(std::max<std::uint32_t>(q.max_payload(), 1));
      if (!cls) return refuse("max_payload larger than every pool class");
      router::PublisherSpec spec{next_id_++,
                                 it->second,
                                 0,
                                 *cls,
                                 q.max_loans() ? q.max_loans() : shm::kDefaultMaxLoans,
                                 kPublishRing,
                                 q.history_depth()};
      auto port = router::make_publisher_port(data_base_.load() ? data_base_.load() : seg_.base(),
                                              seg_.size(), alloc_, router_->ledger(), spec);
      if (!port) return refuse(port.error());
      protocol::PublisherGrant g;
      g.publisher_id = spec.id;
      g.ring = wire((*port)->publish_desc);
      g.history_depth = spec.history_depth;
      g.worker = 0;
      g.loan_ring = wire((*port)->loan_desc);
      g.pool_class = spec.pool_class;
      g.chunk_size = seg_.pool().chunk_size(spec.pool_class);
      g.max_loans = spec.max_loans;
      router_->add_publisher(port->get());
      pubs_[spec.id] = std::move(*port);
      c.pubs.push_back(spec.id);
      update_peers(spec.topic);
      send(c, *protocol::encode_publisher_reply(id, g), {router_->doorbell(0)});
      return;
    }
    case fb::RequestBody::CreateSubscriber: {
      if (!ensure_router()) return refuse("the router did not start");
      const auto& q = *r.body_as_CreateSubscriber();
      auto [it, fresh] =
          topics_.try_emplace(topic_key(q), static_cast<std::uint32_t>(topics_.size() + 1));
      int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      router::SubscriberSpec spec{next_id_++,
                                  it->second,
                                  0,
                                  static_cast<QueuePolicy>(q.policy()),
                                  q.queue_capacity() ? q.queue_capacity() : 256,
                                  q.max_held() ? q.max_held() : shm::kDefaultMaxHeld,
                                  q.history_request(),
                                  efd};
      auto port = router::make_subscriber_port(data_base_.load() ? data_base_.load() : seg_.base(),
                                               seg_.size(), alloc_, router_->ledger(), spec);
      if (!port) {
        ::close(efd);
        return refuse(port.error());
      }
      protocol::SubscriberGrant g;
      g.subscriber_id = spec.id;
      g.queue = wire((*port)->queue_desc);
      g.release_ring = wire((*port)->release_desc);
      g.max_held = spec.max_held;
      auto seq = router_->add_subscriber(port->get());
      {
        std::lock_guard lk(queues_mu_);
        queues_[spec.id] = (*port)->queue.header();
      }
      subs_[spec.id] = Sub{std::move(*port), efd};
      c.subs.push_back(spec.id);
      // Reply once the worker routes to it, so a publish that follows the reply reaches it
      // (as diroute does). wait_settled() gives up when the test stops the router.
      wait_settled(seq);
      update_peers(spec.topic);
      send(c, *protocol::encode_subscriber_reply(id, g), {efd});
      return;
    }
    case fb::RequestBody::DestroyPublisher: {
      std::uint32_t pid = r.body_as_DestroyPublisher()->publisher_id();
      std::erase(c.pubs, pid);
      remove_publisher(pid);
      send(c, *protocol::encode_ack(id));
      return;
    }
    case fb::RequestBody::DestroySubscriber: {
      std::uint32_t sid = r.body_as_DestroySubscriber()->subscriber_id();
      std::erase(c.subs, sid);
      remove_subscriber(sid);
      send(c, *protocol::encode_ack(id));
      return;
    }
    default:
      return refuse("not supported by the mini daemon");
  }
}

}  // namespace zcp::client_test
