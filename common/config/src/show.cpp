// Printing the key table (`lockstep config keys`, the table of docs/configuration.md) and the
// effective configuration (`lockstep config show`), secrets masked.
#include <algorithm>
#include <array>
#include <sstream>

#include "config_internal.hpp"

namespace lockstep {

using namespace config_detail;

namespace {

std::string map_text(const std::map<std::string, std::string>& m, bool mask) {
  if (m.empty()) return "{}";
  std::string out;
  for (const auto& [name, value] : m) {
    out += (out.empty() ? "{" : ", ") + name + ": " + (mask ? std::string(kMask) : value);
  }
  return out + "}";
}

// Names and roles; the tokens themselves always masked.
std::string tokens_text(const std::vector<AdminToken>& tokens) {
  if (tokens.empty()) return "{}";
  std::string out;
  for (const auto& t : tokens)
    out += (out.empty() ? "{" : ", ") + t.name + ": {role: " + t.role + ", token: " + kMask + "}";
  return out + "}";
}

std::string topics_text(const std::vector<InputTopic>& topics) {
  if (topics.empty()) return "{}";
  std::string out;
  for (const auto& t : topics) out += (out.empty() ? "{" : ", ") + t.topic + ": " + t.source;
  return out + "}";
}

std::string machines_text(const MachineSet& machines) {
  if (machines.empty()) return "none (required)";
  std::string out;
  for (const auto& [type, m] : machines) {
    out += (out.empty() ? "" : ", ") + type + " (" + std::to_string(m.transitions.size()) + " transitions)";
  }
  return out;
}

std::string string_text(const ConfigKey& k, const std::string& s) {
  if (s.empty()) return "\"\"";
  return k.secret == Secret::password ? redact_url(s) : s;
}

std::string secret_text(Secret s) {
  switch (s) {
    case Secret::no: return "no";
    case Secret::password: return "password masked";
    case Secret::values: return "values masked";
  }
  return "?";
}

std::string secrecy(const ConfigKey& k) {
  std::string out = secret_text(k.secret);
  if (k.secret_refs) out += "; may be `${env:NAME}` / `${file:PATH}`";
  return out;
}

std::string overridden_by(const ConfigKey& k) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for
  // "literal" + std::string (GCC bug 105329).
  std::string out;
  for (const std::string_view name : {k.env, k.flag}) {
    if (name.empty()) continue;
    if (!out.empty()) out += ", ";
    out += '`';
    out += name;
    out += '`';
  }
  return out;
}

}  // namespace

std::string value_text(const ConfigKey& k, const Config& c) {
  Config copy = c;  // the table's field accessors take a Config&
  const FieldRef f = k.field(copy);
  if (auto* p = std::get_if<int*>(&f)) return std::to_string(**p);
  if (auto* p = std::get_if<std::size_t*>(&f)) return std::to_string(**p);
  if (auto* p = std::get_if<bool*>(&f)) return **p ? "true" : "false";
  if (auto* p = std::get_if<std::string*>(&f)) return string_text(k, **p);
  if (auto* p = std::get_if<std::vector<InputTopic>*>(&f)) return topics_text(**p);
  if (auto* p = std::get_if<std::map<std::string, std::string>*>(&f)) return map_text(**p, k.secret != Secret::no);
  if (auto* p = std::get_if<std::vector<AdminToken>*>(&f)) return tokens_text(**p);
  if (auto* p = std::get_if<MachineSet*>(&f)) return machines_text(**p);
  return "?";
}

std::string default_text(const ConfigKey& k) {
  if (k.type == KeyType::machines) return "built-in: " + machines_text(builtin_machines());
  return value_text(k, Config{});
}

std::string config_keys_markdown() {
  std::ostringstream out;
  out << "| key | type | default | accepted | secret | overridden by | what it is |\n"
      << "|---|---|---|---|---|---|---|\n";
  for (const auto& k : config_keys()) {
    std::string range = range_text(k);
    std::replace(range.begin(), range.end(), '|', '/');
    std::string def;
    if (k.type != KeyType::machines) def += '`';
    def += default_text(k);
    if (k.type != KeyType::machines) def += '`';
    out << "| `" << k.name << "` | " << to_string(k.type) << " | " << def << " | " << range << " | " << secrecy(k)
        << " | " << overridden_by(k) << " | " << k.doc << " |\n";
  }
  return out.str();
}

std::string config_keys_text() {
  std::ostringstream out;
  for (const auto& k : config_keys()) {
    out << k.name << " (" << to_string(k.type) << ", default " << default_text(k) << ", " << range_text(k);
    if (k.secret != Secret::no) out << ", " << secret_text(k.secret);
    if (!k.env.empty()) out << ", env " << k.env;
    if (!k.flag.empty()) out << ", flag " << k.flag;
    out << ")\n    " << k.doc << "\n";
  }
  return out.str();
}

std::string to_string(const ValueSource& s) {
  switch (s.kind) {
    case ValueSource::Kind::default_value: return s.detail.empty() ? "default" : "default (" + s.detail + ")";
    case ValueSource::Kind::file: return "file " + s.detail;
    case ValueSource::Kind::environment: return "environment " + s.detail;
    case ValueSource::Kind::flag: return "flag " + s.detail;
  }
  return "?";
}

std::string render_config_show(const TracedConfig& t) {
  std::vector<std::array<std::string, 3>> rows;
  std::size_t key_width = 0, value_width = 0;
  for (const auto& k : config_keys()) {
    const auto it = t.sources.find(std::string(k.name));
    rows.push_back({std::string(k.name), value_text(k, t.config),
                    it == t.sources.end() ? "default" : to_string(it->second)});
    key_width = std::max(key_width, rows.back()[0].size());
    value_width = std::max(value_width, rows.back()[1].size());
  }
  value_width = std::min<std::size_t>(value_width, 48);
  std::ostringstream out;
  out << "# effective configuration: " << t.config.source_path
      << ", then the environment, then flags; secrets masked\n";
  for (const auto& [key, value, source] : rows) {
    out << key << std::string(key_width - key.size() + 2, ' ') << value;
    out << std::string(value.size() < value_width ? value_width - value.size() + 2 : 2, ' ') << source << "\n";
  }
  return out.str();
}

}  // namespace lockstep
