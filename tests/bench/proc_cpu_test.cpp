// The benchmark's CPU columns: /proc/PID/stat lines as proc(5) writes them,
// this process's own time, a process that is not PostgreSQL's, and the test
// server's cluster, whose time grows with the work it is given.
#include "proc_cpu.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <pqxx/pqxx>

#include "lockstep/test/support.hpp"

namespace lockstep::bench {
namespace {

TEST(ProcStat, ReadsParentAndTimesAfterACommandWithSpacesAndParentheses) {
  const auto st = parse_proc_stat(
      "4242 (postgres: a (b) c) S 4200 4242 4242 0 -1 4194368 576 0 0 0 17 5 3 2 20 0 1 0 4585991 227475456\n");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->comm, "postgres: a (b) c");
  EXPECT_EQ(st->ppid, 4200);
  EXPECT_EQ(st->utime, 17);
  EXPECT_EQ(st->stime, 5);
  EXPECT_EQ(st->cutime, 3);
  EXPECT_EQ(st->cstime, 2);
}

TEST(ProcStat, RefusesWhatIsNotAStatLine) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("4242 postgres S 1 2 3"));
  EXPECT_FALSE(parse_proc_stat("4242 (postgres) S 4200 4242 4242 0 -1"));  // cut short
  EXPECT_FALSE(parse_proc_stat("4242 (postgres) S 4200 x 4242 0 -1 1 1 1 1 1 1 1 1 1"));
}

TEST(ProcStat, ThisProcessHasItsOwnTimeAndIsNoPostgresBackend) {
  const double before = own_cpu_seconds();
  // Work until the kernel has counted some of it (a tick or less), within a deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  volatile double x = 0;
  while (own_cpu_seconds() == before && std::chrono::steady_clock::now() < deadline)
    for (int i = 0; i < 100000; ++i) x = x + std::sqrt(static_cast<double>(i));
  EXPECT_GT(own_cpu_seconds(), before);
  EXPECT_FALSE(cluster_cpu_seconds(::getpid())) << "a test process counted as a PostgreSQL backend";
  EXPECT_FALSE(cluster_cpu_seconds(-1));
}

TEST(ProcStat, ALocalClusterCountsTheTimeOfItsBackends) {
  test::TestDb db(false);
  pqxx::connection c(db.url());
  pqxx::nontransaction tx(c);
  const auto pid = tx.exec1("SELECT pg_backend_pid()")[0].as<long long>();
  const auto before = cluster_cpu_seconds(pid);
  ASSERT_TRUE(before) << "the test server is a process of this machine, started by scripts/test";
  // Queries that each take the backend some 50 ms of CPU, until the count has grown.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::optional<double> after = before;
  while (after && *after <= *before && std::chrono::steady_clock::now() < deadline) {
    tx.exec("SELECT count(*) FROM generate_series(1, 1000000)");
    after = cluster_cpu_seconds(pid);
  }
  ASSERT_TRUE(after);
  EXPECT_GT(*after, *before);
}

}  // namespace
}  // namespace lockstep::bench
