// Configuration (contract §7): YAML file, then LOCKSTEP_* environment, then flags.
//
// Parsing is strict: unknown sections and keys, wrong types and out-of-range values
// are ConfigErrors naming the dotted key, so a typo cannot pass silently. Values
// that may still be overridden (brokers, group id, database URL, metrics address)
// are validated after the environment and flags are applied, so the message can
// name where the bad value came from. Secrets are never echoed: database URLs go
// through redact_url and kafka.properties values are never printed at all.
#include "lockstep/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "lockstep/event.hpp"

namespace lockstep {

namespace {

constexpr std::int64_t kMaxEventBytes = 64LL * 1024 * 1024;

// ---------------------------------------------------------------- messages

// Where a value came from, for messages: "database.url" (the file),
// "LOCKSTEP_DATABASE_URL (database.url)" or "--database-url (database.url)".
using Labels = std::map<std::string, std::string>;

[[noreturn]] void fail(const std::string& key, const std::string& message, const Labels* labels = nullptr) {
  std::string label = key;
  if (labels != nullptr) {
    const auto it = labels->find(key);
    if (it != labels->end()) label = it->second;
  }
  throw ConfigError(key, "config: " + label + ": " + message);
}

// A short, printable, quoted rendering of a scalar taken from the document.
std::string quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr std::size_t kMax = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == kMax) {
      out += "...";
      break;
    }
    const auto b = static_cast<unsigned char>(s[i]);
    if (b == '"' || b == '\\') {
      out += '\\';
      out += static_cast<char>(b);
    } else if (b < 0x20 || b == 0x7F) {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    } else {
      out += static_cast<char>(b);
    }
  }
  out += "\"";
  return out;
}

