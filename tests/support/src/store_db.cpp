#include "lockstep/test/store_db.hpp"
#include "lockstep/verify.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "lockstep/sqlite_handle.hpp"
#include "lockstep/store.hpp"

namespace lockstep::test {
namespace {

// concat_ws(sep, ...) as PostgreSQL has it (SQLite has it only from 3.44):
// the non-NULL arguments as text, joined by sep.
void concat_ws(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_null(ctx);
    return;
  }
  auto text = [](sqlite3_value* v) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_value_bytes(v))) : std::string();
  };
  const std::string sep = text(argv[0]);
  std::string out;
  bool first = true;
  for (int i = 1; i < argc; ++i) {
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) continue;
    if (!first) out += sep;
    out += text(argv[i]);
    first = false;
  }
  sqlite3_result_text(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
}

SqliteHandle open_sqlite(const std::string& file) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK)
    throw std::runtime_error("sqlite open " + file + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(raw, 10000);
  sqlite3_create_function(raw, "concat_ws", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, concat_ws, nullptr,
                          nullptr);
  return db;
}

// Rows of a query as text (NULL -> nullopt).
std::vector<std::vector<std::optional<std::string>>> sqlite_rows(const std::string& file, const std::string& sql) {
  auto db = open_sqlite(file);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
    throw std::runtime_error("sqlite: " + std::string(sqlite3_errmsg(db.get())) + " in: " + sql);
  SqliteStmtHandle st(raw);
  std::vector<std::vector<std::optional<std::string>>> out;
  for (;;) {
    const int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) throw std::runtime_error("sqlite: " + std::string(sqlite3_errmsg(db.get())) + " in: " + sql);
    std::vector<std::optional<std::string>> row;
    for (int c = 0; c < sqlite3_column_count(st.get()); ++c) {
      if (sqlite3_column_type(st.get(), c) == SQLITE_NULL) {
        row.emplace_back(std::nullopt);
      } else {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), c));
        row.emplace_back(std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st.get(), c))));
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

const char* to_string(Backend b) { return b == Backend::sqlite ? "sqlite" : "postgresql"; }

std::vector<Backend> all_backends() { return {Backend::postgresql, Backend::sqlite}; }

TestStoreDb::TestStoreDb(Backend backend, bool migrate) : backend_(backend) {
  if (backend_ == Backend::postgresql) {
    pg_ = std::make_unique<TestDb>(migrate);
    url_ = pg_->url();
    return;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "lockstep-sqlite-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  file_ = dir_ + "/lockstep.db";
  url_ = "sqlite://" + file_;  // sqlite:///tmp/...
  if (migrate) open_store(url_)->migrate_up();
}

TestStoreDb::~TestStoreDb() {
  if (!dir_.empty() && !env("LOCKSTEP_KEEP_TEST_DIRS")) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

const TestDb& TestStoreDb::pg() const {
  if (!pg_) throw std::logic_error("TestStoreDb::pg() on a SQLite test database");
  return *pg_;
}

std::string TestStoreDb::scalar(const std::string& sql) const {
  if (pg_) return pg_->scalar(sql);
  auto rows = sqlite_rows(file_, sql);
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return "";
  return *rows[0][0];
}

void TestStoreDb::exec(const std::string& sql) const {
  if (pg_) return pg_->exec(sql);
  auto db = open_sqlite(file_);
  char* err = nullptr;
  const int rc = sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &err);
  std::unique_ptr<char, decltype(&sqlite3_free)> owned(err, &sqlite3_free);
  if (rc != SQLITE_OK) throw std::runtime_error("sqlite: " + std::string(err ? err : "error") + " in: " + sql);
}

std::vector<std::string> invariant_violations(const TestStoreDb& db, const MachineSet& machines) {
  std::vector<std::string> out;
  for (const auto& c : verify(db.url(), machines, {}))
    if (!c.ok()) out.push_back(format(c));
  return out;
}

}  // namespace lockstep::test
