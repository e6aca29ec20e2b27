// Owning handles for the SQLite C API: the embedded store's, and those of code
// that opens the store's database file directly (test support, tooling).
#pragma once

#include <sqlite3.h>

#include <memory>

namespace lockstep {

struct SqliteClose {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct SqliteFinalize {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
// A connection, closed (sqlite3_close_v2) when the handle goes; also owns the
// connection sqlite3_open_v2 returns when opening failed.
using SqliteHandle = std::unique_ptr<sqlite3, SqliteClose>;
// A prepared statement, finalized when the handle goes.
using SqliteStmtHandle = std::unique_ptr<sqlite3_stmt, SqliteFinalize>;

}  // namespace lockstep
