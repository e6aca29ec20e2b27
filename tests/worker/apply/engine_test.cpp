// Engine against a real PostgreSQL: per-event outcomes in batches, stale writers,
// lost compare-and-set with a real concurrent writer, retry exhaustion and its
// dead-letter message on a real Kafka protocol endpoint (mock cluster).
#include <gtest/gtest.h>

#include "apply/engine.hpp"
#include "outcome/messages.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/store.hpp"
#include "lockstep/test/events.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using test::TestDb;
using namespace std::string_literals;

Config shipped_config() {
  auto cfg = parse_config(builtin_config_text(), "<built-in>");
  cfg.retry.max_attempts = 3;
  cfg.retry.base_delay_ms = 1;
  cfg.retry.max_delay_ms = 2;
  cfg.kafka.group_id = "engine-test";
  return cfg;
}

WorkPtr make_work(const std::string& value, std::optional<std::string> key, int64_t offset,
                  const std::string& topic = "transitions.bot") {
  auto w = std::make_unique<Work>();
  w->src.topic = topic;
  w->src.source = topic == "transitions.api" ? "api" : "bot";
  w->src.partition = 0;
  w->src.offset = offset;
  w->src.timestamp_ms = 1700000000000;
  w->kafka_key = std::move(key);
  w->value = value;
  w->headers = {{"trace-id", std::string("abc\x01", 4)}, {"empty", std::nullopt}};
  w->consumed_at = std::chrono::steady_clock::now();
  w->parsed = parse_event(w->value, w->kafka_key);
  w->lane_key = lane_key_for(w->parsed, w->src);
  return w;
}

WorkPtr ev(const std::string& id, const std::string& agg, const std::string& transition,
           const std::string& extra = "", int64_t offset = 0) {
  const auto e = test::event(id, agg, transition).actor("tester").raw(extra);
  return make_work(e.json(), e.key(), offset);
}

// Runs the engine on one event until it has an outcome (retries are immediate).
ItemResult run_to_outcome(Engine& engine, OutcomeStore& store, WorkPtr& w, int max_passes = 20) {
  for (int i = 0; i < max_passes; ++i) {
    std::vector<WorkPtr> batch;
    batch.push_back(std::move(w));
    auto r = engine.process(store, batch).front();
    w = std::move(batch.front());
    if (r.outcome != Outcome::retry) return r;
  }
  ADD_FAILURE() << "no outcome after " << max_passes << " passes";
  return {};
}

// Forwards every call to another store's hot path; tests override the one
// behaviour they change.
class ForwardingOutcomeStore : public OutcomeStore {
 public:
  explicit ForwardingOutcomeStore(OutcomeStore& inner) : inner_(inner) {}
  std::unordered_map<std::string, PriorOutcome> find_outcomes(const std::vector<std::string>& ids) override {
    return inner_.find_outcomes(ids);
  }
  std::vector<Snapshot> read(const std::vector<AggregateRef>& refs) override { return inner_.read(refs); }
  CommitResult commit(const std::vector<AppliedWrite>& a, const std::vector<DeadLetterWrite>& d) override {
    return inner_.commit(a, d);
  }

 protected:
  OutcomeStore& inner_;
};

// An OutcomeStore whose reads are followed by a real concurrent write to the same
// aggregate through a second connection, so the CAS that follows loses.
class RacingStore : public ForwardingOutcomeStore {
 public:
  RacingStore(OutcomeStore& inner, OutcomeStore& rival, int races)
      : ForwardingOutcomeStore(inner), rival_(rival), races_left_(races) {}
  int races_done = 0;

  std::vector<Snapshot> read(const std::vector<AggregateRef>& refs) override {
    auto snaps = inner_.read(refs);
    if (races_left_ > 0 && !refs.empty() && snaps[0].exists) {
      --races_left_;
      ++races_done;
      AppliedWrite a;
      a.event_id = "rival-" + std::to_string(races_done) + "-" + test::unique_suffix();
      a.aggregate_type = refs[0].type;
      a.aggregate_id = refs[0].id;
      a.transition = "edit";
      a.from_state = snaps[0].state;
      a.to_state = snaps[0].state;
      a.read_version = snaps[0].version;
      a.new_data = snaps[0].data;
      a.new_data["rival"] = races_done;
      a.actor = "web-api";
      a.src.source = "direct";  // written through the store, not read from a topic
      auto res = rival_.commit({a}, {});
      EXPECT_EQ(res.applied[0], WriteStatus::written);
    }
    return snaps;
  }

