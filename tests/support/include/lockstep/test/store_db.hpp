// A fresh, migrated test database on either backend, so one store test suite
// runs against PostgreSQL and the embedded SQLite store alike.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "lockstep/machine.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep::test {

enum class Backend { postgresql, sqlite };

const char* to_string(Backend b);  // "postgresql" | "sqlite": the Store's dialect()
inline std::ostream& operator<<(std::ostream& os, Backend b) { return os << to_string(b); }
std::vector<Backend> all_backends();
// For INSTANTIATE_TEST_SUITE_P(..., BackendName): "postgresql" / "sqlite".
struct BackendName {
  template <class ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    return to_string(info.param);
  }
};

// PostgreSQL: a TestDb (a fresh database from LOCKSTEP_TEST_DATABASE_URL, which
// must be set; the test fails otherwise). SQLite: a fresh file in a temp
// directory (needs nothing), removed on destruction.
class TestStoreDb {
 public:
  explicit TestStoreDb(Backend backend, bool migrate = true);
  ~TestStoreDb();
  TestStoreDb(const TestStoreDb&) = delete;
  TestStoreDb& operator=(const TestStoreDb&) = delete;

  Backend backend() const { return backend_; }
  bool sqlite() const { return backend_ == Backend::sqlite; }
  const char* dialect() const { return to_string(backend_); }
  const std::string& url() const { return url_; }
  // Runs a query on a fresh connection; the first column of the first row as
  // text ("" if none/NULL). Booleans read "t"/"f" on PostgreSQL, "1"/"0" on SQLite.
  // On SQLite, concat_ws(sep, ...) works as on PostgreSQL (SQLite 3.40 lacks it).
  std::string scalar(const std::string& sql) const;
  void exec(const std::string& sql) const;
  // The query in this backend's dialect.
  std::string sql(const std::string& postgresql, const std::string& sqlite) const {
    return backend_ == Backend::sqlite ? sqlite : postgresql;
  }
  // true as scalar() prints it: "t" or "1".
  const char* yes() const { return backend_ == Backend::sqlite ? "1" : "t"; }
  // The PostgreSQL TestDb (only for Backend::postgresql).
  const TestDb& pg() const;
  // The SQLite database file (only for Backend::sqlite).
  const std::string& file() const { return file_; }

 private:
  Backend backend_;
  std::unique_ptr<TestDb> pg_;
  std::string dir_;
  std::string file_;
  std::string url_;
};

// The database-side checks of lockstep::verify on either backend: one line per
// violated invariant (empty = all hold).
std::vector<std::string> invariant_violations(const TestStoreDb& db, const MachineSet& machines);

}  // namespace lockstep::test
