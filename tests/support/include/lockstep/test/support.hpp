// Test helpers: polling with deadlines (never sleeps as synchronisation), env access.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "lockstep/kit/config_file.hpp"
#include "lockstep/kit/net.hpp"
#include "lockstep/kit/pg.hpp"
#include "lockstep/kit/poll.hpp"
#include "lockstep/kit/process.hpp"

namespace lockstep::test {

// Polls `pred` (every 5 ms unless told) until it returns true or `timeout`
// passes; whether it became true. Use with ASSERT_TRUE(...) << "what we waited for".
using kit::poll_until;

// A Config written as a YAML file (every key): what a test hands a process
// instead of patched YAML text; builtin_config() is the shipped one as a value.
using kit::builtin_config;
using kit::config_yaml;
using kit::write_config;

// Value of an environment variable, or nullopt.
std::optional<std::string> env(const char* name);

// A unique suffix for names (databases, topics, groups) in this test process.
std::string unique_suffix();

// The bootstrap list of a real Apache Kafka for the tests labelled
// kafka-real (LOCKSTEP_TEST_KAFKA_BROKERS; scripts/test starts one node with
// scripts/kafka), or nullopt when none is given: such a test then skips
// (GTEST_SKIP, saying why); scripts/test fails its own "kafka" stage instead.
std::optional<std::string> real_kafka_brokers();

// Directory of the built binaries (build/bin) and the source tree.
std::string bin_dir();
std::string source_dir();

// A scratch directory (mkdtemp under the temp directory), removed on
// destruction unless LOCKSTEP_KEEP_TEST_DIRS is set.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// A file's whole text ("" when it cannot be read).
std::string read_file(const std::string& path);

}  // namespace lockstep::test

namespace lockstep::test {

// A fresh PostgreSQL database for one test (created from LOCKSTEP_TEST_DATABASE_URL,
// migrated to the latest schema, dropped on destruction). Fails the test when the
// variable is missing: run the suite through scripts/test, which starts a server.
class TestDb {
 public:
  explicit TestDb(bool migrate = true);
  // A fresh database holding a copy of `from` (CREATE DATABASE ... TEMPLATE:
  // nobody may be connected to `from` meanwhile).
  struct CopyOf {
    const TestDb& from;
  };
  explicit TestDb(CopyOf copy);
  ~TestDb();
  TestDb(const TestDb&) = delete;
  TestDb& operator=(const TestDb&) = delete;
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // Runs a query on a fresh connection; returns the first column of the first row ("" if none/NULL).
  std::string scalar(const std::string& sql) const;
  void exec(const std::string& sql) const;

 private:
  std::string admin_url_;
  std::string url_;
  std::string name_;
};

// URL of `base` with its database name replaced.
using kit::with_database;

}  // namespace lockstep::test

#include <vector>
#include "lockstep/machine.hpp"

namespace lockstep::test {

// The database-side checks of lockstep::verify (lockstep/verify.hpp) on a test
// database: one line per violated invariant (empty = all hold).
std::vector<std::string> invariant_violations(const TestDb& db, const MachineSet& machines);

}  // namespace lockstep::test

namespace lockstep::test {

// Child processes (stdout on a pipe unless told, stderr to a log), ports and
// HTTP come from the kit that the benchmark and the chaos run share.
using kit::free_port;
using kit::http_get;
using kit::Process;
using kit::Stdout;

// The value of one sample line (`name{labels} value`) of a Prometheus text
// exposition, or -1 when absent. `series` is the full name with its labels.
double metric_value(const std::string& text, const std::string& series);

}  // namespace lockstep::test
