// Parsing a config document, driven by the key table: the sections and keys a
// document may have, each value's type and range. Strict: an unknown section
// or key, a wrong type or an out-of-range value is a ConfigError naming the
// dotted key. Checks that need the final values (after the environment and
// flags) are the keys' checks, run by validate_final.
#include <algorithm>
#include <sstream>

#include "config_internal.hpp"

namespace lockstep::config_detail {
namespace {

// The names directly under `prefix` ("" = the top level), in table order.
std::vector<std::string> child_names(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& k : config_keys()) {
    std::string_view rest = k.name;
    if (!prefix.empty()) {
      if (rest.size() <= prefix.size() || rest.substr(0, prefix.size()) != prefix || rest[prefix.size()] != '.')
        continue;
      rest.remove_prefix(prefix.size() + 1);
    }
    const std::string name(rest.substr(0, rest.find('.')));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

std::string parse_brokers(const YAML::Node& v, const std::string& key) {
  if (!v.IsSequence()) return get_string(v, key);
  std::string joined;  // a list of host:port is accepted too
  for (const auto& b : v) {
    const std::string s = get_string(b, key);
    if (blank(s)) fail(key, "entries must not be empty");
    if (!joined.empty()) joined += ",";
    joined += s;
  }
  return joined;
}

// Free-form names to scalars. Values are never echoed: they may be passwords.
std::map<std::string, std::string> parse_string_map(const ConfigKey& k, const YAML::Node& v,
                                                    const std::string& key) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : entries(v, key)) {
    if (blank(name)) fail(key, std::string(k.item) + " names must not be empty");
    if (!value.IsScalar()) fail(key + "." + name, "must be a string, number or boolean");
    out[name] = value.Scalar();
  }
  return out;
}

void set_integer(const ConfigKey& k, const YAML::Node& v, const std::string& key, Config& c) {
  const std::int64_t n = get_int(v, key, k.min, k.max);
  if (k.refuse_zero && n == 0) fail(key, "must be " + range_text(k) + " (got 0)");
  const FieldRef f = k.field(c);
  if (auto* p = std::get_if<int*>(&f)) **p = static_cast<int>(n);
  if (auto* p = std::get_if<std::size_t*>(&f)) **p = static_cast<std::size_t>(n);
}

// One value of a key of the table (all but machines, which are parsed last).
void parse_value(const ConfigKey& k, const YAML::Node& v, const std::string& key, Config& c) {
  const FieldRef f = k.field(c);
  switch (k.type) {
    case KeyType::integer: set_integer(k, v, key, c); break;
    case KeyType::boolean: *std::get<bool*>(f) = get_bool(v, key); break;
    case KeyType::string:
      *std::get<std::string*>(f) = (k.null_is_empty && v.IsNull()) ? std::string() : get_string(v, key);
      break;
    case KeyType::brokers: *std::get<std::string*>(f) = parse_brokers(v, key); break;
    case KeyType::topics: *std::get<std::vector<InputTopic>*>(f) = parse_topics(v, key); break;
    case KeyType::string_map:
      *std::get<std::map<std::string, std::string>*>(f) = parse_string_map(k, v, key);
      break;
    case KeyType::tokens: *std::get<std::vector<AdminToken>*>(f) = parse_admin_tokens(v, key); break;
    case KeyType::machines: break;
  }
}

struct Walk {
  Config& c;
  std::set<std::string>* present;
  std::optional<YAML::Node> machines;  // parsed after everything else; nullopt: not in the document
};

void parse_section(const YAML::Node& n, const std::string& prefix, Walk& w) {
  const auto names = child_names(prefix);
  for (const auto& [name, v] : entries(n, prefix)) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      if (prefix.empty()) fail(name, "unknown section (expected one of: " + join(names) + ")");
      unknown_key(key, names);
    }
    const ConfigKey* k = find_config_key(key);
    if (k == nullptr) {
      parse_section(v, key, w);
      continue;
    }
    if (w.present != nullptr) w.present->insert(key);
    if (k->type == KeyType::machines) {
      w.machines = v;
    } else {
      parse_value(*k, v, key, w.c);
    }
  }
}

YAML::Node load_yaml(const std::string& yaml_text, const std::string& source_path) {
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
  return root;
}

}  // namespace

Config parse_document(const std::string& yaml_text, const std::string& source_path, std::set<std::string>* present) {
  const YAML::Node root = load_yaml(yaml_text, source_path);
  Config c;
  c.source_path = source_path;
  Walk w{c, present, std::nullopt};
  parse_section(root, "", w);
  c.machines = parse_machines(w.machines);
  return c;
}

}  // namespace lockstep::config_detail
