// PostgreSQL store (contract §4, §6) against a real server: migrations, the
// compare-and-set commit, duplicates, dead letters and their outbox relay,
// operator queries and error mapping. Each test runs on its own fresh database.
#include "lockstep/store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using test::TestDb;

constexpr const char* kType = "order";

SourceRef src(int64_t offset, int32_t partition = 2) {
  SourceRef s;
  s.topic = "lockstep.events";
  s.source = "orders";
  s.partition = partition;
  s.offset = offset;
  s.timestamp_ms = 1714564800123;
  return s;
}

AppliedWrite write(const std::string& event_id, const std::string& id, std::optional<std::string> from,
                   const std::string& to, int64_t read_version, Json data, int64_t offset = 0) {
  AppliedWrite w;
  w.event_id = event_id;
  w.aggregate_type = kType;
  w.aggregate_id = id;
  w.transition = from ? "advance" : "create";
  w.from_state = std::move(from);
  w.to_state = to;
  w.read_version = read_version;
  w.new_data = std::move(data);
  w.actor = "alice";
  w.occurred_at = "2024-05-01T12:00:00Z";
  w.src = src(offset);
  return w;
}

AppliedWrite create(const std::string& event_id, const std::string& id, Json data = Json::object()) {
  return write(event_id, id, std::nullopt, "pending", 0, std::move(data));
}

DeadLetterWrite dead(const std::string& event_id, DeadReason reason = DeadReason::malformed,
                     std::optional<std::string> agg_id = std::nullopt) {
  DeadLetterWrite d;
  d.event_id = event_id;
  d.reason = reason;
  d.detail = "detail of " + event_id;
  if (agg_id) {
    d.aggregate_type = kType;
    d.aggregate_id = agg_id;
  }
  d.raw = "{\"event_id\":\"" + event_id + "\"}";
  d.src = src(100);
  d.consumer_group = "lockstep-test";
  d.attempts = 1;
  return d;
}

long count(const TestDb& db, const std::string& sql) { return std::stol(db.scalar(sql)); }

bool is_utc_rfc3339_ms(const std::string& s) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
  return std::regex_match(s, re);
}

// Binary bytes: NUL, invalid UTF-8 (lone continuation, 0xFF, truncated sequence).
std::string binary_bytes() {
  std::string s = "raw:";
  s.push_back('\0');
  s.push_back(static_cast<char>(0xFF));
  s.push_back(static_cast<char>(0xFE));
  s.push_back(static_cast<char>(0x80));
  s += "{not json";
  s.push_back('\0');
  s.push_back(static_cast<char>(0xC3));  // truncated 2-byte sequence at the end
  return s;
}

// ---------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------

TEST(PgStoreMigrations, UpIsIdempotentDownRevertsAndUpAgainWorks) {
  TestDb db(false);
  auto s = open_store(db.url());
  EXPECT_STREQ(s->dialect(), "postgresql");
  EXPECT_EQ(s->schema_version(), 0);
  EXPECT_GE(latest_schema_version(), 1);

  auto status = s->migration_status();
  ASSERT_EQ(status.size(), static_cast<std::size_t>(latest_schema_version()));
  EXPECT_EQ(status.front().version, 1);
  EXPECT_FALSE(status.front().name.empty());
  for (const auto& m : status) EXPECT_FALSE(m.applied) << m.version;

  auto applied = s->migrate_up();
  ASSERT_EQ(applied.size(), static_cast<std::size_t>(latest_schema_version()));
  EXPECT_EQ(applied.front().version, 1);
  EXPECT_TRUE(applied.front().applied);
  EXPECT_EQ(s->schema_version(), latest_schema_version());
  EXPECT_EQ(db.scalar("SELECT to_regclass('aggregates') IS NOT NULL"), "t");

  EXPECT_TRUE(s->migrate_up().empty()) << "second migrate_up must apply nothing";
  EXPECT_EQ(s->schema_version(), latest_schema_version());
  for (const auto& m : s->migration_status()) EXPECT_TRUE(m.applied) << m.version;

  // The store works right after migrating (statements prepared on the new schema).
  auto r = s->commit({create("m-1", "o-1")}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);

  // Down the latest one, then all of them.
  auto reverted = s->migrate_down(1);
  ASSERT_EQ(reverted.size(), 1u);
  EXPECT_EQ(reverted[0].version, latest_schema_version());
  EXPECT_FALSE(reverted[0].applied);
  EXPECT_EQ(s->schema_version(), latest_schema_version() - 1);
  if (latest_schema_version() > 1) s->migrate_down(latest_schema_version() - 1);
  EXPECT_EQ(s->schema_version(), 0);
  for (const char* t : {"aggregates", "transition_audit", "processed_events", "dead_letters"})
    EXPECT_EQ(db.scalar(std::string("SELECT to_regclass('") + t + "') IS NULL"), "t") << t;
  for (const auto& m : s->migration_status()) EXPECT_FALSE(m.applied) << m.version;
  EXPECT_TRUE(s->migrate_down(1).empty()) << "nothing left to revert";

  // Up again on the same store object.
  EXPECT_EQ(s->migrate_up().size(), static_cast<std::size_t>(latest_schema_version()));
  EXPECT_EQ(s->schema_version(), latest_schema_version());
  r = s->commit({create("m-2", "o-2")}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 1);
}

