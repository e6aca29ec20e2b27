// The kit shared by tests, lockstep-bench and lockstep-chaos.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "lockstep/config_keys.hpp"
#include "lockstep/kit/args.hpp"
#include "lockstep/kit/config_file.hpp"
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

// A tool's usage error that a test can catch (a real one exits 2).
struct UsageRaised : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void raise_usage(const std::string& message) { throw UsageRaised(message); }

std::string usage_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageRaised& e) {
    return e.what();
  }
  return "";
}

TEST(Args, AnIntegerOptionOutOfRangeNamesTheFlagTheRangeAndTheValue) {
  EXPECT_EQ(integer_option("--keys", "12", 1, 100, raise_usage), 12);
  EXPECT_EQ(usage_message([] { integer_option("--keys", "0", 1, 100, raise_usage); }),
            "--keys: expected an integer in 1..100 (got \"0\")");
  EXPECT_EQ(usage_message([] { integer_option("--seed", "x", 0, 9, raise_usage); }),
            "--seed: expected an integer in 0..9 (got \"x\")");
}

TEST(Args, OptionsComeInFlagValuePairs) {
  std::vector<std::string> words = {"tool", "--a", "1", "--b", "two"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  std::vector<std::pair<std::string, std::string>> seen;
  for_each_option(static_cast<int>(argv.size()), argv.data(), "usage", raise_usage,
                  [&](const std::string& f, const std::string& v) { seen.emplace_back(f, v); });
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{"--a", "1"}, {"--b", "two"}}));
  argv.pop_back();
  EXPECT_EQ(usage_message([&] {
              for_each_option(static_cast<int>(argv.size()), argv.data(), "usage", raise_usage,
                              [](const std::string&, const std::string&) {});
            }),
            "--b: missing value");
}

// Every key's value as `config show` prints it (secrets masked: the tests
// compare those fields themselves).
std::vector<std::string> values(const Config& c) {
  std::vector<std::string> out;
  for (const auto& k : config_keys()) out.push_back(std::string(k.name) + "=" + value_text(k, c));
  return out;
}

TEST(ConfigFile, TheShippedConfigReadsBackUnchanged) {
  const Config c = builtin_config();
  EXPECT_EQ(values(parse_config(config_yaml(c), "<test>")), values(c)) << config_yaml(c);
}

TEST(ConfigFile, EveryKindOfValueReadsBackUnchanged) {
  Config c = builtin_config();
  c.kafka.brokers = "127.0.0.1:1234,127.0.0.1:1235";
  c.kafka.group_id = "g-1";
  c.kafka.topics = {{"t.bot.x", "bot"}, {"t.api.x", "api"}};
  c.kafka.dead_letter_topic = "t.dlq.x";
  c.kafka.outcome_topic = "t.out.x";
  c.kafka.properties = {{"session.timeout.ms", "6000"}, {"sasl.password", "pw: with # and \"quotes\""}};
  c.kafka.new_topics.replication_factor = 1;
  c.kafka.new_topics.configs = {{"retention.ms", "7200000"}};
  c.database.url = "postgresql://u:p@127.0.0.1:5432/db?sslmode=disable";
  c.limits.max_event_bytes = 4096;
  c.metrics_listen = "[::1]:0";
  c.naive = true;
  c.machines["ticket"].transitions["open"] = Transition{{"new"}, "open"};
  c.machines["ticket"].transitions["note"] = Transition{{"*"}, std::nullopt};
  const Config back = parse_config(config_yaml(c), "<test>");
  EXPECT_EQ(values(back), values(c)) << config_yaml(c);
  EXPECT_EQ(back.kafka.properties, c.kafka.properties);
  EXPECT_EQ(back.database.url, c.database.url);
  ASSERT_EQ(back.machines.count("ticket"), 1u);
  EXPECT_FALSE(back.machines.at("ticket").transitions.at("note").to);
  EXPECT_EQ(back.machines.at("membership").transitions.at("join").from, std::set<std::string>{"new"});
}

}  // namespace
}  // namespace lockstep::kit
