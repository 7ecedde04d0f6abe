// Hostile bytes on the real daemon's socket: random datagrams, truncated and oversized
// frames, bad CRCs and flags, unverifiable payloads, half-frames left idle, connections
// opened and closed by the thousand, a connection past the malformed-frame limit. Meanwhile
// a well-behaved client keeps registering and listing. Afterwards the daemon's own counters
// (its shutdown log) must show exactly the rejected frames the attackers sent, by class.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include <signal.h>

#include "daemon/config.hpp"
#include "daemon/counters.hpp"
#include "diroute_process.hpp"
#include "raw_client.hpp"
#include "support/test_support.hpp"

namespace zcp::daemon::test {
namespace {

using namespace std::chrono_literals;
using protocol::DecodeErrc;
using HostileInput = DaemonTest;

constexpr int kAttackers = 2;
constexpr int kChurnPerAttacker = 1500;  // connections opened and closed
constexpr int kSprayConnections = 20;
constexpr int kIdleConnections = 50;       // never send anything
constexpr int kHalfFrameConnections = 50;  // send a cut frame, then idle

struct Tally {
  std::array<std::atomic<std::uint64_t>, protocol::kDecodeErrcCount> sent;
  std::atomic<std::uint64_t> mismatches;
  std::atomic<std::uint64_t> connections;
};

// Builds hostile datagrams of each class.
class Forge {
 public:
  explicit Forge(unsigned seed) : rng_(seed) {}

  std::pair<std::vector<std::uint8_t>, DecodeErrc> random() {
    std::size_t len = 1 + rng_() % 2000;
    std::vector<std::uint8_t> b(len);
    for (auto& x : b)
      x = static_cast<std::uint8_t>(rng_());
    b[0] = static_cast<std::uint8_t>('A' + rng_() % 20);  // never "ZCPF"
    return {b, len < protocol::kFrameHeaderSize ? DecodeErrc::Truncated : DecodeErrc::BadMagic};
  }
  std::pair<std::vector<std::uint8_t>, DecodeErrc> of(int kind) {
    auto valid = *protocol::encode_register_process(1, "forged-" + std::to_string(rng_()), true);
    switch (kind % 7) {
      case 0:
        return random();
      case 1:
        valid.back() ^= 0x5A;
        return {valid, DecodeErrc::BadCrc};
      case 2:
        valid[6] = 0x80;
        return {valid, DecodeErrc::BadFlags};
      case 3:
        valid.resize(protocol::kFrameHeaderSize + (valid.size() - protocol::kFrameHeaderSize) / 2);
        return {valid, DecodeErrc::Truncated};
      case 4:
        return {std::vector<std::uint8_t>(70000, 0x5A), DecodeErrc::Oversized};
      case 5: {
        std::vector<std::uint8_t> junk(64);
        for (auto& x : junk)
          x = static_cast<std::uint8_t>(rng_());
        return {*protocol::make_frame(junk), DecodeErrc::VerifierFailed};
      }
      default: {
        flatbuffers::FlatBufferBuilder fbb;
        protocol::finish_request(fbb, fb::CreateRequest(fbb, 9, fb::RequestBody::NONE, 0));
        return {*protocol::make_frame(fbb), DecodeErrc::UnknownRequest};
      }
    }
  }

