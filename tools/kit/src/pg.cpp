#include "lockstep/kit/pg.hpp"

#include <pqxx/pqxx>
#include <stdexcept>

namespace lockstep::kit {

PgUrl parse_pg_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) throw std::runtime_error("database url must be a postgresql:// URL");
  PgUrl u;
  const auto end = url.find_first_of("/?", scheme + 3);  // end of the authority
  const auto authority_end = end == std::string::npos ? url.size() : end;
  const auto at = url.rfind('@', authority_end);
  const auto host_from = at != std::string::npos && at > scheme ? at + 1 : scheme + 3;
  u.prefix = url.substr(0, host_from);
  const auto hostport = url.substr(host_from, authority_end - host_from);
  const auto colon = hostport.rfind(':');
  if (colon != std::string::npos && hostport.find(']', colon) == std::string::npos) {  // not inside [v6]
    u.host = hostport.substr(0, colon);
    u.port = std::stoi(hostport.substr(colon + 1));
  } else {
    u.host = hostport;
  }
  const auto query = url.find('?', authority_end);
  if (authority_end < url.size() && url[authority_end] == '/')
    u.database = url.substr(authority_end + 1, (query == std::string::npos ? url.size() : query) - authority_end - 1);
  if (query != std::string::npos) u.query = url.substr(query);
  return u;
}

// Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for
// "literal" + std::string (GCC bug 105329).
std::string PgUrl::str() const {
  std::string s = prefix + host;
  if (port > 0) {
    s += ':';
    s += std::to_string(port);
  }
  if (!database.empty()) {
    s += '/';
    s += database;
  }
  s += query;
  return s;
}

std::string with_database(const std::string& url, const std::string& name) {
  auto u = parse_pg_url(url);
  u.database = name;
  return u.str();
}

void recreate_database(const std::string& admin_url, const std::string& name) {
  pqxx::connection c(admin_url);
  pqxx::nontransaction tx(c);
  tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
}

}  // namespace lockstep::kit
