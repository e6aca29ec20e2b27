// PostgreSQL URLs and scratch databases for tests, the benchmark and the chaos run.
#pragma once

#include <string>

namespace lockstep::kit {

// The parts of a postgresql:// URL, put back together by str():
// <prefix: scheme://[user[:password]@]><host>[:<port>][/<database>][<query: ?…>].
// An IPv6 host keeps its brackets. Throws std::runtime_error on a string
// that is not a URL (a libpq key=value string).
struct PgUrl {
  std::string prefix;
  std::string host;
  int port = 0;  // 0: none given (libpq's default, 5432)
  std::string database;
  std::string query;
  std::string str() const;
};
PgUrl parse_pg_url(const std::string& url);

// postgresql://u@h:p/db?x -> postgresql://u@h:p/<name>?x
std::string with_database(const std::string& url, const std::string& name);

// Drops (forcing connections off) and creates database `name`.
void recreate_database(const std::string& admin_url, const std::string& name);

}  // namespace lockstep::kit
