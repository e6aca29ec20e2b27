// Embedded store, the schema: the embedded migrations of migrations/sqlite/
// (same numbers and names as PostgreSQL's), each run in one BEGIN IMMEDIATE
// transaction.
#include <algorithm>

#include "migrations.hpp"
#include "sqlite_store.hpp"

namespace lockstep::sqlite {

std::vector<MigrationStatus> SqliteStore::migration_status() {
  std::vector<MigrationStatus> out;
  guarded([&] {
    Tx tx(*this);
    ensure_migrations_table();
    out = migration_statuses(sqlite_migrations(), applied_versions());
    tx.commit();
  });
  return out;
}

// BEGIN IMMEDIATE: one migrator at a time; DDL is transactional in SQLite, so
// a failing migration leaves the schema as it was.
std::vector<MigrationStatus> SqliteStore::migrate_up() {
  std::vector<MigrationStatus> done;
  guarded([&] {
    done.clear();
    Tx tx(*this);
    ensure_migrations_table();
    const auto applied = applied_versions();
    for (const auto& m : sqlite_migrations()) {
      if (is_applied(applied, m.version)) continue;
      exec(m.up);
      auto s = stmt("INSERT INTO lockstep_schema_migrations (version, name, applied_at) VALUES (?1, ?2, " +
                    std::string(kNow) + ")");
      s.bind(1, m.version).bind(2, m.name).run();
      done.push_back({m.version, m.name, true});
    }
    tx.commit();
  });
  stmts_.clear();
  return done;
}

std::vector<MigrationStatus> SqliteStore::migrate_down(int n) {
  std::vector<MigrationStatus> done;
  guarded([&] {
    done.clear();
    stmts_.clear();  // no cached statement may hold on to a table being dropped
    Tx tx(*this);
    ensure_migrations_table();
    auto applied = applied_versions();
    std::sort(applied.rbegin(), applied.rend());
    for (int k = 0; k < n && k < static_cast<int>(applied.size()); ++k) {
      const auto& m = known_migration(sqlite_migrations(), applied[k]);
      exec(m.down);
      auto s = stmt("DELETE FROM lockstep_schema_migrations WHERE version = ?1");
      s.bind(1, m.version).run();
      done.push_back({m.version, m.name, false});
    }
    tx.commit();
  });
  stmts_.clear();
  return done;
}

int SqliteStore::schema_version() {
  int v = 0;
  guarded([&] {
    v = 0;
    {
      auto s = stmt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'lockstep_schema_migrations'");
      s.step();
      if (s.i64(0) == 0) return;
    }
    auto s = stmt("SELECT coalesce(max(version), 0) FROM lockstep_schema_migrations");
    s.step();
    v = static_cast<int>(s.i64(0));
  });
  return v;
}

void SqliteStore::ensure_migrations_table() {
  exec("CREATE TABLE IF NOT EXISTS lockstep_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
       "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT");
}

std::vector<int> SqliteStore::applied_versions() {
  std::vector<int> v;
  auto s = stmt("SELECT version FROM lockstep_schema_migrations ORDER BY version");
  while (s.step()) v.push_back(static_cast<int>(s.i64(0)));
  return v;
}

}  // namespace lockstep::sqlite
