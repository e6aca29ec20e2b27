// The store (contract §4, §6), one suite for both backends: PostgreSQL (a real
// server, LOCKSTEP_TEST_DATABASE_URL) and the embedded SQLite store (a temp
// file): migrations, the compare-and-set commit, duplicates, dead letters and
// their outbox relay, operator queries and tooling, error mapping. Each test
// runs on its own fresh database. Where a query is dialect-specific both
// spellings are given; what only one backend has is tested on that one.
#include "lockstep/store.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/test/store_db.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using test::Backend;
using test::TestDb;
using test::TestStoreDb;

class StoreTest : public ::testing::TestWithParam<Backend> {};
using StoreMigrations = StoreTest;
using StoreCommit = StoreTest;
using StoreRead = StoreTest;
using StoreDeadLetters = StoreTest;
using StoreRelay = StoreTest;
using StoreOperators = StoreTest;
using StoreErrors = StoreTest;

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

long count(const TestStoreDb& db, const std::string& sql) { return std::stol(db.scalar(sql)); }

// The aggregate's data as text: jsonb's own rendering on PostgreSQL, the stored JSON on SQLite.
std::string data_text(const TestStoreDb& db) { return db.sql("data::text", "data"); }

bool table_exists(const TestStoreDb& db, const std::string& table) {
  return db.scalar(db.sql("SELECT to_regclass('" + table + "') IS NOT NULL",
                          "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = '" + table + "'")) ==
         db.yes();
}

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

// The database invariants of lockstep::verify that apply to the writes these
// tests make up: no machine is given and their offsets are made up, so the
// "allowed by its state machine" and "in offset order" checks are left out.
std::vector<std::string> store_invariant_violations(const TestStoreDb& db) {
  std::vector<std::string> out;
  for (auto& v : test::invariant_violations(db, MachineSet{}))
    if (v.find("allowed by its state machine") == std::string::npos && v.find("in offset order") == std::string::npos)
      out.push_back(std::move(v));
  return out;
}

// The event ids of dead letters, in their order.
std::vector<std::string> event_ids(const std::vector<DeadLetterRecord>& v) {
  std::vector<std::string> out;
  for (const auto& d : v) out.push_back(d.event_id);
  return out;
}

// ---------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------

TEST_P(StoreMigrations, UpIsIdempotentDownRevertsAndUpAgainWorks) {
  TestStoreDb db(GetParam(), false);
  auto s = open_store(db.url());
  EXPECT_STREQ(s->dialect(), db.dialect());
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
  EXPECT_TRUE(table_exists(db, "aggregates"));

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
    EXPECT_FALSE(table_exists(db, t)) << t;
  for (const auto& m : s->migration_status()) EXPECT_FALSE(m.applied) << m.version;
  EXPECT_TRUE(s->migrate_down(1).empty()) << "nothing left to revert";

  // Up again on the same store object.
  EXPECT_EQ(s->migrate_up().size(), static_cast<std::size_t>(latest_schema_version()));
  EXPECT_EQ(s->schema_version(), latest_schema_version());
  r = s->commit({create("m-2", "o-2")}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 1);
}

TEST_P(StoreMigrations, StoreOpenedBeforeMigrationWorksAfterAnotherStoreMigrates) {
  TestStoreDb db(GetParam(), false);
  auto early = open_store(db.url());
  open_store(db.url())->migrate_up();
  auto r = early->commit({create("e-1", "o-1")}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);
  EXPECT_EQ(early->read({{kType, "o-1"}}).at(0).version, 1);
}

// ---------------------------------------------------------------------------
// Applied writes: compare-and-set
// ---------------------------------------------------------------------------

TEST_P(StoreCommit, EmptyCommitIsANoOp) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  auto r = s->commit({}, {});
  EXPECT_TRUE(r.applied.empty());
  EXPECT_TRUE(r.dead.empty());
}

TEST_P(StoreCommit, CreateWritesAggregateAuditAndOutcome) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  auto w = create("ev-1", "o-1", Json{{"amount", 42}, {"tags", {"a", "b"}}});
  w.src = src(17, 3);
  auto r = s->commit({w}, {});
  ASSERT_EQ(r.applied.size(), 1u);
  EXPECT_EQ(r.applied[0], WriteStatus::written);
  EXPECT_TRUE(r.dead.empty());

  EXPECT_EQ(db.scalar("SELECT concat_ws('|', state, version, " + data_text(db) + ", updated_by) FROM aggregates "
                      "WHERE aggregate_type = 'order' AND aggregate_id = 'o-1'"),
            db.sql(R"(pending|1|{"tags": ["a", "b"], "amount": 42}|alice)", R"(pending|1|{"amount":42,"tags":["a","b"]}|alice)"));

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

