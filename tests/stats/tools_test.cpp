// zcp-top --once --json and zcp ls/info/metrics/echo --format against the real diroute with
// real client processes: the counts the tools report equal what the scenario sent, received
// and dropped. No timing is asserted: the tools are polled until the counters settle.
#include <nlohmann/json.hpp>

#include "prom_parser.hpp"
#include "pubsub_helpers.hpp"
#include "tool_runner.hpp"

namespace zcp::client_test {
namespace {

using nlohmann::json;
using stats_test::parse_prometheus;
using stats_test::run_tool;

constexpr std::uint64_t kMessages = 100;

struct Scenario {
  std::atomic<int> ready{0};      // subscribers created
  std::atomic<int> published{0};  // the publisher flushed every message
  std::atomic<int> exit{0};       // the test has read the stats: children may leave
  std::atomic<std::uint64_t> a_got{0};
};

bool await(const std::atomic<int>& v, int at_least) {
  return wait_until([&] { return v.load() >= at_least; }, 30s);
}

const json* find_by_pid(const json& rows, pid_t pid) {
  for (const json& r : rows) {
    if (r.value("pid", -1) == pid) return &r;
  }
  return nullptr;
}

json top_json(const std::string& instance, const std::string& dir, const char* interval = "0") {
  auto r = run_tool(
      {ZCP_TOP_PATH, "--once", "--json", "--instance", instance, "--interval", interval}, dir);
  if (r.rc != 0) {
    ADD_FAILURE() << "zcp-top --once --json exited " << r.rc << ": " << r.err;
    return json::object();
  }
  return json::parse(r.out);
}

TEST_F(PubSubTest, TopJsonCountsEqualWhatWasSentReceivedAndDropped) {
  const std::string topic = "stats/scenario/counts";
  SharedAnon mem(sizeof(Scenario));
  auto* sc = new (mem.get()) Scenario;

  Child a([&] {  // lossless: takes every message
    auto rt = connect("sub-a");
    CHILD_CHECK(rt, "connect");
    SubscriberOptions o;
    o.policy = QueuePolicy::kBlockPublisher;
    auto sub = Subscriber<>::create(*rt, topic, o);
    CHILD_CHECK(sub, "subscribe: %s", sub.error().message.c_str());
    sc->ready.fetch_add(1);
    while (sc->a_got.load() < kMessages) {
      while (auto s = sub->take())
        sc->a_got.fetch_add(1);
      if (sc->a_got.load() < kMessages) sub->wait(100ms);
    }
    CHILD_CHECK(await(sc->exit, 1), "never released");
    return 0;
  });
  Child b([&] {  // never takes: its small drop_newest queue fills, the rest is dropped
    auto rt = connect("sub-b");
    CHILD_CHECK(rt, "connect");
    SubscriberOptions o;
    o.policy = QueuePolicy::kDropNewest;
    o.queue_capacity = 4;
    auto sub = Subscriber<>::create(*rt, topic, o);
    CHILD_CHECK(sub, "subscribe: %s", sub.error().message.c_str());
    sc->ready.fetch_add(1);
    CHILD_CHECK(await(sc->exit, 1), "never released");
    return 0;
  });
  ASSERT_TRUE(await(sc->ready, 2));
  Child p([&] {
    auto rt = connect("pub");
    CHILD_CHECK(rt, "connect");
    auto pub = Publisher<>::create(*rt, topic);
    CHILD_CHECK(pub, "publisher: %s", pub.error().message.c_str());
    CHILD_CHECK(wait_until([&] { return pub->subscriber_count() >= 2; }, 20s),
                "subscribers not seen");
    for (std::uint64_t i = 0; i < kMessages; ++i) {
      const std::string payload = "m" + std::to_string(i);
      auto bytes = std::as_bytes(std::span<const char>(payload.data(), payload.size()));
      for (;;) {
        auto r = pub->publish_copy(bytes, 10ms);
        if (r) break;
        CHILD_CHECK(r.error().code == Errc::kWouldBlock || r.error().code == Errc::kPoolExhausted,
                    "publish: %s", r.error().message.c_str());
      }
    }
    CHILD_CHECK(pub->flush(20s), "flush");
    sc->published.store(1);
    CHILD_CHECK(await(sc->exit, 1), "never released");
    return 0;
  });
  ASSERT_TRUE(await(sc->published, 1));

  // The workers bump their counters as they route; poll until the snapshot shows all of it.
  json j;
  const json *jp = nullptr, *ja = nullptr, *jb = nullptr;
  bool settled = wait_until(
      [&] {
        j = top_json(instance_, runtime_dir_);
        if (!j.contains("publishers")) return false;
        jp = find_by_pid(j["publishers"], p.pid());
        ja = find_by_pid(j["subscribers"], a.pid());
        jb = find_by_pid(j["subscribers"], b.pid());
        return jp && ja && jb && (*jp)["published"] == kMessages &&
               (*ja)["delivered"] == kMessages &&
               (*jb)["delivered"].get<std::uint64_t>() + (*jb)["dropped"].get<std::uint64_t>() ==
                   kMessages;
      },
      20s);
  EXPECT_TRUE(settled) << "last snapshot: " << j.dump(2);
  ASSERT_TRUE(jp && ja && jb) << j.dump(2);

  EXPECT_EQ((*jp)["service"], "stats");
  EXPECT_EQ((*jp)["instance"], "scenario");
  EXPECT_EQ((*jp)["event"], "counts");
  EXPECT_EQ((*jp)["published"], kMessages);
  EXPECT_EQ((*ja)["delivered"], kMessages);
  EXPECT_EQ((*ja)["dropped"], 0);
  EXPECT_EQ((*ja)["depth"], 0) << "A took everything";
  const auto b_cap = (*jb)["capacity"].get<std::uint64_t>();
  EXPECT_EQ(b_cap, 4U);
  EXPECT_EQ((*jb)["delivered"], std::min(kMessages, b_cap));
  EXPECT_EQ((*jb)["dropped"], kMessages - std::min(kMessages, b_cap));
  EXPECT_EQ((*jb)["depth"], (*jb)["delivered"]) << "B never took";
  EXPECT_EQ(sc->a_got.load(), kMessages);

  for (pid_t pid : {a.pid(), b.pid(), p.pid()}) {
    const json* proc = find_by_pid(j["processes"], pid);
    ASSERT_NE(proc, nullptr) << "process " << pid << " missing: " << j["processes"].dump();
    EXPECT_TRUE((*proc)["name"].is_string());
    EXPECT_TRUE((*proc)["heartbeat_age_ms"].is_number() || (*proc)["heartbeat_age_ms"].is_null());
  }
  ASSERT_FALSE(j["pools"].empty());
  for (const json& pool : j["pools"]) {
    EXPECT_GT(pool["total"].get<std::uint64_t>(), 0U);
    EXPECT_LE(pool["free"].get<std::uint64_t>(), pool["total"].get<std::uint64_t>());
    EXPECT_LE(pool["min_free"].get<std::uint64_t>(), pool["total"].get<std::uint64_t>());
    EXPECT_TRUE(pool.contains("chunk_size"));
  }
  ASSERT_FALSE(j["workers"].empty());
  std::uint64_t routed = 0;
  for (const json& w : j["workers"]) {
    EXPECT_TRUE(w.contains("id") && w.contains("cpu"));
    routed += w["routed"].get<std::uint64_t>();
  }
  EXPECT_GE(routed, kMessages);

  // zcp metrics: every line is valid exposition format, and it carries the same counts.
  auto m = run_tool({ZCP_CLI_PATH, "metrics", "--instance", instance_}, runtime_dir_);
  ASSERT_EQ(m.rc, 0) << m.err;
  auto prom = parse_prometheus(m.out);
  for (const std::string& e : prom.errors)
    ADD_FAILURE() << e;
  const auto* published =
      prom.find("zcp_publisher_published_total",
                {{"service", "stats"}, {"event", "counts"}, {"pid", std::to_string(p.pid())}});
  ASSERT_NE(published, nullptr) << m.out;
  EXPECT_EQ(published->value, static_cast<double>(kMessages));
  const auto* dropped =
      prom.find("zcp_subscriber_dropped_total", {{"pid", std::to_string(b.pid())}});
  ASSERT_NE(dropped, nullptr);
  EXPECT_EQ(dropped->value, static_cast<double>((*jb)["dropped"].get<std::uint64_t>()));

  // zcp ls: the topic with one publisher and two subscribers.
  auto ls =
      run_tool({ZCP_CLI_PATH, "ls", "--instance", instance_, "--interval", "50"}, runtime_dir_);
  ASSERT_EQ(ls.rc, 0) << ls.err;
  bool listed = false;
  std::istringstream lines(ls.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream cols(line);
    std::string name, pubs, subs;
    cols >> name >> pubs >> subs;
    if (name == topic) listed = pubs == "1" && subs == "2";
  }
  EXPECT_TRUE(listed) << ls.out;

  // zcp info: daemon, socket, segment, regions, pools.
  auto info = run_tool({ZCP_CLI_PATH, "info", "--instance", instance_}, runtime_dir_);
  ASSERT_EQ(info.rc, 0) << info.err;
  for (const std::string& want :
       {runtime_dir_ + "/" + instance_ + ".sock", "/zcp." + instance_ + ".seg",
        std::string("queue_arena"), std::string("CHUNK_SIZE")}) {
    EXPECT_NE(info.out.find(want), std::string::npos) << want << " not in:\n" << info.out;
  }

  // Two snapshots apart: zcp-top adds the rates object.
  json rated = top_json(instance_, runtime_dir_, "100");
  EXPECT_TRUE(rated.contains("rates")) << rated.dump();

  sc->exit.store(1);
  EXPECT_EQ(p.wait(kChildTimeout), 0);
  EXPECT_EQ(a.wait(kChildTimeout), 0);
  EXPECT_EQ(b.wait(kChildTimeout), 0);
}

TEST_F(PubSubTest, EchoFormatJsonWritesHeaderFieldsAndTextOrBase64) {
  const std::string topic = "stats/echo/json";
  Child p([&] {
    auto rt = connect("pub");
    CHILD_CHECK(rt, "connect");
    auto pub = Publisher<>::create(*rt, topic);
    CHILD_CHECK(pub, "publisher: %s", pub.error().message.c_str());
    CHILD_CHECK(wait_until([&] { return pub->subscriber_count() >= 1; }, 20s),
                "zcp echo never subscribed");
    const std::string text = "hello \xc3\xa9t\xc3\xa9";  // UTF-8
    const unsigned char binary[] = {0x00, 0xff, 0x10};
    CHILD_CHECK(pub->publish_copy(std::as_bytes(std::span<const char>(text.data(), text.size()))),
                "publish");
    CHILD_CHECK(pub->publish_copy(std::as_bytes(std::span<const unsigned char>(binary, 3))),
                "publish");
    CHILD_CHECK(pub->flush(20s), "flush");
    CHILD_CHECK(wait_until([&] { return pub->subscriber_count() == 0; }, 20s),
                "zcp echo never left");
    return 0;
  });
  auto r = run_tool(
      {ZCP_CLI_PATH, "echo", topic, "--count", "2", "--format", "json", "--instance", instance_},
      runtime_dir_);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(p.wait(kChildTimeout), 0);
  std::istringstream lines(r.out);
  std::string l1, l2, extra;
  ASSERT_TRUE(std::getline(lines, l1) && std::getline(lines, l2)) << r.out;
  EXPECT_FALSE(std::getline(lines, extra)) << "one object per message";
  json m1 = json::parse(l1), m2 = json::parse(l2);
  EXPECT_EQ(m1["text"], "hello \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(m1["size"], 11);
  EXPECT_FALSE(m1.contains("base64"));
  EXPECT_EQ(m2["base64"], "AP8Q");
  EXPECT_EQ(m2["size"], 3);
  EXPECT_FALSE(m2.contains("text"));
  EXPECT_EQ(m2["sequence"].get<std::uint64_t>(), m1["sequence"].get<std::uint64_t>() + 1);
  EXPECT_EQ(m1["publisher_id"], m2["publisher_id"]);
  EXPECT_GT(m1["timestamp_ns"].get<std::uint64_t>(), 0U);
  EXPECT_LE(m1["timestamp_ns"].get<std::uint64_t>(), m2["timestamp_ns"].get<std::uint64_t>());
}

TEST(StatsToolsNoDaemon, EveryReaderExitsNonZeroWithAClearMessage) {
  const std::string inst = zcp::test::unique_instance("none");
  const std::string expect =
      "no diroute is running on instance " + inst + " (no segment /zcp." + inst + ".seg)";
  const std::string dir = "/tmp";
  std::vector<std::vector<std::string>> commands = {
      {ZCP_TOP_PATH, "--once", "--instance", inst},
      {ZCP_TOP_PATH, "--once", "--json", "--instance", inst},
      {ZCP_TOP_PATH, "--instance", inst},  // the live screen: refuses before touching the terminal
      {ZCP_CLI_PATH, "ls", "--instance", inst},
      {ZCP_CLI_PATH, "info", "--instance", inst},
      {ZCP_CLI_PATH, "metrics", "--instance", inst}};
  for (auto& cmd : commands) {
    auto r = run_tool(cmd, dir);
    EXPECT_EQ(r.rc, 1) << cmd[0] << " " << cmd[1];
    EXPECT_NE(r.err.find(expect), std::string::npos) << cmd[0] << " " << cmd[1] << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace zcp::client_test
