#pragma once
#include <string>
#include <vector>

#include "lockstep/store.hpp"

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

// Bookkeeping both stores share; `applied` is the versions a database's
// lockstep_schema_migrations table holds.
bool is_applied(const std::vector<int>& applied, int version);
// Each migration of `all`, in its order, with whether it is applied.
std::vector<MigrationStatus> migration_statuses(const std::vector<Migration>& all, const std::vector<int>& applied);
// The migration of `all` with this version; std::runtime_error when the
// database has one this build does not know (it cannot be reverted).
const Migration& known_migration(const std::vector<Migration>& all, int version);
}  // namespace lockstep