TEST_P(StoreCommit, UpdateAtTheReadVersionIsWritten) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  auto snap = s->read({{kType, "o-1"}}).at(0);
  ASSERT_EQ(snap.version, 1);
  // SQLite keeps milliseconds: let the clock pass the creation's before updating.
  if (db.sqlite()) {
    ASSERT_TRUE(test::poll_until(std::chrono::seconds(2), [&] { return now_rfc3339() > snap.updated_at; }));
  }

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
  EXPECT_EQ(db.scalar("SELECT created_at < updated_at FROM aggregates"), db.yes());
}

TEST_P(StoreCommit, StaleReadVersionIsCasLostAndLeavesNoTrace) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  ASSERT_EQ(s->commit({write("ev-2", "o-1", "pending", "paid", 1, {{"n", 2}})}, {}).applied.at(0),
            WriteStatus::written);
  const auto agg_row = "SELECT concat_ws('|', state, version, " + data_text(db) + ", updated_at) FROM aggregates";
  const auto before = db.scalar(agg_row);

  // A writer that read version 1 (state pending) and lost the race.
  auto r = s->commit({write("ev-3", "o-1", "pending", "shipped", 1, {{"n", 3}})}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::cas_lost);
  EXPECT_EQ(db.scalar(agg_row), before);
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

TEST_P(StoreCommit, CasLostEventCanLaterBeDeadLettered) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreCommit, RightVersionButWrongFromStateIsCasLost) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreCommit, UpdateOfAMissingAggregateIsCasLost) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  auto r = s->commit({write("ev-1", "ghost", "pending", "paid", 1, Json::object())}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::cas_lost);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 0);
}

TEST_P(StoreCommit, SecondCreateOfTheSameAggregateIsCasLost) {
  TestStoreDb db(GetParam());
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
TEST_P(StoreCommit, TwoCreatesOfTheSameAggregateInOneCommit) {
  TestStoreDb db(GetParam());
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
TEST_P(StoreCommit, TwoUpdatesFromTheSameVersionInOneCommit) {
  TestStoreDb db(GetParam());
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

// Every write of a batch is checked against the aggregate as it was before the
// batch: a create and an update of the same new key in ONE commit are one
// written + one cas_lost (the update's read cannot have seen the create), and an
// update at version 2 after one at version 1 of the same key likewise.
TEST_P(StoreCommit, LaterWritesOfAKeyWrittenEarlierInTheSameCommitAreCasLost) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  auto r = s->commit({create("ev-1", "o-1", {{"n", 1}}), write("ev-2", "o-1", "pending", "paid", 1, {{"n", 2}})}, {});
  EXPECT_EQ(r.applied, (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::cas_lost}));
  r = s->commit({write("ev-3", "o-1", "pending", "paid", 1, {{"n", 3}}),
                 write("ev-4", "o-1", "paid", "shipped", 2, {{"n", 4}})},
                {});
  EXPECT_EQ(r.applied, (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::cas_lost}));
  const auto snap = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(snap.version, 2);
  EXPECT_EQ(snap.state, "paid");
  EXPECT_EQ(snap.data, (Json{{"n", 3}}));
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 2);
  // The lost ones were released: retried with a fresh read they are written.
  r = s->commit({write("ev-4", "o-1", "paid", "shipped", 2, {{"n", 4}})}, {});
  EXPECT_EQ(r.applied.at(0), WriteStatus::written);
  for (const auto& v : store_invariant_violations(db)) ADD_FAILURE() << v;
}

// The same event id twice in one commit (a redelivered message in the same
// batch): the first is written, the second is a duplicate.
TEST_P(StoreCommit, SameEventIdTwiceInOneCommit) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreCommit, SameEventIdAgainIsDuplicateAndFirstOutcomeStands) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  const auto agg_row = "SELECT concat_ws('|', state, version, " + data_text(db) + ", updated_at) FROM aggregates";
  const auto audit_rows = db.sql("SELECT string_agg(concat_ws('|', id, event_id, to_version), ',') FROM transition_audit",
                                 "SELECT group_concat(concat_ws('|', id, event_id, to_version), ',') FROM transition_audit");
  const auto agg = db.scalar(agg_row);
  const auto audit = db.scalar(audit_rows);
  const auto pe = db.scalar("SELECT concat_ws('|', outcome, version, state, processed_at) FROM processed_events");

  // Exactly the same write (a redelivery).
  EXPECT_EQ(s->commit({create("ev-1", "o-1", {{"n", 1}})}, {}).applied.at(0), WriteStatus::duplicate);
  // The same event id with a fresh, valid version: still a duplicate.
  auto fresh = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(s->commit({write("ev-1", "o-1", fresh.state, "paid", fresh.version, {{"n", 99}})}, {}).applied.at(0),
            WriteStatus::duplicate);
  // ...and as a dead letter.
  EXPECT_EQ(s->commit({}, {dead("ev-1")}).dead.at(0), WriteStatus::duplicate);

  EXPECT_EQ(db.scalar(agg_row), agg);
  EXPECT_EQ(db.scalar(audit_rows), audit);
  EXPECT_EQ(db.scalar("SELECT concat_ws('|', outcome, version, state, processed_at) FROM processed_events"), pe);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters"), 0);

  auto out = s->find_outcomes({"ev-1"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.at("ev-1").outcome, "applied");
  EXPECT_EQ(out.at("ev-1").version, 1);
  EXPECT_EQ(out.at("ev-1").state, "pending");
}

