// Small command-line helpers shared by the subcommands.
#pragma once

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lockstep/config.hpp"

namespace lockstep::cli {

// Bad usage: printed with the command's usage, exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  Args(int argc, char** argv, int start) {
    for (int i = start; i < argc; ++i) v_.emplace_back(argv[i]);
  }
  explicit Args(std::vector<std::string> v) : v_(std::move(v)) {}
  // --name VALUE or --name=VALUE; removes it. Throws UsageError when VALUE is missing.
  std::optional<std::string> option(const std::string& name);
  bool flag(const std::string& name);  // --name; removes it
  // Remaining positional arguments; throws UsageError on any unknown --option.
  std::vector<std::string> positionals() const;

 private:
  std::vector<std::string> v_;
};

// The flags of `lockstep run` that override the configuration (--brokers, --group,
// --database-url, --metrics-listen, --naive); removes them from `args`.
ConfigOverrides run_flags(Args& args);

// Loads the configuration for a command (--config plus env plus overrides).
Config load(Args& args, const ConfigOverrides& flags = {});

// Blocks SIGINT/SIGTERM in every thread created after this call and starts a
// thread that sets `stop` when one arrives. Call first thing in a command.
void install_stop_signals(std::atomic<bool>& stop);

int parse_int(const std::string& what, const std::string& s, long lo, long hi);

int cmd_run(Args& args);
int cmd_migrate(Args& args);
int cmd_broker(Args& args);
int cmd_emit(Args& args);
int cmd_dlq(Args& args);
int cmd_verify(Args& args);
int cmd_topics(Args& args);
int cmd_config(Args& args);

}  // namespace lockstep::cli