 private:
  OutcomeStore& rival_;
  int races_left_;
};

// The database rejects the batch's data, then drops the connection while the
// engine re-runs the events one by one (a blip in the middle of the search).
class RejectThenBlipStore : public ForwardingOutcomeStore {
 public:
  using ForwardingOutcomeStore::ForwardingOutcomeStore;
  int commits = 0;
  CommitResult commit(const std::vector<AppliedWrite>& a, const std::vector<DeadLetterWrite>& d) override {
    ++commits;
    if (commits == 1) throw DataStoreError("invalid byte sequence (injected)");
    if (commits == 2) throw TransientStoreError("database connection lost (injected)");
    return inner_.commit(a, d);
  }
};

class EngineTest : public ::testing::Test {
 protected:
  TestDb db;
  Config cfg = shipped_config();
  std::unique_ptr<Store> store = open_store(db.url());
  Engine engine{cfg, nullptr, 42};
};

TEST_F(EngineTest, MixedBatchGivesEachEventItsOwnOutcome) {
  // Prepare: m1 exists at version 1 (pending); e-dup already has an outcome.
  auto seed = ev("seed-1", "m1", "join");
  ASSERT_EQ(run_to_outcome(engine, *store, seed).outcome, Outcome::applied);
  auto dup_first = ev("e-dup", "m9", "join");
  ASSERT_EQ(run_to_outcome(engine, *store, dup_first).outcome, Outcome::applied);

  std::vector<WorkPtr> batch;
  batch.push_back(ev("e-apply", "m1", "verify", "", 10));                                     // applied
  batch.push_back(ev("e-create", "m2", "join", R"(,"payload":{"name":"ann"})", 11));         // applied
  batch.push_back(ev("e-dup", "m3", "join", "", 12));                                        // duplicate
  batch.push_back(make_work("{not json", "membership:m4", 13));                              // malformed
  batch.push_back(ev("e-unknown", "m5", "teleport", "", 14));                                // unknown_transition
  batch.push_back(ev("e-invalid", "m6", "activate", "", 15));                                // invalid (new)
  batch.push_back(ev("e-stale", "m9", "verify", R"(,"expected_version":7)", 16));            // version_conflict
  batch.push_back(make_work(test::event_json("e-key", "m7", "join"), "membership:other", 17));    // malformed (key)
  auto results = engine.process(*store, batch);
  ASSERT_EQ(results.size(), 8u);
  EXPECT_EQ(results[0].outcome, Outcome::applied);
  EXPECT_EQ(results[0].version, 2);
  EXPECT_EQ(results[0].state, "verified");
  EXPECT_EQ(results[1].outcome, Outcome::applied);
  EXPECT_EQ(results[1].version, 1);
  EXPECT_EQ(results[2].outcome, Outcome::duplicate);
  EXPECT_EQ(results[3].outcome, Outcome::dead_lettered);
  EXPECT_EQ(results[3].reason, DeadReason::malformed);
  EXPECT_EQ(results[4].reason, DeadReason::unknown_transition);
  EXPECT_EQ(results[5].reason, DeadReason::invalid_transition);
  EXPECT_EQ(results[6].reason, DeadReason::version_conflict);
  EXPECT_EQ(results[7].reason, DeadReason::malformed);

  EXPECT_EQ(db.scalar("SELECT data->>'name' FROM aggregates WHERE aggregate_id = 'm2'"), "ann");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM aggregates WHERE aggregate_id IN ('m3','m4','m5','m6','m7')"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters"), "5");
  // The malformed input keeps its raw bytes exactly and gets a stable id.
  EXPECT_EQ(db.scalar("SELECT convert_from(raw, 'UTF8') FROM dead_letters WHERE source_offset = 13"), "{not json");
  const auto malformed_id = db.scalar("SELECT event_id FROM dead_letters WHERE source_offset = 13");
  EXPECT_EQ(malformed_id.rfind("malformed:transitions.bot:0:13:", 0), 0u) << malformed_id;
  EXPECT_EQ(malformed_id.size(), std::string("malformed:transitions.bot:0:13:").size() + 16) << malformed_id;
  // A key mismatch with a readable event_id is dead-lettered under that id.
  EXPECT_EQ(db.scalar("SELECT reason FROM dead_letters WHERE event_id = 'e-key'"), "malformed");
  // The duplicate changed nothing: m3 does not exist, e-dup still points at m9.
  EXPECT_EQ(db.scalar("SELECT aggregate_id FROM processed_events WHERE event_id = 'e-dup'"), "m9");
  EXPECT_TRUE(test::invariant_violations(db, cfg.machines).empty());
}

