#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "lockstep/store.hpp"
#include "lockstep/worker.hpp"

namespace lockstep::cli {

int cmd_run(Args& args) {
  std::atomic<bool> stop{false};
  install_stop_signals(stop);
  ConfigOverrides o;
  o.brokers = args.option("--brokers");
  o.group_id = args.option("--group");
  o.database_url = args.option("--database-url");
  o.metrics_listen = args.option("--metrics-listen");
  if (args.flag("--naive")) o.naive = true;
  Config cfg = load(args, o);
  if (!args.positionals().empty()) throw UsageError("run takes no arguments");
  if (cfg.database.url.rfind("sqlite:", 0) == 0) {
    try {
      (void)sqlite_path(cfg.database.url);  // every connection of the worker must open the same file
    } catch (const std::invalid_argument& e) {
      throw ConfigError("database.url", e.what());
    }
  }
  try {
    Producer probe(cfg.kafka.brokers, cfg.kafka.properties);  // validates kafka.properties
  } catch (const KafkaError& e) {
    throw ConfigError("kafka.properties", e.what());
  }

  auto metrics = std::make_shared<Metrics>();
  Worker worker(cfg, metrics);
  std::unique_ptr<MetricsServer> server;
  if (!cfg.metrics_listen.empty()) {
    try {
      server = std::make_unique<MetricsServer>(cfg.metrics_listen, *metrics, [&worker] { return worker.ready(); });
    } catch (const std::exception& e) {
      throw ConfigError("metrics.listen", std::string("metrics.listen: ") + e.what());
    }
  }
  spdlog::info("lockstep run: config {}, brokers {}, database {}, metrics on {}", cfg.source_path, cfg.kafka.brokers,
               redact_url(cfg.database.url), server ? cfg.metrics_listen + " (port " + std::to_string(server->port()) + ")" : "off");
  worker.run(stop);
  return 0;
}

}  // namespace lockstep::cli