TEST_P(StoreCommit, DeadLetteredEventIdIsDuplicateForAnAppliedWrite) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({}, {dead("ev-1", DeadReason::invalid_transition, "o-1")}).dead.at(0), WriteStatus::written);
  EXPECT_EQ(s->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::duplicate);
  EXPECT_EQ(count(db, "SELECT count(*) FROM aggregates"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM transition_audit"), 0);
  auto out = s->find_outcomes({"ev-1"});
  EXPECT_EQ(out.at("ev-1").outcome, "dead_lettered");
  EXPECT_EQ(out.at("ev-1").reason, "invalid_transition");
}

TEST_P(StoreCommit, MixedBatchGivesEachWriteItsOwnStatus) {
  TestStoreDb db(GetParam());
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

  for (const auto& v : store_invariant_violations(db)) ADD_FAILURE() << v;
}

// "Throws DataStoreError; then nothing was written": a value PostgreSQL cannot
// store (jsonb has no \u0000) rejects the whole batch, nothing half-written.
// The embedded store refuses the same values, so an event's outcome does not
// depend on the database.
TEST_P(StoreCommit, UnstorableDataThrowsDataStoreErrorAndWritesNothing) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreRead, MissingAggregatesAndOrderOfResults) {
  TestStoreDb db(GetParam());
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

// PostgreSQL: the session's time zone. SQLite: the process's (TZ) zone.
TEST_P(StoreRead, UpdatedAtIsUtcWhateverTheSessionTimeZone) {
  TestStoreDb db(GetParam());
  if (db.sqlite()) {
    const auto old_tz = test::env("TZ");
    ::setenv("TZ", "Asia/Kolkata", 1);  // +05:30
    ::tzset();
    auto s = open_store(db.url());
    const auto committed = s->commit({create("ev-1", "o-1")}, {});
    if (old_tz)
      ::setenv("TZ", old_tz->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
    ASSERT_EQ(committed.applied.at(0), WriteStatus::written);
    auto snap = s->read({{kType, "o-1"}}).at(0);
    ASSERT_TRUE(is_utc_rfc3339_ms(snap.updated_at)) << snap.updated_at;
    EXPECT_EQ(snap.updated_at, db.scalar("SELECT updated_at FROM aggregates"));
    EXPECT_EQ(db.scalar("SELECT abs(julianday('now') - julianday('" + snap.updated_at + "')) * 86400 < 60"), "1")
        << snap.updated_at;
    return;
  }
  db.exec("ALTER DATABASE " + db.pg().name() + " SET timezone TO 'Asia/Kolkata'");  // +05:30
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

TEST_P(StoreDeadLetters, BinaryRawKeyAndHeadersRoundTrip) {
  TestStoreDb db(GetParam());
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
  EXPECT_EQ(db.scalar(db.sql("SELECT encode(raw, 'hex') FROM dead_letters", "SELECT lower(hex(raw)) FROM dead_letters")),
            hex);
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

TEST_P(StoreDeadLetters, MalformedWithoutEventKeyOrAggregate) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreDeadLetters, LargeBinaryRawRoundTrips) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreDeadLetters, ListFiltersAndGet) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  auto r = s->commit({}, {dead("d-1", DeadReason::malformed), dead("d-2", DeadReason::version_conflict, "o-1"),
                          dead("d-3", DeadReason::version_conflict, "o-2"),
                          dead("d-4", DeadReason::invalid_transition, "o-1"),
                          dead("d-5", DeadReason::retries_exhausted, "o-3")});
  ASSERT_EQ(r.dead, std::vector<WriteStatus>(5, WriteStatus::written));
  db.exec(std::string("UPDATE dead_letters SET status = 'discarded', resolved_at = ") +
          db.sql("now()", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')") +
          ", resolved_by = 'ops', note = 'junk' WHERE event_id = 'd-3'");

  using V = std::vector<std::string>;
  Store::DeadLetterFilter f;
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-1", "d-2", "d-3", "d-4", "d-5"}));
  f.status = "open";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-1", "d-2", "d-4", "d-5"}));
  f.status = "discarded";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-3"}));
  f = {};
  f.reason = "version_conflict";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-2", "d-3"}));
  f.status = "open";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-2"}));
  f = {};
  f.aggregate_type = kType;
  f.aggregate_id = "o-1";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-2", "d-4"}));
  f.aggregate_type = "invoice";
  EXPECT_TRUE(s->list_dead_letters(f).empty());
  f = {};
  f.aggregate_type = kType;
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-2", "d-3", "d-4", "d-5"}));
  f = {};
  f.reason = "no_such_reason";
  EXPECT_TRUE(s->list_dead_letters(f).empty());
  f = {};
  f.limit = 2;
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"d-1", "d-2"}));

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

