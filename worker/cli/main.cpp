// lockstep: the worker and its operator commands (contract §7).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/store.hpp"

namespace {

constexpr const char* kUsage = R"(usage: lockstep COMMAND [--config FILE] ...

commands:
  run [--naive] [--brokers B] [--group G] [--database-url U] [--metrics-listen L]
                              the worker
  migrate up|down [N]|status  database schema
  broker [--port P] [--partitions N]
                              development Kafka broker (librdkafka mock cluster)
  emit --topic T [FILE|-]     produce events from JSON lines
  dlq list|show ID|replay ID...|discard ID... --note TEXT|drain
                              dead-letter operations
  topics check|ensure [--brokers B] [--timeout-ms N]
                              the configured topics: which exist (check), create
                              the missing ones from kafka.new_topics (ensure)
  verify [--no-kafka] [--brokers B] [--database-url U] [--timeout-ms N]
                              check the invariants (one line each; exit 1 on
                              any violation)
  config show|keys            the effective configuration with secrets masked and
                              where each value came from (show); every key with
                              its default and accepted values (keys [--markdown])

Configuration: --config FILE (default config/lockstep.yaml, else built-in),
then LOCKSTEP_KAFKA_BROKERS, LOCKSTEP_KAFKA_GROUP_ID, LOCKSTEP_DATABASE_URL,
LOCKSTEP_METRICS_LISTEN, then flags. LOCKSTEP_LOG_LEVEL sets the log level.
)";

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
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  setup_logging();
  const std::string cmd = argv[1];
  Args args(argc, argv, 2);
  try {
    if (cmd == "run") return cmd_run(args);
    if (cmd == "migrate") return cmd_migrate(args);
    if (cmd == "broker") return cmd_broker(args);
    if (cmd == "emit") return cmd_emit(args);
    if (cmd == "dlq") return cmd_dlq(args);
    if (cmd == "verify") return cmd_verify(args);
    if (cmd == "topics") return cmd_topics(args);
    if (cmd == "config") return cmd_config(args);
    std::cerr << "lockstep: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  } catch (const ConfigError& e) {
    std::cerr << "lockstep: " << e.what() << "\n";
    return 2;
  } catch (const UsageError& e) {
    std::cerr << "lockstep " << cmd << ": " << e.what() << "\n";
    return 2;
  } catch (const TransientStoreError& e) {
    std::cerr << "lockstep " << cmd << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lockstep " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
