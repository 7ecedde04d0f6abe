// zcp pub and zcp echo: the data path through libzcp and the daemon (moved from main.cpp;
// echo now writes each message as text, hex or one JSON object).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>
#include <signal.h>

#include <zcp/zcp.hpp>

#include "commands.hpp"

namespace zcp::cli {
namespace {

using namespace std::chrono_literals;

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}

std::unique_ptr<zcp::Runtime> connect(const std::string& instance, const char* role,
                                      std::string& error) {
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

// True if `bytes` is valid UTF-8 without control characters other than tab, newline and
// carriage return: such a payload is shown as JSON text, anything else as base64.
bool printable_utf8(std::span<const std::byte> bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return false;
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1fU;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0fU;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07U;
    } else
      return false;
    if (i + n >= bytes.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(bytes[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3fU);
    }
    // overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp < 0xa0) return false;  // C1 controls
    i += n + 1;
  }
  return true;
}

std::string base64(std::span<const std::byte> bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (std::to_integer<std::uint32_t>(bytes[i]) << 16) |
                            (std::to_integer<std::uint32_t>(bytes[i + 1]) << 8) |
                            std::to_integer<std::uint32_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = std::to_integer<std::uint32_t>(bytes[i]) << 16;
    if (rest == 2) v |= std::to_integer<std::uint32_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// One message on stdout, in `format`, ending with a newline.
void write_message(const Sample<>& s, const std::string& format) {
  const std::span<const std::byte> d = s.data();
  if (format == "hex") {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string line;
    line.reserve(d.size() * 2 + 1);
    for (std::byte b : d) {
      line += kHex[std::to_integer<unsigned>(b) >> 4];
      line += kHex[std::to_integer<unsigned>(b) & 15];
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  } else if (format == "json") {
    nlohmann::json o = {{"sequence", s.sequence()},
                        {"publisher_id", s.publisher_id()},
                        {"timestamp_ns", s.timestamp_ns()},
                        {"size", d.size()}};
    if (printable_utf8(d)) {
      o["text"] = std::string(reinterpret_cast<const char*>(d.data()), d.size());
    } else {
      o["base64"] = base64(d);
    }
    const std::string line = o.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  } else {
    std::fwrite(d.data(), 1, d.size(), stdout);
    std::fputc('\n', stdout);
  }
}

}  // namespace

int fail(const std::string& what) {
  std::fprintf(stderr, "zcp: %s\n", what.c_str());
  return 1;
}

void install_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: a signal ends wait() early
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout is seen by fwrite/fflush instead
}

bool stop_requested() noexcept {
  return g_stop.load(std::memory_order_relaxed);
}

int run_pub(const PubArgs& a) {
  std::string err;
  auto rt = connect(a.instance, "pub", err);
  if (!rt) return fail(err);
  zcp::PublisherOptions o;
  o.max_payload = a.max_payload;
  o.history_depth = a.history;
  auto pub = zcp::Publisher<>::create(*rt, a.topic, o);
  if (!pub) return fail(pub.error().message);
  const auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(a.timeout_s));

  if (a.wait_subscribers > 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pub->subscriber_count() < a.wait_subscribers) {
      if (stop_requested()) return 1;
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
  while (!stop_requested() && std::getline(std::cin, line)) {
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
      if (!transient || std::chrono::steady_clock::now() > deadline || stop_requested()) {
        return fail(r.error().message);
      }
    }
  }
  if (auto r = pub->flush(timeout); !r) return fail(r.error().message);
  return rc;
}

int run_echo(const EchoArgs& a) {
  std::string err;
  auto rt = connect(a.instance, "echo", err);
  if (!rt) return fail(err);
  zcp::SubscriberOptions o;
  o.queue_capacity = a.queue_capacity;
  o.history_request = a.history;
  // main() checked the name against the same three (CLI::IsMember).
  o.policy = zcp::queue_policy_from_string(a.policy).value_or(zcp::QueuePolicy::kDropOldest);
  auto sub = zcp::Subscriber<>::create(*rt, a.topic, o);
  if (!sub) return fail(sub.error().message);

  std::uint64_t got = 0;
  while (a.count == 0 || got < a.count) {
    if (stop_requested()) break;
    bool any = false;
    while (a.count == 0 || got < a.count) {
      auto s = sub->take();
      if (!s) break;
      any = true;
      write_message(*s, a.format);
      ++got;
    }
    if (any && std::fflush(stdout) != 0) return 1;  // stdout closed (e.g. `| head`): done
    if (a.count != 0 && got >= a.count) break;
    if (!sub->wait(100ms) && !sub->connected()) {
      return fail("echo " + a.topic + ": " +
                  rt->disconnect_reason().value_or(zcp::Error{}).message);
    }
  }
  std::fflush(stdout);
  if (sub->dropped() > 0) {
    std::fprintf(stderr, "zcp: echo %s: %llu messages dropped by the %s queue policy\n",
                 a.topic.c_str(), static_cast<unsigned long long>(sub->dropped()),
                 a.policy.c_str());
  }
  return 0;
}

}  // namespace zcp::cli
