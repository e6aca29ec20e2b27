// Embedded store: the connection (opening the file in WAL mode, reopening after
// a fault), cached statements, and how SQLite result codes map to the store's
// two errors.
#include <atomic>
#include <chrono>
#include <memory>
#include <random>

#include "backends.hpp"
#include "sqlite_store.hpp"

namespace lockstep {
namespace sqlite {
namespace {

constexpr int kBusyTimeoutMs = 5000;

std::string random_token() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static std::atomic<uint64_t> counter{0};
  return std::to_string(rng()) + "-" + std::to_string(++counter);
}

}  // namespace

void fail(sqlite3* db, int rc, const std::string& what) {
  const int code = db ? sqlite3_extended_errcode(db) : rc;
  const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw SqliteError(code ? code : rc, what + ": " + (msg ? msg : sqlite3_errstr(rc)));
}

SqliteStore::SqliteStore(const std::string& url) : path_(sqlite_path(url)), owner_(random_token()) {
  guarded([&] { db(); });
}

void SqliteStore::ping() {
  guarded([&] {
    auto s = stmt("SELECT count(*) FROM sqlite_master");
    s.step();
  });
}

sqlite3* SqliteStore::db() {
  if (db_) return db_.get();
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  SqliteHandle h(raw);  // owns it even when opening failed
  if (rc != SQLITE_OK) fail(raw, rc, "cannot open database " + path_);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  db_ = std::move(h);
  try {
    // journal_mode=WAL is stored in the file: the first connection switches it.
    std::string mode;
    {
      auto s = stmt("PRAGMA journal_mode = WAL");
      if (s.step()) mode = s.text(0);
    }
    if (mode != "wal")
      throw SqliteError(SQLITE_CANTOPEN, "database " + path_ + " cannot use WAL journal mode (got '" + mode + "')");
    exec("PRAGMA synchronous = FULL");
    exec("PRAGMA foreign_keys = ON");
  } catch (...) {
    stmts_.clear();
    db_.reset();
    throw;
  }
  return db_.get();
}

Stmt SqliteStore::stmt(const std::string& sql) {
  sqlite3* d = db();
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(d, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                                      nullptr);
    SqliteStmtHandle h(raw);
    if (rc != SQLITE_OK) {
      const std::string msg = sqlite3_errmsg(d);
      if (msg.rfind("no such table", 0) == 0 || msg.rfind("no such column", 0) == 0)
        throw SqliteError(rc, "database schema is not migrated (run `lockstep migrate up`): " + msg);
      fail(d, rc, "cannot prepare statement");
    }
    it = stmts_.emplace(sql, std::move(h)).first;
  }
  return Stmt(d, it->second.get());
}

void SqliteStore::exec(const std::string& sql) {
  sqlite3* d = db();
  char* err = nullptr;
  const int rc = sqlite3_exec(d, sql.c_str(), nullptr, nullptr, &err);
  std::unique_ptr<char, decltype(&sqlite3_free)> owned(err, &sqlite3_free);
  if (rc != SQLITE_OK) fail(d, rc, err ? std::string(err) : std::string("statement failed"));
}

std::string SqliteStore::timestamp(const std::string& text, const char* what) {
  auto s = stmt("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1)");
  s.bind(1, text);
  if (!s.step() || s.is_null(0))
    throw DataStoreError(std::string("database rejected the data: ") + what + " is not a timestamp: " + clean(text));
  return s.text(0);
}

void SqliteStore::reset() {
  stmts_.clear();
  db_.reset();
}

void SqliteStore::rethrow_as_store_error() {
  try {
    throw;
  } catch (const SqliteError& e) {
    const int primary = e.code() & 0xff;
    switch (primary) {
      case SQLITE_CONSTRAINT:
      case SQLITE_MISMATCH:
      case SQLITE_TOOBIG:
        throw DataStoreError(std::string("database rejected the data (") + sqlite3_errstr(primary) +
                             "): " + first_line(e.what()));
      case SQLITE_IOERR:
      case SQLITE_CORRUPT:
      case SQLITE_CANTOPEN:
      case SQLITE_NOTADB:
      case SQLITE_NOMEM:
      case SQLITE_PROTOCOL:
      case SQLITE_FULL:
      case SQLITE_READONLY:
      case SQLITE_PERM:
        reset();  // reopen next time
        throw TransientStoreError(std::string("database error (") + sqlite3_errstr(primary) +
                                  "): " + first_line(e.what()));
      default:
        // BUSY / LOCKED (another writer held the lock past the busy timeout),
        // a missing schema and anything else: a fault of the deployment, not
        // of the event. Keep the event and retry.
        throw TransientStoreError(std::string("database error (") + sqlite3_errstr(primary) +
                                  "): " + first_line(e.what()));
    }
  }
}

}  // namespace sqlite

std::string sqlite_path(const std::string& url) {
  if (url.rfind("sqlite:", 0) != 0) throw std::invalid_argument("database.url: not a sqlite: URL");
  std::string rest = url.substr(7);
  // sqlite:///abs/path -> /abs/path; sqlite://rel/path -> rel/path; sqlite:rel/path -> rel/path.
  if (rest.rfind("//", 0) == 0) rest = rest.substr(2);
  if (rest.empty())
    throw std::invalid_argument("database.url: a sqlite: URL needs a file path, e.g. sqlite:///var/lib/lockstep.db");
  if (rest == ":memory:" || rest.rfind("file:", 0) == 0)
    throw std::invalid_argument(
        "database.url: the embedded store needs a database file (sqlite:///path or sqlite:relative/path): every "
        "connection of the worker must see the same database");
  return rest;
}

std::unique_ptr<Store> make_sqlite_store(const std::string& url) { return std::make_unique<sqlite::SqliteStore>(url); }

}  // namespace lockstep