TEST_F(EngineTest, StaleWriterIsRejectedAndRowUnchanged) {
  auto a = ev("s1", "agg", "join");
  ASSERT_EQ(run_to_outcome(engine, *store, a).outcome, Outcome::applied);
  auto b = ev("s2", "agg", "verify", R"(,"expected_version":1)");
  ASSERT_EQ(run_to_outcome(engine, *store, b).outcome, Outcome::applied);
  const auto before = db.scalar("SELECT row_to_json(a)::text FROM aggregates a");

  auto stale = ev("s3", "agg", "remove", R"(,"expected_version":1)");
  auto r = run_to_outcome(engine, *store, stale);
  EXPECT_EQ(r.outcome, Outcome::dead_lettered);
  EXPECT_EQ(r.reason, DeadReason::version_conflict);
  EXPECT_EQ(stale->attempts, 0) << "a version conflict is never retried";
  EXPECT_EQ(db.scalar("SELECT row_to_json(a)::text FROM aggregates a"), before);
  EXPECT_EQ(db.scalar("SELECT conflict->>'expected_version' || '/' || (conflict->>'actual_version') || '/' || "
                      "(conflict->>'actual_state') || '/' || (conflict->>'updated_by') FROM dead_letters"),
            "1/2/verified/tester");
}

TEST_F(EngineTest, LostCasRereadsAndSucceeds) {
  auto a = ev("c1", "agg", "join");
  ASSERT_EQ(run_to_outcome(engine, *store, a).outcome, Outcome::applied);
  auto rival = open_store(db.url());
  RacingStore racing(*store, *rival, 1);  // one concurrent write between read and CAS

  auto w = ev("c2", "agg", "verify", R"(,"payload":{"checked":true})", 1);
  std::vector<WorkPtr> batch;
  batch.push_back(std::move(w));
  auto first = engine.process(racing, batch).front();
  EXPECT_EQ(first.outcome, Outcome::retry);
  EXPECT_EQ(batch.front()->attempts, 1);
  EXPECT_GE(first.delay.count(), 0);
  EXPECT_LE(first.delay.count(), cfg.retry.max_delay_ms);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM processed_events WHERE event_id = 'c2'"), "0");

  auto second = engine.process(racing, batch).front();
  EXPECT_EQ(second.outcome, Outcome::applied);
  EXPECT_EQ(second.version, 3);  // 1 (join) + rival edit + this verify
  EXPECT_EQ(db.scalar("SELECT state || ':' || version || ':' || (data->>'rival') || ':' || (data->>'checked') "
                      "FROM aggregates"),
            "verified:3:1:true");
  EXPECT_TRUE(test::invariant_violations(db, cfg.machines).empty());
}