// What a node is, for "(got ...)" in messages.
std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return quote(n.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::string join(std::initializer_list<const char*> names) {
  std::string out;
  for (const char* n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool blank(std::string_view s) {
  for (const char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

// ---------------------------------------------------------------- node access

// The entries of a mapping in document order, keys as strings; duplicate keys and
// non-scalar keys are errors. A null node (an empty section) has no entries.
std::vector<std::pair<std::string, YAML::Node>> entries(const YAML::Node& n, const std::string& key) {
  std::vector<std::pair<std::string, YAML::Node>> out;
  if (n.IsNull()) return out;
  if (!n.IsMap()) fail(key, "must be a mapping (got " + describe(n) + ")");
  std::set<std::string> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) fail(key, "keys must be plain names (got " + describe(it->first) + ")");
    const std::string name = it->first.Scalar();
    const std::string child = key.empty() ? name : key + "." + name;
    if (!seen.insert(name).second) fail(child, "duplicate key");
    out.emplace_back(name, it->second);
  }
  return out;
}

[[noreturn]] void unknown_key(const std::string& key, std::initializer_list<const char*> allowed) {
  fail(key, "unknown key (expected one of: " + join(allowed) + ")");
}

std::optional<std::int64_t> to_int(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::size_t start = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (start == s.size()) return std::nullopt;
  for (std::size_t i = start; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  if (s[0] == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::int64_t get_int(const YAML::Node& n, const std::string& key, std::int64_t lo, std::int64_t hi) {
  std::optional<std::int64_t> v;
  if (n.IsScalar()) v = to_int(n.Scalar());
  if (!v || *v < lo || *v > hi) {
    fail(key, "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
                  describe(n) + ")");
  }
  return *v;
}

int get_int32(const YAML::Node& n, const std::string& key, int lo, int hi) {
  return static_cast<int>(get_int(n, key, lo, hi));
}

bool get_bool(const YAML::Node& n, const std::string& key) {
  if (n.IsScalar()) {
    const std::string v = lower(n.Scalar());
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
  }
  fail(key, "must be true or false (got " + describe(n) + ")");
}

// A string value. Only non-scalars are described, so a bad value is never echoed.
std::string get_string(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) fail(key, "must be a string (got " + describe(n) + ")");
  return n.Scalar();
}

// ---------------------------------------------------------------- validation helpers

}  // namespace

std::vector<ConfiguredTopic> configured_topics(const KafkaConfig& k) {
  std::vector<ConfiguredTopic> out;
  for (const auto& t : k.topics) out.push_back({t.topic, "input"});
  out.push_back({k.dead_letter_topic, "dead-letter"});
  if (!k.outcome_topic.empty()) out.push_back({k.outcome_topic, "outcome"});
  return out;
}

bool is_valid_topic_name(std::string_view t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  for (const char c : t) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

void check_topic_name(const std::string& topic, const std::string& key) {
  if (topic.empty()) fail(key, "must not be empty");
  if (!is_valid_topic_name(topic)) {
    fail(key, "is not a valid Kafka topic name: 1-249 characters of [a-zA-Z0-9._-] (got " + quote(topic) + ")");
  }
}

std::string default_source(const std::string& topic) {
  const auto dot = topic.rfind('.');
  return dot == std::string::npos ? topic : topic.substr(dot + 1);
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  for (const char c : p) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoi(std::string(p)) <= 65535;
}

bool valid_listen(const std::string& s) {
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string::npos || close == 1) return false;
    const auto host = s.substr(1, close - 1);
    if (host.find_first_of("[] \t") != std::string::npos) return false;
    if (close + 1 >= s.size() || s[close + 1] != ':') return false;
    return valid_port(std::string_view(s).substr(close + 2));
  }
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const auto host = s.substr(0, colon);
  if (host.find_first_of(":[] \t/") != std::string::npos) return false;
  return valid_port(std::string_view(s).substr(colon + 1));
}

// One bootstrap server as librdkafka takes it: [protocol://]host[:port], the
// host a name, an IPv4 address or a [bracketed] IPv6 address, the port 1..65535.
bool valid_broker(std::string_view s) {
  if (const auto scheme = s.find("://"); scheme != std::string_view::npos) {
    const auto proto = s.substr(0, scheme);
    if (proto.empty() || proto.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_") !=
                             std::string_view::npos)
      return false;
    s = s.substr(scheme + 3);
  }
  if (s.empty() || s.find_first_of(" \t/,") != std::string_view::npos) return false;
  const bool bracketed = s[0] == '[';
  const auto colons = std::count(s.begin(), s.end(), ':');
  if (!bracketed && colons == 0) return true;  // host only: librdkafka's default port
  if (!bracketed && colons > 1) return false;  // an IPv6 address needs brackets
  return valid_listen(std::string(s)) && s.substr(s.rfind(':') + 1).find_first_not_of('0') != std::string_view::npos;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// ---------------------------------------------------------------- sections

void parse_kafka(const YAML::Node& n, KafkaConfig& k) {
  static constexpr auto kKeys = {"brokers",       "group_id",   "topics",    "dead_letter_topic",
                                 "outcome_topic", "properties", "new_topics"};
  for (const auto& [name, v] : entries(n, "kafka")) {
    const std::string key = "kafka." + name;
    if (name == "brokers") {
      if (v.IsSequence()) {  // a list of host:port is accepted too
        std::string joined;
        for (const auto& b : v) {
          const std::string s = get_string(b, key);
          if (blank(s)) fail(key, "entries must not be empty");
          if (!joined.empty()) joined += ",";
          joined += s;
        }
        k.brokers = joined;
      } else {
        k.brokers = get_string(v, key);
      }
    } else if (name == "group_id") {
      k.group_id = get_string(v, key);
    } else if (name == "topics") {
      std::vector<InputTopic> topics;
      if (v.IsMap()) {
        for (const auto& [topic, src] : entries(v, key)) {
          check_topic_name(topic, key);
          std::string source = src.IsNull() ? default_source(topic) : get_string(src, key + "." + topic);
          if (blank(source)) fail(key + "." + topic, "source name must not be empty");
          topics.push_back({topic, source});
        }
      } else if (v.IsSequence()) {
        std::size_t i = 0;
        for (const auto& item : v) {
          const std::string ikey = key + "[" + std::to_string(i++) + "]";
          if (item.IsScalar()) {
            const std::string topic = item.Scalar();
            check_topic_name(topic, ikey);
            topics.push_back({topic, default_source(topic)});
          } else if (item.IsMap()) {
            std::optional<std::string> topic, source;
            for (const auto& [f, fv] : entries(item, ikey)) {
              if (f == "topic") {
                topic = get_string(fv, ikey + ".topic");
              } else if (f == "source") {
                source = get_string(fv, ikey + ".source");
              } else {
                unknown_key(ikey + "." + f, {"topic", "source"});
              }
            }
            if (!topic) fail(ikey + ".topic", "is required");
            check_topic_name(*topic, ikey + ".topic");
            if (source && blank(*source)) fail(ikey + ".source", "must not be empty");
            topics.push_back({*topic, source ? *source : default_source(*topic)});
          } else {
            fail(ikey, "must be a topic name or a {topic, source} mapping (got " + describe(item) + ")");
          }
        }
      } else if (!v.IsNull()) {
        fail(key, "must be a mapping of topic to source, or a list of topics (got " + describe(v) + ")");
      }
      k.topics = std::move(topics);
    } else if (name == "dead_letter_topic") {
      k.dead_letter_topic = get_string(v, key);
    } else if (name == "outcome_topic") {
      k.outcome_topic = v.IsNull() ? std::string() : get_string(v, key);
    } else if (name == "properties") {
      std::map<std::string, std::string> props;
      for (const auto& [pname, pv] : entries(v, key)) {
        const std::string pkey = key + "." + pname;
        if (blank(pname)) fail(key, "property names must not be empty");
        // Never echo the value: it may be a password or a JAAS config.
        if (!pv.IsScalar()) fail(pkey, "must be a string, number or boolean");
        props[pname] = pv.Scalar();
      }
      k.properties = std::move(props);
    } else if (name == "new_topics") {
      static constexpr auto kTopicKeys = {"partitions", "replication_factor", "configs"};
      for (const auto& [f, fv] : entries(v, key)) {
        const std::string fkey = key + "." + f;
        if (f == "partitions") {
          k.new_topics.partitions = get_int32(fv, fkey, 1, 100000);
        } else if (f == "replication_factor") {
          k.new_topics.replication_factor = get_int32(fv, fkey, -1, 32767);
          if (k.new_topics.replication_factor == 0) fail(fkey, "must be -1 (the broker's default) or 1..32767 (got 0)");
        } else if (f == "configs") {
          std::map<std::string, std::string> configs;
          for (const auto& [cname, cv] : entries(fv, fkey)) {
            if (blank(cname)) fail(fkey, "config names must not be empty");
            if (!cv.IsScalar()) fail(fkey + "." + cname, "must be a string, number or boolean");
            configs[cname] = cv.Scalar();
          }
          k.new_topics.configs = std::move(configs);
        } else {
          unknown_key(fkey, kTopicKeys);
        }
      }
    } else {
      unknown_key(key, kKeys);
    }
  }
}

void parse_database(const YAML::Node& n, DatabaseConfig& d) {
  for (const auto& [name, v] : entries(n, "database")) {
    const std::string key = "database." + name;
    if (name == "url") {
      d.url = get_string(v, key);  // checked (and echoed only redacted) in validate_final
    } else if (name == "pool_size") {
      d.pool_size = get_int32(v, key, 1, 64);
    } else if (name == "timeout_ms") {
      d.timeout_ms = get_int32(v, key, 500, 600000);
    } else {
      unknown_key(key, {"url", "pool_size", "timeout_ms"});
    }
  }
}

void parse_retry(const YAML::Node& n, RetryConfig& r) {
  for (const auto& [name, v] : entries(n, "retry")) {
    const std::string key = "retry." + name;
    if (name == "max_attempts") {
      r.max_attempts = get_int32(v, key, 1, 100);
    } else if (name == "base_delay_ms") {
      r.base_delay_ms = get_int32(v, key, 0, 60000);
    } else if (name == "max_delay_ms") {
      r.max_delay_ms = get_int32(v, key, 0, 600000);
    } else {
      unknown_key(key, {"max_attempts", "base_delay_ms", "max_delay_ms"});
    }
  }
}

void parse_limits(const YAML::Node& n, LimitsConfig& l) {
  for (const auto& [name, v] : entries(n, "limits")) {
    const std::string key = "limits." + name;
    if (name == "max_event_bytes") {
      l.max_event_bytes = static_cast<std::size_t>(get_int(v, key, 1, kMaxEventBytes));
    } else if (name == "max_inflight") {
      l.max_inflight = get_int32(v, key, 1, 10'000'000);
    } else if (name == "max_depth") {
      l.max_depth = get_int32(v, key, 2, 1000);
    } else {
      unknown_key(key, {"max_event_bytes", "max_inflight", "max_depth"});
    }
  }
}

void parse_batch(const YAML::Node& n, BatchConfig& b) {
  for (const auto& [name, v] : entries(n, "batch")) {
    const std::string key = "batch." + name;
    if (name == "max_events") {
      b.max_events = get_int32(v, key, 1, 100000);
    } else if (name == "max_wait_ms") {
      b.max_wait_ms = get_int32(v, key, 0, 10000);
    } else {
      unknown_key(key, {"max_events", "max_wait_ms"});
    }
  }
}

std::set<std::string> parse_from(const YAML::Node& v, const std::string& key) {
  std::set<std::string> from;
  auto add = [&](const YAML::Node& s) {
    if (!s.IsScalar()) fail(key, "entries must be state names (got " + describe(s) + ")");
    if (blank(s.Scalar())) fail(key, "entries must not be empty");
    from.insert(s.Scalar());
  };
  if (v.IsScalar()) {
    add(v);
  } else if (v.IsSequence()) {
    for (const auto& s : v) add(s);
  } else {
    fail(key, "must be a state name or a list of state names (got " + describe(v) + ")");
  }
  if (from.empty()) fail(key, "must list at least one state");
  return from;
}

MachineSet parse_machines(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) fail("machines", "at least one state machine must be defined");
  MachineSet machines;
  for (const auto& [type, mv] : entries(n, "machines")) {
    const std::string mkey = "machines." + type;
    if (!is_valid_aggregate_type(type)) {
      fail(mkey, "machine type must match [a-z][a-z0-9_]{0,63} (got " + quote(type) + ")");
    }
    Machine machine;
    bool has_transitions = false;
    for (const auto& [mname, tv] : entries(mv, mkey)) {
      const std::string tkey = mkey + "." + mname;
      if (mname != "transitions") unknown_key(tkey, {"transitions"});
      has_transitions = true;
      for (const auto& [tname, t] : entries(tv, tkey)) {
        const std::string key = tkey + "." + tname;
        if (blank(tname)) fail(tkey, "transition names must not be empty");
        if (!t.IsMap()) fail(key, "must be a mapping with `from` and optional `to` (got " + describe(t) + ")");
        Transition tr;
        bool has_from = false;
        for (const auto& [f, fv] : entries(t, key)) {
          if (f == "from") {
            tr.from = parse_from(fv, key + ".from");
            has_from = true;
          } else if (f == "to") {
            if (!fv.IsScalar()) {
              fail(key + ".to", "must be a state name; omit `to` to keep the state unchanged (got " + describe(fv) +
                                    ")");
            }
            const std::string to = fv.Scalar();
            if (blank(to)) fail(key + ".to", "must not be empty");
            if (to == kStateNew || to == kStateAny) {
              fail(key + ".to", "must be a real state, not " + quote(to));
            }
            tr.to = to;
          } else {
            unknown_key(key + "." + f, {"from", "to"});
          }
        }
        if (!has_from) fail(key + ".from", "is required");
        if (tr.from.count(kStateNew) > 0 && !tr.to) {
          fail(key + ".to", "is required for a transition from \"new\" (a new aggregate needs a state)");
        }
        machine.transitions.emplace(tname, std::move(tr));
      }
    }
    if (!has_transitions || machine.transitions.empty()) {
      fail(mkey + ".transitions", "must define at least one transition");
    }
    machines.emplace(type, std::move(machine));
  }
  if (machines.empty()) fail("machines", "at least one state machine must be defined");
  return machines;
}

// Structure, types and ranges of everything; the overridable values are checked by
// validate_final once the environment and flags are applied.
Config parse_document(const std::string& yaml_text, const std::string& source_path) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    std::ostringstream msg;
    msg << "config: " << (source_path.empty() ? "<config>" : source_path) << ": invalid YAML";
    if (!e.mark.is_null()) msg << " at line " << (e.mark.line + 1) << ", column " << (e.mark.column + 1);
    msg << ": " << e.msg;
    throw ConfigError("", msg.str());
  }
  if (!root.IsNull() && !root.IsMap()) {
    throw ConfigError("", "config: " + source_path + ": the document must be a mapping of sections (got " +
                              describe(root) + ")");
  }

  Config c;
  c.source_path = source_path;
  YAML::Node machines;
  static constexpr auto kSections = {"kafka",   "database", "retry",    "limits", "batch",
                                     "metrics", "shutdown", "naive",    "machines"};
  for (const auto& [name, v] : entries(root, "")) {
    if (name == "kafka") {
      parse_kafka(v, c.kafka);
    } else if (name == "database") {
      parse_database(v, c.database);
    } else if (name == "retry") {
      parse_retry(v, c.retry);
    } else if (name == "limits") {
      parse_limits(v, c.limits);
    } else if (name == "batch") {
      parse_batch(v, c.batch);
    } else if (name == "metrics") {
      for (const auto& [m, mv] : entries(v, "metrics")) {
        if (m != "listen") unknown_key("metrics." + m, {"listen"});
        c.metrics_listen = get_string(mv, "metrics.listen");
      }
    } else if (name == "shutdown") {
      for (const auto& [s, sv] : entries(v, "shutdown")) {
        if (s != "timeout_ms") unknown_key("shutdown." + s, {"timeout_ms"});
        c.shutdown_timeout_ms = get_int32(sv, "shutdown.timeout_ms", 100, 600000);
      }
    } else if (name == "naive") {
      c.naive = get_bool(v, "naive");
    } else if (name == "machines") {
      machines = v;
    } else {
      fail(name, "unknown section (expected one of: " + join(kSections) + ")");
    }
  }
  c.machines = parse_machines(machines);
  return c;
}

// Checks that need the final values (after environment and flags) or several keys.
void validate_final(const Config& c, const Labels& labels) {
  const auto& k = c.kafka;
  if (blank(k.brokers)) fail("kafka.brokers", "must not be empty", &labels);
  for (std::size_t at = 0; at <= k.brokers.size();) {
    auto end = k.brokers.find(',', at);
    if (end == std::string::npos) end = k.brokers.size();
    auto one = std::string_view(k.brokers).substr(at, end - at);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (!valid_broker(one))
      fail("kafka.brokers",
           "must be a comma-separated list of host:port, e.g. localhost:9092,[::1]:9092 (got " + quote(k.brokers) +
               ")",
           &labels);
    at = end + 1;
  }
  if (blank(k.group_id)) fail("kafka.group_id", "must not be empty", &labels);
  if (k.topics.empty()) fail("kafka.topics", "at least one input topic must be configured", &labels);
  std::set<std::string> inputs;
  for (const auto& t : k.topics) {
    check_topic_name(t.topic, "kafka.topics");
    if (blank(t.source)) fail("kafka.topics", "source name of " + quote(t.topic) + " must not be empty");
    if (!inputs.insert(t.topic).second) fail("kafka.topics", "duplicate topic " + quote(t.topic));
  }
  check_topic_name(k.dead_letter_topic, "kafka.dead_letter_topic");
  if (inputs.count(k.dead_letter_topic) > 0) {
    fail("kafka.dead_letter_topic", "must not be an input topic (got " + quote(k.dead_letter_topic) + ")");
  }
  if (!k.outcome_topic.empty()) {
    check_topic_name(k.outcome_topic, "kafka.outcome_topic");
    if (inputs.count(k.outcome_topic) > 0) {
      fail("kafka.outcome_topic", "must not be an input topic (got " + quote(k.outcome_topic) + ")");
    }
    if (k.outcome_topic == k.dead_letter_topic) {
      fail("kafka.outcome_topic", "must differ from kafka.dead_letter_topic (got " + quote(k.outcome_topic) + ")");
    }
  }

  const std::string& url = c.database.url;
  if (blank(url)) fail("database.url", "must not be empty", &labels);
  const bool url_ok = starts_with(url, "postgresql://") || starts_with(url, "postgres://") ||
                      (starts_with(url, "sqlite:") && url != "sqlite:" && url != "sqlite://") ||
                      url.find('=') != std::string::npos;
  if (!url_ok) {
    fail("database.url",
         "must be a postgresql://, postgres:// or sqlite: URL (sqlite:///absolute/path.db, sqlite:relative/path.db) "
         "or a libpq key=value string (got " +
             quote(redact_url(url)) + ")",
         &labels);
  }

  if (!valid_listen(c.metrics_listen)) {
    fail("metrics.listen", "must be host:port with a port between 0 and 65535, e.g. 0.0.0.0:9464 or [::1]:9464 (got " +
                               quote(c.metrics_listen) + ")",
         &labels);
  }

  if (c.retry.max_delay_ms < c.retry.base_delay_ms) {
    fail("retry.max_delay_ms", "must be an integer between retry.base_delay_ms (" +
                                   std::to_string(c.retry.base_delay_ms) + ") and 600000 (got " +
                                   std::to_string(c.retry.max_delay_ms) + ")");
  }
  if (c.machines.empty()) fail("machines", "at least one state machine must be defined");
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw ConfigError("config", "config: cannot read " + path + ": no such file");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("config", "config: cannot read " + path + ": is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ConfigError("config", "config: cannot read " + path + ": " + (err ? std::strerror(err) : "open failed"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError("config", "config: cannot read " + path + ": read error");
  return ss.str();
}

// ---------------------------------------------------------------- redaction

constexpr const char* kMask = "***";

bool is_secret_name(std::string_view name) {
  const std::string n = lower(name);
  return n.find("password") != std::string::npos || n.find("secret") != std::string::npos;
}

// Replaces the values of password parameters in a URL query (a=b&password=c).
std::string redact_query(const std::string& q) {
  std::string out;
  std::size_t i = 0;
  while (i <= q.size()) {
    auto amp = q.find('&', i);
    if (amp == std::string::npos) amp = q.size();
    const std::string part = q.substr(i, amp - i);
    const auto eq = part.find('=');
    if (eq != std::string::npos && is_secret_name(part.substr(0, eq))) {
      out += part.substr(0, eq + 1) + kMask;
    } else {
      out += part;
    }
    if (amp < q.size()) out += '&';
    i = amp + 1;
  }
  return out;
}

// user:password@ -> user:***@ in the part before `end`.
std::string redact_userinfo(const std::string& s, std::size_t begin, std::size_t end) {
  const auto at = s.rfind('@', end == 0 ? 0 : end - 1);
  if (at == std::string::npos || at < begin) return s;
  const auto colon = s.find(':', begin);
  if (colon == std::string::npos || colon > at) return s;
  return s.substr(0, colon + 1) + kMask + s.substr(at);
}

// libpq key=value: replaces the value of password-like keys, quoted or not.
std::string redact_conninfo(const std::string& s) {
  std::string out;
  std::size_t i = 0;
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < s.size()) {
    if (space(s[i])) {
      out += s[i++];
      continue;
    }
    // key
    const std::size_t kstart = i;
    while (i < s.size() && s[i] != '=' && !space(s[i])) ++i;
    const std::string key = s.substr(kstart, i - kstart);
    out += key;
    // spaces and '='
    while (i < s.size() && space(s[i])) out += s[i++];
    if (i >= s.size() || s[i] != '=') continue;
    out += s[i++];
    while (i < s.size() && space(s[i])) out += s[i++];
    // value
    const std::size_t vstart = i;
    if (i < s.size() && s[i] == '\'') {
      ++i;
      while (i < s.size() && s[i] != '\'') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        ++i;
      }
      if (i < s.size()) ++i;  // closing quote
    } else {
      while (i < s.size() && !space(s[i])) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        ++i;
      }
    }
    out += is_secret_name(key) ? std::string(kMask) : s.substr(vstart, i - vstart);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- public API

std::string Config::source_of(const std::string& topic) const {
  for (const auto& t : kafka.topics) {
    if (t.topic == topic) return t.source;
  }
  return {};
}

std::string redact_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme != std::string::npos) {
    const std::size_t auth = scheme + 3;
    auto qpos = url.find_first_of("?#", auth);
    const std::size_t end = qpos == std::string::npos ? url.size() : qpos;
    std::string out = redact_userinfo(url, auth, end);
    // The query may carry password=... too (libpq accepts it).
    qpos = out.find('?', auth);
    if (qpos != std::string::npos) {
      const auto hash = out.find('#', qpos);
      const std::string q = out.substr(qpos + 1, hash == std::string::npos ? std::string::npos : hash - qpos - 1);
      out = out.substr(0, qpos + 1) + redact_query(q) + (hash == std::string::npos ? "" : out.substr(hash));
    }
    return out;
  }
  if (url.find('=') != std::string::npos) return redact_conninfo(url);
  // Neither a URL nor key=value (e.g. a typo in the scheme): hide anything that
  // looks like user:password@.
  return redact_userinfo(url, 0, url.size());
}

