// Operators and producers through the real binary (docs/cli.md, issue #5):
// `lockstep emit --wait` reports each event's outcome and exits non-zero on a
// dead letter; `lockstep dlq list|show|replay|discard|drain` against a running
// worker, a real PostgreSQL and a Kafka protocol endpoint (librdkafka's mock
// cluster). A replay is re-applied (not a duplicate), traceable to the original,
// recorded with who and when; bad arguments exit 2 and change nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

#include "lockstep/config.hpp"
#include "lockstep/test/end_to_end.hpp"
#include "lockstep/test/events.hpp"

namespace lockstep::test {
namespace {

using namespace std::chrono_literals;

struct CliRun {
  int exit = -1;
  std::vector<std::string> out;  // stdout lines
  std::string err;               // stderr
  std::string text() const {
    std::string s;
    for (const auto& l : out) s += l + "\n";
    return s;
  }
};

// The worker and the CLI on the development broker in process (2 partitions a topic).
class Cli : public EndToEndTest {
 protected:
  Cli() : EndToEndTest(Options{Broker::in_process, 2, 1, "dlq-"}) {}
  void SetUp() override {
    kafka.create_topic("transitions.outcomes", 2);
    cfg.kafka.outcome_topic = kafka.topic("transitions.outcomes");
    config = write_worker_config(cfg);
    worker = test::start_worker(config, path("worker.log"));
  }
  void TearDown() override {
    if (worker && worker->running()) {
      worker->signal(SIGTERM);
      EXPECT_EQ(worker->wait(15s), 0) << read_file(dir.path + "/worker.log");
    }
  }