TEST_F(EngineTest, RetryExhaustionDeadLettersOnceAndPublishesOneMessage) {
  auto a = ev("x1", "hot", "join");
  ASSERT_EQ(run_to_outcome(engine, *store, a).outcome, Outcome::applied);
  auto rival = open_store(db.url());
  RacingStore racing(*store, *rival, 1000);  // every attempt loses

  auto w = make_work(test::event("x2", "hot", "verify").actor("bot-7"), "membership:hot", 42, "transitions.api");
  auto r = run_to_outcome(engine, racing, w);
  EXPECT_EQ(r.outcome, Outcome::dead_lettered);
  EXPECT_EQ(r.reason, DeadReason::retries_exhausted);
  EXPECT_EQ(w->attempts, cfg.retry.max_attempts);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters WHERE event_id = 'x2'"), "1");
  EXPECT_EQ(db.scalar("SELECT reason || '/' || attempts FROM dead_letters WHERE event_id = 'x2'"),
            "retries_exhausted/3");

  // Processing the same event again (a redelivery) is a duplicate: no second row.
  auto again = make_work(w->value, w->kafka_key, 42, "transitions.api");
  EXPECT_EQ(run_to_outcome(engine, *store, again).outcome, Outcome::duplicate);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters WHERE event_id = 'x2'"), "1");

  // The relay publishes exactly one message with the contract's headers.
  MockCluster cluster;
  cluster.create_topic("transitions.dlq", 1);
  Producer producer(cluster.bootstraps(), {});
  DeadLetterRelay relay(producer, "transitions.dlq", nullptr);
  EXPECT_EQ(relay.run_once(*store).published, 1u);
  EXPECT_EQ(relay.run_once(*store).published, 0u) << "a published row is not published again";

  Consumer consumer(cluster.bootstraps(), "dlq-reader-" + test::unique_suffix(), {}, {});
  consumer.subscribe({"transitions.dlq"});
  std::vector<Message> got;
  ASSERT_TRUE(test::poll_until(std::chrono::seconds(30), [&] {
    if (auto m = consumer.poll(std::chrono::milliseconds(100))) got.push_back(*m);
    return !got.empty();
  }));
  // Nothing else arrives.
  EXPECT_FALSE(test::poll_until(std::chrono::milliseconds(1500), [&] {
    if (auto m = consumer.poll(std::chrono::milliseconds(100))) got.push_back(*m);
    return got.size() > 1;
  }));
  ASSERT_EQ(got.size(), 1u);
  const auto& m = got[0];
  EXPECT_EQ(m.key, "membership:hot");
  std::map<std::string, std::optional<std::string>> h;
  for (const auto& x : m.headers) h[x.name] = x.value;
  EXPECT_EQ(h[wire::header::reason], "retries_exhausted");
  EXPECT_EQ(h[wire::header::event_id], "x2");
  EXPECT_EQ(h[wire::header::source_topic], "transitions.api");
  EXPECT_EQ(h[wire::header::source_partition], "0");
  EXPECT_EQ(h[wire::header::source_offset], "42");
  EXPECT_EQ(h[wire::header::source_timestamp], "1700000000000");
  EXPECT_EQ(h[wire::header::consumer_group], "engine-test");
  EXPECT_EQ(h[wire::header::attempts], "3");
  EXPECT_EQ(h["trace-id"], std::string("abc\x01", 4)) << "original headers are carried over unchanged";
  ASSERT_TRUE(h.count("empty"));
  auto v = Json::parse(m.value);
  EXPECT_EQ(v["event_id"], "x2");
  EXPECT_EQ(v["reason"], "retries_exhausted");
  EXPECT_EQ(v["event"]["transition"], "verify");
  EXPECT_EQ(v["source"]["offset"], 42);
  EXPECT_EQ(v["attempts"], 3);
  EXPECT_EQ(v["conflict"]["actual_state"], "pending");
  EXPECT_TRUE(v["conflict"]["actual_version"].get<int>() > 1);
  EXPECT_EQ(v["conflict"]["updated_by"], "web-api");
  EXPECT_TRUE(v.contains("dead_lettered_at"));
  EXPECT_FALSE(v.contains("raw_base64"));
  EXPECT_TRUE(test::invariant_violations(db, cfg.machines).empty());
}

TEST_F(EngineTest, SameEventIdTwiceInOneBatchGetsOneOutcome) {
  std::vector<WorkPtr> batch;
  batch.push_back(ev("same", "k1", "join"));
  batch.push_back(ev("same", "k2", "join"));
  auto r = engine.process(*store, batch);
  EXPECT_EQ(r[0].outcome, Outcome::applied);
  EXPECT_EQ(r[1].outcome, Outcome::retry);
  std::vector<WorkPtr> again;
  again.push_back(std::move(batch[1]));
  EXPECT_EQ(engine.process(*store, again).front().outcome, Outcome::duplicate);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM aggregates"), "1");
}

