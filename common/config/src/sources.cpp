// Where configuration comes from (docs/cli.md): a YAML file (or the built-in
// copy of the shipped one), then the environment, then flags; and the secret
// references ${env:NAME} and ${file:PATH} inside values. The keys an
// environment variable or a flag overrides are those the key table names.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config_internal.hpp"

namespace lockstep {

using namespace config_detail;

namespace config_detail {

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

namespace {

// The contents of a secret file, one trailing newline dropped (mounted secrets
// usually end with one).
std::string read_secret_file(const std::string& file, const std::string& key) {
  if (file.empty()) fail(key, "${file:} needs a path");
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(file, ec))
    fail(key, "refers to file " + file + ", which cannot be read" +
                  (errno ? std::string(": ") + std::strerror(errno) : ""));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\r\n") == 0)
    text.resize(text.size() - 2);
  else if (!text.empty() && text.back() == '\n')
    text.pop_back();
  return text;
}

// One reference (what is between "${" and "}"). Errors name the key and the
// variable or file, never a value.
std::string resolve_ref(const std::string& ref, const std::string& key, const EnvLookup& env) {
  if (ref.rfind("env:", 0) == 0) {
    const std::string name = ref.substr(4);
    if (name.empty()) fail(key, "${env:} needs a variable name");
    const auto v = env ? env(name.c_str()) : std::nullopt;
    if (!v) fail(key, "refers to environment variable " + name + ", which is not set");
    return *v;
  }
  if (ref.rfind("file:", 0) == 0) return read_secret_file(ref.substr(5), key);
  fail(key, "has an unknown reference ${" + ref.substr(0, ref.find(':')) +
                ":...}; use ${env:NAME} or ${file:PATH} (or $${ for a literal ${)");
}

}  // namespace

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
    out += resolve_ref(value.substr(i + 2, close - i - 2), key, env);
    i = close + 1;
  }
  return out;
}

}  // namespace config_detail

namespace {

struct Document {
  std::string text;
  std::string source;
};

// `path` if given, else ./config/lockstep.yaml if it exists, else the built-in copy.
Document read_document(const std::optional<std::string>& path) {
  if (path) return {read_file(*path), *path};
  const std::string local = "config/lockstep.yaml";
  std::error_code ec;
  if (std::filesystem::exists(local, ec)) return {read_file(local), local};
  return {builtin_config_text(), "<built-in>"};
}

// Expands the secret references of every key that may hold them.
void expand_secrets(Config& c, const EnvLookup& env) {
  for (const auto& k : config_keys()) {
    if (!k.secret_refs) continue;
    const std::string key(k.name);
    const FieldRef f = k.field(c);
    if (auto* s = std::get_if<std::string*>(&f)) **s = expand_secret_refs(**s, key, env);
    if (auto* m = std::get_if<std::map<std::string, std::string>*>(&f)) {
      for (auto& [name, value] : **m) value = expand_secret_refs(value, key + "." + name, env);
    }
    if (auto* tokens = std::get_if<std::vector<AdminToken>*>(&f)) {
      for (auto& t : **tokens) t.token = expand_secret_refs(t.token, key + "." + t.name + ".token", env);
    }
  }
}

// The ${env:NAME} and ${file:PATH} references in a key's values (names and
// paths only, never what they hold), for `config show`: ", with ${env:PW}".
std::string references_in(const ConfigKey& k, Config& c) {
  std::vector<std::string> values;
  const FieldRef f = k.field(c);
  if (auto* s = std::get_if<std::string*>(&f)) values.push_back(**s);
  if (auto* m = std::get_if<std::map<std::string, std::string>*>(&f)) {
    for (const auto& [name, value] : **m) values.push_back(value);
  }
  if (auto* tokens = std::get_if<std::vector<AdminToken>*>(&f)) {
    for (const auto& t : **tokens) values.push_back(t.token);
  }
  std::string out;
  for (const auto& v : values) {
    for (auto at = v.find("${"); at != std::string::npos; at = v.find("${", at + 2)) {
      const auto close = v.find('}', at);
      if ((at > 0 && v[at - 1] == '$') || close == std::string::npos) continue;
      out += (out.empty() ? ", with " : ", ") + v.substr(at, close - at + 1);
    }
  }
  return out;
}

// An environment or flag value for a key: strings as given, booleans "true"/"false".
void set_override(const ConfigKey& k, Config& c, const std::string& value) {
  const FieldRef f = k.field(c);
  if (auto* s = std::get_if<std::string*>(&f)) **s = value;
  if (auto* b = std::get_if<bool*>(&f)) **b = value == "true";
}

// Environment, then flags, for the keys the table gives a variable or a flag.
void apply_overrides(TracedConfig& t, const EnvLookup& env, const ConfigOverrides& flags,
                     std::map<std::string, std::string>& labels) {
  for (const auto& k : config_keys()) {
    if (k.env.empty() || !env) continue;
    const std::string key(k.name), var(k.env);
    if (auto v = env(var.c_str())) {
      labels[key] = var + " (" + key + ")";
      if (v->empty()) fail(key, "is set but empty", labels[key]);
      set_override(k, t.config, *v);
      t.sources[key] = {ValueSource::Kind::environment, var};
    }
  }
  for (const auto& k : config_keys()) {
    if (k.flag_value == nullptr) continue;
    const std::string key(k.name), flag(k.flag);
    if (auto v = k.flag_value(flags)) {
      labels[key] = flag + " (" + key + ")";
      set_override(k, t.config, *v);
      t.sources[key] = {ValueSource::Kind::flag, flag};
    }
  }
}

}  // namespace

std::string Config::source_of(const std::string& topic) const {
  for (const auto& t : kafka.topics) {
    if (t.topic == topic) return t.source;
  }
  return {};
}

Config parse_config(const std::string& yaml_text, const std::string& source_path) {
  Config c = parse_document(yaml_text, source_path);
  normalise_final(c);
  validate_final(c, {});
  return c;
}

const MachineSet& builtin_machines() {
  static const MachineSet machines = parse_document(builtin_config_text(), "<built-in>").machines;
  return machines;
}

EnvLookup process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

TracedConfig load_config_traced(const std::optional<std::string>& path, const EnvLookup& env,
                                const ConfigOverrides& flags) {
  const Document doc = read_document(path);
  std::set<std::string> present;
  TracedConfig t{parse_document(doc.text, doc.source, &present), {}};
  const bool from_file = doc.source != "<built-in>";
  for (const auto& k : config_keys()) {
    const std::string key(k.name);
    if (from_file && present.count(key) > 0) {
      const std::string refs = k.secret_refs ? references_in(k, t.config) : "";
      t.sources[key] = {ValueSource::Kind::file, doc.source + refs};
    } else {
      t.sources[key] = {ValueSource::Kind::default_value, k.type == KeyType::machines ? "built-in machines" : ""};
    }
  }
  expand_secrets(t.config, env);
  std::map<std::string, std::string> labels;
  apply_overrides(t, env, flags, labels);
  normalise_final(t.config);
  validate_final(t.config, labels);
  return t;
}

Config load_config(const std::optional<std::string>& path, const EnvLookup& env, const ConfigOverrides& flags) {
  return load_config_traced(path, env, flags).config;
}

}  // namespace lockstep
