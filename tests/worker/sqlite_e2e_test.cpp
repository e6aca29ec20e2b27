// The worker on the embedded store, end to end: real `lockstep broker`,
// `lockstep migrate up` and `lockstep run` processes on a SQLite file (no
// PostgreSQL). Racing events for the same keys from both topics; afterwards
// every event has exactly one outcome, audit versions are contiguous per
// aggregate (version == number of audit rows), every dead letter is published.
// Then a second worker process joins on the same file and SIGTERM stops both.
// Not on the end-to-end fixture (EndToEndTest): its database is a SQLite file
// that `lockstep migrate up` creates, not a scratch PostgreSQL database.
#include <gtest/gtest.h>
#include <signal.h>

#include "e2e_support.hpp"
#include "lockstep/config.hpp"
#include "lockstep/store.hpp"
#include "lockstep/test/store_db.hpp"

namespace lockstep::test {
namespace {

using namespace std::chrono_literals;

long count(const TestStoreDb& db, const std::string& sql) { return std::stol(db.scalar(sql)); }

// `lockstep migrate up`, then `lockstep migrate status` says every version is applied.
void migrate_with_the_binary(const std::string& cfg_path, const std::string& dir) {
  const std::map<std::string, std::string> no_overrides = {{"LOCKSTEP_DATABASE_URL", ""}, {"LOCKSTEP_KAFKA_BROKERS", ""}};
  Process m({bin_dir() + "/lockstep", "migrate", "up", "--config", cfg_path}, no_overrides, dir + "/migrate.log");
  ASSERT_EQ(m.wait(60s), 0) << read_file(dir + "/migrate.log");
  Process st({bin_dir() + "/lockstep", "migrate", "status", "--config", cfg_path}, no_overrides, dir + "/status.log");
  std::vector<std::string> lines;
  while (auto l = st.read_line(30s)) lines.push_back(*l);
  ASSERT_EQ(st.wait(30s), 0) << read_file(dir + "/status.log");
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(latest_schema_version()));
  for (const auto& l : lines) EXPECT_NE(l.find(" applied"), std::string::npos) << l;
}

void send(const TestKafka& broker, const Planned& plan) {
  Producer p(broker.bootstrap(), {});
  for (const auto& d : p.send(plan.messages, 60s)) ASSERT_FALSE(d.error) << d.error.str();
}

TEST(SqliteEndToEnd, RacingEventsGetExactlyOneOutcomeEachOnAnSqliteFile) {
  TempDir dir;
  const TestKafka broker(TestKafka::Options{1, 4, dir.path + "/broker.log"});
  TestStoreDb db(Backend::sqlite, /*migrate=*/false);  // `lockstep migrate up` does it
  const int port = free_port();
  Config cfg = worker_config(broker, db.url(), port, "sqlite-e2e-" + unique_suffix());
  const auto cfg_path = write_config(cfg, dir.path + "/lockstep.yaml");
  const auto& machines = cfg.machines;

  migrate_with_the_binary(cfg_path, dir.path);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_EQ(db.scalar("PRAGMA journal_mode"), "wal");

  auto plan = plan_race(broker, 60, 11);
  send(broker, plan);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const long expected = static_cast<long>(plan.event_ids.size()) + 5;  // + the malformed ones

  auto w = start_worker(cfg_path, dir.path + "/worker.log");
  ASSERT_TRUE(poll_until(120s, [&] { return count(db, "SELECT count(*) FROM processed_events") >= expected || !w->running(); }))
      << count(db, "SELECT count(*) FROM processed_events") << " of " << expected << " outcomes; log:\n"
      << read_file(dir.path + "/worker.log");
  ASSERT_TRUE(w->running()) << read_file(dir.path + "/worker.log");
  ASSERT_TRUE(poll_until(30s, [&] { return http_get(port, "/readyz").first == 200; }))
      << read_file(dir.path + "/worker.log");

  // Every dead letter was published (outbox drained), once each.
  ASSERT_TRUE(poll_until(60s, [&] { return count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == 0; }))
      << read_file(dir.path + "/worker.log");
  const long dead = count(db, "SELECT count(*) FROM dead_letters");
  EXPECT_GE(dead, 5);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE reason = 'malformed'"), 5);
  const auto dlq = read_topics(broker.bootstrap(), {}, {broker.dlq()}, 30s);
  EXPECT_EQ(static_cast<long>(dlq.size()), dead) << "one dead-letter message per dead_letters row";

  // A second worker process on the same file joins the group; more racing events.
  const int port2 = free_port();
  TempDir dir2;
  cfg.metrics_listen = "127.0.0.1:" + std::to_string(port2);  // same group, database and broker
  const auto cfg2 = write_config(cfg, dir2.path + "/lockstep.yaml");
  auto w2 = start_worker(cfg2, dir2.path + "/worker.log");
  auto plan2 = plan_race(broker, 60, 12);
  send(broker, plan2);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const long expected2 = expected + static_cast<long>(plan2.event_ids.size()) + 5;
  ASSERT_TRUE(poll_until(120s, [&] { return count(db, "SELECT count(*) FROM processed_events") >= expected2; }))
      << count(db, "SELECT count(*) FROM processed_events") << " of " << expected2 << " outcomes; logs:\n"
      << read_file(dir.path + "/worker.log") << "\n---\n" << read_file(dir2.path + "/worker.log");
  ASSERT_TRUE(poll_until(60s, [&] { return count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL") == 0; }));

  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), expected2) << "exactly one outcome per event";
  // Every event of both plans has its outcome.
  for (const auto* p : {&plan, &plan2}) {
    Json ids(p->event_ids);
    EXPECT_EQ(count(db, "SELECT count(*) FROM json_each('" + ids.dump() +
                            "') k LEFT JOIN processed_events e ON e.event_id = k.value WHERE e.event_id IS NULL"),
              0);
  }
  // version == number of audit rows, versions 1..version without a gap.
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates a WHERE version <> (SELECT count(*) FROM transition_audit t "
                      "WHERE t.aggregate_type = a.aggregate_type AND t.aggregate_id = a.aggregate_id)"),
            0);
  EXPECT_GT(count(db, "SELECT count(*) FROM transition_audit WHERE source_topic = '" + broker.api() + "'"), 0);
  EXPECT_GT(count(db, "SELECT count(*) FROM transition_audit WHERE source_topic = '" + broker.bot() + "'"), 0);
  auto violations = invariant_violations(db, machines);
  EXPECT_TRUE(violations.empty()) << ::testing::PrintToString(violations);
  const long dead2 = count(db, "SELECT count(*) FROM dead_letters");
  ASSERT_TRUE(poll_until(30s, [&] {
    return static_cast<long>(read_topics(broker.bootstrap(), {}, {broker.dlq()}, 30s).size()) >= dead2;
  }));
  EXPECT_EQ(static_cast<long>(read_topics(broker.bootstrap(), {}, {broker.dlq()}, 30s).size()), dead2)
      << "one dead-letter message per dead_letters row";

  // SIGTERM: both exit 0.
  w->signal(SIGTERM);
  w2->signal(SIGTERM);
  EXPECT_EQ(w->wait(15s), 0) << read_file(dir.path + "/worker.log");
  EXPECT_EQ(w2->wait(15s), 0) << read_file(dir2.path + "/worker.log");
}

TEST(SqliteEndToEnd, InMemoryDatabaseIsRefusedWithExitTwo) {
  TempDir dir;
  Process p({bin_dir() + "/lockstep", "run"}, {{"LOCKSTEP_DATABASE_URL", "sqlite://:memory:"}}, dir.path + "/err.log");
  EXPECT_EQ(p.wait(30s), 2);
  EXPECT_NE(read_file(dir.path + "/err.log").find("database.url"), std::string::npos) << read_file(dir.path + "/err.log");
}

}  // namespace
}  // namespace lockstep::test
