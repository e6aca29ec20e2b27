// The key table (lockstep/config_keys.hpp) against everything that must agree
// with it: the parser's ranges, the shipped config/lockstep.yaml, the key
// table of docs/configuration.md, and `config show`'s sources and masking.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <iterator>

#include "lockstep/config_keys.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string kMachines = "machines:\n  thing:\n    transitions:\n      create: { from: [new], to: open }\n";

// `section:\n  name: value\n` for a dotted key (up to three levels).
std::string yaml_setting(std::string_view key, const std::string& value) {
  std::string out, indent;
  std::size_t at = 0;
  for (auto dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', at)) {
    out += indent + std::string(key.substr(at, dot - at)) + ":\n";
    indent += "  ";
    at = dot + 1;
  }
  return out + indent + std::string(key.substr(at)) + ": " + value + "\n";
}

const EnvLookup kNoEnv = [](const char*) -> std::optional<std::string> { return std::nullopt; };

TEST(ConfigKeys, NamesAreUniqueAndFound) {
  std::set<std::string_view> seen;
  for (const auto& k : config_keys()) {
    EXPECT_TRUE(seen.insert(k.name).second) << k.name;
    EXPECT_EQ(find_config_key(k.name), &k);
    EXPECT_FALSE(k.doc.empty()) << k.name;
    EXPECT_NE(k.field, nullptr) << k.name;
  }
  EXPECT_EQ(find_config_key("retry.nope"), nullptr);
}

// Each key's field holds what its type parses to.
TEST(ConfigKeys, FieldsMatchTheirTypes) {
  for (const auto& k : config_keys()) {
    SCOPED_TRACE(std::string(k.name));
    Config c;
    const FieldRef f = k.field(c);
    switch (k.type) {
      case KeyType::integer:
        EXPECT_TRUE(std::holds_alternative<int*>(f) || std::holds_alternative<std::size_t*>(f));
        break;
      case KeyType::boolean: EXPECT_TRUE(std::holds_alternative<bool*>(f)); break;
      case KeyType::string:
      case KeyType::brokers: EXPECT_TRUE(std::holds_alternative<std::string*>(f)); break;
      case KeyType::topics: EXPECT_TRUE(std::holds_alternative<std::vector<InputTopic>*>(f)); break;
      case KeyType::string_map:
        EXPECT_TRUE((std::holds_alternative<std::map<std::string, std::string>*>(f)));
        EXPECT_FALSE(k.item.empty());
        break;
      case KeyType::tokens:
        EXPECT_TRUE(std::holds_alternative<std::vector<AdminToken>*>(f));
        EXPECT_NE(k.secret, Secret::no) << "tokens are never printed";
        break;
      case KeyType::machines: EXPECT_TRUE(std::holds_alternative<MachineSet*>(f)); break;
    }
    if (k.type == KeyType::integer) {
      EXPECT_LE(k.min, k.max);
    }
    EXPECT_EQ(k.flag.empty(), k.flag_value == nullptr);
  }
}

// The keys the external contract names are all there, and exactly these
// environment variables override values.
TEST(ConfigKeys, TheContractsKeysAndVariables) {
  for (const char* name : {"kafka.brokers", "kafka.group_id", "kafka.topics", "kafka.dead_letter_topic",
                           "kafka.outcome_topic", "kafka.properties", "database.url", "retry.max_attempts",
                           "retry.base_delay_ms", "retry.max_delay_ms", "limits.max_event_bytes", "metrics.listen",
                           "shutdown.timeout_ms", "machines", "admin.listen", "admin.tokens"}) {
    EXPECT_NE(find_config_key(name), nullptr) << name;
  }
  std::map<std::string, std::string> env;
  for (const auto& k : config_keys()) {
    if (!k.env.empty()) env[std::string(k.env)] = std::string(k.name);
  }
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"LOCKSTEP_ADMIN_LISTEN", "admin.listen"},
                                                      {"LOCKSTEP_DATABASE_URL", "database.url"},
                                                      {"LOCKSTEP_KAFKA_BROKERS", "kafka.brokers"},
                                                      {"LOCKSTEP_KAFKA_GROUP_ID", "kafka.group_id"},
                                                      {"LOCKSTEP_METRICS_LISTEN", "metrics.listen"}}));
}

