// Looking up the embedded files (assets.hpp) and the OpenAPI document as JSON.
#include "assets.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>

namespace lockstep::admin {
namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// A plain (unquoted) scalar as YAML 1.2's core schema reads it; quoted ones stay strings.
Json scalar_json(const YAML::Node& n) {
  const std::string& v = n.Scalar();
  if (n.Tag() == "!") return v;
  if (v == "true" || v == "false") return v == "true";
  if (v == "null" || v == "~") return nullptr;
  if (!v.empty() && v.find_first_not_of("-0123456789") == std::string::npos && v != "-") {
    try {
      return std::stoll(v);
    } catch (...) {
    }
  }
  return v;
}

Json yaml_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : n) out[kv.first.Scalar()] = yaml_json(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : n) out.push_back(yaml_json(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return scalar_json(n);
    default:
      return nullptr;
  }
}

}  // namespace

const EmbeddedFile* find_console_file(std::string_view name) {
  for (const auto& f : console_files()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string content_type_of(std::string_view name) {
  if (ends_with(name, ".html")) return "text/html; charset=utf-8";
  if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
  if (ends_with(name, ".css")) return "text/css; charset=utf-8";
  if (ends_with(name, ".svg")) return "image/svg+xml";
  if (ends_with(name, ".png")) return "image/png";
  if (ends_with(name, ".ico")) return "image/x-icon";
  if (ends_with(name, ".json")) return "application/json";
  return "application/octet-stream";
}

const Json& openapi_json() {
  static const Json doc = yaml_json(YAML::Load(std::string(openapi_yaml())));
  return doc;
}

}  // namespace lockstep::admin