TEST_F(EngineTest, MalformedDeadLetterMessageCarriesRawBase64) {
  auto w = make_work(std::string("\xff\xfe not json\0x", 14), std::nullopt, 5);
  auto r = run_to_outcome(engine, *store, w);
  ASSERT_EQ(r.reason, DeadReason::malformed);
  auto recs = store->list_dead_letters({});
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].raw, std::string("\xff\xfe not json\0x", 14));
  auto msg = dead_letter_message(recs[0], "transitions.dlq");
  auto v = Json::parse(msg.value);
  EXPECT_FALSE(v.contains("event"));
  EXPECT_EQ(base64_decode(v["raw_base64"].get<std::string>()), std::string("\xff\xfe not json\0x", 14));
  EXPECT_FALSE(msg.key.has_value()) << "no key in, no key out";
}

}  // namespace
}  // namespace lockstep

namespace lockstep {
namespace {

// Regression: a TransientStoreError thrown by the one-by-one re-run that follows
// a DataStoreError used to destroy the event it had moved out of the batch,
// leaving a null WorkPtr for the executor to dereference.
TEST_F(EngineTest, DatabaseBlipDuringOneByOneRerunKeepsEveryEvent) {
  RejectThenBlipStore faulty(*store);
  std::vector<WorkPtr> batch;
  batch.push_back(ev("blip-1", "b1", "join", "", 1));
  batch.push_back(ev("blip-2", "b2", "join", "", 2));
  batch.push_back(ev("blip-3", "b3", "join", "", 3));
  EXPECT_THROW(engine.process(faulty, batch), TransientStoreError);
  ASSERT_EQ(batch.size(), 3u);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    ASSERT_NE(batch[i], nullptr) << "event " << i << " was lost";
    EXPECT_EQ(idempotency_key(*batch[i]), "blip-" + std::to_string(i + 1));
  }
  // The kept events then get their outcomes once the database answers again.
  for (auto& w : batch) EXPECT_EQ(run_to_outcome(engine, *store, w).outcome, Outcome::applied);
}

// Dead letters in id order: a small one, one whose raw bytes (900 KB, not JSON)
// make a message over librdkafka's message.max.bytes once in base64, two more.
// Every message of the dead-letter topic until `quiet` passes without a new one.
std::vector<Message> read_dlq(const std::string& brokers, std::chrono::milliseconds quiet) {
  Consumer consumer(brokers, "dlq-reader-" + test::unique_suffix(), {{"auto.offset.reset", "earliest"}}, {});
  consumer.subscribe({"transitions.dlq"});
  std::vector<Message> got;
  auto last = std::chrono::steady_clock::now();
  test::poll_until(std::chrono::seconds(60), [&] {
    if (auto m = consumer.poll(std::chrono::milliseconds(100))) {
      got.push_back(*m);
      last = std::chrono::steady_clock::now();
    }
    return !got.empty() && std::chrono::steady_clock::now() - last > quiet;
  });
  return got;
}

class RelayTest : public EngineTest {
 protected:
  void SetUp() override {
    cluster.create_topic("transitions.dlq", 1);
    auto small1 = make_work("not json 1", std::string("k1"), 1);
    auto big = make_work(std::string(900000, 'x'), std::string("k2"), 2);
    auto small2 = make_work("not json 3", std::string("k3"), 3);
    auto small3 = ev("unknown-4", "m4", "no-such-transition", "", 4);
    for (auto* w : {&small1, &big, &small2, &small3})
      ASSERT_EQ(run_to_outcome(engine, *store, *w).outcome, Outcome::dead_lettered);
    ASSERT_EQ(db.scalar("SELECT string_agg(length(raw)::text, ',' ORDER BY id) FROM dead_letters"),
              "10,900000,10,"s + std::to_string(small3->value.size()));
  }
  std::map<std::string, int> count_by_event_id(const std::vector<Message>& got) {
    std::map<std::string, int> n;
    for (const auto& m : got) ++n[Json::parse(m.value)["event_id"].get<std::string>()];
    return n;
  }
  MockCluster cluster;
};

// Regression (issue: one large dead letter wedges the outbox relay). The message
// of the large row is trimmed to fit, every row is published once, and a second
// pass publishes nothing again.
TEST_F(RelayTest, OversizeDeadLetterIsTrimmedAndPublishedOnceWithTheRest) {
  Producer producer(cluster.bootstraps(), {});
  DeadLetterRelay relay(producer, "transitions.dlq", nullptr);
  const auto first = relay.run_once(*store);
  EXPECT_EQ(first.published, 4u);
  EXPECT_FALSE(first.broker_failed);
  EXPECT_EQ(relay.run_once(*store).published, 0u);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters WHERE published_at IS NULL"), "0");

  const auto got = read_dlq(cluster.bootstraps(), std::chrono::milliseconds(1500));
  ASSERT_EQ(got.size(), 4u) << "each dead letter published exactly once";
  for (const auto& [id, n] : count_by_event_id(got)) EXPECT_EQ(n, 1) << id;
  bool saw_trimmed = false;
  for (const auto& m : got) {
    const auto v = Json::parse(m.value);
    EXPECT_LE(m.value.size() + (m.key ? m.key->size() : 0), kDefaultMaxMessageBytes);
    if (v.value("trimmed", false)) {
      saw_trimmed = true;
      EXPECT_EQ(v["original_bytes"], 900000);
      EXPECT_FALSE(v.contains("raw_base64"));
      EXPECT_EQ(v["reason"], "malformed");
      EXPECT_EQ(m.key, "k2");
    } else {
      EXPECT_TRUE(v.contains("raw_base64") || v.contains("event")) << m.value;
    }
  }
  EXPECT_TRUE(saw_trimmed);
  // The table keeps every byte.
  EXPECT_EQ(db.scalar("SELECT length(raw) FROM dead_letters WHERE kafka_key = 'k2'::bytea"), "900000");
}

// A message the broker (here: the producer's own size check) refuses is deferred
// with its error and a retry time of its own; the rows behind it are published.
TEST_F(RelayTest, RefusedMessageIsDeferredAndNeverHoldsBackTheRowsBehind) {
  Producer producer(cluster.bootstraps(), {});
  // Told the limit is 10 MB, the relay does not trim; librdkafka refuses the message.
  DeadLetterRelay relay(producer, "transitions.dlq", nullptr, 10000000);
  const auto first = relay.run_once(*store);
  EXPECT_EQ(first.selected, 4u);
  EXPECT_EQ(first.published, 3u);
  EXPECT_EQ(first.deferred, 1u);
  EXPECT_FALSE(first.broker_failed);
  EXPECT_EQ(db.scalar("SELECT publish_attempts || ':' || (publish_error <> '') || ':' || (relay_until > now()) "
                      "FROM dead_letters WHERE published_at IS NULL"),
            "1:true:true");
  const auto again = relay.run_once(*store);
  EXPECT_EQ(again.selected, 0u) << "the refused row waits for its retry time";
  const auto got = read_dlq(cluster.bootstraps(), std::chrono::milliseconds(1500));
  EXPECT_EQ(got.size(), 3u);
  for (const auto& [id, n] : count_by_event_id(got)) EXPECT_EQ(n, 1) << id;
}

// A broker that takes nothing is an infrastructure fault: no row changes.
TEST_F(RelayTest, BrokerAwayLeavesRowsUntouched) {
  Producer producer(cluster.bootstraps(), {{"message.timeout.ms", "1000"}});
  cluster.broker_down(1);
  DeadLetterRelay relay(producer, "transitions.dlq", nullptr, kDefaultMaxMessageBytes, std::chrono::milliseconds(3000));
  const auto pass = relay.run_once(*store);
  EXPECT_TRUE(pass.broker_failed);
  EXPECT_EQ(pass.published, 0u);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dead_letters WHERE published_at IS NULL AND publish_attempts = 0 "
                      "AND relay_until IS NULL"),
            "4");
  cluster.broker_up(1);
}

}  // namespace
}  // namespace lockstep
