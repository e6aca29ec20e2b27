// The store's schema: migrations up, down and up again on both backends, and both backends carrying the same
// numbered migrations.
#include "store_suite.hpp"

namespace lockstep {
namespace {

using namespace store_suite;

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

INSTANTIATE_TEST_SUITE_P(Backends, StoreMigrations, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
