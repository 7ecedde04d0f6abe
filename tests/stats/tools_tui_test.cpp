// zcp-top's live screen under tmux, 80x24: it shows a live topic with a non-zero rate, and
// quits on `q`. Skipped when tmux is not installed. tmux runs on a private server socket
// (-L), so a user's tmux is never touched, and the server is killed at the end.
#include "pubsub_helpers.hpp"
#include "tool_runner.hpp"

namespace zcp::client_test {
namespace {

using stats_test::on_path;
using stats_test::run_tool;

// The row of `topic` on the Topics panel: TOPIC PUBS SUBS MSGS/S ...; its MSGS/S column.
std::string rate_column(const std::string& screen, const std::string& topic) {
  std::istringstream lines(screen);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream cols(line);
    std::string name, pubs, subs, rate;
    cols >> name >> pubs >> subs >> rate;
    if (name == topic) return rate;
  }
  return "";
}

TEST_F(PubSubTest, ZcpTopUnderTmuxShowsTheLiveTopicAndItsRateAndQuitsOnQ) {
  if (!on_path("tmux")) GTEST_SKIP() << "tmux is not installed";
  const std::string topic = "tui/live/rate";
  const std::string server = "zcp-" + instance_;
  SharedAnon mem(sizeof(std::atomic<int>));
  auto* stop = new (mem.get()) std::atomic<int>(0);
  Child p([&] {
    auto rt = connect("tui-pub");
    CHILD_CHECK(rt, "connect");
    auto pub = Publisher<>::create(*rt, topic);
    CHILD_CHECK(pub, "publisher: %s", pub.error().message.c_str());
    const char payload[] = "tick";
    while (stop->load() == 0) {
      (void)pub->publish_copy(std::as_bytes(std::span<const char>(payload, 4)));
      // A steady rate for zcp-top to measure: the test waits for a non-zero rate on screen.
      std::this_thread::sleep_for(1ms);
    }
    return 0;
  });
  auto tmux = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"tmux", "-L", server});
    return run_tool(std::move(args), runtime_dir_, 10s);
  };
  auto started = tmux({"new-session", "-d", "-s", "top", "-x", "80", "-y", "24",
                       std::string(ZCP_TOP_PATH) + " --instance " + instance_ + " --interval 200"});
  ASSERT_EQ(started.rc, 0) << started.err;

  std::string screen, rate;
  bool live = wait_until(
      [&] {
        auto cap = tmux({"capture-pane", "-p", "-t", "top"});
        if (cap.rc != 0) return false;
        screen = cap.out;
        rate = rate_column(screen, topic);
        return !rate.empty() && rate != "0";
      },
      20s);
  EXPECT_TRUE(live) << "topic " << topic << " with a non-zero MSGS/S not shown; last screen:\n"
                    << screen;
  EXPECT_NE(screen.find("q quit"), std::string::npos) << screen;
  for (const std::string& line : [&] {
         std::vector<std::string> v;
         std::istringstream in(screen);
         for (std::string l; std::getline(in, l);)
           v.push_back(l);
         return v;
       }()) {
    EXPECT_LE(line.size(), 80U) << "wider than the terminal: " << line;
  }

  ASSERT_EQ(tmux({"send-keys", "-t", "top", "q"}).rc, 0);
  // The session ends when its only program, zcp-top, exits.
  bool quit = wait_until([&] { return tmux({"has-session", "-t", "top"}).rc != 0; }, 10s);
  EXPECT_TRUE(quit) << "zcp-top did not quit on q";
  tmux({"kill-server"});
  stop->store(1);
  EXPECT_EQ(p.wait(kChildTimeout), 0);
}

}  // namespace
}  // namespace zcp::client_test
