#include "lockstep/sql_reader.hpp"

#include <pqxx/pqxx>

#include "codec.hpp"
#include "lockstep/sqlite_handle.hpp"
#include "lockstep/store.hpp"

namespace lockstep {
namespace {

class PgReader final : public SqlReader {
 public:
  explicit PgReader(const std::string& url) try : conn_(url), tx_(conn_) {
    tx_.exec("SET LOCAL enable_nestloop = off");
  } catch (const std::exception& e) {
    throw TransientStoreError(std::string("cannot read the database: ") + first_line(e.what()));
  }

  std::vector<Row> query(const std::string& sql, const std::optional<std::string>& param) override {
    try {
      const auto r = param ? tx_.exec_params(sql, *param) : tx_.exec(sql);
      std::vector<Row> out;
      out.reserve(r.size());
      for (const auto& row : r) {
        Row o;
        o.reserve(row.size());
        for (const auto& f : row) o.push_back(f.is_null() ? std::nullopt : std::optional<std::string>(f.c_str()));
        out.push_back(std::move(o));
      }
      return out;
    } catch (const std::exception& e) {
      throw TransientStoreError(std::string("database query failed: ") + first_line(e.what()));
    }
  }
  const char* dialect() const override { return "postgresql"; }

 private:
  pqxx::connection conn_;
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx_;
};

class SqliteReader final : public SqlReader {
 public:
  explicit SqliteReader(const std::string& url) {
    const auto path = sqlite_path(url);
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) fail("cannot open " + path);
    sqlite3_busy_timeout(db_.get(), 5000);
    exec("BEGIN");  // one snapshot (WAL) from the first read on
  }
  ~SqliteReader() override {
    if (db_) sqlite3_exec(db_.get(), "COMMIT", nullptr, nullptr, nullptr);
  }

  std::vector<Row> query(const std::string& sql, const std::optional<std::string>& param) override {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK)
      fail("database query failed");
    SqliteStmtHandle st(raw);
    if (param && sqlite3_bind_text64(raw, 1, param->data(), param->size(), SQLITE_TRANSIENT, SQLITE_UTF8) != SQLITE_OK)
      fail("database query failed");
    std::vector<Row> out;
    for (;;) {
      const int rc = sqlite3_step(raw);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail("database query failed");
      Row o;
      const int n = sqlite3_column_count(raw);
      for (int c = 0; c < n; ++c) {
        if (sqlite3_column_type(raw, c) == SQLITE_NULL) {
          o.push_back(std::nullopt);
        } else {
          const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(raw, c));
          o.push_back(std::string(t, static_cast<std::size_t>(sqlite3_column_bytes(raw, c))));
        }
      }
      out.push_back(std::move(o));
    }
    return out;
  }
  const char* dialect() const override { return "sqlite"; }

 private:
  void exec(const char* sql) {
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
  }
  [[noreturn]] void fail(const std::string& what) {
    throw TransientStoreError(what + ": " + (db_ ? sqlite3_errmsg(db_.get()) : "out of memory"));
  }
  SqliteHandle db_;
};

}  // namespace

std::unique_ptr<SqlReader> open_reader(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) return std::make_unique<SqliteReader>(url);
  return std::make_unique<PgReader>(url);
}

}  // namespace lockstep