  // Runs `lockstep ARGS... --config <config>` (unless ARGS has its own --config).
  CliRun lockstep(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {bin_dir() + "/lockstep"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (std::find(args.begin(), args.end(), "--config") == args.end()) {
      argv.push_back("--config");
      argv.push_back(config);
    }
    std::map<std::string, std::string> e = {{"LOCKSTEP_DATABASE_URL", ""}, {"LOCKSTEP_KAFKA_BROKERS", ""},
                                            {"LOCKSTEP_KAFKA_GROUP_ID", ""}, {"LOCKSTEP_METRICS_LISTEN", ""},
                                            {"LOCKSTEP_OPERATOR", ""}, {"LOCKSTEP_LOG_LEVEL", "warn"}};
    for (const auto& [k, v] : env) e[k] = v;
    const auto err_path = dir.path + "/cli-" + std::to_string(++runs) + ".err";
    Process p(argv, e, err_path);
    CliRun r;
    while (auto line = p.read_line(60s)) r.out.push_back(*line);
    r.exit = p.wait(30s).value_or(-1);
    r.err = read_file(err_path);
    return r;
  }

  std::string file(const std::string& name, const std::string& text) {
    const auto path = dir.path + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string one(const std::string& sql) { return db.scalar(sql); }

  // Waits until `n` outcomes are recorded.
  void await_outcomes(long n) {
    ASSERT_TRUE(poll_until(60s, [&] { return count("SELECT count(*) FROM processed_events") >= n; }))
        << count("SELECT count(*) FROM processed_events") << " of " << n << " outcomes; worker log:\n"
        << read_file(dir.path + "/worker.log");
  }

  std::string config;
  std::unique_ptr<Process> worker;
  int runs = 0;
};

// One line of a file for `lockstep emit`.
std::string ev(const std::string& id, const std::string& agg, const std::string& transition,
               const std::string& extra = "") {
  return event_json(id, agg, transition, extra) + "\n";
}

bool has_line(const CliRun& r, const std::string& re) {
  const std::regex rx(re);
  for (const auto& l : r.out)
    if (std::regex_search(l, rx)) return true;
  return false;
}

TEST_F(Cli, EmitWaitPrintsEachOutcomeAndExitsNonZeroOnADeadLetter) {
  auto ok = lockstep({"emit", "--topic", "transitions.api", "--wait",
                      file("ok.jsonl", ev("w1", "g/u1", "join", R"(,"actor":"web")") +
                                           ev("w2", "g/u1", "verify", R"(,"expected_version":1)"))});
  EXPECT_EQ(ok.exit, 0) << ok.text() << ok.err;
  EXPECT_TRUE(has_line(ok, "^outcome line=1 event_id=w1 outcome=applied version=1 state=pending$")) << ok.text();
  EXPECT_TRUE(has_line(ok, "^outcome line=2 event_id=w2 outcome=applied version=2 state=verified$")) << ok.text();

  // A stale writer: the asynchronous 409, with the current version and state.
  auto stale = lockstep({"emit", "--topic", "transitions.bot", "--wait",
                         file("stale.jsonl", ev("w3", "g/u1", "activate", R"(,"expected_version":1)"))});
  EXPECT_EQ(stale.exit, 3) << stale.text() << stale.err;
  EXPECT_TRUE(has_line(stale, "^outcome line=1 event_id=w3 outcome=dead_lettered reason=version_conflict version=2 "
                              "state=verified$"))
      << stale.text();

  // Re-sent: a duplicate that still tells what the first outcome was.
  auto again = lockstep({"emit", "--topic", "transitions.api", "--wait", "--json",
                         file("again.jsonl", ev("w1", "g/u1", "join") + ev("w3", "g/u1", "activate"))});
  EXPECT_EQ(again.exit, 3) << again.text() << again.err;
  ASSERT_EQ(again.out.size(), 4u) << again.text();  // 2 deliveries, 2 outcomes
  int dup = 0;
  for (const auto& l : again.out) {
    if (l.rfind("{", 0) != 0) continue;
    const auto j = Json::parse(l);
    EXPECT_EQ(j["outcome"], "duplicate") << l;
    const std::string first = j["event_id"] == "w1" ? "applied" : "dead_lettered";
    EXPECT_EQ(j["first"]["outcome"], first) << l;
    ++dup;
  }
  EXPECT_EQ(dup, 2);
  EXPECT_EQ(count("SELECT count(*) FROM transition_audit"), 2) << "duplicates changed nothing";
  EXPECT_EQ(count("SELECT count(*) FROM dead_letters"), 1) << "nothing dead-lettered twice";

  // Without an outcome topic there is nothing to wait for: exit 2 before sending.
  Config without = cfg;
  without.kafka.outcome_topic = "";
  const auto plain = write_worker_config(without, "plain.yaml");
  auto refused =
      lockstep({"emit", "--topic", "transitions.api", "--wait", "--config", plain, file("y.jsonl", ev("w9", "g/u9", "join"))});
  EXPECT_EQ(refused.exit, 2) << refused.err;
  EXPECT_NE(refused.err.find("outcome_topic"), std::string::npos) << refused.err;
  EXPECT_TRUE(refused.out.empty()) << "nothing sent: " << refused.text();
}

TEST_F(Cli, ReplayDiscardAndDrainDeadLetters) {
  // u1: created, verified (v2); then a stale activate (version_conflict) and a suspend
  // that is invalid from "verified". u2: a stale verify. Plus one unparsable message.
  auto setup = lockstep({"emit", "--topic", "transitions.api",
                         file("a.jsonl", ev("a1", "g/u1", "join") + ev("a2", "g/u1", "verify", R"(,"expected_version":1)") +
                                             ev("a3", "g/u2", "join") + ev("a4", "g/u2", "verify"))});
  ASSERT_EQ(setup.exit, 0) << setup.err;
  await_outcomes(4);
  auto bad = lockstep({"emit", "--topic", "transitions.bot",
                       file("b.jsonl", ev("b1", "g/u1", "activate", R"(,"expected_version":1,"actor":"bot")") +
                                           ev("b2", "g/u1", "suspend") + ev("b3", "g/u2", "activate", R"(,"expected_version":1)"))});
  ASSERT_EQ(bad.exit, 0) << bad.err;
  auto raw = lockstep({"emit", "--topic", "transitions.bot", "--raw", file("c.txt", "{not json\n")});
  ASSERT_EQ(raw.exit, 0) << raw.err;
  await_outcomes(8);
  ASSERT_EQ(count("SELECT count(*) FROM dead_letters"), 4);
  const auto id_of = [&](const std::string& event_id) {
    return one("SELECT id FROM dead_letters WHERE event_id = '" + event_id + "'");
  };
  const auto conflict = id_of("b1"), invalid = id_of("b2"), conflict2 = id_of("b3");
  const auto malformed = one("SELECT id FROM dead_letters WHERE reason = 'malformed'");

  // list: filters, table and JSON.
  auto listed = lockstep({"dlq", "list", "--reason", "version_conflict", "--json"});
  ASSERT_EQ(listed.exit, 0) << listed.err;
  const auto rows = Json::parse(listed.text());
  ASSERT_EQ(rows.size(), 2u);
  // b1 and b3 are on different aggregates, so they may be dead-lettered in either order;
  // the list is in id order.
  EXPECT_EQ((std::set<std::string>{rows[0]["event_id"].get<std::string>(), rows[1]["event_id"].get<std::string>()}),
            (std::set<std::string>{"b1", "b3"}));
  EXPECT_LT(rows[0]["id"].get<int64_t>(), rows[1]["id"].get<int64_t>());
  EXPECT_EQ(Json::parse(lockstep({"dlq", "list", "--since", "1h", "--json"}).text()).size(), 4u);
  EXPECT_EQ(Json::parse(lockstep({"dlq", "list", "--until", "2000-01-01", "--json"}).text()).size(), 0u);
  EXPECT_EQ(Json::parse(lockstep({"dlq", "list", "--aggregate-type", "membership", "--aggregate-id", "g/u2", "--json"})
                            .text())
                .size(),
            1u);
  auto table = lockstep({"dlq", "list"});
  EXPECT_EQ(table.exit, 0);
  EXPECT_EQ(table.out.size(), 5u) << table.text();  // header + 4 rows

  // show: the event, the reason, the conflict (expected vs actual, who last and when).
  auto shown = lockstep({"dlq", "show", conflict});
  ASSERT_EQ(shown.exit, 0) << shown.err;
  const auto s = Json::parse(shown.text());
  EXPECT_EQ(s["reason"], "version_conflict");
  EXPECT_EQ(s["event"]["event_id"], "b1");
  EXPECT_EQ(s["conflict"]["expected_version"], 1);
  EXPECT_EQ(s["conflict"]["actual_version"], 2);
  EXPECT_EQ(s["conflict"]["actual_state"], "verified");
  EXPECT_TRUE(s["conflict"]["updated_at"].is_string());
  EXPECT_EQ(s["source"]["topic"], "transitions.bot");

  // Bad arguments: exit 2, a message, nothing changed.
  const std::vector<std::vector<std::string>> refused = {
      {"dlq"},
      {"dlq", "bogus"},
      {"dlq", "replay"},
      {"dlq", "replay", "abc"},
      {"dlq", "replay", "0"},
      {"dlq", "replay", "999999"},
      {"dlq", "replay", malformed},
      {"dlq", "replay", invalid, "--rebase"},
      {"dlq", "replay", conflict, "--rebase", "--no-version-check"},
      {"dlq", "replay", conflict, "--all"},
      {"dlq", "replay", "--all", "--rebase"},
      {"dlq", "replay", "--status", "discarded"},
      {"dlq", "discard", conflict},
      {"dlq", "discard", conflict, "--note", " "},
      {"dlq", "discard", "999999", "--note", "x"},
      {"dlq", "list", "--reason", "nope"},
      {"dlq", "list", "--status", "closed"},
      {"dlq", "list", "--since", "yesterday"},
      {"dlq", "list", "--limit", "0"},
      {"dlq", "list", "extra"},
      {"dlq", "show"},
      {"dlq", "show", "999999"},
      {"dlq", "show", conflict, "--rebase"},
      {"dlq", "drain", "--topic", "bad topic!"},
      {"dlq", "drain", "--reason", "malformed"},
  };
  for (const auto& args : refused) {
    auto r = lockstep(args);
    EXPECT_EQ(r.exit, 2) << ::testing::PrintToString(args) << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << ::testing::PrintToString(args);
  }
  EXPECT_EQ(count("SELECT count(*) FROM dead_letters WHERE status <> 'open'"), 0) << "refusals changed nothing";

  // Replay a version conflict, rebased onto the current version ("overwrite").
  auto rebased = lockstep({"dlq", "replay", conflict, "--rebase", "--by", "alice", "--note", "user confirmed"});
  ASSERT_EQ(rebased.exit, 0) << rebased.text() << rebased.err;
  EXPECT_TRUE(has_line(rebased, "^replayed id=" + conflict + " event_id=b1 as=b1~replay-" + conflict +
                                    " topic=transitions.bot "))
      << rebased.text();
  EXPECT_EQ(one("SELECT status || '|' || resolved_by || '|' || note || '|' || replay_event_id || '|' || "
                "(resolved_at IS NOT NULL) FROM dead_letters WHERE id = " + conflict),
            "replayed|alice|user confirmed|b1~replay-" + conflict + "|true");
  await_outcomes(9);
  EXPECT_EQ(one("SELECT outcome FROM processed_events WHERE event_id = 'b1~replay-" + conflict + "'"), "applied")
      << "re-applied, not a duplicate of the first outcome";
  EXPECT_EQ(one("SELECT outcome FROM processed_events WHERE event_id = 'b1'"), "dead_lettered")
      << "the first outcome stands";
  EXPECT_EQ(one("SELECT state || ':' || version FROM aggregates WHERE aggregate_id = 'g/u1'"), "active:3");
  EXPECT_EQ(one("SELECT transition || ':' || from_version || '->' || to_version || ':' || actor FROM transition_audit "
                "WHERE event_id = 'b1~replay-" + conflict + "'"),
            "activate:2->3:bot");
  auto after = Json::parse(lockstep({"dlq", "show", conflict}).text());
  EXPECT_EQ(after["status"], "replayed");
  EXPECT_EQ(after["resolved_by"], "alice");
  EXPECT_EQ(after["replay"]["outcome"], "applied");
  EXPECT_EQ(after["replay"]["version"], 3);

  // Once replayed, never again.
  auto twice = lockstep({"dlq", "replay", conflict});
  EXPECT_EQ(twice.exit, 2);
  EXPECT_NE(twice.err.find("already replayed by alice"), std::string::npos) << twice.err;

  // The invalid transition is valid now (u1 is active): replayed unchanged, by reason.
  auto by_reason = lockstep({"dlq", "replay", "--reason", "invalid_transition"}, {{"LOCKSTEP_OPERATOR", "bob"}});
  ASSERT_EQ(by_reason.exit, 0) << by_reason.err;
  await_outcomes(10);
  EXPECT_EQ(one("SELECT state || ':' || version FROM aggregates WHERE aggregate_id = 'g/u1'"), "suspended:4");
  EXPECT_EQ(one("SELECT resolved_by FROM dead_letters WHERE id = " + invalid), "bob");

  // The second conflict without the version check.
  ASSERT_EQ(lockstep({"dlq", "replay", conflict2, "--no-version-check"}).exit, 0);
  await_outcomes(11);
  EXPECT_EQ(one("SELECT state || ':' || version FROM aggregates WHERE aggregate_id = 'g/u2'"), "active:3");

  // Discard the unparsable one, with who, when and why.
  auto discarded = lockstep({"dlq", "discard", malformed, "--note", "garbage from a test client", "--by", "carol"});
  ASSERT_EQ(discarded.exit, 0) << discarded.err;
  EXPECT_EQ(one("SELECT status || '|' || resolved_by || '|' || note || '|' || (resolved_at IS NOT NULL) FROM "
                "dead_letters WHERE id = " + malformed),
            "discarded|carol|garbage from a test client|true");
  EXPECT_EQ(count("SELECT count(*) FROM dead_letters WHERE status = 'open'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM dead_letters"), 4) << "replays applied: no new dead letters";

  // Drain the dead-letter topic into another deployment's database.
  ASSERT_TRUE(poll_until(30s, [&] { return count("SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == 0; }));
  TestDb other;
  const std::map<std::string, std::string> there = {{"LOCKSTEP_DATABASE_URL", other.url()}};
  auto drained = lockstep({"dlq", "drain"}, there);
  ASSERT_EQ(drained.exit, 0) << drained.err;
  EXPECT_TRUE(has_line(drained, "^drained 4 message\\(s\\) from transitions.dlq: 4 new, 0 already present, 0 unreadable$"))
      << drained.text();
  EXPECT_EQ(std::stol(other.scalar("SELECT count(*) FROM dead_letters WHERE status = 'open' AND published_at IS NOT NULL")), 4);
  EXPECT_EQ(other.scalar("SELECT conflict->>'actual_version' FROM dead_letters WHERE event_id = 'b1'"), "2");
  EXPECT_EQ(other.scalar("SELECT encode(raw, 'escape') FROM dead_letters WHERE reason = 'malformed'"), "{not json");
  auto again = lockstep({"dlq", "drain"}, there);
  EXPECT_TRUE(has_line(again, ": 0 new, 4 already present, 0 unreadable$")) << again.text();

  // Every event has exactly one outcome; nothing was dead-lettered twice.
  const auto machines = parse_config(builtin_config_text(), "<built-in>").machines;
  auto violations = invariant_violations(db, machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
}

}  // namespace
}  // namespace lockstep::test