TEST(PgStoreMigrations, StoreOpenedBeforeMigrationWorksAfterAnotherStoreMigrates) {
  TestDb db(false);
  auto early = open_store(db.url());
  open_store(db.url())->migrate_up();
  auto r = early->commit({create("e-1", "o-1")}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);
  EXPECT_EQ(early->read({{kType, "o-1"}}).at(0).version, 1);
}

// ---------------------------------------------------------------------------
// Applied writes: compare-and-set
// ---------------------------------------------------------------------------

TEST(PgStoreCommit, EmptyCommitIsANoOp) {
  TestDb db;
  auto s = open_store(db.url());
  auto r = s->commit({}, {});
  EXPECT_TRUE(r.applied.empty());
  EXPECT_TRUE(r.dead.empty());
}

TEST(PgStoreCommit, CreateWritesAggregateAuditAndOutcome) {
  TestDb db;
  auto s = open_store(db.url());
  auto w = create("ev-1", "o-1", Json{{"amount", 42}, {"tags", {"a", "b"}}});
  w.src = src(17, 3);
  auto r = s->commit({w}, {});
  ASSERT_EQ(r.applied.size(), 1u);
  EXPECT_EQ(r.applied[0], WriteStatus::written);
  EXPECT_TRUE(r.dead.empty());

  EXPECT_EQ(db.scalar("SELECT concat_ws('|', state, version, data::text, updated_by) FROM aggregates "
                      "WHERE aggregate_type = 'order' AND aggregate_id = 'o-1'"),
            R"(pending|1|{"tags": ["a", "b"], "amount": 42}|alice)");

  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 1);
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', aggregate_type, aggregate_id, event_id, transition, "
                      "coalesce(from_state, '<null>'), to_state, from_version, to_version, source, actor, "
                      "source_topic, source_partition, source_offset, occurred_at) FROM transition_audit"),
            "order|o-1|ev-1|create|<null>|pending|0|1|orders|alice|lockstep.events|3|17|2024-05-01T12:00:00Z");

  EXPECT_EQ(db.scalar("SELECT concat_ws('|', outcome, coalesce(reason, '<null>'), aggregate_type, aggregate_id, "
                      "version, state) FROM processed_events WHERE event_id = 'ev-1'"),
            "applied|<null>|order|o-1|1|pending");

  auto snap = s->read({{kType, "o-1"}}).at(0);
  EXPECT_TRUE(snap.exists);
  EXPECT_EQ(snap.state, "pending");
  EXPECT_EQ(snap.version, 1);
  EXPECT_EQ(snap.data, (Json{{"amount", 42}, {"tags", {"a", "b"}}}));
  EXPECT_EQ(snap.updated_by, "alice");

  auto out = s->find_outcomes({"ev-1", "nope"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.at("ev-1").outcome, "applied");
  EXPECT_EQ(out.at("ev-1").version, 1);
  EXPECT_EQ(out.at("ev-1").state, "pending");
  EXPECT_FALSE(out.at("ev-1").reason.has_value());
}

TEST(PgStoreCommit, UpdateAtTheReadVersionIsWritten) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  auto snap = s->read({{kType, "o-1"}}).at(0);
  ASSERT_EQ(snap.version, 1);

  auto w = write("ev-2", "o-1", snap.state, "paid", snap.version, {{"n", 2}}, 18);
  w.actor = std::nullopt;
  auto r = s->commit({w}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);

  auto after = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(after.version, 2);
  EXPECT_EQ(after.state, "paid");
  EXPECT_EQ(after.data, (Json{{"n", 2}}));
  EXPECT_EQ(after.updated_by, "") << "updated_by follows the latest writer's actor (none)";

  EXPECT_EQ(db.scalar("SELECT concat_ws('|', from_state, to_state, from_version, to_version, transition, "
                      "coalesce(actor, '<null>'), source_offset) FROM transition_audit WHERE event_id = 'ev-2'"),
            "pending|paid|1|2|advance|<null>|18");
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', outcome, version, state) FROM processed_events WHERE event_id = 'ev-2'"),
            "applied|2|paid");
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 2);
  EXPECT_EQ(db.scalar("SELECT created_at < updated_at FROM aggregates"), "t");
}

TEST(PgStoreCommit, StaleReadVersionIsCasLostAndLeavesNoTrace) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  ASSERT_EQ(s->commit({write("ev-2", "o-1", "pending", "paid", 1, {{"n", 2}})}, {}).applied.at(0),
            WriteStatus::written);
  const auto before = db.scalar("SELECT concat_ws('|', state, version, data::text, updated_at) FROM aggregates");

  // A writer that read version 1 (state pending) and lost the race.
  auto r = s->commit({write("ev-3", "o-1", "pending", "shipped", 1, {{"n", 3}})}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::cas_lost);
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', state, version, data::text, updated_at) FROM aggregates"), before);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events WHERE event_id = 'ev-3'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit WHERE event_id = 'ev-3'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 2);
  EXPECT_TRUE(s->find_outcomes({"ev-3"}).empty());

  // Retry with a fresh read: the same event id now succeeds (its claim was released).
  auto fresh = s->read({{kType, "o-1"}}).at(0);
  ASSERT_EQ(fresh.version, 2);
  r = s->commit({write("ev-3", "o-1", fresh.state, "shipped", fresh.version, {{"n", 3}})}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);
  auto after = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(after.version, 3);
  EXPECT_EQ(after.state, "shipped");
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', from_state, from_version, to_version) FROM transition_audit "
                      "WHERE event_id = 'ev-3'"),
            "paid|2|3");
}