Config parse_config(const std::string& yaml_text, const std::string& source_path) {
  Config c = parse_document(yaml_text, source_path);
  validate_final(c, {});
  return c;
}

EnvLookup process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

// Secret references in a value (kafka.properties, database.url): `${env:NAME}`
// is the environment variable NAME, `${file:PATH}` the contents of PATH (one
// trailing newline dropped, as mounted secrets usually end with one); `$${` is
// a literal `${`. Errors name the key and the variable or file, never a value.
std::string expand_secret_refs(const std::string& value, const std::string& key, const EnvLookup& env) {
  std::string out;
  std::size_t i = 0;
  while (i < value.size()) {
    if (value.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (value.compare(i, 2, "${") != 0) {
      out += value[i++];
      continue;
    }
    const auto close = value.find('}', i + 2);
    if (close == std::string::npos) fail(key, "has an unterminated ${...} reference (write $${ for a literal ${)");
    const std::string ref = value.substr(i + 2, close - i - 2);
    if (ref.rfind("env:", 0) == 0) {
      const std::string name = ref.substr(4);
      if (name.empty()) fail(key, "${env:} needs a variable name");
      const auto v = env ? env(name.c_str()) : std::nullopt;
      if (!v) fail(key, "refers to environment variable " + name + ", which is not set");
      out += *v;
    } else if (ref.rfind("file:", 0) == 0) {
      const std::string file = ref.substr(5);
      if (file.empty()) fail(key, "${file:} needs a path");
      errno = 0;
      std::ifstream in(file, std::ios::binary);
      std::error_code ec;
      if (!in || std::filesystem::is_directory(file, ec))
        fail(key, "refers to file " + file + ", which cannot be read" + (errno ? std::string(": ") + std::strerror(errno) : ""));
      std::ostringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str();
      if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\r\n") == 0)
        text.resize(text.size() - 2);
      else if (!text.empty() && text.back() == '\n')
        text.pop_back();
      out += text;
    } else {
      fail(key, "has an unknown reference ${" + ref.substr(0, ref.find(':')) +
                    ":...}; use ${env:NAME} or ${file:PATH} (or $${ for a literal ${)");
    }
    i = close + 1;
  }
  return out;
}

Config load_config(const std::optional<std::string>& path, const EnvLookup& env, const ConfigOverrides& flags) {
  std::string text;
  std::string source;
  if (path) {
    text = read_file(*path);
    source = *path;
  } else {
    const std::string local = "config/lockstep.yaml";
    std::error_code ec;
    if (std::filesystem::exists(local, ec)) {
      text = read_file(local);
      source = local;
    } else {
      text = builtin_config_text();
      source = "<built-in>";
    }
  }
  Config c = parse_document(text, source);
  for (auto& [name, value] : c.kafka.properties) value = expand_secret_refs(value, "kafka.properties." + name, env);
  c.database.url = expand_secret_refs(c.database.url, "database.url", env);

  Labels labels;
  struct Override {
    const char* env;
    const char* flag;
    const char* key;
    std::string* field;
    const std::optional<std::string>* flag_value;
  };
  const Override overrides[] = {
      {"LOCKSTEP_KAFKA_BROKERS", "--brokers", "kafka.brokers", &c.kafka.brokers, &flags.brokers},
      {"LOCKSTEP_KAFKA_GROUP_ID", "--group", "kafka.group_id", &c.kafka.group_id, &flags.group_id},
      {"LOCKSTEP_DATABASE_URL", "--database-url", "database.url", &c.database.url, &flags.database_url},
      {"LOCKSTEP_METRICS_LISTEN", "--metrics-listen", "metrics.listen", &c.metrics_listen, &flags.metrics_listen},
  };
  for (const auto& o : overrides) {
    if (env) {
      if (auto v = env(o.env)) {
        labels[o.key] = std::string(o.env) + " (" + o.key + ")";
        if (v->empty()) fail(o.key, "is set but empty", &labels);
        *o.field = *v;
      }
    }
  }
  for (const auto& o : overrides) {
    if (*o.flag_value) {
      labels[o.key] = std::string(o.flag) + " (" + o.key + ")";
      *o.field = **o.flag_value;
    }
  }
  if (flags.naive) c.naive = *flags.naive;

  validate_final(c, labels);
  return c;
}

}  // namespace lockstep
