#include "workload.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace lockstep::bench {

KeyDistribution::KeyDistribution(std::size_t n, double skew) : n_(std::max<std::size_t>(n, 1)) {
  if (skew <= 0) return;
  cdf_.resize(n_);
  double sum = 0;
  for (std::size_t i = 0; i < n_; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), skew);
    cdf_[i] = sum;
  }
  for (auto& c : cdf_) c /= sum;
}

std::size_t KeyDistribution::operator()(std::mt19937_64& rng) const {
  if (cdf_.empty()) return std::uniform_int_distribution<std::size_t>(0, n_ - 1)(rng);
  const double u = std::uniform_real_distribution<double>(0, 1)(rng);
  const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
  return std::min<std::size_t>(static_cast<std::size_t>(it - cdf_.begin()), n_ - 1);
}

namespace {

// The generator's own view of each aggregate: what a well-behaved producer
// would believe. Events of one key go to both topics, so the worker may see
// them in another order than generated: some transitions then turn out
// invalid, as in production when two writers race.
struct KeyView {
  std::string state;  // empty: not created yet
  int64_t version = 0;
};

// A plausible next transition from `state`.
const char* next_transition(const std::string& state, std::mt19937_64& rng) {
  const auto r = rng() % 100;
  if (state == "pending") return r < 90 ? "verify" : "remove";
  if (state == "verified") return r < 90 ? "activate" : "remove";
  if (state == "active") return r < 70 ? "suspend" : (r < 85 ? "override" : "remove");
  if (state == "suspended") return r < 80 ? "reinstate" : "remove";
  if (state == "removed") return "rejoin";
  return "override";
}

const char* target_state(const std::string& transition, const std::string& from) {
  if (transition == "join" || transition == "rejoin") return "pending";
  if (transition == "verify") return "verified";
  if (transition == "activate" || transition == "reinstate" || transition == "override") return "active";
  if (transition == "suspend") return "suspended";
  if (transition == "remove") return "removed";
  return from.c_str();
}

}  // namespace

std::vector<BenchEvent> generate(const WorkloadOptions& o, WorkloadSummary* summary) {
  std::mt19937_64 rng(o.seed);
  const bool hot = o.hot_share > 0 && o.keys > 1;
  const KeyDistribution keys(hot ? o.keys - 1 : o.keys, o.skew);
  std::vector<KeyView> view(std::max<std::size_t>(o.keys, 1));
  std::vector<BenchEvent> out;
  out.reserve(o.events);
  WorkloadSummary s;
  std::vector<char> seen(view.size(), 0);
  std::uniform_real_distribution<double> unit(0, 1);
  static const char* const kTopics[] = {"transitions.bot", "transitions.api"};
  static const char* const kActors[] = {"bot:guardian", "api:admin-ui", "api:self-service"};

  for (std::size_t i = 0; out.size() < o.events; ++i) {
    const double u = unit(rng);
    if (!out.empty() && u < o.duplicate_ratio) {
      // A producer retry: the same event again, possibly through the other writer.
      BenchEvent dup = out[rng() % out.size()];
      if (dup.duplicate) continue;
      dup.topic = kTopics[rng() % 2];
      dup.duplicate = true;
      dup.stale = false;
      out.push_back(std::move(dup));
      ++s.duplicates;
      continue;
    }
    const std::size_t k = !hot ? keys(rng) : (unit(rng) < o.hot_share ? 0 : 1 + keys(rng));
    KeyView& kv = view[k];
    if (!seen[k]) {
      seen[k] = 1;
      ++s.distinct_keys;
    }
    const std::string id = "m-" + std::to_string(k);
    nlohmann::json e = {{"event_id", "ev-" + std::to_string(o.seed) + "-" + std::to_string(i)},
                        {"aggregate_type", "membership"},
                        {"aggregate_id", id},
                        {"actor", kActors[rng() % 3]}};
    std::string transition;
    if (kv.state.empty()) {
      transition = "join";
      e["payload"] = {{"guild", "g-" + std::to_string(k % 97)}, {"nick", "user" + std::to_string(k)}};
      ++s.creates;
    } else if (rng() % 100 < 45) {
      transition = "edit";
      e["payload"] = {{"nick", "n" + std::to_string(rng() % 100000)}, {"score", static_cast<int>(rng() % 1000)}};
      ++s.edits;
    } else {
      transition = next_transition(kv.state, rng);
      ++s.transitions;
    }
    e["transition"] = transition;
    bool stale = false;
    if (!kv.state.empty() && u < o.duplicate_ratio + o.stale_ratio) {
      // A writer acting on an old read: the version it saw is behind.
      e["expected_version"] = std::max<int64_t>(0, kv.version - 1 - static_cast<int64_t>(rng() % 3));
      stale = true;
      ++s.stale;
    } else {
      if (transition != "edit") kv.state = target_state(transition, kv.state);
      ++kv.version;
    }
    // Each member mostly hears from one writer (its home topic); one event in
    // five comes from the other writer and races with it.
    const char* topic = kTopics[(k + (rng() % 5 == 0 ? 1 : 0)) % 2];
    out.push_back({topic, "membership:" + id, e.dump(), false, stale});
  }
  if (summary) *summary = s;
  return out;
}

}  // namespace lockstep::bench
