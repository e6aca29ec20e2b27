#include <iostream>

#include "cli.hpp"
#include "lockstep/store.hpp"

namespace lockstep::cli {
namespace {

// `what` (up, down or status) on the schema; `n`: how many migrations down reverts.
void migrate(SchemaStore& schema, const std::string& what, int n) {
  if (what == "up") {
    auto done = schema.migrate_up();
    for (const auto& m : done) std::cout << "applied " << m.version << " " << m.name << "\n";
    std::cout << "schema at version " << schema.schema_version() << (done.empty() ? " (up to date)" : "") << "\n";
  } else if (what == "down") {
    auto done = schema.migrate_down(n);
    for (const auto& m : done) std::cout << "reverted " << m.version << " " << m.name << "\n";
    std::cout << "schema at version " << schema.schema_version() << "\n";
  } else {
    for (const auto& m : schema.migration_status())
      std::cout << m.version << " " << m.name << " " << (m.applied ? "applied" : "pending") << "\n";
  }
}

}  // namespace

int cmd_migrate(Args& args) {
  ConfigOverrides o;
  o.database_url = args.option("--database-url");
  Config cfg = load(args, o);
  auto pos = args.positionals();
  if (pos.empty()) throw UsageError("usage: lockstep migrate up|down [N]|status");
  const auto& what = pos[0];
  if ((what == "up" || what == "status") && pos.size() != 1) throw UsageError(what + " takes no arguments");
  if (what == "down" && pos.size() > 2) throw UsageError("usage: lockstep migrate down [N]");
  if (what != "up" && what != "down" && what != "status")
    throw UsageError("unknown migrate command '" + what + "' (up, down [N], status)");
  const int n = what == "down" && pos.size() == 2 ? parse_int("N", pos[1], 1, 10000) : 1;

  migrate(*open_store(cfg.database.url), what, n);
  return 0;
}

}  // namespace lockstep::cli
