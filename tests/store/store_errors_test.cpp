// The store's error mapping: an unreachable, missing or dropped database, a missing schema.
#include "store_suite.hpp"

namespace lockstep {
namespace {

using namespace store_suite;

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

INSTANTIATE_TEST_SUITE_P(Backends, StoreErrors, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
