// The outbox: the relay's claim, publish and mark of dead-letter rows.
#include "store_suite.hpp"

namespace lockstep {
namespace {

using namespace store_suite;

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

INSTANTIATE_TEST_SUITE_P(Backends, StoreRelay, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
