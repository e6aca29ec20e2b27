// SQLite C API pieces of the embedded store: its error (an SQLite result code)
// and one use of a cached prepared statement. Private to the store library.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace lockstep::sqlite {

// An SQLite failure with its extended result code; mapped to the Store's
// exceptions by SqliteStore::guarded().
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// Throws the SqliteError of a failed call: `db`'s extended error code and
// message when there is a connection, else those of `rc`.
[[noreturn]] void fail(sqlite3* db, int rc, const std::string& what);

// One use of a cached prepared statement: bind, step, read columns; reset (and
// bindings cleared) when it goes out of scope, so no statement stays active.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& null(int i) { return check(sqlite3_bind_null(s_, i)); }
  Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, int v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Stmt& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Stmt& bind(int i, const std::optional<std::string>& v) { return v ? bind(i, *v) : null(i); }
  Stmt& bind(int i, const std::optional<int64_t>& v) { return v ? bind(i, *v) : null(i); }
  // Bytes as a BLOB; an empty string is a zero-length BLOB, not NULL.
  Stmt& blob(int i, const std::string& v) {
    return check(sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT));
  }
  Stmt& blob(int i, const std::optional<std::string>& v) { return v ? blob(i, *v) : null(i); }

  // true: a row is ready; false: done.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, rc, "statement failed");
  }
  // Runs to completion; returns the number of rows it changed.
  int run() {
    while (step()) {
    }
    return sqlite3_changes(db_);
  }

  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  std::optional<std::string> opt_text(int c) const {
    if (is_null(c)) return std::nullopt;
    return text(c);
  }
  std::string bytes(int c) const {
    const void* p = sqlite3_column_blob(s_, c);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) fail(db_, rc, "bind failed");
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
};

}  // namespace lockstep::sqlite
