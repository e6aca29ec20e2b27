// lockstep: the worker and its operator commands (docs/cli.md).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "cli.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/store.hpp"

namespace {

void setup_logging() {
  auto logger = spdlog::stderr_color_mt("lockstep");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  const char* lvl = std::getenv("LOCKSTEP_LOG_LEVEL");
  spdlog::set_level(lvl ? spdlog::level::from_str(lvl) : spdlog::level::info);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lockstep;
  using namespace lockstep::cli;
  Action action;
  const auto app = make_app(action);
  std::string cmd;
  if (const auto code = parse_command_line(*app, action, std::vector<std::string>(argv + 1, argv + argc), cmd))
    return *code;
  try {
    setup_logging();
    return action();
  } catch (const ConfigError& e) {
    std::cerr << "lockstep: " << e.what() << "\n";
    return 2;
  } catch (const UsageError& e) {
    std::cerr << cmd << ": " << e.what() << "\n";
    return 2;
  } catch (const TransientStoreError& e) {
    std::cerr << cmd << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
