// Configuration (docs/machines.md, docs/cli.md): the shipped file, precedence, strict validation,
// and that secrets never reach an error message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "lockstep/config.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shipped_path() { return test::source_dir() + "/config/lockstep.yaml"; }

// A minimal valid document plus `extra` (top-level YAML appended).
std::string doc(const std::string& extra = "") {
  return "machines:\n"
         "  thing:\n"
         "    transitions:\n"
         "      create: { from: [new], to: open }\n" +
         extra;
}

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const EnvLookup kNoEnv = [](const char*) -> std::optional<std::string> { return std::nullopt; };

// Parses and expects a ConfigError whose key is `key` and whose message names it.
ConfigError expect_error(const std::string& yaml, const std::string& key) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), key) << e.what();
    if (!key.empty()) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
    EXPECT_EQ(std::string(e.what()).rfind("config: ", 0), 0u) << e.what();
    return e;
  }
  ADD_FAILURE() << "expected ConfigError for key '" << key << "' from:\n" << yaml;
  return ConfigError("", "");
}

// A scratch directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("lockstep-config-test-" + test::unique_suffix());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Changes the working directory for the scope.
class Chdir {
 public:
  explicit Chdir(const std::filesystem::path& to) : old_(std::filesystem::current_path()) {
    std::filesystem::current_path(to);
  }
  ~Chdir() { std::filesystem::current_path(old_); }

 private:
  std::filesystem::path old_;
};

// ------------------------------------------------------------ the shipped config

TEST(ShippedConfig, BuiltinTextEqualsTheFile) {
  const std::string file = read_all(shipped_path());
  ASSERT_FALSE(file.empty()) << shipped_path();
  EXPECT_EQ(builtin_config_text(), file);
}