// Every integer key: its default is in range, and the parser refuses one past
// each end with the message the table implies.
TEST(ConfigKeys, IntegerRangesAreWhatTheParserEnforces) {
  for (const auto& k : config_keys()) {
    if (k.type != KeyType::integer) continue;
    SCOPED_TRACE(std::string(k.name));
    const auto def = std::stoll(default_text(k));
    EXPECT_GE(def, k.min);
    EXPECT_LE(def, k.max);
    for (const auto bad : {k.min - 1, k.max + 1}) {
      try {
        parse_config(kMachines + yaml_setting(k.name, std::to_string(bad)), "t.yaml");
        ADD_FAILURE() << "accepted " << bad;
      } catch (const ConfigError& e) {
        EXPECT_EQ(e.key(), k.name);
        EXPECT_EQ(std::string(e.what()), "config: " + std::string(k.name) + ": must be an integer between " +
                                             std::to_string(k.min) + " and " + std::to_string(k.max) + " (got \"" +
                                             std::to_string(bad) + "\")");
      }
    }
    std::string at_max = yaml_setting(k.name, std::to_string(k.max));
    if (k.name == "retry.base_delay_ms") at_max += "  max_delay_ms: " + std::to_string(k.max) + "\n";  // >= base
    const Config c = parse_config(kMachines + at_max, "t.yaml");
    EXPECT_EQ(value_text(k, c), std::to_string(k.max));
  }
}

// The shipped file sets every key of the table to its default, says each
// integer key's upper bound in the comment above it, and has nothing else.
TEST(ConfigKeys, ShippedFileListsEveryKeyWithItsDefault) {
  const std::string path = test::source_dir() + "/config/lockstep.yaml";
  const std::string text = read_all(path);
  const YAML::Node root = YAML::Load(text);
  const Config shipped = parse_config(text, path);
  for (const auto& k : config_keys()) {
    SCOPED_TRACE(std::string(k.name));
    YAML::Node n = root;
    std::size_t line = 0;  // where the key is set in the text
    std::string indent;
    for (std::size_t at = 0; at <= k.name.size(); indent += "  ") {
      auto dot = k.name.find('.', at);
      if (dot == std::string_view::npos) dot = k.name.size();
      const std::string part(k.name.substr(at, dot - at));
      n.reset(n[part]);
      line = text.find("\n" + indent + part + ":", line);
      at = dot + 1;
    }
    ASSERT_TRUE(n.IsDefined()) << "config/lockstep.yaml does not list " << k.name;
    ASSERT_NE(line, std::string::npos);
    if (k.type != KeyType::machines) {
      EXPECT_EQ(value_text(k, shipped), default_text(k));
    }
    if (k.type != KeyType::integer) continue;
    std::string comment;  // the comment lines just above
    for (auto end = line; end > 0;) {
      const auto begin = text.rfind('\n', end - 1);
      if (begin == std::string::npos || text.compare(begin + 1, indent.size() - 2 + 1, indent.substr(2) + "#") != 0)
        break;
      comment = text.substr(begin, end - begin) + comment;
      end = begin;
    }
    EXPECT_NE(comment.find(".." + std::to_string(k.max)), std::string::npos)
        << "the comment above " << k.name << " should give its range " << range_text(k) << ": " << comment;
  }
  std::set<std::string> sections;
  for (const auto& k : config_keys()) sections.insert(std::string(k.name.substr(0, k.name.find('.'))));
  for (auto it = root.begin(); it != root.end(); ++it) EXPECT_EQ(sections.count(it->first.Scalar()), 1u);
}

// docs/configuration.md's key table is the generated one: scripts/gen-docs
// writes `lockstep config keys --markdown` between the markers.
TEST(ConfigKeys, DocsTableIsTheGeneratedOne) {
  const std::string doc = read_all(test::source_dir() + "/docs/configuration.md");
  const std::string begin = "<!-- config-keys:begin";
  const std::string end = "<!-- config-keys:end -->";
  const auto b = doc.find(begin);
  const auto e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << "docs/configuration.md has no " << begin << " marker";
  ASSERT_NE(e, std::string::npos) << "docs/configuration.md has no " << end << " marker";
  EXPECT_EQ(doc.find(begin, b + 1), std::string::npos) << "two begin markers";
  const auto first = doc.find('\n', b) + 1;
  ASSERT_LE(first, e);
  EXPECT_EQ(doc.substr(first, e - first), config_keys_markdown())
      << "docs/configuration.md's key table differs from `lockstep config keys --markdown`: run scripts/gen-docs";
}

