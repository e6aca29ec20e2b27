// lockstep: the worker and its operator commands (docs/cli.md).
#include <cstdlib>
#include <iostream>

#include "cli.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/log.hpp"
#include "lockstep/store.hpp"

int main(int argc, char** argv) {
  using namespace lockstep;
  using namespace lockstep::cli;
  Action action;
  const auto app = make_app(action);
  std::string cmd;
  if (const auto code = parse_command_line(*app, action, std::vector<std::string>(argv + 1, argv + argc), cmd))
    return *code;
  try {
    logging::setup(process_env());  // LOCKSTEP_LOG_LEVEL / LOCKSTEP_LOG_FORMAT; a bad value exits 2
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