TEST(ShippedConfig, ParsesToTheStructDefaults) {
  const Config c = parse_config(builtin_config_text(), "<built-in>");
  const Config d;
  EXPECT_EQ(c.source_path, "<built-in>");
  EXPECT_EQ(c.kafka.brokers, "localhost:9092");
  EXPECT_EQ(c.kafka.brokers, d.kafka.brokers);
  EXPECT_EQ(c.kafka.group_id, "lockstep");
  ASSERT_EQ(c.kafka.topics.size(), 2u);
  EXPECT_EQ(c.source_of("transitions.bot"), "bot");
  EXPECT_EQ(c.source_of("transitions.api"), "api");
  EXPECT_EQ(c.source_of("transitions.dlq"), "");
  EXPECT_EQ(c.kafka.dead_letter_topic, "transitions.dlq");
  EXPECT_EQ(c.kafka.outcome_topic, "");
  EXPECT_TRUE(c.kafka.properties.empty());
  EXPECT_EQ(c.kafka.new_topics.partitions, 8);
  EXPECT_EQ(c.kafka.new_topics.partitions, d.kafka.new_topics.partitions);
  EXPECT_EQ(c.kafka.new_topics.replication_factor, -1);
  EXPECT_TRUE(c.kafka.new_topics.configs.empty());
  EXPECT_EQ(c.database.url, "postgresql://localhost/lockstep");
  EXPECT_EQ(c.database.pool_size, d.database.pool_size);
  EXPECT_EQ(c.retry.max_attempts, 5);
  EXPECT_EQ(c.retry.base_delay_ms, 10);
  EXPECT_EQ(c.retry.max_delay_ms, 1000);
  EXPECT_EQ(c.limits.max_event_bytes, 1048576u);
  EXPECT_EQ(c.limits.max_inflight, d.limits.max_inflight);
  EXPECT_EQ(c.limits.max_depth, d.limits.max_depth);
  EXPECT_EQ(c.batch.max_events, d.batch.max_events);
  EXPECT_EQ(c.batch.max_wait_ms, d.batch.max_wait_ms);
  EXPECT_EQ(c.metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(c.shutdown_timeout_ms, 10000);
  EXPECT_FALSE(c.naive);
}

TEST(ShippedConfig, MembershipMachineIsExactlyTheContract) {
  const Config c = parse_config(builtin_config_text(), "<built-in>");
  ASSERT_EQ(c.machines.count("membership"), 1u);
  const Machine& m = c.machines.at("membership");
  using S = std::set<std::string>;
  const std::map<std::string, std::pair<S, std::optional<std::string>>> expected = {
      {"join", {S{"new"}, "pending"}},
      {"verify", {S{"pending"}, "verified"}},
      {"activate", {S{"verified"}, "active"}},
      {"suspend", {S{"active"}, "suspended"}},
      {"reinstate", {S{"suspended"}, "active"}},
      {"remove", {S{"pending", "verified", "active", "suspended"}, "removed"}},
      {"rejoin", {S{"removed"}, "pending"}},
      {"override", {S{"*"}, "active"}},
      {"edit", {S{"*"}, std::nullopt}},
  };
  ASSERT_EQ(m.transitions.size(), expected.size());
  for (const auto& [name, want] : expected) {
    SCOPED_TRACE(name);
    ASSERT_EQ(m.transitions.count(name), 1u);
    const Transition& t = m.transitions.at(name);
    EXPECT_EQ(t.from, want.first);
    EXPECT_EQ(t.to, want.second);
  }
}

TEST(ShippedConfig, FileInTheSourceTreeParses) {
  const Config c = load_config(shipped_path(), kNoEnv);
  EXPECT_EQ(c.source_path, shipped_path());
  EXPECT_EQ(c.machines.count("membership"), 1u);
}

// ------------------------------------------------------------ parsing

TEST(ParseConfig, OverridesOnlyWhatTheDocumentHas) {
  const Config c = parse_config(doc("retry:\n  max_attempts: 7\nnaive: true\n"), "x.yaml");
  EXPECT_EQ(c.retry.max_attempts, 7);
  EXPECT_EQ(c.retry.base_delay_ms, 10);
  EXPECT_TRUE(c.naive);
  EXPECT_EQ(c.kafka.topics.size(), 2u);
  EXPECT_EQ(c.database.url, "postgresql://localhost/lockstep");
  EXPECT_EQ(c.source_path, "x.yaml");
  ASSERT_EQ(c.machines.size(), 1u);
  EXPECT_EQ(c.machines.at("thing").transitions.at("create").to, "open");
}

TEST(ParseConfig, FromMayBeASingleString) {
  const Config c = parse_config(
      "machines:\n  door:\n    transitions:\n      open: { from: closed, to: opened }\n"
      "      make: { from: new, to: closed }\n",
      "x");
  EXPECT_EQ(c.machines.at("door").transitions.at("open").from, std::set<std::string>{"closed"});
}

TEST(ParseConfig, AllValuesAtTheirLimits) {
  const Config c = parse_config(doc(R"(
kafka:
  brokers: a:1,b:2
  group_id: g
  dead_letter_topic: dlq
  outcome_topic: outcomes
  properties:
    security.protocol: SASL_SSL
    enable.idempotence: true
    linger.ms: 5
database:
  url: "host=db dbname=x"
  pool_size: 64
retry: { max_attempts: 100, base_delay_ms: 60000, max_delay_ms: 600000 }
limits: { max_event_bytes: 67108864, max_inflight: 10000000, max_depth: 1000 }
batch: { max_events: 100000, max_wait_ms: 10000 }
metrics: { listen: "[::1]:0" }
shutdown: { timeout_ms: 100 }
)"),
                                "x");
  EXPECT_EQ(c.kafka.brokers, "a:1,b:2");
  EXPECT_EQ(c.kafka.outcome_topic, "outcomes");
  EXPECT_EQ(c.kafka.properties.at("enable.idempotence"), "true");
  EXPECT_EQ(c.kafka.properties.at("linger.ms"), "5");
  EXPECT_EQ(c.database.url, "host=db dbname=x");
  EXPECT_EQ(c.database.pool_size, 64);
  EXPECT_EQ(c.retry.max_attempts, 100);
  EXPECT_EQ(c.retry.max_delay_ms, 600000);
  EXPECT_EQ(c.limits.max_event_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_inflight, 10000000);
  EXPECT_EQ(c.limits.max_depth, 1000);
  EXPECT_EQ(c.batch.max_events, 100000);
  EXPECT_EQ(c.batch.max_wait_ms, 10000);
  EXPECT_EQ(c.metrics_listen, "[::1]:0");
  EXPECT_EQ(c.shutdown_timeout_ms, 100);
}

TEST(ParseConfig, DatabaseUrlForms) {
  for (const char* url : {"postgresql://u@h/db", "postgres://h", "sqlite:///tmp/x.db", "sqlite://:memory:",
                          "host=localhost dbname=lockstep"}) {
    SCOPED_TRACE(url);
    EXPECT_EQ(parse_config(doc(std::string("database: { url: \"") + url + "\" }\n"), "x").database.url, url);
  }
  expect_error(doc("database: { url: \"mysql://h/db\" }\n"), "database.url");
  expect_error(doc("database: { url: \"localhost\" }\n"), "database.url");
  expect_error(doc("database: { url: \"\" }\n"), "database.url");
  expect_error(doc("database: { url: [a] }\n"), "database.url");
}

// The embedded store's URLs: sqlite:///absolute/path and sqlite:relative/path;
// a sqlite: URL without a path is refused.
TEST(ParseConfig, SqliteDatabaseUrlForms) {
  for (const char* url : {"sqlite:///var/lib/lockstep/lockstep.db", "sqlite:lockstep.db", "sqlite:data/lockstep.db",
                          "sqlite://data/lockstep.db"}) {
    SCOPED_TRACE(url);
    EXPECT_EQ(parse_config(doc(std::string("database: { url: \"") + url + "\" }\n"), "x").database.url, url);
  }
  expect_error(doc("database: { url: \"sqlite:\" }\n"), "database.url");
  expect_error(doc("database: { url: \"sqlite://\" }\n"), "database.url");
  expect_error(doc("database: { url: \"sqlite3:x.db\" }\n"), "database.url");
}

TEST(ParseConfig, MetricsListenForms) {
  for (const char* ok : {"0.0.0.0:9464", "localhost:0", "[::1]:9464", "[::]:65535", "127.0.0.1:1"}) {
    SCOPED_TRACE(ok);
    EXPECT_EQ(parse_config(doc(std::string("metrics: { listen: \"") + ok + "\" }\n"), "x").metrics_listen, ok);
  }
  for (const char* bad : {"9464", ":9464", "host:", "host:65536", "host:-1", "host:abc", "::1:9464", "[::1]9464",
                          "[::1]", "[]:1", "h:1:2", ""}) {
    SCOPED_TRACE(bad);
    expect_error(doc(std::string("metrics: { listen: \"") + bad + "\" }\n"), "metrics.listen");
  }
}

// ------------------------------------------------------------ topics

TEST(Topics, MappingOfTopicToSource) {
  const Config c = parse_config(doc("kafka:\n  topics:\n    in.alpha: a\n    in.beta: b\n"), "x");
  ASSERT_EQ(c.kafka.topics.size(), 2u);
  EXPECT_EQ(c.kafka.topics[0].topic, "in.alpha");
  EXPECT_EQ(c.kafka.topics[0].source, "a");
  EXPECT_EQ(c.source_of("in.beta"), "b");
}

TEST(Topics, ListOfNamesTakesTheSourceAfterTheLastDot) {
  const Config c = parse_config(doc("kafka:\n  topics: [transitions.bot, a.b.web, plain]\n"), "x");
  ASSERT_EQ(c.kafka.topics.size(), 3u);
  EXPECT_EQ(c.source_of("transitions.bot"), "bot");
  EXPECT_EQ(c.source_of("a.b.web"), "web");
  EXPECT_EQ(c.source_of("plain"), "plain");
}

TEST(Topics, ListOfTopicSourceMaps) {
  const Config c = parse_config(doc("kafka:\n  topics:\n    - { topic: t.one, source: bot }\n"
                                    "    - topic: t.two\n      source: api\n    - { topic: t.three }\n"),
                                "x");
  ASSERT_EQ(c.kafka.topics.size(), 3u);
  EXPECT_EQ(c.source_of("t.one"), "bot");
  EXPECT_EQ(c.source_of("t.two"), "api");
  EXPECT_EQ(c.source_of("t.three"), "three");
}

TEST(Topics, Errors) {
  expect_error(doc("kafka:\n  topics: []\n"), "kafka.topics");
  expect_error(doc("kafka:\n  topics: {}\n"), "kafka.topics");
  expect_error(doc("kafka:\n  topics: [a.x, a.x]\n"), "kafka.topics");
  expect_error(doc("kafka:\n  topics:\n    - a.x\n    - { topic: a.x, source: y }\n"), "kafka.topics");
  expect_error(doc("kafka:\n  topics:\n    a.x: x\n    a.x: y\n"), "kafka.topics.a.x");
  expect_error(doc("kafka:\n  topics: \"a.x\"\n"), "kafka.topics");
  expect_error(doc("kafka:\n  topics: [\"has space\"]\n"), "kafka.topics[0]");
  expect_error(doc("kafka:\n  topics:\n    - { source: y }\n"), "kafka.topics[0].topic");
  expect_error(doc("kafka:\n  topics:\n    - { topic: a.x, sorce: y }\n"), "kafka.topics[0].sorce");
  expect_error(doc("kafka:\n  topics: [[a]]\n"), "kafka.topics[0]");
  expect_error(doc("kafka:\n  dead_letter_topic: transitions.bot\n"), "kafka.dead_letter_topic");
  expect_error(doc("kafka:\n  dead_letter_topic: \"\"\n"), "kafka.dead_letter_topic");
  expect_error(doc("kafka:\n  outcome_topic: transitions.api\n"), "kafka.outcome_topic");
  expect_error(doc("kafka:\n  outcome_topic: transitions.dlq\n"), "kafka.outcome_topic");
  expect_error(doc("kafka:\n  brokers: \"\"\n"), "kafka.brokers");
  for (const char* bad : {"\"::::\"", "host:0", "host:99999", "host:x", "\"a:1,,b:2\"", "\"a b:1\"", "\"a:1,\"",
                          "\"http//a:1\"", "\"1.2://a:1\"", "\"[::1\"", "\"::1:9092\""}) {
    SCOPED_TRACE(bad);
    expect_error(doc(std::string("kafka:\n  brokers: ") + bad + "\n"), "kafka.brokers");
  }
  for (const char* good : {"localhost:9092", "\"a:1, b:2\"", "\"[::1]:9092\"", "SSL://broker.example:9093",
                           "kafka-0", "\"10.0.0.1:9092,10.0.0.2:9092\""}) {
    SCOPED_TRACE(good);
    EXPECT_NO_THROW(parse_config(doc(std::string("kafka:\n  brokers: ") + good + "\n"), "good.yaml"));
  }
  expect_error(doc("kafka:\n  group_id: \"\"\n"), "kafka.group_id");
  expect_error(doc("kafka:\n  group_id: {a: b}\n"), "kafka.group_id");
}

TEST(Topics, NewTopics) {
  const Config c = parse_config(
      doc("kafka:\n  new_topics:\n    partitions: 12\n    replication_factor: 3\n"
          "    configs: { min.insync.replicas: 2, retention.ms: \"604800000\" }\n"),
      "t.yaml");
  EXPECT_EQ(c.kafka.new_topics.partitions, 12);
  EXPECT_EQ(c.kafka.new_topics.replication_factor, 3);
  EXPECT_EQ(c.kafka.new_topics.configs,
            (std::map<std::string, std::string>{{"min.insync.replicas", "2"}, {"retention.ms", "604800000"}}));
  expect_error(doc("kafka:\n  new_topics: { partitions: 0 }\n"), "kafka.new_topics.partitions");
  expect_error(doc("kafka:\n  new_topics: { partitions: many }\n"), "kafka.new_topics.partitions");
  expect_error(doc("kafka:\n  new_topics: { replication_factor: 0 }\n"), "kafka.new_topics.replication_factor");
  expect_error(doc("kafka:\n  new_topics: { replication_factor: -2 }\n"), "kafka.new_topics.replication_factor");
  expect_error(doc("kafka:\n  new_topics: { replicas: 3 }\n"), "kafka.new_topics.replicas");
  expect_error(doc("kafka:\n  new_topics: { configs: { retention.ms: [1] } }\n"),
               "kafka.new_topics.configs.retention.ms");
}

// ------------------------------------------------------------ strictness

TEST(Strictness, UnknownSectionsAndKeys) {
  expect_error(doc("kafak:\n  brokers: x:1\n"), "kafak");
  expect_error(doc("kafka:\n  broker: x:1\n"), "kafka.broker");
  expect_error(doc("database:\n  pool: 3\n"), "database.pool");
  expect_error(doc("retry:\n  max_attempt: 3\n"), "retry.max_attempt");
  expect_error(doc("limits:\n  max_bytes: 3\n"), "limits.max_bytes");
  expect_error(doc("batch:\n  size: 3\n"), "batch.size");
  expect_error(doc("metrics:\n  port: 3\n"), "metrics.port");
  expect_error(doc("shutdown:\n  timeout: 3\n"), "shutdown.timeout");
  expect_error(doc("retry:\n  max_attempts: 3\n  max_attempts: 4\n"), "retry.max_attempts");
  expect_error(doc("machines2: {}\n"), "machines2");
  // Free-form names are allowed where the brief says so.
  EXPECT_EQ(parse_config(doc("kafka:\n  properties:\n    anything.at.all: x\n"), "x").kafka.properties.size(), 1u);
}

TEST(Strictness, MessageFormatNamesKeyAndValue) {
  const auto e = expect_error(doc("retry:\n  max_attempts: abc\n"), "retry.max_attempts");
  EXPECT_STREQ(e.what(), "config: retry.max_attempts: must be an integer between 1 and 100 (got \"abc\")");
}

struct RangeCase {
  std::string section;
  std::string name;
  std::string bad;
};

TEST(Strictness, WrongTypesAndRanges) {
  const std::vector<RangeCase> cases = {
      {"retry", "max_attempts", "0"},        {"retry", "max_attempts", "101"},
      {"retry", "max_attempts", "1.5"},      {"retry", "max_attempts", "[1]"},
      {"retry", "max_attempts", "~"},        {"retry", "max_attempts", "99999999999999999999999"},
      {"retry", "base_delay_ms", "-1"},      {"retry", "base_delay_ms", "60001"},
      {"retry", "max_delay_ms", "600001"},   {"retry", "max_delay_ms", "5"},  // < base 10
      {"limits", "max_event_bytes", "0"},    {"limits", "max_event_bytes", "67108865"},
      {"limits", "max_inflight", "0"},       {"limits", "max_inflight", "10000001"},
      {"limits", "max_depth", "1"},          {"limits", "max_depth", "1001"},
      {"database", "pool_size", "0"},        {"database", "pool_size", "65"},
      {"batch", "max_events", "0"},          {"batch", "max_events", "100001"},
      {"batch", "max_wait_ms", "-1"},        {"batch", "max_wait_ms", "10001"},
      {"shutdown", "timeout_ms", "99"},      {"shutdown", "timeout_ms", "600001"},
      {"shutdown", "timeout_ms", "{a: 1}"},  {"kafka", "brokers", "[]"},
      {"kafka", "properties", "[a]"},        {"metrics", "listen", "{a: 1}"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.section + "." + c.name + " = " + c.bad);
    expect_error(doc(c.section + ":\n  " + c.name + ": " + c.bad + "\n"), c.section + "." + c.name);
  }
  expect_error(doc("naive: maybe\n"), "naive");
  expect_error(doc("retry: 5\n"), "retry");
  expect_error(doc("kafka: [a]\n"), "kafka");
  // max_delay_ms equal to base is fine.
  EXPECT_EQ(parse_config(doc("retry: { base_delay_ms: 50, max_delay_ms: 50 }\n"), "x").retry.max_delay_ms, 50);
}

TEST(Strictness, YamlSyntaxErrorGivesPathAndLine) {
  try {
    parse_config("kafka:\n  brokers: [a,\nretry: }\n", "bad.yaml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "");
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.yaml"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  }
  expect_error("- a\n- b\n", "");
}

// ------------------------------------------------------------ machines

// Every machine, transition, `from` and `to`, as text (Machine has no ==).
std::string machines_text(const MachineSet& machines) {
  std::string out;
  for (const auto& [type, m] : machines) {
    for (const auto& [name, t] : m.transitions) {
      out += type + "." + name + ":";
      for (const auto& f : t.from) out += " " + f;
      out += " -> " + t.to.value_or("(same)") + "\n";
    }
  }
  return out;
}

// A document without `machines` gets the shipped ones; one that has the key
// but nothing under it is refused, saying how to get the built-in ones.
TEST(Machines, LeftOutMeansTheBuiltInOnes) {
  const Config c = parse_config("kafka:\n  brokers: k:9092\ndatabase:\n  url: postgresql://db/x\n", "t.yaml");
  EXPECT_EQ(machines_text(c.machines), machines_text(parse_config(builtin_config_text(), "<built-in>").machines));
  EXPECT_EQ(machines_text(c.machines), machines_text(builtin_machines()));
  ASSERT_EQ(c.machines.count("membership"), 1u);
  EXPECT_EQ(c.machines.size(), 1u);
  EXPECT_EQ(c.kafka.brokers, "k:9092");
  for (const std::string empty : {"machines:\n", "machines: {}\n", "machines: ~\n"}) {
    const ConfigError e = expect_error(empty, "machines");
    EXPECT_NE(std::string(e.what()).find("leave `machines` out to use the built-in ones"), std::string::npos)
        << e.what();
  }
}

TEST(Machines, Errors) {
  expect_error("machines:\n", "machines");
  expect_error("machines: {}\n", "machines");
  expect_error("machines: [a]\n", "machines");
  expect_error("machines:\n  Bad-Type:\n    transitions:\n      x: { from: [new], to: a }\n", "machines.Bad-Type");
  expect_error("machines:\n  m:\n    transitions: {}\n", "machines.m.transitions");
  expect_error("machines:\n  m: {}\n", "machines.m.transitions");
  expect_error("machines:\n  m:\n    transition:\n      x: { from: [new], to: a }\n", "machines.m.transition");
  const std::string pre = "machines:\n  membership:\n    transitions:\n";
  expect_error(pre + "      join: { to: pending }\n", "machines.membership.transitions.join.from");
  expect_error(pre + "      join: { from: [], to: pending }\n", "machines.membership.transitions.join.from");
  expect_error(pre + "      join: { from: [[a]], to: pending }\n", "machines.membership.transitions.join.from");
  expect_error(pre + "      join: { from: [{a: b}], to: pending }\n", "machines.membership.transitions.join.from");
  expect_error(pre + "      join: { from: [\"\"], to: pending }\n", "machines.membership.transitions.join.from");
  expect_error(pre + "      join: { from: {a: b}, to: pending }\n", "machines.membership.transitions.join.from");
  expect_error(pre + "      join: { from: [new], to: [a] }\n", "machines.membership.transitions.join.to");
  expect_error(pre + "      join: { from: [new], to: new }\n", "machines.membership.transitions.join.to");
  expect_error(pre + "      join: { from: [new], to: \"*\" }\n", "machines.membership.transitions.join.to");
  expect_error(pre + "      join: { from: [new], to: ~ }\n", "machines.membership.transitions.join.to");
  expect_error(pre + "      join: { from: [new] }\n", "machines.membership.transitions.join.to");
  expect_error(pre + "      join: { from: [new], to: a, too: b }\n", "machines.membership.transitions.join.too");
  expect_error(pre + "      join: [new]\n", "machines.membership.transitions.join");
  expect_error(pre + "      join: { from: [new], to: a }\n      join: { from: [a], to: b }\n",
               "machines.membership.transitions.join");
}

TEST(Machines, SeveralMachines) {
  const Config c = parse_config(
      "machines:\n"
      "  a_1:\n    transitions:\n      mk: { from: new, to: x }\n"
      "  b:\n    transitions:\n      mk: { from: [new], to: y }\n      touch: { from: \"*\" }\n",
      "x");
  ASSERT_EQ(c.machines.size(), 2u);
  EXPECT_FALSE(c.machines.at("b").transitions.at("touch").to.has_value());
}

// ------------------------------------------------------------ load_config

TEST(LoadConfig, EnvThenFlagsPrecedence) {
  TempDir dir;
  const auto path = dir.write("c.yaml", doc("kafka:\n  brokers: file:1\n  group_id: file-group\n"
                                            "database:\n  url: postgresql://file/db\nmetrics:\n  listen: file:1\n"));
  {
    const Config c = load_config(path, kNoEnv);
    EXPECT_EQ(c.kafka.brokers, "file:1");
    EXPECT_EQ(c.kafka.group_id, "file-group");
    EXPECT_EQ(c.database.url, "postgresql://file/db");
    EXPECT_EQ(c.metrics_listen, "file:1");
    EXPECT_EQ(c.source_path, path);
  }
  const auto env = env_of({{"LOCKSTEP_KAFKA_BROKERS", "env:1"},
                           {"LOCKSTEP_KAFKA_GROUP_ID", "env-group"},
                           {"LOCKSTEP_DATABASE_URL", "postgresql://env/db"},
                           {"LOCKSTEP_METRICS_LISTEN", "env:2"}});
  {
    const Config c = load_config(path, env);
    EXPECT_EQ(c.kafka.brokers, "env:1");
    EXPECT_EQ(c.kafka.group_id, "env-group");
    EXPECT_EQ(c.database.url, "postgresql://env/db");
    EXPECT_EQ(c.metrics_listen, "env:2");
  }
  {
    ConfigOverrides flags;
    flags.brokers = "flag:1";
    flags.database_url = "sqlite:///tmp/flag.db";
    flags.naive = true;
    const Config c = load_config(path, env, flags);
    EXPECT_EQ(c.kafka.brokers, "flag:1");
    EXPECT_EQ(c.kafka.group_id, "env-group");  // no flag: env stands
    EXPECT_EQ(c.database.url, "sqlite:///tmp/flag.db");
    EXPECT_EQ(c.metrics_listen, "env:2");
    EXPECT_TRUE(c.naive);
  }
}

TEST(LoadConfig, SecretsComeFromTheEnvironmentOrFiles) {
  TempDir dir;
  const auto secret = dir.write("sasl.pw", "s3cr3t-from-file\n");
  const auto path = dir.write(
      "c.yaml", doc("kafka:\n  properties:\n    sasl.username: \"${env:KAFKA_USER}\"\n"
                    "    sasl.password: \"${file:" + secret + "}\"\n    client.id: \"a$${b}c\"\n"
                    "database:\n  url: \"postgresql://lockstep:${env:DB_PASSWORD}@db/lockstep\"\n"));
  const auto env = env_of({{"KAFKA_USER", "worker-1"}, {"DB_PASSWORD", "hunter2"}});
  const Config c = load_config(path, env);
  EXPECT_EQ(c.kafka.properties.at("sasl.username"), "worker-1");
  EXPECT_EQ(c.kafka.properties.at("sasl.password"), "s3cr3t-from-file") << "one trailing newline dropped";
  EXPECT_EQ(c.kafka.properties.at("client.id"), "a${b}c");
  EXPECT_EQ(c.database.url, "postgresql://lockstep:hunter2@db/lockstep");

  // A missing variable or file stops start-up naming the key and the reference, never a value.
  auto fails = [&](const std::string& yaml, const std::string& key, const std::string& names,
                   const EnvLookup& e) {
    const auto p = dir.write("bad.yaml", doc(yaml));
    try {
      load_config(p, e);
      ADD_FAILURE() << "expected ConfigError for " << yaml;
    } catch (const ConfigError& err) {
      EXPECT_EQ(err.key(), key) << err.what();
      EXPECT_NE(std::string(err.what()).find(names), std::string::npos) << err.what();
      EXPECT_EQ(std::string(err.what()).find("hunter2"), std::string::npos) << err.what();
    }
  };
  fails("kafka:\n  properties:\n    sasl.password: \"${env:NOPE}\"\n", "kafka.properties.sasl.password", "NOPE", env);
  fails("kafka:\n  properties:\n    sasl.password: \"${file:" + (dir.path() / "missing").string() + "}\"\n",
        "kafka.properties.sasl.password", (dir.path() / "missing").string(), env);
  fails("kafka:\n  properties:\n    sasl.password: \"${vault:x}\"\n", "kafka.properties.sasl.password", "vault", env);
  fails("kafka:\n  properties:\n    sasl.password: \"${env:DB_PASSWORD\"\n", "kafka.properties.sasl.password",
        "unterminated", env);
  fails("database:\n  url: \"postgresql://u:${env:MISSING}@h/db\"\n", "database.url", "MISSING", env);
}

TEST(LoadConfig, EnvFixesABadFileValueAndBadEnvIsNamed) {
  TempDir dir;
  const auto path = dir.write("c.yaml", doc("database:\n  url: nonsense\n"));
  EXPECT_THROW(load_config(path, kNoEnv), ConfigError);
  EXPECT_EQ(load_config(path, env_of({{"LOCKSTEP_DATABASE_URL", "postgres://ok/db"}})).database.url,
            "postgres://ok/db");
  try {
    load_config(std::nullopt, env_of({{"LOCKSTEP_DATABASE_URL", "mysql://u:hunter2@h/db"}}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "database.url");
    const std::string msg = e.what();
    EXPECT_NE(msg.find("LOCKSTEP_DATABASE_URL (database.url)"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
  }
  try {
    load_config(std::nullopt, env_of({{"LOCKSTEP_METRICS_LISTEN", "nope"}}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "metrics.listen");
    EXPECT_NE(std::string(e.what()).find("LOCKSTEP_METRICS_LISTEN"), std::string::npos) << e.what();
  }
  ConfigOverrides flags;
  flags.metrics_listen = "bad";
  try {
    load_config(std::nullopt, kNoEnv, flags);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "metrics.listen");
  }
}

TEST(LoadConfig, SetButEmptyEnvIsAnError) {
  for (const auto& [var, key] : std::map<std::string, std::string>{{"LOCKSTEP_KAFKA_BROKERS", "kafka.brokers"},
                                                                   {"LOCKSTEP_KAFKA_GROUP_ID", "kafka.group_id"},
                                                                   {"LOCKSTEP_DATABASE_URL", "database.url"},
                                                                   {"LOCKSTEP_METRICS_LISTEN", "metrics.listen"}}) {
    SCOPED_TRACE(var);
    try {
      load_config(std::nullopt, env_of({{var, ""}}));
      ADD_FAILURE() << "expected ConfigError";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), key);
      EXPECT_NE(std::string(e.what()).find(var), std::string::npos) << e.what();
    }
  }
}

TEST(LoadConfig, MissingOrUnreadableFile) {
  TempDir dir;
  for (const std::string& p : {(dir.path() / "missing.yaml").string(), dir.path().string()}) {
    try {
      load_config(p, kNoEnv);
      ADD_FAILURE() << "expected ConfigError for " << p;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), "config");
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("config: cannot read " + p + ": ", 0), 0u) << msg;
    }
  }
}

TEST(LoadConfig, DefaultPathThenBuiltin) {
  TempDir dir;
  {
    Chdir cd(dir.path());  // no ./config/lockstep.yaml here
    const Config c = load_config(std::nullopt, kNoEnv);
    EXPECT_EQ(c.source_path, "<built-in>");
    EXPECT_EQ(c.machines.count("membership"), 1u);
  }
  dir.write("config/lockstep.yaml", doc("retry: { max_attempts: 9 }\n"));
  {
    Chdir cd(dir.path());
    const Config c = load_config(std::nullopt, kNoEnv);
    EXPECT_NE(c.source_path, "<built-in>");
    EXPECT_NE(c.source_path.find("config/lockstep.yaml"), std::string::npos);
    EXPECT_EQ(c.retry.max_attempts, 9);
    EXPECT_EQ(c.machines.count("thing"), 1u);
  }
}

TEST(LoadConfig, ProcessEnvReadsTheEnvironment) {
  const auto env = process_env();
  ::setenv("LOCKSTEP_CONFIG_TEST_VAR", "v1", 1);
  EXPECT_EQ(env("LOCKSTEP_CONFIG_TEST_VAR"), "v1");
  ::unsetenv("LOCKSTEP_CONFIG_TEST_VAR");
  EXPECT_EQ(env("LOCKSTEP_CONFIG_TEST_VAR"), std::nullopt);
}

// ------------------------------------------------------------ secrets

// What `lockstep topics` and the worker's start-up check: every topic named, with its role.
TEST(ConfiguredTopics, InputsThenDeadLetterThenOutcomeWhenSet) {
  KafkaConfig k;
  k.topics = {{"in.a", "a"}, {"in.b", "b"}};
  k.dead_letter_topic = "dl";
  auto t = configured_topics(k);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].topic + "/" + t[0].role, "in.a/input");
  EXPECT_EQ(t[1].topic + "/" + t[1].role, "in.b/input");
  EXPECT_EQ(t[2].topic + "/" + t[2].role, "dl/dead-letter");
  k.outcome_topic = "out";
  t = configured_topics(k);
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[3].topic + "/" + t[3].role, "out/outcome");
}