TEST(PgStoreCommit, CasLostEventCanLaterBeDeadLettered) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::written);
  ASSERT_EQ(s->commit({write("ev-2", "o-1", "pending", "paid", 1, Json::object())}, {}).applied.at(0), WriteStatus::written);
  ASSERT_EQ(s->commit({write("ev-3", "o-1", "pending", "paid", 1, Json::object())}, {}).applied.at(0), WriteStatus::cas_lost);
  // retries exhausted: the engine dead-letters the same event id.
  auto r = s->commit({}, {dead("ev-3", DeadReason::retries_exhausted, "o-1")});
  EXPECT_EQ(r.dead.at(0), WriteStatus::written);
  auto out = s->find_outcomes({"ev-3"});
  ASSERT_EQ(out.count("ev-3"), 1u);
  EXPECT_EQ(out.at("ev-3").outcome, "dead_lettered");
  EXPECT_EQ(out.at("ev-3").reason, "retries_exhausted");
}

TEST(PgStoreCommit, RightVersionButWrongFromStateIsCasLost) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  auto r = s->commit({write("ev-2", "o-1", "paid", "shipped", 1, {{"n", 2}})}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::cas_lost);
  auto snap = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(snap.version, 1);
  EXPECT_EQ(snap.state, "pending");
  EXPECT_EQ(snap.data, (Json{{"n", 1}}));
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events WHERE event_id = 'ev-2'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit WHERE event_id = 'ev-2'"), 0);
}

TEST(PgStoreCommit, UpdateOfAMissingAggregateIsCasLost) {
  TestDb db;
  auto s = open_store(db.url());
  auto r = s->commit({write("ev-1", "ghost", "pending", "paid", 1, Json::object())}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::cas_lost);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 0);
}

TEST(PgStoreCommit, SecondCreateOfTheSameAggregateIsCasLost) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"who", "first"}})}, {}).applied.at(0), WriteStatus::written);
  auto r = s->commit({create("ev-2", "o-1", {{"who", "second"}})}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::cas_lost);
  auto snap = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(snap.version, 1);
  EXPECT_EQ(snap.data, (Json{{"who", "first"}}));
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events WHERE event_id = 'ev-2'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 1);
}

// The interface promises a status per write even within one batch: two creates
// of the same new aggregate in ONE commit are one written + one cas_lost.
TEST(PgStoreCommit, TwoCreatesOfTheSameAggregateInOneCommit) {
  TestDb db;
  auto s = open_store(db.url());
  CommitResult r;
  ASSERT_NO_THROW(r = s->commit({create("ev-1", "o-1", {{"who", "first"}}), create("ev-2", "o-1", {{"who", "second"}})},
                                {}));
  ASSERT_EQ(r.applied.size(), 2u);
  const int written = (r.applied[0] == WriteStatus::written) + (r.applied[1] == WriteStatus::written);
  const int lost = (r.applied[0] == WriteStatus::cas_lost) + (r.applied[1] == WriteStatus::cas_lost);
  EXPECT_EQ(written, 1);
  EXPECT_EQ(lost, 1);
  const std::string winner = r.applied[0] == WriteStatus::written ? "ev-1" : "ev-2";
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 1);
  EXPECT_EQ(db.scalar("SELECT event_id FROM transition_audit"), winner);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 1);
  EXPECT_EQ(db.scalar("SELECT event_id FROM processed_events"), winner);
  EXPECT_EQ(s->read({{kType, "o-1"}}).at(0).data, (Json{{"who", winner == "ev-1" ? "first" : "second"}}));
}

// Same for two updates from the same read version in one commit.
TEST(PgStoreCommit, TwoUpdatesFromTheSameVersionInOneCommit) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-0", "o-1")}, {}).applied.at(0), WriteStatus::written);
  auto r = s->commit({write("ev-1", "o-1", "pending", "paid", 1, {{"who", "first"}}),
                      write("ev-2", "o-1", "pending", "cancelled", 1, {{"who", "second"}})},
                     {});
  ASSERT_EQ(r.applied.size(), 2u);
  const int written = (r.applied[0] == WriteStatus::written) + (r.applied[1] == WriteStatus::written);
  const int lost = (r.applied[0] == WriteStatus::cas_lost) + (r.applied[1] == WriteStatus::cas_lost);
  EXPECT_EQ(written, 1);
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(s->read({{kType, "o-1"}}).at(0).version, 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 2);
}