 private:
  std::mt19937 rng_;
};

// Sends one hostile datagram, checks the daemon's answer names its class, and tallies it.
bool expect_rejection(RawClient& c, const std::pair<std::vector<std::uint8_t>, DecodeErrc>& f,
                      Tally& t) {
  if (!c.send(f.first)) {
    ++t.mismatches;
    return false;
  }
  ++t.sent[static_cast<std::size_t>(f.second)];
  auto r = c.receive();
  if (!r || r->code() != protocol::to_result_code(f.second)) {
    ++t.mismatches;
    return false;
  }
  return true;
}

int attack(const std::string& path, unsigned seed, Tally& t) {
  Forge forge(seed);
  for (int i = 0; i < kChurnPerAttacker; ++i) {  // open and close, a third with one bad frame
    RawClient c = RawClient::connect(path);
    if (!c.valid()) {
      ++t.mismatches;
      continue;
    }
    ++t.connections;
    if (i % 3 == 0) expect_rejection(c, forge.random(), t);
  }
  for (int i = 0; i < kSprayConnections; ++i) {  // every class, below the limit
    RawClient c = RawClient::connect(path);
    ++t.connections;
    for (std::uint32_t k = 0; k + 1 < kDefaultMalformedFrameLimit; ++k) {
      expect_rejection(c, forge.of(static_cast<int>(k + i)), t);
    }
  }
  {  // past the limit: answered every time, then hung up on
    RawClient c = RawClient::connect(path);
    ++t.connections;
    for (std::uint32_t k = 0; k < kDefaultMalformedFrameLimit; ++k) {
      std::vector<std::uint8_t> junk(32, static_cast<std::uint8_t>('a' + k));
      expect_rejection(c, {junk, DecodeErrc::BadMagic}, t);
    }
    if (!c.wait_for_eof()) ++t.mismatches;
  }
  {  // another protocol version: told, then hung up on
    RawClient c = RawClient::connect(path);
    ++t.connections;
    auto f = *protocol::encode_list_topology(1);
    f[4] = 9;
    expect_rejection(c, {f, DecodeErrc::VersionMismatch}, t);
    if (!c.wait_for_eof()) ++t.mismatches;
  }
  return t.mismatches.load() == 0 ? 0 : 1;
}

TEST_F(HostileInput, DaemonKeepsServingAndCountsEveryRejectedFrame) {
  start_daemon();
  const std::string path = daemon_->socket_path();
  zcp::test::SharedAnon shared(sizeof(Tally));
  Tally& tally = *new (shared.get()) Tally{};

  // The well-behaved client, registered throughout.
  RawClient good = RawClient::connect(path);
  ASSERT_EQ(good.register_process("well-behaved", false)->code(), fb::ResultCode::Ok);
  ASSERT_EQ(good.create_subscriber({"md", "x", "trades"})->code(), fb::ResultCode::Ok);

  // Slowloris: idle connections and half-frames left hanging for the whole attack.
  std::vector<RawClient> idle;
  Forge forge(7);
  for (int i = 0; i < kIdleConnections; ++i)
    idle.push_back(RawClient::connect(path));
  for (int i = 0; i < kHalfFrameConnections; ++i) {
    idle.push_back(RawClient::connect(path));
    ASSERT_TRUE(expect_rejection(idle.back(), forge.of(3), tally));
  }

  std::vector<zcp::test::Child> attackers;
  for (int a = 0; a < kAttackers; ++a) {
    attackers.emplace_back(
        [&, a] { return attack(path, 1000u + static_cast<unsigned>(a), tally); });
  }

  // Honest clients are served while under attack: registrations and topology answers.
  std::vector<double> rtt_us;
  int probes = 0;
  auto finished = [&] {
    return std::all_of(attackers.begin(), attackers.end(),
                       [](zcp::test::Child& c) { return c.wait(0ms) != -1; });
  };
  while (!finished()) {
    RawClient probe = RawClient::connect(path);
    ASSERT_TRUE(probe.valid());
    auto t0 = std::chrono::steady_clock::now();
    auto r = probe.register_process("probe-" + std::to_string(probes++), false);
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(r) << "no reply to a registration under attack";
    ASSERT_EQ(r->code(), fb::ResultCode::Ok) << r->message();
    rtt_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    auto t = good.list_topology();
    ASSERT_TRUE(t);
    auto topo = topology_of(*t);
    ASSERT_TRUE(topo);
    ASSERT_TRUE(topo->has_pid(::getpid()));
    std::this_thread::sleep_for(5ms);  // polls finished(): a probe every 5 ms until the attack ends
  }
  for (zcp::test::Child& c : attackers)
    EXPECT_EQ(c.wait(0ms), 0);
  EXPECT_EQ(tally.mismatches.load(), 0u) << "some hostile frame got a wrong or no answer";
  std::sort(rtt_us.begin(), rtt_us.end());
  ASSERT_FALSE(rtt_us.empty());
  std::printf(
      "[ measured ] under attack (%llu hostile connections, %llu rejected frames): %zu "
      "registrations, round trip median %.0f us, max %.0f us\n",
      static_cast<unsigned long long>(tally.connections.load() + idle.size()),
      static_cast<unsigned long long>(
          std::accumulate(tally.sent.begin(), tally.sent.end(), 0ULL,
                          [](auto s, auto& v) { return s + v.load(); })),
      rtt_us.size(), rtt_us[rtt_us.size() / 2], rtt_us.back());

  // The well-behaved client is still fully served.
  ASSERT_EQ(good.create_publisher({"md", "x", "trades"})->code(), fb::ResultCode::Ok);
  idle.clear();

  EXPECT_EQ(daemon_->stop(SIGTERM), 0);
  auto counters = daemon_->counters();
  ASSERT_FALSE(counters.empty()) << daemon_->log();
  for (std::size_t i = 0; i < protocol::kDecodeErrcCount; ++i) {
    auto errc = static_cast<DecodeErrc>(i);
    std::string name(to_string(rejected_counter(errc)));
    EXPECT_EQ(counters[name], tally.sent[i].load()) << name;
  }
  EXPECT_EQ(counters["closed_malformed"], static_cast<std::uint64_t>(kAttackers));
  EXPECT_EQ(counters["registrations"], static_cast<std::uint64_t>(probes) + 1);
}

}  // namespace
}  // namespace zcp::daemon::test
