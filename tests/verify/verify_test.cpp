// lockstep::verify and `lockstep verify`: a history made by the real worker
// (mock cluster + PostgreSQL, and the same on a SQLite file) passes every check,
// and each kind of damage to a copy of it is caught by the check that names it,
// on both databases.
#include <gtest/gtest.h>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <filesystem>
#include <thread>

#include "lockstep/kafka.hpp"
#include "lockstep/sqlite_handle.hpp"
#include "lockstep/store.hpp"
#include "lockstep/test/events.hpp"
#include "lockstep/test/support.hpp"
#include "lockstep/verify.hpp"
#include "worker.hpp"

namespace lockstep {
namespace {

using namespace std::chrono_literals;
using test::poll_until;
using test::event_json;
using test::TestDb;

// Index of each check in verify()'s result (the order is part of its output).
enum Check { kOutcomes, kAudit, kDeadRows, kVersions, kChain, kOrder, kMachine, kDeadTopic, kChecks };

class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    spdlog::default_logger();
    cluster = std::make_unique<MockCluster>(1);
    cluster->create_topic("transitions.bot", 2);
    cluster->create_topic("transitions.api", 2);
    cluster->create_topic("transitions.dlq", 1);
    db = std::make_unique<TestDb>();
    cfg = std::make_unique<Config>(parse_config(builtin_config_text(), "<built-in>"));
    cfg->kafka.brokers = cluster->bootstraps();
    cfg->kafka.group_id = "verify-" + test::unique_suffix();
    cfg->database.url = db->url();
    cfg->database.pool_size = 2;
    cfg->metrics_listen = "127.0.0.1:0";
    cfg->shutdown_timeout_ms = 5000;

    // A history: lifecycles on both topics, duplicates, a stale writer, an
    // invalid transition and malformed input.
    Producer p(cfg->kafka.brokers, {});
    std::vector<OutMessage> msgs;
    auto add = [&](const char* topic, const std::string& agg, const std::string& value) {
      msgs.push_back({topic, "membership:" + agg, value, {}});
    };
    for (int k = 0; k < 6; ++k) {
      const std::string agg = "v-" + std::to_string(k);
      const std::string t = "e" + std::to_string(k) + "-";
      add("transitions.bot", agg, event_json(t + "1", agg, "join"));
      add("transitions.bot", agg, event_json(t + "2", agg, "verify"));
      add("transitions.bot", agg, event_json(t + "3", agg, "edit", R"(,"payload":{"n":1})"));
      add("transitions.bot", agg, event_json(t + "2", agg, "verify"));                           // duplicate
      add("transitions.bot", agg, event_json(t + "4", agg, "suspend"));                          // invalid: verified
      add("transitions.bot", agg, event_json(t + "5", agg, "activate", R"(,"expected_version":1)"));  // stale
      add("transitions.bot", agg, event_json(t + "6", agg, "activate"));
    }
    msgs.push_back({"transitions.api", std::string("membership:v-0"), "{not json", {}});
    msgs.push_back({"transitions.api", std::nullopt, R"({"event_id":"no-key"})", {}});
    for (const auto& d : p.send(msgs, 30s)) ASSERT_FALSE(d.error) << d.error.str();
    expected_outcomes = 6 * 6 + 2;  // the duplicate of each key has no row of its own

