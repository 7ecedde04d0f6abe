// A minimal blocking client of the control protocol for the integration tests: a
// SOCK_SEQPACKET connection, the protocol's encoders, recvmsg with SCM_RIGHTS. It is
// deliberately independent of libzcp (src/client), so the daemon is tested on the wire.
// Every receive has a timeout, so a daemon bug fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/sys.hpp"
#include "protocol/encode.hpp"
#include "protocol/frame.hpp"

namespace zcp::daemon::test {

// One received datagram and the descriptors that came with it.
struct Received {
  std::vector<std::uint8_t> bytes;
  std::vector<sys::UniqueFd> fds;
  bool truncated_control = false;  // MSG_CTRUNC

  // The verified Response, or nullptr (decoded on each call: `bytes` may have moved).
  const fb::Response* response() const;
  fb::ResultCode code() const;
  std::string message() const;
};

class RawClient {
 public:
  // Connects to the daemon's socket; an invalid client (valid() false) on failure.
  static RawClient connect(const std::string& socket_path,
                           std::chrono::milliseconds recv_timeout = std::chrono::seconds(5));
  // A connection made by another process (its SO_PEERCRED is that process), handed over.
  static RawClient adopt(sys::UniqueFd fd) {
    RawClient c;
    c.fd_ = std::move(fd);
    return c;
  }
  RawClient() = default;
  bool valid() const noexcept { return fd_.valid(); }
  int fd() const noexcept { return fd_.get(); }
  void close() noexcept { fd_.reset(); }

  bool send(std::span<const std::uint8_t> datagram);
  bool send_frame(const protocol::EncodeResult& frame) { return frame && send(std::span(*frame)); }
  // One datagram: nullopt on timeout or error, empty bytes at EOF.
  std::optional<Received> receive();
  // True if the daemon hangs up within the receive timeout (datagrams before it are skipped).
  bool wait_for_eof();

  // send + receive, with a fresh request id. WakeFds / WakeFdsRevoked notices that arrive
  // before the reply are kept in notices().
  std::optional<Received> request(const protocol::EncodeResult& frame);
  std::vector<Received>& notices() noexcept { return notices_; }
  std::optional<Received> hello();
  std::optional<Received> register_process(const std::string& name, bool monitored);
  std::optional<Received> unregister();
  std::optional<Received> create_publisher(const protocol::Topic& topic);
  std::optional<Received> create_subscriber(const protocol::Topic& topic,
                                            std::uint32_t capacity = 0);
  std::optional<Received> list_topology();
  std::uint64_t next_id() noexcept { return ++request_id_; }

 private:
  sys::UniqueFd fd_;
  std::uint64_t request_id_ = 0;
  std::vector<Received> notices_;
};

// What ListTopology says, flattened for assertions.
struct Topology {
  struct Process {
    std::uint32_t slot;
    std::int32_t pid;
    std::string name;
  };
  std::vector<Process> processes;
  std::vector<std::uint32_t> publisher_slots;
  std::vector<std::uint32_t> subscriber_slots;
  bool has_pid(pid_t pid) const;
  std::size_t endpoints_of_slot(std::uint32_t slot) const;
};
std::optional<Topology> topology_of(const Received& r);

}  // namespace zcp::daemon::test