TEST(RedactUrl, Cases) {
  EXPECT_EQ(redact_url("postgresql://user:secret@host:5432/db"), "postgresql://user:***@host:5432/db");
  EXPECT_EQ(redact_url("postgres://user:p@ss:w/rd@host/db?sslmode=require"),
            "postgres://user:***@host/db?sslmode=require");
  EXPECT_EQ(redact_url("postgresql://user@host/db"), "postgresql://user@host/db");
  EXPECT_EQ(redact_url("postgresql://localhost/lockstep"), "postgresql://localhost/lockstep");
  EXPECT_EQ(redact_url("postgresql://host:5432/db"), "postgresql://host:5432/db");
  EXPECT_EQ(redact_url("postgresql://h/db?user=u&password=secret&sslmode=require"),
            "postgresql://h/db?user=u&password=***&sslmode=require");
  EXPECT_EQ(redact_url("postgresql://u:a@h1:5432,h2:5433/db"), "postgresql://u:***@h1:5432,h2:5433/db");
  EXPECT_EQ(redact_url("host=db user=u password=secret dbname=x"), "host=db user=u password=*** dbname=x");
  EXPECT_EQ(redact_url("host=db password = 'se cret\\' x' dbname=x"), "host=db password = *** dbname=x");
  EXPECT_EQ(redact_url("password=secret"), "password=***");
  EXPECT_EQ(redact_url("host=db sslpassword=secret"), "host=db sslpassword=***");
  EXPECT_EQ(redact_url("sqlite:///var/lib/lockstep.db"), "sqlite:///var/lib/lockstep.db");
  EXPECT_EQ(redact_url("postgres:/user:secret@host"), "postgres:***@host");
  EXPECT_EQ(redact_url(""), "");
}

