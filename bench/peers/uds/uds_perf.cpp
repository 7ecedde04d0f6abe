// uds-perf: zcp-perf's latency and throughput scenarios over plain Unix domain sockets, the
// baseline every shared-memory transport has to beat. SOCK_SEQPACKET socketpairs (message
// boundaries kept, no framing), created before the fork: one pair for the ping-pong, one per
// subscriber for the fan-out (the publisher writes each message to each socket: N copies in,
// N copies out). Lossless by nature (a blocking write waits for the reader); --policy
// drop_newest sends with MSG_DONTWAIT and drops the message for a subscriber whose socket is
// full. Wait mode is a blocking read; poll mode spins on a non-blocking read.
#include <cstring>
#include <utility>

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "peer_bench.hpp"

namespace zcp::peers {

namespace {

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

Status<std::pair<int, int>> seqpacket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return Failure(errno_text("socketpair"));
  return std::pair<int, int>{fds[0], fds[1]};
}

class SocketSender final : public Sender {
 public:
  SocketSender(std::vector<int> fds, std::size_t payload, bool lossy)
      : fds_(std::move(fds)), buffer_(payload), lossy_(lossy) {}
  std::byte* try_loan() override { return buffer_.data(); }
  Status<void> publish(std::byte* b) override {
    for (int fd : fds_) {
      for (;;) {
        const ssize_t n = ::send(fd, b, buffer_.size(), MSG_NOSIGNAL | (lossy_ ? MSG_DONTWAIT : 0));
        if (n == static_cast<ssize_t>(buffer_.size())) break;
        if (n < 0 && errno == EINTR) {
          if (perf::stop_requested()) return Failure("interrupted");
          continue;
        }
        if (n < 0 && lossy_ && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // full: dropped
        return Failure(n < 0 ? errno_text("send") : "short send");
      }
    }
    return {};
  }

 private:
  std::vector<int> fds_;
  std::vector<std::byte> buffer_;
  bool lossy_;
};

class SocketReceiver final : public Receiver {
 public:
  SocketReceiver(int fd, std::size_t payload) : fd_(fd), buffer_(payload + 1) {}
  Message take() override { return read(MSG_DONTWAIT); }
  void release(const Message&) override {}
  void wait(std::chrono::milliseconds timeout) override {
    set_timeout(timeout);
    char c;
    (void)::recv(fd_, &c, 1, MSG_PEEK);  // blocks until a message is there (or the timeout)
  }
  Message take_waiting(std::chrono::milliseconds timeout) override {
    set_timeout(timeout);
    return read(0);  // one blocking read
  }

 private:
  Message read(int flags) {
    const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), flags | MSG_TRUNC);
    if (n <= 0) return {};  // EAGAIN, the timeout, EINTR, or EOF
    return {buffer_.data(), std::min(static_cast<std::size_t>(n), buffer_.size())};
  }
  void set_timeout(std::chrono::milliseconds t) {
    if (t == timeout_) return;
    timeval tv{static_cast<time_t>(t.count() / 1000),
               static_cast<suseconds_t>((t.count() % 1000) * 1000)};
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    timeout_ = t;
  }
  int fd_;
  std::vector<std::byte> buffer_;
  std::chrono::milliseconds timeout_{-1};
};

class UdsTransport final : public Transport {
 public:
  ~UdsTransport() override { teardown(); }
  std::string name() const override { return "uds"; }
  std::string describe() const override {
    return "Unix domain sockets: SOCK_SEQPACKET socketpairs, one per subscriber, default socket "
           "buffers";
  }

  Status<void> setup_latency(const LatencyOptions&) override {
    auto p = seqpacket_pair();
    if (!p) return Failure(p.error());
    pairs_ = {*p};
    return {};
  }
  Status<void> setup_throughput(const ThroughputOptions& o, std::uint32_t) override {
    if (o.policy == Policy::kDropOldest) {
      return Failure(
          "a socket cannot drop the oldest message it holds; use --policy drop_newest for the "
          "lossy run");
    }
    for (std::uint32_t i = 0; i < o.subscribers; ++i) {
      auto p = seqpacket_pair();
      if (!p) {
        teardown();
        return Failure(p.error());
      }
      pairs_.push_back(*p);
    }
    return {};
  }
  void teardown() override {
    for (auto [a, b] : pairs_) {
      ::close(a);
      ::close(b);
    }
    pairs_.clear();
  }

  Status<LatencyEnds> open_latency(bool ping, const LatencyOptions& o) override {
    const auto [a, b] = pairs_.at(0);
    const int mine = ping ? a : b;
    ::close(ping ? b : a);
    LatencyEnds ends;
    ends.tx = std::make_unique<SocketSender>(std::vector<int>{mine}, o.payload, false);
    ends.rx = std::make_unique<SocketReceiver>(mine, o.payload);
    return ends;
  }
  Status<std::unique_ptr<Sender>> open_publisher(const ThroughputOptions& o) override {
    std::vector<int> fds;
    for (auto [a, b] : pairs_) {
      fds.push_back(a);
      ::close(b);
    }
    return std::unique_ptr<Sender>(
        std::make_unique<SocketSender>(fds, o.payload, o.policy != Policy::kBlockPublisher));
  }
  Status<std::unique_ptr<Receiver>> open_subscriber(std::uint32_t index,
                                                    const ThroughputOptions& o) override {
    int mine = -1;
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      ::close(pairs_[i].first);
      if (i == index) {
        mine = pairs_[i].second;
      } else {
        ::close(pairs_[i].second);
      }
    }
    if (mine < 0) return Failure("no socket for subscriber " + std::to_string(index));
    return std::unique_ptr<Receiver>(std::make_unique<SocketReceiver>(mine, o.payload));
  }

 private:
  std::vector<std::pair<int, int>> pairs_;
};

}  // namespace

}  // namespace zcp::peers

int main(int argc, char** argv) {
  zcp::peers::UdsTransport transport;
  return zcp::peers::peer_main(argc, argv, transport);
}