// The same event id twice in one commit (a redelivered message in the same
// batch): the first is written, the second is a duplicate.
TEST(PgStoreCommit, SameEventIdTwiceInOneCommit) {
  TestDb db;
  auto s = open_store(db.url());
  auto r = s->commit({create("ev-1", "o-1", {{"n", 1}}), create("ev-1", "o-1", {{"n", 1}}),
                      create("ev-2", "o-2"), create("ev-2", "o-3")},
                     {dead("dl-1"), dead("dl-1")});
  EXPECT_EQ(r.applied, (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::duplicate, WriteStatus::written,
                                                 WriteStatus::duplicate}));
  EXPECT_EQ(r.dead, (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::duplicate}));
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates WHERE aggregate_id = 'o-3'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 3);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters"), 1);
}

TEST(PgStoreCommit, SameEventIdAgainIsDuplicateAndFirstOutcomeStands) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  const auto agg = db.scalar("SELECT concat_ws('|', state, version, data::text, updated_at) FROM aggregates");
  const auto audit = db.scalar("SELECT string_agg(concat_ws('|', id, event_id, to_version), ',') FROM transition_audit");
  const auto pe = db.scalar("SELECT concat_ws('|', outcome, version, state, processed_at) FROM processed_events");

  // Exactly the same write (a redelivery).
  EXPECT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::duplicate);
  // The same event id with a fresh, valid version: still a duplicate.
  auto fresh = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(s->commit({write("ev-1", "o-1", fresh.state, "paid", fresh.version, {{"n", 99}})}, {}).applied.at(0),
            WriteStatus::duplicate);
  // ...and as a dead letter.
  EXPECT_EQ(s->commit({}, {dead("ev-1")}).dead.at(0), WriteStatus::duplicate);

  EXPECT_EQ(db.scalar("SELECT concat_ws('|', state, version, data::text, updated_at) FROM aggregates"), agg);
  EXPECT_EQ(db.scalar("SELECT string_agg(concat_ws('|', id, event_id, to_version), ',') FROM transition_audit"), audit);
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', outcome, version, state, processed_at) FROM processed_events"), pe);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters"), 0);

  auto out = s->find_outcomes({"ev-1"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.at("ev-1").outcome, "applied");
  EXPECT_EQ(out.at("ev-1").version, 1);
  EXPECT_EQ(out.at("ev-1").state, "pending");
}

TEST(PgStoreCommit, DeadLetteredEventIdIsDuplicateForAnAppliedWrite) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({}, {dead("ev-1", DeadReason::invalid_transition, "o-1")}).dead.at(0), WriteStatus::written);
  EXPECT_EQ(s->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::duplicate);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 0);
  auto out = s->find_outcomes({"ev-1"});
  EXPECT_EQ(out.at("ev-1").outcome, "dead_lettered");
  EXPECT_EQ(out.at("ev-1").reason, "invalid_transition");
}

TEST(PgStoreCommit, MixedBatchGivesEachWriteItsOwnStatus) {
  TestDb db;
  auto s = open_store(db.url());
  // Setup: b at version 2, c at version 1, an applied ev-dup and a dead-lettered dl-old.
  ASSERT_EQ(s->commit({create("s-1", "b"), create("s-2", "c"), create("ev-dup", "z")}, {dead("dl-old")}).applied,
            (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::written, WriteStatus::written}));
  ASSERT_EQ(s->commit({write("s-3", "b", "pending", "paid", 1, {{"n", 2}})}, {}).applied.at(0), WriteStatus::written);

  std::vector<AppliedWrite> applied = {
      create("m-a", "a", {{"k", "a"}}),                                // new aggregate: written
      write("m-b", "b", "pending", "shipped", 1, {{"k", "stale"}}),    // b is at 2: cas_lost
      write("m-c", "c", "pending", "paid", 1, {{"k", "c"}}),           // written
      write("ev-dup", "c", "pending", "cancelled", 1, {{"k", "dup"}}),  // event id already applied: duplicate
      create("m-d", "d", {{"k", "d"}}),                                // written
  };
  std::vector<DeadLetterWrite> dl = {dead("dl-new", DeadReason::unknown_transition, "e"), dead("dl-old"),
                                     dead("ev-dup")};
  auto r = s->commit(applied, dl);
  EXPECT_EQ(r.applied, (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::cas_lost, WriteStatus::written,
                                                 WriteStatus::duplicate, WriteStatus::written}));
  EXPECT_EQ(r.dead, (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::duplicate, WriteStatus::duplicate}));

  auto snaps = s->read({{kType, "a"}, {kType, "b"}, {kType, "c"}, {kType, "d"}});
  EXPECT_EQ(snaps[0].version, 1);
  EXPECT_EQ(snaps[0].data, (Json{{"k", "a"}}));
  EXPECT_EQ(snaps[1].version, 2);
  EXPECT_EQ(snaps[1].state, "paid");
  EXPECT_EQ(snaps[1].data, (Json{{"n", 2}}));
  EXPECT_EQ(snaps[2].version, 2);
  EXPECT_EQ(snaps[2].state, "paid");
  EXPECT_EQ(snaps[2].data, (Json{{"k", "c"}}));
  EXPECT_EQ(snaps[3].version, 1);

  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events WHERE event_id IN ('m-a', 'm-c', 'm-d', 'dl-new')"), 4);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events WHERE event_id = 'm-b'"), 0);
  EXPECT_EQ(db.scalar("SELECT outcome FROM processed_events WHERE event_id = 'ev-dup'"), "applied");
  EXPECT_EQ(db.scalar("SELECT version FROM processed_events WHERE event_id = 'ev-dup'"), "1");
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit WHERE event_id IN ('m-a', 'm-c', 'm-d')"), 3);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit WHERE event_id = 'm-b'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit WHERE event_id = 'ev-dup'"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters"), 2);
  EXPECT_EQ(db.scalar("SELECT reason FROM dead_letters WHERE event_id = 'dl-new'"), "unknown_transition");
  EXPECT_EQ(db.scalar("SELECT detail FROM dead_letters WHERE event_id = 'dl-old'"), "detail of dl-old");
  EXPECT_EQ(db.scalar("SELECT outcome FROM processed_events WHERE event_id = 'dl-old'"), "dead_lettered");

  // No machine is given, and the writes' offsets are made up: those two checks do not apply.
  for (const auto& v : test::invariant_violations(db, MachineSet{}))
    if (v.find("allowed by its state machine") == std::string::npos && v.find("in offset order") == std::string::npos)
      ADD_FAILURE() << v;
}

