// The command-line interface: each command registers itself on the CLI11 parser
// (add_*), binding its flags to its own options; parsing selects one Action.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lockstep/config.hpp"
#include "lockstep/kafka.hpp"

namespace lockstep::cli {

// Bad usage: "lockstep CMD: message", exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the parsed command line asks for; set by the selected command's callback.
using Action = std::function<int()>;

// The flags every command that reads configuration or connects shares.
struct Connection {
  std::optional<std::string> config;        // --config (else LOCKSTEP_CONFIG, else the default)
  std::optional<std::string> brokers;       // --brokers
  std::optional<std::string> database_url;  // --database-url
  std::optional<int> timeout_ms;            // --timeout-ms where the command has it
};

// --NAME VALUE into `dst` (set only when given).
CLI::Option* add_string(CLI::App* app, const std::string& name, std::optional<std::string>& dst,
                        const std::string& help);
// --config FILE.
void add_config_flag(CLI::App* app, Connection& c);
// --config, --brokers, --database-url.
void add_connection_flags(CLI::App* app, Connection& c);
// --timeout-ms N (1 ms .. 1 h), default `fallback` (documented in the help).
void add_timeout_flag(CLI::App* app, Connection& c, int fallback, const std::string& what);
std::chrono::milliseconds timeout_of(const Connection& c, int fallback);

// The config path: --config, else LOCKSTEP_CONFIG when set and not empty, else none (the default).
std::optional<std::string> config_path(const Connection& c);
// `extra` with the connection flags of `c` (--brokers, --database-url) added.
ConfigOverrides with_connection(const Connection& c, ConfigOverrides extra = {});
// Loads the configuration (file, environment, then the flags in `c` and `extra`).
// With an explicit --timeout-ms, a PostgreSQL URL without connect_timeout gets one.
Config load(const Connection& c, ConfigOverrides extra = {});

// kafka.properties with message.timeout.ms bounded by `timeout` (when --timeout-ms
// was given, or the properties do not set it).
KafkaProps bounded_props(const Config& cfg, std::chrono::milliseconds timeout, bool explicit_timeout);

// Blocks SIGINT/SIGTERM in every thread created after this call and starts a
// thread that sets `stop` when one arrives. Call first thing in a command.
void install_stop_signals(std::atomic<bool>& stop);

int parse_int(const std::string& what, const std::string& s, long lo, long hi);

// "lockstep <version> (commit <sha>)\nschema: needs migration <N>\n".
std::string version_text();

// run's own overrides: --group, --metrics-listen, --naive (`config show` takes them too).
void add_run_flags(CLI::App* sub, ConfigOverrides& f);

void add_run(CLI::App& app, Action& action);
void add_migrate(CLI::App& app, Action& action);
void add_broker(CLI::App& app, Action& action);
void add_emit(CLI::App& app, Action& action);
void add_dlq(CLI::App& app, Action& action);
void add_verify(CLI::App& app, Action& action);
void add_topics(CLI::App& app, Action& action);
void add_config(CLI::App& app, Action& action);
void add_completion(CLI::App& app, Action& action);

// The whole parser: every command, -h/--help everywhere, -V/--version.
std::unique_ptr<CLI::App> make_app(Action& action);
// A bash completion script for `app` (its commands, subcommands and options).
std::string bash_completion(const CLI::App& app);
// Parses `args` (without argv[0]). Returns the exit code when there is nothing
// left to run (help, version, a usage error: printed here), else std::nullopt
// with `action` set; `command` gets the command's name ("dlq list") either way.
std::optional<int> parse_command_line(CLI::App& app, const Action& action, std::vector<std::string> args,
                                      std::string& command);

}  // namespace lockstep::cli
