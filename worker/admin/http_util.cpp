// http_util.hpp.
#include "http_util.hpp"

namespace lockstep::admin {
namespace {

constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

ApiError bad_request(const std::string& message, const std::string& field) {
  return ApiError(400, "bad_request", message, field);
}

std::string error_code(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "too_large";
    case 431: return "too_large";
    case 503: return "unavailable";
    default: return "internal";
  }
}

HttpResponse json_response(int status, const Json& body) {
  HttpResponse res;
  res.status = status;
  res.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  // Invalid UTF-8 in stored text is replaced, not thrown on.
  res.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return res;
}

HttpResponse error_response(int status, const std::string& code, const std::string& message,
                            const std::string& field) {
  Json body = {{"error", code}, {"message", message}};
  if (!field.empty()) body["field"] = field;
  return json_response(status, body);
}

HttpResponse error_response(const ApiError& e) { return error_response(e.status(), e.code(), e.what(), e.field()); }

void add_security_headers(HttpResponse& res) {
  res.headers.emplace_back("Content-Security-Policy", kCsp);
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("Cache-Control", "no-store");
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string name = percent_decode(pair.substr(0, eq));
    out[name] = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
  }
  return out;
}

std::vector<std::string> path_segments(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    out.push_back(percent_decode(seg, false));  // a path keeps '+' as it is
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return out;
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    const std::string_view part = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const auto eq = part.find('=');
    if (eq != std::string_view::npos && trim(part.substr(0, eq)) == name) return std::string(trim(part.substr(eq + 1)));
  }
  return std::nullopt;
}

}  // namespace lockstep::admin
