// The schema (docs/database.md): the numbered migrations of migrations/, applied and
// reverted by `lockstep migrate`.
#pragma once

#include <string>
#include <vector>

#include "lockstep/store/types.hpp"

namespace lockstep {

struct MigrationStatus {
  int version;
  std::string name;
  bool applied;
};

class SchemaStore {
 public:
  virtual ~SchemaStore() = default;

  virtual std::vector<MigrationStatus> migration_status() = 0;
  virtual std::vector<MigrationStatus> migrate_up() = 0;        // returns what it applied
  virtual std::vector<MigrationStatus> migrate_down(int n) = 0;  // returns what it reverted
  virtual int schema_version() = 0;
};

// Highest migration version this build knows.
int latest_schema_version();

}  // namespace lockstep
