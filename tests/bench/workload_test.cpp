// The benchmark's workload generator: deterministic, the advertised mix, and a
// Zipf option that really skews.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "workload.hpp"

namespace lockstep::bench {
namespace {

TEST(Workload, SameSeedSameEvents) {
  WorkloadOptions o;
  o.events = 2000;
  o.keys = 50;
  const auto a = generate(o), b = generate(o);
  ASSERT_EQ(a.size(), 2000u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].value, b[i].value);
  o.seed = 7;
  EXPECT_NE(generate(o)[5].value, a[5].value);
}

TEST(Workload, MixHasCreatesDuplicatesAndStaleWritersOnBothTopics) {
  WorkloadOptions o;
  o.events = 50000;
  o.keys = 1000;
  WorkloadSummary s;
  const auto ev = generate(o, &s);
  ASSERT_EQ(ev.size(), 50000u);
  std::map<std::string, int> topics;
  std::map<std::string, int> ids;
  std::set<std::string> keys;
  int stale = 0, dups = 0;
  for (const auto& e : ev) {
    ++topics[e.topic];
    const auto j = nlohmann::json::parse(e.value);
    ++ids[j.at("event_id").get<std::string>()];
    EXPECT_EQ(e.key, "membership:" + j.at("aggregate_id").get<std::string>());
    keys.insert(e.key);
    if (j.contains("expected_version")) ++stale;
    if (e.duplicate) ++dups;
  }
  EXPECT_EQ(topics.size(), 2u);
  EXPECT_GT(topics["transitions.bot"], 20000);
  EXPECT_GT(topics["transitions.api"], 20000);
  EXPECT_EQ(keys.size(), 1000u);
  EXPECT_EQ(s.creates, 1000u);  // one join per key
  EXPECT_NEAR(dups, 500, 150);  // ~1%
  EXPECT_EQ(static_cast<std::size_t>(dups), s.duplicates);
  EXPECT_EQ(ids.size(), ev.size() - static_cast<std::size_t>(dups));  // a duplicate reuses an event_id
  EXPECT_NEAR(stale, 500, 150);  // ~1% (a duplicate of a stale event counts again)
  EXPECT_GT(s.edits, 10000u);
  EXPECT_GT(s.transitions, 10000u);
}

TEST(Workload, ZipfSkewConcentratesOnTheFirstKeys) {
  std::mt19937_64 rng(1);
  const KeyDistribution uniform(10000, 0), zipf(10000, 1.1);
  int u_top = 0, z_top = 0;
  for (int i = 0; i < 100000; ++i) {
    u_top += uniform(rng) < 10;
    z_top += zipf(rng) < 10;
  }
  EXPECT_LT(u_top, 300);    // ~0.1% of draws
  EXPECT_GT(z_top, 30000);  // Zipf(1.1) over 10k keys: the top 10 take ~40%
  const KeyDistribution one(1, 1.0);
  EXPECT_EQ(one(rng), 0u);
}

TEST(Workload, HotShareFloodsOneKeyAndSpreadsTheRest) {
  WorkloadOptions o;
  o.events = 50000;
  o.keys = 1000;
  o.hot_share = 0.01;
  std::map<std::string, int> per_key;
  for (const auto& e : generate(o)) ++per_key[e.key];
  EXPECT_NEAR(per_key["membership:m-0"], 500, 120);  // ~1% on the hot key
  EXPECT_EQ(per_key.size(), 1000u);
  int busiest_other = 0;
  for (const auto& [k, n] : per_key)
    if (k != "membership:m-0") busiest_other = std::max(busiest_other, n);
  EXPECT_LT(busiest_other, 120);  // ~50 each on the other 999 keys
}

}  // namespace
}  // namespace lockstep::bench
