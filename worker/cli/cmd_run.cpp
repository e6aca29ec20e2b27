#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "cli.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/metrics.hpp"
#include "lockstep/store.hpp"
#include "worker.hpp"

namespace lockstep::cli {
namespace {

// Destroys the worker, waiting at most `grace`. Destroying it closes
// librdkafka's handles, which wait for their requests still in flight: while
// a broker does not answer, until socket.timeout.ms. Returns false when that
// wait is still going on (the destruction goes on on its own thread).
bool destroy_within(std::unique_ptr<Worker> worker, std::chrono::milliseconds grace) {
  auto done = std::make_shared<std::promise<void>>();
  auto destroyed = done->get_future();
  std::thread t([w = std::move(worker), done]() mutable {
    w.reset();
    done->set_value();
  });
  if (destroyed.wait_for(grace) == std::future_status::ready) {
    t.join();
    return true;
  }
  t.detach();
  return false;
}

struct RunOptions {
  Connection conn;
  ConfigOverrides flags;
};

int cmd_run(const RunOptions& o) {
  std::atomic<bool> stop{false};
  install_stop_signals(stop);
  Config cfg = load(o.conn, o.flags);
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
  auto worker = std::make_unique<Worker>(cfg, metrics);
  std::unique_ptr<MetricsServer> server;
  if (!cfg.metrics_listen.empty()) {
    try {
      server = std::make_unique<MetricsServer>(cfg.metrics_listen, *metrics, [w = worker.get()] { return w->ready(); });
    } catch (const std::exception& e) {
      throw ConfigError("metrics.listen", std::string("metrics.listen: ") + e.what());
    }
  }
  spdlog::info("lockstep run: config {}, brokers {}, database {}, metrics on {}", cfg.source_path, cfg.kafka.brokers,
               redact_url(cfg.database.url), server ? cfg.metrics_listen + " (port " + std::to_string(server->port()) + ")" : "off");
  worker->run(stop);
  server.reset();  // it asks the worker
  // run() has returned within shutdown.timeout_ms: every outcome is durable and
  // the offsets are committed (or re-read on the next start). What is left
  // cannot lose anything, so it must not hold the exit past a short grace.
  if (!destroy_within(std::move(worker), std::chrono::milliseconds(1500))) {
    spdlog::warn("the broker has not answered the last requests: exiting without waiting for them");
    spdlog::default_logger()->flush();  // not spdlog::shutdown(): the other thread may still log
    std::fflush(nullptr);
    std::_Exit(0);
  }
  return 0;
}

}  // namespace

// --group, --metrics-listen and --naive override the configuration (also for `config show`).
void add_run_flags(CLI::App* sub, ConfigOverrides& f) {
  add_string(sub, "--group", f.group_id, "consumer group (overrides kafka.group_id)")->type_name("G");
  add_string(sub, "--metrics-listen", f.metrics_listen, "HOST:PORT for /metrics, /healthz, /readyz")
      ->type_name("ADDR");
  add_string(sub, "--admin-listen", f.admin_listen, "HOST:PORT or PORT of the admin API and console")
      ->type_name("ADDR");
  sub->add_flag_function("--naive", [&f](std::int64_t) { f.naive = true; },
                         "baseline mode: one database transaction per event, no batching");
}

void add_run(CLI::App& app, Action& action) {
  auto o = std::make_shared<RunOptions>();
  auto* sub = app.add_subcommand("run", "the worker: consume, apply, record outcomes until SIGINT/SIGTERM");
  add_connection_flags(sub, o->conn);
  add_run_flags(sub, o->flags);
  sub->callback([&action, o] { action = [o] { return cmd_run(*o); }; });
}

}  // namespace lockstep::cli
