// The benchmark's workload generator: deterministic, the advertised mix, and a
// Zipf option that really skews.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "lockstep/config.hpp"
#include "run_topics.hpp"
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

TEST(RunTopics, FreshNamesPerModeAreValidAndDistinct) {
  const std::string prefix = topic_prefix(4242, 1796284882);
  EXPECT_EQ(prefix, "bench-4242-1796284882");
  const auto a = fresh_topics(prefix, "lockstep", false), b = fresh_topics(prefix, "naive", true);
  EXPECT_EQ(a.bot, "bench-4242-1796284882-lockstep.bot");
  EXPECT_EQ(a.api, "bench-4242-1796284882-lockstep.api");
  EXPECT_EQ(a.dlq, "bench-4242-1796284882-lockstep.dlq");
  EXPECT_EQ(a.all().size(), 3u);  // no outcome topic
  EXPECT_EQ(b.outcomes, "bench-4242-1796284882-naive.outcomes");
  std::set<std::string> names;
  for (const auto& t : {a, b})
    for (const auto& n : t.all()) {
      EXPECT_TRUE(is_valid_topic_name(n)) << n;
      names.insert(n);
    }
  EXPECT_EQ(names.size(), 7u);
  EXPECT_EQ(a.input_for("transitions.bot"), a.bot);
  EXPECT_EQ(a.input_for("transitions.api"), a.api);
  EXPECT_THROW((void)a.input_for("transitions.dlq"), std::invalid_argument);
  // The development broker's run: the names the workload and the built-in config use.
  const RunTopics dev;
  for (const auto& e : generate({.events = 100, .keys = 10})) EXPECT_EQ(dev.input_for(e.topic), e.topic);
}

TEST(RunTopics, WorkerConfigNamesTheRunsTopicsAndKeepsTheRest) {
  std::string base = builtin_config_text();
  const auto at = base.find("max_events: 500");
  ASSERT_NE(at, std::string::npos);
  base.replace(at, 15, "max_events: 123");  // as a --config file would
  const Config def = parse_config(builtin_config_text(), "<built-in>");
  const auto topics = fresh_topics("bench-1-2", "paced", true);

  const Config real = parse_config(worker_config(base, topics, std::nullopt), "<bench>");
  ASSERT_EQ(real.kafka.topics.size(), 2u);
  EXPECT_EQ(real.source_of(topics.bot), "bot");
  EXPECT_EQ(real.source_of(topics.api), "api");
  EXPECT_EQ(real.kafka.dead_letter_topic, topics.dlq);
  EXPECT_EQ(real.kafka.outcome_topic, topics.outcomes);
  EXPECT_EQ(real.kafka.properties.count("fetch.wait.max.ms"), 0u);  // a real broker needs no such hack
  EXPECT_EQ(real.batch.max_events, 123);
  EXPECT_EQ(real.machines.size(), def.machines.size());

  const Config dev = parse_config(worker_config(builtin_config_text(), RunTopics{}, 10), "<bench>");
  EXPECT_EQ(dev.source_of("transitions.bot"), "bot");
  EXPECT_EQ(dev.source_of("transitions.api"), "api");
  EXPECT_EQ(dev.kafka.dead_letter_topic, "transitions.dlq");
  EXPECT_EQ(dev.kafka.outcome_topic, "");
  EXPECT_EQ(dev.kafka.properties.at("fetch.wait.max.ms"), "10");
}

}  // namespace
}  // namespace lockstep::bench
