// Writes the seed corpus for frame_fuzz: one valid frame of every request and reply type,
// plus a few rejections, as files in the directory given. Generated at run time (by
// scripts/run-fuzz.sh) so no binary file is committed and the seeds follow the schema.
//
// Usage: frame_fuzz_seeds DIR
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "protocol/encode.hpp"

namespace {

using namespace zcp::protocol;  // NOLINT: generator brevity
namespace fb = zcp::fb;

bool write_file(const std::string& path, const Frame& frame) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    return false;
  }
  const bool ok = std::fwrite(frame.data(), 1, frame.size(), f) == frame.size();
  return (std::fclose(f) == 0) && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const Topic topic{"md", "NASDAQ", "AAPL.trades"};
  const std::vector<TopologyProcess> procs{{0, 100, 1000, "feed", true}, {1, 101, 0, "gui", false}};
  const std::vector<TopologyPublisher> pubs{{1, 0, topic}};
  const std::vector<TopologySubscriber> subs{{2, 1, topic, 64, fb::QueuePolicy::BlockPublisher}};

  std::vector<std::pair<const char*, EncodeResult>> seeds;
  seeds.emplace_back("hello", encode_hello(1, "libzcp 0.1.0"));
  seeds.emplace_back("register", encode_register_process(2, "feed", true));
  seeds.emplace_back("unregister", encode_unregister_process(3));
  seeds.emplace_back("create_publisher", encode_create_publisher(4, topic, {2, 8}));
  seeds.emplace_back("create_subscriber",
                     encode_create_subscriber(5, topic, {64, fb::QueuePolicy::DropNewest, 2}));
  seeds.emplace_back("destroy_publisher", encode_destroy_publisher(6, 1));
  seeds.emplace_back("destroy_subscriber", encode_destroy_subscriber(7, 2));
  seeds.emplace_back("list_topology", encode_list_topology(8));
  seeds.emplace_back("hello_reply", encode_hello_reply(1, "diroute 0.1.0"));
  seeds.emplace_back("register_reply", encode_register_process_reply(
                                           2, {3, 300, 3000, "/zcp.default.seg", 1 << 20, 1}));
  seeds.emplace_back("publisher_reply",
                     encode_publisher_reply(4, {1, fb::QueueDescriptor(4096, 64, 16, 8, 1), 2, 0}));
  seeds.emplace_back("subscriber_reply",
                     encode_subscriber_reply(5, 2, fb::QueueDescriptor(8192, 64, 16, 8, 2)));
  seeds.emplace_back("ack", encode_ack(6));
  seeds.emplace_back("topology_reply", encode_topology_reply(8, procs, pubs, subs));
  seeds.emplace_back("shutdown", encode_daemon_shutdown("SIGTERM"));
  seeds.emplace_back("error", encode_error_response(9, fb::ResultCode::NotFound, "no such id"));
  seeds.emplace_back("rejection",
                     encode_rejection({DecodeErrc::VersionMismatch, 2, kProtocolVersion}));

  for (const auto& [name, frame] : seeds) {
    if (!frame) {
      std::fprintf(stderr, "seed %s: encode failed: %s\n", name,
                   std::string(to_string(frame.error())).c_str());
      return 1;
    }
    if (!write_file(std::string(argv[1]) + "/" + name, *frame)) return 1;
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), argv[1]);
  return 0;
}
