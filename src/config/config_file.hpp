// diroute's configuration file: TOML in, daemon::DaemonConfig out, and back.
//
// Sections (docs/configuration.md lists every key, its type, default and range):
//   [daemon] [heartbeat] [reactor] [router] [[pools]] [publishers] [subscribers] [limits]
//   [access] [[access.allow]] [memory]
// Every error names the file, the line and the key:
//   /etc/zcp/diroute.toml:12:1: router.idel: unknown key (did you mean 'idle'?)
// Precedence, lowest first: the embedded defaults (default_config()), the file, then the
// command-line flags that were given (tools/diroute applies them and calls validate()).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <zcp/expected.hpp>

#include "daemon/daemon.hpp"

namespace zcp::config {

// The embedded defaults: what `diroute` runs with when no file is given. paths.instance and
// paths.runtime_dir are empty: the environment decides them (resolve_paths).
daemon::DaemonConfig default_config();

// Parses TOML text on top of `base`; `source` names the text in messages (a file path).
Expected<daemon::DaemonConfig, std::string> parse_config(
    std::string_view text, std::string_view source,
    const daemon::DaemonConfig& base = default_config());
// Reads and parses a file ("-" reads standard input).
Expected<daemon::DaemonConfig, std::string> load_config_file(
    const std::string& path, const daemon::DaemonConfig& base = default_config());

// Checks the relations between settings (timeout above interval, defaults under caps, pools,
// CPUs). parse_config runs it too; diroute runs it again after the command-line overrides.
// Returns a message naming the settings involved.
std::optional<std::string> validate(const daemon::DaemonConfig& cfg);

// Fills cfg.paths: the instance is `instance` if set, else cfg.paths.instance if the file set
// it, else $ZCP_INSTANCE, else "default"; the runtime directory is cfg.paths.runtime_dir if
// the file set it, else the environment's (common/instance.hpp).
Expected<InstancePaths, std::string> resolve_paths(
    const daemon::DaemonConfig& cfg, std::optional<std::string> instance = std::nullopt);

// CPU checks shared by the parser and diroute: a message if `cpu` does not exist or is not in
// this process's allowed set (sched_getaffinity), naming the allowed CPUs.
std::optional<std::string> cpu_problem(int cpu);
std::string allowed_cpus();

struct TomlStyle {
  bool comments = true;  // explain each key (--print-default-config); false: terse (logs, stats)
};

// The configuration as a TOML document that parse_config accepts and that yields the same
// configuration back. Used by --print-default-config, the start-up log and `zcp info`.
// An empty paths.instance or paths.runtime_dir (the defaults) is written as a comment, so a
// file made from the defaults keeps following $ZCP_INSTANCE and $ZCP_RUNTIME_DIR.
std::string to_toml(const daemon::DaemonConfig& cfg, TomlStyle style = {});

}  // namespace zcp::config