TEST(ConfigShow, SourcesAndMasking) {
  const std::string dir = std::filesystem::temp_directory_path() / ("lockstep-keys-test-" + test::unique_suffix());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/c.yaml";
  std::ofstream(path) << kMachines
                      << "kafka:\n  group_id: from-file\n  properties:\n    sasl.password: \"${env:PW}\"\n"
                         "retry:\n  max_attempts: 7\n";
  const EnvLookup env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "PW") return "kafka-secret-1";
    if (std::string(name) == "LOCKSTEP_DATABASE_URL") return "postgresql://u:db-secret-2@h/db";
    return std::nullopt;
  };
  ConfigOverrides flags;
  flags.brokers = "flag-host:9092";
  const TracedConfig t = load_config_traced(path, env, flags);
  EXPECT_EQ(to_string(t.sources.at("kafka.group_id")), "file " + path);
  EXPECT_EQ(to_string(t.sources.at("kafka.properties")), "file " + path + ", with ${env:PW}");
  EXPECT_EQ(to_string(t.sources.at("retry.max_attempts")), "file " + path);
  EXPECT_EQ(to_string(t.sources.at("database.url")), "environment LOCKSTEP_DATABASE_URL");
  EXPECT_EQ(to_string(t.sources.at("kafka.brokers")), "flag --brokers");
  EXPECT_EQ(to_string(t.sources.at("batch.max_events")), "default");
  EXPECT_EQ(t.config.kafka.properties.at("sasl.password"), "kafka-secret-1");
  EXPECT_EQ(load_config(path, env, flags).database.url, t.config.database.url);

  const std::string shown = render_config_show(t);
  EXPECT_EQ(shown.find("secret-1"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("secret-2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("postgresql://u:***@h/db"), std::string::npos) << shown;
  EXPECT_NE(shown.find("{sasl.password: ***}"), std::string::npos) << shown;
  EXPECT_NE(shown.find("flag-host:9092"), std::string::npos) << shown;
  std::size_t lines = 0;
  for (const char c : shown) lines += c == '\n';
  EXPECT_EQ(lines, config_keys().size() + 1);
  std::filesystem::remove_all(dir);

  const TracedConfig builtin = load_config_traced(test::source_dir() + "/config/lockstep.yaml", kNoEnv);
  EXPECT_EQ(to_string(builtin.sources.at("machines")), "file " + test::source_dir() + "/config/lockstep.yaml");
}

// A file without `machines`: the built-in machines, and `config show` says so.
TEST(ConfigShow, MachinesLeftOutAreTheBuiltInOnes) {
  const test::TempDir dir;
  const std::string path = dir.path + "/c.yaml";
  std::ofstream(path) << "kafka:\n  brokers: k:9092\ndatabase:\n  url: postgresql://db/x\n";
  const TracedConfig t = load_config_traced(path, kNoEnv);
  EXPECT_EQ(t.config.machines.size(), builtin_machines().size());
  EXPECT_EQ(t.config.machines.count("membership"), 1u);
  EXPECT_EQ(to_string(t.sources.at("machines")), "default (built-in machines)");
  EXPECT_EQ(to_string(t.sources.at("retry.max_attempts")), "default");
  EXPECT_EQ(to_string(t.sources.at("kafka.brokers")), "file " + path);
  const std::string shown = render_config_show(t);
  const auto at = shown.find("\nmachines ");
  ASSERT_NE(at, std::string::npos) << shown;
  const std::string line = shown.substr(at + 1, shown.find('\n', at + 1) - at - 1);
  EXPECT_NE(line.find("membership ("), std::string::npos) << line;
  EXPECT_NE(line.find("default (built-in machines)"), std::string::npos) << line;
  // The key table gives the built-in machines as the default.
  EXPECT_EQ(default_text(*find_config_key("machines")), "built-in: membership (" +
                                                            std::to_string(builtin_machines().at("membership").transitions.size()) +
                                                            " transitions)");
}

}  // namespace
}  // namespace lockstep