TEST_P(StoreRelay, FailedPublishKeepsRowsAndSuccessMarksThem) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreRelay, ThrowingPublishKeepsRowsUnpublished) {
  TestStoreDb db(GetParam());
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

TEST_P(StoreRelay, ConcurrentRelaysNeverGetTheSameRow) {
  TestStoreDb db(GetParam());
  // A lock wait on B would be a bug (SKIP LOCKED; leases on SQLite): fail fast instead of hanging.
  const auto b_url = db.sqlite() ? db.url()
                                 : db.url() + (db.url().find('?') == std::string::npos ? "?" : "&") +
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

TEST_P(StoreErrors, MissingSchemaIsTransientNotACrash) {
  TestStoreDb db(GetParam(), false);
  auto s = open_store(db.url());
  EXPECT_THROW(s->commit({create("ev-1", "o-1")}, {}), TransientStoreError);
  EXPECT_THROW(s->read({{kType, "o-1"}}), TransientStoreError);
  // After migrating, the same store object works.
  s->migrate_up();
  EXPECT_EQ(s->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::written);
}

// ---------------------------------------------------------------------------
// Operators: resolve, import (dlq drain), time and paging filters
// ---------------------------------------------------------------------------

int64_t dead_letter_id(const TestStoreDb& db, const std::string& event_id) {
  return std::stoll(db.scalar("SELECT id FROM dead_letters WHERE event_id = '" + event_id + "'"));
}

TEST_P(StoreOperators, ResolveRecordsWhoWhenWhyOnceAndOnlyWhenActSucceeds) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({}, {dead("d-1", DeadReason::version_conflict, "o-1"), dead("d-2"), dead("d-3"), dead("d-4")}).dead,
            std::vector<WriteStatus>(4, WriteStatus::written));
  const auto id1 = dead_letter_id(db, "d-1"), id2 = dead_letter_id(db, "d-2"), id3 = dead_letter_id(db, "d-3"),
             id4 = dead_letter_id(db, "d-4");

  // Replayed: act sees the open record; who, when, why and the replay's event id are recorded.
  int calls = 0;
  const auto before = now_rfc3339();
  EXPECT_TRUE(s->resolve_dead_letter(id1, {"replayed", "ops-alice", "fixed the machine", "d-1~replay-1"},
                                     [&](const DeadLetterRecord& rec) {
                                       ++calls;
                                       EXPECT_EQ(rec.id, id1);
                                       EXPECT_EQ(rec.event_id, "d-1");
                                       EXPECT_EQ(rec.status, "open");
                                       EXPECT_EQ(rec.reason, "version_conflict");
                                       EXPECT_EQ(rec.aggregate_id, "o-1");
                                       return true;
                                     }));
  EXPECT_EQ(calls, 1);
  auto d1 = s->get_dead_letter(id1);
  ASSERT_TRUE(d1.has_value());
  EXPECT_EQ(d1->status, "replayed");
  EXPECT_EQ(d1->resolved_by, "ops-alice");
  EXPECT_EQ(d1->note, "fixed the machine");
  EXPECT_EQ(d1->replay_event_id, "d-1~replay-1");
  ASSERT_TRUE(d1->resolved_at.has_value());
  EXPECT_TRUE(is_utc_rfc3339_ms(*d1->resolved_at)) << *d1->resolved_at;
  EXPECT_GE(*d1->resolved_at, before.substr(0, 19)) << "resolved_at is now";

  // A second resolve of the same row: false, act not called, nothing changes.
  EXPECT_FALSE(s->resolve_dead_letter(id1, {"discarded", "ops-bob", std::string("again"), std::nullopt},
                                      [&](const DeadLetterRecord&) {
                                        ADD_FAILURE() << "act called for a resolved dead letter";
                                        return true;
                                      }));
  d1 = s->get_dead_letter(id1);
  EXPECT_EQ(d1->status, "replayed");
  EXPECT_EQ(d1->resolved_by, "ops-alice");

  // Missing id: false, act not called.
  EXPECT_FALSE(s->resolve_dead_letter(id4 + 1000, {"discarded", "ops", std::nullopt, std::nullopt},
                                      [&](const DeadLetterRecord&) {
                                        ADD_FAILURE() << "act called for a missing dead letter";
                                        return true;
                                      }));

  // act returns false: nothing recorded, the row stays open.
  EXPECT_FALSE(s->resolve_dead_letter(id2, {"replayed", "ops", std::nullopt, std::string("d-2~r")},
                                      [](const DeadLetterRecord&) { return false; }));
  // act throws: it propagates, nothing recorded.
  EXPECT_THROW(s->resolve_dead_letter(id3, {"replayed", "ops", std::nullopt, std::string("d-3~r")},
                                      [](const DeadLetterRecord&) -> bool { throw std::runtime_error("broker down"); }),
               std::runtime_error);
  for (auto id : {id2, id3}) {
    auto d = s->get_dead_letter(id);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->status, "open") << id;
    EXPECT_FALSE(d->resolved_at.has_value()) << id;
    EXPECT_FALSE(d->resolved_by.has_value()) << id;
    EXPECT_FALSE(d->replay_event_id.has_value()) << id;
  }

  // Discarded, with a note and no replay; the store stays usable after the throw.
  EXPECT_TRUE(s->resolve_dead_letter(id3, {"discarded", "ops-carol", std::string("junk"), std::nullopt},
                                     [](const DeadLetterRecord&) { return true; }));
  auto d3 = s->get_dead_letter(id3);
  EXPECT_EQ(d3->status, "discarded");
  EXPECT_EQ(d3->resolved_by, "ops-carol");
  EXPECT_EQ(d3->note, "junk");
  EXPECT_FALSE(d3->replay_event_id.has_value());
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE status = 'open'"), 2);

  Store::DeadLetterFilter f;
  f.status = "open";
  auto open = s->list_dead_letters(f);
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].event_id, "d-2");
  EXPECT_EQ(open[1].event_id, "d-4");
}

