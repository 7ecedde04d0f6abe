#include "raw_client.hpp"

#include <algorithm>
#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace zcp::daemon::test {

const fb::Response* Received::response() const {
  auto d = protocol::decode_response(bytes, bytes.size());
  return d ? *d : nullptr;
}

fb::ResultCode Received::code() const {
  const fb::Response* r = response();
  return r != nullptr ? r->code() : fb::ResultCode::Internal;
}

std::string Received::message() const {
  const fb::Response* r = response();
  return r != nullptr && r->message() != nullptr ? r->message()->str() : std::string();
}

RawClient RawClient::connect(const std::string& socket_path,
                             std::chrono::milliseconds recv_timeout) {
  RawClient c;
  sys::Result r = sys::call(::socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (!r.ok()) return c;
  sys::UniqueFd fd(static_cast<int>(r.value));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return c;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  r = sys::call(::connect, fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                socklen_t{sizeof(addr)});
  if (!r.ok()) return c;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(recv_timeout).count();
  timeval tv{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
  (void)sys::call(::setsockopt, fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t{sizeof(tv)});
  c.fd_ = std::move(fd);
  return c;
}

bool RawClient::send(std::span<const std::uint8_t> datagram) {
  sys::Result r = sys::call(::send, fd_.get(), datagram.data(), datagram.size(), MSG_NOSIGNAL);
  return r.ok() && static_cast<std::size_t>(r.value) == datagram.size();
}

std::optional<Received> RawClient::receive() {
  Received out;
  out.bytes.resize(protocol::kMaxFrameSize);
  alignas(cmsghdr) char control[CMSG_SPACE(protocol::kMaxFdsPerFrame * sizeof(int))];
  iovec iov{out.bytes.data(), out.bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  sys::Result r = sys::call(::recvmsg, fd_.get(), &msg, MSG_CMSG_CLOEXEC);
  if (!r.ok()) return std::nullopt;
  out.bytes.resize(static_cast<std::size_t>(r.value));
  out.truncated_control = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(fd);
    }
  }
  return out;
}

bool RawClient::wait_for_eof() {
  for (int i = 0; i < 1000; ++i) {
    auto r = receive();
    if (!r) return false;
    if (r->bytes.empty()) return true;
  }
  return false;
}

std::optional<Received> RawClient::request(const protocol::EncodeResult& frame) {
  if (!send_frame(frame)) return std::nullopt;
  for (;;) {
    auto r = receive();
    // WakeFds and WakeFdsRevoked notices may come before a reply: keep them aside.
    const fb::Response* resp = r ? r->response() : nullptr;
    if (resp == nullptr || resp->request_id() != 0 ||
        (resp->body_type() != fb::ResponseBody::WakeFds &&
         resp->body_type() != fb::ResponseBody::WakeFdsRevoked)) {
      return r;
    }
    notices_.push_back(std::move(*r));
  }
}

std::optional<Received> RawClient::hello() {
  return request(protocol::encode_hello(next_id(), "raw-test-client"));
}

std::optional<Received> RawClient::register_process(const std::string& name, bool monitored) {
  return request(protocol::encode_register_process(next_id(), name, monitored));
}

std::optional<Received> RawClient::unregister() {
  return request(protocol::encode_unregister_process(next_id()));
}

std::optional<Received> RawClient::create_publisher(const protocol::Topic& topic) {
  return request(protocol::encode_create_publisher(next_id(), topic, {}));
}

std::optional<Received> RawClient::create_subscriber(const protocol::Topic& topic,
                                                     std::uint32_t capacity) {
  protocol::SubscriberOptions o;
  o.queue_capacity = capacity;
  return request(protocol::encode_create_subscriber(next_id(), topic, o));
}

std::optional<Received> RawClient::list_topology() {
  return request(protocol::encode_list_topology(next_id()));
}

bool Topology::has_pid(pid_t pid) const {
  return std::any_of(processes.begin(), processes.end(),
                     [pid](const Process& p) { return p.pid == pid; });
}

std::size_t Topology::endpoints_of_slot(std::uint32_t slot) const {
  return static_cast<std::size_t>(
      std::count(publisher_slots.begin(), publisher_slots.end(), slot) +
      std::count(subscriber_slots.begin(), subscriber_slots.end(), slot));
}

std::optional<Topology> topology_of(const Received& r) {
  const fb::Response* resp = r.response();
  if (resp == nullptr || resp->code() != fb::ResultCode::Ok) return std::nullopt;
  const fb::TopologyReply* t = resp->body_as_TopologyReply();
  if (t == nullptr) return std::nullopt;
  Topology out;
  if (t->processes() != nullptr) {
    for (const fb::ProcessEntry* p : *t->processes()) {
      out.processes.push_back({p->slot(), p->pid(), std::string(protocol::as_view(p->name()))});
    }
  }
  if (t->publishers() != nullptr) {
    for (const fb::PublisherEntry* p : *t->publishers())
      out.publisher_slots.push_back(p->slot());
  }
  if (t->subscribers() != nullptr) {
    for (const fb::SubscriberEntry* s : *t->subscribers())
      out.subscriber_slots.push_back(s->slot());
  }
  return out;
}

}  // namespace zcp::daemon::test