// "Throws DataStoreError; then nothing was written": a value PostgreSQL cannot
// store (jsonb has no \u0000) rejects the whole batch, nothing half-written.
TEST(PgStoreCommit, UnstorableDataThrowsDataStoreErrorAndWritesNothing) {
  TestDb db;
  auto s = open_store(db.url());
  std::string nul_text = "a";
  nul_text.push_back('\0');
  nul_text += "b";
  EXPECT_THROW(s->commit({create("ok-1", "o-1"), create("bad-1", "o-2", {{"note", nul_text}})}, {dead("dl-1")}),
               DataStoreError);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters"), 0);
  // The store remains usable.
  EXPECT_EQ(s->commit({create("ok-1", "o-1")}, {}).applied.at(0), WriteStatus::written);
}

// ---------------------------------------------------------------------------
// read()
// ---------------------------------------------------------------------------

TEST(PgStoreRead, MissingAggregatesAndOrderOfResults) {
  TestDb db;
  auto s = open_store(db.url());
  EXPECT_TRUE(s->read({}).empty());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"id", 1}}), create("ev-2", "o-2", {{"id", 2}})}, {}).applied,
            (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::written}));
  AppliedWrite other = create("ev-3", "o-1", {{"id", 3}});
  other.aggregate_type = "invoice";  // same id, another type
  other.to_state = "draft";
  ASSERT_EQ(s->commit({other}, {}).applied.at(0), WriteStatus::written);

  auto snaps = s->read({{kType, "missing"}, {kType, "o-2"}, {"invoice", "o-1"}, {kType, "o-1"}, {"invoice", "o-2"}});
  ASSERT_EQ(snaps.size(), 5u);
  EXPECT_FALSE(snaps[0].exists);
  EXPECT_EQ(snaps[0].version, 0);
  EXPECT_EQ(snaps[0].state, "");
  EXPECT_EQ(snaps[0].updated_at, "");
  EXPECT_TRUE(snaps[1].exists);
  EXPECT_EQ(snaps[1].data, (Json{{"id", 2}}));
  EXPECT_EQ(snaps[2].state, "draft");
  EXPECT_EQ(snaps[2].data, (Json{{"id", 3}}));
  EXPECT_EQ(snaps[3].state, "pending");
  EXPECT_EQ(snaps[3].data, (Json{{"id", 1}}));
  EXPECT_FALSE(snaps[4].exists);
  EXPECT_EQ(snaps[4].version, 0);
  for (int i : {1, 2, 3}) {
    EXPECT_TRUE(is_utc_rfc3339_ms(snaps[i].updated_at)) << snaps[i].updated_at;
    EXPECT_EQ(snaps[i].version, 1);
    EXPECT_EQ(snaps[i].updated_by, "alice");
  }
  // The same ref twice gets two results.
  auto twice = s->read({{kType, "o-1"}, {kType, "o-1"}});
  EXPECT_TRUE(twice[0].exists && twice[1].exists);
}

TEST(PgStoreRead, UpdatedAtIsUtcWhateverTheSessionTimeZone) {
  TestDb db;
  db.exec("ALTER DATABASE " + db.name() + " SET timezone TO 'Asia/Kolkata'");  // +05:30
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::written);
  auto snap = s->read({{kType, "o-1"}}).at(0);
  ASSERT_TRUE(is_utc_rfc3339_ms(snap.updated_at)) << snap.updated_at;
  const auto utc = db.scalar(
      "SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM aggregates");
  EXPECT_EQ(snap.updated_at, utc);
  // And it is within a minute of now (not shifted by the session's offset).
  const auto skew = db.scalar("SELECT abs(extract(epoch FROM now() - '" + snap.updated_at + "'::timestamptz)) < 60");
  EXPECT_EQ(skew, "t") << snap.updated_at;
}

// ---------------------------------------------------------------------------
// Dead letters
// ---------------------------------------------------------------------------

