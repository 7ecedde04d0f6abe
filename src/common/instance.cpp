#include "common/instance.hpp"

#include <cstdlib>

#include <sys/un.h>
#include <unistd.h>

namespace zcp {

std::string InstancePaths::shm_name(std::string_view region) const {
  std::string name = "/zcp.";
  name += instance;
  name += '.';
  name += region;
  return name;
}

std::optional<std::string> instance_name_problem(std::string_view name) {
  if (name.empty()) return "instance name is empty";
  if (name.size() > kMaxInstanceName) {
    return "instance name '" + std::string(name) + "' is longer than " +
           std::to_string(kMaxInstanceName) + " characters";
  }
  if (name.front() == '.') return "instance name '" + std::string(name) + "' starts with '.'";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) {
      return "instance name '" + std::string(name) + "' has character '" + std::string(1, c) +
             "'; allowed are letters, digits, '_', '-' and '.'";
    }
  }
  return std::nullopt;
}

static std::string default_runtime_dir() {
  if (const char* d = std::getenv("ZCP_RUNTIME_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) return std::string(x) + "/zcp";
  return "/tmp/zcp-" + std::to_string(::getuid());
}

Expected<InstancePaths, std::string> resolve_instance(std::optional<std::string> cli) {
  std::string name;
  if (cli && !cli->empty()) {
    name = *cli;
  } else if (const char* env = std::getenv("ZCP_INSTANCE"); env && *env) {
    name = env;
  } else {
    name = "default";
  }
  if (auto problem = instance_name_problem(name)) return Unexpected(*problem);

  InstancePaths p;
  p.instance = name;
  p.runtime_dir = default_runtime_dir();
  p.socket_path = p.runtime_dir + "/" + name + ".sock";
  if (p.socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Unexpected(
        "socket path '" + p.socket_path + "' is longer than the " +
        std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
        " bytes a Unix socket path may have; set ZCP_RUNTIME_DIR to a shorter directory");
  }
  return p;
}

}  // namespace zcp
