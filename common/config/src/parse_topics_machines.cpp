// The two structured values of a config document: the input topics
// (kafka.topics) and the state machines (machines).
#include "config_internal.hpp"
#include "lockstep/event.hpp"

namespace lockstep::config_detail {
namespace {

// An explicit `machines:` with nothing under it is refused rather than read as
// "the built-in ones": it looks like a definition that went missing.
constexpr const char* kNoMachines =
    "at least one state machine must be defined (leave `machines` out to use the built-in ones)";

std::string default_source(const std::string& topic) {
  const auto dot = topic.rfind('.');
  return dot == std::string::npos ? topic : topic.substr(dot + 1);
}

// {topic: ..., source: ...}
InputTopic parse_topic_map(const YAML::Node& item, const std::string& ikey) {
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
  return {*topic, source ? *source : default_source(*topic)};
}

std::vector<InputTopic> parse_topic_list(const YAML::Node& v, const std::string& key) {
  std::vector<InputTopic> topics;
  std::size_t i = 0;
  for (const auto& item : v) {
    const std::string ikey = key + "[" + std::to_string(i++) + "]";
    if (item.IsScalar()) {
      const std::string topic = item.Scalar();
      check_topic_name(topic, ikey);
      topics.push_back({topic, default_source(topic)});
    } else if (item.IsMap()) {
      topics.push_back(parse_topic_map(item, ikey));
    } else {
      fail(ikey, "must be a topic name or a {topic, source} mapping (got " + describe(item) + ")");
    }
  }
  return topics;
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

std::string parse_to(const YAML::Node& fv, const std::string& key) {
  if (!fv.IsScalar()) {
    fail(key, "must be a state name; omit `to` to keep the state unchanged (got " + describe(fv) + ")");
  }
  const std::string to = fv.Scalar();
  if (blank(to)) fail(key, "must not be empty");
  if (to == kStateNew || to == kStateAny) fail(key, "must be a real state, not " + quote(to));
  return to;
}

Transition parse_transition(const YAML::Node& t, const std::string& key) {
  if (!t.IsMap()) fail(key, "must be a mapping with `from` and optional `to` (got " + describe(t) + ")");
  Transition tr;
  bool has_from = false;
  for (const auto& [f, fv] : entries(t, key)) {
    if (f == "from") {
      tr.from = parse_from(fv, key + ".from");
      has_from = true;
    } else if (f == "to") {
      tr.to = parse_to(fv, key + ".to");
    } else {
      unknown_key(key + "." + f, {"from", "to"});
    }
  }
  if (!has_from) fail(key + ".from", "is required");
  if (tr.from.count(kStateNew) > 0 && !tr.to) {
    fail(key + ".to", "is required for a transition from \"new\" (a new aggregate needs a state)");
  }
  return tr;
}

Machine parse_machine(const YAML::Node& mv, const std::string& mkey) {
  Machine machine;
  bool has_transitions = false;
  for (const auto& [mname, tv] : entries(mv, mkey)) {
    const std::string tkey = mkey + "." + mname;
    if (mname != "transitions") unknown_key(tkey, {"transitions"});
    has_transitions = true;
    for (const auto& [tname, t] : entries(tv, tkey)) {
      if (blank(tname)) fail(tkey, "transition names must not be empty");
      machine.transitions.emplace(tname, parse_transition(t, tkey + "." + tname));
    }
  }
  if (!has_transitions || machine.transitions.empty()) {
    fail(mkey + ".transitions", "must define at least one transition");
  }
  return machine;
}

}  // namespace

void check_topic_name(const std::string& topic, const std::string& key) {
  if (topic.empty()) fail(key, "must not be empty");
  if (!is_valid_topic_name(topic)) {
    fail(key, "is not a valid Kafka topic name: 1-249 characters of [a-zA-Z0-9._-] (got " + quote(topic) + ")");
  }
}

std::vector<InputTopic> parse_topics(const YAML::Node& v, const std::string& key) {
  if (v.IsSequence()) return parse_topic_list(v, key);
  if (!v.IsMap() && !v.IsNull()) {
    fail(key, "must be a mapping of topic to source, or a list of topics (got " + describe(v) + ")");
  }
  std::vector<InputTopic> topics;
  for (const auto& [topic, src] : entries(v, key)) {
    check_topic_name(topic, key);
    std::string source = src.IsNull() ? default_source(topic) : get_string(src, key + "." + topic);
    if (blank(source)) fail(key + "." + topic, "source name must not be empty");
    topics.push_back({topic, source});
  }
  return topics;
}

MachineSet parse_machines(const std::optional<YAML::Node>& node) {
  if (!node) return builtin_machines();  // left out: the shipped ones
  const YAML::Node& n = *node;
  if (n.IsNull()) fail("machines", kNoMachines);
  MachineSet machines;
  for (const auto& [type, mv] : entries(n, "machines")) {
    const std::string mkey = "machines." + type;
    if (!is_valid_aggregate_type(type)) {
      fail(mkey, "machine type must match [a-z][a-z0-9_]{0,63} (got " + quote(type) + ")");
    }
    machines.emplace(type, parse_machine(mv, mkey));
  }
  if (machines.empty()) fail("machines", kNoMachines);
  return machines;
}

}  // namespace lockstep::config_detail
