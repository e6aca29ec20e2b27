// The kit shared by tests, lockstep-bench and lockstep-chaos.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lockstep/kit/args.hpp"
#include "lockstep/kit/net.hpp"
#include "lockstep/kit/pg.hpp"
#include "lockstep/kit/poll.hpp"
#include "lockstep/kit/process.hpp"

namespace lockstep::kit {
namespace {

TEST(PgUrl, PartsAndBackAgain) {
  const auto u = parse_pg_url("postgresql://lockstep:s%40cret@127.0.0.1:44999/lockstep?sslmode=disable&x=1");
  EXPECT_EQ(u.prefix, "postgresql://lockstep:s%40cret@");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 44999);
  EXPECT_EQ(u.database, "lockstep");
  EXPECT_EQ(u.query, "?sslmode=disable&x=1");
  EXPECT_EQ(u.str(), "postgresql://lockstep:s%40cret@127.0.0.1:44999/lockstep?sslmode=disable&x=1");
}

TEST(PgUrl, MissingPartsStayMissing) {
  const auto u = parse_pg_url("postgres://db.example");
  EXPECT_EQ(u.prefix, "postgres://");
  EXPECT_EQ(u.host, "db.example");
  EXPECT_EQ(u.port, 0);
  EXPECT_EQ(u.database, "");
  EXPECT_EQ(u.str(), "postgres://db.example");
  EXPECT_EQ(parse_pg_url("postgresql://h?sslmode=require").query, "?sslmode=require");
  EXPECT_EQ(parse_pg_url("postgresql://h?sslmode=require").host, "h");
}

TEST(PgUrl, Ipv6HostKeepsItsBrackets) {
  auto u = parse_pg_url("postgresql://u@[::1]:5433/d");
  EXPECT_EQ(u.host, "[::1]");
  EXPECT_EQ(u.port, 5433);
  EXPECT_EQ(parse_pg_url("postgresql://[fe80::1]/d").host, "[fe80::1]");
  EXPECT_EQ(parse_pg_url("postgresql://[fe80::1]/d").port, 0);
  u.host = "169.254.20.1";
  u.port = 6000;
  EXPECT_EQ(u.str(), "postgresql://u@169.254.20.1:6000/d");
}

TEST(PgUrl, WithDatabaseReplacesOnlyTheDatabase) {
  EXPECT_EQ(with_database("postgresql://u@h:1/a?x=1", "b"), "postgresql://u@h:1/b?x=1");
  EXPECT_EQ(with_database("postgresql://u@h:1", "b"), "postgresql://u@h:1/b");
  EXPECT_EQ(with_database("postgresql://u@h:1?x=1", "b"), "postgresql://u@h:1/b?x=1");
  EXPECT_THROW(with_database("host=h dbname=a", "b"), std::runtime_error);
}

TEST(Process, ExitStatusFollowsTheShell) {
  Process ok({"/bin/sh", "-c", "exit 3"}, {}, "/dev/null");
  EXPECT_EQ(ok.wait(std::chrono::seconds(10)), 3);
  EXPECT_FALSE(ok.running());
  Process killed({"/bin/sh", "-c", "kill -TERM $$"}, {}, "/dev/null");
  EXPECT_EQ(killed.wait(std::chrono::seconds(10)), 128 + SIGTERM);
}

TEST(Process, WaitTimesOutWithoutKillingAndWaitOrKillKills) {
  Process p({"/bin/sleep", "30"}, {}, "/dev/null");
  EXPECT_EQ(p.wait(std::chrono::milliseconds(50)), std::nullopt);
  EXPECT_TRUE(p.running());
  EXPECT_TRUE(p.peak_rss_mib().has_value());
  EXPECT_EQ(p.wait_or_kill(std::chrono::milliseconds(50)), 128 + SIGKILL);
  EXPECT_FALSE(p.running());
  EXPECT_FALSE(p.peak_rss_mib().has_value());
}

TEST(Process, StdoutOnAPipeAndEnvironmentAddedOrRemoved) {
  ::setenv("LOCKSTEP_KIT_TEST_GONE", "present", 1);
  Process p({"/bin/sh", "-c", "echo \"$LOCKSTEP_KIT_TEST_SET\"; echo \"[${LOCKSTEP_KIT_TEST_GONE-unset}]\""},
            {{"LOCKSTEP_KIT_TEST_SET", "hello"}, {"LOCKSTEP_KIT_TEST_GONE", ""}}, "/dev/null");
  EXPECT_EQ(p.read_line(std::chrono::seconds(10)), "hello");
  EXPECT_EQ(p.read_line(std::chrono::seconds(10)), "[unset]");
  EXPECT_EQ(p.read_line(std::chrono::seconds(10)), std::nullopt);  // EOF
  EXPECT_EQ(p.wait(std::chrono::seconds(10)), 0);
  ::unsetenv("LOCKSTEP_KIT_TEST_GONE");
}

TEST(Process, StdoutAndStderrToTheLog) {
  const std::string log = ::testing::TempDir() + "kit_process_" + std::to_string(::getpid()) + ".log";
  std::remove(log.c_str());
  EXPECT_EQ(run_cmd({"/bin/sh", "-c", "echo out; echo err >&2"}, {}, log), 0);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "out\nerr\n");
  std::remove(log.c_str());
}

TEST(Process, AProgramThatDoesNotExistIsAnError) {
  EXPECT_THROW(Process({"/nonexistent/program"}, {}, "/dev/null"), std::runtime_error);
}

TEST(Net, NothingListeningIsStatusZero) {
  const auto [status, body] = http_get(free_port(), "/readyz");
  EXPECT_EQ(status, 0);
  EXPECT_EQ(body, "");
}

TEST(Poll, TrueAsSoonAsThePredicateHoldsFalseAfterTheTimeout) {
  int calls = 0;
  EXPECT_TRUE(poll_until(std::chrono::seconds(10), [&] { return ++calls == 3; }, std::chrono::milliseconds(1)));
  EXPECT_EQ(calls, 3);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(poll_until(std::chrono::milliseconds(30), [] { return false; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
}

TEST(Args, IntegersInRangeOnly) {
  EXPECT_EQ(parse_integer("42", 1, 100), 42);
  EXPECT_EQ(parse_integer("0", 1, 100), std::nullopt);
  EXPECT_EQ(parse_integer("4x", 1, 100), std::nullopt);
  EXPECT_EQ(parse_integer("", 1, 100), std::nullopt);
}

}  // namespace
}  // namespace lockstep::kit
