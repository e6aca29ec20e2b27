// The checks of final values (after the environment and flags), one per key
// that needs more than its type and range; the key table names them.
#include <algorithm>

#include "config_internal.hpp"

namespace lockstep {

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

namespace config_detail {
namespace {

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  for (const char c : p) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoi(std::string(p)) <= 65535;
}

}  // namespace

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

namespace {

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

bool is_input(const Config& c, const std::string& topic) {
  return std::any_of(c.kafka.topics.begin(), c.kafka.topics.end(),
                     [&](const InputTopic& t) { return t.topic == topic; });
}

}  // namespace

void check_brokers(const Config& c, const std::string& key, const std::string& label) {
  const std::string& brokers = c.kafka.brokers;
  if (blank(brokers)) fail(key, "must not be empty", label);
  for (std::size_t at = 0; at <= brokers.size();) {
    auto end = brokers.find(',', at);
    if (end == std::string::npos) end = brokers.size();
    auto one = std::string_view(brokers).substr(at, end - at);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (!valid_broker(one))
      fail(key,
           "must be a comma-separated list of host:port, e.g. localhost:9092,[::1]:9092 (got " + quote(brokers) +
               ")",
           label);
    at = end + 1;
  }
}

void check_group_id(const Config& c, const std::string& key, const std::string& label) {
  if (blank(c.kafka.group_id)) fail(key, "must not be empty", label);
}

void check_topics(const Config& c, const std::string& key, const std::string& label) {
  if (c.kafka.topics.empty()) fail(key, "at least one input topic must be configured", label);
  std::set<std::string> inputs;
  for (const auto& t : c.kafka.topics) {
    check_topic_name(t.topic, key);
    if (blank(t.source)) fail(key, "source name of " + quote(t.topic) + " must not be empty");
    if (!inputs.insert(t.topic).second) fail(key, "duplicate topic " + quote(t.topic));
  }
}

void check_dead_letter_topic(const Config& c, const std::string& key, const std::string&) {
  const std::string& dlt = c.kafka.dead_letter_topic;
  check_topic_name(dlt, key);
  if (is_input(c, dlt)) {
    fail(key, "must not be an input topic (got " + quote(dlt) + ")");
  }
}

void check_outcome_topic(const Config& c, const std::string& key, const std::string&) {
  const std::string& out = c.kafka.outcome_topic;
  if (out.empty()) return;
  check_topic_name(out, key);
  if (is_input(c, out)) {
    fail(key, "must not be an input topic (got " + quote(out) + ")");
  }
  if (out == c.kafka.dead_letter_topic) {
    fail(key, "must differ from kafka.dead_letter_topic (got " + quote(out) + ")");
  }
}

void check_database_url(const Config& c, const std::string& key, const std::string& label) {
  const std::string& url = c.database.url;
  if (blank(url)) fail(key, "must not be empty", label);
  const bool url_ok = starts_with(url, "postgresql://") || starts_with(url, "postgres://") ||
                      (starts_with(url, "sqlite:") && url != "sqlite:" && url != "sqlite://") ||
                      url.find('=') != std::string::npos;
  if (!url_ok) {
    fail(key,
         "must be a postgresql://, postgres:// or sqlite: URL (sqlite:///absolute/path.db, sqlite:relative/path.db) "
         "or a libpq key=value string (got " +
             quote(redact_url(url)) + ")",
         label);
  }
}

void check_listen(const Config& c, const std::string& key, const std::string& label) {
  if (!valid_listen(c.metrics_listen)) {
    fail(key, "must be host:port with a port between 0 and 65535, e.g. 0.0.0.0:9464 or [::1]:9464 (got " +
                  quote(c.metrics_listen) + ")",
         label);
  }
}

void check_max_delay(const Config& c, const std::string& key, const std::string&) {
  if (c.retry.max_delay_ms < c.retry.base_delay_ms) {
    fail(key, "must be an integer between retry.base_delay_ms (" + std::to_string(c.retry.base_delay_ms) +
                  ") and 600000 (got " + std::to_string(c.retry.max_delay_ms) + ")");
  }
}

void check_machines(const Config& c, const std::string& key, const std::string&) {
  if (c.machines.empty()) fail(key, "at least one state machine must be defined");
}

void validate_final(const Config& c, const std::map<std::string, std::string>& labels) {
  for (const auto& k : config_keys()) {
    if (k.check == nullptr) continue;
    const std::string key(k.name);
    const auto it = labels.find(key);
    k.check(c, key, it == labels.end() ? key : it->second);
  }
}

}  // namespace config_detail
}  // namespace lockstep
