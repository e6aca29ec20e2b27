// The admin section: where the admin API and console listen, and the named
// tokens that may use them. A token's value is never echoed, not even in an
// error: messages name the key (admin.tokens.NAME.token) and say what is wrong.
#include <algorithm>

#include "config_internal.hpp"

namespace lockstep::config_detail {
namespace {

constexpr std::size_t kMinTokenChars = 16;
constexpr std::size_t kMaxNameChars = 64;

// Token names end up in logs and in the dead letters' resolved_by: plain words only.
bool valid_token_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameChars) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '@';
  });
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

AdminToken parse_token_entry(const std::string& name, const YAML::Node& v, const std::string& key) {
  // Not described: a scalar here is most likely the secret itself.
  if (!v.IsMap()) fail(key, "must be a mapping {role: read|write, token: SECRET}");
  AdminToken t{name, "", ""};
  bool has_token = false;
  for (const auto& [field, value] : entries(v, key)) {
    const std::string child = key + "." + field;
    if (field == "role") {
      t.role = get_string(value, child);
    } else if (field == "token") {
      if (!value.IsScalar()) fail(child, "must be a string");
      t.token = value.Scalar();
      has_token = true;
    } else {
      unknown_key(child, {"role", "token"});
    }
  }
  if (t.role.empty()) fail(key + ".role", "is required: read or write");
  if (!has_token) fail(key + ".token", "is required");
  return t;
}

}  // namespace

std::vector<AdminToken> parse_admin_tokens(const YAML::Node& v, const std::string& key) {
  std::vector<AdminToken> out;
  for (const auto& [name, value] : entries(v, key)) {
    if (!valid_token_name(name))
      fail(key, "token names must be 1.." + std::to_string(kMaxNameChars) +
                    " characters of letters, digits, '.', '_', '-', '@' (got " + quote(name) + ")");
    out.push_back(parse_token_entry(name, value, key + "." + name));
  }
  std::sort(out.begin(), out.end(), [](const AdminToken& a, const AdminToken& b) { return a.name < b.name; });
  return out;
}

void normalise_final(Config& c) {
  if (all_digits(c.admin.listen)) c.admin.listen = "127.0.0.1:" + c.admin.listen;
}

void check_admin_listen(const Config& c, const std::string& key, const std::string& label) {
  const std::string& listen = c.admin.listen;
  if (listen.empty() || valid_listen(listen)) return;
  fail(key,
       "must be host:port or a port alone (binds 127.0.0.1), the port between 0 and 65535, e.g. 9465, "
       "127.0.0.1:9465 or [::1]:9465 (got " + quote(listen) + ")",
       label);
}

void check_admin_tokens(const Config& c, const std::string& key, const std::string&) {
  if (!c.admin.listen.empty() && c.admin.tokens.empty())
    fail(key, "at least one token is needed when admin.listen is set (the admin API refuses every request "
              "without one)");
  for (auto it = c.admin.tokens.begin(); it != c.admin.tokens.end(); ++it) {
    const std::string at = key + "." + it->name;
    if (it->role != "read" && it->role != "write")
      fail(at + ".role", "must be read or write (got " + quote(it->role) + ")");
    if (it->token.size() < kMinTokenChars)
      fail(at + ".token", "must be at least " + std::to_string(kMinTokenChars) + " characters long (got " +
                              std::to_string(it->token.size()) + ")");
    for (auto before = c.admin.tokens.begin(); before != it; ++before) {
      if (before->token == it->token)
        fail(at + ".token", "is the same as " + key + "." + before->name + ".token: each name needs its own token");
    }
  }
}

}  // namespace lockstep::config_detail
