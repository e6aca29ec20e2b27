// Pieces of the admin server's HTTP handling: JSON answers and errors, the security headers
// every response carries, query strings, cookies, path segments.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/event.hpp"  // Json
#include "lockstep/http_server.hpp"

namespace lockstep::admin {

// An answer other than 2xx, thrown by a handler: {"error": code, "message": message, "field"?}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message, std::string field = "")
      : std::runtime_error(message), status_(status), code_(std::move(code)), field_(std::move(field)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& field() const { return field_; }

 private:
  int status_;
  std::string code_;
  std::string field_;
};

ApiError bad_request(const std::string& message, const std::string& field = "");

HttpResponse json_response(int status, const Json& body);
HttpResponse error_response(int status, const std::string& code, const std::string& message,
                            const std::string& field = "");
HttpResponse error_response(const ApiError& e);
// The code of an error status ("too_large" for 413, ...).
std::string error_code(int status);
// Adds the security headers (Content-Security-Policy, X-Frame-Options, ...) and Cache-Control.
void add_security_headers(HttpResponse& res);

// The query's parameters, percent-decoded ('+' is a space); a repeated name keeps the last.
std::map<std::string, std::string> parse_query(std::string_view query);
std::string percent_decode(std::string_view s, bool plus_is_space = true);
// The path split at '/', each segment percent-decoded: "/api/v1/x" -> {"api", "v1", "x"}.
std::vector<std::string> path_segments(std::string_view path);
// The value of cookie `name` in a Cookie header, nullopt when absent.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

}  // namespace lockstep::admin
