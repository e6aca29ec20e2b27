#pragma once
#include <string>
#include <vector>

namespace lockstep {
struct Migration {
  int version;
  std::string name;
  std::string up;
  std::string down;
};
// Embedded from migrations/*.sql at build time, ordered by version (PostgreSQL).
const std::vector<Migration>& migrations();
// Embedded from migrations/sqlite/*.sql: the SQLite dialect of the same
// migrations (same versions and names), for the embedded store.
const std::vector<Migration>& sqlite_migrations();
}  // namespace lockstep
