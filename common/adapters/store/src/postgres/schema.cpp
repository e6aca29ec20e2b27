// PostgreSQL store, the schema: the embedded migrations (migrations/*.sql),
// one migrator at a time (an advisory lock), each run in one transaction.
#include <algorithm>

#include "migrations.hpp"
#include "pg_store.hpp"

namespace lockstep::postgres {
namespace {

void ensure_migrations_table(pqxx::work& tx) {
  tx.exec(
      "CREATE TABLE IF NOT EXISTS lockstep_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now())");
}

std::vector<int> applied_versions(pqxx::work& tx) {
  std::vector<int> v;
  for (const auto& row : tx.exec("SELECT version FROM lockstep_schema_migrations ORDER BY version"))
    v.push_back(row[0].as<int>());
  return v;
}

}  // namespace

std::vector<MigrationStatus> PgStore::migration_status() {
  std::vector<MigrationStatus> out;
  guarded([&] {
    pqxx::work tx(connection());
    ensure_migrations_table(tx);
    out = migration_statuses(migrations(), applied_versions(tx));
    tx.commit();
  });
  return out;
}

std::vector<MigrationStatus> PgStore::migrate_up() {
  std::vector<MigrationStatus> done;
  guarded([&] {
    pqxx::work tx(connection());
    tx.exec("SELECT pg_advisory_xact_lock(736522001)");  // one migrator at a time
    ensure_migrations_table(tx);
    auto applied = applied_versions(tx);
    for (const auto& m : migrations()) {
      if (is_applied(applied, m.version)) continue;
      tx.exec(m.up);
      tx.exec_params("INSERT INTO lockstep_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name);
      done.push_back({m.version, m.name, true});
    }
    tx.commit();
  });
  if (!done.empty()) reset();  // prepared statements may reference new tables
  return done;
}

std::vector<MigrationStatus> PgStore::migrate_down(int n) {
  std::vector<MigrationStatus> done;
  guarded([&] {
    pqxx::work tx(connection());
    tx.exec("SELECT pg_advisory_xact_lock(736522001)");
    ensure_migrations_table(tx);
    auto applied = applied_versions(tx);
    std::sort(applied.rbegin(), applied.rend());
    for (int k = 0; k < n && k < static_cast<int>(applied.size()); ++k) {
      const auto& m = known_migration(migrations(), applied[k]);
      tx.exec(m.down);
      tx.exec_params("DELETE FROM lockstep_schema_migrations WHERE version = $1", m.version);
      done.push_back({m.version, m.name, false});
    }
    tx.commit();
  });
  reset();
  return done;
}

int PgStore::schema_version() {
  int v = 0;
  guarded([&] {
    pqxx::nontransaction tx(connection());
    auto r = tx.exec("SELECT to_regclass('lockstep_schema_migrations') IS NOT NULL");
    if (!r[0][0].as<bool>()) return;
    auto m = tx.exec("SELECT coalesce(max(version), 0) FROM lockstep_schema_migrations");
    v = m[0][0].as<int>();
  });
  return v;
}

}  // namespace lockstep::postgres
