// What only the embedded SQLite store has: WAL, sharing the file, busy and broken databases, URLs, constraints.
#include "store_suite.hpp"

namespace lockstep {
namespace {

using namespace store_suite;

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

}  // namespace
}  // namespace lockstep
