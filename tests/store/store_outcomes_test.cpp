// The hot path: the compare-and-set commit of applied writes and outcomes (duplicates, CAS lost, batches), and
// reading aggregates back.
#include "store_suite.hpp"

namespace lockstep {
namespace {

using namespace store_suite;

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

// PostgreSQL keeps a prepared statement's plan until it is discarded, however
// much the tables grow: a plan made while processed_events was empty scans the
// whole table. The store plans anew every plan_refresh_every uses of its
// connection, so the lookups after the table grew probe its key instead.
// seq_tup_read counts the rows that sequential scans of the table read.
TEST_P(StoreRead, PlansFollowTheTablesAsTheyGrow) {
  TestStoreDb db(GetParam());
  if (db.sqlite()) GTEST_SKIP() << "SQLite plans every statement as it runs it";
  constexpr long kRows = 100000;
  constexpr int kRefresh = 4, kLookups = 60;
  {
    StoreOptions options;
    options.plan_refresh_every = kRefresh;
    auto s = open_store(db.url(), options);
    EXPECT_TRUE(s->find_outcomes({"none-yet"}).empty());  // planned on the empty table
    db.exec("INSERT INTO processed_events (event_id, outcome) SELECT 'e-' || g, 'applied' "
            "FROM generate_series(1, " + std::to_string(kRows) + ") g");
    for (int i = 1; i <= kLookups; ++i) ASSERT_EQ(s->find_outcomes({"e-" + std::to_string(i)}).size(), 1u);
  }
  // A backend reports its last statistics as it exits, before it leaves pg_stat_activity.
  ASSERT_TRUE(test::poll_until(std::chrono::seconds(30), [&] {
    return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND backend_type = 'client backend' AND pid <> pg_backend_pid()") == "0";
  }));
  const long read = std::stol(
      db.scalar("SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relname = 'processed_events'"));
  // At most the uses before the first refresh scan the grown table; without
  // one, every lookup would (kLookups * kRows rows).
  EXPECT_LE(read, kRefresh * kRows) << "lookups kept scanning processed_events after it grew";
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

INSTANTIATE_TEST_SUITE_P(Backends, StoreCommit, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreRead, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
