// `lockstep migrate up|down [N]|status`: the database schema.
#include <iostream>

#include "cli.hpp"
#include "lockstep/store.hpp"

namespace lockstep::cli {
namespace {

struct MigrateOptions {
  Connection conn;
  std::optional<int> n;  // down N
  bool yes = false;      // down --yes: one migration
};

// "3 name, 2 name": the `n` highest applied migrations, the ones down reverts.
std::string to_revert(SchemaStore& schema, int n) {
  auto all = schema.migration_status();
  std::string out;
  for (auto it = all.rbegin(); it != all.rend() && n > 0; ++it) {
    if (!it->applied) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(it->version) + " " + it->name;
    --n;
  }
  return out.empty() ? "none (nothing is applied)" : out;
}

int up(const MigrateOptions& o) {
  auto store = open_store(load(o.conn).database.url);
  auto done = store->migrate_up();
  for (const auto& m : done) std::cout << "applied " << m.version << " " << m.name << "\n";
  std::cout << "schema at version " << store->schema_version() << (done.empty() ? " (up to date)" : "") << "\n";
  return 0;
}

int down(const MigrateOptions& o) {
  auto store = open_store(load(o.conn).database.url);
  if (!o.n && !o.yes)
    throw UsageError("down reverts migrations: give how many (`migrate down 1` would revert " + to_revert(*store, 1) +
                     ") or --yes to revert the last one");
  const int n = o.n.value_or(1);
  std::cout << "reverting " << to_revert(*store, n) << "\n";
  auto done = store->migrate_down(n);
  for (const auto& m : done) std::cout << "reverted " << m.version << " " << m.name << "\n";
  std::cout << "schema at version " << store->schema_version() << "\n";
  return 0;
}

int status(const MigrateOptions& o) {
  auto store = open_store(load(o.conn).database.url);
  for (const auto& m : store->migration_status())
    std::cout << m.version << " " << m.name << " " << (m.applied ? "applied" : "pending") << "\n";
  return 0;
}

}  // namespace

void add_migrate(CLI::App& app, Action& action) {
  auto o = std::make_shared<MigrateOptions>();
  auto* cmd = app.add_subcommand("migrate", "the database schema: migrate up|down N|status");
  cmd->require_subcommand(1);
  auto with_flags = [&](CLI::App* sub) {
    add_connection_flags(sub, o->conn);
    add_timeout_flag(sub, o->conn, 5000, "connecting to the database");
    return sub;
  };
  with_flags(cmd->add_subcommand("up", "apply every pending migration"))->callback([&action, o] {
    action = [o] { return up(*o); };
  });
  auto* d = with_flags(cmd->add_subcommand("down", "revert the last N migrations (N, or --yes for one)"));
  d->add_option_function<int>("N", [o](const int& n) { o->n = n; }, "how many migrations to revert")
      ->check(CLI::Range(1, 10000));
  d->add_flag("-y,--yes", o->yes, "revert the last migration without giving N");
  d->callback([&action, o] { action = [o] { return down(*o); }; });
  with_flags(cmd->add_subcommand("status", "every migration, applied or pending"))->callback([&action, o] {
    action = [o] { return status(*o); };
  });
}

}  // namespace lockstep::cli
