// Messages and typed access to YAML nodes: every error names the dotted key,
// and a string value is never echoed (it may be a secret).
#include <charconv>
#include <set>

#include "config_internal.hpp"

namespace lockstep::config_detail {

void fail(const std::string& key, const std::string& message, const std::string& label) {
  throw ConfigError(key, "config: " + (label.empty() ? key : label) + ": " + message);
}

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

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
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

void unknown_key(const std::string& key, const std::vector<std::string>& allowed) {
  fail(key, "unknown key (expected one of: " + join(allowed) + ")");
}

namespace {

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

}  // namespace

std::int64_t get_int(const YAML::Node& n, const std::string& key, std::int64_t lo, std::int64_t hi) {
  std::optional<std::int64_t> v;
  if (n.IsScalar()) v = to_int(n.Scalar());
  if (!v || *v < lo || *v > hi) {
    fail(key, "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) + " (got " +
                  describe(n) + ")");
  }
  return *v;
}

bool get_bool(const YAML::Node& n, const std::string& key) {
  if (n.IsScalar()) {
    const std::string v = lower(n.Scalar());
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
  }
  fail(key, "must be true or false (got " + describe(n) + ")");
}

std::string get_string(const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) fail(key, "must be a string (got " + describe(n) + ")");
  return n.Scalar();
}

}  // namespace lockstep::config_detail
