#include "cli.hpp"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "lockstep/store/url.hpp"

namespace lockstep::cli {

CLI::Option* add_string(CLI::App* app, const std::string& name, std::optional<std::string>& dst,
                        const std::string& help) {
  return app->add_option_function<std::string>(name, [&dst](const std::string& v) { dst = v; }, help);
}

void add_config_flag(CLI::App* app, Connection& c) {
  add_string(app, "--config", c.config,
             "configuration file (default: $LOCKSTEP_CONFIG, else config/lockstep.yaml, else built-in)")
      ->type_name("FILE");
}

void add_connection_flags(CLI::App* app, Connection& c) {
  add_config_flag(app, c);
  add_string(app, "--brokers", c.brokers, "Kafka bootstrap servers (overrides kafka.brokers)")->type_name("B");
  add_string(app, "--database-url", c.database_url, "database URL (overrides database.url)")->type_name("URL");
}

void add_timeout_flag(CLI::App* app, Connection& c, int fallback, const std::string& what) {
  app->add_option_function<int>("--timeout-ms", [&c](const int& v) { c.timeout_ms = v; },
                                "give up after N ms " + what + " (default " + std::to_string(fallback) + ")")
      ->type_name("N")
      ->check(CLI::Range(1, 3600 * 1000));
}

std::chrono::milliseconds timeout_of(const Connection& c, int fallback) {
  return std::chrono::milliseconds(c.timeout_ms.value_or(fallback));
}

std::optional<std::string> config_path(const Connection& c) {
  if (c.config) return c.config;
  const char* env = std::getenv("LOCKSTEP_CONFIG");
  if (!env || !*env) return std::nullopt;
  std::error_code ec;
  if (!std::filesystem::exists(env, ec))
    throw ConfigError("LOCKSTEP_CONFIG", std::string("LOCKSTEP_CONFIG: cannot read ") + env + ": no such file");
  return std::string(env);
}

ConfigOverrides with_connection(const Connection& c, ConfigOverrides extra) {
  if (c.brokers) extra.brokers = c.brokers;
  if (c.database_url) extra.database_url = c.database_url;
  return extra;
}

Config load(const Connection& c, ConfigOverrides extra) {
  Config cfg = load_config(config_path(c), process_env(), with_connection(c, std::move(extra)));
  // --timeout-ms bounds connecting to PostgreSQL (libpq's connect_timeout, whole seconds).
  if (c.timeout_ms)
    cfg.database.url =
        with_url_option(cfg.database.url, "connect_timeout", std::to_string(std::max(1, (*c.timeout_ms + 999) / 1000)));
  return cfg;
}

KafkaProps bounded_props(const Config& cfg, std::chrono::milliseconds timeout, bool explicit_timeout) {
  KafkaProps props = cfg.kafka.properties;
  if (explicit_timeout || !props.count("message.timeout.ms")) props["message.timeout.ms"] = std::to_string(timeout.count());
  return props;
}

void install_stop_signals(std::atomic<bool>& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, &stop]() mutable {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      stop = true;
    }
  }).detach();
}

int parse_int(const std::string& what, const std::string& s, long lo, long hi) {
  try {
    std::size_t pos = 0;
    long v = std::stol(s, &pos);
    if (pos != s.size() || v < lo || v > hi) throw std::out_of_range(s);
    return static_cast<int>(v);
  } catch (const std::exception&) {
    throw UsageError(what + " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) +
                     " (got \"" + s + "\")");
  }
}

}  // namespace lockstep::cli
