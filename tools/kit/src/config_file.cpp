#include "lockstep/kit/config_file.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <stdexcept>
#include <variant>

#include "lockstep/config_keys.hpp"

namespace lockstep::kit {
namespace {

YAML::Node machines_node(const MachineSet& machines) {
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& [type, machine] : machines) {
    YAML::Node transitions(YAML::NodeType::Map);
    for (const auto& [name, t] : machine.transitions) {
      YAML::Node tn(YAML::NodeType::Map);
      YAML::Node from(YAML::NodeType::Sequence);
      for (const auto& s : t.from) from.push_back(s);
      tn["from"] = from;
      if (t.to) tn["to"] = *t.to;
      transitions[name] = tn;
    }
    out[type]["transitions"] = transitions;
  }
  return out;
}

YAML::Node string_map_node(const std::map<std::string, std::string>& m) {
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

YAML::Node value_node(const FieldRef& f) {
  if (const auto* p = std::get_if<int*>(&f)) return YAML::Node(**p);
  if (const auto* p = std::get_if<std::size_t*>(&f)) return YAML::Node(**p);
  if (const auto* p = std::get_if<bool*>(&f)) return YAML::Node(**p);
  if (const auto* p = std::get_if<std::string*>(&f)) return YAML::Node(**p);
  if (const auto* p = std::get_if<std::vector<InputTopic>*>(&f)) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& t : **p) out[t.topic] = t.source;
    return out;
  }
  if (const auto* p = std::get_if<std::map<std::string, std::string>*>(&f)) return string_map_node(**p);
  if (const auto* p = std::get_if<std::vector<AdminToken>*>(&f)) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& t : **p) {
      out[t.name]["role"] = t.role;
      out[t.name]["token"] = t.token;
    }
    return out;
  }
  return machines_node(*std::get<MachineSet*>(f));
}

// root["a"]["b"]["c"] = value for the key "a.b.c".
void set_path(YAML::Node root, std::string_view name, const YAML::Node& value) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto dot = name.find('.', start);
    parts.emplace_back(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  YAML::Node node = root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!node[parts[i]]) node[parts[i]] = YAML::Node(YAML::NodeType::Map);
    node.reset(node[parts[i]]);
  }
  node[parts.back()] = value;
}

}  // namespace

std::string config_yaml(const Config& c) {
  Config copy = c;  // the key table hands out fields of a mutable Config
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& k : config_keys()) set_path(root, k.name, value_node(k.field(copy)));
  YAML::Emitter out;
  out << root;
  if (!out.good()) throw std::runtime_error("config_yaml: " + out.GetLastError());
  std::string text = out.c_str();
  text += '\n';
  return text;
}

std::string write_config(const Config& c, const std::string& path) {
  std::ofstream f(path);
  f << config_yaml(c);
  if (!f) throw std::runtime_error("cannot write " + path);
  return path;
}

Config builtin_config() { return parse_config(builtin_config_text(), "<built-in>"); }

}  // namespace lockstep::kit
