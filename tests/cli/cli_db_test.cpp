// The command line against a real PostgreSQL: summaries that count what was
// skipped, dry runs that say there is nothing to do, and `migrate down` that
// needs N or --yes and says what it reverts.
#include <gtest/gtest.h>

#include "cli_support.hpp"

namespace lockstep::test {
namespace {

std::string last_line(const std::string& out) {
  auto end = out.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  auto start = out.rfind('\n', end);
  return out.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

TEST(CliDb, VerifyWithoutKafkaCountsTheSkippedChecks) {
  TestDb db;
  const auto r = lockstep_cli({"verify", "--no-kafka", "--database-url", db.url()});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SKIP"), std::string::npos) << r.out;
  EXPECT_EQ(last_line(r.out), "6 hold, 2 skipped (--no-kafka), 0 violated") << r.out;
}

TEST(CliDb, ReplayAndDiscardSayWhenThereIsNothingToDo) {
  TestDb db;
  const std::vector<std::vector<std::string>> cmds = {
      {"dlq", "replay", "--all", "--dry-run"},
      {"dlq", "replay", "--all"},
      {"dlq", "replay", "--reason", "version_conflict", "--rebase", "--dry-run"},
      {"dlq", "discard", "--all", "--note", "cleanup", "--dry-run"},
      {"dlq", "discard", "--reason", "malformed", "--note", "cleanup"},
  };
  for (auto args : cmds) {
    args.insert(args.end(), {"--database-url", db.url()});
    const auto r = lockstep_cli(args);
    EXPECT_EQ(r.code, 0) << ::testing::PrintToString(args) << ": " << r.err;
    EXPECT_EQ(r.out, "nothing to do: no open dead letters match\n") << ::testing::PrintToString(args);
  }
}

TEST(CliDb, DiscardSaysHowManyItActsOn) {
  TestDb db;
  db.exec("INSERT INTO dead_letters (event_id, reason, raw) VALUES ('x1', 'malformed', '\\x7b'), "
          "('x2', 'malformed', '\\x7b')");
  const std::vector<std::string> discard = {"dlq", "discard", "--all", "--note", "test", "--database-url", db.url()};
  auto dry = discard;
  dry.push_back("--dry-run");
  const auto would = lockstep_cli(dry);
  EXPECT_EQ(would.code, 0) << would.err;
  EXPECT_EQ(would.out.rfind("dry run: would discard 2 dead letter(s); nothing changed\n", 0), 0u) << would.out;
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters WHERE status = 'open'"), "2");
  const auto done = lockstep_cli(discard);
  EXPECT_EQ(done.code, 0) << done.err;
  EXPECT_NE(done.err.find("discarding 2 dead letter(s)"), std::string::npos) << done.err;
  EXPECT_NE(done.err.find("2 discarded"), std::string::npos) << done.err;
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters WHERE status = 'open'"), "0");
  EXPECT_EQ(lockstep_cli(discard).out, "nothing to do: no open dead letters match\n");
}

TEST(CliDb, MigrateDownNeedsNOrYesAndSaysWhatItReverts) {
  TestDb db;
  const auto status = [&] { return lockstep_cli({"migrate", "status", "--database-url", db.url()}).out; };
  const auto before = status();
  ASSERT_EQ(before.find("pending"), std::string::npos) << before;
  const auto last = last_line(before);
  const auto version = last.substr(0, last.find(' '));

  const auto refused = lockstep_cli({"migrate", "down", "--database-url", db.url()});
  EXPECT_EQ(refused.code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("--yes"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("would revert " + version + " "), std::string::npos) << refused.err;
  EXPECT_EQ(status(), before) << "nothing reverted";

  const auto yes = lockstep_cli({"migrate", "down", "--yes", "--database-url", db.url()});
  EXPECT_EQ(yes.code, 0) << yes.err;
  EXPECT_EQ(yes.out.rfind("reverting " + version + " ", 0), 0u) << yes.out;
  EXPECT_NE(yes.out.find("reverted " + version + " "), std::string::npos) << yes.out;
  EXPECT_NE(last_line(status()).find("pending"), std::string::npos);
  EXPECT_EQ(lockstep_cli({"migrate", "up", "--database-url", db.url()}).code, 0);
}

}  // namespace
}  // namespace lockstep::test
