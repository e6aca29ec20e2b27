#include "run_topics.hpp"

#include <stdexcept>
#include <yaml-cpp/yaml.h>

namespace lockstep::bench {

const std::string& RunTopics::input_for(const std::string& workload_topic) const {
  if (workload_topic == "transitions.bot") return bot;
  if (workload_topic == "transitions.api") return api;
  throw std::invalid_argument("not a workload topic: " + workload_topic);
}

std::vector<std::string> RunTopics::all() const {
  std::vector<std::string> out = {bot, api, dlq};
  if (!outcomes.empty()) out.push_back(outcomes);
  return out;
}

std::string topic_prefix(long pid, long long unix_seconds) {
  return "bench-" + std::to_string(pid) + "-" + std::to_string(unix_seconds);
}

RunTopics fresh_topics(const std::string& prefix, const std::string& mode, bool outcomes) {
  const std::string p = prefix + "-" + mode;
  return {p + ".bot", p + ".api", p + ".dlq", outcomes ? p + ".outcomes" : ""};
}

std::string worker_config(const std::string& base, const RunTopics& topics, std::optional<int> fetch_wait_ms) {
  YAML::Node cfg = YAML::Load(base);
  YAML::Node kafka = cfg["kafka"];
  YAML::Node inputs(YAML::NodeType::Map);
  inputs[topics.bot] = "bot";
  inputs[topics.api] = "api";
  kafka["topics"] = inputs;
  kafka["dead_letter_topic"] = topics.dlq;
  kafka["outcome_topic"] = topics.outcomes;
  if (fetch_wait_ms) kafka["properties"]["fetch.wait.max.ms"] = std::to_string(*fetch_wait_ms);
  return YAML::Dump(cfg) + "\n";
}

std::string with_batch_wait(const std::string& config, int ms) {
  YAML::Node cfg = YAML::Load(config);
  cfg["batch"]["max_wait_ms"] = ms;
  return YAML::Dump(cfg) + "\n";
}

}  // namespace lockstep::bench
