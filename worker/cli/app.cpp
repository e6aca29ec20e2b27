// The parser: every command on CLI11, help on each, `help CMD [SUB]`, the version,
// and CLI11's errors turned into "lockstep CMD: message" and exit 2.
#include <algorithm>
#include <iostream>

#include "build_info.hpp"
#include "cli.hpp"
#include "lockstep/store.hpp"

namespace lockstep::cli {
namespace {

constexpr const char* kFooter = R"(Run `lockstep COMMAND --help` (or `lockstep help COMMAND [SUB]`) for a command's options.

Configuration: --config FILE, else $LOCKSTEP_CONFIG, else config/lockstep.yaml, else
built-in; then LOCKSTEP_KAFKA_BROKERS, LOCKSTEP_KAFKA_GROUP_ID, LOCKSTEP_DATABASE_URL,
LOCKSTEP_METRICS_LISTEN; then flags (--brokers, --database-url, ...).
LOCKSTEP_LOG_LEVEL and LOCKSTEP_LOG_FORMAT set the logging.
Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error,
3 `emit --wait` saw a dead letter.)";

// "lockstep dlq": the command parsed (its subcommand is left out, as in "lockstep topics: ...").
std::string command_name(const CLI::App& app) {
  const auto subs = app.get_subcommands();
  return subs.empty() ? "lockstep" : "lockstep " + subs.front()->get_name();
}

// "lockstep dlq list": the chain of commands parsed so far.
std::string chain_name(const CLI::App& app) {
  std::string name = "lockstep";
  const CLI::App* a = &app;
  while (!a->get_subcommands().empty()) {
    a = a->get_subcommands().front();
    name += " " + a->get_name();
  }
  return name;
}

// The deepest command parsed so far.
const CLI::App* deepest(const CLI::App& app) {
  const CLI::App* a = &app;
  while (!a->get_subcommands().empty()) a = a->get_subcommands().front();
  return a;
}

// "usage: lockstep dlq list [OPTIONS]" (or its subcommands).
std::string usage_of(const CLI::App& app, const std::string& name) {
  std::string subs;
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; }))
    if (!s->get_name().empty()) subs += (subs.empty() ? "" : "|") + s->get_name();
  std::string u = "usage: " + name + (subs.empty() ? "" : " " + subs) + " [OPTIONS]";
  return u + "\n(`" + name + " --help` for more)";
}

// `help A B` -> `A B --help`; throws UsageError for a command that does not exist.
std::vector<std::string> rewrite_help(CLI::App& app, std::vector<std::string> args) {
  if (args.empty() || args[0] != "help") return args;
  std::vector<std::string> out(args.begin() + 1, args.end());
  CLI::App* a = &app;
  for (const auto& name : out) {
    CLI::App* next = nullptr;
    try {
      next = a->get_subcommand(name);
    } catch (const CLI::OptionNotFound&) {
    }
    if (!next || name == "help") throw UsageError("no command '" + name + "' (`lockstep --help` lists them)");
    a = next;
  }
  out.push_back("--help");
  return out;
}

}  // namespace

std::string version_text() {
  return std::string("lockstep ") + build_info::kVersion + " (commit " + build_info::kCommit + ")\n" +
         "schema: needs migration " + std::to_string(latest_schema_version()) + "\n";
}

std::unique_ptr<CLI::App> make_app(Action& action) {
  auto app = std::make_unique<CLI::App>("Lockstep: a Kafka to PostgreSQL compare-and-set worker", "lockstep");
  app->set_version_flag("-V,--version", [] { return version_text(); }, "print the version and the schema it needs");
  add_run(*app, action);
  add_migrate(*app, action);
  add_broker(*app, action);
  add_emit(*app, action);
  add_dlq(*app, action);
  add_topics(*app, action);
  add_verify(*app, action);
  add_config(*app, action);
  add_completion(*app, action);
  auto* version = app->add_subcommand("version", "print the version, the git commit and the schema it needs");
  version->callback([&action] {
    action = [] {
      std::cout << version_text();
      return 0;
    };
  });
  auto* help = app->add_subcommand("help", "print the help of a command: help [COMMAND [SUB]]");
  help->allow_extras();
  app->footer(kFooter);  // after the subcommands: they would inherit it
  return app;
}

std::optional<int> parse_command_line(CLI::App& app, const Action& action, std::vector<std::string> args,
                                      std::string& command) {
  command = "lockstep";
  if (args.empty()) {
    std::cout << app.help();
    return 2;
  }
  try {
    args = rewrite_help(app, std::move(args));
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    app.parse(args);
    command = command_name(app);
  } catch (const UsageError& e) {
    std::cerr << "lockstep help: " << e.what() << "\n";
    return 2;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    std::cout << version_text();
    return 0;
  } catch (const CLI::ExtrasError& e) {
    command = command_name(app);
    const auto extra = app.remaining();
    if (app.get_subcommands().empty() && !extra.empty() && extra.front().rfind('-', 0) != 0)
      std::cerr << "lockstep: unknown command '" << extra.front() << "'\n" << usage_of(app, "lockstep") << "\n";
    else
      std::cerr << command << ": " << e.what() << "\n" << usage_of(*deepest(app), chain_name(app)) << "\n";
    return 2;
  } catch (const CLI::ParseError& e) {
    command = command_name(app);
    std::cerr << command << ": " << e.what() << "\n" << usage_of(*deepest(app), chain_name(app)) << "\n";
    return 2;
  }
  if (!action) {
    std::cerr << "lockstep: a command is required\n" << usage_of(app, "lockstep") << "\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace lockstep::cli
