// DeadLetterRelayLoop against a real PostgreSQL and the development broker:
// it publishes every unpublished row, also rows written while it runs, and
// publishes nothing while the schema is not migrated.
#include <gtest/gtest.h>

#include <thread>

#include "outcome/dead_letter_relay.hpp"
#include "lockstep/test/kafka.hpp"
#include "lockstep/test/support.hpp"
#include "parts_support.hpp"

namespace lockstep::runtime {
namespace {

using namespace std::chrono_literals;

class DeadLetterRelayTest : public ::testing::Test {
 protected:
  void TearDown() override {
    readiness.stopping = true;
    if (relay) relay->kick();
    if (thread.joinable()) thread.join();
  }
  // Dead-letters a malformed message at `offset` (through the engine, as an executor does).
  void dead_letter(int64_t offset) {
    auto w = test::work_at(kafka.bot(), 0, offset, 1);
    w->value = "{not json " + std::to_string(offset);
    w->parsed = parse_event(w->value, w->kafka_key);
    w->lane_key = lane_key_for(w->parsed, w->src);
    std::vector<WorkPtr> batch;
    batch.push_back(std::move(w));
    auto store = open_store(db.url());
    ASSERT_EQ(engine.process(*store, batch).at(0).outcome, Outcome::dead_lettered);
  }
  void start() {
    relay = std::make_unique<DeadLetterRelayLoop>(cfg, metrics, producer, slots, slots.at(0), readiness);
    thread = std::thread([this] { relay->run(); });
  }
  std::size_t published() { return read_topics(kafka.bootstrap(), {}, {kafka.dlq()}, 20s).size(); }

  test::TestKafka kafka;
  test::TestDb db;
  Config cfg = test::parts_config(kafka.bootstrap(), kafka.bot(), kafka.dlq());
  Engine engine{cfg, nullptr, 1};
  Metrics metrics;
  Readiness readiness;
  DbSlots slots{db.url(), cfg.database.timeout_ms, 1, readiness};
  Producer producer{kafka.bootstrap(), {}};
  std::unique_ptr<DeadLetterRelayLoop> relay;
  std::thread thread;
};

TEST_F(DeadLetterRelayTest, PublishesEveryUnpublishedRow) {
  dead_letter(1);
  dead_letter(2);
  start();
  const auto unpublished = [&] { return db.scalar("SELECT count(*) FROM dead_letters WHERE published_at IS NULL"); };
  ASSERT_TRUE(test::poll_until(20s, [&] { return unpublished() == "0"; })) << "rows left unpublished";
  EXPECT_EQ(published(), 2u);
  EXPECT_TRUE(readiness.db_ok);
  EXPECT_TRUE(readiness.relay_ok);
  EXPECT_EQ(relay->publishing_since_ms(), 0);
  // A row written while the relay waits: the kick starts a pass at once.
  dead_letter(3);
  relay->kick();
  ASSERT_TRUE(test::poll_until(20s, [&] { return unpublished() == "0"; }));
  EXPECT_EQ(published(), 3u) << "each row once";
}

TEST_F(DeadLetterRelayTest, PublishesNothingBeforeTheSchemaIsMigrated) {
  test::TestDb bare(false);
  DbSlots bare_slots{bare.url(), cfg.database.timeout_ms, 1, readiness};
  relay = std::make_unique<DeadLetterRelayLoop>(cfg, metrics, producer, bare_slots, bare_slots.at(0), readiness);
  readiness.db_ok = true;
  thread = std::thread([this] { relay->run(); });
  ASSERT_TRUE(test::poll_until(20s, [&] {
    const auto text = metrics.serialize();
    return test::metric_value(text, R"(lockstep_infrastructure_errors_total{component="database"})") >= 1;
  }));
  EXPECT_FALSE(readiness.db_ok) << "an unmigrated database is not ready";
  readiness.stopping = true;
  relay->kick();
  thread.join();
}

}  // namespace
}  // namespace lockstep::runtime
