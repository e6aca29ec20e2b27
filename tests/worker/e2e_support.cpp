#include "e2e_support.hpp"

#include <random>
#include <set>

#include "lockstep/test/events.hpp"

namespace lockstep::test {

Planned plan_race(const TestKafka& kafka, int keys, int seed) {
  Planned p;
  std::mt19937 rng(static_cast<unsigned>(seed));
  const std::vector<std::string> bot = {"join", "verify", "activate", "edit", "suspend", "reinstate", "edit", "remove", "rejoin", "edit"};
  const std::vector<std::string> api = {"join", "edit", "override", "edit", "suspend", "edit", "reinstate", "remove", "edit", "override"};
  std::set<std::string> ids;
  for (std::size_t step = 0; step < bot.size(); ++step) {
    for (int side = 0; side < 2; ++side) {
      for (int k = 0; k < keys; ++k) {
        const std::string agg = "guild-" + std::to_string(k % 7) + "/user-" + std::to_string(k);
        const std::string id = std::string(side ? "a" : "b") + "-" + std::to_string(seed) + "-" + std::to_string(step) + "-" + std::to_string(k);
        const auto& tr = side ? api[step] : bot[step];
        auto e = event(id, agg, tr).actor(side ? "api" : "bot");
        if (tr == "edit") e.payload({{"k_" + id, step}});
        if (rng() % 100 == 0) e.expected_version(1);
        p.messages.push_back(OutMessage{side ? kafka.api() : kafka.bot(), e.key(), e.json(), {}});
        ids.insert(id);
      }
    }
  }
  // ~1% duplicates (same event, re-sent) and a few malformed messages.
  const auto n = p.messages.size();
  for (std::size_t i = 0; i < n / 100; ++i) p.messages.push_back(p.messages[rng() % n]);
  for (int i = 0; i < 5; ++i) {
    p.messages.push_back(OutMessage{kafka.bot(), std::nullopt, "garbage-" + std::to_string(i), {}});
  }
  p.event_ids.assign(ids.begin(), ids.end());
  return p;
}

}  // namespace lockstep::test
