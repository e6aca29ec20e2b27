// Secrets out of URLs and connection strings, for logs, messages and
// `lockstep config show`: passwords become "***".
#include "config_internal.hpp"

namespace lockstep {
namespace {

using config_detail::kMask;
using config_detail::lower;

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

}  // namespace lockstep