// Two operators resolve the same dead letters at the same time: exactly one of
// them wins each row, and only the winner's act runs.
TEST_P(StoreOperators, ConcurrentResolvesOfOneDeadLetterHaveExactlyOneWinner) {
  constexpr int kRows = 20;
  TestStoreDb db(GetParam());
  {
    std::vector<DeadLetterWrite> ds;
    for (int i = 0; i < kRows; ++i) ds.push_back(dead("race-" + std::to_string(i)));
    ASSERT_EQ(open_store(db.url())->commit({}, ds).dead, std::vector<WriteStatus>(kRows, WriteStatus::written));
  }
  std::vector<int64_t> ids;
  for (int i = 0; i < kRows; ++i) ids.push_back(dead_letter_id(db, "race-" + std::to_string(i)));
  std::vector<std::atomic<int>> acts(kRows), wins(kRows);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> errors{0};
  auto resolver = [&](int t) {
    auto s = open_store(db.url());
    ready++;
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < kRows; ++i) {
      try {
        const bool won = s->resolve_dead_letter(ids[i], {"discarded", "ops-" + std::to_string(t), std::nullopt, std::nullopt},
                                                [&](const DeadLetterRecord&) {
                                                  acts[i]++;
                                                  return true;
                                                });
        if (won) wins[i]++;
      } catch (const std::exception& e) {
        errors++;
        ADD_FAILURE() << "resolver " << t << ": " << e.what();
      }
    }
  };
  std::thread a(resolver, 0), b(resolver, 1);
  ASSERT_TRUE(test::poll_until(std::chrono::seconds(30), [&] { return ready.load() == 2; }));
  go = true;
  a.join();
  b.join();
  EXPECT_EQ(errors.load(), 0);
  for (int i = 0; i < kRows; ++i) {
    EXPECT_EQ(wins[i].load(), 1) << "row " << i;
    EXPECT_EQ(acts[i].load(), 1) << "row " << i;
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE status = 'discarded' AND resolved_by IS NOT NULL"), kRows);
}

DeadLetterRecord imported(const std::string& event_id, const std::string& created_at) {
  DeadLetterRecord d;
  d.event_id = event_id;
  d.reason = "invalid_transition";
  d.detail = "imported " + event_id;
  d.aggregate_type = kType;
  d.aggregate_id = "o-9";
  d.event = Json{{"event_id", event_id}, {"aggregate_type", kType}, {"aggregate_id", "o-9"}, {"transition", "x"}};
  d.raw = binary_bytes();
  std::string key = "order:o-9";
  key.push_back('\0');
  d.kafka_key = key;
  d.headers = {{"trace-id", std::string("t1")}, {"nothing", std::nullopt}};
  d.conflict = Json{{"actual_state", "paid"}};
  d.src = src(42, 1);
  d.consumer_group = "other-group";
  d.attempts = 3;
  d.status = "open";
  d.created_at = created_at;
  return d;
}

