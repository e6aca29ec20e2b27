// Benchmark workload: a realistic stream of membership events from the bot and
// the API racing on the same aggregates (issue #3).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace lockstep::bench {

struct WorkloadOptions {
  std::size_t events = 200000;
  std::size_t keys = 10000;
  double skew = 0;             // 0: uniform keys; > 0: Zipf exponent (1.0 = classic Zipf)
  double stale_ratio = 0.01;   // events carrying an expected_version that is behind
  double duplicate_ratio = 0.01;  // re-sends of an earlier event (same event_id), on either topic
  double hot_share = 0;        // share of the events on one hot key (m-0); the rest on m-1..m-<keys-1>
  uint64_t seed = 42;
};

struct BenchEvent {
  std::string topic;  // transitions.bot | transitions.api
  std::string key;    // membership:<id>
  std::string value;  // event JSON
  bool duplicate = false;
  bool stale = false;
};

struct WorkloadSummary {
  std::size_t creates = 0, transitions = 0, edits = 0, stale = 0, duplicates = 0, distinct_keys = 0;
};

// Draws key indexes 0..n-1, uniformly or Zipf(s) (rank 0 most frequent), by
// inverse transform over the precomputed CDF: O(log n) per draw.
class KeyDistribution {
 public:
  KeyDistribution(std::size_t n, double skew);
  std::size_t operator()(std::mt19937_64& rng) const;

 private:
  std::size_t n_;
  std::vector<double> cdf_;  // empty when uniform
};

std::vector<BenchEvent> generate(const WorkloadOptions& o, WorkloadSummary* summary = nullptr);

}  // namespace lockstep::bench
