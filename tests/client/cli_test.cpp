// The zcp CLI end to end: `zcp pub | zcp echo` through the real diroute, as separate
// processes with pipes; stdout carries payloads only.
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

#include "pubsub_helpers.hpp"

namespace zcp::client_test {
namespace {

using namespace std::chrono_literals;
using zcp::test::Child;
using zcp::test::ProcessBarrier;
using zcp::test::SharedAnon;

pid_t spawn(std::vector<std::string> args, int in_fd, int out_fd) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int reap(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  if (!wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Everything `fd` yields until EOF or `timeout`.
std::string read_all(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  char buf[256];
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  return got;
}

TEST_F(PubSubTest, CliPubToEchoRoundTrip) {
  const std::string topic = "cli/round/trip";
  int out[2], in[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  pid_t echo =
      spawn({zcp_cli_path(), "echo", topic, "--count", "4", "--instance", instance_}, -1, out[1]);
  ::close(out[1]);
  ASSERT_GT(echo, 0);
  // Subscribed once a publisher on the topic counts it: the daemon counts a subscriber only
  // after the router delivers to it (asked from a child: the test holds no Runtime).
  Child probe([&] {
    auto rt = connect("probe");
    CHILD_CHECK(rt, "connect");
    auto p = Publisher<>::create(*rt, topic);
    CHILD_CHECK(p, "publisher: %s", p.error().message.c_str());
    CHILD_CHECK(wait_until([&] { return p->subscriber_count() >= 1; }, 10s),
                "zcp echo never subscribed");
    return 0;
  });
  ASSERT_EQ(probe.wait(kChildTimeout), 0);
  pid_t pub = spawn({zcp_cli_path(), "pub", topic, "--instance", instance_}, in[0], -1);
  ::close(in[0]);
  ASSERT_GT(pub, 0);
  const std::string lines = "hello\n\nworld with  spaces\nlast line without newline";
  ASSERT_EQ(::write(in[1], lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  ::close(in[1]);

  std::string got = read_all(out[0], 20s);
  ::close(out[0]);
  EXPECT_EQ(reap(pub, 10s), 0);
  EXPECT_EQ(reap(echo, 10s), 0);
  EXPECT_EQ(got, "hello\n\nworld with  spaces\nlast line without newline\n");
}

TEST_F(PubSubTest, CliPubWaitsForSubscribers) {
  const std::string topic = "cli/wait/subs";
  int out[2], in[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  // The publisher starts first and holds its lines until a subscriber is there.
  pid_t pub = spawn({zcp_cli_path(), "pub", topic, "--wait-subscribers", "1", "--timeout", "10"},
                    in[0], -1);
  ::close(in[0]);
  ASSERT_GT(pub, 0);
  ASSERT_EQ(::write(in[1], "one\ntwo\n", 8), 8);
  ::close(in[1]);
  // The subscriber comes only once the daemon lists zcp pub's publisher, with both lines
  // already on its stdin: without --wait-subscribers they would go to nobody.
  Child probe([&] {
    auto rt = connect("probe");
    CHILD_CHECK(rt, "connect");
    bool seen = wait_until(
        [&] {
          auto t = rt->list_topology();
          if (!t) return false;
          for (auto& p : t->publishers) {
            if (p.service + "/" + p.instance + "/" + p.event == topic) return true;
          }
          return false;
        },
        10s);
    CHILD_CHECK(seen, "zcp pub never created its publisher");
    return 0;
  });
  ASSERT_EQ(probe.wait(kChildTimeout), 0);
  pid_t echo = spawn({zcp_cli_path(), "echo", topic, "--count", "2"}, -1, out[1]);
  ::close(out[1]);
  ASSERT_GT(echo, 0);
  std::string got = read_all(out[0], 20s);
  ::close(out[0]);
  EXPECT_EQ(reap(pub, 15s), 0);
  EXPECT_EQ(reap(echo, 15s), 0);
  EXPECT_EQ(got, "one\ntwo\n");
}

}  // namespace
}  // namespace zcp::client_test