TEST_P(StoreOperators, ImportKeepsCreatedAtIsNotRelayedAndDuplicatesByEventId) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({}, {dead("live-1")}).dead.at(0), WriteStatus::written);

  auto a = imported("imp-1", "2024-01-02T03:04:05.678Z");
  auto b = imported("imp-2", "2024-01-02T05:04:05.678+02:00");  // another zone: stored in UTC
  auto c = imported("imp-3", "");                               // no created_at: now
  const auto before = now_rfc3339().substr(0, 19);
  auto r = s->import_dead_letters({a, b, a, c, imported("live-1", "2024-01-01T00:00:00.000Z")});
  EXPECT_EQ(r, (std::vector<WriteStatus>{WriteStatus::written, WriteStatus::written, WriteStatus::duplicate,
                                         WriteStatus::written, WriteStatus::duplicate}));
  EXPECT_EQ(s->import_dead_letters({a}), std::vector<WriteStatus>{WriteStatus::duplicate}) << "imported twice";
  EXPECT_TRUE(s->import_dead_letters({}).empty());
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters"), 4);

  // The relay publishes only the worker's own unpublished dead letter, not the imported ones.
  std::vector<std::string> relayed;
  EXPECT_EQ(s->relay_dead_letters(100,
                                  [&](const std::vector<DeadLetterRecord>& recs) {
                                    for (const auto& x : recs) relayed.push_back(x.event_id);
                                    return true;
                                  }),
            1u);
  EXPECT_EQ(relayed, std::vector<std::string>{"live-1"});
  EXPECT_EQ(s->relay_dead_letters(100,
                                  [&](const std::vector<DeadLetterRecord>&) -> bool {
                                    ADD_FAILURE() << "imported dead letters offered to the relay";
                                    return true;
                                  }),
            0u);

  auto got = s->get_dead_letter(dead_letter_id(db, "imp-1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->created_at, "2024-01-02T03:04:05.678Z");
  EXPECT_EQ(got->status, "open");
  EXPECT_EQ(got->reason, a.reason);
  EXPECT_EQ(got->detail, a.detail);
  EXPECT_EQ(got->aggregate_type, a.aggregate_type);
  EXPECT_EQ(got->aggregate_id, a.aggregate_id);
  EXPECT_EQ(got->event, a.event);
  EXPECT_TRUE(got->raw == a.raw);
  EXPECT_EQ(got->kafka_key, a.kafka_key);
  EXPECT_EQ(got->headers, a.headers);
  EXPECT_EQ(got->conflict, a.conflict);
  EXPECT_EQ(got->src.topic, a.src.topic);
  EXPECT_EQ(got->src.partition, 1);
  EXPECT_EQ(got->src.offset, 42);
  EXPECT_EQ(got->src.timestamp_ms, a.src.timestamp_ms);
  EXPECT_EQ(got->consumer_group, "other-group");
  EXPECT_EQ(got->attempts, 3);
  EXPECT_FALSE(got->resolved_at.has_value());
  EXPECT_EQ(s->get_dead_letter(dead_letter_id(db, "imp-2"))->created_at, "2024-01-02T03:04:05.678Z");
  const auto c_created = s->get_dead_letter(dead_letter_id(db, "imp-3"))->created_at;
  EXPECT_TRUE(is_utc_rfc3339_ms(c_created)) << c_created;
  EXPECT_GE(c_created, before);
  // The worker's own row is untouched by the duplicate import.
  EXPECT_EQ(s->get_dead_letter(dead_letter_id(db, "live-1"))->detail, "detail of live-1");
  // Imported rows can be resolved like any other.
  EXPECT_TRUE(s->resolve_dead_letter(dead_letter_id(db, "imp-1"), {"discarded", "ops", std::nullopt, std::nullopt},
                                     [](const DeadLetterRecord&) { return true; }));
}

TEST_P(StoreOperators, ListFiltersBySinceUntilAndAfterId) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->import_dead_letters({imported("t-1", "2024-03-01T00:00:00.000Z"), imported("t-2", "2024-03-02T00:00:00.000Z"),
                                    imported("t-3", "2024-03-02T12:00:00.500Z"), imported("t-4", "2024-03-03T00:00:00.000Z"),
                                    imported("t-5", "2024-03-04T00:00:00.000Z")}),
            std::vector<WriteStatus>(5, WriteStatus::written));
  ASSERT_TRUE(s->resolve_dead_letter(dead_letter_id(db, "t-3"), {"discarded", "ops", std::nullopt, std::nullopt},
                                     [](const DeadLetterRecord&) { return true; }));
  using V = std::vector<std::string>;
  Store::DeadLetterFilter f;
  f.since = "2024-03-02T00:00:00.000Z";  // inclusive
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"t-2", "t-3", "t-4", "t-5"}));
  f.until = "2024-03-04T00:00:00.000Z";  // exclusive
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"t-2", "t-3", "t-4"}));
  f.status = "open";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"t-2", "t-4"}));
  f = {};
  f.until = "2024-03-02T12:00:00.500Z";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"t-1", "t-2"}));
  f.until = "2024-03-02T12:00:00.501Z";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"t-1", "t-2", "t-3"})) << "millisecond precision";
  f = {};
  f.since = "2024-03-05T00:00:00.000Z";
  EXPECT_TRUE(s->list_dead_letters(f).empty());

  // Paging by id: pages of two, each after the last id of the previous one.
  f = {};
  f.limit = 2;
  V all;
  for (int page = 0; page < 10; ++page) {
    auto rows = s->list_dead_letters(f);
    if (rows.empty()) break;
    EXPECT_LE(rows.size(), 2u);
    for (const auto& r : rows) all.push_back(r.event_id);
    f.after_id = rows.back().id;
  }
  EXPECT_EQ(all, (V{"t-1", "t-2", "t-3", "t-4", "t-5"}));
  f = {};
  f.after_id = dead_letter_id(db, "t-2");
  f.reason = "invalid_transition";
  f.since = "2024-03-03T00:00:00.000Z";
  EXPECT_EQ(event_ids(s->list_dead_letters(f)), (V{"t-4", "t-5"}));
}

