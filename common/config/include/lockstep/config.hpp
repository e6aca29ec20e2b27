// Configuration (docs/cli.md): YAML file, then LOCKSTEP_* environment, then flags.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/machine.hpp"

namespace lockstep {

// A bad configuration: `key()` is the dotted config key at fault (e.g.
// "retry.max_attempts"); what() is a full message naming it. Callers exit 2.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& message)
      : std::runtime_error(message), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

struct InputTopic {
  std::string topic;
  std::string source;  // e.g. "bot" for transitions.bot
};

// What `lockstep topics ensure` creates when a configured topic is missing.
struct NewTopicsConfig {
  int partitions = 8;
  int replication_factor = -1;  // -1: the broker's default.replication.factor
  std::map<std::string, std::string> configs;  // topic configs, e.g. min.insync.replicas
};

struct KafkaConfig {
  std::string brokers = "localhost:9092";
  std::string group_id = "lockstep";
  std::vector<InputTopic> topics = {{"transitions.bot", "bot"}, {"transitions.api", "api"}};
  std::string dead_letter_topic = "transitions.dlq";
  std::string outcome_topic;  // empty = off
  std::map<std::string, std::string> properties;  // passed to librdkafka as-is
  NewTopicsConfig new_topics;
};

struct DatabaseConfig {
  std::string url = "postgresql://localhost/lockstep";
  int pool_size = 4;  // connections = executor threads
  // Longest the worker waits for one database call (a batch, a relay pass)
  // before it cuts the connection and treats the database as not answering.
  int timeout_ms = 10000;
};

struct RetryConfig {
  int max_attempts = 5;
  int base_delay_ms = 10;
  int max_delay_ms = 1000;
};

struct LimitsConfig {
  std::size_t max_event_bytes = 1024 * 1024;
  int max_inflight = 20000;  // consumed events without an outcome; fetching pauses above
  int max_depth = 64;        // JSON nesting depth
};

struct BatchConfig {
  int max_events = 500;  // events per database transaction (1 = one per event)
  int max_wait_ms = 5;   // linger for a batch to fill
};

// One named credential of the admin API and console.
struct AdminToken {
  std::string name;
  std::string role;   // "read" | "write"
  std::string token;  // the secret (after ${env:}/${file:} expansion); never printed
};

// The admin API and console (docs/configuration.md).
struct AdminConfig {
  std::string listen;  // "" = off; normalised to HOST:PORT (a bare PORT binds 127.0.0.1)
  std::vector<AdminToken> tokens;  // sorted by name
};

struct Config {
  KafkaConfig kafka;
  DatabaseConfig database;
  RetryConfig retry;
  LimitsConfig limits;
  BatchConfig batch;
  AdminConfig admin;
  std::string metrics_listen = "0.0.0.0:9464";
  int shutdown_timeout_ms = 10000;
  bool naive = false;  // one transaction per event (baseline mode)
  MachineSet machines;
  std::string source_path;  // file the config was read from ("<built-in>" if none)

  // Source name of an input topic; empty when the topic is not configured.
  std::string source_of(const std::string& topic) const;
};

// Flags given on the command line that override file and environment.
struct ConfigOverrides {
  std::optional<std::string> brokers;
  std::optional<std::string> group_id;
  std::optional<std::string> database_url;
  std::optional<std::string> metrics_listen;
  std::optional<std::string> admin_listen;
  std::optional<bool> naive;
};

// Parses a YAML document. Throws ConfigError naming the key of any bad value,
// unknown top-level section, or bad machine definition.
Config parse_config(const std::string& yaml_text, const std::string& source_path);

// Loads: `path` if given (must exist), else ./config/lockstep.yaml if it exists,
// else the built-in default (the shipped config/lockstep.yaml compiled in);
// then applies LOCKSTEP_KAFKA_BROKERS, LOCKSTEP_KAFKA_GROUP_ID, LOCKSTEP_DATABASE_URL,
// LOCKSTEP_METRICS_LISTEN from `env` (a lookup function so tests need no setenv),
// then `flags`; then validates everything.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
EnvLookup process_env();
Config load_config(const std::optional<std::string>& path, const EnvLookup& env,
                   const ConfigOverrides& flags = {});

// The shipped default config text (config/lockstep.yaml embedded at build time).
const std::string& builtin_config_text();
// Its machines: what a configuration without `machines` gets.
const MachineSet& builtin_machines();

// Kafka's rule for topic names: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
bool is_valid_topic_name(std::string_view topic);

// Every topic the configuration names, with what it is for: "input",
// "dead-letter" or "outcome" (the last only when one is configured).
struct ConfiguredTopic {
  std::string topic;
  std::string role;
};
std::vector<ConfiguredTopic> configured_topics(const KafkaConfig& k);

// A URL or connection string with any password replaced by "***", for logs.
std::string redact_url(const std::string& url);

}  // namespace lockstep
