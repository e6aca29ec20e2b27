// A read-only, consistent snapshot of a Lockstep database (PostgreSQL or the
// embedded SQLite file) for reports and checks such as `lockstep verify`: SQL in,
// rows of text out. Not for the worker's hot path.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lockstep {

class SqlReader {
 public:
  using Row = std::vector<std::optional<std::string>>;  // one text value per column, nullopt for NULL
  virtual ~SqlReader() = default;
  // Runs `sql` in the snapshot; `$1` is bound to `param` when given. Throws
  // TransientStoreError when the database cannot be read or rejects the query.
  virtual std::vector<Row> query(const std::string& sql, const std::optional<std::string>& param = std::nullopt) = 0;
  virtual const char* dialect() const = 0;  // "postgresql" | "sqlite"
};

// Opens a snapshot of the database at `url` (as open_store() accepts). On
// PostgreSQL: a repeatable-read, read-only transaction that plans whole-table
// joins (hash or merge) rather than a scan per row, which on a database with
// stale statistics could take hours; on SQLite: one read transaction.
std::unique_ptr<SqlReader> open_reader(const std::string& url);

}  // namespace lockstep
