// The topics of one benchmark run and the worker configuration naming them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lockstep::bench {

// The topics one mode's worker reads and writes. The defaults are the names
// the workload's events carry (BenchEvent::topic) and the built-in config's.
struct RunTopics {
  std::string bot = "transitions.bot";
  std::string api = "transitions.api";
  std::string dlq = "transitions.dlq";
  std::string outcomes;  // empty: no outcome topic

  // Where this run produces a workload event of `workload_topic`
  // (transitions.bot or transitions.api).
  const std::string& input_for(const std::string& workload_topic) const;
  // Every topic of the run (the outcome topic when there is one).
  std::vector<std::string> all() const;
};

// A prefix no earlier run used: bench-<pid>-<unix seconds>.
std::string topic_prefix(long pid, long long unix_seconds);

// Fresh topics for one mode on a real cluster: <prefix>-<mode>.bot, .api,
// .dlq, and .outcomes when `outcomes`.
RunTopics fresh_topics(const std::string& prefix, const std::string& mode, bool outcomes);

// The worker's configuration for one run: the YAML document `base` (the
// built-in configuration or --config) with kafka.topics (sources bot and api),
// kafka.dead_letter_topic and kafka.outcome_topic naming `topics`, and
// kafka.properties fetch.wait.max.ms set to `fetch_wait_ms` when given.
std::string worker_config(const std::string& base, const RunTopics& topics, std::optional<int> fetch_wait_ms);

// The YAML document `config` with batch.max_wait_ms set to `ms`.
std::string with_batch_wait(const std::string& config, int ms);

}  // namespace lockstep::bench
