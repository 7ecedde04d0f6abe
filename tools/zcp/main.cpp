// zcp: the zerocp command-line client.
//
//   zcp pub SERVICE/INSTANCE/EVENT     publishes each stdin line as one payload (no newline)
//   zcp echo SERVICE/INSTANCE/EVENT [--count N]
//                                      prints each received payload as one line
//
// stdout carries payloads only; every diagnostic goes to stderr. Exit code 0 on success
// (EOF for pub; N payloads, or SIGINT/SIGTERM, for echo), 1 on any error.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include <zcp/zcp.hpp>

namespace {

using namespace std::chrono_literals;

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

void install_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: a signal ends wait() early
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout is seen by fwrite/fflush instead
}

int fail(const std::string& what) {
  std::fprintf(stderr, "zcp: %s\n", what.c_str());
  return 1;
}

std::unique_ptr<zcp::Runtime> connect(const std::string& instance, const char* role, std::string& error) {
  zcp::RuntimeOptions o;
  o.instance = instance;
  o.name = std::string("zcp-") + role + "-" + std::to_string(::getpid());
  auto rt = zcp::Runtime::connect(o);
  if (!rt) {
    error = rt.error().message;
    return nullptr;
  }
  return std::move(*rt);
}

struct PubArgs {
  std::string topic;
  std::string instance;
  std::uint32_t max_payload = 8192;
  std::uint32_t wait_subscribers = 0;
  std::uint32_t history = 0;
  double timeout_s = 10;
};

int run_pub(const PubArgs& a) {
  std::string err;
  auto rt = connect(a.instance, "pub", err);
  if (!rt) return fail(err);
  zcp::PublisherOptions o;
  o.max_payload = a.max_payload;
  o.history_depth = a.history;
  auto pub = zcp::Publisher<>::create(*rt, a.topic, o);
  if (!pub) return fail(pub.error().message);
  const auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(a.timeout_s));

  if (a.wait_subscribers > 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pub->subscriber_count() < a.wait_subscribers) {
      if (g_stop.load(std::memory_order_relaxed)) return 1;
      if (!pub->connected()) return fail(rt->disconnect_reason().value_or(zcp::Error{}).message);
      if (std::chrono::steady_clock::now() > deadline) {
        return fail("pub " + a.topic + ": " + std::to_string(pub->subscriber_count()) + " of " +
                    std::to_string(a.wait_subscribers) + " subscribers after " +
                    std::to_string(a.timeout_s) + " s");
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  int rc = 0;
  std::string line;
  while (!g_stop.load(std::memory_order_relaxed) && std::getline(std::cin, line)) {
    auto bytes = std::as_bytes(std::span<const char>(line.data(), line.size()));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto r = pub->publish_copy(bytes, 10ms);
      if (r) break;
      const zcp::Errc code = r.error().code;
      const bool transient = code == zcp::Errc::kWouldBlock || code == zcp::Errc::kPoolExhausted;
      if (code == zcp::Errc::kTooLarge) {  // skip this line, keep going, fail at the end
        std::fprintf(stderr, "zcp: %s (line skipped)\n", r.error().message.c_str());
        rc = 1;
        break;
      }
      if (!transient || std::chrono::steady_clock::now() > deadline || g_stop.load(std::memory_order_relaxed)) {
        return fail(r.error().message);
      }
    }
  }
  if (auto r = pub->flush(timeout); !r) return fail(r.error().message);
  return rc;
}

struct EchoArgs {
  std::string topic;
  std::string instance;
  std::uint64_t count = 0;  // 0: until interrupted
  std::string policy = "drop_oldest";
  std::uint32_t queue_capacity = 0;
  std::uint32_t history = 0;
};

int run_echo(const EchoArgs& a) {
  std::string err;
  auto rt = connect(a.instance, "echo", err);
  if (!rt) return fail(err);
  zcp::SubscriberOptions o;
  o.queue_capacity = a.queue_capacity;
  o.history_request = a.history;
  o.policy = a.policy == "drop_newest"       ? zcp::QueuePolicy::kDropNewest
             : a.policy == "block_publisher" ? zcp::QueuePolicy::kBlockPublisher
                                             : zcp::QueuePolicy::kDropOldest;
  auto sub = zcp::Subscriber<>::create(*rt, a.topic, o);
  if (!sub) return fail(sub.error().message);

  std::uint64_t got = 0;
  while (a.count == 0 || got < a.count) {
    if (g_stop.load(std::memory_order_relaxed)) break;
    bool any = false;
    while (a.count == 0 || got < a.count) {
      auto s = sub->take();
      if (!s) break;
      any = true;
      auto d = s->data();
      std::fwrite(d.data(), 1, d.size(), stdout);
      std::fputc('\n', stdout);
      ++got;
    }
    if (any && std::fflush(stdout) != 0) return 1;  // stdout closed (e.g. `| head`): done
    if (a.count != 0 && got >= a.count) break;
    if (!sub->wait(100ms) && !sub->connected()) {
      return fail("echo " + a.topic + ": " + rt->disconnect_reason().value_or(zcp::Error{}).message);
    }
  }
  std::fflush(stdout);
  if (sub->dropped() > 0) {
    std::fprintf(stderr, "zcp: echo %s: %llu messages dropped by the %s queue policy\n", a.topic.c_str(),
                 static_cast<unsigned long long>(sub->dropped()), a.policy.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zcp: the zerocp command-line client"};
  app.require_subcommand(1);

  PubArgs pa;
  auto* pub = app.add_subcommand("pub", "Publish each stdin line as one payload (without its newline)");
  pub->add_option("topic", pa.topic, "SERVICE/INSTANCE/EVENT")->required();
  pub->add_option("--instance", pa.instance, "diroute instance (default: $ZCP_INSTANCE, else 'default')");
  pub->add_option("--max-payload", pa.max_payload, "Longest line in bytes (picks the pool class)")
      ->capture_default_str();
  pub->add_option("--wait-subscribers", pa.wait_subscribers,
                  "Wait until the topic has this many subscribers before the first line")
      ->capture_default_str();
  pub->add_option("--history", pa.history, "Keep the last N payloads for late subscribers (zcp echo --history)");
  pub->add_option("--timeout", pa.timeout_s,
                  "Seconds to wait for subscribers, or for room when subscribers hold the publisher back")
      ->capture_default_str();

  EchoArgs ea;
  auto* echo = app.add_subcommand("echo", "Print each received payload as one line");
  echo->add_option("topic", ea.topic, "SERVICE/INSTANCE/EVENT")->required();
  echo->add_option("--count", ea.count, "Exit after this many payloads (0: until interrupted)");
  echo->add_option("--instance", ea.instance, "diroute instance (default: $ZCP_INSTANCE, else 'default')");
  echo->add_option("--policy", ea.policy, "Queue policy when this subscriber falls behind")
      ->check(CLI::IsMember({"drop_oldest", "drop_newest", "block_publisher"}))
      ->capture_default_str();
  echo->add_option("--queue-capacity", ea.queue_capacity, "Queue capacity (0: the daemon's default)");
  echo->add_option("--history", ea.history, "Past payloads wanted first (publishers' history)");

  CLI11_PARSE(app, argc, argv);
  install_signals();
  if (pub->parsed()) return run_pub(pa);
  return run_echo(ea);
}
