// Inspector: what operators read (one aggregate, its audit history page by page,
// dead letters counted by reason and status), on both backends.
#include <tuple>

#include "store_suite.hpp"

namespace lockstep {
namespace {

using namespace store_suite;

class StoreInspector : public StoreTest {};

// o-1: created, then advanced twice; o-2 created in between (audit ids interleave).
void history_of_two(Store& s) {
  ASSERT_EQ(s.commit({create("h-1", "o-1", Json{{"n", 1}})}, {}).applied.at(0), WriteStatus::written);
  ASSERT_EQ(s.commit({create("h-2", "o-2")}, {}).applied.at(0), WriteStatus::written);
  ASSERT_EQ(s.commit({write("h-3", "o-1", "pending", "paid", 1, Json{{"n", 2}}, 31)}, {}).applied.at(0),
            WriteStatus::written);
  ASSERT_EQ(s.commit({write("h-4", "o-1", "paid", "shipped", 2, Json{{"n", 3}}, 32)}, {}).applied.at(0),
            WriteStatus::written);
}

TEST_P(StoreInspector, GetAggregateAsStoredOrNothing) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  history_of_two(*s);
  const auto a = s->get_aggregate({kType, "o-1"});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->type, kType);
  EXPECT_EQ(a->id, "o-1");
  EXPECT_EQ(a->state, "shipped");
  EXPECT_EQ(a->version, 3);
  EXPECT_EQ(a->data, (Json{{"n", 3}}));
  EXPECT_TRUE(is_utc_rfc3339_ms(a->created_at)) << a->created_at;
  EXPECT_TRUE(is_utc_rfc3339_ms(a->updated_at)) << a->updated_at;
  EXPECT_LE(a->created_at, a->updated_at);
  const auto snap = s->read({{kType, "o-1"}}).at(0);
  EXPECT_EQ(a->updated_at, snap.updated_at);
  ASSERT_TRUE(a->updated_by.has_value());
  EXPECT_EQ(*a->updated_by, snap.updated_by);

  EXPECT_FALSE(s->get_aggregate({kType, "o-9"}).has_value());
  EXPECT_FALSE(s->get_aggregate({"invoice", "o-1"}).has_value()) << "the type is part of the key";
}

TEST_P(StoreInspector, AuditHistoryOldestFirstPagedByIdAndPerAggregate) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  history_of_two(*s);
  const AggregateRef o1{kType, "o-1"};
  const auto all = s->audit_history(o1, std::nullopt, 100);
  ASSERT_EQ(all.size(), 3u);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < all.size(); ++i) {
    ids.push_back(all[i].event_id);
    EXPECT_EQ(all[i].from_version, static_cast<int64_t>(i));
    EXPECT_EQ(all[i].to_version, static_cast<int64_t>(i) + 1);
    EXPECT_TRUE(is_utc_rfc3339_ms(all[i].applied_at)) << all[i].applied_at;
    if (i > 0) {
      EXPECT_LT(all[i - 1].id, all[i].id);
    }
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"h-1", "h-3", "h-4"})) << "o-2's row is not o-1's history";
  EXPECT_FALSE(all[0].from_state.has_value()) << "creation";
  EXPECT_EQ(all[0].transition, "create");
  EXPECT_EQ(all[0].to_state, "pending");
  EXPECT_EQ(all[1].from_state, "pending");
  EXPECT_EQ(all[1].transition, "advance");
  EXPECT_EQ(all[1].to_state, "paid");
  EXPECT_EQ(all[1].source, "orders");
  EXPECT_EQ(all[1].actor, "alice");
  EXPECT_EQ(all[1].occurred_at, "2024-05-01T12:00:00Z");
  EXPECT_EQ(all[1].source_topic, "lockstep.events");
  EXPECT_EQ(all[1].source_partition, 2);
  EXPECT_EQ(all[1].source_offset, 31);

  const auto first = s->audit_history(o1, std::nullopt, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1].event_id, "h-3");
  const auto second = s->audit_history(o1, first.back().id, 2);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].event_id, "h-4");
  EXPECT_TRUE(s->audit_history(o1, second.back().id, 2).empty());
  EXPECT_TRUE(s->audit_history({kType, "o-9"}, std::nullopt, 10).empty());
}

TEST_P(StoreInspector, CountDeadLettersGroupedSortedAndFiltered) {
  TestStoreDb db(GetParam());
  auto s = open_store(db.url());
  ASSERT_EQ(s->commit({}, {dead("c-1"), dead("c-2", DeadReason::version_conflict, "o-1"),
                           dead("c-3", DeadReason::version_conflict, "o-2"), dead("c-4", DeadReason::invalid_transition, "o-1"),
                           dead("c-5", DeadReason::version_conflict, "o-1")})
                .dead,
            std::vector<WriteStatus>(5, WriteStatus::written));
  const auto id_of = [&](const std::string& e) {
    return std::stoll(db.scalar("SELECT id FROM dead_letters WHERE event_id = '" + e + "'"));
  };
  ASSERT_TRUE(s->resolve_dead_letter(id_of("c-3"), {"discarded", "ops", std::string("noise"), std::nullopt},
                                     [](const DeadLetterRecord&) { return true; }));
  using C = std::vector<std::tuple<std::string, std::string, int64_t>>;
  const auto counts = [&](const DeadLetterAdmin::DeadLetterFilter& f) {
    C out;
    for (const auto& c : s->count_dead_letters(f)) out.emplace_back(c.reason, c.status, c.count);
    return out;
  };
  DeadLetterAdmin::DeadLetterFilter f;
  EXPECT_EQ(counts(f), (C{{"invalid_transition", "open", 1}, {"malformed", "open", 1},
                          {"version_conflict", "discarded", 1}, {"version_conflict", "open", 2}}));
  f.after_id = id_of("c-4");
  f.limit = 1;
  EXPECT_EQ(counts(f).size(), 4u) << "after_id and limit are ignored";
  f = {};
  f.status = "open";
  f.reason = "version_conflict";
  EXPECT_EQ(counts(f), (C{{"version_conflict", "open", 2}}));
  f = {};
  f.aggregate_type = kType;
  f.aggregate_id = "o-1";
  EXPECT_EQ(counts(f), (C{{"invalid_transition", "open", 1}, {"version_conflict", "open", 2}}));
  f = {};
  f.until = "2000-01-01T00:00:00.000Z";
  EXPECT_TRUE(counts(f).empty());
  f = {};
  f.since = "2000-01-01T00:00:00.000Z";
  EXPECT_EQ(counts(f).size(), 4u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreInspector, ::testing::ValuesIn(test::all_backends()), test::BackendName());

}  // namespace
}  // namespace lockstep
