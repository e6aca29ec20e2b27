// ExecutorPool and DbSlots against a real PostgreSQL: executors give events
// their outcomes and complete them; a database that cannot be reached keeps
// every event; the watchdog reports and cuts a call that waits too long.
#include <gtest/gtest.h>

#include <thread>

#include "executor_pool.hpp"
#include "lockstep/test/support.hpp"
#include "parts_support.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

class ExecutorPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg.database.pool_size = 1;
    book.assign({{"transitions.bot", 0}});
  }
  void TearDown() override {
    readiness.stopping = true;
    sched.close();
    if (thread.joinable()) thread.join();
  }
  void push(int64_t offset, const std::string& value = "") {
    auto w = test::work_at("transitions.bot", 0, offset, *book.track("transitions.bot", 0, offset));
    if (!value.empty()) {
      w->value = value;
      w->parsed = parse_event(w->value, w->kafka_key);
      w->lane_key = lane_key_for(w->parsed, w->src);
    }
    sched.push(std::move(w));
  }
  void start(const std::string& url) {
    slots = std::make_unique<DbSlots>(url, cfg.database.timeout_ms, 1, readiness);
    pool = std::make_unique<ExecutorPool>(cfg, metrics, sched, completion, publisher, *slots, readiness,
                                          [this] { ++dead_lettered; });
    thread = std::thread([this] { pool->run(0); });
  }
  int64_t position() { return book.positions().at(0).offset; }

  test::TestDb db;
  Config cfg = test::parts_config("127.0.0.1:9", "transitions.bot", "transitions.dlq");
  Metrics metrics;
  Readiness readiness;
  KeyScheduler sched;
  OffsetBook book;
  Completion completion{book, sched};
  OutcomePublisher publisher{nullptr, "", completion, metrics, readiness.outcome_ok};
  std::unique_ptr<DbSlots> slots;
  std::unique_ptr<ExecutorPool> pool;
  std::atomic<int> dead_lettered{0};
  std::thread thread;
};

TEST_F(ExecutorPoolTest, GivesEveryEventItsOutcomeAndCompletesIt) {
  push(0);
  push(1);
  push(2, "{not json");
  start(db.url());
  ASSERT_TRUE(test::poll_until(20s, [&] { return position() == 3; })) << "position " << position();
  EXPECT_EQ(sched.size(), 0u);
  EXPECT_TRUE(readiness.db_ok);
  EXPECT_EQ(dead_lettered, 1) << "the relay is told about the new dead letter";
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters"), "1");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM processed_events"), "3");
}

TEST_F(ExecutorPoolTest, ADatabaseThatCannotBeReachedKeepsEveryEvent) {
  push(0);
  push(1);
  start(test::with_database(db.url(), "no_such_database_" + test::unique_suffix()));
  ASSERT_TRUE(test::poll_until(20s, [&] {
    const auto text = metrics.serialize();
    return test::metric_value(text, R"(lockstep_infrastructure_errors_total{component="database"})") >= 2;
  }));
  EXPECT_FALSE(readiness.db_ok);
  EXPECT_EQ(sched.size(), 2u) << "the events wait for the database";
  EXPECT_EQ(position(), 0);
}

TEST_F(ExecutorPoolTest, TheWatchdogReportsAndCutsACallThatWaitsTooLong) {
  DbSlots slots(db.url(), 2000, 2, readiness);
  slots.store(slots.at(0)).ping();  // connected
  slots.watchdog_pass(false);
  EXPECT_FALSE(readiness.db_stalled) << "nothing waits";
  slots.at(0).busy_since_ms = now_ms() - 1000;
  slots.watchdog_pass(false);
  EXPECT_TRUE(readiness.db_stalled) << "half of database.timeout_ms";
  // A call that has waited the whole timeout is cut: the next statement on it fails.
  slots.at(0).busy_since_ms = now_ms() - 2000;
  slots.watchdog_pass(false);
  EXPECT_THROW(slots.at(0).store->ping(), TransientStoreError) << "the connection was not cut";
  slots.at(0).busy_since_ms = 0;
  slots.watchdog_pass(false);
  EXPECT_FALSE(readiness.db_stalled) << "the call returned";
}

}  // namespace
}  // namespace lockstep::runtime