// ---------------------------------------------------------------------------
// Both backends carry the same numbered migrations
// ---------------------------------------------------------------------------

TEST(StoreMigrationFiles, SqliteMigrationsHaveThePostgresqlNumbersAndNames) {
  namespace fs = std::filesystem;
  auto names = [](const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename().string().find(".sql") != std::string::npos)
        out.insert(e.path().filename().string());
    return out;
  };
  const fs::path root = fs::path(test::source_dir()) / "migrations";
  const auto pg = names(root), lite = names(root / "sqlite");
  EXPECT_FALSE(pg.empty());
  EXPECT_EQ(pg, lite) << "migrations/sqlite/ must have one file for each of migrations/*.sql";
  EXPECT_EQ(pg.size(), 2u * static_cast<std::size_t>(latest_schema_version()));
}

// ---------------------------------------------------------------------------
// SQLite only: WAL, sharing the file, busy and broken databases, URLs
// ---------------------------------------------------------------------------

TEST(SqliteStore, OpensInWalModeAndOtherConnectionsSeeCommittedData) {
  TestStoreDb db(Backend::sqlite);
  auto a = open_store(db.url());
  auto b = open_store(db.url());
  EXPECT_STREQ(a->dialect(), "sqlite");
  EXPECT_EQ(db.scalar("PRAGMA journal_mode"), "wal");
  EXPECT_TRUE(std::filesystem::exists(db.file() + "-wal")) << "WAL file next to the database";

  ASSERT_EQ(a->commit({create("ev-1", "o-1", {{"n", 1}})}, {dead("dl-1")}).applied.at(0), WriteStatus::written);
  // Another store (connection) and a plain sqlite3 connection see it at once.
  const auto snap = b->read({{kType, "o-1"}}).at(0);
  EXPECT_TRUE(snap.exists);
  EXPECT_EQ(snap.data, (Json{{"n", 1}}));
  EXPECT_EQ(b->find_outcomes({"ev-1", "dl-1"}).size(), 2u);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 2);
  // b's CAS sees a's write: a stale write from b loses, a fresh one wins.
  EXPECT_EQ(b->commit({write("ev-2", "o-1", "pending", "paid", 0 + 1, {{"n", 2}})}, {}).applied.at(0),
            WriteStatus::written);
  EXPECT_EQ(a->commit({write("ev-3", "o-1", "pending", "paid", 1, {{"n", 3}})}, {}).applied.at(0),
            WriteStatus::cas_lost);
  EXPECT_EQ(a->read({{kType, "o-1"}}).at(0).version, 2);
}

// Another connection holds the write lock past the busy timeout: the store
// reports a transient fault (the worker retries), writes nothing, and works as
// soon as the lock is released. Readers are never blocked (WAL).
TEST(SqliteStore, BusyDatabaseIsTransientAndNothingIsWritten) {
  TestStoreDb db(Backend::sqlite);
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-0", "o-0")}, {}).applied.at(0), WriteStatus::written);

  std::atomic<bool> locked{false}, release{false};
  std::string holder_error;
  std::thread holder([&] {
    try {
      auto h = open_store(db.url());
      // resolve_dead_letter's act runs inside the write transaction: hold it there.
      ASSERT_EQ(h->commit({}, {dead("held")}).dead.at(0), WriteStatus::written);
      const auto id = std::stoll(db.scalar("SELECT id FROM dead_letters WHERE event_id = 'held'"));
      h->resolve_dead_letter(id, {"discarded", "ops", std::nullopt, std::nullopt}, [&](const DeadLetterRecord&) {
        locked = true;
        test::poll_until(std::chrono::seconds(60), [&] { return release.load(); });
        return true;
      });
    } catch (const std::exception& e) {
      holder_error = e.what();
      locked = true;
    }
  });
  ASSERT_TRUE(test::poll_until(std::chrono::seconds(30), [&] { return locked.load(); }));
  ASSERT_TRUE(holder_error.empty()) << holder_error;

  // Reads go on.
  EXPECT_EQ(s->read({{kType, "o-0"}}).at(0).version, 1);
  EXPECT_TRUE(s->find_outcomes({"ev-0"}).count("ev-0"));
  // Writes time out as transient faults.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(s->commit({create("ev-1", "o-1")}, {dead("dl-1")}), TransientStoreError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_THROW(s->relay_dead_letters(10, [](const std::vector<DeadLetterRecord>&) { return true; }), TransientStoreError);
  release = true;
  holder.join();
  ASSERT_TRUE(holder_error.empty()) << holder_error;

  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events WHERE event_id IN ('ev-1', 'dl-1')"), 0);
  EXPECT_EQ(s->commit({create("ev-1", "o-1")}, {dead("dl-1")}).applied.at(0), WriteStatus::written);
  EXPECT_EQ(count(db, "SELECT count(*) FROM processed_events"), 4);
}

