// The table of configuration keys: name, type, range, one line of documentation,
// secrecy, and the environment variable or flag that overrides it. The defaults
// are those of the Config struct (config.hpp); tests check that the shipped
// config/lockstep.yaml lists every key with its default, and that the key
// table of docs/configuration.md is the one `lockstep config keys --markdown` prints.
#include "config_internal.hpp"

namespace lockstep {

using namespace config_detail;

// The field a key sets, as a FieldRef.
#define LOCKSTEP_FIELD(member) [](Config& c) -> FieldRef { return &c.member; }
// A flag of ConfigOverrides as text.
#define LOCKSTEP_FLAG(member) [](const ConfigOverrides& o) -> std::optional<std::string> { return o.member; }

namespace {

constexpr std::int64_t kMaxEventBytes = 64LL * 1024 * 1024;

// Constant-initialized: usable from anywhere, at any time.
constexpr ConfigKey kKeys[] = {
    {.name = "kafka.brokers", .type = KeyType::brokers,
     .range = "host:port list, e.g. `localhost:9092,[::1]:9092`",
     .doc = "Bootstrap servers, comma-separated (a YAML list is accepted too).",
     .env = "LOCKSTEP_KAFKA_BROKERS", .flag = "--brokers",
     .field = LOCKSTEP_FIELD(kafka.brokers), .flag_value = LOCKSTEP_FLAG(brokers), .check = check_brokers},
    {.name = "kafka.group_id", .type = KeyType::string, .range = "not empty",
     .doc = "Consumer group of the workers.",
     .env = "LOCKSTEP_KAFKA_GROUP_ID", .flag = "--group",
     .field = LOCKSTEP_FIELD(kafka.group_id), .flag_value = LOCKSTEP_FLAG(group_id), .check = check_group_id},
    {.name = "kafka.topics", .type = KeyType::topics, .range = "at least one valid topic name",
     .doc = "Input topics: topic -> source name (a list of topics takes the part after the last `.`).",
     .field = LOCKSTEP_FIELD(kafka.topics), .check = check_topics},
    {.name = "kafka.dead_letter_topic", .type = KeyType::string, .range = "a topic name, not an input topic",
     .doc = "Where events that cannot be applied are published.",
     .field = LOCKSTEP_FIELD(kafka.dead_letter_topic), .check = check_dead_letter_topic},
    {.name = "kafka.outcome_topic", .type = KeyType::string,
     .range = "`\"\"` (off) or a topic name, neither input nor dead-letter",
     .doc = "Outcome of every event for producers (the asynchronous \"409\").", .null_is_empty = true,
     .field = LOCKSTEP_FIELD(kafka.outcome_topic), .check = check_outcome_topic},
    {.name = "kafka.properties", .type = KeyType::string_map, .range = "librdkafka properties",
     .doc = "Passed to librdkafka as-is (TLS, SASL, timeouts); values are never printed.",
     .secret = Secret::values, .secret_refs = true, .item = "property",
     .field = LOCKSTEP_FIELD(kafka.properties)},
    {.name = "kafka.new_topics.partitions", .type = KeyType::integer, .min = 1, .max = 100000,
     .doc = "Partitions of a topic `lockstep topics ensure` creates.",
     .field = LOCKSTEP_FIELD(kafka.new_topics.partitions)},
    {.name = "kafka.new_topics.replication_factor", .type = KeyType::integer, .min = -1, .max = 32767,
     .refuse_zero = true, .range = "-1 (the broker's default) or 1..32767",
     .doc = "Replicas of each partition of a topic `lockstep topics ensure` creates.",
     .field = LOCKSTEP_FIELD(kafka.new_topics.replication_factor)},
    {.name = "kafka.new_topics.configs", .type = KeyType::string_map, .range = "Kafka topic configs",
     .doc = "Topic configs of a created topic, e.g. `min.insync.replicas: 2`.", .item = "config",
     .field = LOCKSTEP_FIELD(kafka.new_topics.configs)},
    {.name = "database.url", .type = KeyType::string,
     .range = "`postgresql://`, `postgres://`, `sqlite:` URL or libpq `key=value`",
     .doc = "The database; `sqlite:PATH` is the embedded mode.", .secret = Secret::password,
     .secret_refs = true, .env = "LOCKSTEP_DATABASE_URL", .flag = "--database-url",
     .field = LOCKSTEP_FIELD(database.url), .flag_value = LOCKSTEP_FLAG(database_url),
     .check = check_database_url},
    {.name = "database.pool_size", .type = KeyType::integer, .min = 1, .max = 64,
     .doc = "Database connections (= executor threads).", .field = LOCKSTEP_FIELD(database.pool_size)},
    {.name = "database.timeout_ms", .type = KeyType::integer, .min = 500, .max = 600000,
     .doc = "Longest wait for one database call before the database counts as not answering.",
     .field = LOCKSTEP_FIELD(database.timeout_ms)},
    {.name = "retry.max_attempts", .type = KeyType::integer, .min = 1, .max = 100,
     .doc = "Attempts at a lost compare-and-set before `retries_exhausted`.",
     .field = LOCKSTEP_FIELD(retry.max_attempts)},
    {.name = "retry.base_delay_ms", .type = KeyType::integer, .min = 0, .max = 60000,
     .doc = "First backoff delay (exponential, with jitter).", .field = LOCKSTEP_FIELD(retry.base_delay_ms)},
    {.name = "retry.max_delay_ms", .type = KeyType::integer, .min = 0, .max = 600000,
     .range = "retry.base_delay_ms..600000", .doc = "Backoff ceiling.",
     .field = LOCKSTEP_FIELD(retry.max_delay_ms), .check = check_max_delay},
    {.name = "limits.max_event_bytes", .type = KeyType::integer, .min = 1, .max = kMaxEventBytes,
     .doc = "Largest accepted event value in bytes (larger is `malformed`).",
     .field = LOCKSTEP_FIELD(limits.max_event_bytes)},
    {.name = "limits.max_inflight", .type = KeyType::integer, .min = 1, .max = 10'000'000,
     .doc = "Consumed events without an outcome; fetching pauses above this.",
     .field = LOCKSTEP_FIELD(limits.max_inflight)},
    {.name = "limits.max_depth", .type = KeyType::integer, .min = 2, .max = 1000,
     .doc = "Deepest accepted JSON nesting of an event.", .field = LOCKSTEP_FIELD(limits.max_depth)},
    {.name = "batch.max_events", .type = KeyType::integer, .min = 1, .max = 100000,
     .doc = "Events per database transaction (1 = one per event).", .field = LOCKSTEP_FIELD(batch.max_events)},
    {.name = "batch.max_wait_ms", .type = KeyType::integer, .min = 0, .max = 10000,
     .doc = "How long to wait for a batch to fill.", .field = LOCKSTEP_FIELD(batch.max_wait_ms)},
    {.name = "metrics.listen", .type = KeyType::string, .range = "host:port, port 0..65535 (0 = any)",
     .doc = "Address of `/metrics`, `/healthz` and `/readyz`.",
     .env = "LOCKSTEP_METRICS_LISTEN", .flag = "--metrics-listen",
     .field = LOCKSTEP_FIELD(metrics_listen), .flag_value = LOCKSTEP_FLAG(metrics_listen),
     .check = check_listen},
    {.name = "admin.listen", .type = KeyType::string,
     .range = "`\"\"` (off), host:port or a port alone (binds 127.0.0.1)",
     .doc = "Address of the admin API and web console; needs `admin.tokens`.", .null_is_empty = true,
     .env = "LOCKSTEP_ADMIN_LISTEN", .flag = "--admin-listen",
     .field = LOCKSTEP_FIELD(admin.listen), .flag_value = LOCKSTEP_FLAG(admin_listen), .check = check_admin_listen},
    {.name = "admin.tokens", .type = KeyType::tokens,
     .range = "name -> `{role: read/write, token: 16+ characters}`",
     .doc = "Who may use the admin API and console: named tokens, each `read` or `write`.",
     .secret = Secret::values, .secret_refs = true, .item = "token",
     .field = LOCKSTEP_FIELD(admin.tokens), .check = check_admin_tokens},
    {.name = "shutdown.timeout_ms", .type = KeyType::integer, .min = 100, .max = 600000,
     .doc = "On SIGTERM, finish or abandon in-flight work, commit and exit within this.",
     .field = LOCKSTEP_FIELD(shutdown_timeout_ms)},
    {.name = "naive", .type = KeyType::boolean, .range = "true, false",
     .doc = "Baseline mode: one database transaction per event, no batching.", .flag = "--naive",
     .field = LOCKSTEP_FIELD(naive),
     .flag_value = [](const ConfigOverrides& o) -> std::optional<std::string> {
       if (!o.naive) return std::nullopt;
       return *o.naive ? "true" : "false";
     }},
    {.name = "machines", .type = KeyType::machines, .range = "at least one; type `[a-z][a-z0-9_]{0,63}`",
     .doc = "State machines per aggregate type: transitions with `from` and optional `to`. Left out: the built-in "
            "machines (those of the shipped file); present but empty: an error.",
     .field = LOCKSTEP_FIELD(machines), .check = check_machines},
};

}  // namespace

std::span<const ConfigKey> config_keys() { return kKeys; }

#undef LOCKSTEP_FIELD
#undef LOCKSTEP_FLAG

const ConfigKey* find_config_key(std::string_view name) {
  for (const auto& k : config_keys()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

const char* to_string(KeyType t) {
  switch (t) {
    case KeyType::integer: return "integer";
    case KeyType::boolean: return "boolean";
    case KeyType::string: return "string";
    case KeyType::brokers: return "host:port list";
    case KeyType::topics: return "topic map";
    case KeyType::string_map: return "string map";
    case KeyType::tokens: return "token map";
    case KeyType::machines: return "machines";
  }
  return "?";
}

std::string range_text(const ConfigKey& k) {
  if (!k.range.empty() || k.type != KeyType::integer) return std::string(k.range);
  return std::to_string(k.min) + ".." + std::to_string(k.max);
}

}  // namespace lockstep
