// Helpers of lockstep-bench and lockstep-chaos (pure logic).
#include <gtest/gtest.h>

#include <stdexcept>

#include "tools.hpp"

namespace lockstep::tools {
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

}  // namespace
}  // namespace lockstep::tools
