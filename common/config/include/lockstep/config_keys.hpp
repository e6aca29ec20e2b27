// The configuration keys, declared once. Parsing, validation, the defaults
// shown, the environment and flag overrides, `lockstep config keys` (the
// key table of docs/configuration.md) and `lockstep config show` all read this one table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lockstep/config.hpp"

namespace lockstep {

// What a key holds; decides how it is parsed and printed.
enum class KeyType {
  integer,     // a whole number in [min, max]
  boolean,     // true/false (also yes/no, on/off)
  string,      // a scalar
  brokers,     // host:port list: a comma-separated string or a YAML list
  topics,      // input topics: topic -> source name (also a list)
  string_map,  // free-form names -> scalar values
  tokens,      // admin tokens: name -> {role, token}
  machines,    // state machines per aggregate type
};
const char* to_string(KeyType t);

// How a value is shown: in full, with a URL's password masked, or every value masked.
enum class Secret { no, password, values };

// The field of Config that a key sets.
using FieldRef = std::variant<int*, std::size_t*, bool*, std::string*, std::vector<InputTopic>*,
                              std::map<std::string, std::string>*, std::vector<AdminToken>*, MachineSet*>;

struct ConfigKey;
// A check of the final value (after environment and flags); throws ConfigError.
// `label` names where the value came from, e.g. "LOCKSTEP_DATABASE_URL (database.url)".
using KeyCheck = void (*)(const Config& c, const std::string& key, const std::string& label);

struct ConfigKey {
  std::string_view name = {};  // dotted, e.g. "retry.max_attempts"
  KeyType type = KeyType::string;
  std::int64_t min = 0;  // integer keys: the accepted range
  std::int64_t max = 0;
  bool refuse_zero = false;  // integer keys: 0 is refused although in [min, max]
  std::string_view range = {};  // what is accepted, as documented; empty for an integer: "min..max"
  std::string_view doc = {};    // one line
  Secret secret = Secret::no;
  bool secret_refs = false;    // may hold ${env:NAME} and ${file:PATH} references
  bool null_is_empty = false;  // string keys: an empty value (`~`) means "off"
  std::string_view item = {};    // string_map keys: what one entry is called in messages
  std::string_view env = {};     // the environment variable that overrides it, or empty
  std::string_view flag = {};    // the command-line flag that overrides it, or empty
  FieldRef (*field)(Config&) = nullptr;
  std::optional<std::string> (*flag_value)(const ConfigOverrides&) = nullptr;
  KeyCheck check = nullptr;  // more than type and range, checked on the final value
};

// Every key, in the order of the shipped config/lockstep.yaml.
std::span<const ConfigKey> config_keys();
const ConfigKey* find_config_key(std::string_view name);

// "min..max" for an integer key without its own range text, else `range`.
std::string range_text(const ConfigKey& k);
// A value as `config show` prints it, secrets masked; the default is the value of
// a default-constructed Config.
std::string value_text(const ConfigKey& k, const Config& c);
std::string default_text(const ConfigKey& k);

// The key table: a Markdown table (docs/configuration.md's) or plain text lines.
std::string config_keys_markdown();
std::string config_keys_text();

// Where a value of the effective configuration came from.
struct ValueSource {
  enum class Kind { default_value, file, environment, flag };
  Kind kind = Kind::default_value;
  std::string detail;  // the file, variable or flag; for a default, what it is ("built-in machines")
};
std::string to_string(const ValueSource& s);

struct TracedConfig {
  Config config;
  std::map<std::string, ValueSource> sources;  // by key name, every key
};

// load_config, also telling where each value came from.
TracedConfig load_config_traced(const std::optional<std::string>& path, const EnvLookup& env,
                                const ConfigOverrides& flags = {});

// `lockstep config show`: one line per key (key, value with secrets masked,
// source), after a heading naming the file.
std::string render_config_show(const TracedConfig& t);

}  // namespace lockstep
