// Dead letters: what is stored (binary raw bytes, keys, headers) and the operators' actions on them (resolve,
// import, time and paging filters).
#include "store_suite.hpp"

namespace lockstep {
namespace {

using namespace store_suite;

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

INSTANTIATE_TEST_SUITE_P(Backends, StoreDeadLetters, ::testing::ValuesIn(test::all_backends()), test::BackendName());
INSTANTIATE_TEST_SUITE_P(Backends, StoreOperators, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
