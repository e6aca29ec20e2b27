// `lockstep config show|keys`: the effective configuration and the table of keys.
#include <iostream>

#include "cli.hpp"
#include "lockstep/config_keys.hpp"

namespace lockstep::cli {
namespace {

constexpr const char* kUsage =
    "usage: lockstep config show [--config FILE] [--naive] [--brokers B] [--group G] [--database-url U]\n"
    "                            [--metrics-listen L]\n"
    "       lockstep config keys [--markdown]\n"
    "  show  the effective configuration, one line per key: its value (passwords in URLs and\n"
    "        kafka.properties values masked) and where it came from (file, environment, flag, default);\n"
    "        flags as for `lockstep run`; exit 2 when the configuration is bad\n"
    "  keys  every configuration key with its type, default, accepted values and what overrides it\n"
    "        (--markdown: the table of docs/configuration.md)";

struct ConfigOptions {
  Connection conn;
  ConfigOverrides flags;
  bool markdown = false;
};

int show(const ConfigOptions& o) {
  std::cout << render_config_show(load_config_traced(config_path(o.conn), process_env(), with_connection(o.conn, o.flags)));
  return 0;
}

}  // namespace

void add_config(CLI::App& app, Action& action) {
  auto o = std::make_shared<ConfigOptions>();
  auto* cmd = app.add_subcommand("config", "config show|keys: the effective configuration, or every key");
  cmd->require_subcommand(1);
  cmd->footer(kUsage);
  auto* show_cmd = cmd->add_subcommand("show", "the effective configuration (secrets masked) and where each value "
                                               "came from; takes run's flags");
  add_connection_flags(show_cmd, o->conn);
  add_run_flags(show_cmd, o->flags);
  show_cmd->callback([&action, o] { action = [o] { return show(*o); }; });
  auto* keys = cmd->add_subcommand("keys", "every configuration key with its type, default and accepted values");
  keys->add_flag("--markdown", o->markdown, "as the Markdown table of docs/configuration.md");
  keys->callback([&action, o] {
    action = [o] {
      std::cout << (o->markdown ? config_keys_markdown() : config_keys_text());
      return 0;
    };
  });
}

}  // namespace lockstep::cli