TEST(Secrets, NeverInAnyErrorMessage) {
  const std::string pw = "hunter2xyz";
  std::vector<std::string> messages;
  auto collect = [&](const std::function<void()>& f) {
    try {
      f();
      ADD_FAILURE() << "expected ConfigError";
    } catch (const ConfigError& e) {
      messages.emplace_back(e.what());
    }
  };
  collect([&] { parse_config(doc("database: { url: \"mysql://u:" + pw + "@h/db\" }\n"), "x"); });
  collect([&] { parse_config(doc("database: { url: \"u:" + pw + "@h/db\" }\n"), "x"); });
  collect([&] { parse_config(doc("database: { url: \"postgresql://u:" + pw + "@h/db\", pool_size: 0 }\n"), "x"); });
  collect([&] { parse_config(doc("database: { url: { password: " + pw + " } }\n"), "x"); });
  collect([&] { parse_config(doc("database: { url: [\"" + pw + "\"] }\n"), "x"); });
  collect([&] { parse_config(doc("kafka:\n  properties:\n    sasl.password: [" + pw + "]\n"), "x"); });
  collect([&] { parse_config(doc("kafka:\n  properties:\n    sasl.jaas.config: { x: " + pw + " }\n"), "x"); });
  collect([&] { parse_config(doc("kafka:\n  properties:\n    ssl.key.password: " + pw + "\n  brokers: \"\"\n"), "x"); });
  collect([&] { parse_config(doc("kafka:\n  properties:\n    client.secret: " + pw + "\n  topics: []\n"), "x"); });
  ConfigOverrides bad_listen;
  bad_listen.metrics_listen = "bad";
  collect([&] {
    load_config(std::nullopt, env_of({{"LOCKSTEP_DATABASE_URL", "user=u password=" + pw}}), bad_listen);
  });
  collect([&] { load_config(std::nullopt, env_of({{"LOCKSTEP_DATABASE_URL", "oops://u:" + pw + "@h"}})); });
  ConfigOverrides flags;
  flags.database_url = "pg://u:" + pw + "@h/db";
  collect([&] { load_config(std::nullopt, kNoEnv, flags); });
  for (const auto& m : messages) {
    EXPECT_EQ(m.find(pw), std::string::npos) << m;
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  }
  EXPECT_EQ(messages.size(), 12u);
}

}  // namespace
}  // namespace lockstep