TEST(PgStoreDeadLetters, BinaryRawKeyAndHeadersRoundTrip) {
  TestDb db;
  auto s = open_store(db.url());
  DeadLetterWrite d = dead("dl-1", DeadReason::version_conflict, "o-1");
  d.raw = binary_bytes();
  std::string key = "order:o-1";
  key.push_back('\0');
  key.push_back(static_cast<char>(0xFF));
  d.kafka_key = key;
  std::string bin = "v";
  bin.push_back('\0');
  bin.push_back(static_cast<char>(0x9F));
  bin.push_back(static_cast<char>(0xFF));
  d.headers = {{"trace-id", std::string("abc")}, {"bin", bin}, {"null-value", std::nullopt},
               {"empty", std::string()}, {"trace-id", std::string("second")}};
  d.event = Json{{"event_id", "dl-1"}, {"expected_version", 3}, {"payload", {{"x", {1, 2}}}}};
  d.conflict = Json{{"expected_version", 3}, {"actual_version", 5}, {"updated_by", "bob"}};
  d.detail = "expected_version 3, stored version 5 — stale writer";
  d.attempts = 4;
  d.src = src(77, 5);
  d.version = 5;
  d.state = "paid";

  auto r = s->commit({}, {d});
  EXPECT_TRUE(r.applied.empty());
  ASSERT_EQ(r.dead.size(), 1u);
  EXPECT_EQ(r.dead[0], WriteStatus::written);

  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters"), 1);
  // Byte-exact in the table itself.
  std::string hex;
  for (unsigned char c : d.raw) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", c);
    hex += buf;
  }
  EXPECT_EQ(db.scalar("SELECT encode(raw, 'hex') FROM dead_letters"), hex);
  EXPECT_EQ(db.scalar("SELECT length(kafka_key) FROM dead_letters"), std::to_string(key.size()));
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', reason, status, attempts, source_topic, source_partition, "
                      "source_offset, source_timestamp, consumer_group) FROM dead_letters"),
            "version_conflict|open|4|lockstep.events|5|77|1714564800123|lockstep-test");
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', outcome, reason, aggregate_type, aggregate_id, version, state) "
                      "FROM processed_events WHERE event_id = 'dl-1'"),
            "dead_lettered|version_conflict|order|o-1|5|paid");

  auto out = s->find_outcomes({"dl-1"});
  ASSERT_EQ(out.count("dl-1"), 1u);
  EXPECT_EQ(out.at("dl-1").outcome, "dead_lettered");
  EXPECT_EQ(out.at("dl-1").reason, "version_conflict");
  EXPECT_EQ(out.at("dl-1").version, 5);

  auto check = [&](const DeadLetterRecord& rec) {
    EXPECT_GT(rec.id, 0);
    EXPECT_EQ(rec.event_id, "dl-1");
    EXPECT_EQ(rec.reason, "version_conflict");
    EXPECT_EQ(rec.detail, d.detail);
    EXPECT_EQ(rec.aggregate_type, kType);
    EXPECT_EQ(rec.aggregate_id, "o-1");
    EXPECT_EQ(rec.event, d.event);
    EXPECT_EQ(rec.raw, d.raw);
    EXPECT_EQ(rec.raw.size(), d.raw.size());
    EXPECT_EQ(rec.kafka_key, d.kafka_key);
    EXPECT_EQ(rec.headers, d.headers);
    EXPECT_EQ(rec.conflict, d.conflict);
    EXPECT_EQ(rec.src.topic, "lockstep.events");
    EXPECT_EQ(rec.src.partition, 5);
    EXPECT_EQ(rec.src.offset, 77);
    EXPECT_EQ(rec.src.timestamp_ms, 1714564800123);
    EXPECT_EQ(rec.consumer_group, "lockstep-test");
    EXPECT_EQ(rec.attempts, 4);
    EXPECT_EQ(rec.status, "open");
    EXPECT_TRUE(is_utc_rfc3339_ms(rec.created_at)) << rec.created_at;
    EXPECT_FALSE(rec.resolved_at.has_value());
    EXPECT_FALSE(rec.resolved_by.has_value());
    EXPECT_FALSE(rec.note.has_value());
  };

  std::vector<DeadLetterRecord> relayed;
  EXPECT_EQ(s->relay_dead_letters(10,
                                  [&](const std::vector<DeadLetterRecord>& recs) {
                                    relayed = recs;
                                    return true;
                                  }),
            1u);
  ASSERT_EQ(relayed.size(), 1u);
  check(relayed[0]);
  auto got = s->get_dead_letter(relayed[0].id);
  ASSERT_TRUE(got.has_value());
  check(*got);
}

TEST(PgStoreDeadLetters, MalformedWithoutEventKeyOrAggregate) {
  TestDb db;
  auto s = open_store(db.url());
  DeadLetterWrite d = dead("dl-m");
  d.raw = std::string();  // an empty message value
  d.kafka_key = std::nullopt;
  d.headers = {};
  ASSERT_EQ(s->commit({}, {d}).dead.at(0), WriteStatus::written);
  auto recs = s->list_dead_letters({});
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].raw, "");
  EXPECT_FALSE(recs[0].kafka_key.has_value());
  EXPECT_FALSE(recs[0].event.has_value());
  EXPECT_FALSE(recs[0].conflict.has_value());
  EXPECT_FALSE(recs[0].aggregate_type.has_value());
  EXPECT_FALSE(recs[0].aggregate_id.has_value());
  EXPECT_TRUE(recs[0].headers.empty());
  EXPECT_EQ(recs[0].reason, "malformed");
}