// A relay that died mid-publish leaves its lease: nobody else publishes the
// rows until it expires, then the next relay does (never lost).
TEST(SqliteStore, ExpiredRelayLeaseIsTakenOver) {
  TestStoreDb db(Backend::sqlite);
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({}, {dead("d-1"), dead("d-2")}).dead, std::vector<WriteStatus>(2, WriteStatus::written));
  db.exec("UPDATE dead_letters SET relay_owner = 'dead-relay', relay_until = '2999-01-01T00:00:00.000Z' "
          "WHERE event_id = 'd-1'");
  std::vector<std::string> seen;
  auto collect = [&](const std::vector<DeadLetterRecord>& recs) {
    for (const auto& r : recs) seen.push_back(r.event_id);
    return true;
  };
  EXPECT_EQ(s->relay_dead_letters(10, collect), 1u);
  EXPECT_EQ(seen, std::vector<std::string>{"d-2"});
  db.exec("UPDATE dead_letters SET relay_until = '2000-01-01T00:00:00.000Z' WHERE event_id = 'd-1'");
  seen.clear();
  EXPECT_EQ(s->relay_dead_letters(10, collect), 1u);
  EXPECT_EQ(seen, std::vector<std::string>{"d-1"});
  EXPECT_EQ(count(db, "SELECT count(*) FROM dead_letters WHERE published_at IS NULL OR relay_owner IS NOT NULL"), 0);
}

TEST(SqliteStore, UnopenablePathsAreTransientAndQuick) {
  TestStoreDb db(Backend::sqlite, false);
  struct {
    std::string path;
  } dir{std::filesystem::path(db.file()).parent_path().string()};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(open_store("sqlite://" + dir.path + "/no/such/dir/x.db"), TransientStoreError);
  // Not a database file.
  std::ofstream(dir.path + "/garbage.db") << std::string(8192, 'x');
  EXPECT_THROW(open_store("sqlite://" + dir.path + "/garbage.db"), TransientStoreError);
  // A directory where the file should be.
  std::filesystem::create_directory(dir.path + "/adir");
  EXPECT_THROW(open_store("sqlite://" + dir.path + "/adir"), TransientStoreError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(SqliteStore, UrlForms) {
  TestStoreDb db(Backend::sqlite);
  ASSERT_EQ(open_store(db.url())->commit({create("ev-1", "o-1")}, {}).applied.at(0), WriteStatus::written);
  ASSERT_EQ(db.url().rfind("sqlite:///", 0), 0u);
  // sqlite:relative/path (relative to the working directory) opens the same file.
  const auto rel = std::filesystem::relative(db.file(), std::filesystem::current_path()).string();
  ASSERT_FALSE(rel.empty());
  ASSERT_NE(rel.front(), '/');
  auto r = open_store("sqlite:" + rel);
  EXPECT_TRUE(r->read({{kType, "o-1"}}).at(0).exists);
  EXPECT_EQ(r->schema_version(), latest_schema_version());
  // An in-memory database would be a different one per connection: refused.
  EXPECT_THROW(open_store("sqlite://:memory:"), std::invalid_argument);
  EXPECT_THROW(open_store("sqlite::memory:"), std::invalid_argument);
  EXPECT_THROW(open_store("sqlite:"), std::invalid_argument);
}

TEST(SqliteStore, ConstraintsMirrorPostgresql) {
  TestStoreDb db(Backend::sqlite);
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({create("ev-1", "o-1")}, {dead("dl-1")}).applied.at(0), WriteStatus::written);
  for (const char* bad : {
           "INSERT INTO processed_events (event_id, outcome) VALUES ('x', 'maybe')",
           "UPDATE dead_letters SET status = 'closed'",
           "INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, to_state, from_version, "
           "to_version) VALUES ('order', 'o-1', 'ev-x', 't', 's', 1, 3)",
           "INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, to_state, from_version, "
           "to_version) VALUES ('order', 'o-1', 'ev-y', 't', 's', 0, 1)",
           "INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, to_state, from_version, "
           "to_version) VALUES ('order', 'o-2', 'ev-1', 't', 's', 0, 1)",
           "UPDATE aggregates SET version = 0",
           "UPDATE aggregates SET data = '{not json'",
           "UPDATE aggregates SET version = 'two'",
       }) {
    EXPECT_THROW(db.exec(bad), std::runtime_error) << bad;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreMigrations, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreCommit, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreRead, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreDeadLetters, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreRelay, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreOperators, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreErrors, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
