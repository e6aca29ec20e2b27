// Shared by the parts of the config library; not installed.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/config.hpp"
#include "lockstep/config_keys.hpp"

namespace lockstep::config_detail {

// ---- messages (yaml_values.cpp)

// Throws ConfigError("config: <label>: <message>"); the label defaults to the key.
[[noreturn]] void fail(const std::string& key, const std::string& message, const std::string& label = "");
// A short, printable, quoted rendering of a scalar.
std::string quote(std::string_view s);
// What a node is, for "(got ...)" in messages.
std::string describe(const YAML::Node& n);
std::string join(const std::vector<std::string>& names);
std::string lower(std::string_view s);
bool blank(std::string_view s);

// ---- node access (yaml_values.cpp)

// The entries of a mapping in document order; duplicate and non-scalar keys are
// errors; a null node has none.
std::vector<std::pair<std::string, YAML::Node>> entries(const YAML::Node& n, const std::string& key);
[[noreturn]] void unknown_key(const std::string& key, const std::vector<std::string>& allowed);
std::int64_t get_int(const YAML::Node& n, const std::string& key, std::int64_t lo, std::int64_t hi);
bool get_bool(const YAML::Node& n, const std::string& key);
// A string value. Only non-scalars are described, so a bad value is never echoed.
std::string get_string(const YAML::Node& n, const std::string& key);

// ---- parsing (parse.cpp, parse_topics_machines.cpp)

// Structure, types and ranges of everything; records in `present` the keys the
// document sets.
Config parse_document(const std::string& yaml_text, const std::string& source_path,
                      std::set<std::string>* present = nullptr);
std::vector<InputTopic> parse_topics(const YAML::Node& v, const std::string& key);
std::vector<AdminToken> parse_admin_tokens(const YAML::Node& v, const std::string& key);
// `machines`, or the built-in machines when the document has no `machines` (nullopt).
MachineSet parse_machines(const std::optional<YAML::Node>& n);
void check_topic_name(const std::string& topic, const std::string& key);

// ---- validation (validate.cpp): the KeyChecks of the table

// Runs every key's check on the final values; `labels` maps a key to where its
// value came from ("LOCKSTEP_DATABASE_URL (database.url)"), when not the file.
void validate_final(const Config& c, const std::map<std::string, std::string>& labels);
void check_brokers(const Config& c, const std::string& key, const std::string& label);
void check_group_id(const Config& c, const std::string& key, const std::string& label);
void check_topics(const Config& c, const std::string& key, const std::string& label);
void check_dead_letter_topic(const Config& c, const std::string& key, const std::string& label);
void check_outcome_topic(const Config& c, const std::string& key, const std::string& label);
void check_database_url(const Config& c, const std::string& key, const std::string& label);
void check_listen(const Config& c, const std::string& key, const std::string& label);
// host:port (a name, IPv4 or [IPv6] host; port 0..65535).
bool valid_listen(const std::string& s);
void check_admin_listen(const Config& c, const std::string& key, const std::string& label);
void check_admin_tokens(const Config& c, const std::string& key, const std::string& label);
// Values written in a short form, in their full one: a bare admin.listen port binds 127.0.0.1.
void normalise_final(Config& c);
void check_max_delay(const Config& c, const std::string& key, const std::string& label);
void check_machines(const Config& c, const std::string& key, const std::string& label);

// ---- sources (sources.cpp)

std::string read_file(const std::string& path);
// Replaces ${env:NAME} and ${file:PATH} references; `$${` is a literal `${`.
std::string expand_secret_refs(const std::string& value, const std::string& key, const EnvLookup& env);

// ---- redaction (redact.cpp)

inline constexpr const char* kMask = "***";

}  // namespace lockstep::config_detail