    ASSERT_TRUE(run_worker(*cfg, [] {
      return std::stol(db->scalar("SELECT count(*) FROM processed_events")) >= expected_outcomes &&
             db->scalar("SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == "0";
    })) << "the worker did not finish the history";
    events = read_topics(cfg->kafka.brokers, {}, {"transitions.bot", "transitions.api"}, 30s);
    dead = read_topics(cfg->kafka.brokers, {}, {"transitions.dlq"}, 30s);

    // The same history on the embedded store: a second group reads the same topics
    // into a SQLite file (its dead letters go to a topic of their own).
    cluster->create_topic("transitions.dlq.sqlite", 1);
    sqlite_dir = std::filesystem::temp_directory_path() / ("lockstep-verify-" + test::unique_suffix());
    std::filesystem::create_directories(sqlite_dir);
    sqlite_cfg = std::make_unique<Config>(*cfg);
    sqlite_cfg->kafka.group_id = "verify-sqlite-" + test::unique_suffix();
    sqlite_cfg->kafka.dead_letter_topic = "transitions.dlq.sqlite";
    sqlite_cfg->database.url = "sqlite://" + (sqlite_dir / "history.db").string();
    open_store(sqlite_cfg->database.url)->migrate_up();
    ASSERT_TRUE(run_worker(*sqlite_cfg, [] {
      return sqlite_count("SELECT count(*) FROM processed_events") >= expected_outcomes &&
             sqlite_count("SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == 0;
    })) << "the worker did not finish the history on SQLite";
    sqlite_dead = read_topics(cfg->kafka.brokers, {}, {"transitions.dlq.sqlite"}, 30s);
  }
  static void TearDownTestSuite() {
    db.reset();
    cluster.reset();
    cfg.reset();
    sqlite_cfg.reset();
    std::error_code ec;
    std::filesystem::remove_all(sqlite_dir, ec);
  }

  // Runs a worker with `c` until `done` holds (or 60 s pass); returns whether it did.
  static bool run_worker(const Config& c, const std::function<bool()>& done) {
    auto metrics = std::make_shared<Metrics>();
    Worker w(c, metrics);
    std::atomic<bool> stop{false};
    std::thread t([&] { w.run(stop); });
    const bool ok = poll_until(60s, done);
    stop = true;
    t.join();
    return ok;
  }

  // SQL on a SQLite file (the tests' damage; counts).
  static void sqlite_exec(const std::string& file, const std::string& sql) {
    sqlite3* raw = nullptr;
    sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
    SqliteHandle h(raw);
    ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw) << ": " << sql;
  }
  static long sqlite_count(const std::string& sql) {
    sqlite3* raw = nullptr;
    sqlite3_open_v2((sqlite_dir / "history.db").c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
    SqliteHandle h(raw);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(raw, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return -1;
    SqliteStmtHandle sh(st);
    return sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  }

  std::vector<InvariantCheck> run(const std::string& url, const std::vector<Message>& in,
                                  const std::vector<Message>& dl) {
    VerifyInputs vi;
    vi.events = in;
    vi.dead_letters = dl;
    auto r = verify(url, cfg->machines, vi);
    EXPECT_EQ(r.size(), static_cast<std::size_t>(kChecks));
    return r;
  }

  static std::string describe(const std::vector<InvariantCheck>& r) {
    std::string s;
    for (const auto& c : r) s += format(c) + "\n";
    return s;
  }

  static inline std::unique_ptr<MockCluster> cluster;
  static inline std::unique_ptr<TestDb> db;
  static inline std::unique_ptr<Config> cfg;
  static inline long expected_outcomes = 0;
  static inline std::vector<Message> events, dead;
  static inline std::unique_ptr<Config> sqlite_cfg;
  static inline std::filesystem::path sqlite_dir;
  static inline std::vector<Message> sqlite_dead;
};

TEST_F(VerifyTest, HistoryMadeByTheWorkerPassesEveryCheck) {
  ASSERT_EQ(events.size(), 6u * 7 + 2);
  for (const auto& url : {db->url(), sqlite_cfg->database.url}) {
    SCOPED_TRACE(url);
    const auto r = run(url, events, url == db->url() ? dead : sqlite_dead);
    for (const auto& c : r) {
      EXPECT_TRUE(c.ok()) << format(c);
      EXPECT_FALSE(c.skipped) << format(c);
      EXPECT_GT(c.checked, 0) << format(c);
    }
    EXPECT_EQ(r[kOutcomes].checked, expected_outcomes) << describe(r);
  }
}

TEST_F(VerifyTest, EachKindOfDamageIsCaughtByItsCheck) {
  struct Case {
    const char* what;
    Check check;
    std::string sql;  // run on a copy of the history
    std::function<void(std::vector<Message>&, std::vector<Message>&)> inputs = {};
  };
  const std::vector<Case> cases = {
      {"an input event without an outcome", kOutcomes, "DELETE FROM processed_events WHERE event_id = 'e1-6'"},
      {"an event the worker never saw", kOutcomes, "",
       [](std::vector<Message>& in, std::vector<Message>&) {
         in.push_back({"transitions.bot", 0, 999, -1, std::string("membership:v-9"), event_json("lost", "v-9", "join"), {}});
       }},
      {"an applied outcome without its audit row", kAudit,
       "DELETE FROM transition_audit WHERE event_id = 'e2-6'"},
      {"an audit row without an applied outcome", kAudit,
       "UPDATE processed_events SET outcome = 'dead_lettered' WHERE event_id = 'e2-3'"},
      {"a dead-lettered outcome without its row", kDeadRows, "DELETE FROM dead_letters WHERE event_id = 'e3-4'"},
      {"a version without its audit row", kVersions,
       "UPDATE aggregates SET version = version + 1 WHERE aggregate_id = 'v-4'"},
      {"a from_state that is not the previous to_state", kChain,
       "UPDATE transition_audit SET from_state = 'active' WHERE event_id = 'e5-2'"},
      {"a stored state that is not the last audited one", kChain,
       "UPDATE aggregates SET state = 'removed' WHERE aggregate_id = 'v-5'"},
      {"a key's events applied out of offset order", kOrder,
       "UPDATE transition_audit SET source_offset = 0 WHERE event_id = 'e1-3'"},
      {"a transition the machine does not allow", kMachine,
       "UPDATE transition_audit SET transition = 'activate' WHERE event_id = 'e0-1'"},
      {"a dead letter that never reached the topic", kDeadTopic, "",
       [](std::vector<Message>&, std::vector<Message>& dl) { dl.erase(dl.begin()); }},
      {"a message on the dead-letter topic without its row", kDeadTopic,
       "DELETE FROM dead_letters WHERE event_id = 'e4-5'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    TestDb copy(TestDb::CopyOf{*db});
    if (!c.sql.empty()) copy.exec(c.sql);
    auto in = events;
    auto dl = dead;
    if (c.inputs) c.inputs(in, dl);
    const auto r = run(copy.url(), in, dl);
    ASSERT_EQ(r.size(), static_cast<std::size_t>(kChecks));
    EXPECT_FALSE(r[c.check].ok()) << describe(r);
    EXPECT_GE(r[c.check].violations, 1) << describe(r);
  }
  // The same damage on a copy of the SQLite history.
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string("sqlite: ") + c.what);
    const auto file = sqlite_dir / ("copy-" + test::unique_suffix() + ".db");
    std::filesystem::copy_file(sqlite_dir / "history.db", file);
    if (!c.sql.empty()) sqlite_exec(file.string(), c.sql);
    auto in = events;
    auto dl = sqlite_dead;
    if (c.inputs) c.inputs(in, dl);
    const auto r = run("sqlite://" + file.string(), in, dl);
    ASSERT_EQ(r.size(), static_cast<std::size_t>(kChecks));
    EXPECT_FALSE(r[c.check].ok()) << describe(r);
    EXPECT_GE(r[c.check].violations, 1) << describe(r);
  }
}

// PostgreSQL keeps no unique index on transition_audit.event_id (migration
// 0005): a second audit row of one event is caught by the check itself.
TEST_F(VerifyTest, AnEventWithTwoAuditRowsIsCaught) {
  TestDb copy(TestDb::CopyOf{*db});
  copy.exec(
      "INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, from_state, to_state, "
      "from_version, to_version) SELECT aggregate_type, aggregate_id || '-twin', event_id, transition, from_state, "
      "to_state, from_version, to_version FROM transition_audit WHERE event_id = 'e2-6'");
  const auto r = run(copy.url(), events, dead);
  ASSERT_EQ(r.size(), static_cast<std::size_t>(kChecks));
  EXPECT_FALSE(r[kAudit].ok()) << describe(r);
  ASSERT_FALSE(r[kAudit].examples.empty()) << describe(r);
  EXPECT_EQ(r[kAudit].examples.front(), "e2-6") << describe(r);
}

TEST_F(VerifyTest, CommandPrintsOneLinePerInvariantAndExitsOneOnViolation) {
  auto run_cli = [&](const TestDb& on, std::vector<std::string>& lines) {
    const std::string log = ::testing::TempDir() + "verify-" + test::unique_suffix() + ".log";
    test::Process p({test::bin_dir() + "/lockstep", "verify", "--timeout-ms", "30000"},
                    {{"LOCKSTEP_DATABASE_URL", on.url()}, {"LOCKSTEP_KAFKA_BROKERS", cfg->kafka.brokers}}, log);
    while (auto l = p.read_line(60s)) lines.push_back(*l);
    return p.wait(60s);
  };
  std::vector<std::string> lines;
  EXPECT_EQ(run_cli(*db, lines), 0);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kChecks) + 1);
  for (std::size_t i = 0; i < kChecks; ++i) EXPECT_EQ(lines[i].rfind("PASS  ", 0), 0u) << lines[i];
  EXPECT_EQ(lines.back(), "all hold: 8 invariants");

  TestDb copy(TestDb::CopyOf{*db});
  copy.exec("DELETE FROM transition_audit WHERE event_id = 'e0-6'");
  lines.clear();
  EXPECT_EQ(run_cli(copy, lines), 1);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kChecks) + 1);
  EXPECT_EQ(lines[kAudit].rfind("FAIL  ", 0), 0u) << lines[kAudit];
  EXPECT_NE(lines[kAudit].find("e0-6"), std::string::npos) << lines[kAudit];
  EXPECT_EQ(lines.back(), "violations in 2 of 8 invariants");  // the audit row and the version it made
}

}  // namespace
}  // namespace lockstep
