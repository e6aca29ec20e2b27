// Compare-and-set under contention (docs/event.md "Outcomes"): N threads, each with its own
// Store (one connection), race read → commit on the same few aggregates and
// retry lost CASes with a fresh read. No lost update, no version gap or repeat,
// exactly one audit row and one outcome per written increment. Runs against
// PostgreSQL and the embedded SQLite store (several connections to one file).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "lockstep/store.hpp"
#include "lockstep/test/store_db.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

using test::Backend;
using test::TestStoreDb;

class StoreConcurrency : public ::testing::TestWithParam<Backend> {};

constexpr int kThreads = 8;
constexpr int kAggregates = 5;
constexpr int kIncrementsPerThread = 200;
constexpr int kTotal = kThreads * kIncrementsPerThread;
constexpr auto kDeadline = std::chrono::seconds(60);  // normally a few seconds

std::string agg_id(int k) { return "counter-" + std::to_string(k); }

MachineSet counter_machine() {
  Machine m;
  m.transitions["open"] = Transition{{kStateNew}, "open"};
  m.transitions["inc"] = Transition{{"open"}, std::nullopt};
  return MachineSet{{"counter", m}};
}

TEST_P(StoreConcurrency, RacingReadCommitLosesNoUpdate) {
  TestStoreDb db(GetParam());

  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  std::atomic<long> cas_lost{0};
  std::atomic<long> transient{0};
  std::vector<std::atomic<long>> written(kAggregates);
  for (auto& w : written) w = 0;
  std::mutex err_mu;
  std::vector<std::string> errors;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lk(err_mu);
    if (errors.size() < 20) errors.push_back(what);
  };

  const auto start = std::chrono::steady_clock::now();
  auto worker = [&](int t) {
    std::unique_ptr<Store> store;
    try {
      store = open_store(db.url());
    } catch (const std::exception& e) {
      fail("thread " + std::to_string(t) + ": open_store: " + e.what());
      ready++;
      return;
    }
    std::mt19937 rng(static_cast<unsigned>(1000 + t));
    std::uniform_int_distribution<int> pick(0, kAggregates - 1);
    ready++;
    while (!go.load()) std::this_thread::yield();

    for (int n = 0; n < kIncrementsPerThread; ++n) {
      const int k = pick(rng);
      // One event per increment; a lost CAS retries the SAME event id with a
      // fresh read (its claim must have been released).
      const std::string event_id = "t" + std::to_string(t) + "-n" + std::to_string(n);
      for (int attempt = 0;; ++attempt) {
        if (std::chrono::steady_clock::now() - start > kDeadline) {
          fail("thread " + std::to_string(t) + ": deadline passed at increment " + std::to_string(n));
          return;
        }
        try {
          const auto snap = store->read({{"counter", agg_id(k)}}).at(0);
          AppliedWrite w;
          w.event_id = event_id;
          w.aggregate_type = "counter";
          w.aggregate_id = agg_id(k);
          w.actor = "thread-" + std::to_string(t);
          w.src.topic = "lockstep.events";
          w.src.source = "counters";
          w.src.partition = t;
          w.src.offset = n;
          if (snap.exists) {
            w.transition = "inc";
            w.from_state = snap.state;
            w.to_state = snap.state;
            w.read_version = snap.version;
            w.new_data = snap.data;
            w.new_data["n"] = snap.data.value("n", 0) + 1;
          } else {
            w.transition = "open";
            w.to_state = "open";
            w.read_version = 0;
            w.new_data = Json{{"n", 1}};
          }
          const auto res = store->commit({w}, {});
          if (res.applied.size() != 1) {
            fail("commit returned " + std::to_string(res.applied.size()) + " statuses for one write");
            return;
          }
          if (res.applied[0] == WriteStatus::written) {
            written[k]++;
            break;
          }
          if (res.applied[0] == WriteStatus::duplicate) {
            fail(event_id + ": duplicate after a cas_lost retry (claim not released?)");
            return;
          }
          cas_lost++;
        } catch (const TransientStoreError& e) {
          // Single-row CAS writes cannot deadlock; any transient error is suspect.
          transient++;
          fail(event_id + ": transient error: " + e.what());
          if (transient.load() > 50) return;
        } catch (const std::exception& e) {
          fail(event_id + ": " + e.what());
          return;
        }
      }
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  ASSERT_TRUE(test::poll_until(std::chrono::seconds(30), [&] { return ready.load() == kThreads; }));
  go = true;
  for (auto& th : threads) th.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;

  for (const auto& e : errors) ADD_FAILURE() << e;
  ASSERT_TRUE(errors.empty());

  long total = 0;
  for (const auto& w : written) total += w.load();
  EXPECT_EQ(total, kTotal);

  auto check = open_store(db.url());
  std::vector<AggregateRef> refs;
  for (int k = 0; k < kAggregates; ++k) refs.push_back({"counter", agg_id(k)});
  const auto snaps = check->read(refs);
  for (int k = 0; k < kAggregates; ++k) {
    const auto& s = snaps[k];
    const auto id = agg_id(k);
    SCOPED_TRACE(id);
    if (written[k].load() == 0) {
      EXPECT_FALSE(s.exists);
      continue;
    }
    ASSERT_TRUE(s.exists);
    EXPECT_EQ(s.version, written[k].load()) << "version == number of written increments";
    EXPECT_EQ(s.data.value("n", -1), s.version) << "counter == version: no lost update";
    EXPECT_EQ(s.state, "open");
    // Audit: to_version is exactly 1..version, no gap, no repeat.
    std::string expect;
    for (long v = 1; v <= s.version; ++v) expect += (v > 1 ? "," : "") + std::to_string(v);
    const auto where = "WHERE aggregate_type = 'counter' AND aggregate_id = '" + id + "'";
    EXPECT_EQ(db.scalar(db.sql("SELECT string_agg(to_version::text, ',' ORDER BY to_version) FROM transition_audit " + where,
                               "SELECT group_concat(to_version, ',') FROM (SELECT to_version FROM transition_audit " +
                                   where + " ORDER BY to_version)")),
              expect);
    EXPECT_EQ(db.scalar("SELECT count(*) FROM transition_audit WHERE aggregate_type = 'counter' AND aggregate_id = '" +
                        id + "' AND from_version <> to_version - 1"),
              "0");
    // The outcomes recorded for this aggregate carry versions 1..version.
    EXPECT_EQ(db.scalar(db.sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM processed_events " + where,
                               "SELECT group_concat(version, ',') FROM (SELECT version FROM processed_events " + where +
                                   " ORDER BY version)")),
              expect);
  }
  EXPECT_EQ(db.scalar("SELECT count(*) FROM processed_events"), std::to_string(total));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM processed_events WHERE outcome <> 'applied'"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM transition_audit"), std::to_string(total));
  for (const auto& v : test::invariant_violations(db, counter_machine())) ADD_FAILURE() << v;

  RecordProperty("cas_lost", std::to_string(cas_lost.load()));
  std::cout << "[ info ] " << total << " increments, " << cas_lost.load() << " lost CAS, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";
}