TEST(PgStoreDeadLetters, LargeBinaryRawRoundTrips) {
  TestDb db;
  auto s = open_store(db.url());
  DeadLetterWrite d = dead("dl-big");
  d.raw.clear();
  for (int i = 0; i < 200000; ++i) d.raw.push_back(static_cast<char>((i * 131 + 7) & 0xFF));
  d.kafka_key = std::string(300, '\xAB');  // long enough for base64 line breaks
  ASSERT_EQ(s->commit({}, {d}).dead.at(0), WriteStatus::written);
  auto rec = s->get_dead_letter(std::stoll(db.scalar("SELECT id FROM dead_letters")));
  ASSERT_TRUE(rec.has_value());
  EXPECT_TRUE(rec->raw == d.raw) << "raw differs (size " << rec->raw.size() << " vs " << d.raw.size() << ")";
  EXPECT_EQ(rec->kafka_key, d.kafka_key);
}

TEST(PgStoreDeadLetters, ListFiltersAndGet) {
  TestDb db;
  auto s = open_store(db.url());
  auto r = s->commit({}, {dead("d-1", DeadReason::malformed), dead("d-2", DeadReason::version_conflict, "o-1"),
                          dead("d-3", DeadReason::version_conflict, "o-2"),
                          dead("d-4", DeadReason::invalid_transition, "o-1"),
                          dead("d-5", DeadReason::retries_exhausted, "o-3")});
  ASSERT_EQ(r.dead, std::vector<WriteStatus>(5, WriteStatus::written));
  db.exec("UPDATE dead_letters SET status = 'discarded', resolved_at = now(), resolved_by = 'ops', note = 'junk' "
          "WHERE event_id = 'd-3'");

  auto ids = [](const std::vector<DeadLetterRecord>& v) {
    std::vector<std::string> out;
    for (const auto& d : v) out.push_back(d.event_id);
    return out;
  };
  using V = std::vector<std::string>;
  Store::DeadLetterFilter f;
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-1", "d-2", "d-3", "d-4", "d-5"}));
  f.status = "open";
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-1", "d-2", "d-4", "d-5"}));
  f.status = "discarded";
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-3"}));
  f = {};
  f.reason = "version_conflict";
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-2", "d-3"}));
  f.status = "open";
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-2"}));
  f = {};
  f.aggregate_type = kType;
  f.aggregate_id = "o-1";
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-2", "d-4"}));
  f.aggregate_type = "invoice";
  EXPECT_TRUE(s->list_dead_letters(f).empty());
  f = {};
  f.aggregate_type = kType;
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-2", "d-3", "d-4", "d-5"}));
  f = {};
  f.reason = "no_such_reason";
  EXPECT_TRUE(s->list_dead_letters(f).empty());
  f = {};
  f.limit = 2;
  EXPECT_EQ(ids(s->list_dead_letters(f)), (V{"d-1", "d-2"}));

  const auto id3 = std::stoll(db.scalar("SELECT id FROM dead_letters WHERE event_id = 'd-3'"));
  auto d3 = s->get_dead_letter(id3);
  ASSERT_TRUE(d3.has_value());
  EXPECT_EQ(d3->id, id3);
  EXPECT_EQ(d3->event_id, "d-3");
  EXPECT_EQ(d3->status, "discarded");
  EXPECT_EQ(d3->resolved_by, "ops");
  EXPECT_EQ(d3->note, "junk");
  ASSERT_TRUE(d3->resolved_at.has_value());
  EXPECT_TRUE(is_utc_rfc3339_ms(*d3->resolved_at)) << *d3->resolved_at;
  EXPECT_FALSE(s->get_dead_letter(id3 + 1000).has_value());
}

// ---------------------------------------------------------------------------
// Outbox relay
// ---------------------------------------------------------------------------

TEST(PgStoreRelay, FailedPublishKeepsRowsAndSuccessMarksThem) {
  TestDb db;
  auto s = open_store(db.url());
  EXPECT_EQ(s->relay_dead_letters(10,
                                  [](const std::vector<DeadLetterRecord>&) -> bool {
                                    ADD_FAILURE() << "publish called with nothing to relay";
                                    return true;
                                  }),
            0u);
  ASSERT_EQ(s->commit({}, {dead("d-1"), dead("d-2"), dead("d-3")}).dead, std::vector<WriteStatus>(3, WriteStatus::written));

  std::vector<std::string> seen;
  auto collect = [&](bool result) {
    return [&seen, result](const std::vector<DeadLetterRecord>& recs) {
      seen.clear();
      for (const auto& r : recs) seen.push_back(r.event_id);
      return result;
    };
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(s->relay_dead_letters(10, collect(false)), 0u);
  EXPECT_EQ(seen, (V{"d-1", "d-2", "d-3"}));
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL"), 3);
  EXPECT_EQ(s->relay_dead_letters(10, collect(false)), 0u);
  EXPECT_EQ(seen, (V{"d-1", "d-2", "d-3"})) << "unpublished rows are offered again";

  EXPECT_EQ(s->relay_dead_letters(2, collect(true)), 2u);
  EXPECT_EQ(seen, (V{"d-1", "d-2"}));
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL"), 1);
  EXPECT_EQ(s->relay_dead_letters(10, collect(true)), 1u);
  EXPECT_EQ(seen, (V{"d-3"}));
  seen.clear();
  EXPECT_EQ(s->relay_dead_letters(10, collect(true)), 0u);
  EXPECT_TRUE(seen.empty()) << "published rows are not offered again";
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL"), 0);
  // Publishing does not change the operator status.
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE status = 'open'"), 3);
}

TEST(PgStoreRelay, ThrowingPublishKeepsRowsUnpublished) {
  TestDb db;
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({}, {dead("d-1")}).dead.at(0), WriteStatus::written);
  EXPECT_THROW(s->relay_dead_letters(10,
                                     [](const std::vector<DeadLetterRecord>&) -> bool {
                                       throw std::runtime_error("broker down");
                                     }),
               std::runtime_error);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL"), 1);
  EXPECT_EQ(s->relay_dead_letters(10, [](const std::vector<DeadLetterRecord>&) { return true; }), 1u);
}

