// Instance naming: one instance name derives the socket path and every shm name, so several
// daemons (tests, users) run side by side without clashing. See BRIEF "Shared contracts".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <zcp/expected.hpp>

namespace zcp {

// Longest instance name. It ends up inside shm names (NAME_MAX 255) and in the socket
// path (sun_path is 108 bytes), so it is kept short.
inline constexpr std::size_t kMaxInstanceName = 48;

struct InstancePaths {
  std::string instance;     // validated name
  std::string runtime_dir;  // $ZCP_RUNTIME_DIR, else $XDG_RUNTIME_DIR/zcp, else /tmp/zcp-$UID
  std::string socket_path;  // <runtime_dir>/<instance>.sock

  // Name of a POSIX shm object for this instance: "/zcp.<instance>.<region>".
  std::string shm_name(std::string_view region) const;
};

// Checks an instance name: 1..48 characters from [A-Za-z0-9_.-], not starting with '.'.
// Returns a message naming the problem, or nullopt when the name is fine.
std::optional<std::string> instance_name_problem(std::string_view name);

// Resolves the instance: `cli` if given and non-empty, else $ZCP_INSTANCE, else "default".
// Fails with a message if the name is invalid or the socket path would not fit sun_path.
Expected<InstancePaths, std::string> resolve_instance(std::optional<std::string> cli = {});

}  // namespace zcp