// Two workers commit batches over the same keys, one in ascending and one in
// descending key order (as two consumers of the bot and API topics could).
// The store locks rows in one stable order, so no batch ever deadlocks; every
// write is either written or a lost CAS, and the counters add up.
TEST_P(StoreConcurrency, OppositeOrderBatchesNeverDeadlock) {
  constexpr int kKeys = 40, kRounds = 60;
  TestStoreDb db(GetParam());
  {
    auto store = open_store(db.url());
    std::vector<AppliedWrite> creates;
    for (int k = 0; k < kKeys; ++k) {
      AppliedWrite w;
      w.event_id = "open-" + std::to_string(k);
      w.aggregate_type = "counter";
      w.aggregate_id = agg_id(k);
      w.transition = "open";
      w.to_state = "open";
      w.new_data = Json{{"n", 0}};
      creates.push_back(w);
    }
    ASSERT_EQ(store->commit(creates, {}).applied.size(), static_cast<std::size_t>(kKeys));
  }
  // A production-sized table, so the planner walks the batch through the
  // primary key in the batch's own order (a tiny table would be scanned in
  // physical order and hide the problem).
  if (db.sqlite()) {
    db.exec("WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 50000) "
            "INSERT INTO aggregates (aggregate_type, aggregate_id, state, version) "
            "SELECT 'filler', 'f-' || x, 'open', 1 FROM g");
    ASSERT_EQ(db.scalar("SELECT count(*) FROM aggregates WHERE aggregate_type = 'filler'"), "50000");
  } else {
    ASSERT_EQ(db.scalar("WITH i AS (INSERT INTO aggregates (aggregate_type, aggregate_id, state, version) "
                        "SELECT 'filler', 'f-' || g, 'open', 1 FROM generate_series(1, 50000) g RETURNING 1) "
                        "SELECT count(*) FROM i"),
              "50000");
  }
  db.exec("ANALYZE aggregates");
  std::atomic<long> written{0}, transient{0};
  std::mutex mu;
  std::vector<std::string> errors;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  auto worker = [&](int t) {
    auto store = open_store(db.url());
    std::vector<AggregateRef> refs;
    for (int k = 0; k < kKeys; ++k) refs.push_back({"counter", agg_id(t == 0 ? k : kKeys - 1 - k)});
    ready++;
    while (!go.load()) std::this_thread::yield();
    for (int round = 0; round < kRounds; ++round) {
      try {
        const auto snaps = store->read(refs);
        std::vector<AppliedWrite> batch;
        for (std::size_t i = 0; i < refs.size(); ++i) {
          AppliedWrite w;
          // Ids unrelated to the key (as in production): nothing sorts the batch by key but the store.
          w.event_id = "t" + std::to_string(t) + "-r" + std::to_string(round) + "-" + std::to_string(i);
          w.aggregate_type = "counter";
          w.aggregate_id = refs[i].id;
          w.transition = "inc";
          w.from_state = snaps[i].state;
          w.to_state = snaps[i].state;
          w.read_version = snaps[i].version;
          w.new_data = Json{{"n", snaps[i].data.value("n", 0) + 1}};
          w.src.topic = "t";
          w.src.source = "counters";
          w.src.partition = t;
          w.src.offset = round;
          batch.push_back(std::move(w));
        }
        const auto res = store->commit(batch, {});
        for (auto st : res.applied) written += st == WriteStatus::written;
      } catch (const TransientStoreError& e) {
        transient++;
        std::lock_guard lk(mu);
        if (errors.size() < 5) errors.push_back(e.what());
      }
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  ASSERT_TRUE(test::poll_until(std::chrono::seconds(30), [&] { return ready.load() == 2; }));
  go = true;
  a.join();
  b.join();
  EXPECT_EQ(transient.load(), 0) << ::testing::PrintToString(errors);
  EXPECT_GT(written.load(), 0);
  // Every written increment is one version step and one audit row.
  EXPECT_EQ(db.scalar("SELECT sum(version - 1) FROM aggregates WHERE aggregate_type = 'counter'"),
            std::to_string(written.load()));
  EXPECT_EQ(db.scalar(db.sql("SELECT sum((data->>'n')::int) FROM aggregates WHERE aggregate_type = 'counter'",
                             "SELECT sum(CAST(data->>'n' AS INTEGER)) FROM aggregates WHERE aggregate_type = 'counter'")),
            std::to_string(written.load()));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM transition_audit WHERE transition = 'inc'"), std::to_string(written.load()));
  db.exec("DELETE FROM aggregates WHERE aggregate_type = 'filler'");
  for (const auto& v : test::invariant_violations(db, counter_machine())) ADD_FAILURE() << v;
}

// Another worker commits an outcome for an event while this store's batch is
// inserting it (a partition handed over mid-batch). The batch's plain insert
// waits for that transaction, fails on processed_events' key, and commit()
// runs the batch again: the event is a duplicate, nothing is written twice.
TEST(StoreClaimRace, AnEventClaimedMeanwhileIsADuplicate) {
  TestStoreDb db(Backend::postgresql);
  auto store = open_store(db.url());
  pqxx::connection other(db.url());
  pqxx::work theirs(other);
  theirs.exec(
      "INSERT INTO aggregates (aggregate_type, aggregate_id, state, version) VALUES ('counter', 'counter-0', 'open', 1);"
      "INSERT INTO transition_audit (aggregate_type, aggregate_id, event_id, transition, to_state, from_version, "
      "to_version) VALUES ('counter', 'counter-0', 'race-1', 'open', 'open', 0, 1);"
      "INSERT INTO processed_events (event_id, outcome, aggregate_type, aggregate_id, version, state) "
      "VALUES ('race-1', 'applied', 'counter', 'counter-0', 1, 'open')");

  AppliedWrite w;
  w.event_id = "race-1";
  w.aggregate_type = "counter";
  w.aggregate_id = "counter-0";
  w.transition = "open";
  w.to_state = "open";
  w.new_data = Json::object();
  AppliedWrite other_key = w;  // in the same batch, not raced: written
  other_key.event_id = "calm-1";
  other_key.aggregate_id = "counter-1";
  std::optional<CommitResult> res;
  std::string error;
  std::thread mine([&] {
    try {
      res = store->commit({w, other_key}, {});
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  // The batch waits on the other transaction's uncommitted key.
  const bool waiting = test::poll_until(std::chrono::seconds(30), [&] {
    return db.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted") != "0";
  });
  theirs.commit();
  mine.join();
  ASSERT_TRUE(waiting);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->applied[0], WriteStatus::duplicate);
  EXPECT_EQ(res->applied[1], WriteStatus::written);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM processed_events"), "2");
  EXPECT_EQ(db.scalar("SELECT version FROM aggregates WHERE aggregate_id = 'counter-0'"), "1");
  for (const auto& v : test::invariant_violations(db, counter_machine())) ADD_FAILURE() << v;
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConcurrency, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