TEST(PgStoreRelay, ConcurrentRelaysNeverGetTheSameRow) {
  TestDb db;
  // A lock wait on B would be a bug (SKIP LOCKED): fail fast instead of hanging.
  const auto b_url = db.url() + (db.url().find('?') == std::string::npos ? "?" : "&") +
                     "options=-c%20lock_timeout%3D3000";
  auto a = open_store(db.url());
  auto b = open_store(b_url);
  ASSERT_EQ(a->commit({}, {dead("d-1"), dead("d-2"), dead("d-3")}).dead, std::vector<WriteStatus>(3, WriteStatus::written));

  // A holds all rows: B gets nothing, and is not called.
  std::size_t b_marked = 99;
  int b_calls = 0;
  std::set<int64_t> a_ids;
  EXPECT_EQ(a->relay_dead_letters(10,
                                  [&](const std::vector<DeadLetterRecord>& recs) {
                                    for (const auto& r : recs) a_ids.insert(r.id);
                                    b_marked = b->relay_dead_letters(10, [&](const std::vector<DeadLetterRecord>&) {
                                      ++b_calls;
                                      return true;
                                    });
                                    return false;  // A fails: rows go back
                                  }),
            0u);
  EXPECT_EQ(a_ids.size(), 3u);
  EXPECT_EQ(b_marked, 0u);
  EXPECT_EQ(b_calls, 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL"), 3);

  // A holds only the first row: B gets the other two, never A's.
  std::set<int64_t> a_one, b_two;
  EXPECT_EQ(a->relay_dead_letters(1,
                                  [&](const std::vector<DeadLetterRecord>& recs) {
                                    for (const auto& r : recs) a_one.insert(r.id);
                                    b_marked = b->relay_dead_letters(10, [&](const std::vector<DeadLetterRecord>& bs) {
                                      for (const auto& r : bs) b_two.insert(r.id);
                                      return true;
                                    });
                                    return true;
                                  }),
            1u);
  EXPECT_EQ(a_one.size(), 1u);
  EXPECT_EQ(b_marked, 2u);
  EXPECT_EQ(b_two.size(), 2u);
  for (auto id : a_one) EXPECT_EQ(b_two.count(id), 0u) << "row " << id << " given to both relays";
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL"), 0);
  EXPECT_EQ(b->relay_dead_letters(10, [](const std::vector<DeadLetterRecord>&) { return true; }), 0u);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

TEST(PgStoreErrors, UnreachableServerIsTransientAndQuick) {
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(open_store("postgresql://x@127.0.0.1:1/db"), TransientStoreError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(PgStoreErrors, MissingDatabaseIsTransient) {
  TestDb db;
  EXPECT_THROW(open_store(test::with_database(db.url(), db.name() + "_does_not_exist")), TransientStoreError);
}

TEST(PgStoreErrors, DatabaseDroppedUnderAnOpenStoreIsTransient) {
  TestDb keeper;
  TestDb victim;
  auto s = open_store(victim.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::written);
  ASSERT_NO_THROW(s->ping());

  keeper.exec("DROP DATABASE " + victim.name() + " WITH (FORCE)");

  EXPECT_THROW(s->read({{kType, "o-1"}}), TransientStoreError);
  EXPECT_THROW(s->commit({create("ev-2", "o-2")}, {}), TransientStoreError);
  EXPECT_THROW(s->find_outcomes({"ev-1"}), TransientStoreError);
  EXPECT_THROW(s->relay_dead_letters(10, [](const std::vector<DeadLetterRecord>&) { return true; }),
               TransientStoreError);
  EXPECT_THROW(s->ping(), TransientStoreError);
}

TEST(PgStoreErrors, MissingSchemaIsTransientNotACrash) {
  TestDb db(false);
  auto s = open_store(db.url());
  EXPECT_THROW(s->commit({create("ev-1", "o-1")}, {}), TransientStoreError);
  EXPECT_THROW(s->read({{kType, "o-1"}}), TransientStoreError);
  // After migrating, the same store object works.
  s->migrate_up();
  EXPECT_EQ(s->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::written);
}

}  // namespace
}  // namespace lockstep
