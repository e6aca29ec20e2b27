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
    "        (--markdown: the table in README.md)";

}  // namespace

int cmd_config(Args& args) {
  if (args.flag("--help") || args.flag("-h")) {
    std::cout << kUsage << "\n";
    return 0;
  }
  const ConfigOverrides flags = run_flags(args);
  const auto path = args.option("--config");
  const bool markdown = args.flag("--markdown");
  const auto pos = args.positionals();
  if (pos.size() == 1 && pos[0] == "show" && !markdown) {
    std::cout << render_config_show(load_config_traced(path, process_env(), flags));
    return 0;
  }
  if (pos.size() == 1 && pos[0] == "keys") {
    std::cout << (markdown ? config_keys_markdown() : config_keys_text());
    return 0;
  }
  throw UsageError(kUsage);
}

}  // namespace lockstep::cli
