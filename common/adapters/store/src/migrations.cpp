#include "migrations.hpp"

#include <algorithm>
#include <stdexcept>

namespace lockstep {

bool is_applied(const std::vector<int>& applied, int version) {
  return std::find(applied.begin(), applied.end(), version) != applied.end();
}

std::vector<MigrationStatus> migration_statuses(const std::vector<Migration>& all, const std::vector<int>& applied) {
  std::vector<MigrationStatus> out;
  for (const auto& m : all) out.push_back({m.version, m.name, is_applied(applied, m.version)});
  return out;
}

const Migration& known_migration(const std::vector<Migration>& all, int version) {
  auto it = std::find_if(all.begin(), all.end(), [&](const Migration& m) { return m.version == version; });
  if (it == all.end())
    throw std::runtime_error("database has migration " + std::to_string(version) + " which this build does not know");
  return *it;
}

}  // namespace lockstep
